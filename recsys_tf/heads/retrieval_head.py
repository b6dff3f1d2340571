"""`RetrievalHead`: sampled-softmax retrieval loss with in-batch negatives.

Logits are `query · candidate / temperature` over every candidate of the *global* batch (under
`tf.distribute` the candidates of all replicas are gathered, so N replicas compute exactly the
single-device loss), then keras-rs does the bookkeeping:
`SamplingProbabilityCorrection` (logQ: subtract log of each candidate's probability of being in
the batch, Yi et al. 2019 — without it in-batch negatives punish popular items, TFRS #535),
and optional `HardNegativeMining` (keep the top-k negatives). Accidental hits (a batch row whose
positive item is also another row's positive is not a negative) are masked here: keras-rs 0.4.0's
`RemoveAccidentalHits` adds `finfo(float32).smallest_normal / 100` (~1e-40, a no-op) instead of a
large negative number, so it removes nothing (tests/heads/test_heads.py checks against NumPy).
Extra uniformly sampled negatives can be added with `extra_candidates` (shared by every row), and
per-row negatives with `row_candidates` (e.g. items of the positive's own category: see
`RecommenderModel.category_negatives`).
"""
from __future__ import annotations

import keras
import keras_rs
import tensorflow as tf
from keras import ops

from recsys_tf.errors import InputError
from recsys_tf.training.config import MODEL_DEFAULTS as D


def _replica_context():
    ctx = tf.distribute.get_replica_context()
    return ctx if ctx is not None and ctx.num_replicas_in_sync > 1 else None


def _placed(value):
    """`value` with a device. TF's all_gather/all_reduce use a graph tensor's `.device` as the
    collective's destination; under MultiWorkerMirroredStrategy with one device per worker the
    replica function runs without a device scope, the device is "" and TF raises "destinations can
    not be empty". Pinning the tensor to the worker's (only) device fixes it; with several local
    devices TF already places each replica."""
    value = tf.convert_to_tensor(value)
    if value.device or tf.executing_eagerly():
        return value
    devices = tf.distribute.get_strategy().extended.worker_devices
    if len(devices) != 1:
        return value
    with tf.device(devices[0]):
        return tf.identity(value)


def cross_replica_sum(value):
    """Sum of `value` over replicas (itself outside tf.distribute)."""
    ctx = _replica_context()
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, _placed(value)) if ctx is not None else value


def all_gather(value):
    """`value` of every replica, concatenated on axis 0 (itself outside tf.distribute)."""
    ctx = _replica_context()
    return ctx.all_gather(_placed(value), axis=0) if ctx is not None else value


def _replica_offset(local_batch):
    ctx = _replica_context()
    if ctx is None:
        return 0
    # replicas may hold batches of different sizes at the end of an epoch
    sizes = ctx.all_gather(_placed(tf.reshape(local_batch, [1])), axis=0)
    replica = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
    return tf.reduce_sum(sizes[:replica])


