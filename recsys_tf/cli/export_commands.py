"""`recsys-tf export --run RUN --index {scann,brute_force} --export-root ROOT --model-name NAME` and
`recsys-tf export check DIR` (op audit: which TF Serving image can load it)."""
from __future__ import annotations

import json
from pathlib import Path

from recsys_tf.cli.main import add_strict_text
from recsys_tf.constants import INDEX_KINDS


def register(subparsers) -> None:
    export = subparsers.add_parser("export", help="write a TF Serving model version (or `export check DIR`)")
    export.add_argument("--run", help="training run directory")
    export.add_argument("--index", choices=INDEX_KINDS, default="brute_force")
    export.add_argument("--export-root", default="exports")
    export.add_argument("--model-name", default="recsys")
    export.add_argument("--max-k", type=int, default=100)
    export.add_argument("--version", type=int, help="exact version number (default: next free)")
    export.add_argument("--scann-params", help="JSON file from `recsys-tf index tune --out` (its `chosen` "
                                               "settings) or a plain {num_leaves: ..., ...} object")
    export.add_argument("--no-verify", action="store_true", help="skip the fresh-process reload check")
    export.add_argument("--fusion-weight", type=float, default=None,
                        help="hybrid search's BM25 weight in [0, 1] (0 = dense search only); default: the weight "
                             "the run chose on its validation queries (run.json search_calibration)")
    export.add_argument("--recommend-fusion-weight", type=float, default=None,
                        help="hybrid recommend's co-occurrence weight in [0, 1] (0 = dense recommend only); "
                             "default: the weight the run chose on its validation split (run.json "
                             "recommend_calibration)")
    add_strict_text(export, "the run's text (as recorded when it was trained)")
    export.set_defaults(func=cmd_export)
    sub = export.add_subparsers(dest="export_command")
    check = sub.add_parser("check", help="list the SavedModel's ops and the serving image that can load it")
    check.add_argument("dir")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)


def cmd_export(args) -> int:
    from recsys_tf.cli.main import UserError
    from recsys_tf.export.exporter import export_run

    if not args.run:
        raise UserError("`--run` is required to export. Fix: recsys-tf export --run RUN --export-root ROOT")
    if not 1 <= args.max_k <= 1000:
        raise UserError(f"`--max-k` must be in [1, 1000]. Received: {args.max_k}.")
    if args.fusion_weight is not None and not 0.0 <= args.fusion_weight <= 1.0:
        raise UserError(f"`--fusion-weight` must be in [0, 1] (0 = dense search only). Received: {args.fusion_weight}.")
    weight = args.recommend_fusion_weight
    if weight is not None and not 0.0 <= weight <= 1.0:
        raise UserError(f"`--recommend-fusion-weight` must be in [0, 1] (0 = dense recommend only). Received: {weight}. "
                        "Fix: e.g. --recommend-fusion-weight 0.5, or leave it out for the run's own choice.")
    scann_params = None
    if args.scann_params:
        try:
            loaded = json.loads(Path(args.scann_params).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise UserError(f"--scann-params {args.scann_params}: cannot read it as JSON ({err}). Fix: pass the "
                            "file `recsys-tf index tune` wrote (or a JSON object of ScaNN settings).") from err
        if not isinstance(loaded, dict) or not isinstance(loaded.get("chosen", loaded), dict):
            raise UserError(f"--scann-params {args.scann_params}: expected a JSON object. Received: "
                            f"{type(loaded).__name__}. Fix: pass the file `recsys-tf index tune` wrote.")
        scann_params = loaded.get("chosen", loaded)
        allowed = {"num_leaves", "num_leaves_to_search", "num_reordering_candidates", "dimensions_per_block"}
        unknown = sorted(set(scann_params) - allowed)
        if unknown:
            raise UserError(f"--scann-params {args.scann_params}: unknown keys {unknown}. Allowed: {sorted(allowed)}.")
    from recsys_tf.locking import run_lock

    with run_lock(args.run, "export", exclusive=False):
        export_run(args.run, args.export_root, args.model_name, args.index, max_k=args.max_k, version=args.version,
                   verify=not args.no_verify, scann_params=scann_params, fusion_weight=args.fusion_weight,
                   strict_text=args.strict_text, recommend_fusion_weight=weight)
    return 0


def cmd_check(args) -> int:
    from recsys_tf.cli.main import UserError
    from recsys_tf.export.op_audit import audit

    if not (Path(args.dir) / "saved_model.pb").exists():
        raise UserError(f"{args.dir} has no saved_model.pb. Fix: pass a version directory, e.g. exports/recsys/1.")
    result = audit(args.dir)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        ops = result["ops"]
        print(f"{args.dir}: {len(ops['core'])} core TF ops, TF Text ops {ops['tftext']}, ScaNN ops {ops['scann']}, "
              f"unknown ops {ops['unknown']}")
        print(f"serving image: {result['serving_image'] or 'NONE (unknown custom ops)'}")
    return 0 if result["serving_image"] else 1
