"""Top-K metrics over the full catalog.

Per query (`ranking_metrics`): recall@K, hit_rate@K, precision@K, NDCG@K, MAP@K and MRR for one
or several relevant items. Per list set (`list_metrics`): catalog coverage, intra-list diversity
by category, novelty and popularity bias. Item indices follow the item tower (0 = padding, never
relevant, never counted).

Definitions (each checked against a hand-computed example in tests/evaluation/test_metrics.py):
- recall@K = |relevant ∩ top-K| / |relevant|; hit_rate@K = 1 if any relevant item is in the top K;
  precision@K = |relevant ∩ top-K| / K; NDCG@K with binary gains and ideal DCG over
  min(|relevant|, K) items; MAP@K = Σ_j precision@j · rel_j / min(|relevant|, K); MRR = 1 / rank of
  the first relevant item (0 if none in the list).
- coverage@K = distinct items in all top-K lists / catalog size.
- diversity@K = mean over lists of the share of item pairs from different categories.
- novelty@K = mean self-information −log2 p(i) of recommended items, p(i) = (users with i + 1) / (users + 1).
- popularity_bias@K = mean training count of recommended items / mean training count of the items
  users actually picked next (1.0 = as popular as real behaviour, > 1 = favours popular items); when
  those items have no training interactions (cold-start protocols), the catalog mean is the reference.
"""
from __future__ import annotations

import numpy as np


def _hits(top: np.ndarray, relevant) -> tuple[np.ndarray, np.ndarray]:
    """(hits (n, K) bool, number of relevant items per query)."""
    top = np.asarray(top)
    if isinstance(relevant, np.ndarray) and relevant.ndim == 1 and relevant.dtype != object:
        hits = (top == relevant[:, None]) & (top > 0)
        return hits, (relevant > 0).astype(np.float64)
    hits = np.zeros(top.shape, bool)
    counts = np.zeros(len(top))
    for row, items in enumerate(relevant):
        items = np.asarray(list(items), np.int64)
        items = items[items > 0]
        counts[row] = len(np.unique(items))
        hits[row] = np.isin(top[row], items) & (top[row] > 0)
    return hits, counts


def ranking_metrics(top: np.ndarray, relevant, ks) -> dict[str, np.ndarray]:
    """Per-query metric arrays. `relevant`: an int array (one target per query) or a sequence of
    item-index collections. Queries without any relevant item score 0 everywhere."""
    hits, n_relevant = _hits(top, relevant)
    width = hits.shape[1]
    positions = np.arange(1, width + 1)
    cumulative = np.cumsum(hits, axis=1)
    discounts = 1.0 / np.log2(positions + 1.0)
    safe_relevant = np.maximum(n_relevant, 1.0)
    out = {}
    for k in ks:
        kk = min(k, width)
        found = cumulative[:, kk - 1] if kk else np.zeros(len(hits))
        ideal_n = np.minimum(n_relevant, k).astype(int)
        ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2))) if k else []])[ideal_n]
        dcg = (hits[:, :kk] * discounts[:kk]).sum(axis=1)
        precision_at_hits = (cumulative[:, :kk] / positions[:kk]) * hits[:, :kk]
        out[f"recall@{k}"] = found / safe_relevant
        out[f"hit_rate@{k}"] = (found > 0).astype(np.float64)
        out[f"precision@{k}"] = found / k
        out[f"ndcg@{k}"] = np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), 0.0)
        out[f"map@{k}"] = precision_at_hits.sum(axis=1) / np.maximum(np.minimum(n_relevant, k), 1.0)
    first = np.where(hits.any(axis=1), hits.argmax(axis=1), -1)
    out["mrr"] = np.where(first >= 0, 1.0 / np.maximum(first + 1.0, 1.0), 0.0)
    return {name: values.astype(np.float32) for name, values in out.items()}


