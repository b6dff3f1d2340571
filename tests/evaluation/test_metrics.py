import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_tf.evaluation.baselines import (
    EASE,
    FrequencyRecency,
    ItemKNN,
    Popularity,
    ease_item_cap,
    interaction_matrix,
    rank_sparse,
    top_k_from_scores,
)
from recsys_tf.evaluation.metrics import (
    graded_ndcg,
    hit_metrics,
    list_metrics,
    popularity_decile_share,
    ranking_metrics,
)
from recsys_tf.index.topk import top_k_items


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


def test_big_catalogs_score_fewer_queries_at_a_time_with_the_same_top_k(monkeypatch):
    """A block of queries x items never passes SCORE_BLOCK_BYTES: a catalog too big for the default
    rows per block is scored fewer rows at a time, with the same result (exclusions and boost too)."""
    import recsys_tf.index.topk as topk
    from recsys_tf.evaluation.evaluate import _score_ranker, score_rows

    assert topk.rows_per_block(2_000, 1024, 8) == 1024  # small catalogs: unchanged
    assert topk.rows_per_block(1_000_000, 1024, 8) == 33 and score_rows(1_000_000) == 11
    assert topk.rows_per_block(10 ** 9, 1024, 8) == 1
    rng = np.random.default_rng(5)
    items, queries = rng.normal(size=(301, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    exclude = [rng.choice(300, 3) + 1 for _ in range(50)]
    boost = (rng.integers(0, 301, (50, 4)), np.full((50, 4), 0.5, np.float32))
    whole = top_k_items(queries, items, 10, exclude=exclude, boost=boost)
    history = sp.csr_matrix((np.ones(150, np.float32), (np.repeat(np.arange(50), 3), rng.integers(1, 301, 150))),
                            shape=(50, 301))
    ranker = _score_ranker(ItemKNN(history), history, 10, 300)
    task = type("T", (), {"name": "recommend", "query_rows": np.arange(50)})()
    whole_knn = ranker(task, None)
    monkeypatch.setattr(topk, "SCORE_BLOCK_BYTES", 301 * 24 * 7)  # 7 rows of the baseline, 21 of the model
    assert score_rows(300) == 7
    blocked = top_k_items(queries, items, 10, exclude=exclude, boost=boost)
    np.testing.assert_array_equal(blocked[0], whole[0])
    np.testing.assert_allclose(blocked[1], whole[1], rtol=1e-6)
    np.testing.assert_array_equal(ranker(task, None), whole_knn)


def _ranked_by_score_then_index(scores: np.ndarray, k: int, exclude: sp.csr_matrix) -> np.ndarray:
    """NumPy reference: best score first, ties to the lower index; padding 0 and excluded never."""
    scores = scores.astype(np.float64, copy=True)
    scores[:, 0] = -np.inf
    rows, cols = exclude.nonzero()
    scores[rows, cols] = -np.inf
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape), -scores), axis=-1)[:, :k]
    order[np.isneginf(np.take_along_axis(scores, order, axis=1))] = 0
    return order


