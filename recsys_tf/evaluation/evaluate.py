"""`evaluate_run`: the model and the baselines on the test split, same metrics, same candidates.

Protocol `temporal-last` (default): each test event is one query; its user's train + validation
events before it are the history; every catalog item is a candidate; items the user interacted
with before are excluded (`include_seen=True` keeps them, as the TFRS tutorials do).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recsys_tf.evaluation.baselines import (
    EASE,
    BM25Search,
    ItemKNN,
    Popularity,
    interaction_matrix,
    top_k_from_scores,
)
from recsys_tf.evaluation.topk import hit_metrics, top_k_items

DEFAULT_KS = (1, 5, 10, 50, 100)


def _mean(metrics: dict, prefix: str) -> dict:
    return {f"{prefix}/{k}": float(np.mean(v)) for k, v in metrics.items()}


PROTOCOLS = ("temporal-last", "tfrs", "cold-start-items")


def evaluate_run(run_dir: str | Path, data_dir: str | Path | None = None, ks=DEFAULT_KS, include_seen: bool = False,
                 baselines: bool = True, batch_size: int = 512, protocol: str = "temporal-last") -> dict[str, float]:
    """Protocols: `temporal-last` / `cold-start-items` score the test split of such a split;
    `tfrs` (on a `random` split) reports `recommend/hit_rate@K` with seen items NOT excluded and
    `recommend_exclude_seen/hit_rate@K` with the user's training items excluded, over every test
    interaction, plus `rating/rmse` — the TFRS tutorials' numbers."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"`protocol` must be one of {PROTOCOLS}. Received: protocol={protocol!r}.")
    import tensorflow as tf

    from recsys_tf.features.examples import build_examples
    from recsys_tf.text.embedding_cache import encode_texts
    from recsys_tf.training.run import load_run

    model, config, vocab, dataset, item_encoder, query_encoder = load_run(run_dir, data_dir)
    events = dataset.events
    history_events = events[events["split"].isin(["train", "validation"])]
    test = events[events["split"] == "test"].reset_index(drop=True)
    if test.empty:
        raise ValueError(f"{data_dir or 'the run dataset'} has no test events. Fix: split with a test fraction > 0.")
    queries = sorted(set(test.loc[test["query"].astype(str) != "", "query"].astype(str)))
    query_index = {q: i + 1 for i, q in enumerate(queries)}
    examples = build_examples(test, history_events, vocab, config.model.max_history, query_index)
    n_items = len(vocab.items)
    users = sorted(set(history_events["user_id"].astype(str)) | set(test["user_id"].astype(str)))
    user_row = {u: i for i, u in enumerate(users)}
    hist_matrix = interaction_matrix(np.array([user_row[u] for u in history_events["user_id"].astype(str)]),
                                     vocab.item_index(history_events["item_id"].to_numpy()), len(users), n_items)
    test_rows = np.array([user_row[u] for u in test["user_id"].astype(str)])
    query_history = hist_matrix[test_rows]
    exclude = None if include_seen else query_history
    targets = examples["target_item"]
    k_max = max(ks)
    results: dict[str, float] = {}

    # --- model: recommend
    item_vectors = model.item_tower(tf.range(n_items + 1), training=False).numpy()
    query_vectors = np.zeros((len(queries) + 1, model.query_tower.text_dim if model.query_tower else 1), np.float32)
    if model.query_tower is not None and queries:
        query_vectors[1:] = encode_texts(query_encoder, queries)
    user_vectors, search_vectors = [], []
    for start in range(0, len(targets), batch_size):
        batch = {k: v[start:start + batch_size] for k, v in examples.items()}
        batch["query_vector"] = query_vectors[batch.pop("query_index")]
        batch = {k: tf.constant(v) for k, v in batch.items()}
        u = model.user_embedding(batch, training=False)
        user_vectors.append(u.numpy())
        if model.query_tower is not None:
            search_vectors.append(model.query_embedding(batch, user_embedding=u, training=False).numpy())
    user_vectors = np.concatenate(user_vectors)
    seen_lists = [query_history[i].indices for i in range(len(targets))]
    if protocol == "tfrs":
        top, _ = top_k_items(user_vectors, item_vectors, k_max)
        results.update({k.replace("recall@", "hit_rate@"): v for k, v in
                        _mean(hit_metrics(top, targets, ks), "recommend").items()})
        top, _ = top_k_items(user_vectors, item_vectors, k_max, exclude=seen_lists)
        results.update({k.replace("recall@", "hit_rate@"): v for k, v in
                        _mean(hit_metrics(top, targets, ks), "recommend_exclude_seen").items()})
    else:
        top, _ = top_k_items(user_vectors, item_vectors, k_max, exclude=None if include_seen else seen_lists)
        results.update(_mean(hit_metrics(top, targets, ks), "recommend"))

    # --- model: search (test events that carry a query; the clicked item is relevant)
    search_rows = np.flatnonzero(examples["has_query"] > 0)
    if model.query_tower is not None and len(search_rows):
        top, _ = top_k_items(np.concatenate(search_vectors)[search_rows], item_vectors, k_max)
        results.update(_mean(hit_metrics(top, targets[search_rows], ks), "search"))

    # --- search on graded judgments (query -> items with relevance), anonymous queries
    if model.query_tower is not None and dataset.judgments is not None and len(dataset.judgments):
        results.update(_judgment_search(model, query_encoder, dataset, vocab, item_vectors, ks, baselines))

    # --- ratings
    has_rating = examples["has_rating"] > 0
    if model.rating_head is not None and has_rating.any():
        rows = np.flatnonzero(has_rating)
        predicted = model.rating_head(tf.constant(user_vectors[rows]), tf.constant(item_vectors[targets[rows]]),
                                      tf.constant(examples["user_bin"][rows]), tf.constant(targets[rows])).numpy()
        error = predicted - examples["rating"][rows]
        results["rating/rmse"] = float(np.sqrt(np.mean(error ** 2)))
        results["rating/mae"] = float(np.mean(np.abs(error)))

    if baselines:
        train_index = vocab.item_index(history_events["item_id"].to_numpy())
        for name, baseline in (("popularity", Popularity(train_index, n_items)), ("item_knn", ItemKNN(hist_matrix)),
                               ("ease", EASE(hist_matrix))):
            scores = baseline.scores(query_history)
            if protocol == "tfrs":
                for suffix, excluded in (("recommend", None), ("recommend_exclude_seen", query_history)):
                    top = top_k_from_scores(scores, k_max, excluded)
                    results.update({k.replace("recall@", "hit_rate@"): v for k, v in
                                    _mean(hit_metrics(top, targets, ks), f"baselines/{name}/{suffix}").items()})
            else:
                top = top_k_from_scores(scores, k_max, exclude)
                results.update(_mean(hit_metrics(top, targets, ks), f"baselines/{name}/recommend"))
        if len(search_rows):
            from recsys_tf.features.catalog import Catalog

            catalog = Catalog.from_items(dataset.items, vocab)
            bm25 = BM25Search(catalog.texts)
            top = bm25.top_k(test["query"].astype(str).to_numpy()[search_rows].tolist(), k_max)
            results.update(_mean(hit_metrics(top, targets[search_rows], ks), "baselines/bm25/search"))
    results["protocol"] = protocol
    results["counts/test_events"] = float(len(targets))
    results["counts/search_events"] = float(len(search_rows))
    return results


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


