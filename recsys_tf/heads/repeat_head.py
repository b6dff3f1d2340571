"""`RepeatHead`: a learned score for items the user already has in the history ("buy it again")."""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="recsys_tf")
class RepeatHead(keras.layers.Layer):
    """Score offset of each candidate item from its occurrences in the user's history.

    `bonus(u, i) = [i in history] * item_bias[i] + sum over history positions p holding item i of
    position_weight[p]` (p counted from the newest, 0), in the units of the two-tower score
    (`user · item`), added to it before the temperature. So the model's score for an item the user
    already has is `user · item + bonus`: how often and how recently the user had it, and how much
    this item is bought again (`item_bias`: consumables high, durables low) — the signal of the
    "most frequent + most recent" baseline, learned. Items outside the history get 0. All weights
    start at 0 (the plain two-tower score). Positions, not timestamps or event types: serving
    receives a history as an ordered list of ids only, so training sees exactly what serving has.

    Why a head of its own: in retail most next purchases repeat an earlier one (Online Retail: a
    quarter of the leave-last-out targets), and a user vector that must point at every past item to
    explain repeats is worse at what comes next; with the offset carrying repeats the vector is free
    for discovery. Keras, keras-rs and TFRS have no repeat-aware scorer (RepeatNet, Ren et al. 2019,
    learns a whole repeat/explore decoder; this is its cheapest form).

    Call forms (`items` = `history_items` `(B, H)`, right-aligned, 0 = padding; positions beyond
    `max_positions` share the last weight):
    * `catalog_bonus(items)` -> `(B, num_items + 1)` (column 0 = padding, 0);
    * `candidate_bonus(items, candidate_ids (C,))` -> `(B, C)`;
    * `history_bonus(items)` -> `(B, H)`: the bonus of each history position's own item (the same
      value for every position holding that item; 0 at padding), for serving.
    """

    def __init__(self, num_items: int, max_positions: int = 20, **kwargs):
        super().__init__(**kwargs)
        self.num_items, self.max_positions = int(num_items), int(max_positions)
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        zeros = keras.initializers.Zeros()
        self.item_bias = self.add_weight(name="item_bias", shape=(self.num_items + 1,), initializer=zeros)
        self.position_weight = self.add_weight(name="position_weight", shape=(self.max_positions,),
                                               initializer=zeros)
        self.built = True

    def _position_weights(self, items):
        """`(B, H)` weight of each history position (0 at padding)."""
        width = ops.shape(items)[1]
        from_end = ops.minimum(width - 1 - ops.arange(width, dtype="int32"), self.max_positions - 1)
        return ops.take(self.position_weight, from_end)[None, :] * ops.cast(items > 0, "float32")

    def catalog_bonus(self, items, num_items: int | None = None):
        items = ops.cast(items, "int32")
        rows = num_items + 1 if num_items is not None else self.num_items + 1
        batch = ops.shape(items)[0]
        row_index = ops.broadcast_to(ops.arange(batch, dtype="int32")[:, None], ops.shape(items))
        index = ops.stack([ops.reshape(row_index, (-1,)), ops.reshape(items, (-1,))], axis=1)
        weights = ops.reshape(self._position_weights(items), (-1,))
        # scatter-add: items present in a row get their positions' weights summed (O(B x items))
        summed = tf.tensor_scatter_nd_add(tf.zeros((batch, rows)), index, weights)
        present = tf.tensor_scatter_nd_max(tf.zeros((batch, rows)), index,
                                           ops.reshape(ops.cast(items > 0, "float32"), (-1,)))
        return summed + present * ops.take(self.item_bias, ops.arange(rows, dtype="int32"))[None, :]

    def candidate_bonus(self, items, candidate_ids):
        items = ops.cast(items, "int32")
        same = ops.cast(ops.equal(items[:, :, None], ops.cast(candidate_ids, "int32")[None, None, :]), "float32")
        same = same * ops.cast(items > 0, "float32")[:, :, None]
        summed = ops.einsum("bh,bhc->bc", self._position_weights(items), same)
        present = ops.max(same, axis=1)
        return summed + present * ops.take(self.item_bias, ops.cast(candidate_ids, "int32"))[None, :]

    def history_bonus(self, items):
        items = ops.cast(items, "int32")
        same = ops.cast(ops.equal(items[:, :, None], items[:, None, :]), "float32")
        summed = ops.einsum("bh,bhk->bk", self._position_weights(items), same)
        valid = ops.cast(items > 0, "float32")
        return (summed + ops.take(self.item_bias, items)) * valid

    def get_config(self):
        config = super().get_config()
        config.update({"num_items": self.num_items, "max_positions": self.max_positions})
        return config
