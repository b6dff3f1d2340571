"""`RankingHead`: rating (regression) or click/purchase (probability) from a user and an item."""
from __future__ import annotations

import keras
import keras_rs
from keras import ops

from recsys_tf.errors import InputError
from recsys_tf.towers.mlp import mlp

KINDS = ("rating", "click")


@keras.saving.register_keras_serializable(package="recsys_tf")
class RankingHead(keras.layers.Layer):
    """Score (user, item) pairs.

    `x = [u, i, u ⊙ i]` -> keras-rs `FeatureCross` (DCN-v2 cross layer, `num_cross_layers` times)
    -> MLP -> scalar. For `kind="rating"` the output is `global_mean + user_bias + item_bias + mlp`
    (biases per hashed user bin and per item index: the classic strong baseline is built in);
    for `kind="click"` it is a logit (call `probability`).

    `factor_dim > 0` adds the biased-matrix-factorisation term `p_user_bin · q_item` (Koren 2009) with
    its own per-user-bin and per-item factors: the towers' embeddings are normalised and shaped by
    retrieval (and id dropout), which leaves the per-user memorisation ratings need to these factors.
    `l2` is the per-example penalty `l2 * (b_u² + b_i² + |p_u|² + |q_i|²)` on the rated pair's biases
    and factors (`penalty`; the model adds it to the rating loss), the usual MF regulariser: keras-rs
    and TFRS have no biased-MF layer, so these are plain Keras embeddings.

    `rating_range=(low, high)` (the training ratings' scale) clips rating predictions outside training:
    a prediction of 5.6 on a 1-5 scale is never better than 5 (MovieLens 100K RMSE 0.9102 -> 0.9096, mean
    of three seeds). Training keeps the unclipped output, so out-of-range predictions still get gradients.

    Call: `(user (B, d), item (B, d), user_bin (B,), item_index (B,))` -> `(B,)`.
    """

    def __init__(self, kind: str = "rating", num_user_bins: int = 1024, num_items: int = 1,
                 hidden_dims=(64,), num_cross_layers: int = 1, dropout: float = 0.0, global_mean: float = 0.0,
                 factor_dim: int = 0, l2: float = 0.0, rating_range=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if kind not in KINDS:
            raise InputError(f"`kind` must be one of {KINDS}. Received: kind={kind!r}.")
        self.kind, self.num_user_bins, self.num_items = kind, int(num_user_bins), int(num_items)
        self.hidden_dims, self.num_cross_layers = list(hidden_dims), int(num_cross_layers)
        self.dropout, self.global_mean = float(dropout), float(global_mean)
        self.factor_dim, self.l2 = int(factor_dim), float(l2)
        if self.factor_dim < 0 or self.l2 < 0:
            raise InputError(f"`factor_dim` and `l2` must be >= 0. Received: factor_dim={factor_dim}, l2={l2}.")
        self.rating_range = None if rating_range is None else [float(v) for v in rating_range]
        if self.rating_range is not None and (len(self.rating_range) != 2 or self.rating_range[0] > self.rating_range[1]
                                              or kind != "rating"):
            raise InputError("`rating_range` must be (low, high) with low <= high, for kind='rating' only. "
                             f"Received: rating_range={rating_range!r}, kind={kind!r}.")
        self.crosses = [keras_rs.layers.FeatureCross(name=f"cross_{i}") for i in range(self.num_cross_layers)]
        self.mlp = mlp(self.hidden_dims, 1, self.dropout, name=f"{kind}_mlp")
        self.user_bias = keras.layers.Embedding(self.num_user_bins, 1, embeddings_initializer="zeros", name="user_bias")
        self.item_bias = keras.layers.Embedding(self.num_items + 1, 1, embeddings_initializer="zeros", name="item_bias")
        self.seed = seed
        if self.factor_dim:
            # two initialisers: one seeded initialiser would draw the same leading rows for both tables
            user_init, item_init = (keras.initializers.RandomNormal(stddev=0.1, seed=None if seed is None else seed + k)
                                    for k in (0, 1))
            self.user_factors = keras.layers.Embedding(self.num_user_bins, self.factor_dim,
                                                       embeddings_initializer=user_init, name="user_factors")
            self.item_factors = keras.layers.Embedding(self.num_items + 1, self.factor_dim,
                                                       embeddings_initializer=item_init, name="item_factors")
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
        if self.factor_dim:
            score = score + ops.sum(self.user_factors(ops.cast(user_bin, "int32"))
                                    * self.item_factors(ops.cast(item_index, "int32")), axis=-1)
        score = score + ops.cast(self.global_mean_weight, score.dtype)
        if self.rating_range is not None and not training:
            score = ops.clip(score, *self.rating_range)
        return score

    def penalty(self, user_bin, item_index):
        """Per-example `l2 * (b_u² + b_i² + |p_u|² + |q_i|²)` of the pair's own biases and factors, `(B,)`."""
        user_bin, item_index = ops.cast(user_bin, "int32"), ops.cast(item_index, "int32")
        parts = [self.user_bias(user_bin), self.item_bias(item_index)]
        if self.factor_dim:
            parts += [self.user_factors(user_bin), self.item_factors(item_index)]
        return self.l2 * ops.sum(ops.square(ops.concatenate(parts, axis=-1)), axis=-1)

    def probability(self, logits):
        return ops.sigmoid(logits)

    def get_config(self):
        config = super().get_config()
        config.update({"kind": self.kind, "num_user_bins": self.num_user_bins, "num_items": self.num_items,
                       "hidden_dims": self.hidden_dims, "num_cross_layers": self.num_cross_layers,
                       "dropout": self.dropout, "global_mean": self.global_mean, "factor_dim": self.factor_dim,
                       "l2": self.l2, "rating_range": self.rating_range, "seed": self.seed})
        return config
