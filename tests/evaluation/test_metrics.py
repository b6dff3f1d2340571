import json

import numpy as np
import pytest

from recsys_tf.evaluation.baselines import (
    EASE,
    ItemKNN,
    Popularity,
    interaction_matrix,
    top_k_from_scores,
)
from recsys_tf.evaluation.evaluate import graded_ndcg
from recsys_tf.evaluation.topk import hit_metrics, top_k_items


def test_hit_metrics_hand_computed():
    top = np.array([[5, 3, 9], [1, 2, 4], [7, 8, 6]])
    targets = np.array([3, 4, 1])  # ranks 1, 2, absent (0-based)
    m = hit_metrics(top, targets, ks=[1, 2, 3])
    np.testing.assert_allclose(m["recall@1"], [0, 0, 0])
    np.testing.assert_allclose(m["recall@2"], [1, 0, 0])
    np.testing.assert_allclose(m["recall@3"], [1, 1, 0])
    np.testing.assert_allclose(m["ndcg@3"], [1 / np.log2(3), 1 / np.log2(4), 0], rtol=1e-6)
    np.testing.assert_allclose(m["mrr"], [1 / 2, 1 / 3, 0], rtol=1e-6)


def test_top_k_excludes_seen_and_padding():
    items = np.array([[0, 0], [1, 0], [0.9, 0.1], [0, 1]], np.float32)  # row 0 = padding
    queries = np.array([[1, 0], [1, 0]], np.float32)
    top, scores = top_k_items(queries, items, k=2, exclude=[np.array([1]), None])
    assert top.tolist() == [[2, 3], [1, 2]]
    assert 0 not in top


def test_graded_ndcg_hand_computed():
    top = np.array([[1, 2, 3]])
    relevance = [{2: 3.0, 3: 1.0, 9: 2.0}]
    gains = np.array([0, 7, 1]) / np.log2(np.arange(2, 5))
    ideal = np.array([7, 3, 1]) / np.log2(np.arange(2, 5))
    np.testing.assert_allclose(graded_ndcg(top, relevance, 3), [gains.sum() / ideal.sum()], rtol=1e-6)


def test_baselines_against_direct_numpy():
    rows = np.array([0, 0, 1, 1, 2, 2, 2])
    cols = np.array([1, 2, 2, 3, 1, 3, 4])
    X = interaction_matrix(rows, cols, n_users=3, n_items=4)
    dense = X.toarray()
    # EASE closed form
    gram = dense.T @ dense + 500 * np.eye(5)
    P = np.linalg.inv(gram)
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0)
    np.testing.assert_allclose(EASE(X, 500).scores(X), dense @ B, rtol=1e-4, atol=1e-6)
    # item-kNN cosine
    norms = np.linalg.norm(dense, axis=0) + 1e-9
    S = (dense / norms).T @ (dense / norms)
    np.fill_diagonal(S, 0)
    np.testing.assert_allclose(ItemKNN(X).scores(X), dense @ S, rtol=1e-4, atol=1e-6)
    # popularity ranks by count and never returns padding or seen items
    pop = Popularity(cols, 4)
    top = top_k_from_scores(pop.scores(X), 2, exclude=X)
    assert top[0].tolist() == [3, 4] and top[1].tolist() == [1, 4]
    assert top[2].tolist() == [2, 0]  # only one unseen item left: the second slot is padding


@pytest.mark.slow
def test_evaluate_cli_writes_report(tiny_run, tmp_path, capsys):
    from recsys_tf.cli.main import main

    assert main(["evaluate", "--run", str(tiny_run), "--out", str(tmp_path / "report")]) == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    for key in ("recommend/recall@10", "recommend/ndcg@10", "baselines/popularity/recommend/recall@10",
                "baselines/item_knn/recommend/recall@10", "baselines/ease/recommend/recall@10",
                "search_judged/ndcg@10", "baselines/bm25/search_judged/ndcg@10", "rating/rmse"):
        assert key in metrics and np.isfinite(metrics[key]), key
    assert metrics["rating/rmse"] < 2.5  # the rating head keeps the training mean after a reload
    assert "| popularity |" in (tmp_path / "report" / "report.md").read_text()
