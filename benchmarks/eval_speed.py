"""Evaluation speed vs one training epoch on the same data (issue goal: evaluating the test split takes
less time than one epoch).

    .venv/bin/python benchmarks/eval_speed.py --run runs/demo/run [--retrieval exact|scann]

Prints the seconds of `evaluate_run` for the model alone, for the model + every baseline, and the
mean epoch time recorded in RUN/history.json by the trainer.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default="runs/demo/run")
    parser.add_argument("--retrieval", default="exact", choices=["exact", "scann"])
    args = parser.parse_args()

    from recsys_tf.evaluation.evaluate import evaluate_run

    history = json.loads((Path(args.run) / "history.json").read_text())
    epoch = sum(h["seconds"] for h in history) / len(history)
    evaluate_run(args.run, baselines=False)  # warm-up: loads the model, traces functions
    start = time.perf_counter()
    metrics = evaluate_run(args.run, baselines=False, retrieval=args.retrieval)
    model_only = time.perf_counter() - start
    start = time.perf_counter()
    evaluate_run(args.run, baselines=True, retrieval=args.retrieval)
    with_baselines = time.perf_counter() - start
    print(f"test events={int(metrics['counts/test_events'])} retrieval={args.retrieval} "
          f"evaluate(model)={model_only:.1f}s evaluate(model+baselines)={with_baselines:.1f}s "
          f"training epoch={epoch:.1f}s ratio(model/epoch)={model_only / epoch:.2f}")


if __name__ == "__main__":
    main()
