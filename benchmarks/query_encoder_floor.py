"""The floor under the search latency: the dense matmuls of a 6-layer, 384-wide BERT (all-MiniLM-L6-v2's
shapes: per layer Q, K, V, output 384x384 and the 384x1536 / 1536x384 feed-forward pair; 42 MB of float32
weights) on M query tokens, with nothing else (no tokenizer, attention softmax, layer norms, signature).

    .venv/bin/python benchmarks/query_encoder_floor.py [--threads 1] [--seconds 3]

If this alone is ~8 ms for a 9-token query, no graph-level trick gets the full `search` signature far
below it on this CPU; what would is fewer or smaller weights (a distilled query encoder).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1, help="TF intra-op threads")
    parser.add_argument("--seconds", type=float, default=3.0, help="per token count")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=384)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    h = args.hidden
    shapes = [(h, h)] * 4 + [(h, 4 * h), (4 * h, h)]
    weights = [[tf.Variable(tf.random.normal(s, stddev=0.02)) for s in shapes] for _ in range(args.layers)]
    megabytes = sum(int(np.prod(s)) for s in shapes) * args.layers * 4 / 1e6

    @tf.function
    def forward(x):
        for q, k, v, o, up, down in weights:
            x = x + (x @ q + x @ k + x @ v) @ o
            x = x + tf.nn.gelu(x @ up) @ down
        return x

    print(f"{args.layers} layers x hidden {h}: {megabytes:.1f} MB of float32 weights, {args.threads} thread(s)")
    for tokens in (1, 9, 32):
        x = tf.random.normal([tokens, h])
        forward(x)
        times, stop = [], time.perf_counter() + args.seconds
        while time.perf_counter() < stop:
            start = time.perf_counter()
            forward(x)
            times.append((time.perf_counter() - start) * 1000)
        print(f"tokens={tokens:<3d} p50_ms={np.percentile(times, 50):6.2f} p99_ms={np.percentile(times, 99):6.2f}")


if __name__ == "__main__":
    main()
