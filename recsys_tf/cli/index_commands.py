"""`recsys-tf index tune --run RUN [--k 10] [--target-recall 0.95] [--out scann.json]` and
`recsys-tf index add-items --export DIR --items new_items.parquet` (cold start, new version)."""
from __future__ import annotations

import json

from recsys_tf.cli.main import add_strict_text
from recsys_tf.constants import INDEX_KINDS


def register(subparsers) -> None:
    index = subparsers.add_parser("index", help="ScaNN tuning and cold-start item addition")
    sub = index.add_subparsers(dest="index_command", required=True)
    tune = sub.add_parser("tune", help="recall vs exact and QPS for a grid of ScaNN settings; picks the fastest "
                                       "setting with recall@k >= target")
    tune.add_argument("--run", required=True)
    tune.add_argument("--k", type=int, default=10)
    tune.add_argument("--target-recall", type=float, default=0.95)
    tune.add_argument("--queries", type=int, default=1000, help="probe queries (item embeddings + noise)")
    tune.add_argument("--out", help="write the result (chosen params first) as JSON; pass it to "
                                    "`recsys-tf export --scann-params FILE`")
    tune.set_defaults(func=cmd_tune)
    add = sub.add_parser("add-items", help="new model version whose index includes new items embedded from text")
    add.add_argument("--export", required=True, help="existing version directory, e.g. exports/recsys/1")
    add.add_argument("--items", required=True, help=".parquet/.csv/.jsonl with item_id, title [, description, "
                                                    "category, brand, price]")
    add.add_argument("--export-root", help="default: the root of --export")
    add.add_argument("--model-name", help="default: the model of --export")
    add.add_argument("--index", choices=INDEX_KINDS, help="default: the index kind of --export")
    add.add_argument("--no-verify", action="store_true")
    add_strict_text(add, "the new items' titles or descriptions")
    add.set_defaults(func=cmd_add_items)


def cmd_tune(args) -> int:
    from recsys_tf.cli.main import UserError

    if not 0 < args.target_recall <= 1:
        raise UserError(f"--target-recall must be in (0, 1]. Received: {args.target_recall}.")

    from recsys_tf.index.tune import probe_queries, tune_scann
    from recsys_tf.training.trained_run import load_run

    embeddings = load_run(args.run).item_vectors()[1:]
    if len(embeddings) < 16:
        raise UserError(f"The catalog has {len(embeddings)} items; ScaNN needs at least 16. Use brute force.")
    result = tune_scann(embeddings, args.k, probe_queries(embeddings, args.queries), args.target_recall)
    chosen = result["chosen"]
    print(f"chosen: {json.dumps(chosen)} recall@{result['k']}={result['chosen_recall']:.3f} "
          f"qps={result['chosen_qps']:.0f} (brute force {result['brute_force_qps']:.0f} qps)"
          + ("" if result["reached_target"] else f"  WARNING: no setting reached recall {args.target_recall}"))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=2)
    return 0


def cmd_add_items(args) -> int:
    from recsys_tf.export.add_items import add_items

    add_items(args.export, args.items, args.export_root, args.model_name, args.index, verify=not args.no_verify,
              strict_text=args.strict_text)
    return 0
