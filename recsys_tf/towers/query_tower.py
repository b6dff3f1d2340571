"""`QueryTower`: query text (-> TextEncoder) [+ user embedding through a learned gate] -> d-dim."""
from __future__ import annotations

import keras
from keras import ops

from recsys_tf.errors import InputError
from recsys_tf.towers.mlp import (
    deserialize_optional,
    l2_normalize,
    mlp,
    row_mask,
    serialize_optional,
    text_skip_weight,
    with_text_skip,
)
from recsys_tf.training.config import MODEL_DEFAULTS as D


@keras.saving.register_keras_serializable(package="recsys_tf")
class QueryTower(keras.layers.Layer):
    """Embed search queries.

    Inputs: a dict with `query_vector` `(B, text_dim)` (text already encoded, e.g. by the frozen
    embedding cache) or `query` raw strings `(B,)` (encoded here by `text_encoder`, which shares the
    item tower's backbone); optionally `user_embedding` `(B, output_dim)` for personalised search.
    Returns `(B, output_dim)`.

    Personalisation: `gate = sigmoid(W [q; u])` per dimension, `out = normalize(gate * q + (1 - gate) * u)`.
    Without a user (anonymous search) pass no `user_embedding`: the text part alone is used.

    Anonymous rate: during training each row's user is dropped with probability `anonymous_rate`
    (its output is the text part alone, exactly what anonymous search serves), so the query-only
    path is trained too — without it, that path only ever learned as one input of the gate.
    """

    def __init__(self, text_encoder=None, text_dim: int = 384, output_dim: int = D.embedding_dim,
                 hidden_dims=tuple(D.hidden_dims), dropout: float = D.dropout,
                 personalize: bool = D.personalize_search, text_skip: bool = D.text_skip,
                 text_skip_init: float = D.query_text_skip_init, anonymous_rate: float = D.anonymous_search_rate,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= anonymous_rate < 1.0:
            raise InputError(f"`anonymous_rate` must be in [0, 1). Received: anonymous_rate={anonymous_rate}.")
        self.anonymous_rate = float(anonymous_rate)
        self.text_encoder = text_encoder
        self.text_dim = int(text_encoder.output_dim if text_encoder is not None else text_dim)
        self.output_dim, self.hidden_dims, self.dropout = int(output_dim), list(hidden_dims), float(dropout)
        self.personalize, self.text_skip = bool(personalize), bool(text_skip)
        self.text_skip_init = float(text_skip_init)
        self.mlp = mlp(self.hidden_dims, self.output_dim, self.dropout, name="query_mlp")
        self.gate = keras.layers.Dense(self.embedding_dim, activation="sigmoid", name="personal_gate") \
            if self.personalize else None
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)  # see ItemTower: created with the layer
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        self.mlp.build((None, self.text_dim))
        if self.gate is not None:
            self.gate.build((None, 2 * self.embedding_dim))
        self.skip_weight = text_skip_weight(self, self.text_skip_init) if self.text_skip else None
        self.built = True

    @property
    def embedding_dim(self) -> int:
        return self.output_dim + (self.text_dim if self.text_skip else 0)

    def call(self, inputs, training=None):
        if "query_vector" in inputs:
            vector = inputs["query_vector"]
        else:
            vector = self.text_encoder(inputs["query"], training=training)
        learned = ops.cast(self.mlp(vector, training=training), "float32")
        query = (with_text_skip(learned, ops.cast(vector, "float32"), self.skip_weight) if self.skip_weight is not None
                 else l2_normalize(learned))
        user = inputs.get("user_embedding")
        if self.gate is None or user is None:
            return query
        gate = ops.cast(self.gate(ops.concatenate([query, user], axis=-1)), "float32")
        personal = l2_normalize(gate * query + (1.0 - gate) * user)
        if not training or self.anonymous_rate <= 0:
            return personal
        keep_user = ops.expand_dims(row_mask(query, self.anonymous_rate, self.seed_generator), -1)
        return keep_user * personal + (1.0 - keep_user) * query

    def get_config(self):
        config = super().get_config()
        config.update({
            "text_encoder": serialize_optional(self.text_encoder),
            "text_dim": self.text_dim, "output_dim": self.output_dim, "hidden_dims": self.hidden_dims,
            "dropout": self.dropout, "personalize": self.personalize, "text_skip": self.text_skip,
            "text_skip_init": self.text_skip_init, "anonymous_rate": self.anonymous_rate, "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_optional(config, "text_encoder"))
