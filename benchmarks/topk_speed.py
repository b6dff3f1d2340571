"""Exact top-k over a big catalog (`index/topk.py::top_k_items`, what `evaluate` and the
trainer's validation rank with): milliseconds per query with 20 excluded and 20 boosted items each.

    .venv/bin/python benchmarks/topk_speed.py --items 1000000 --dim 64 --queries 660

Random vectors, the same for every run (seed 0); the first 50 queries warm up (tracing) and are not
timed. Run it at two commits to compare implementations.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=660)
    parser.add_argument("--k", type=int, default=100)
    args = parser.parse_args()

    import numpy as np

    from recsys_tf.index.topk import top_k_items

    rng = np.random.default_rng(0)
    items = rng.normal(size=(args.items, args.dim)).astype(np.float32)
    queries = rng.normal(size=(args.queries, args.dim)).astype(np.float32)
    exclude = [rng.integers(1, args.items, 20) for _ in range(args.queries)]
    boost = (rng.integers(0, args.items, (args.queries, 20)), np.full((args.queries, 20), 0.3, np.float32))
    top_k_items(queries[:50], items, args.k, exclude=exclude[:50], boost=(boost[0][:50], boost[1][:50]))
    start = time.perf_counter()
    top_k_items(queries, items, args.k, exclude=exclude, boost=boost)
    seconds = time.perf_counter() - start
    print(f"items={args.items:,} dim={args.dim} queries={args.queries} k={args.k}: {seconds:.2f} s, "
          f"{seconds / args.queries * 1000:.2f} ms per query")


if __name__ == "__main__":
    main()
