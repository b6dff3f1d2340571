"""`recsys-tf data {synth,load,validate,stats,split,prepare}`."""
from __future__ import annotations

import json
from pathlib import Path

from recsys_tf.constants import SPLIT_STRATEGIES, SYNTHETIC_LANGUAGES, TIMESTAMP_RANGE
from recsys_tf.errors import InputError


def _parse_mapping(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = [p for p in text.split(",") if p]
    bad = [p for p in pairs if "=" not in p]
    if bad:
        raise InputError(f"`--columns` takes canonical=yours pairs separated by commas. Received: {bad}. "
                         "Fix: e.g. --columns item_id=sku,title=name")
    return dict(p.split("=", 1) for p in pairs)


def _instant(text: str) -> int:
    """Epoch seconds from seconds (`631152000`) or an ISO date or date-time read as UTC (`1990-01-01`)."""
    import pandas as pd

    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.timestamp())


def _parse_timestamp_range(text: str | None) -> tuple[int, int]:
    """`--timestamp-range FROM,UNTIL` (UNTIL excluded) within the range every later stage supports:
    [1970-01-01, 2100-01-01)."""
    if text is None:
        return TIMESTAMP_RANGE
    fix = "Fix: e.g. --timestamp-range 1970-01-01,2100-01-01 (ISO dates or epoch seconds, FROM < UNTIL)."
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        earliest, latest = (_instant(p) for p in parts)
    except ValueError:
        raise InputError(f"--timestamp-range takes FROM,UNTIL. Received: {text!r}. {fix}") from None
    if not 0 <= earliest < latest <= TIMESTAMP_RANGE[1]:
        raise InputError(f"--timestamp-range {text!r} is not an interval within 1970-01-01 .. 2100-01-01 "
                         f"(Received: {earliest} .. {latest} seconds). {fix}")
    return earliest, latest


def _register_load(sub) -> None:
    from recsys_tf.data.loaders import FORMATS

    load = sub.add_parser("load", help="load a public format into a canonical dataset directory")
    load.add_argument("--format", required=True,
                      choices=FORMATS)
    load.add_argument("--path", required=True, help="input directory or file")
    load.add_argument("--out", required=True, help="dataset directory (for judgments: an existing one)")
    load.add_argument("--columns", help="column mapping canonical=yours,... (table, judgments)")
    load.add_argument("--context-columns", default="", help="extra event columns to keep (table)")
    load.add_argument("--hash-user-ids", action="store_true",
                      help="replace user ids by a salted hash (salt from $RECSYS_TF_USER_ID_SALT or --salt-file)")
    load.add_argument("--salt-file")
    load.add_argument("--timestamp-range", metavar="FROM,UNTIL",
                      help="keep events with FROM <= timestamp < UNTIL, ISO dates (UTC) or epoch seconds "
                           "(default 1990-01-01,2100-01-01; others are rejected with their reason)")
    load.set_defaults(func=cmd_load)


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="create, load, validate, describe and split datasets")
    sub = data.add_subparsers(dest="data_command", required=True)

    synth = sub.add_parser("synth", help="generate the synthetic e-commerce dataset")
    synth.add_argument("--out", required=True)
    synth.add_argument("--items", type=int, default=2000)
    synth.add_argument("--users", type=int, default=1000)
    synth.add_argument("--sessions-per-user", type=float, default=8.0)
    synth.add_argument("--days", type=int, default=120)
    synth.add_argument("--seed", type=int, default=42)
    synth.add_argument("--language", choices=SYNTHETIC_LANGUAGES, default="en",
                       help="language of titles, descriptions, categories and queries (zh: Chinese; same events)")
    synth.add_argument("--split", choices=["temporal-last"],
                       help="also split it (per user, so it streams too); other strategies: `recsys-tf data split`")
    synth.set_defaults(func=cmd_synth)

    _register_load(sub)

    validate = sub.add_parser("validate", help="re-check a dataset directory; non-zero exit on problems")
    validate.add_argument("dir")
    validate.set_defaults(func=cmd_validate)

    stats = sub.add_parser("stats", help="counts, sparsity, popularity skew and a PNG histogram")
    stats.add_argument("dir")
    stats.add_argument("--plot", help="PNG path (default DIR/popularity.png)")
    stats.set_defaults(func=cmd_stats)

    split = sub.add_parser("split", help="write a dataset whose events carry a `split` column")
    split.add_argument("dir")
    split.add_argument("--out", required=True)
    split.add_argument("--strategy", default="temporal-last",
                       choices=SPLIT_STRATEGIES)
    split.add_argument("--test-fraction", type=float, default=0.2)
    split.add_argument("--validation-fraction", type=float, default=0.0)
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--test-cutoff", type=int, help="temporal-global: first test timestamp")
    split.add_argument("--validation-cutoff", type=int, help="temporal-global: first validation timestamp")
    split.set_defaults(func=cmd_split)

    prepare = sub.add_parser("prepare", help="write the examples of a split dataset as TFRecord shards "
                             "(in process, or as an Apache Beam pipeline with --runner)")
    prepare.add_argument("dir", help="split dataset directory (`recsys-tf data split`)")
    prepare.add_argument("--out", required=True, help="examples directory (replaced only when complete)")
    prepare.add_argument("--runner", help="a Beam runner (DirectRunner, FlinkRunner, SparkRunner, "
                         "DataflowRunner); default: the in-process writer (same shards, no Beam)")
    prepare.add_argument("--pipeline-option", action="append", default=[], metavar="KEY=VALUE",
                         help="a Beam pipeline option passed through as --KEY=VALUE (repeatable)")
    prepare.add_argument("--shards", type=int, default=2,
                         help="files per split (default 2); on DirectRunner the runner chooses, one per bundle")
    prepare.add_argument("--encode-texts", action="store_true",
                         help="also encode the catalog's item texts into text.cache_dir (frozen mode; on the "
                              "Beam runner too; resumable), which `train --set text.cache_dir=...` then reads")
    prepare.add_argument("--config", help="YAML configuration (model.max_history, model.user_bins are read)")
    prepare.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    prepare.set_defaults(func=cmd_prepare)


