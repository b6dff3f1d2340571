"""ScaNN vs brute force over synthetic item embeddings: recall@10, batched QPS, single-query latency.

    .venv/bin/python benchmarks/index_bench.py --items 100000 [--dim 64] [--queries 2000]
    .venv/bin/python benchmarks/index_bench.py --items 1000000
"""
import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--leaves-to-search", type=int)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from recsys_tf.index.build import build_index, default_scann_params

    rng = np.random.default_rng(0)
    # clustered, normalised vectors (like tower outputs), queries near items
    centers = rng.normal(size=(256, args.dim))
    items = centers[rng.integers(0, 256, args.items)] + 0.5 * rng.normal(size=(args.items, args.dim))
    items = (items / np.linalg.norm(items, axis=1, keepdims=True)).astype(np.float32)
    queries = items[rng.integers(0, args.items, args.queries)] + 0.3 * rng.normal(size=(args.queries, args.dim))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    ids = np.array([f"SKU{i}" for i in range(args.items)], dtype=object)
    exact = build_index("brute_force", items, ids, k=args.k)
    extra = {"num_leaves_to_search": args.leaves_to_search} if args.leaves_to_search else {}
    t = time.perf_counter()
    scann = build_index("scann", items, ids, k=args.k, **extra)
    build_s = time.perf_counter() - t
    _, truth = exact(tf.constant(queries), k=args.k)
    _, found = scann(tf.constant(queries), k=args.k)
    truth, found = truth.numpy(), found.numpy()
    recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(truth, found)])
    print(f"items={args.items} dim={args.dim} scann_params={dict(default_scann_params(args.items, args.k), **extra)} "
          f"build_s={build_s:.1f} recall@{args.k}={recall:.3f}")
    def searcher(index):  # a closure, not a default argument (traced as an input otherwise)
        # one trace for every batch size: timing must not include a retrace
        return tf.function(lambda q: index(q, k=args.k), input_signature=[tf.TensorSpec([None, args.dim], tf.float32)])

    for name, index in (("brute_force", exact), ("scann", scann)):
        fn = searcher(index)
        fn(tf.constant(queries[:64]))
        fn(tf.constant(queries[:1]))
        t = time.perf_counter()
        for start in range(0, len(queries), 256):
            fn(tf.constant(queries[start:start + 256]))
        qps = len(queries) / (time.perf_counter() - t)
        latencies = []
        for q in queries[:200]:
            t = time.perf_counter()
            fn(tf.constant(q[None]))
            latencies.append((time.perf_counter() - t) * 1000)
        print(f"{name}: batched_qps={qps:.0f} p50_ms={np.percentile(latencies, 50):.2f} "
              f"p99_ms={np.percentile(latencies, 99):.2f}")


if __name__ == "__main__":
    main()
