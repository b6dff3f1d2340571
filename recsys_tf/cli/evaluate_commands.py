"""`recsys-tf evaluate --run RUN [--data DIR] [--protocol P] [--baselines all] [--ablation NAME=RUN] --out REPORT`
and `recsys-tf evaluate --compare REPORT_A[,A2,...] REPORT_B[,B2,...] [--system S] [--system-b S2] [--out DIR]`."""
from __future__ import annotations

import sys

from recsys_tf.cli.main import add_strict_text, stderr_log
from recsys_tf.constants import PROTOCOLS, RETRIEVALS


def register(subparsers) -> None:
    evaluate = subparsers.add_parser("evaluate", help="full-catalog metrics of a run vs baselines, or --compare")
    evaluate.add_argument("--run", help="trained run directory")
    evaluate.add_argument("--data", help="dataset directory (default: the one the run trained on)")
    evaluate.add_argument("--out", help="report directory (metrics.json, report.md, plots, per_query.parquet)")
    evaluate.add_argument("--include-seen", action="store_true", help="do not exclude already-seen items (TFRS)")
    evaluate.add_argument("--baselines", default="all",
                          help="all, none, or a comma list of popularity,item_knn,ease,bm25,zero_shot_text")
    evaluate.add_argument("--no-baselines", action="store_true", help="same as --baselines none")
    evaluate.add_argument("--ablation", action="append", default=[], metavar="NAME=RUN",
                          help="also evaluate another run (e.g. id_only=runs/id_only) as ablations/NAME")
    evaluate.add_argument("--protocol", choices=PROTOCOLS, default="temporal-last",
                          help="tfrs: TFRS tutorial protocol on a random split (hit rates with and without seen items)")
    evaluate.add_argument("--ks", default="1,5,10,50,100", help="cut-offs K, comma separated")
    evaluate.add_argument("--retrieval", choices=RETRIEVALS, default="exact",
                          help="exact top-k (default) or the ScaNN index the export would use")
    add_strict_text(evaluate, "the run's text or the evaluated queries")
    evaluate.add_argument("--compare", nargs=2, metavar=("REPORT_A", "REPORT_B"),
                          help="paired bootstrap comparison of two reports (per-user deltas, 95%% CI); either side "
                          "may be a comma-separated list of reports of one configuration trained with different "
                          "seeds (R1,R2,R3): sides are averaged and the interval also resamples the trainings")
    evaluate.add_argument("--system", default="recsys_tf", help="with --compare: which system's rows to compare")
    evaluate.add_argument("--system-b", help="with --compare: REPORT_B's system if it differs from --system, e.g. "
                          "--compare R R --system ablations/id_only --system-b recsys_tf (model vs ablation)")
    evaluate.set_defaults(func=cmd_evaluate)


def _parse_ablations(values: list[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--ablation expects NAME=RUN_DIR. Received: {value!r}. Fix: e.g. --ablation id_only=runs/id")
        out[name] = path
    return out


def cmd_evaluate(args) -> int:
    if args.compare:
        from recsys_tf.evaluation.compare import (
            compare_reports,
            render_comparison,
            write_comparison,
        )

        result = compare_reports(args.compare[0], args.compare[1], system=args.system, system_b=args.system_b)
        names = [f"{args.compare[0]} [{args.system}]", f"{args.compare[1]} [{args.system_b or args.system}]"]
        if args.out:
            write_comparison(result, *names, args.out)
        print(render_comparison(result, *names))
        return 0
    if not args.run or not args.out:
        print("recsys-tf evaluate needs --run RUN and --out REPORT (or --compare REPORT_A REPORT_B).", file=sys.stderr)
        return 2
    from recsys_tf.evaluation.evaluate import BASELINES, evaluate_run, write_report

    if args.no_baselines or args.baselines == "none":
        baselines = ()
    elif args.baselines == "all":
        baselines = BASELINES
    else:
        baselines = tuple(b.strip() for b in args.baselines.split(",") if b.strip())
    try:
        ks = tuple(int(k) for k in args.ks.split(","))
    except ValueError:
        ks = ()
    if not ks or min(ks) < 1:
        print(f"recsys-tf evaluate: error: --ks expects comma-separated positive integers. Received: {args.ks!r}. "
              "Fix: e.g. --ks 1,5,10,50.", file=sys.stderr)
        return 2
    from recsys_tf.locking import run_lock

    with run_lock(args.run, "evaluate", exclusive=False):
        metrics = evaluate_run(args.run, args.data, ks=ks, include_seen=args.include_seen, baselines=baselines,
                               protocol=args.protocol, ablations=_parse_ablations(args.ablation),
                               retrieval=args.retrieval, strict_text=args.strict_text, log=stderr_log)
    report = write_report(metrics, args.out)
    print(report.read_text())
    print(f"TensorBoard: tensorboard --logdir {report.parent / 'tensorboard'}")
    return 0