def cmd_synth(args) -> int:
    from recsys_tf.data.synthetic import write_synthetic

    counts = write_synthetic(args.out, n_items=args.items, n_users=args.users, sessions_per_user=args.sessions_per_user,
                             days=args.days, seed=args.seed, language=args.language, split=args.split)
    split = f" (split {args.split}: {counts['events_by_split']})" if args.split else ""
    print(f"wrote {args.out}: {args.items} items, {counts['events']} events, {counts['users']} users{split}")
    return 0


def cmd_load(args) -> int:
    from recsys_tf.data import loaders
    from recsys_tf.data.hashing import load_salt
    from recsys_tf.data.schema import write_dataset

    salt = load_salt(args.salt_file) if args.hash_user_ids else None
    columns = _parse_mapping(args.columns)
    when = {"timestamp_range": _parse_timestamp_range(args.timestamp_range)}
    if args.format == "movielens-100k":
        dataset = loaders.load_movielens_100k(args.path, salt=salt, **when)
    elif args.format == "movielens-latest":
        dataset = loaders.load_movielens_latest(args.path, salt=salt, **when)
    elif args.format == "amazon-2023":
        dataset = loaders.load_amazon_2023(args.path, salt=salt, **when)
    elif args.format == "online-retail":
        dataset = loaders.load_online_retail(args.path, salt=salt, **when)
    elif args.format == "judgments":
        dataset = loaders.load_judgments(args.path, args.out, columns=columns)
    else:
        context = [c for c in args.context_columns.split(",") if c]
        dataset = loaders.load_table(args.path, columns=columns, context_columns=context, salt=salt, **when)
    if args.format != "judgments":
        _refuse_empty(dataset, args.path)
    out = write_dataset(dataset, args.out)
    print(f"wrote {out}: {len(dataset.items)} items, {len(dataset.events)} events, "
          f"{len(dataset.rejects)} rejected rows (see {out / 'rejects.csv'})")
    return 0


def _refuse_empty(dataset, path) -> None:
    """A load that keeps no item or no event is an error naming the commonest reject reason."""
    empty = [name for name, frame in (("items", dataset.items), ("events", dataset.events)) if len(frame) == 0]
    if not empty:
        return
    reasons = dataset.rejects["reason"].value_counts() if len(dataset.rejects) else None
    why = (f"the commonest reason: {reasons.index[0]!r} ({int(reasons.iloc[0])} of {len(dataset.rejects)} "
           "rejected rows)" if reasons is not None else "no row was rejected: the input has none")
    raise InputError(f"--path {path}: the load kept 0 {' and 0 '.join(empty)}; {why}. Nothing was written. "
                     "Fix: check the input's columns and units (timestamps in seconds) against the rejects.")


