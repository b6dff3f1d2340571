"""`LocalClient`: the same API on a SavedModel loaded in this process (notebooks, demo, tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys_tf.serving.client import RecsysClient, ServingError


class LocalClient(RecsysClient):
    def __init__(self, saved_model_dir: str, model: str = "local"):
        super().__init__(f"file://{saved_model_dir}", model)
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

        path = Path(saved_model_dir)
        if not (path / "saved_model.pb").exists():
            raise ServingError(f"{path} is not a SavedModel version directory. Fix: pass ROOT/NAME/VERSION.")
        if "Scann" in (path / "saved_model.pb").read_bytes().decode("latin-1"):
            from scann import scann_ops  # noqa: F401
        self._tf = tf
        self._model = tf.saved_model.load(str(path))

    def _predict(self, signature, inputs):
        if signature not in self._model.signatures:
            raise ServingError(f"{self.endpoint}: no signature {signature!r}; it has {sorted(self._model.signatures)}.")
        tensors = {k: self._tf.constant(v.astype(str) if np.asarray(v).dtype == object else v) for k, v in inputs.items()}
        return {k: v.numpy() for k, v in self._model.signatures[signature](**tensors).items()}
