"""`LocalClient`: the same API on a SavedModel loaded in this process (notebooks, demo, tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys_tf.serving.client import RecsysClient, ServingError, read_limits


class LocalClient(RecsysClient):
    """Its limits are the export's own (`read_limits`)."""

    def __init__(self, saved_model_dir: str, model: str = "local"):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

        path = Path(saved_model_dir)
        if not (path / "saved_model.pb").exists():
            raise ServingError(f"{path} is not a SavedModel version directory. Fix: pass ROOT/NAME/VERSION.")
        super().__init__(f"file://{saved_model_dir}", model, read_limits(path))
        if "Scann" in (path / "saved_model.pb").read_bytes().decode("latin-1"):
            from scann import scann_ops  # noqa: F401
        self._tf = tf
        self._model = tf.saved_model.load(str(path))

    def _predict(self, signature, inputs):
        if signature not in self._model.signatures:
            raise ServingError(f"{self.endpoint}: model or signature not found: no signature {signature!r}; it has "
                               f"{sorted(self._model.signatures)}.")
        function = self._model.signatures[signature]
        expected = function.structured_input_signature[1]
        missing, extra = sorted(set(expected) - set(inputs)), sorted(set(inputs) - set(expected))
        if missing or extra:
            raise self._bad_input(signature, f"missing inputs {missing}, unexpected inputs {extra}")
        tensors = {key: self._tensor(signature, key, np.asarray(inputs[key]), spec) for key, spec in expected.items()}
        try:
            outputs = function(**tensors)
        except self._tf.errors.InvalidArgumentError as err:
            raise self._bad_input(signature, err.message) from None
        return {k: v.numpy() for k, v in outputs.items()}

    def _bad_input(self, signature: str, why: str) -> ServingError:
        return ServingError(f"{self.endpoint} signature {signature!r}: bad input: {why}")

    def _tensor(self, signature: str, key: str, value: np.ndarray, spec):
        """An input checked as TF Serving checks it, so code tested on a LocalClient does not fail on the
        server: strings only for string inputs (UTF-8), no numbers from strings, no fractions for
        integer inputs, a shape the signature accepts."""
        tf = self._tf
        if spec.dtype == tf.string:
            if value.size and not all(isinstance(v, (str, bytes)) for v in value.ravel()):
                raise self._bad_input(signature, f"input {key!r} expects strings; got {value.dtype} values")
            value = value.astype(object) if value.size else value.astype(str)
        elif value.dtype.kind in "OUS" or (value.dtype.kind == "b") != (spec.dtype == tf.bool):
            raise self._bad_input(signature, f"input {key!r} expects {spec.dtype.name}; got {value.dtype} values")
        elif spec.dtype.is_integer and value.dtype.kind == "f" and not np.all(np.mod(value, 1) == 0):
            raise self._bad_input(signature, f"input {key!r} expects {spec.dtype.name}; got non-integer numbers")
        elif spec.dtype.is_integer and value.size and not (spec.dtype.min <= value.min() and value.max() <= spec.dtype.max):
            raise self._bad_input(signature, f"input {key!r} expects {spec.dtype.name}; got {value.min()}..{value.max()}, "
                                             f"outside [{spec.dtype.min}, {spec.dtype.max}]")
        if not spec.shape.is_compatible_with(value.shape):
            raise self._bad_input(signature, f"input {key!r} has shape {value.shape}, the signature takes {spec.shape}")
        return tf.constant(value, dtype=spec.dtype)
