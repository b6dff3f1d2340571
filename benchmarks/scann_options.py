"""ScaNN options TFRS's `ScaNN` layer does not expose, on index_bench's vectors: recall@10 and speed
against brute force timed in the same process.

    .venv/bin/python benchmarks/scann_options.py --items 1000000 --dim 448 --queries 512 \
        --grid 1000:20:100:2:nan:f32:0,1000:20:100:2:0.2:f32:0,1000:20:100:2:nan:int8:0,1000:10:500:2:nan:f32:256

Each setting is leaves:searched:reordered:dims_per_block:anisotropic_threshold:reorder_type:pca_dims
(reorder_type f32, int8 or bf16 — bf16 cannot be restored from a layer's variables, so it cannot be
exported; pca_dims 0 = no PCA projection), optionally followed by :soar_lambda (SOAR spilling: each
item also goes to a second, orthogonality-amplified partition; nan = off), :avq (anisotropic
partition centres; nan = off) and :spherical (1 = spherical k-means partitions), or `autopilot`
(ScaNN chooses). Brute force and each setting are timed alternately `--rounds` times, as
`index_bench.compare` does. The searcher is built with `scann_ops.builder` — what TFRS's layer
builds, with the extra options — and searched with `search_batched_parallel`, as the layer does.
The package keeps TFRS's layer: this script says whether an option would be worth a layer of our
own (docs/scale.md).
"""
import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _searcher(db, k: int, spec: str):
    from scann.scann_ops.py import scann_ops
    from scann.scann_ops.py.scann_builder import ReorderType

    builder = scann_ops.builder(db, k, "dot_product")
    if spec == "autopilot":
        return builder.autopilot().build(shared_name=f"bench/{spec}")
    leaves, searched, reorder, per_block, threshold, reorder_type, pca, *tree = spec.split(":")
    soar, avq, spherical = [float(v) for v in tree] + [float("nan"), float("nan"), 0.0][len(tree):]
    if int(pca):
        builder = builder.pca(reduction_dim=int(pca), pca_significance_threshold=None)
    builder = builder.tree(num_leaves=int(leaves), num_leaves_to_search=int(searched), training_iterations=12,
                           soar_lambda=None if math.isnan(soar) else soar, avq=None if math.isnan(avq) else avq,
                           spherical=bool(spherical))
    builder = builder.score_ah(int(per_block), anisotropic_quantization_threshold=float(threshold))
    quantize = {"f32": ReorderType.FLOAT32, "int8": ReorderType.INT8, "bf16": ReorderType.BFLOAT16}[reorder_type]
    builder = builder.reorder(int(reorder), quantize=quantize)
    return builder.build(shared_name=f"bench/{spec}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--grid", required=True)
    parser.add_argument("--rounds", type=int, default=3, help="alternating brute force / ScaNN timings per setting")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    from index_bench import compare, synthetic_vectors

    from recsys_tf.index.build import release_dropped_indexes
    from recsys_tf.index.tune import TIMING_BATCH

    items, queries = synthetic_vectors(args.items, args.dim, args.queries)
    truth = np.argsort(-(queries @ items.T), axis=1)[:, :args.k]
    db = tf.constant(items)
    signature = [tf.TensorSpec([None, args.dim], tf.float32)]
    brute = tf.function(lambda q: tf.math.top_k(tf.matmul(q, db, transpose_b=True), args.k), input_signature=signature)
    print(f"items={args.items} dim={args.dim} queries={args.queries} batch={min(TIMING_BATCH, args.queries)}; "
          f"each row: medians of {args.rounds} alternating brute force / ScaNN timings\n"
          "| setting | build s | recall@10 | batched q/s | brute force q/s | x brute force | p50 ms | x single |\n"
          "|---|---|---|---|---|---|---|---|")
    for spec in args.grid.split(","):
        started = time.perf_counter()
        searcher = _searcher(db, args.k, spec)
        build_s = time.perf_counter() - started
        search = tf.function(lambda q, s=searcher: s.search_batched_parallel(q, final_num_neighbors=args.k),
                             input_signature=signature)
        found = search(tf.constant(queries)).indices.numpy()
        recall = np.mean([len(set(a) & set(b)) / args.k for a, b in zip(truth, found)])
        brute_qps, qps, ratio, brute_p50, p50 = compare(brute, search, queries, args.rounds)
        print(f"| {spec} | {build_s:.0f} | {recall:.3f} | {qps:.0f} | {brute_qps:.0f} | {ratio:.1f} | "
              f"{p50:.2f} | {brute_p50 / p50:.0f} |", flush=True)
        # one 1M-item searcher at a time: built under a shared name, it lives until destroyed
        tf.raw_ops.DestroyResourceOp(resource=searcher.searcher_handle)
        del searcher, search
        release_dropped_indexes()


if __name__ == "__main__":
    main()
