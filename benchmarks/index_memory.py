"""Process memory while ScaNN indexes are built and dropped one after another, as `index tune` does.

    .venv/bin/python benchmarks/index_memory.py --items 300000 --dim 448 --builds 4            # build_index + release
    .venv/bin/python benchmarks/index_memory.py --items 300000 --dim 448 --builds 4 --tfrs-only  # TFRS's layer alone

Each build indexes the same random unit vectors with the package defaults, searches 256 queries,
and drops the index; the line after it is the process's resident memory. `--tfrs-only` builds
TFRS's `ScaNN` layer directly and only deletes it, to show what `ReleasedAfterSerializing` and
`release_dropped_indexes` free (docs/scale.md).
"""
import argparse
import gc
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--dim", type=int, default=448)
    parser.add_argument("--builds", type=int, default=4)
    parser.add_argument("--tfrs-only", action="store_true")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    from recsys_tf.index.build import build_index, default_scann_params, release_dropped_indexes

    rng = np.random.default_rng(0)
    items = rng.normal(size=(args.items, args.dim)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    ids = np.arange(args.items).astype(str)
    print(f"items={args.items} dim={args.dim} {'TFRS layer only' if args.tfrs_only else 'build_index + release'}\n"
          f"before: {_rss_gb():.2f} GB", flush=True)
    for n in range(args.builds):
        if args.tfrs_only:
            index = tfrs.layers.factorized_top_k.ScaNN(k=10, **default_scann_params(args.items, 10)).index(
                tf.constant(items), tf.constant(ids))
        else:
            index = build_index("scann", items, ids, k=10)
        index(items[:256], k=10)
        del index
        gc.collect()
        if not args.tfrs_only:
            release_dropped_indexes()
        print(f"after build {n + 1}: {_rss_gb():.2f} GB", flush=True)


if __name__ == "__main__":
    main()
