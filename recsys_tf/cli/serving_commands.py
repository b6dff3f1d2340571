"""`recsys-tf query ...` (call a running export) and `recsys-tf serving config` (models.config)."""
from __future__ import annotations


def register(subparsers) -> None:
    query = subparsers.add_parser("query", help="query an export over gRPC, REST or a local SavedModel")
    query.add_argument("--endpoint", required=True, help="grpc://host:8500 | http://host:8501 | file://ROOT/NAME/VERSION")
    query.add_argument("--model", default="recsys")
    query.add_argument("--label", help="version label (stable/canary)")
    query.add_argument("--k", type=int, default=10)
    query.add_argument("--catalog", help="dataset directory: show titles next to item ids")
    sub = query.add_subparsers(dest="query_command", required=True)
    search = sub.add_parser("search")
    search.add_argument("text")
    recommend = sub.add_parser("recommend")
    recommend.add_argument("--user", required=True)
    recommend.add_argument("--history", default="", help="comma-separated item ids, oldest first")
    recommend.add_argument("--hour", type=int, help="context hour 0-23 (default: the server clock, UTC)")
    recommend.add_argument("--weekday", type=int, help="context weekday 0-6, 0 = Monday (default: the server clock)")
    recommend.add_argument("--device", help="context device, a device name of the training data (default: unknown)")
    recommend.add_argument("--include-history", action="store_true",
                           help="buy again: the history's own items may be recommended (scored with the repeat offset)")
    similar = sub.add_parser("similar")
    similar.add_argument("item")
    for p in (search, recommend, similar):
        p.set_defaults(func=cmd_query)

    serving = subparsers.add_parser("serving", help="TF Serving configuration")
    serving_sub = serving.add_subparsers(dest="serving_command", required=True)
    config = serving_sub.add_parser("config", help="write models.config for an export root")
    config.add_argument("--export-root", required=True)
    config.add_argument("--model-name", default="recsys")
    config.add_argument("--base-path", default="/models", help="where the export root is mounted in the container")
    config.add_argument("--out", help="file to write (default: print)")
    config.set_defaults(func=cmd_config)


def cmd_query(args) -> int:
    from recsys_tf.cli.main import UserError
    from recsys_tf.serving.client import make_client

    if args.k < 1:  # before connecting (the export's max_k is checked by the client)
        raise UserError(f"--k must be at least 1. Received: {args.k}. Fix: e.g. --k 10.")
    kwargs = {"label": args.label} if args.label and not args.endpoint.startswith("file://") else {}
    client = make_client(args.endpoint, args.model, **kwargs)
    if args.query_command == "search":
        results = client.search([args.text], k=args.k)[0]
    elif args.query_command == "recommend":
        history = [h for h in args.history.split(",") if h]
        results = client.recommend([args.user], [history], k=args.k, hour=args.hour, weekday=args.weekday,
                                   device=args.device, include_history=args.include_history)[0]
    else:
        results = client.similar_items([args.item], k=args.k)[0]
    titles = {}
    if args.catalog:
        from recsys_tf.data.schema import read_dataset

        items = read_dataset(args.catalog).items
        titles = dict(zip(items["item_id"], items["title"]))
    for rank, row in enumerate(results, start=1):
        line = f"{rank:2d}. {row[0]}  {row[1]:.3f}  {titles.get(row[0], '')}"
        if len(row) > 2 and row[2]:
            line += f"   (because you viewed {titles.get(row[2], row[2])})"
        print(line)
    return 0


def cmd_config(args) -> int:
    from pathlib import Path

    from recsys_tf.serving.config import models_config

    text = models_config(args.export_root, args.model_name, args.base_path)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0
