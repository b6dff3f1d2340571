"""The Adam subclass updates repeated embedding rows like a dense gradient would."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from recsys_tf.training.optimizer import Adam, sum_duplicate_rows


def _numpy_adam(weights, gradient, lr, steps, beta1=0.9, beta2=0.999, eps=1e-7):
    m, v = np.zeros_like(weights), np.zeros_like(weights)
    for t in range(1, steps + 1):
        m = beta1 * m + (1 - beta1) * gradient
        v = beta2 * v + (1 - beta2) * gradient ** 2
        alpha = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        weights = weights - alpha * m / (np.sqrt(v) + eps)
    return weights


def test_sum_duplicate_rows_merges_repeated_indices():
    slices = tf.IndexedSlices(tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), tf.constant([2, 0, 2]),
                              tf.constant([4, 2]))
    merged = sum_duplicate_rows(slices)
    np.testing.assert_allclose(tf.convert_to_tensor(merged).numpy(), [[3, 4], [0, 0], [6, 8], [0, 0]])
    assert sorted(merged.indices.numpy().tolist()) == [0, 2]
    dense = tf.ones([2, 2])
    assert sum_duplicate_rows(dense) is dense


def test_repeated_rows_update_like_the_dense_gradient_against_numpy():
    start = np.arange(8, dtype="float32").reshape(4, 2) / 10
    values = np.array([[1.0, -2.0], [0.5, 0.25], [3.0, 1.0]], "float32")
    indices = [1, 3, 1]  # row 1 twice, as an item in two histories of one batch
    dense = np.zeros_like(start)
    np.add.at(dense, indices, values)
    variable = tf.Variable(start)
    optimizer = Adam(0.01)
    for _ in range(3):
        optimizer.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant(indices), tf.constant([4, 2])),
                                    variable)])
    expected = _numpy_adam(start, dense, 0.01, 3)
    np.testing.assert_allclose(variable.numpy()[[1, 3]], expected[[1, 3]], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(variable.numpy()[[0, 2]], start[[0, 2]])  # rows without a gradient stay put
    plain = tf.Variable(start)
    import keras
    keras_adam = keras.optimizers.Adam(0.01)
    for _ in range(3):
        keras_adam.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant(indices), tf.constant([4, 2])),
                                     plain)])
    assert not np.allclose(plain.numpy()[1], expected[1], atol=1e-6)  # what the subclass is for