def list_metrics(top: np.ndarray, ks, n_items: int, categories: np.ndarray, train_counts: np.ndarray,
                 n_users: int, target_counts_mean: float) -> dict[str, float]:
    """Catalog-level quality of a set of top-K lists (see the module docstring)."""
    top = np.asarray(top)
    info = -np.log2((train_counts + 1.0) / (n_users + 1.0))
    out = {}
    for k in ks:
        if k < 2:
            continue
        lists = top[:, :k]
        valid = lists > 0
        items = np.unique(lists[valid])
        out[f"coverage@{k}"] = float(len(items) / max(n_items, 1))
        out[f"diversity@{k}"] = float(np.mean(_category_diversity(lists, valid, categories))) if len(lists) else 0.0
        out[f"novelty@{k}"] = float(info[lists[valid]].mean()) if valid.any() else 0.0
        recommended_mean = float(train_counts[lists[valid]].mean()) if valid.any() else 0.0
        out[f"popularity_bias@{k}"] = recommended_mean / max(target_counts_mean, 1e-9)
    return out


def _category_diversity(lists: np.ndarray, valid: np.ndarray, categories: np.ndarray,
                        batch_size: int = 16384) -> np.ndarray:
    """Per list: the share of its ordered item pairs from different categories. A list whose n valid
    items fall c_1, c_2, ... to a category each has sum(c_i^2) - n same-category ordered pairs of
    n(n - 1); sum(c_i^2) comes from each row's sorted categories (a run of length c adds
    1 + 3 + ... + (2c - 1) = c^2), `batch_size` lists at a time — not from comparing every pair
    (10,000 comparisons a 100-item list)."""
    out = []
    positions = np.arange(lists.shape[1] if lists.ndim == 2 else 0)
    for start in range(0, len(lists), batch_size):
        rows, ok = lists[start:start + batch_size], valid[start:start + batch_size]
        # invalid slots get distinct negative categories: runs of 1, taken out below
        cats = np.sort(np.where(ok, categories[rows], -1 - positions), axis=1)
        run_start = np.ones(cats.shape, bool)
        run_start[:, 1:] = cats[:, 1:] != cats[:, :-1]
        first = np.maximum.accumulate(np.where(run_start, positions, 0), axis=1)
        n_valid = ok.sum(axis=1)
        squares = (2 * (positions - first) + 1).sum(axis=1) - (len(positions) - n_valid)
        pairs = n_valid * (n_valid - 1)
        different = pairs - (squares - n_valid)
        out.append(np.where(pairs > 0, different / np.maximum(pairs, 1), 0.0))
    return np.concatenate(out) if out else np.zeros(0)


def popularity_decile_share(top: np.ndarray, train_counts: np.ndarray, k: int = 10) -> list[float]:
    """Share of top-k recommendations falling in each item-popularity decile (0 = least popular
    tenth of the catalog by training count, 9 = most popular): the popularity-bias plot's data."""
    order = np.argsort(train_counts[1:], kind="stable")
    decile = np.zeros(len(train_counts), np.int64)
    decile[1 + order] = (np.arange(len(order)) * 10) // max(len(order), 1)
    items = np.asarray(top)[:, :k]
    items = items[items > 0]
    if not len(items):
        return [0.0] * 10
    return (np.bincount(decile[items], minlength=10)[:10] / len(items)).tolist()


def graded_ndcg(top: np.ndarray, relevance: list[dict], k: int) -> np.ndarray:
    """NDCG@k with graded gains (2^rel - 1) against the ideal ordering of each query's judgments."""
    out = np.zeros(len(top), np.float32)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for row, (items, grades) in enumerate(zip(top, relevance)):
        gains = np.array([2.0 ** grades.get(int(i), 0.0) - 1.0 for i in items[:k]])
        ideal = np.sort(np.array([2.0 ** g - 1.0 for g in grades.values()]))[::-1][:k]
        if ideal.sum() > 0:
            out[row] = float((gains * discounts[:len(gains)]).sum() / (ideal * discounts[:len(ideal)]).sum())
    return out


def hit_metrics(top_indices: np.ndarray, targets: np.ndarray, ks) -> dict[str, np.ndarray]:
    """Per-query recall@k (= hit rate with one target), NDCG@k and MRR for a single relevant item
    (the validation metrics of training; the full set is `metrics.ranking_metrics`)."""
    full = ranking_metrics(top_indices, np.asarray(targets), ks)
    return {name: values for name, values in full.items() if name.split("@")[0] in ("recall", "ndcg", "mrr")}
