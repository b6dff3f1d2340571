"""ScaNN vs brute force over synthetic item embeddings: recall@10, batched QPS, single-query latency.

    .venv/bin/python benchmarks/index_bench.py --items 100000 [--dim 64] [--queries 2000]
    .venv/bin/python benchmarks/index_bench.py --items 1000000 --dim 448 --queries 512 \
        --grid 1000:20:100,1000:10:200,2000:16:200

Brute force and every ScaNN setting are timed in the same run (one process, same queries, batches of
`index tune`'s TIMING_BATCH queries), alternating `--rounds` times per setting, and each row reports
medians, so the speed-up is not divided by a brute force slowed by other load. `--grid` takes
num_leaves:num_leaves_to_search:num_reordering_candidates[:dimensions_per_block] settings (the
options TFRS's ScaNN layer exposes; default: the package's `default_scann_params`, or
`--leaves-to-search` on top of them). `benchmarks/scann_options.py` tries the ScaNN options TFRS
does not expose.
"""
import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# --grid fields, in order (the last is optional)
GRID_FIELDS = ("num_leaves", "num_leaves_to_search", "num_reordering_candidates", "dimensions_per_block")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--leaves-to-search", type=int)
    parser.add_argument("--rounds", type=int, default=3, help="alternating brute force / ScaNN timings per setting")
    parser.add_argument("--grid", help="num_leaves:num_leaves_to_search:num_reordering_candidates[:dimensions_per_block],...")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from recsys_tf.index.build import build_index, default_scann_params, release_dropped_indexes
    from recsys_tf.index.tune import TIMING_BATCH

    items, queries = synthetic_vectors(args.items, args.dim, args.queries)
    ids = np.array([f"SKU{i}" for i in range(args.items)], dtype=object)
    exact = build_index("brute_force", items, ids, k=args.k)
    defaults = default_scann_params(args.items, args.k)
    settings = [dict(defaults, **({"num_leaves_to_search": args.leaves_to_search} if args.leaves_to_search else {}))]
    if args.grid:
        settings = [dict(defaults, **dict(zip(GRID_FIELDS, map(int, item.split(":"))))) for item in args.grid.split(",")]
    _, truth = exact(tf.constant(queries), k=args.k)
    truth = truth.numpy()
    print(f"items={args.items} dim={args.dim} queries={args.queries} batch={min(TIMING_BATCH, args.queries)}\n"
          f"Each row: medians of {args.rounds} alternating brute force / ScaNN timings.")
    print("| leaves | searched | reorder | dims/block | build s | recall@10 | batched q/s | brute force q/s | "
          "x brute force | p50 ms | brute p50 ms | x single |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    for params in settings:
        t = time.perf_counter()
        scann = build_index("scann", items, ids, k=args.k, **params)
        build_s = time.perf_counter() - t
        _, found = scann(tf.constant(queries), k=args.k)
        found = found.numpy()
        recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(truth, found)])
        exact_qps, qps, ratio, exact_p50, p50 = compare(_traced(exact, args), _traced(scann, args), queries, args.rounds)
        print(f"| {params['num_leaves']} | {params['num_leaves_to_search']} | {params['num_reordering_candidates']} | "
              f"{params['dimensions_per_block']} | {build_s:.0f} | {recall:.3f} | {qps:.0f} | {exact_qps:.0f} | "
              f"{ratio:.1f} | {p50:.2f} | {exact_p50:.2f} | {exact_p50 / p50:.1f} |", flush=True)
        del scann, found
        release_dropped_indexes()  # one 1M-item index at a time (each holds several GB)


def synthetic_vectors(n_items: int, dim: int, n_queries: int):
    """Clustered, normalised item vectors (like tower outputs: 256 clusters) and queries near items."""
    import numpy as np

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(256, dim))
    items = centers[rng.integers(0, 256, n_items)] + 0.5 * rng.normal(size=(n_items, dim))
    items = (items / np.linalg.norm(items, axis=1, keepdims=True)).astype(np.float32)
    queries = items[rng.integers(0, n_items, n_queries)] + 0.3 * rng.normal(size=(n_queries, dim))
    return items, (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def _traced(index, args):
    """The index's search traced once for every batch size: timing must not include a retrace."""
    import tensorflow as tf

    return tf.function(lambda q: index(q, k=args.k), input_signature=[tf.TensorSpec([None, args.dim], tf.float32)])


def compare(brute, fn, queries, rounds: int):
    """Medians over `rounds` alternating timings (`timed_search`) of brute force and of `fn`: brute
    force q/s, q/s, the ratio of the two within a round, brute force p50 ms, p50 ms. The machine's
    speed drifts by ±15% from minute to minute; alternating and taking medians keeps the ratio."""
    import numpy as np

    runs = [(timed_search(brute, queries), timed_search(fn, queries)) for _ in range(rounds)]
    return tuple(float(np.median(v)) for v in (
        [b[0] for b, _ in runs], [f[0] for _, f in runs], [f[0] / b[0] for b, f in runs],
        [b[1] for b, _ in runs], [f[1] for _, f in runs]))


def timed_search(fn, queries, batch: int | None = None, min_seconds: float = 3.0):
    """(batched queries/s, p50 and p99 single-query ms) of a traced search `fn`: passes over all the
    queries in batches of `batch` (default: `index tune`'s TIMING_BATCH), repeated until
    `min_seconds` have passed, after warm-up calls at both shapes."""
    import numpy as np
    import tensorflow as tf

    from recsys_tf.index.tune import TIMING_BATCH

    batch = min(batch or TIMING_BATCH, len(queries))
    fn(tf.constant(queries[:batch]))
    fn(tf.constant(queries[:1]))
    done, t = 0, time.perf_counter()
    while time.perf_counter() - t < min_seconds:
        for start in range(0, len(queries), batch):
            fn(tf.constant(queries[start:start + batch]))
        done += len(queries)
    qps = done / (time.perf_counter() - t)
    latencies = []
    for q in queries[:200]:
        t = time.perf_counter()
        fn(tf.constant(q[None]))
        latencies.append((time.perf_counter() - t) * 1000)
    return qps, float(np.percentile(latencies, 50)), float(np.percentile(latencies, 99))


if __name__ == "__main__":
    main()