def test_big_catalogs_rank_popularity_and_item_knn_sparsely_against_numpy(monkeypatch):
    """Past SPARSE_RANKING_ITEMS, popularity, item-kNN and frequency-recency rank without dense scores: by score, ties to
    the lower item index, excluded items and padding never; where no tie straddles the k-th, the
    same top-k items as the dense path (which orders tied items as NumPy's partition leaves them)."""
    import recsys_tf.evaluation.evaluate as evaluate

    rng = np.random.default_rng(11)
    n_users, n_items, k = 40, 60, 10
    # user 0 has no history: item-kNN scores nothing for it, the fill ranks the catalog
    history = interaction_matrix(rng.integers(1, n_users, 120), rng.integers(1, n_items + 1, 120), n_users, n_items)
    exclude = history.tolil()
    exclude[1, 1:n_items - 3] = 1  # four allowed items: the rest of the top 10 is padding
    exclude = exclude.tocsr()
    distinct_counts = np.repeat(np.arange(1, n_items + 1), rng.permutation(n_items) + 1)
    repeats = FrequencyRecency.repeat_matrix(*np.nonzero(history), rng.random(history.nnz), n_users, n_items)
    for baseline, queries, least_untied in (
            (ItemKNN(history), history, 5), (Popularity(history.indices, n_items), history, 0),
            (Popularity(distinct_counts, n_items), history, n_users - 1),
            (FrequencyRecency(distinct_counts, n_items), repeats, n_users - 1)):
        sparse = rank_sparse(baseline.sparse_scores(queries), k, exclude, baseline.fallback, n_users)
        dense = baseline.scores(queries)
        np.testing.assert_array_equal(sparse, _ranked_by_score_then_index(dense, k, exclude))
        assert sorted(sparse[1][:4].tolist()) == [57, 58, 59, 60] and not sparse[1][4:].any()
        masked = _ranked_by_score_then_index(dense, n_items + 1, exclude)
        kth, after = (np.take_along_axis(dense, masked[:, [k - 1, k]], axis=1).T)
        untied = (kth != after) & (masked[:, k] != 0)
        assert untied.sum() >= least_untied
        np.testing.assert_array_equal(np.sort(sparse[untied]), np.sort(top_k_from_scores(dense, k, exclude)[untied]))
        task = type("T", (), {"name": "recommend", "query_rows": np.arange(n_users)})()
        monkeypatch.setattr(evaluate, "SPARSE_RANKING_ITEMS", n_items - 1)
        np.testing.assert_array_equal(evaluate._score_ranker(baseline, queries, k, n_items)(task, exclude), sparse)
        monkeypatch.undo()


def test_top_k_items_matches_a_numpy_ranking_with_ties_boosts_and_exclusions(monkeypatch):
    """Against NumPy: score + each distinct boosted item's offset once, excluded items and padding
    never, best first with ties to the lower index, padding 0 where fewer than k items are allowed;
    the same in blocks of 3 queries."""
    import recsys_tf.index.topk as topk

    rng = np.random.default_rng(3)
    items = rng.integers(-2, 3, (41, 4)).astype(np.float32)  # small integers: many tied scores
    queries = rng.integers(-2, 3, (12, 4)).astype(np.float32)
    exclude = [rng.choice(np.arange(1, 41), rng.integers(0, 6), replace=False) for _ in range(12)]
    exclude[4], exclude[5] = None, np.arange(1, 38)  # nothing excluded; only 3 items allowed
    boost = (rng.integers(0, 41, (12, 5)), np.repeat(rng.choice([0.5, 1.0], (12, 1)), 5, axis=1).astype(np.float32))
    boost[0][:, 1] = boost[0][:, 0]  # a repeated history item: its offset counts once
    scores = queries @ items.T
    for row in range(12):
        scores[row, np.unique(boost[0][row])] += boost[1][row, 0]
        scores[row, 0] = -np.inf
        if exclude[row] is not None:
            scores[row, exclude[row]] = -np.inf
    order = np.lexsort((np.broadcast_to(np.arange(41), scores.shape), -scores), axis=1)[:, :6]
    expected = np.where(np.isfinite(np.take_along_axis(scores, order, 1)), order, 0)
    top, top_scores = top_k_items(queries, items, 6, exclude=exclude, boost=boost)
    np.testing.assert_array_equal(top, expected)
    np.testing.assert_allclose(top_scores, np.where(expected > 0, np.take_along_axis(scores, order, 1), 0))
    assert (top[5, 3:] == 0).all()
    monkeypatch.setattr(topk, "SCORE_BLOCK_BYTES", 42 * 8 * 3)
    np.testing.assert_array_equal(top_k_items(queries, items, 6, exclude=exclude, boost=boost)[0], expected)


def test_top_k_boost_adds_each_history_offset_once():
    items = np.array([[0, 0], [1, 0], [0.9, 0.1], [0, 1]], np.float32)
    queries = np.array([[1, 0]], np.float32)
    # item 3 (score 0) twice in the history with offset 0.95: once, so 0.95 < 1.0 (item 1), > 0.9 (item 2)
    top, scores = top_k_items(queries, items, k=3, boost=(np.array([[3, 3, 0]]), np.array([[0.95, 0.95, 0.0]])))
    assert top.tolist() == [[1, 3, 2]]
    np.testing.assert_allclose(scores, [[1.0, 0.95, 0.9]], rtol=1e-6)


