"""`run_layer_test`: the checks every public layer gets (in the spirit of keras-hub's
`TestCase.run_layer_test`): config round trip, the same outputs after a Keras save and reload in a
fresh Model, and, where one exists, a NumPy reference."""
from __future__ import annotations

import keras
import numpy as np


def run_layer_test(layer, inputs, keras_inputs, tmp_path, expected=None, call=None, atol=1e-5):
    """`inputs`: concrete call inputs; `keras_inputs`: the matching `keras.Input` structure; `call`:
    how to call the layer (default `layer(x)`; e.g. `lambda layer, x: layer(*x)`); `expected`: the
    NumPy reference of the output. Returns the layer's output."""
    call = call or (lambda layer, x: layer(x))
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config, "get_config/from_config is not a round trip"
    output = keras.ops.convert_to_numpy(call(layer, inputs))
    assert np.isfinite(output).all()
    if expected is not None:
        np.testing.assert_allclose(output, expected, atol=atol, rtol=1e-5)
    model = keras.Model(keras_inputs, call(layer, keras_inputs))
    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    again = loaded(list(inputs) if isinstance(inputs, tuple) else inputs)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again), output, atol=atol)
    return output
