"""Judged-search NDCG@10 of a trained run's dense search, the in-graph BM25 and their fusion
(`recsys_tf/index/lexical.py::fuse`) over a grid of fusion weights: the weight is chosen on the
validation half of the judged queries and reported on the test half, next to zero-shot MiniLM.

    python benchmarks/hybrid_search.py RUN [RUN ...]
"""
from __future__ import annotations

import sys

import numpy as np

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
POOL = 100


def ndcg_by_weight(run, half: str, lexical) -> dict:
    import tensorflow as tf

    from recsys_tf.evaluation.judgments import graded_queries, judgment_half
    from recsys_tf.evaluation.metrics import graded_ndcg
    from recsys_tf.evaluation.topk import top_k_items
    from recsys_tf.index.lexical import fuse

    texts, grades = graded_queries(judgment_half(run.dataset.judgments, half), run.vocab)
    items = run.item_vectors()
    queries = run.query_vectors(texts)
    dense_top, _ = top_k_items(queries, items, min(POOL, len(items) - 1))
    bm25 = lexical.scores(tf.constant(texts)).numpy()
    out = {}
    for weight in WEIGHTS:
        scores, ids = fuse(queries, tf.constant(items), dense_top, bm25, weight)
        values, order = tf.math.top_k(scores, k=10)
        top = np.where(values.numpy() > -1e8, np.take_along_axis(ids.numpy(), order.numpy(), 1), 0)
        out[weight] = float(graded_ndcg(top, grades, 10).mean())
    return out


def main(runs: list[str]) -> None:
    from recsys_tf.index.lexical import LexicalIndex
    from recsys_tf.training.trained_run import load_run

    for path in runs:
        run = load_run(path)
        lexical = LexicalIndex(run.catalog.texts)
        validation, test = ndcg_by_weight(run, "validation", lexical), ndcg_by_weight(run, "test", lexical)
        best = max(validation, key=lambda w: (round(validation[w], 6), -w))
        print(f"{path}: validation " + ", ".join(f"{w:g}: {v:.4f}" for w, v in validation.items()))
        print(f"{path}: test      " + ", ".join(f"{w:g}: {v:.4f}" for w, v in test.items()))
        print(f"{path}: chosen weight {best:g}: test NDCG@10 hybrid {test[best]:.4f}, dense {test[0.0]:.4f}, "
              f"lexical {test[1.0]:.4f}")


if __name__ == "__main__":
    main(sys.argv[1:])
