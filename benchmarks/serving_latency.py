"""Latency of every exported signature, in process (the SavedModel TF Serving would load, without the
network): p50/p99 at batch 1 and examples/s at batch 64.

    .venv/bin/python benchmarks/serving_latency.py --export runs/demo/exports/recsys/1 [--seconds 5]

Inputs are the export's warm-up samples (real item ids from its catalog), repeated to the batch size.
Network cost on loopback is measured separately by benchmarks/client_load.py.
"""
from __future__ import annotations

import argparse
import itertools
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402  (after the environment above)
import tensorflow as tf  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--export", default="runs/demo/exports/recsys/1")
    parser.add_argument("--seconds", type=float, default=5.0, help="per signature and batch size")
    parser.add_argument("--intra-op-threads", type=int, default=0,
                        help="TF intra-op threads (0 = TF default); TF Serving's "
                             "--tensorflow_intra_op_parallelism")
    parser.add_argument("--signatures", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--catalog-size", type=int, default=100_000,
                        help="also time search against a ScaNN index of this many items (0: skip)")
    args = parser.parse_args()

    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
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
    print(f"export={args.export} intra_op_threads={args.intra_op_threads or 'default'}")
    for name, inputs in sorted(samples.items()):
        if name == "serving_default" or (args.signatures and name not in args.signatures.split(",")):
            continue
        for batch in (1, 64):
            feed = {k: tf.constant(np.repeat(v[:1], batch, axis=0)) for k, v in inputs.items()}
            report(name, batch, time_calls(model.signatures[name], feed, args.seconds))
    if args.catalog_size and "search" in samples and (not args.signatures or "search" in args.signatures):
        search_at_scale(model, samples["search"], args)
    if args.catalog_size and (not args.signatures or "recommend" in args.signatures):
        recommend_at_scale(model, args)


def time_calls(fn, feed, seconds: float) -> np.ndarray:
    """Milliseconds per call of `fn(**feed)` (dict) or `fn(feed)`, after one warm-up call."""
    def call():
        return fn(**feed) if isinstance(feed, dict) else fn(feed)

    call()  # warm-up
    times = []
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop or len(times) < 5:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return np.array(times) * 1000


def report(name: str, batch: int, times: np.ndarray) -> None:
    print(f"{name:20s} batch={batch:<3d} p50_ms={np.percentile(times, 50):7.2f} "
          f"p99_ms={np.percentile(times, 99):7.2f} examples_per_s={batch * 1000 / times.mean():8.0f}")


def search_at_scale(model, sample: dict, args) -> None:
    """The `search` path at catalog size N: the export's own query path (`embed_query`: in-graph
    tokenizer, BERT, query tower) followed by a ScaNN index over N synthetic item vectors of the
    tower dimension, built with the default parameters the exporter would pick for N items; then the
    same with hybrid search as the export runs it (`ServingGraph.search`): BM25 over the texts of N
    synthetic products (`data synth`'s generator: titles + descriptions over a small vocabulary, so
    posting lists are long: a worst case for BM25), its top candidates merged with the dense top and
    fused (`index/lexical.py::fuse`). The demo export's catalog has 2,000 items; this is what the
    latency goal (100k items) is about."""
    from recsys_tf.data.synthetic import ENGLISH, _make_items
    from recsys_tf.features.catalog import item_text
    from recsys_tf.index.build import build_index
    from recsys_tf.index.lexical import FUSION_POOL, LexicalIndex, fuse

    embed = model.signatures["embed_query"]
    query = tf.constant(sample["query"][:1])
    dim = int(embed(query=query)["embedding"].shape[-1])
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(256, dim))
    items = centers[rng.integers(0, 256, args.catalog_size)] + 0.5 * rng.normal(size=(args.catalog_size, dim))
    items = (items / np.linalg.norm(items, axis=1, keepdims=True)).astype(np.float32)
    names = np.array([f"SKU{i}" for i in range(args.catalog_size)], dtype=object)
    index = build_index("scann", items, names, k=FUSION_POOL)
    search = tf.function(lambda q: index(embed(query=q)["embedding"], k=10),
                         input_signature=[tf.TensorSpec([None], tf.string)])
    for batch in (1, 64):
        feed = tf.constant(np.repeat(sample["query"][:1], batch))
        report(f"search@{args.catalog_size // 1000}k", batch, time_calls(search, feed, args.seconds))

    start = time.perf_counter()
    products = _make_items(args.catalog_size, 60, 0.0, np.random.default_rng(0), ENGLISH)[0]
    lexical = LexicalIndex(item_text(products))
    print(f"lexical index over {args.catalog_size} synthetic products: {lexical.describe()} "
          f"(built in {time.perf_counter() - start:.1f} s; dense vectors {items.nbytes} bytes)")
    padded = tf.constant(np.vstack([np.zeros((1, dim), np.float32), items]))  # row 0 = padding, as in the export
    position = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(names.astype(str)), tf.range(1, len(names) + 1)), 0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def hybrid(queries):
        vectors = embed(query=queries)["embedding"]
        _, dense_ids = index(vectors, k=FUSION_POOL)
        fused, candidates = fuse(vectors, padded, position.lookup(dense_ids), lexical.scores(queries), 0.5)
        return tf.math.top_k(fused, k=10)

    queries = [str(q) for q in np.asarray(sample["query"]).astype(str)] + [
        "wireless earbuds", "stainless steel water bottle 750 ml", "usb c charger 65w", "cotton t-shirt black"]
    for batch in (1, 64):
        feed = [tf.constant([queries[i % len(queries)] for i in range(j, j + batch)]) for j in range(len(queries))]
        # a different query per call (cycled), so the BM25 posting lists read vary like real traffic
        rotation = itertools.cycle(feed)
        report(f"hybrid_search@{args.catalog_size // 1000}k", batch,
               time_calls(lambda _, rotation=rotation: hybrid(next(rotation)), None, args.seconds))