def _judgment_search(model, query_encoder, dataset, vocab, item_vectors, ks, baselines: bool) -> dict:
    import tensorflow as tf

    from recsys_tf.text.embedding_cache import encode_texts

    judgments = dataset.judgments
    judgments = judgments[judgments["item_id"].isin(set(vocab.items))]
    grouped = judgments.groupby("query")
    queries = list(grouped.groups)
    relevance = [dict(zip(vocab.item_index(g["item_id"].to_numpy()).tolist(), g["relevance"].astype(float)))
                 for _, g in grouped]
    vectors = model.query_tower({"query_vector": tf.constant(encode_texts(query_encoder, queries))}).numpy()
    k_max = max(ks)
    top, _ = top_k_items(vectors, item_vectors, k_max)
    out = {f"search_judged/ndcg@{k}": float(graded_ndcg(top, relevance, k).mean()) for k in ks if k >= 5}
    if baselines:
        from recsys_tf.features.catalog import Catalog

        bm25 = BM25Search(Catalog.from_items(dataset.items, vocab).texts)
        top = bm25.top_k(queries, k_max)
        out.update({f"baselines/bm25/search_judged/ndcg@{k}": float(graded_ndcg(top, relevance, k).mean())
                    for k in ks if k >= 5})
    out["counts/judged_queries"] = float(len(queries))
    return out


