"""Exact top-K over the full catalog, batched matmul + `tf.math.top_k`, with seen items excluded."""
from __future__ import annotations

import functools

import numpy as np

SCORE_BLOCK_BYTES = 256 * 2 ** 20
"""Memory of one block of (queries x items) scores with its top-k work arrays: big catalogs score
fewer queries at a time instead of allocating `rows x items` at any size (1M items: 33 rows of the model, 11 of a baseline)."""


def rows_per_block(n_items: int, most: int, bytes_per_score: int) -> int:
    """Query rows to score at once: `most`, fewer when `bytes_per_score` (the block's arrays per
    score) x items x rows would pass `SCORE_BLOCK_BYTES`; at least 1."""
    return int(max(1, min(most, SCORE_BLOCK_BYTES // max(1, (n_items + 1) * bytes_per_score))))


def top_k_items(query_vectors: np.ndarray, item_vectors: np.ndarray, k: int, exclude: list | None = None,
                batch_size: int = 1024, exclude_index_zero: bool = True,
                boost: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores `(n_queries, k)` of the best items for each query (ties to the lower
    index), `batch_size` queries at a time or fewer for a big catalog (`rows_per_block`).

    `item_vectors` is indexed like the item tower (row 0 = padding, never returned when
    `exclude_index_zero`); `exclude[i]` is an array of item indices not to return for query i;
    `boost = (items (n_queries, H), offsets (n_queries, H))` adds each offset to its item's score
    (the `RepeatHead` offsets of history items; padding items 0 are ignored, a repeated item's
    offset counts once). Scores stay in TensorFlow from the matmul to the top-k: only the
    (query, item) pairs to boost or exclude are scattered in, and only k per query come back.
    """
    import tensorflow as tf

    items = tf.constant(item_vectors, tf.float32)
    n_items = item_vectors.shape[0]
    k = min(k, n_items - int(exclude_index_zero))
    batch_size = rows_per_block(n_items, batch_size, 8)  # the scores and their scattered copy
    out_idx = np.zeros((len(query_vectors), k), np.int32)
    out_score = np.zeros((len(query_vectors), k), np.float32)
    for start in range(0, len(query_vectors), batch_size):
        stop = min(start + batch_size, len(query_vectors))
        boosted = _boost_pairs(boost[0][start:stop], boost[1][start:stop], n_items) if boost is not None \
            else (np.zeros((0, 2), np.int64), np.zeros(0, np.float32))
        banned = _banned_pairs(exclude[start:stop] if exclude is not None else [None] * (stop - start),
                               exclude_index_zero)
        values, indices = _block_top_k()(tf.constant(query_vectors[start:stop], tf.float32), items, *boosted,
                                         banned, k)
        values, indices = values.numpy(), indices.numpy()
        # fewer than k allowed items left: those positions are padding (index 0), never a hit
        indices[~np.isfinite(values)] = 0
        out_idx[start:stop], out_score[start:stop] = indices, np.where(np.isfinite(values), values, 0.0)
    return out_idx, out_score


def _boost_pairs(items: np.ndarray, offsets: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """The (row, item) pairs of a block's boost, each once with its last offset (a repeated item's
    offsets are equal), and those offsets."""
    keys = np.repeat(np.arange(len(items), dtype=np.int64), items.shape[1]) * n_items + items.ravel()
    reversed_keys = keys[::-1]
    keys, last = np.unique(reversed_keys, return_index=True)
    return (np.stack([keys // n_items, keys % n_items], axis=1),
            offsets.ravel()[::-1][last].astype(np.float32))


def _banned_pairs(exclude: list, exclude_index_zero: bool) -> np.ndarray:
    """The (row, item) pairs a block must not return: each row's `exclude` items, and item 0."""
    seen = [np.zeros(0, np.int64) if s is None else np.asarray(s, np.int64).ravel() for s in exclude]
    if exclude_index_zero:
        seen = [np.append(s, 0) for s in seen]
    rows = np.repeat(np.arange(len(seen), dtype=np.int64), [len(s) for s in seen])
    return np.stack([rows, np.concatenate(seen) if seen else np.zeros(0, np.int64)], axis=1)


@functools.cache
def _block_top_k():
    """One block's scores, boosts, exclusions and top-k as one TensorFlow graph (shapes left open,
    so it is traced once): the scores never reach NumPy."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None, None], tf.float32),
                                  tf.TensorSpec([None, 2], tf.int64), tf.TensorSpec([None], tf.float32),
                                  tf.TensorSpec([None, 2], tf.int64), tf.TensorSpec([], tf.int32)])
    def block_top_k(queries, items, boost_pairs, boost_offsets, banned_pairs, k):
        scores = tf.matmul(queries, items, transpose_b=True)
        scores = tf.tensor_scatter_nd_add(scores, boost_pairs, boost_offsets)
        scores = tf.tensor_scatter_nd_update(scores, banned_pairs,
                                             tf.fill([tf.shape(banned_pairs)[0]], float("-inf")))
        return tf.math.top_k(scores, k=k)

    return block_top_k
