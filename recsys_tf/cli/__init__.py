"""`recsys-tf` command line: one subcommand group per pipeline stage."""
