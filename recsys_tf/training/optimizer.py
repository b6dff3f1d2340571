"""Adam with sparse gradients summed per row before the update.

Why our own subclass: Keras 3's Adam applies its ops to a `tf.IndexedSlices` gradient slice by
slice, so `v` accumulates the sum of the squared *slices* of a row instead of the square of the
row's gradient when the row occurs several times (measured: 2 replicas differed from one device
by 1e-2 in the loss after one step). Rows repeat whenever an embedding is looked up more than once per step (an
item in several histories and as a target), and under tf.distribute the replicas' slices are
concatenated, so N replicas would also train differently from one device. Summing duplicates
first gives the dense-gradient Adam update on exactly the rows that have a gradient.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def sum_duplicate_rows(gradient):
    """An IndexedSlices gradient with one slice per row (duplicates summed); others unchanged."""
    if not isinstance(gradient, tf.IndexedSlices):
        return gradient
    rows, position = tf.unique(gradient.indices)
    values = tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(rows)[0])
    return tf.IndexedSlices(values, rows, gradient.dense_shape)


@keras.saving.register_keras_serializable(package="recsys_tf")
class Adam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose sparse gradients have one slice per row (module docstring)."""

    def update_step(self, gradient, variable, learning_rate):
        super().update_step(sum_duplicate_rows(gradient), variable, learning_rate)