def cmd_validate(args) -> int:
    from recsys_tf.data.schema import read_dataset
    from recsys_tf.data.validation import validate_events, validate_items

    dataset = read_dataset(args.dir)
    items, item_rejects = validate_items(dataset.items.assign(_row=range(1, len(dataset.items) + 1)),
                                         "items.parquet")
    context = dataset.info.get("context_columns", [])
    _, event_rejects = validate_events(dataset.events.assign(_row=range(1, len(dataset.events) + 1)),
                                       items["item_id"], "events.parquet", context_columns=context)
    problems = len(item_rejects) + len(event_rejects)
    print(f"{args.dir}: {len(dataset.items)} items, {len(dataset.events)} events; "
          f"{len(dataset.rejects)} rows were rejected at ingestion; {problems} problem rows now")
    for frame in (item_rejects, event_rejects):
        for reason, count in frame["reason"].value_counts().items():
            print(f"  {frame['file'].iat[0]}: {count} x {reason}")
    return 1 if problems else 0


def cmd_stats(args) -> int:
    from recsys_tf.data.schema import read_dataset
    from recsys_tf.data.stats import dataset_stats, plot_popularity

    dataset = read_dataset(args.dir)
    stats = dataset_stats(dataset)
    png = plot_popularity(dataset, args.plot or Path(args.dir) / "popularity.png")
    print(json.dumps(stats, indent=2))
    print(f"popularity histogram: {png}")
    return 0


def cmd_split(args) -> int:
    from recsys_tf.data.schema import read_dataset, write_dataset
    from recsys_tf.data.splits import check_fraction, split_dataset

    check_fraction("test_fraction", args.test_fraction)  # before reading the data
    check_fraction("validation_fraction", args.validation_fraction)
    dataset = split_dataset(read_dataset(args.dir), args.strategy, test_fraction=args.test_fraction,
                            validation_fraction=args.validation_fraction, seed=args.seed,
                            test_cutoff=args.test_cutoff, validation_cutoff=args.validation_cutoff)
    out = write_dataset(dataset, args.out)
    counts = dataset.events["split"].value_counts().to_dict()
    print(f"wrote {out} ({args.strategy}): " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def _pipeline_args(options: list[str]) -> list[str]:
    bad = [o for o in options if "=" not in o or o.startswith("-")]
    if bad:
        raise InputError(f"`--pipeline-option` takes KEY=VALUE without leading dashes. Received: {bad}. "
                         "Fix: e.g. --pipeline-option flink_master=localhost:8081")
    return [f"--{o}" for o in options]


def cmd_prepare(args) -> int:
    from recsys_tf.training.config import load_config

    config = load_config(args.config, list(args.set))
    if args.shards < 1:
        raise InputError(f"`--shards` must be >= 1. Received: --shards {args.shards}. Fix: e.g. --shards 8")
    pipeline_args = _pipeline_args(args.pipeline_option)
    if pipeline_args and not args.runner:
        raise InputError(f"`--pipeline-option` needs a Beam `--runner`. Received: {args.pipeline_option}. "
                         "Fix: add e.g. --runner DirectRunner, or drop the options for the in-process writer.")
    common = {"max_history": config.model.max_history, "user_bins": config.model.user_bins or None,
              "num_shards": args.shards}
    if args.runner:
        try:
            from recsys_tf.features.beam_prepare import prepare_with_beam
        except ImportError as error:
            raise InputError(f"`--runner {args.runner}` needs Apache Beam ({error}). "
                             "Fix: pip install 'recsys_tf[beam]', or omit --runner for the in-process writer.") from None
        prepare_with_beam(args.dir, args.out, runner=args.runner, pipeline_args=pipeline_args, **common)
    else:
        from recsys_tf.features.prepare_examples import prepare_in_process

        prepare_in_process(args.dir, args.out, **common)
    if args.encode_texts:
        from recsys_tf.text.encode_catalog import encode_catalog

        if not config.text.cache_dir:
            raise InputError("`--encode-texts` writes the text cache training reads; no `text.cache_dir` is set. "
                             "Fix: --set text.cache_dir=DIR here and in `recsys-tf train`.")
        encode_catalog(args.dir, config, config.text.cache_dir, runner=args.runner, pipeline_args=pipeline_args)
    return 0