def recommend_at_scale(model, args) -> None:
    """Hybrid recommend's retrieval at catalog size N, as `ServingGraph.recommend` runs it after the
    user tower: the vector index's dense top `fetch` (ScaNN over N synthetic vectors of the export's
    dimension, the exporter's default parameters for N items), the co-occurrence scores of a
    20-item history (a table of N items x 100 neighbours, the default), their fusion and the top 10
    (`index/cooccurrence.py::fuse`). The user tower's own cost does not grow with the catalog: it is
    the export's `recommend` above minus its retrieval (`dense_recommend@N` times the dense part alone)."""
    from recsys_tf.index.build import build_index
    from recsys_tf.index.cooccurrence import (
        RECOMMEND_POOL,
        CooccurrenceIndex,
        CooccurrenceTable,
        fuse,
    )

    n, neighbours = args.catalog_size, 100
    dim = int(model.signatures["embed_items"](item_id=tf.constant(["x"]))["embedding"].shape[-1])
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(256, dim))
    items = centers[rng.integers(0, 256, n)] + 0.5 * rng.normal(size=(n, dim))
    items = (items / np.linalg.norm(items, axis=1, keepdims=True)).astype(np.float32)
    names = np.array([f"SKU{i}" for i in range(n)], dtype=object)
    index = build_index("scann", items, names, k=RECOMMEND_POOL)
    table = CooccurrenceTable(rng.integers(1, n + 1, (n + 1, neighbours)).astype(np.int32),
                              np.sort(rng.random((n + 1, neighbours)).astype(np.float32), axis=1)[:, ::-1].copy(), {})
    cooccurrence = CooccurrenceIndex(table)
    print(f"co-occurrence table over {n} items: {table.nbytes / 2 ** 20:.1f} MB ({neighbours} neighbours)")
    padded = tf.constant(np.vstack([np.zeros((1, dim), np.float32), items]))
    position = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(names.astype(str)), tf.range(1, n + 1)), 0)

    @tf.function(input_signature=[tf.TensorSpec([None, dim], tf.float32), tf.TensorSpec([None, None], tf.int32)])
    def hybrid(users, history):
        _, dense_ids = index(users, k=RECOMMEND_POOL)
        fused, _ = fuse(users, padded, position.lookup(dense_ids), cooccurrence.sparse_scores(history), 0.5)
        return tf.math.top_k(fused, k=10)

    @tf.function(input_signature=[tf.TensorSpec([None, dim], tf.float32)])
    def dense(users):
        return index(users, k=RECOMMEND_POOL)

    for batch in (1, 64):
        users = rng.normal(size=(batch, dim)).astype(np.float32)
        history = tf.constant(rng.integers(1, n + 1, (batch, 20)).astype(np.int32))
        report(f"dense_recommend@{n // 1000}k", batch,
               time_calls(lambda _, users=users: dense(users), None, args.seconds))
        report(f"hybrid_recommend@{n // 1000}k", batch,
               time_calls(lambda _, users=users, history=history: hybrid(users, history), None, args.seconds))


if __name__ == "__main__":
    main()
