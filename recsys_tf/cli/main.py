"""Entry point of `recsys-tf`. Each stage module adds its subcommands with `register(subparsers)`;
user errors (bad input, missing files) end with a one-line message and exit code 2."""
from __future__ import annotations

import argparse
import importlib
import sys

# Stage modules, in pipeline order. Imported lazily so `recsys-tf data ...` never loads TensorFlow.
STAGES = ["data_commands", "text_commands", "train_commands", "evaluate_commands", "export_commands",
          "index_commands", "serving_commands"]


class UserError(Exception):
    """An error caused by the user's input; printed as one line without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recsys-tf", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        try:
            module = importlib.import_module(f"recsys_tf.cli.{stage}")
        except ModuleNotFoundError as err:
            if err.name == f"recsys_tf.cli.{stage}":
                continue  # stage not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from recsys_tf.data.schema import DatasetError

    try:
        result = args.func(args)
    except (UserError, DatasetError, ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"recsys-tf {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
