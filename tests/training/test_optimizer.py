"""The Adam subclass updates repeated embedding rows like a dense gradient would."""
from __future__ import annotations

import numpy as np
import pytest
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


def test_big_tables_update_lazily_only_the_batch_rows_against_numpy():
    """`lazy_rows`: a table of at least that many rows updates only the rows with a gradient (moments
    included); smaller tables in the same step keep the exact dense update."""
    start = np.arange(12, dtype="float32").reshape(6, 2) / 10
    steps = [([[1.0, -2.0], [0.5, 0.25], [3.0, 1.0]], [1, 3, 1]), ([[2.0, 1.0]], [4]), ([[-1.0, 0.5]], [1])]
    big, small = tf.Variable(start), tf.Variable(start[:4])
    optimizer = Adam(0.01, lazy_rows=5)
    assert optimizer.is_lazy(big) and not optimizer.is_lazy(small)
    for values, indices in steps:
        pairs = [(big, 6)] + ([(small, 4)] if max(indices) < 4 else [])  # row 4 exists in the big table only
        optimizer.apply_gradients([(tf.IndexedSlices(tf.constant(values), tf.constant(indices), tf.constant([rows, 2])),
                                    variable) for variable, rows in pairs])
    weights, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t, (values, indices) in enumerate(steps, start=1):  # lazy Adam in NumPy: touched rows only
        dense = np.zeros_like(start)
        np.add.at(dense, indices, np.array(values, "float32"))
        rows = sorted(set(indices))
        m[rows] = 0.9 * m[rows] + 0.1 * dense[rows]
        v[rows] = 0.999 * v[rows] + 0.001 * dense[rows] ** 2
        alpha = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        weights[rows] -= alpha * m[rows] / (np.sqrt(v[rows]) + 1e-7)
    np.testing.assert_allclose(big.numpy(), weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(big.numpy()[[0, 2, 5]], start[[0, 2, 5]])  # never in a batch: untouched
    # row 3 had a gradient only at step 1: lazily it stays put after; the dense update keeps moving it
    assert not np.allclose(small.numpy()[3], weights[3], atol=1e-6)
    dense_weights, m, v = start[:4].copy(), np.zeros((4, 2), "float32"), np.zeros((4, 2), "float32")
    for t, (values, indices) in enumerate(steps, start=1):  # exact Adam on the small table, at steps 1 and 3
        if max(indices) < 4:
            dense = np.zeros_like(dense_weights)
            np.add.at(dense, indices, np.array(values, "float32"))
            m, v = 0.9 * m + 0.1 * dense, 0.999 * v + 0.001 * dense ** 2
            dense_weights -= 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(small.numpy(), dense_weights, rtol=1e-5, atol=1e-6)  # below lazy_rows: exact


def test_lazy_rows_round_trips_in_the_config_and_is_checked():
    optimizer = Adam(0.01, lazy_rows=1024)
    assert Adam.from_config(optimizer.get_config()).lazy_rows == 1024
    with pytest.raises(ValueError, match="lazy_rows"):
        Adam(0.01, lazy_rows=-1)
