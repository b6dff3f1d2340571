"""`TextEncoder`: raw text -> BERT (keras-hub) -> pooled, optionally projected, L2-normalised vector."""
from __future__ import annotations

import keras
import keras_hub
import tensorflow as tf
from keras import ops

from recsys_tf.constants import POOLINGS, TEXT_MODES
from recsys_tf.errors import InputError

TRAINING_MODES = TEXT_MODES


def is_bert(backbone) -> bool:
    """A `BertBackbone` (WordPiece; inputs with segment ids), else an `XLMRobertaBackbone` (SentencePiece)."""
    return isinstance(backbone, keras_hub.models.BertBackbone)


def unknown_token_id(tokenizer) -> int:
    """The id the tokenizer gives to text its vocabulary cannot read ([UNK] or <unk>)."""
    unk = getattr(tokenizer, "unk_token_id", None)
    return int(unk) if unk is not None else int(tokenizer.token_to_id("[UNK]"))


@keras.saving.register_keras_serializable(package="recsys_tf")
class TextEncoder(keras.layers.Layer):
    """Encode text with a keras-hub `BertBackbone` (WordPiece) or `XLMRobertaBackbone` (SentencePiece).

    Call it on raw strings (a `tf.string` tensor of shape `(batch,)`, e.g. inside an export
    signature) or on the dict made by `preprocess` (`token_ids`, `padding_mask`, both int32
    `(batch, sequence_length)`, e.g. from a tf.data pipeline). Returns `(batch, output_dim)` float32.

    Text handling: text is cleaned, lowercased and accent-stripped exactly like the checkpoint's
    reference tokenizer (`BertReferenceTokenizer`; an XLM-RoBERTa checkpoint's SentencePiece model
    normalises by itself), truncated to `sequence_length` tokens including [CLS] and [SEP] (<s> and
    </s>). An empty or whitespace-only string encodes as "[CLS] [SEP]": a finite vector that means
    "no text" (the same for every empty input); a 100k-character string is truncated.

    Args:
        backbone: a `keras_hub.models.BertBackbone` or `keras_hub.models.XLMRobertaBackbone`.
        tokenizer: a `BertReferenceTokenizer` (or any keras-hub BERT tokenizer), or a
            `keras_hub.models.XLMRobertaTokenizer` for an XLM-RoBERTa backbone.
        sequence_length: tokens per text after packing (64 for titles, 32 for queries).
        pooling: "mean" over the padding mask, or "cls".
        projection_dim: if set, a Dense projection to this size after pooling.
        normalize: L2-normalise the output.
        training_mode: "frozen", "last_n_layers", "full" or "lora".
        trainable_layers: number of top transformer layers trained in "last_n_layers" mode.
        lora_rank: LoRA rank in "lora" mode.
        preset: the preset name it came from (recorded, used in cache fingerprints).
    """

    def __init__(self, backbone, tokenizer, sequence_length: int = 64, pooling: str = "mean",
                 projection_dim: int | None = None, normalize: bool = True, training_mode: str = "frozen",
                 trainable_layers: int = 1, lora_rank: int = 4, preset: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if pooling not in POOLINGS:
            raise InputError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}.")
        if training_mode not in TRAINING_MODES:
            raise InputError(f"`training_mode` must be one of {TRAINING_MODES}. "
                             f"Received: training_mode={training_mode!r}.")
        max_length = backbone.get_config().get("max_sequence_length", 512)
        if not 2 < int(sequence_length) <= max_length:
            raise InputError(f"`sequence_length` must be in (2, {max_length}] for this backbone. "
                             f"Received: sequence_length={sequence_length}.")
        n_layers = backbone.get_config()["num_layers"]
        if training_mode == "last_n_layers" and not 1 <= trainable_layers <= n_layers:
            raise InputError(f"`trainable_layers` must be in [1, {n_layers}]. Received: {trainable_layers}.")
        # === Config ===
        self.sequence_length = int(sequence_length)
        self.pooling = pooling
        self.projection_dim = projection_dim
        self.normalize = normalize
        self.training_mode = training_mode
        self.trainable_layers = int(trainable_layers)
        self.lora_rank = int(lora_rank)
        self.preset = preset
        # === Layers ===
        self.backbone = backbone
        self.tokenizer = tokenizer
        self._packer = None  # made on first use: a reloaded tokenizer learns its ids from assets later
        self.projection = (keras.layers.Dense(projection_dim, name="projection")
                           if projection_dim else None)
        self._apply_training_mode()
        self._make_sublayers()
        # Built eagerly: Keras would otherwise build on symbolic float inputs, which the string
        # tokenizer rejects.
        self.build()

    def build(self, input_shape=None):
        if self.projection is not None and not self.projection.built:
            self.projection.build((None, self.backbone.get_config()["hidden_dim"]))
        self.built = True

    def _make_sublayers(self) -> None:
        """Hook for subclasses that own more layers (created before the layer is built and locked)."""

    # --- training modes -------------------------------------------------------------------------
    def _apply_training_mode(self) -> None:
        backbone = self.backbone
        if self.training_mode == "frozen":
            backbone.trainable = False
        elif self.training_mode == "full":
            backbone.trainable = True
        elif self.training_mode == "lora":
            # a second encoder sharing the backbone (the query encoder) must not wrap it again
            if not getattr(backbone, "_lora_enabled_layers", None):
                backbone.enable_lora(self.lora_rank)
        else:  # last_n_layers: only the top N transformer blocks train
            backbone.trainable = True
            n_layers = backbone.get_config()["num_layers"]
            first_trainable = n_layers - self.trainable_layers
            for layer in backbone.layers:
                if layer.name.startswith("transformer_layer_"):
                    layer.trainable = int(layer.name.rsplit("_", 1)[1]) >= first_trainable
                elif layer.weights:
                    layer.trainable = False  # embeddings, layer norm and the unused pooler
                else:
                    layer.trainable = False

    @property
    def output_dim(self) -> int:
        return self.projection_dim or self.backbone.get_config()["hidden_dim"]

    def _get_packer(self):
        # A method, not a property: Keras' saving walks properties while loading, before the
        # tokenizer's vocabulary (and so its special token ids) is restored from assets.
        if self._packer is None:
            # [CLS] ... [SEP] (BERT) or <s> ... </s> (XLM-RoBERTa): keras-hub names both start / end
            packer = keras_hub.layers.MultiSegmentPacker(
                start_value=self.tokenizer.start_token_id, end_value=self.tokenizer.end_token_id,
                pad_value=self.tokenizer.pad_token_id, sequence_length=self.sequence_length)
            object.__setattr__(self, "_packer", packer)  # stateless; kept out of layer tracking
        return self._packer

    # --- preprocessing --------------------------------------------------------------------------
    def preprocess(self, text) -> dict:
        """Raw strings `(batch,)` -> {"token_ids", "padding_mask"} int32 `(batch, sequence_length)`.
        Runs in tf.data pipelines and in graphs (tokenizer ops are TF / TF Text)."""
        text = tf.convert_to_tensor(text, dtype=tf.string)
        # invalid UTF-8 (from a client or a file) becomes U+FFFD, which the tokenizer then deletes
        # like the reference does, instead of failing the whole batch
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        token_ids, _ = self._get_packer()(self.tokenizer(text))
        token_ids = tf.cast(token_ids, tf.int32)
        # Masks are int32, not bool: a bool tensor in a distributed dataset fails under
        # MirroredStrategy (the replicas' values are summed with AddN, which has no bool kernel).
        padding_mask = tf.cast(token_ids != self.tokenizer.pad_token_id, tf.int32)
        return {"token_ids": token_ids, "padding_mask": padding_mask}

    @staticmethod
    def _trim_padding(inputs: dict) -> dict:
        """Cut the packed batch to its longest real sequence. Exact (attention and mean pooling are
        masked; positions are absolute), and it is what makes short queries fast: MiniLM on 2 CPU
        cores takes ~20 ms for 32 positions and ~10 ms for 8 (benchmarks/serving_latency.py).
        Only raw strings are trimmed; tf.data inputs keep their fixed shape (XLA/TPU friendly)."""
        length = tf.maximum(tf.reduce_max(tf.reduce_sum(inputs["padding_mask"], axis=1)), 2)
        return {key: value[:, :length] for key, value in inputs.items()}

    # --- forward --------------------------------------------------------------------------------
    def sequence_output(self, token_ids, mask, training=None):
        """(batch, length) token ids + bool mask -> (batch, length, hidden) contextual vectors."""
        if is_bert(self.backbone):
            return self.backbone({"token_ids": token_ids, "segment_ids": ops.zeros_like(token_ids),
                                  "padding_mask": mask}, training=training)["sequence_output"]
        return self.backbone({"token_ids": token_ids, "padding_mask": mask}, training=training)

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict):
            inputs = self._trim_padding(self.preprocess(inputs))
        token_ids = inputs["token_ids"]
        mask = ops.cast(inputs["padding_mask"], "bool")
        hidden = ops.cast(self.sequence_output(token_ids, mask, training=training), "float32")
        if self.pooling == "cls":
            pooled = hidden[:, 0, :]
        else:
            weights = ops.cast(ops.expand_dims(mask, -1), hidden.dtype)
            pooled = ops.sum(hidden * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
        if self.projection is not None:
            pooled = ops.cast(self.projection(pooled), "float32")
        if self.normalize:
            pooled = pooled / ops.maximum(ops.norm(pooled, axis=-1, keepdims=True), 1e-12)
        return pooled

    def compute_output_shape(self, input_shape):
        batch = input_shape["token_ids"][0] if isinstance(input_shape, dict) else input_shape[0]
        return (batch, self.output_dim)

    # --- config ---------------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update({
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "sequence_length": self.sequence_length, "pooling": self.pooling,
            "projection_dim": self.projection_dim, "normalize": self.normalize,
            "training_mode": self.training_mode, "trainable_layers": self.trainable_layers,
            "lora_rank": self.lora_rank, "preset": self.preset,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)

    @classmethod
    def from_preset(cls, preset: str = "minilm-l6", sequence_length: int = 64, seed: int = 0, **kwargs):
        """Build from a recsys_tf preset name, a keras-hub preset name or a local directory
        (see `recsys_tf.text.presets`)."""
        from recsys_tf.text.presets import load_text_preset

        backbone, tokenizer, info = load_text_preset(preset, seed=seed)
        return cls(backbone, tokenizer, sequence_length=sequence_length, preset=info["preset"], **kwargs)
