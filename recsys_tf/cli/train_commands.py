"""`recsys-tf train --data DIR --out RUN [--examples EX] [--config CFG.yaml] [--set section.key=value ...]`."""
from __future__ import annotations

from recsys_tf.constants import STRATEGIES


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train the multi-task model (towers + heads)")
    train.add_argument("--data", required=True, help="split dataset directory (`recsys-tf data split`)")
    train.add_argument("--out", required=True, help="run directory (rerun the same command to resume)")
    train.add_argument("--examples", help="the `recsys-tf data prepare` examples of this dataset to stream "
                       "(default: the run writes its own into RUN/examples)")
    train.add_argument("--config", help="YAML file with sections text/model/tasks/train")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one setting, e.g. --set train.epochs=3 (repeatable)")
    train.add_argument("--strategy", choices=STRATEGIES,
                       help="force a tf.distribute strategy (default: auto)")
    train.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from recsys_tf.training.config import load_config

    overrides = list(args.set) + ([f"train.strategy={args.strategy}"] if args.strategy else [])
    config = load_config(args.config, overrides)  # checked completely before TensorFlow loads
    from recsys_tf.training.run import train_run

    result = train_run(args.data, args.out, config, examples_dir=args.examples)
    best = result["best"]
    print(f"done: best {config.train.monitor} = {best:.4f}; run directory {args.out}; "
          f"TensorBoard: tensorboard --logdir {args.out}/logs")
    return 0
