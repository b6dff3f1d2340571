"""Pick the tf.distribute strategy: TPU if a resolver answers, MultiWorkerMirrored when TF_CONFIG
names several workers, Mirrored for > 1 GPU (or > 1 logical CPU device when asked), else default.

One custom training loop serves every strategy (`keras.Model.fit` fails under
MultiWorkerMirroredStrategy in Keras 3, keras-team/keras#20585)."""
from __future__ import annotations

import json
import os

from recsys_tf.constants import STRATEGIES
from recsys_tf.errors import InputError


def _tf_config_workers() -> int:
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as err:
        raise InputError(f"TF_CONFIG is not valid JSON ({err}). Fix: docs/training.md (TF_CONFIG).") from err
    return len(config.get("cluster", {}).get("worker", []))


def choose_strategy(name: str = "auto"):
    import tensorflow as tf

    if name not in STRATEGIES:
        raise InputError(f"`strategy` must be one of {STRATEGIES}. Received: strategy={name!r}.")
    if name == "tpu" or (name == "auto" and os.environ.get("TPU_NAME")):
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if name == "multi_worker" or (name == "auto" and _tf_config_workers() > 1):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def set_mixed_precision(enabled: bool, strategy=None) -> str:
    import keras

    if not enabled:
        keras.mixed_precision.set_global_policy("float32")
        return "float32"
    import tensorflow as tf

    policy = "mixed_bfloat16" if isinstance(strategy, tf.distribute.TPUStrategy) else "mixed_float16"
    keras.mixed_precision.set_global_policy(policy)
    return policy