def write_report(metrics: dict, out_dir: str | Path, ks=DEFAULT_KS) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    ks = [k for k in ks if any(key.endswith(f"@{k}") for key in metrics)] or list(ks)
    lines = ["# Evaluation report", "", "## Recommend (next item, full catalog)", "",
             "| model | " + " | ".join(f"recall@{k}" for k in ks) + " | ndcg@10 | mrr |",
             "|---" * (len(ks) + 3) + "|"]
    names = [("recsys_tf", "")] + [(name, f"baselines/{name}/") for name in ("popularity", "item_knn", "ease")]
    for task, metric in (("recommend", "recall"), ("recommend", "hit_rate"), ("recommend_exclude_seen", "hit_rate")):
        if f"{task}/{metric}@{ks[0]}" not in metrics:
            continue
        if metric == "hit_rate":
            lines += ["", f"### {task} ({'seen items excluded' if 'exclude' in task else 'seen items NOT excluded'})", "",
                      "| model | " + " | ".join(f"hit@{k}" for k in ks) + " | ndcg@10 | mrr |", "|---" * (len(ks) + 3) + "|"]
        for label, base in names:
            prefix = f"{base}{task}"
            if f"{prefix}/{metric}@{ks[0]}" in metrics:
                lines.append(f"| {label} | " + " | ".join(f"{metrics[f'{prefix}/{metric}@{k}']:.4f}" for k in ks)
                             + f" | {metrics.get(f'{prefix}/ndcg@10', 0):.4f} | {metrics.get(f'{prefix}/mrr', 0):.4f} |")
    if "search/recall@10" in metrics:
        lines += ["", "## Search (query -> clicked item)", "", "| model | recall@10 | ndcg@10 | mrr |", "|---|---|---|---|"]
        for label, prefix in (("recsys_tf", "search"), ("bm25", "baselines/bm25/search")):
            if f"{prefix}/recall@10" in metrics:
                lines.append(f"| {label} | {metrics[f'{prefix}/recall@10']:.4f} | {metrics[f'{prefix}/ndcg@10']:.4f} | "
                             f"{metrics[f'{prefix}/mrr']:.4f} |")
    if "search_judged/ndcg@10" in metrics:
        lines += ["", "## Search on graded judgments (anonymous queries)", "", "| model | ndcg@5 | ndcg@10 | ndcg@50 |",
                  "|---|---|---|---|"]
        for label, prefix in (("recsys_tf", "search_judged"), ("bm25", "baselines/bm25/search_judged")):
            if f"{prefix}/ndcg@10" in metrics:
                lines.append(f"| {label} | " + " | ".join(f"{metrics.get(f'{prefix}/ndcg@{k}', 0):.4f}" for k in (5, 10, 50))
                             + " |")
    if "rating/rmse" in metrics:
        lines += ["", f"Rating: RMSE {metrics['rating/rmse']:.4f}, MAE {metrics['rating/mae']:.4f}"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out / "report.md"
