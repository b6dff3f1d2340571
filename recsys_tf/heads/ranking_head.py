"""`RankingHead`: rating (regression) or click/purchase (probability) from a user and an item."""
from __future__ import annotations

import keras
import keras_rs
from keras import ops

from recsys_tf.towers.mlp import mlp

KINDS = ("rating", "click")


@keras.saving.register_keras_serializable(package="recsys_tf")
class RankingHead(keras.layers.Layer):
    """Score (user, item) pairs.

    `x = [u, i, u ⊙ i]` -> keras-rs `FeatureCross` (DCN-v2 cross layer, `num_cross_layers` times)
    -> MLP -> scalar. For `kind="rating"` the output is `global_mean + user_bias + item_bias + mlp`
    (biases per hashed user bin and per item index: the classic strong baseline is built in);
    for `kind="click"` it is a logit (call `probability`).

    Call: `(user (B, d), item (B, d), user_bin (B,), item_index (B,))` -> `(B,)`.
    """

    def __init__(self, kind: str = "rating", num_user_bins: int = 1024, num_items: int = 1,
                 hidden_dims=(64,), num_cross_layers: int = 1, dropout: float = 0.0, global_mean: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}.")
        self.kind, self.num_user_bins, self.num_items = kind, int(num_user_bins), int(num_items)
        self.hidden_dims, self.num_cross_layers = list(hidden_dims), int(num_cross_layers)
        self.dropout, self.global_mean = float(dropout), float(global_mean)
        self.crosses = [keras_rs.layers.FeatureCross(name=f"cross_{i}") for i in range(self.num_cross_layers)]
        self.mlp = mlp(self.hidden_dims, 1, self.dropout, name=f"{kind}_mlp")
        self.user_bias = keras.layers.Embedding(self.num_user_bins, 1, embeddings_initializer="zeros", name="user_bias")
        self.item_bias = keras.layers.Embedding(self.num_items + 1, 1, embeddings_initializer="zeros", name="item_bias")
        # a weight, not only config: saved with the weights, so a rebuilt model keeps the train mean
        self.global_mean_weight = self.add_weight(name="global_mean", shape=(), trainable=False,
                                                  initializer=keras.initializers.Constant(self.global_mean))

    def call(self, user, item, user_bin, item_index, training=None):
        x0 = ops.concatenate([user, item, user * item], axis=-1)
        x = x0
        for cross in self.crosses:
            x = cross(x0, x)
        score = ops.squeeze(ops.cast(self.mlp(x, training=training), "float32"), -1)
        score = score + ops.squeeze(self.user_bias(ops.cast(user_bin, "int32")), -1) \
            + ops.squeeze(self.item_bias(ops.cast(item_index, "int32")), -1)
        return score + ops.cast(self.global_mean_weight, score.dtype)

    def probability(self, logits):
        return ops.sigmoid(logits)

    def get_config(self):
        config = super().get_config()
        config.update({"kind": self.kind, "num_user_bins": self.num_user_bins, "num_items": self.num_items,
                       "hidden_dims": self.hidden_dims, "num_cross_layers": self.num_cross_layers,
                       "dropout": self.dropout, "global_mean": self.global_mean})
        return config