def test_frequency_recency_ranks_own_items_by_count_then_recency_then_popularity():
    from recsys_tf.evaluation.baselines import FrequencyRecency

    users, items, times = np.array([0, 0, 0, 0, 1]), np.array([1, 2, 1, 3, 4]), np.array([0, 5, 10, 7, 3])
    matrix = FrequencyRecency.repeat_matrix(users, items, times, n_users=2, n_items=5)
    baseline = FrequencyRecency(np.array([1, 2, 1, 3, 4, 5, 5, 5, 5]), 5)
    top = top_k_from_scores(baseline.scores(matrix), 5)
    # user 0: item 1 bought twice; items 3 (t=7) and 2 (t=5) once, newest first; then by popularity 5, 4
    assert top[0].tolist() == [1, 3, 2, 5, 4]
    assert top[1][:3].tolist() == [4, 5, 1] and set(top[1][3:]) == {2, 3}  # 2 and 3 tie on popularity


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
    assert sp.issparse(ItemKNN(X).similarity)
    # past its memory cap, EASE is the EASE of the most frequent items; the others score -inf
    capped = EASE(X, 500, max_items=3, log=None)
    kept = np.array([1, 2, 3])  # counts 2, 2, 2 (item 4 once, padding never)
    sub = dense[:, kept]
    P = np.linalg.inv(sub.T @ sub + 500 * np.eye(3))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0)
    scores = capped.scores(X)
    np.testing.assert_allclose(scores[:, kept], sub @ B, rtol=1e-4, atol=1e-6)
    assert np.isneginf(scores[:, [0, 4]]).all()
    messages = []
    EASE(X, 500, max_items=3, log=messages.append)
    assert "5 items would need" in messages[0] and "3 most frequent items" in messages[0] and "Fix" in messages[0]
    assert ease_item_cap(12 * 2 * 1000 ** 2) == 1000  # the in-place inverse + float32 weights: 12 bytes a pair
    # popularity ranks by count and never returns padding or seen items
    pop = Popularity(cols, 4)
    top = top_k_from_scores(pop.scores(X), 2, exclude=X)
    assert top[0].tolist() == [3, 4] and top[1].tolist() == [1, 4]
    assert top[2].tolist() == [2, 0]  # only one unseen item left: the second slot is padding


