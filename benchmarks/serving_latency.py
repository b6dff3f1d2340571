"""Latency of every exported signature, in process (the SavedModel TF Serving would load, without the
network): p50/p99 at batch 1 and examples/s at batch 64.

    .venv/bin/python benchmarks/serving_latency.py --export runs/demo/exports/recsys/1 [--seconds 5]

Inputs are the export's warm-up samples (real item ids from its catalog), repeated to the batch size.
Network cost on loopback is measured separately by benchmarks/client_load.py.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--export", default="runs/demo/exports/recsys/1")
    parser.add_argument("--seconds", type=float, default=5.0, help="per signature and batch size")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)
    from tensorflow_serving.apis import prediction_log_pb2

    if b"Scann" in open(os.path.join(args.export, "saved_model.pb"), "rb").read():
        from scann import scann_ops  # noqa: F401
    model = tf.saved_model.load(args.export)
    samples = {}
    warmup = os.path.join(args.export, "assets.extra", "tf_serving_warmup_requests")
    for record in tf.data.TFRecordDataset(warmup):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        samples[request.model_spec.signature_name] = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    print(f"export={args.export}")
    for name, inputs in sorted(samples.items()):
        if name == "serving_default":
            continue
        fn = model.signatures[name]
        for batch in (1, 64):
            feed = {k: tf.constant(np.repeat(v[:1], batch, axis=0)) for k, v in inputs.items()}
            fn(**feed)  # warm-up
            times = []
            stop = time.perf_counter() + args.seconds
            while time.perf_counter() < stop or len(times) < 5:
                start = time.perf_counter()
                fn(**feed)
                times.append(time.perf_counter() - start)
            times = np.array(times) * 1000
            print(f"{name:20s} batch={batch:<3d} p50_ms={np.percentile(times, 50):7.2f} "
                  f"p99_ms={np.percentile(times, 99):7.2f} examples_per_s={batch * 1000 / times.mean():8.0f}")


if __name__ == "__main__":
    main()