@keras.saving.register_keras_serializable(package="recsys_tf")
class RetrievalHead(keras.layers.Layer):
    """Per-example softmax cross-entropy of each query against the batch's candidates.

    Args:
        temperature: logits = similarity / temperature (embeddings are L2-normalised).
        learn_temperature: make log(1 / temperature) a trainable scalar.
        logq_correction: subtract log(candidate sampling probability) from the logits.
        remove_accidental_hits: mask negatives that are the same item as the positive.
        num_hard_negatives: if set, keep only the top-k negatives per query.

    Call: `(query (B, d), candidates (B, d), candidate_ids (B,), candidate_log_probability (B,)
    or None, extra_candidates (M, d) or None, extra_ids (M,), extra_log_probability (M,),
    row_candidates (B, N, d) or None, row_ids (B, N), row_probability (B, N), bonus (B, global batch)
    or None)` -> per-example loss `(B,)`. `bonus` offsets the scores of the (gathered) batch candidates
    before the temperature (`RepeatHead`: items already in the row's history).

    `extra_probability` / `row_probability` are each negative's *expected number of draws* into the
    set (uniform extras: M / num_items; category negatives: N * p / p(category)): with logQ they are
    corrected like the batch candidates, on the same scale (`_correct`), which is what
    mixing negative sources needs (Yang et al. 2020, "Mixed negative sampling"). `row_candidates`
    are row i's own negatives; one with the positive's id is masked.
    """

    def __init__(self, temperature: float = D.temperature, learn_temperature: bool = D.learn_temperature,
                 logq_correction: bool = D.logq_correction, remove_accidental_hits: bool = D.remove_accidental_hits,
                 num_hard_negatives: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if temperature <= 0:
            raise InputError(f"`temperature` must be > 0. Received: temperature={temperature}.")
        self.temperature, self.learn_temperature = float(temperature), bool(learn_temperature)
        self.logq_correction, self.remove_accidental_hits = bool(logq_correction), bool(remove_accidental_hits)
        self.num_hard_negatives = int(num_hard_negatives) if num_hard_negatives else None
        self.sampling_correction = keras_rs.layers.SamplingProbabilityCorrection()
        self.hard_negatives = (keras_rs.layers.HardNegativeMining(self.num_hard_negatives)
                               if self.num_hard_negatives else None)
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        import math

        self.log_inverse_temperature = self.add_weight(
            name="log_inverse_temperature", shape=(), trainable=self.learn_temperature,
            initializer=keras.initializers.Constant(math.log(1.0 / self.temperature)))
        self.built = True

    def call(self, query, candidates, candidate_ids, candidate_probability=None, extra_candidates=None,
             extra_ids=None, extra_probability=None, row_candidates=None, row_ids=None, row_probability=None,
             bonus=None):
        local_batch = ops.shape(query)[0]
        all_candidates = all_gather(candidates)
        all_ids = all_gather(ops.cast(candidate_ids, "int32"))
        all_prob = all_gather(candidate_probability) if candidate_probability is not None else None
        global_batch = ops.cast(ops.shape(all_candidates)[0], "float32")
        scale = ops.exp(self.log_inverse_temperature)
        scores = ops.matmul(query, ops.transpose(all_candidates))
        if bonus is not None:  # (B, global batch) score offsets of the batch candidates (RepeatHead)
            scores = scores + ops.cast(bonus, scores.dtype)
        logits = scores * scale
        if self.logq_correction and all_prob is not None:
            logits = self.sampling_correction(logits, ops.broadcast_to(all_prob[None, :], ops.shape(logits)))
        if extra_candidates is not None:
            extra_logits = ops.matmul(query, ops.transpose(ops.cast(extra_candidates, query.dtype))) * scale
            if self.logq_correction and extra_probability is not None:
                extra_logits = self._correct(extra_logits, extra_probability[None, :], global_batch)
            logits = ops.concatenate([logits, extra_logits], axis=1)
            all_ids = ops.concatenate([all_ids, ops.cast(extra_ids, "int32")], axis=0)
        positions = ops.arange(local_batch, dtype="int32") + _replica_offset(local_batch)
        labels = ops.one_hot(positions, ops.shape(logits)[1], dtype=logits.dtype)
        if self.remove_accidental_hits:
            positive_ids = ops.take(all_ids, positions)
            duplicate = ops.cast(ops.equal(positive_ids[:, None], all_ids[None, :]), logits.dtype) - labels
            logits = logits - 1e9 * duplicate
        if row_candidates is not None:
            row_logits = ops.einsum("bd,bnd->bn", query, ops.cast(row_candidates, query.dtype)) * scale
            if self.logq_correction and row_probability is not None:
                row_logits = self._correct(row_logits, row_probability, global_batch)
            own = ops.equal(ops.cast(row_ids, "int32"), ops.cast(candidate_ids, "int32")[:, None])
            row_logits = row_logits - 1e9 * ops.cast(own, row_logits.dtype)
            logits = ops.concatenate([logits, row_logits], axis=1)
            labels = ops.concatenate([labels, ops.zeros_like(row_logits)], axis=1)
        if self.hard_negatives is not None:
            logits, labels = self.hard_negatives(logits, labels)
        return keras.losses.categorical_crossentropy(labels, logits, from_logits=True)

    def catalog_loss(self, query, catalog, target, bonus=None):
        """Per-example softmax cross-entropy of each query over the *whole* catalog: `catalog`
        `(num_items, d)` are the embeddings of items 1..num_items, `target` `(B,)` the 1-based
        positives. No sampling, so no logQ and no accidental hits; each replica scores the full
        catalog itself, so the loss is the single-device one under tf.distribute without a gather.
        keras-rs' retrieval layers score a candidate set given per batch; this is the case where
        that set is the catalog (SASRec-style full softmax). `bonus` `(B, num_items)`: score offsets
        added before the temperature (`RepeatHead`)."""
        scores = ops.matmul(query, ops.transpose(ops.cast(catalog, query.dtype)))
        if bonus is not None:
            scores = scores + ops.cast(bonus, scores.dtype)
        logits = scores * ops.exp(self.log_inverse_temperature)
        return keras.losses.sparse_categorical_crossentropy(ops.cast(target, "int32") - 1, logits, from_logits=True)

    def _correct(self, logits, expected_draws, global_batch):
        """logQ of negatives that are not batch rows, on the batch's scale. A batch candidate is
        corrected by its probability *per row* `p` = its expected copies in the batch `B * p`, / B.
        So a negative expected `e` times in a row's candidate set (uniform extras: M / num_items;
        category negatives: N * p / p(category)) is corrected with `e / B`, through the same
        keras-rs layer (and its clip) — in another frame it would weigh ~`log B` too much or too little."""
        probability = ops.cast(expected_draws, logits.dtype) / global_batch
        return self.sampling_correction(logits, ops.broadcast_to(probability, ops.shape(logits)))

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "learn_temperature": self.learn_temperature,
                       "logq_correction": self.logq_correction,
                       "remove_accidental_hits": self.remove_accidental_hits,
                       "num_hard_negatives": self.num_hard_negatives})
        return config
