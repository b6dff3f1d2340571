"""Judged-search NDCG@10 of the in-graph BM25 (`recsys_tf/index/lexical.py`) next to the `bm25s`
baseline, on a data directory with judgments (test half, full catalog) — and its query latency.

    python benchmarks/lexical_quality.py runs/syn42/split [runs/syn43/split ...]
"""
from __future__ import annotations

import sys
import time

import numpy as np


def main(paths: list[str]) -> None:
    import tensorflow as tf

    from recsys_tf.data.schema import read_dataset
    from recsys_tf.evaluation.baselines import BM25Search, top_k_from_scores
    from recsys_tf.evaluation.judgments import graded_queries, judgment_half
    from recsys_tf.evaluation.metrics import graded_ndcg
    from recsys_tf.features.catalog import Catalog
    from recsys_tf.features.vocabulary import Vocabularies
    from recsys_tf.index.lexical import LexicalIndex

    for path in paths:
        dataset = read_dataset(path)
        vocab = Vocabularies.from_dataset(dataset.items, dataset.events)
        items = dataset.items.set_index("item_id").loc[list(vocab.items)].reset_index()
        texts = Catalog.from_items(items, vocab).texts
        texts_q, grades = graded_queries(judgment_half(dataset.judgments, "test"), vocab)
        start = time.perf_counter()
        index = LexicalIndex(texts)
        built = time.perf_counter() - start
        scores = index.scores(tf.constant(texts_q)).numpy()
        ours = top_k_from_scores(np.where(scores > 0, scores, -np.inf), 10)  # no match: padding, never a hit
        reference = BM25Search(texts).top_k(texts_q, 10)
        fn = tf.function(index.scores, input_signature=[tf.TensorSpec([None], tf.string)])
        fn(tf.constant(texts_q[:1]))
        times = []
        for q in texts_q[:200]:
            t = time.perf_counter()
            fn(tf.constant([q]))
            times.append(time.perf_counter() - t)
        print(f"{path}: {len(texts)} items, {index.postings} postings, built in {built:.1f} s; "
              f"{len(texts_q)} judged test queries: NDCG@10 in-graph BM25 {graded_ndcg(ours, grades, 10).mean():.4f}, "
              f"bm25s {graded_ndcg(reference, grades, 10).mean():.4f}; batch-1 latency p50 "
              f"{np.percentile(times, 50) * 1e3:.2f} ms, p99 {np.percentile(times, 99) * 1e3:.2f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
