"""`UserTower`: recent behaviour + hashed user id + context -> d-dim normalised embedding."""
from __future__ import annotations

import keras
import keras_hub
from keras import ops

from recsys_tf.constants import HISTORY_ENCODERS
from recsys_tf.errors import InputError
from recsys_tf.features.vocabulary import EVENT_VOCABULARY, RECENCY_BUCKETS
from recsys_tf.towers.mlp import drop_rows, l2_normalize, mlp, text_skip_weight, with_text_skip
from recsys_tf.training.config import MODEL_DEFAULTS as D

ENCODERS = HISTORY_ENCODERS


@keras.saving.register_keras_serializable(package="recsys_tf")
class UserTower(keras.layers.Layer):
    """Embed a user from the last N interactions and context.

    Inputs (dict, batch first): `history_items` `(B, N)` int32 item indices (0 = padding),
    `history_events` `(B, N)` event-type indices, `history_recency` `(B, N)` log-hour buckets,
    `user_bin` `(B,)` hashed user id, `hour` `(B,)`, `weekday` `(B,)`, `device` `(B,)`.
    Returns `(B, output_dim)`.

    History items are embedded by the item tower's id/attribute/cached-text parts
    (`live_text=False`: no BERT pass per history item) plus event-type and recency embeddings;
    then `history_encoder` "transformer" (a keras-hub TransformerEncoder block, then attention
    pooling), "attention" (attention pooling with a learned query) or "mean". An empty history
    (all padding) yields a zero behaviour vector, so id and context carry the user alone.
    User-id dropout (`user_id_dropout`) teaches the tower to serve users it has never seen.
    """

    def __init__(self, item_tower, num_user_bins: int, num_devices: int = 0, output_dim: int = D.embedding_dim,
                 history_encoder: str = D.history_encoder, num_heads: int = D.num_heads, user_id_dim: int = D.id_dim,
                 hidden_dims=tuple(D.hidden_dims), dropout: float = D.dropout,
                 user_id_dropout: float = D.user_id_dropout, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if history_encoder not in ENCODERS:
            raise InputError(f"`history_encoder` must be one of {ENCODERS}. Received: {history_encoder!r}.")
        self.item_tower = item_tower
        self.num_user_bins, self.num_devices = int(num_user_bins), int(num_devices)
        self.output_dim, self.history_encoder, self.num_heads = int(output_dim), history_encoder, int(num_heads)
        self.user_id_dim, self.hidden_dims = int(user_id_dim), list(hidden_dims)
        self.dropout, self.user_id_dropout = float(dropout), float(user_id_dropout)
        d = item_tower.embedding_dim
        self.event_embedding = keras.layers.Embedding(len(EVENT_VOCABULARY) + 1, d, name="event_embedding")
        self.recency_embedding = keras.layers.Embedding(RECENCY_BUCKETS, d, name="recency_embedding")
        self.user_embedding = keras.layers.Embedding(self.num_user_bins, self.user_id_dim, name="user_id_embedding")
        self.hour_embedding = keras.layers.Embedding(24, 8, name="hour_embedding")
        self.weekday_embedding = keras.layers.Embedding(7, 4, name="weekday_embedding")
        self.device_embedding = keras.layers.Embedding(self.num_devices + 1, 4, name="device_embedding")
        self.transformer = (keras_hub.layers.TransformerEncoder(intermediate_dim=2 * d, num_heads=self.num_heads,
                                                                dropout=self.dropout, name="history_transformer")
                            if history_encoder == "transformer" else None)
        self.attention_score = keras.layers.Dense(1, name="attention_score") if history_encoder != "mean" else None
        self.mlp = mlp(self.hidden_dims, self.output_dim, self.dropout, name="user_mlp")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)  # see ItemTower: created with the layer
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        d = self.item_tower.embedding_dim
        for layer in (self.event_embedding, self.recency_embedding, self.user_embedding, self.hour_embedding,
                      self.weekday_embedding, self.device_embedding):
            layer.build((None,))
        if self.transformer is not None:
            self.transformer.build((None, None, d))
        if self.attention_score is not None:
            self.attention_score.build((None, None, d))
        self.mlp.build((None, 2 * d + self.user_id_dim + 16))
        self.skip_weight = (text_skip_weight(self, self.item_tower.text_skip_init) if self.item_tower.text_skip
                            else None)
        self.built = True

    @property
    def embedding_dim(self) -> int:
        return self.item_tower.embedding_dim - self.item_tower.output_dim + self.output_dim

    def encode_history(self, inputs, training=None):
        items = ops.cast(inputs["history_items"], "int32")
        mask = ops.cast(items > 0, "float32")
        x = (self.item_tower(items, training=training, live_text=False)
             + self.event_embedding(inputs["history_events"]) + self.recency_embedding(inputs["history_recency"]))
        x = x * ops.expand_dims(mask, -1)
        if self.transformer is not None:
            x = self.transformer(x, padding_mask=ops.cast(mask, "bool"), training=training)
        if self.attention_score is not None:
            scores = ops.squeeze(self.attention_score(x), -1) + (1.0 - mask) * -1e9
            weights = ops.softmax(scores, axis=-1) * mask  # all-padding rows -> zero weights
        else:
            weights = mask / ops.maximum(ops.sum(mask, axis=-1, keepdims=True), 1.0)
        pooled = ops.sum(x * ops.expand_dims(weights, -1), axis=1)
        last = x[:, -1, :]  # histories are right-aligned: the most recent interaction
        return pooled, last, weights

    def call(self, inputs, training=None):
        pooled, last, weights = self.encode_history(inputs, training=training)
        user = self.user_embedding(ops.cast(inputs["user_bin"], "int32"))
        if training and self.user_id_dropout > 0:
            user = drop_rows(user, self.user_id_dropout, self.seed_generator)
        context = ops.concatenate([self.hour_embedding(inputs["hour"]), self.weekday_embedding(inputs["weekday"]),
                                   self.device_embedding(inputs["device"])], axis=-1)
        features = ops.concatenate([pooled, last, user, context], axis=-1)
        learned = ops.cast(self.mlp(features, training=training), "float32")
        if self.skip_weight is None:
            return l2_normalize(learned)
        # the text side of a user: attention-weighted text vectors of the history items
        history_text = ops.take(self.item_tower.catalog_text, ops.cast(inputs["history_items"], "int32"), axis=0)
        text = ops.sum(history_text * ops.expand_dims(weights, -1), axis=1)
        return with_text_skip(learned, text, self.skip_weight)

    def get_config(self):
        config = super().get_config()
        config.update({
            "item_tower": keras.saving.serialize_keras_object(self.item_tower),
            "num_user_bins": self.num_user_bins, "num_devices": self.num_devices, "output_dim": self.output_dim,
            "history_encoder": self.history_encoder, "num_heads": self.num_heads, "user_id_dim": self.user_id_dim,
            "hidden_dims": self.hidden_dims, "dropout": self.dropout, "user_id_dropout": self.user_id_dropout,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["item_tower"] = keras.saving.deserialize_keras_object(config["item_tower"])
        return cls(**config)
