"""`assets.extra/tf_serving_warmup_requests`: one PredictionLog per signature (TF Serving's format:
a TFRecord file of `tensorflow.serving.PredictionLog` protos), so the first real request is fast."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def sample_inputs(vocab, signatures) -> dict[str, dict[str, np.ndarray]]:
    items = list(vocab.items[:3])
    history = np.array([items[:2] + [""]], dtype=object)
    samples = {
        "recommend": {"user_id": np.array(["warmup-user"], object), "history_item_ids": history,
                      "exclude_item_ids": np.array([[""]], object), "k": np.array([10], np.int32)},
        "search": {"query": np.array(["wireless earbuds"], object), "k": np.array([10], np.int32)},
        "search_personalized": {"query": np.array(["wireless earbuds"], object), "user_id": np.array(["warmup-user"], object),
                                "history_item_ids": history, "k": np.array([10], np.int32)},
        "similar_items": {"item_id": np.array(items[:1], object), "k": np.array([10], np.int32)},
        "similar_to_text": {"item_text": np.array(["Acme wireless earbuds, black"], object), "k": np.array([10], np.int32)},
        "score": {"user_id": np.array(["warmup-user"], object), "history_item_ids": history,
                  "candidate_item_ids": np.array([items], object)},
        "embed_query": {"query": np.array(["wireless earbuds"], object)},
        "embed_items": {"item_id": np.array(items[:2], object)},
    }
    diverse = {"mmr_lambda": np.array([0.7], np.float32), "max_per_category": np.array([2], np.int32)}
    samples["recommend_diverse"] = {**samples["recommend"], **diverse}
    samples["search_diverse"] = {**samples["search"], **diverse}
    samples["recommend_in_context"] = {
        **samples["recommend"], "hour": np.array([20], np.int32), "weekday": np.array([-1], np.int32),
        "device": np.array([(list(vocab.devices) or [""])[0]], object),
        "mmr_lambda": np.array([1.0], np.float32), "max_per_category": np.array([0], np.int32),
        "include_history": np.array([True])}
    samples["serving_default"] = samples["recommend"]
    return {name: samples[name] for name in signatures if name in samples}


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
