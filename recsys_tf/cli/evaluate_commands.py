"""`recsys-tf evaluate --run RUN [--data DIR] [--include-seen] [--no-baselines] --out REPORT`."""
from __future__ import annotations


def register(subparsers) -> None:
    evaluate = subparsers.add_parser("evaluate", help="full-catalog metrics of a run vs baselines")
    evaluate.add_argument("--run", required=True)
    evaluate.add_argument("--data", help="dataset directory (default: the one the run trained on)")
    evaluate.add_argument("--out", required=True, help="report directory (metrics.json, report.md)")
    evaluate.add_argument("--include-seen", action="store_true", help="do not exclude already-seen items (TFRS)")
    evaluate.add_argument("--no-baselines", action="store_true")
    evaluate.add_argument("--protocol", choices=["temporal-last", "tfrs", "cold-start-items"], default="temporal-last",
                          help="tfrs: TFRS tutorial protocol on a random split (hit rates with and without seen items)")
    evaluate.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from recsys_tf.evaluation.evaluate import evaluate_run, write_report

    metrics = evaluate_run(args.run, args.data, include_seen=args.include_seen, baselines=not args.no_baselines,
                           protocol=args.protocol)
    report = write_report(metrics, args.out)
    print(report.read_text())
    return 0
