"""The one fusion rule of hybrid search (dense + BM25, `index/lexical.py`) and hybrid recommend
(dense + co-occurrence, `index/cooccurrence.py`): both candidate lists merged, each candidate's dense
score min-max normalised and its other score divided by the best candidate's, then
`(1 − weight) · dense + weight · other` — a convex combination, which beats reciprocal-rank fusion
when the weight is tuned (Bruch et al., "An Analysis of Fusion Functions for Hybrid Retrieval", 2023).
Neither TFRS nor keras-rs ships a score fusion that runs inside a SavedModel.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow as tf


class SparseScores(NamedTuple):
    """The other signal's scores of one request each as a short list instead of a catalog-wide row
    (the work then grows with the request, not the catalog): `items` `(B, M)` item indices in
    ascending order per row (0 = none; an item may fill several positions in a row), `scores` `(B, M)`
    the score of the position's item (every position of an item holds the same), `first` `(B, M)`
    true at the first position of each item."""
    items: tf.Tensor
    scores: tf.Tensor
    first: tf.Tensor

    def top(self, k):
        """`(scores, items)` `(B, min(k, M))`: the best items, each once; ties: the lower item first,
        as `tf.math.top_k` orders a catalog-wide row."""
        values = tf.where(self.first & (self.items > 0), self.scores, 0.0)
        top, position = tf.math.top_k(values, k=tf.minimum(k, tf.shape(values)[1]))
        return top, tf.gather(self.items, position, batch_dims=1)

    def lookup(self, items):
        """The scores `(B, C)` of `items` `(B, C)`, 0 for an item not listed (binary search per row)."""
        position = tf.searchsorted(self.items, items, side="left")
        position = tf.minimum(position, tf.shape(self.items)[1] - 1)
        found = tf.equal(tf.gather(self.items, position, batch_dims=1), items)
        return tf.where(found, tf.gather(self.scores, position, batch_dims=1), 0.0)


def fuse(user_vectors, item_vectors, dense_items, other_scores, weight: float, extra_items=None,
         extra_dense=None, pad_score: float = -1e9):
    """Hybrid candidates: `(scores, item indices)` `(B, X + 2P)` of `candidates(...)`, each valid
    candidate's dense and other score fused by `mix` (invalid slots: `pad_score`, item 0)."""
    dense, other, valid, items = candidates(user_vectors, item_vectors, dense_items, other_scores, extra_items,
                                            extra_dense)
    return mix(dense, other, valid, weight, pad_score), items


def candidates(user_vectors, item_vectors, dense_items, other_scores, extra_items=None, extra_dense=None):
    """`(dense, other, valid, items)` `(B, X + 2P)` of the hybrid candidates: the `extra` items first
    (`extra_items` `(B, X)` with their own dense scores `extra_dense`, e.g. history items with the
    repeat offset for buy again; 0 = none), then the dense top P (`dense_items` `(B, P)`, from the
    vector index, 0 = none), then the top P of the other signal's `other_scores` (≥ 0: BM25 or
    co-occurrence; a catalog-wide `(B, N + 1)` row, column 0 padding, or `SparseScores`). A candidate already listed earlier in the row,
    padding and an other-signal candidate scoring 0 are invalid (and their item is 0). `dense` is
    each candidate's `user · item` (or its extra score), `other` its other-signal score."""
    dense_items = tf.cast(dense_items, tf.int32)
    batch, pool = tf.shape(dense_items)[0], tf.shape(dense_items)[1]
    if extra_items is None:
        extra_items = tf.zeros([batch, 0], tf.int32)
        extra_dense = tf.zeros([batch, 0], tf.float32)
    extra_items = tf.cast(extra_items, tf.int32)
    if isinstance(other_scores, SparseScores):
        top, other_items = other_scores.top(pool)
    else:
        top, other_items = tf.math.top_k(other_scores[:, 1:], k=tf.minimum(pool, tf.shape(other_scores)[1] - 1))
        other_items = other_items + 1
    items = tf.concat([extra_items, dense_items, tf.where(top > 0, other_items, 0)], axis=1)
    width = tf.shape(items)[1]
    earlier = tf.range(width)[None, :] < tf.range(width)[:, None]
    listed = tf.reduce_any(tf.equal(items[:, :, None], items[:, None, :]) & earlier[None], axis=2)
    valid = (items > 0) & ~listed
    dense = tf.einsum("bd,bcd->bc", tf.cast(user_vectors, tf.float32), tf.gather(item_vectors, items))
    n_extra = tf.shape(extra_items)[1]
    dense = tf.concat([tf.cast(extra_dense, tf.float32), dense[:, n_extra:]], axis=1)
    other = other_scores.lookup(items) if isinstance(other_scores, SparseScores) else \
        tf.gather(other_scores, items, batch_dims=1)
    return dense, other, valid, tf.where(valid, items, 0)


def mix(dense, other, valid, weight, pad_score: float):
    """`(1 − weight) · dense + weight · other` over candidates: `dense` min-max normalised over the
    row's `valid` candidates, `other` (≥ 0) divided by the row's best; invalid or non-finite:
    `pad_score`. The one fusion rule of hybrid search (BM25) and hybrid recommend (co-occurrence)."""
    big = tf.constant(np.finfo(np.float32).max, tf.float32)
    low = tf.reduce_min(tf.where(valid, dense, big), axis=1, keepdims=True)
    high = tf.reduce_max(tf.where(valid, dense, -big), axis=1, keepdims=True)
    dense = (dense - low) / tf.maximum(high - low, 1e-6)
    other = other / tf.maximum(tf.reduce_max(tf.where(valid, other, 0.0), axis=1, keepdims=True), 1e-6)
    fused = (1.0 - weight) * dense + weight * other
    return tf.where(valid & tf.math.is_finite(fused), fused, pad_score)
