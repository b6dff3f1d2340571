"""Data-path scale: synthetic events -> split -> `data prepare` (in process and on Beam's DirectRunner).

Prints, per size, the events per second and the peak RSS of each stage, each stage in its own
process (so its RSS is its own and TensorFlow's import is not counted as work):

    python benchmarks/scale.py --events 300000 --events 1000000 --work runs/scale

The synthetic world has ~34 events per user, so `--events N` draws N / 34 users and 2,000 items.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _stage(name: str, root: Path, target: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--stage", name, "--work", str(root), "--events", str(target)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run_stage(name: str, root: Path, target: int) -> dict:
    split, examples = root / "split", root / "examples"
    started = time.perf_counter()
    if name == "synth":
        from recsys_tf.data.synthetic import write_synthetic

        # written one block of users at a time (`recsys-tf data synth --split temporal-last`)
        events = write_synthetic(split, n_items=2000, n_users=max(10, target // 34), seed=42,
                                 split="temporal-last")["events"]
    else:
        import pandas as pd
        import tensorflow as tf  # noqa: F401  (imported before the clock starts)

        events = len(pd.read_parquet(split / "events.parquet", columns=["user_id"]))
        started = time.perf_counter()
        if name == "in_process":
            from recsys_tf.features.prepare_examples import prepare_in_process

            prepare_in_process(split, examples / "in_process", max_history=20, num_shards=4, log=None)
        else:
            from recsys_tf.features.beam_prepare import prepare_with_beam

            prepare_with_beam(split, examples / "beam", max_history=20, num_shards=4, runner="DirectRunner",
                              log=None)
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": round(seconds, 2), "events_per_s": round(events / seconds),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="target event count (repeatable)")
    parser.add_argument("--work", default="runs/scale")
    parser.add_argument("--stages", default="synth,in_process,beam")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(_run_stage(args.stage, Path(args.work), args.events[0])))
        return
    print("| events | stage | seconds | events/s | peak RSS (GB) |\n|---|---|---|---|---|")
    for target in args.events or [300_000]:
        root = Path(args.work) / str(target)
        for name in args.stages.split(","):
            if name == "synth" and (root / "split" / "events.parquet").exists():
                continue
            r = _stage(name, root, target)
            print(f"| {r['events']:,} | {name} | {r['seconds']} | {r['events_per_s']:,} | {r['peak_rss_gb']} |",
                  flush=True)


if __name__ == "__main__":
    main()
