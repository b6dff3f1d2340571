"""`ItemTower`: item text + hashed id + category/brand + price -> d-dim normalised embedding."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from recsys_tf.errors import InputError
from recsys_tf.features.vocabulary import PRICE_BUCKET_EDGES
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
class ItemTower(keras.layers.Layer):
    """Embed catalog items by index, or new items by their features (cold start).

    The catalog's per-item features live inside the tower as non-trainable tables, so
    `tower(item_index)` works the same in training, evaluation and exported signatures:
    `(batch,)` or `(batch, n)` int32 indices (0 = unknown/padding) -> `(..., embedding_dim)`
    (`output_dim` learned dimensions, plus the item's normalised text vector with `text_skip`).

    Text: `catalog_text_vectors` `(num_items + 1, text_dim)` are the TextEncoder's vectors of
    each item's text (frozen mode: computed once through the embedding cache). With a
    `text_encoder` (trainable text modes) targets are re-encoded live from `catalog_token_ids`.

    Id dropout: during training the id embedding of an item is zeroed with probability
    `id_dropout`, so the tower also learns to embed items from text and attributes alone —
    what it must do for cold-start items (whose id is unknown, index 0).

    Args:
        num_items, num_categories, num_brands: vocabulary sizes (without the OOV row).
        catalog_category, catalog_brand, catalog_price: int arrays `(num_items + 1,)`.
        catalog_text_vectors: float array `(num_items + 1, text_dim)`.
        output_dim: embedding size. id_dim / attribute_dim: sizes of the id and attribute embeddings.
        hidden_dims: MLP hidden sizes. dropout: MLP dropout. id_dropout: see above.
        text_dropout: share of training rows whose projected text is hidden from the MLP (the text
            skip keeps it); `text_dropout_scope="id_dropped"` (default) draws it only among id-dropped
            rows (none without `id_dropout`), `"all"` among all rows.
        text_encoder: optional `TextEncoder` for trainable text modes, with `catalog_token_ids`.
    """

    def __init__(self, num_items: int, num_categories: int, num_brands: int, catalog_category=None,
                 catalog_brand=None, catalog_price=None, catalog_text_vectors=None, text_dim: int = 384,
                 output_dim: int = D.embedding_dim, id_dim: int = D.id_dim, attribute_dim: int = D.attribute_dim,
                 hidden_dims=tuple(D.hidden_dims), dropout: float = D.dropout, id_dropout: float = D.id_dropout,
                 text_encoder=None, catalog_token_ids=None, text_skip: bool = D.text_skip,
                 text_skip_init: float = D.text_skip_init, text_dropout: float = D.text_dropout,
                 text_dropout_scope: str = D.text_dropout_scope, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= id_dropout < 1.0:
            raise InputError(f"`id_dropout` must be in [0, 1). Received: id_dropout={id_dropout}.")
        if not 0.0 <= text_dropout < 1.0:
            raise InputError(f"`text_dropout` must be in [0, 1). Received: text_dropout={text_dropout}.")
        if text_dropout_scope not in ("all", "id_dropped"):
            raise InputError("`text_dropout_scope` must be 'all' or 'id_dropped'. "
                             f"Received: text_dropout_scope={text_dropout_scope!r}.")
        self.text_dropout, self.text_dropout_scope = float(text_dropout), text_dropout_scope
        self.num_items, self.num_categories, self.num_brands = int(num_items), int(num_categories), int(num_brands)
        self.text_dim = int(catalog_text_vectors.shape[1]) if catalog_text_vectors is not None else int(text_dim)
        self.output_dim, self.id_dim, self.attribute_dim = int(output_dim), int(id_dim), int(attribute_dim)
        self.hidden_dims, self.dropout, self.id_dropout = list(hidden_dims), float(dropout), float(id_dropout)
        self.text_encoder = text_encoder
        self.text_skip, self.text_skip_init = bool(text_skip), float(text_skip_init)
        rows = self.num_items + 1
        self._initial = {
            "category": np.zeros(rows, np.int32) if catalog_category is None else np.asarray(catalog_category, np.int32),
            "brand": np.zeros(rows, np.int32) if catalog_brand is None else np.asarray(catalog_brand, np.int32),
            "price": np.zeros(rows, np.int32) if catalog_price is None else np.asarray(catalog_price, np.int32),
            "text": (np.zeros((rows, self.text_dim), np.float32) if catalog_text_vectors is None
                     else np.asarray(catalog_text_vectors, np.float32)),
        }
        if catalog_token_ids is not None:
            self._initial["tokens"] = np.asarray(catalog_token_ids, np.int32)
        self.id_embedding = keras.layers.Embedding(rows, self.id_dim, name="item_id_embedding")
        self.category_embedding = keras.layers.Embedding(self.num_categories + 1, self.attribute_dim, name="category_embedding")
        self.brand_embedding = keras.layers.Embedding(self.num_brands + 1, self.attribute_dim, name="brand_embedding")
        self.price_embedding = keras.layers.Embedding(len(PRICE_BUCKET_EDGES) + 2, self.attribute_dim // 2 or 1,
                                                      name="price_embedding")
        # own seed state, created with the layer: a global one would be created lazily inside
        # `strategy.run`, which MultiWorkerMirroredStrategy rejects ("destinations can not be empty")
        # `seed` None draws it from Python's `random` (seeded by keras.utils.set_random_seed)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.text_projection = keras.layers.Dense(self.output_dim, name="text_projection")
        self.mlp = mlp(self.hidden_dims, self.output_dim, self.dropout, name="item_mlp")
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        rows = self.num_items + 1
        for name in ("category", "brand", "price"):
            setattr(self, f"catalog_{name}", self.add_weight(
                name=f"catalog_{name}", shape=(rows,), dtype="int32", trainable=False,
                initializer=keras.initializers.Constant(self._initial[name])))
        self.catalog_text = self.add_weight(name="catalog_text", shape=(rows, self.text_dim), trainable=False,
                                            initializer=keras.initializers.Constant(self._initial["text"]))
        self.catalog_tokens = None
        if "tokens" in self._initial:
            tokens = self._initial["tokens"]
            self.catalog_tokens = self.add_weight(name="catalog_tokens", shape=tokens.shape, dtype="int32",
                                                  trainable=False, initializer=keras.initializers.Constant(tokens))
        for layer in (self.id_embedding, self.category_embedding, self.brand_embedding, self.price_embedding):
            layer.build((None,))
        self.text_projection.build((None, self.text_dim))
        self.mlp.build((None, self.features_dim))
        self.skip_weight = text_skip_weight(self, self.text_skip_init) if self.text_skip else None
        self.built = True

    @property
    def embedding_dim(self) -> int:
        """Size of the tower's output: `output_dim` (+ `text_dim` with the text skip)."""
        return self.output_dim + (self.text_dim if self.text_skip else 0)

    @property
    def features_dim(self) -> int:
        return self.output_dim + self.id_dim + 2 * self.attribute_dim + (self.attribute_dim // 2 or 1)

    def clear_ids(self, item_indices) -> None:
        """Zero the id embedding of these items: "no id signal", as for unknown (index 0) and added items.
        For catalog items without a training interaction: they never get a gradient, so their rows
        would stay random initial noise (on the demo's cold-start split: norm 0.16 vs 0.26 for trained
        rows), which the MLP would read as an id. Zero rows are what `id_dropout` trains it for."""
        item_indices = np.asarray(item_indices, np.int64).reshape(-1)
        if len(item_indices):
            table = self.id_embedding.embeddings
            values = np.array(table.numpy())
            values[item_indices] = 0.0
            table.assign(values)

    # --- forward --------------------------------------------------------------------------------
    def _text_vectors(self, item_index, live_text: bool, training):
        if live_text and self.text_encoder is not None and self.catalog_tokens is not None:
            flat = ops.reshape(item_index, (-1,))
            tokens = ops.take(self.catalog_tokens, flat, axis=0)
            vectors = self.text_encoder({"token_ids": tokens, "padding_mask": ops.cast(tokens != 0, "int32")},
                                        training=training)
            return ops.reshape(vectors, (*ops.shape(item_index), self.text_dim))
        return ops.take(self.catalog_text, item_index, axis=0)

    def call(self, item_index, training=None, live_text: bool = True):
        item_index = ops.cast(item_index, "int32")
        return self.embed_features(
            text_vector=self._text_vectors(item_index, live_text, training),
            category_index=ops.take(self.catalog_category, item_index, axis=0),
            brand_index=ops.take(self.catalog_brand, item_index, axis=0),
            price_bucket=ops.take(self.catalog_price, item_index, axis=0),
            item_index=item_index, training=training)

    def embed_features(self, text_vector, category_index, brand_index, price_bucket, item_index=None,
                       training=None):
        """Embed items from features; `item_index=None` (or 0) is an item the model never saw."""
        if item_index is None:
            item_index = ops.zeros_like(ops.cast(category_index, "int32"))
        ids = self.id_embedding(item_index)
        # unknown items (index 0) get no id signal: exactly what id dropout trains the MLP for
        ids = ids * ops.expand_dims(ops.cast(item_index > 0, ids.dtype), -1)
        id_keep = None
        if training and self.id_dropout > 0:
            id_keep = row_mask(ids, self.id_dropout, self.seed_generator)
            ids = ids * ops.expand_dims(id_keep, -1)
        text = self.text_projection(text_vector)
        if training and self.text_dropout > 0 and (self.text_dropout_scope == "all" or id_keep is not None):
            text_keep = row_mask(text, self.text_dropout, self.seed_generator)
            if self.text_dropout_scope == "id_dropped":
                # only rows whose id is hidden lose their text: the tower learns an attributes-only
                # embedding next to the text one, while warm (id-carrying) rows train as without text dropout
                text_keep = 1.0 - (1.0 - ops.cast(text_keep, id_keep.dtype)) * (1.0 - id_keep)
            text = text * ops.expand_dims(ops.cast(text_keep, text.dtype), -1)
        features = ops.concatenate([
            text, ids, self.category_embedding(category_index),
            self.brand_embedding(brand_index), self.price_embedding(price_bucket)], axis=-1)
        learned = ops.cast(self.mlp(features, training=training), "float32")
        if self.skip_weight is not None:
            return with_text_skip(learned, ops.cast(text_vector, "float32"), self.skip_weight)
        return l2_normalize(learned)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_items": self.num_items, "num_categories": self.num_categories, "num_brands": self.num_brands,
            "text_dim": self.text_dim, "output_dim": self.output_dim, "id_dim": self.id_dim,
            "attribute_dim": self.attribute_dim, "hidden_dims": self.hidden_dims, "dropout": self.dropout,
            "id_dropout": self.id_dropout, "text_dropout": self.text_dropout,
            "text_dropout_scope": self.text_dropout_scope, "text_skip": self.text_skip, "text_skip_init": self.text_skip_init,
            "seed": self.seed,
            "text_encoder": serialize_optional(self.text_encoder),
            "catalog_token_ids": None if self.catalog_tokens is None else list(self.catalog_tokens.shape),
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = deserialize_optional(config, "text_encoder")
        shape = config.pop("catalog_token_ids", None)
        # catalog tables are weights: from_config makes zero tables, loading weights fills them
        if shape:
            config["catalog_token_ids"] = np.zeros(shape, np.int32)
        return cls(**config)
