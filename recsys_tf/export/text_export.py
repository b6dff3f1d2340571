"""SavedModel with a `TextEncoder` alone: raw strings in, vectors out (for bring-your-own-index users)."""
from __future__ import annotations

import os

import tensorflow as tf

from recsys_tf.export.archive import new_export_archive

SAVE_OPTIONS_NAMESPACES = ["TFText"]


def _embed_fn(encoder):
    # A factory closure, not a default argument: defaults are traced as inputs (NotEncodableError).
    def embed(text):
        return {"embedding": encoder(text, training=False)}

    return embed


def export_text_encoder(encoder, path: str | os.PathLike) -> str:
    """Write a SavedModel whose `serving_default` maps `text` (tf.string, (batch,)) to
    `embedding` (float32, (batch, encoder.output_dim)). Loads with tensorflow + tensorflow_text."""
    archive = new_export_archive()
    archive.track(encoder)
    archive.add_endpoint("serving_default", _embed_fn(encoder),
                         input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    archive.write_out(str(path), options=tf.saved_model.SaveOptions(namespace_whitelist=SAVE_OPTIONS_NAMESPACES),
                      verbose=False)
    return str(path)
