"""Entry point of `recsys-tf`. Each stage module adds its subcommands with `register(subparsers)`.
User errors (`recsys_tf.errors.RecsysError`: bad input, bad configuration; missing or existing
files) end with a one-line message and exit code 2; anything else is a bug and keeps its traceback
(exit code 1). `--debug` shows the traceback of user errors too."""
from __future__ import annotations

import argparse
import importlib
import sys

from recsys_tf.errors import RecsysError

# Stage modules, in pipeline order. Imported lazily so `recsys-tf data ...` never loads TensorFlow.
STAGES = ["data_commands", "text_commands", "train_commands", "evaluate_commands", "export_commands",
          "index_commands", "serving_commands"]


class UserError(RecsysError):
    """An error in the command line's arguments; printed as one line without a traceback."""


def add_strict_text(parser: argparse.ArgumentParser, texts: str) -> None:
    """`--strict-text` of every command that encodes or records text (`recsys_tf/text/coverage.py`)."""
    parser.add_argument("--strict-text", action="store_true",
                        help=f"fail instead of warning when the text checkpoint reads {texts} mostly as [UNK]")


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys-tf", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of user errors too (other errors always show it)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        importlib.import_module(f"recsys_tf.cli.{stage}").register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except Exception as err:
        message = user_error_message(err)
        if message is None or args.debug:
            raise
        print(f"recsys-tf {args.command}: error: {message}", file=sys.stderr)
        return 2
    return int(result or 0)


PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


def user_error_message(err: Exception) -> str | None:
    """The one line a user error is reported with, or None for a bug (which keeps its traceback):
    our own `RecsysError`s, a path that is missing, exists already, is a directory where a file is
    expected or the reverse, or may not be read (the OS names the path), and a file that is not
    Parquet where Parquet is expected (Arrow names the file)."""
    if isinstance(err, (RecsysError, *PATH_ERRORS)):
        return str(err)
    if type(err).__module__.startswith("pyarrow") and "Parquet" in str(err):
        return f"{err} Fix: re-create the file (it is not a complete Parquet file)."
    return None


if __name__ == "__main__":
    sys.exit(main())
