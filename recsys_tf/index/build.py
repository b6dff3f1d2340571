"""Build TFRS `factorized_top_k` indexes over item embeddings with string SKU identifiers.

TFRS layers are tf_keras (Keras 2) objects; they are used on their own, called on query
embeddings, never nested inside a Keras 3 model (Keras 3 does not track tf_keras layers or their
variables, so a nested index would be missing from the model's weights and SavedModel).
"""
from __future__ import annotations

import math

import numpy as np

from recsys_tf.constants import INDEX_KINDS
from recsys_tf.errors import InputError
from recsys_tf.index.topk import top_k_items


def default_scann_params(num_items: int, k: int) -> dict:
    """ScaNN settings from catalog size: leaves ≈ √N; search max(20, 2% of the leaves) of them
    (capped at all leaves); exact re-scoring of max(4·k, 100) candidates. Measured with
    `benchmarks/index_bench.py --items 1000000 --dim 448 --queries 512 --grid ... --rounds 5` (brute
    force and each setting timed alternately in one run, batches of 512 queries, medians;
    docs/scale.md): 1M items -> recall@10 0.974 at 39x brute-force batched QPS and 100x single-query
    latency; 12 leaves searched give 0.955 at 54x, a margin too thin for the default (rebuilds of a
    setting vary by a few recall points); the 2,000-item demo catalog -> 0.998. Real embeddings may
    need more: `recsys-tf index tune` picks the fastest setting for a recall target."""
    leaves = max(1, int(round(math.sqrt(num_items))))
    to_search = max(20, math.ceil(0.02 * leaves))
    # Catalogs of <= 1,000 items are re-scored exactly in full (well under a millisecond): ScaNN
    # trains its tree from a random start, and on small catalogs of barely-trained, nearly tied
    # embeddings the quantised shortlist of 100 could miss true top-k items in some builds.
    reorder = num_items if num_items <= 1000 else max(4 * k, 100)
    return {"num_leaves": leaves, "num_leaves_to_search": min(leaves, to_search),
            "num_reordering_candidates": max(reorder, 4 * k), "dimensions_per_block": 2}


def build_index(kind: str, embeddings: np.ndarray, identifiers, k: int, **scann_params):
    """An indexed TFRS layer returning `k` (scores, identifiers) per query embedding."""
    import tensorflow as tf

    if kind not in INDEX_KINDS:
        raise InputError(f"`index` must be one of {INDEX_KINDS}. Received: index={kind!r}.")
    import tensorflow_recommenders as tfrs

    embeddings = tf.constant(np.asarray(embeddings, np.float32))
    identifiers = tf.constant(np.asarray(identifiers, dtype=object).astype(str))
    if kind == "brute_force":
        return tfrs.layers.factorized_top_k.BruteForce(k=k).index(embeddings, identifiers)
    if len(embeddings) < 16:
        raise InputError(f"ScaNN needs at least 16 items to partition; the catalog has {len(embeddings)}. "
                         "Fix: use --index brute_force for tiny catalogs.")
    params = default_scann_params(len(embeddings), k)
    params.update(scann_params)
    params["num_leaves"] = min(params["num_leaves"], len(embeddings))
    params["num_leaves_to_search"] = min(params["num_leaves_to_search"], params["num_leaves"])
    layer = tfrs.layers.factorized_top_k.ScaNN(k=k, **params)
    # TFRS's layer has no hook to free the searcher it builds, so its builder is wrapped.
    build_searcher = layer._build_searcher
    layer._build_searcher = lambda candidates: ReleasedAfterSerializing(build_searcher(candidates))
    layer.index(embeddings, identifiers)
    layer._recsys_params = params  # recorded in the export report (assets.extra/recsys_tf_export.json)
    return layer


class ReleasedAfterSerializing:
    """A built ScaNN searcher that is destroyed once it has been serialized.

    TFRS's `ScaNN.index` builds the searcher under a unique shared name, copies it into the layer's
    variables (`serialize_to_module`) and drops the handle; the searcher itself — its own copy of
    the item vectors and codes — stays in TensorFlow's resource manager until the process ends
    (0.6 GB per build at 300k x 448: a grid of builds such as `index tune`'s exhausts the memory).
    The layer searches with a searcher recreated from its variables, so this one can go."""

    def __init__(self, searcher):
        self.searcher = searcher

    def serialize_to_module(self):
        import tensorflow as tf

        state = self.searcher.serialize_to_module()
        tf.raw_ops.DestroyResourceOp(resource=self.searcher.searcher_handle)
        return state


def release_dropped_indexes() -> None:
    """Frees the searchers of ScaNN layers that are no longer referenced.

    A ScaNN layer recreates its searcher inside a traced function whose kernel owns it, and eager
    TensorFlow caches kernels for the life of the process, so deleting the layer frees nothing
    (0.6 GB per 300k x 448 index). Call after dropping indexes built in a loop; TensorFlow has no
    public API for this, hence the private `clear_kernel_cache` (a no-op if it goes away)."""
    import gc

    from tensorflow.python.eager import context

    gc.collect()
    clear = getattr(context.context(), "clear_kernel_cache", None)
    if clear is not None:
        clear()


def kth_best_scores(queries: np.ndarray, embeddings: np.ndarray, k: int) -> np.ndarray:
    """The exact k-th best inner-product score of each query (`top_k_items`, a block of queries at a
    time: a whole queries x items argsort took ~8 GB for 500 queries over 1M items)."""
    return top_k_items(np.asarray(queries, np.float32), np.asarray(embeddings, np.float32), k,
                       exclude_index_zero=False)[1][:, k - 1]


def recall_against_exact(index, embeddings: np.ndarray, identifiers, queries: np.ndarray, k: int,
                         kth: np.ndarray | None = None) -> float:
    """Mean recall@k of the index against exact search, counted as ann-benchmarks counts it: a
    returned item is a hit when its score reaches the exact k-th best score (tolerance 1e-5), so
    items tied with the k-th (untrained items share one vector) count whichever of them is returned.
    `kth`: `kth_best_scores(queries, embeddings, k)` when several indexes are measured."""
    import pandas as pd

    queries, embeddings = np.asarray(queries, np.float32), np.asarray(embeddings, np.float32)
    kth = kth_best_scores(queries, embeddings, k) if kth is None else kth
    _, found = index(queries, k=k)
    rows = pd.Index(np.asarray(identifiers, dtype=object).astype(str)).get_indexer(
        found.numpy().astype(str).ravel()).reshape(len(queries), -1)
    scores = np.einsum("qd,qkd->qk", queries, embeddings[np.maximum(rows, 0)])
    hits = (rows >= 0) & (scores >= kth[:, None] - 1e-5 * np.maximum(1.0, np.abs(kth[:, None])))
    return float(hits.sum(axis=1).mean() / k)
