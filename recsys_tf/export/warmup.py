"""`assets.extra/tf_serving_warmup_requests`: one PredictionLog per signature (TF Serving's format:
a TFRecord file of `tensorflow.serving.PredictionLog` protos), so the first real request is fast."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def sample_inputs(vocab, signatures) -> dict[str, dict[str, np.ndarray]]:
    """One small request per exported signature, built from `signatures.INPUTS`."""
    from recsys_tf.export.signatures import DEFAULT_SIGNATURE, SIGNATURES, warmup_inputs

    names = [DEFAULT_SIGNATURE if name == "serving_default" else name for name in signatures]
    return {name: warmup_inputs(source, list(vocab.items)) for name, source in zip(signatures, names, strict=True)
            if source in SIGNATURES}


def write_warmup(version_dir: Path, model_name: str, samples: dict) -> Path:
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    out = version_dir / "assets.extra" / "tf_serving_warmup_requests"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(out)) as writer:
        for signature, inputs in samples.items():
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=model_name,
                                                                               signature_name=signature))
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return out
