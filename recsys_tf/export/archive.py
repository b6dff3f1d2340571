"""`new_export_archive()`: a keras.export.ExportArchive that stores each variable once.

Why: Keras 3's TF-backend archive tracks a layer's *Keras* variables in its `variables` /
`trainable_variables` lists, while the endpoint functions capture the *underlying* `tf.Variable`s,
which the archive saves again as `_all_variables`. Both objects serialise the same value, so every
weight was written twice (all-MiniLM-L6-v2: 178 MB of variables for 91 MB of weights). Tracking the
underlying `tf.Variable`s instead makes both lists hold the same objects; the checkpoint
de-duplicates by object, and `.variables` still works after reloading.

`keras.export.ExportArchive(...)` returns a backend-specific instance from `__new__`, so a
subclass would never be used: the fix is bound on the instance instead.
"""
from __future__ import annotations

import types

import keras
import tensorflow as tf


def _tf_variable(variable):
    """The tf.Variable behind a Keras 3 variable (itself if it already is one)."""
    if isinstance(variable, tf.Variable):
        return variable
    value = getattr(variable, "_value", None)
    return value if isinstance(value, tf.Variable) else variable


def _track_layer_once(self, layer):
    self._tf_trackable.variables += [_tf_variable(v) for v in layer.variables]
    self._tf_trackable.trainable_variables += [_tf_variable(v) for v in layer.trainable_variables]
    self._tf_trackable.non_trainable_variables += [_tf_variable(v) for v in layer.non_trainable_variables]


def new_export_archive():
    """A `keras.export.ExportArchive` whose SavedModel holds each weight once."""
    archive = keras.export.ExportArchive()
    archive._backend_track_layer = types.MethodType(_track_layer_once, archive)
    return archive
