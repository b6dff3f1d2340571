"""`tune_scann`: measure recall@k against exact search and batched QPS for a small grid of ScaNN
settings around `default_scann_params`, and pick the fastest setting whose recall reaches the target.

Queries: by default the item embeddings themselves, perturbed with small noise (the same probe the
export's recall check uses); pass real query/user embeddings when you have them.
"""
from __future__ import annotations

import math
import time

import numpy as np

from recsys_tf.index.build import (
    build_index,
    default_scann_params,
    kth_best_scores,
    recall_against_exact,
    release_dropped_indexes,
)


def candidate_params(num_items: int, k: int) -> list[dict]:
    """Leaves ∈ {½, 1, 2}·√N, leaves searched ∈ {1.2, 2, 5, 12, 25}% (at least 2, at most all leaves),
    reordering ∈ {max(2k, 50), max(4k, 100), max(10k, 250)}; the default is always included (first)."""
    base = default_scann_params(num_items, k)
    out = [base]
    root = math.sqrt(num_items)
    for leaves in sorted({max(2, int(root / 2)), max(2, int(root)), max(2, int(root * 2))}):
        leaves = min(leaves, num_items)
        for fraction in (0.012, 0.02, 0.05, 0.12, 0.25):
            search = min(leaves, max(2, math.ceil(fraction * leaves)))
            for reorder in (max(2 * k, 50), max(4 * k, 100), max(10 * k, 250)):
                params = {"num_leaves": leaves, "num_leaves_to_search": search,
                          "num_reordering_candidates": reorder, "dimensions_per_block": 2}
                if params not in out:
                    out.append(params)
    return out


def probe_queries(embeddings: np.ndarray, n: int = 1000, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = embeddings[rng.choice(len(embeddings), size=min(n, len(embeddings)), replace=False)]
    return (picked + rng.normal(scale=noise, size=picked.shape)).astype(np.float32)


# Queries per timed call (here and in benchmarks/). ScaNN's parallel batched search gives each thread
# a chunk of up to 256 queries, so batches of 256 search on one core while brute force's matmul uses
# every core; 1,024 lets both use all the cores of a 2- or 4-core machine.
TIMING_BATCH = 1024


def _qps(index, queries: np.ndarray, k: int, batch: int = TIMING_BATCH, repeats: int = 2) -> float:
    index(queries[:batch], k=k)  # warm-up (traces the function)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for s in range(0, len(queries), batch):
            index(queries[s:s + batch], k=k)
        best = min(best, time.perf_counter() - start)
    return len(queries) / best


def tune_scann(embeddings: np.ndarray, k: int = 10, queries: np.ndarray | None = None, target_recall: float = 0.95,
               grid: list[dict] | None = None, log=print) -> dict:
    """Returns {"chosen": params, "results": [{params, recall, qps}], "brute_force_qps": float}.
    `chosen` is the fastest setting with recall ≥ target (the most accurate one if none reaches it).
    ScaNN trains its partition tree from a random start, so rebuilding the same setting can land a
    few recall points lower (tests/index saw 0.955 -> 0.926 with few leaves searched): ask for a
    small margin above the recall you need. The exporter re-measures the index it ships."""
    embeddings = np.asarray(embeddings, np.float32)
    queries = probe_queries(embeddings) if queries is None else np.asarray(queries, np.float32)
    k = min(k, len(embeddings))
    ids = np.arange(len(embeddings)).astype(str)
    kth = kth_best_scores(queries, embeddings, k)
    brute = build_index("brute_force", embeddings, ids, k=k)
    results = []
    for params in grid or candidate_params(len(embeddings), k):
        index = build_index("scann", embeddings, ids, k=k, **params)
        recall = recall_against_exact(index, embeddings, ids, queries, k, kth=kth)
        row = {"params": params, "recall": recall, "qps": _qps(index, queries, k)}
        results.append(row)
        del index
        release_dropped_indexes()  # one ScaNN searcher in memory at a time
        log(f"leaves={params['num_leaves']:>5} search={params['num_leaves_to_search']:>4} "
            f"reorder={params['num_reordering_candidates']:>4}  recall@{k}={recall:.3f}  qps={row['qps']:.0f}")
    good = [r for r in results if r["recall"] >= target_recall]
    chosen = max(good, key=lambda r: r["qps"]) if good else max(results, key=lambda r: r["recall"])
    return {"chosen": chosen["params"], "chosen_recall": chosen["recall"], "chosen_qps": chosen["qps"],
            "target_recall": target_recall, "reached_target": bool(good), "k": k,
            "brute_force_qps": _qps(brute, queries, k), "results": results}