def test_ranking_metrics_single_target_hand_computed():
    top = np.array([[5, 3, 9], [1, 2, 4], [7, 8, 6]])
    m = ranking_metrics(top, np.array([3, 4, 1]), ks=[1, 3])
    np.testing.assert_allclose(m["hit_rate@3"], [1, 1, 0])
    np.testing.assert_allclose(m["precision@3"], [1 / 3, 1 / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(m["precision@1"], [0, 0, 0])
    np.testing.assert_allclose(m["map@3"], [1 / 2, 1 / 3, 0], rtol=1e-6)  # AP with one relevant = 1/rank


def test_ranking_metrics_several_relevant_hand_computed():
    top = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    relevant = [[2, 4, 9], [0]]  # second query: only padding -> no relevant item, all zeros
    m = ranking_metrics(top, relevant, ks=[2, 4])
    # hits at positions 2 and 4 of 4; three relevant items
    np.testing.assert_allclose(m["recall@4"], [2 / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(m["recall@2"], [1 / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(m["precision@4"], [2 / 4, 0], rtol=1e-6)
    np.testing.assert_allclose(m["map@4"], [(1 / 2 + 2 / 4) / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(m["map@2"], [(1 / 2) / 2, 0], rtol=1e-6)
    dcg = 1 / np.log2(3) + 1 / np.log2(5)
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    np.testing.assert_allclose(m["ndcg@4"], [dcg / idcg, 0], rtol=1e-6)
    np.testing.assert_allclose(m["mrr"], [1 / 2, 0], rtol=1e-6)


def test_list_metrics_hand_computed():
    top = np.array([[1, 2], [1, 3]])
    categories = np.array([0, 7, 7, 8, 8])  # item -> category (index 0 = padding)
    counts = np.array([0, 4, 2, 1, 1], np.float64)
    m = list_metrics(top, ks=[2], n_items=4, categories=categories, train_counts=counts, n_users=7,
                     target_counts_mean=2.0)
    assert m["coverage@2"] == pytest.approx(3 / 4)
    assert m["diversity@2"] == pytest.approx((0 + 1) / 2)  # list 1 same category, list 2 different
    info = -np.log2((counts + 1) / 8)
    assert m["novelty@2"] == pytest.approx(np.mean(info[[1, 2, 1, 3]]))
    assert m["popularity_bias@2"] == pytest.approx(np.mean([4, 2, 4, 1]) / 2.0)


def test_diversity_from_category_counts_equals_the_pairwise_comparison_in_any_batches():
    from recsys_tf.evaluation.metrics import _category_diversity

    rng = np.random.default_rng(3)
    lists = rng.integers(0, 40, size=(1000, 10))
    categories = rng.integers(0, 5, size=40)
    valid = lists > 0
    cats = np.where(valid, categories[lists], -1)
    same = (cats[:, :, None] == cats[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    n = valid.sum(axis=1)
    pairs = n * (n - 1)
    expected = np.where(pairs > 0, (pairs - (same.sum(axis=(1, 2)) - n)) / np.maximum(pairs, 1), 0.0)
    np.testing.assert_array_equal(_category_diversity(lists, valid, categories, batch_size=7), expected)
    np.testing.assert_array_equal(_category_diversity(lists, valid, categories), expected)
    np.testing.assert_array_equal(_category_diversity(lists[:3] * 0, valid[:3] & False, categories), [0, 0, 0])


def test_popularity_deciles_sum_to_one_and_put_popular_items_last():
    counts = np.concatenate([[0], np.arange(1, 21)]).astype(float)  # item i has count i
    shares = popularity_decile_share(np.array([[20, 19], [1, 20]]), counts, k=2)
    assert sum(shares) == pytest.approx(1.0)
    assert shares[9] == pytest.approx(3 / 4) and shares[0] == pytest.approx(1 / 4)


def test_paired_bootstrap_detects_real_difference_and_not_noise():
    from recsys_tf.evaluation.compare import paired_bootstrap

    rng = np.random.default_rng(1)
    users = np.repeat(np.arange(300), 2)
    a = rng.random(600)
    better = paired_bootstrap(a, a + 0.05, users)
    assert better["significant"] and better["ci_low"] > 0 and better["delta"] == pytest.approx(0.05)
    same = paired_bootstrap(a, a + rng.normal(0, 0.01, 600), users)
    assert not same["significant"] and same["ci_low"] < 0 < same["ci_high"]


def test_compare_two_systems_of_one_report(tmp_path):
    """Model vs ablation inside one report: B − A per user, then averaged over users."""
    from recsys_tf.evaluation.compare import compare_reports

    rows = []
    for key, (user, ours, ablation) in enumerate([("u1", 1.0, 0.0), ("u1", 0.0, 0.0), ("u2", 1.0, 1.0), ("u3", 0.0, 1.0)]):
        rows += [{"task": "recommend", "system": "recsys_tf", "key": key, "user": user, "recall@10": ours,
                  "squared_error": np.nan},
                 {"task": "recommend", "system": "ablations/id_only", "key": key, "user": user, "recall@10": ablation,
                  "squared_error": np.nan}]
    report = tmp_path / "report"
    report.mkdir()
    pd.DataFrame(rows).to_parquet(report / "per_query.parquet")
    result = compare_reports(report, report, system="ablations/id_only", system_b="recsys_tf", n_resamples=200)
    r = result["recommend/recall@10"]
    # per user (B vs A): u1 (0.5 vs 0), u2 (1 vs 1), u3 (0 vs 1) -> A 2/3, B 1/2, delta (0.5 + 0 - 1) / 3
    assert r["a"] == pytest.approx(2 / 3) and r["b"] == pytest.approx(0.5) and r["delta"] == pytest.approx(-1 / 6)
    assert r["users"] == 3 and r["ci_low"] <= r["delta"] <= r["ci_high"]
    assert set(result) == {"recommend/recall@10"}  # metrics absent or NaN everywhere are left out
    with pytest.raises(ValueError, match="no rows for system 'ablations/text'.*ablations/id_only"):
        compare_reports(report, report, system="ablations/text")


def test_compare_several_seeds_per_side(tmp_path):
    """Each side averaged over its reports; the interval also resamples the reports (seeds)."""
    from recsys_tf.evaluation.compare import compare_reports, paired_bootstrap, render_comparison

    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(200)]

    def report(name, recall_ours, recall_other):
        rows = [{"task": "recommend", "system": system, "key": k, "user": u, "recall@10": value}
                for k, u in enumerate(users)
                for system, value in (("recsys_tf", recall_ours[k]), ("ablations/id_only", recall_other[k]))]
        path = tmp_path / name
        path.mkdir()
        pd.DataFrame(rows).to_parquet(path / "per_query.parquet")
        return path

    base = rng.random(200)
    # three trainings of each configuration: B is ahead by 0.02 on average, but one A seed is as good as B
    a_shift, b_shift = (0.0, 0.0, 0.02), (0.02, 0.02, 0.02)
    reports = [report(f"r{s}", base + b_shift[s], base + a_shift[s]) for s in range(3)]
    result = compare_reports(reports, ",".join(map(str, reports)), system="ablations/id_only", system_b="recsys_tf",
                             n_resamples=500)["recommend/recall@10"]
    assert result["delta"] == pytest.approx(0.02 - 0.02 / 3)
    np.testing.assert_allclose(result["a_per_report"], base.mean() + np.array(a_shift))
    np.testing.assert_allclose(result["b_per_report"], base.mean() + np.array(b_shift))
    # per-user deltas are a constant 0.0133, so a users-only bootstrap would give a zero-width
    # interval; resampling the A seeds (one of which ties B) widens it down to 0
    assert result["ci_low"] == pytest.approx(0.0) and result["ci_high"] == pytest.approx(0.02)
    single = compare_reports(reports[0], reports[0], system="ablations/id_only", system_b="recsys_tf",
                             n_resamples=500)["recommend/recall@10"]
    assert single["ci_low"] == pytest.approx(single["ci_high"]) and "a_per_report" not in single
    # one column per side is the plain paired bootstrap
    users_arr = np.repeat(np.arange(100), 2)
    x, y = rng.random(200), rng.random(200)
    assert paired_bootstrap(x[:, None], y[:, None], users_arr) == paired_bootstrap(x, y, users_arr)
    assert "A per report" in render_comparison({"recommend/recall@10": result}, "A", "B")


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
    # search as exported: hybrid (when the run chose a fusion weight > 0) beside its two parts
    from recsys_tf.training.run import load_run

    assert np.isfinite(metrics["ablations/lexical_search/search_judged/ndcg@10"])
    assert "ablations/lexical_search/recommend/recall@10" not in metrics  # search tasks only
    assert ("ablations/dense_search/search_judged/ndcg@10" in metrics) == (load_run(tiny_run).fusion_weight > 0)
    # recommend as exported: hybrid with the run's co-occurrence weight, beside its two parts
    run = load_run(tiny_run)
    assert run.cooccurrence is not None and metrics["params/recommend/fusion_weight"] == run.recommend_fusion_weight
    for task in ("recommend", "buy_again", "related"):
        assert np.isfinite(metrics[f"ablations/cooccurrence_recommend/{task}/ndcg@10"]), task
        assert (f"ablations/dense_recommend/{task}/ndcg@10" in metrics) == (run.recommend_fusion_weight > 0)
    assert "ablations/cooccurrence_recommend/search_judged/ndcg@10" not in metrics
    # judged search is reported on the test half of the judged queries only (the validation half calibrated the run)
    from recsys_tf.evaluation.judgments import judgment_half

    judged = pd.read_parquet(Path(json.loads((tiny_run / "run.json").read_text())["data_dir"]) / "judgments.parquet")
    assert metrics["counts/search_judged"] == judgment_half(judged, "test")["query"].nunique() < judged["query"].nunique()
    # buy again: the same queries with the user's own items allowed, and its repeat baseline
    assert metrics["counts/buy_again"] == metrics["counts/recommend"]
    assert metrics["baselines/frequency_recency/buy_again/recall@10"] >= 0
    assert "baselines/frequency_recency/recommend/recall@10" not in metrics  # own items excluded: nothing to rank
    assert metrics["buy_again/recall@100"] >= 0 and "counts/buy_again/repeat" in metrics
    for key in ("recommend/precision@10", "recommend/map@10", "recommend/coverage@10", "recommend/diversity@10",
                "recommend/novelty@10", "recommend/popularity_bias@10", "related/recall@10",
                "baselines/zero_shot_text/recommend/recall@10", "recommend/short_history/recall@10"):
        assert key in metrics and np.isfinite(metrics[key]), key
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| popularity |" in report and "![recall_at_k](recall_at_k.png)" in report
    for name in ("recall_at_k.png", "popularity_bias.png", "per_query.parquet"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    assert list((tmp_path / "report" / "tensorboard").glob("events.out.tfevents.*"))
    # the ScaNN index instead of exact top-k: same keys, recall close to exact on this small catalog
    assert main(["evaluate", "--run", str(tiny_run), "--out", str(tmp_path / "scann"), "--retrieval", "scann",
                 "--baselines", "none"]) == 0
    approx = json.loads((tmp_path / "scann" / "metrics.json").read_text())
    assert abs(approx["recommend/recall@50"] - metrics["recommend/recall@50"]) <= 0.05
    # --compare of a report with itself: zero deltas, nothing significant
    assert main(["evaluate", "--compare", str(tmp_path / "report"), str(tmp_path / "report"),
                 "--out", str(tmp_path / "cmp")]) == 0
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert result["recommend/recall@10"]["delta"] == 0 and not result["recommend/recall@10"]["significant"]
    # model vs a baseline inside the same report
    assert main(["evaluate", "--compare", str(tmp_path / "report"), str(tmp_path / "report"),
                 "--system", "baselines/popularity", "--system-b", "recsys_tf", "--out", str(tmp_path / "cmp2")]) == 0
    result = json.loads((tmp_path / "cmp2" / "compare.json").read_text())["recommend/recall@10"]
    assert result["a"] == pytest.approx(metrics["baselines/popularity/recommend/recall@10"])
    assert result["b"] == pytest.approx(metrics["recommend/recall@10"])


@pytest.mark.slow
def test_cold_start_protocol_ranks_new_items_among_new_items(tiny_run, small_dataset, tmp_path):
    """`recommend_new_items`: candidates are only the items without an event before the test period."""
    from recsys_tf.data.schema import write_dataset
    from recsys_tf.data.splits import split_dataset
    from recsys_tf.evaluation.evaluate import evaluate_run

    cold = tmp_path / "cold"
    write_dataset(split_dataset(small_dataset, "cold-start-items", test_fraction=0.1), cold)
    events = pd.read_parquet(cold / "events.parquet")
    known = set(events.loc[events["split"] != "test", "item_id"])
    n_new = len(small_dataset.items) - len(known)  # the test items and items nobody ever touched
    assert 30 <= n_new < 200
    metrics = evaluate_run(tiny_run, cold, ks=(5, n_new), baselines=("popularity",), protocol="cold-start-items")
    # every new item fits in a top n_new of new items only (recall 1), not in a top n_new of the catalog
    assert metrics[f"recommend_new_items/recall@{n_new}"] == 1.0
    assert metrics[f"recommend/recall@{n_new}"] < 1.0
    # `recommend_new_items` ranks by the dense score (new items have no co-occurrence): compared with
    # the same dense ranking over the whole catalog (the hybrid's dense part when the run has a table)
    rows = metrics.per_query
    dense_system = "ablations/dense_recommend" if (rows["system"] == "ablations/dense_recommend").any() else "recsys_tf"
    full = rows[(rows["system"] == dense_system) & (rows["task"] == "recommend")].set_index("key")["recall@5"]
    new = rows[(rows["system"] == "recsys_tf") & (rows["task"] == "recommend_new_items")].set_index("key")["recall@5"]
    assert (new.loc[full.index] >= full).all()  # fewer candidates, never a worse rank for a new target
    assert "baselines/popularity/recommend_new_items/recall@5" not in metrics  # no interactions, no ranking
    assert metrics["recommend/cold_start_items/recall@5"] == metrics["recommend/recall@5"]


def test_ease_l2_is_tuned_on_the_validation_split_against_numpy():
    import pandas as pd

    from recsys_tf.evaluation.evaluate import tune_ease_l2
    from recsys_tf.evaluation.events import HistoryEvents

    class Vocab:
        items = [f"i{j}" for j in range(12)]

        def item_index(self, ids):
            return np.array([self.items.index(i) + 1 for i in ids])

    rng = np.random.default_rng(0)
    rows = []
    for user in range(40):
        taste = rng.choice(12, size=6, replace=False, p=np.arange(12, 0, -1) / 78)
        for t, item in enumerate(taste):
            rows.append({"user_id": f"u{user}", "item_id": f"i{item}", "timestamp": t,
                         "split": "validation" if t == 5 else "train"})
    events = pd.DataFrame(rows)
    grid = (0.5, 5.0, 50.0, 500.0)

    def history(frame):
        users = np.array(sorted(events["user_id"].unique()), dtype=object)
        return HistoryEvents(np.searchsorted(users, frame["user_id"].to_numpy(object)),
                             Vocab().item_index(frame["item_id"]), frame["timestamp"].to_numpy(np.int64),
                             np.zeros(len(frame), bool), (frame["split"] == "train").to_numpy())

    chosen, curve = tune_ease_l2(history(events), events["user_id"].nunique(), 12, grid=grid, k=3)
    # reference: dense closed form, seen items excluded, recall@3 of the validation item
    users = sorted(events["user_id"].unique())
    train = events[events["split"] == "train"]
    X = np.zeros((len(users), 13))
    for u, i in zip(train["user_id"], train["item_id"], strict=True):
        X[users.index(u), int(i[1:]) + 1] = 1
    validation = events[events["split"] == "validation"]
    expected = {}
    for l2 in grid:
        P = np.linalg.inv(X.T @ X + l2 * np.eye(13))
        B = -P / np.diag(P)
        np.fill_diagonal(B, 0)
        hits = []
        for u, i in zip(validation["user_id"], validation["item_id"], strict=True):
            s = X[users.index(u)] @ B
            s[0] = -np.inf
            s[X[users.index(u)] > 0] = -np.inf
            hits.append(int(i[1:]) + 1 in np.argsort(-s, kind="stable")[:3])
        expected[l2] = float(np.mean(hits))
    assert curve == pytest.approx(expected)
    assert chosen == max(expected, key=expected.get)
    assert len(set(curve.values())) > 1  # the grid matters on this data
    train_only = history(events[events["split"] == "train"])
    assert tune_ease_l2(train_only, events["user_id"].nunique(), 12) == (500.0, {})  # no validation: default


def test_evaluation_takes_the_test_inputs_from_the_runs_examples(tiny_run, monkeypatch):
    """The model's test inputs are the test split of the examples the run trained from (no example
    building from the events); built from the events instead (a run evaluated on other data) they
    are the same, row for row."""
    import recsys_tf.features.examples as examples_module
    from recsys_tf.evaluation.evaluate import eval_data, inputs_of_test_events
    from recsys_tf.training.trained_run import load_run

    run = load_run(tiny_run)
    data = eval_data(run, (10,))
    with monkeypatch.context() as patch:
        patch.setattr(examples_module, "build_examples", lambda *a, **k: pytest.fail("built from the events"))
        from_shards = inputs_of_test_events(run, data)
    assert inputs_of_test_events(run, data) is from_shards  # computed once per run
    data.inputs, run.info["train_shards"] = {}, None
    built = inputs_of_test_events(run, data)
    assert set(from_shards) == set(built) and len(from_shards["target_item"]) == len(data.test)
    for name in set(built) - {"queries", "query_index"}:
        np.testing.assert_array_equal(from_shards[name], built[name], err_msg=name)

    def texts(inputs):
        return [inputs["queries"][i - 1] if i else "" for i in inputs["query_index"]]

    assert texts(from_shards) == texts(built) == data.test["query"].astype(str).tolist()


def test_only_the_queries_rows_use_are_encoded_and_indexed_alike():
    from recsys_tf.evaluation.evaluate import used_queries

    texts, index = used_queries(np.array([0, 5, 2, 5, 0, 2]), ["a", "b", "c", "d", "e"])
    assert texts == ["b", "e"] and index.tolist() == [0, 2, 1, 2, 0, 1] and index.dtype == np.int32
    texts, index = used_queries(np.zeros(3, np.int32), ["a"])
    assert texts == [] and index.tolist() == [0, 0, 0]
