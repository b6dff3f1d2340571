"""Exact top-K over the full catalog, batched matmul + `tf.math.top_k`, with seen items excluded."""
from __future__ import annotations

import numpy as np

SCORE_BLOCK_BYTES = 256 * 2 ** 20
"""Memory of one block of (queries x items) scores with its top-k work arrays: big catalogs score
fewer queries at a time instead of allocating `rows x items` at any size (1M items: 22 rows of the model, 11 of a baseline)."""


def rows_per_block(n_items: int, most: int, bytes_per_score: int) -> int:
    """Query rows to score at once: `most`, fewer when `bytes_per_score` (the block's arrays per
    score) x items x rows would pass `SCORE_BLOCK_BYTES`; at least 1."""
    return int(max(1, min(most, SCORE_BLOCK_BYTES // max(1, (n_items + 1) * bytes_per_score))))


def top_k_items(query_vectors: np.ndarray, item_vectors: np.ndarray, k: int, exclude: list | None = None,
                batch_size: int = 1024, exclude_index_zero: bool = True,
                boost: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores `(n_queries, k)` of the best items for each query, `batch_size` queries at
    a time or fewer for a big catalog (`rows_per_block`).

    `item_vectors` is indexed like the item tower (row 0 = padding, never returned when
    `exclude_index_zero`); `exclude[i]` is an array of item indices not to return for query i;
    `boost = (items (n_queries, H), offsets (n_queries, H))` adds each offset to its item's score
    (the `RepeatHead` offsets of history items; padding items 0 are ignored, a repeated item's
    offset counts once).
    """
    import tensorflow as tf

    items = tf.constant(item_vectors, tf.float32)
    k = min(k, item_vectors.shape[0] - int(exclude_index_zero))
    # the scores, their NumPy copy and the boost offsets: 12 bytes a score
    batch_size = rows_per_block(item_vectors.shape[0], batch_size, 12)
    out_idx = np.zeros((len(query_vectors), k), np.int32)
    out_score = np.zeros((len(query_vectors), k), np.float32)
    for start in range(0, len(query_vectors), batch_size):
        stop = min(start + batch_size, len(query_vectors))
        scores = tf.matmul(tf.constant(query_vectors[start:stop], tf.float32), items, transpose_b=True).numpy()
        if boost is not None:
            rows = np.repeat(np.arange(stop - start), boost[0].shape[1])
            items_b = boost[0][start:stop].ravel()
            offsets = np.zeros_like(scores)
            offsets[rows, items_b] = boost[1][start:stop].ravel()  # equal offsets per item: assignment, not sum
            scores = scores + offsets
        if exclude_index_zero:
            scores[:, 0] = -np.inf
        if exclude is not None:
            for row, seen in enumerate(exclude[start:stop]):
                if seen is not None and len(seen):
                    scores[row, seen] = -np.inf
        values, indices = tf.math.top_k(scores, k=k)
        values, indices = values.numpy(), indices.numpy()
        # fewer than k allowed items left: those positions are padding (index 0), never a hit
        indices[~np.isfinite(values)] = 0
        out_idx[start:stop], out_score[start:stop] = indices, np.where(np.isfinite(values), values, 0.0)
    return out_idx, out_score


def hit_metrics(top_indices: np.ndarray, targets: np.ndarray, ks) -> dict[str, np.ndarray]:
    """Per-query recall@k (= hit rate with one target), NDCG@k and MRR for a single relevant item
    (the validation metrics of training; the full set is `metrics.ranking_metrics`)."""
    from recsys_tf.evaluation.metrics import ranking_metrics

    full = ranking_metrics(top_indices, np.asarray(targets), ks)
    return {name: values for name, values in full.items() if name.split("@")[0] in ("recall", "ndcg", "mrr")}
