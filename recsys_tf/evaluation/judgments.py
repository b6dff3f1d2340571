"""Graded relevance judgments: a fixed validation/test halving, and the search calibration that
uses the validation half.

Judged queries are split by a hash of the query text (CRC-32, even = validation), so every run,
baseline and report agrees on the halves without storing anything: the **validation** half may tune
a run (`calibrate_search`), the **test** half is what `recsys-tf evaluate` reports as
`search_judged/…`. Without judgments, the validation split's search clicks (relevance 1) stand in
(`search_validation`).

Why calibrate: dense search scores are `learned(q)·learned(i) + w·cos(text(q), text(i))` (the text
skip of `towers/mlp.py`), and `w` is learned from search *clicks*, which also reward what users like
(brand, colour, price) beyond what the query says, while relevance grades only the match with the
query; and product queries are often lexical (model numbers, sizes, brands), which BM25 matches
exactly and a dense encoder blurs. So two numbers are chosen jointly on the validation queries, by
NDCG@k of the exported ranking itself (`index/lexical.py::hybrid_top_k`): a multiplier of `w`
(`SCALES`, grown ×2 / ÷2 while the best is at an end, up to `MAX_SCALE` / down to `MIN_SCALE`:
a very large multiplier is the pretrained text similarity alone) and the hybrid fusion weight
(`FUSION_WEIGHTS`: 0 = dense only, 1 = BM25 only, both ends are choices). The report records every
grid value, the ingredients alone (trained dense, BM25, zero-shot text) and why the choice was made.
Measured results: docs/hybrid_search.md.
"""
from __future__ import annotations

import re
import zlib

import numpy as np
import pandas as pd

from recsys_tf.errors import InputError

SCALES = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
MAX_SCALE, MIN_SCALE = 1024.0, 1.0 / 16
FUSION_WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))


def is_validation_query(queries) -> np.ndarray:
    """True for the judged queries of the validation half (CRC-32 of the UTF-8 text is even)."""
    return np.array([zlib.crc32(str(q).encode("utf-8")) % 2 == 0 for q in queries], bool)


def judgment_half(judgments: pd.DataFrame | None, half: str) -> pd.DataFrame | None:
    """The `validation` or `test` half of a judgments table (None stays None)."""
    if half not in ("validation", "test"):
        raise InputError(f"`half` must be 'validation' or 'test'. Received: half={half!r}.")
    if judgments is None or not len(judgments):
        return judgments
    validation = is_validation_query(judgments["query"].to_numpy())
    return judgments[validation if half == "validation" else ~validation].reset_index(drop=True)


def graded_queries(judgments: pd.DataFrame, vocab) -> tuple[list[str], list[dict]]:
    """Query texts and, per query, {item index: relevance} for the items in `vocab`."""
    judgments = judgments[judgments["item_id"].isin(set(vocab.items))]
    grouped = list(judgments.groupby("query"))
    grades = [dict(zip(vocab.item_index(g["item_id"].to_numpy()).tolist(), g["relevance"].astype(float)))
              for _, g in grouped]
    return [str(q) for q, _ in grouped], grades


def language_tags(judgments: pd.DataFrame, texts: list[str]) -> list[str]:
    """Each query's `language` tag in the judgments ("" where there is none)."""
    if "language" not in judgments.columns:
        return [""] * len(texts)
    first = judgments.groupby("query")["language"].first().fillna("").astype(str)
    return [first.get(text, "") for text in texts]


# A query's language from its script, checked in this order: Hangul is Korean, kana (with or
# without kanji) Japanese, Han alone Chinese; other scripts name the script, since it does not
# decide the language (Latin: English, French, ...).
_SCRIPTS = (("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")),
            ("ja", re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")),
            ("zh", re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")),
            ("cyrillic", re.compile(r"[\u0400-\u04ff]")),
            ("arabic", re.compile(r"[\u0600-\u06ff]")),
            ("latin", re.compile(r"[A-Za-z\u00c0-\u024f\uff21-\uff3a\uff41-\uff5a]")))


def query_language(text: str) -> str:
    """"ko", "ja", "zh" from the script of `text`, else the script ("latin", "cyrillic", "arabic"),
    else "other" (digits, symbols, emoji only)."""
    for language, pattern in _SCRIPTS:
        if pattern.search(text):
            return language
    return "other"


def language_segments(texts, tags=None) -> dict[str, np.ndarray]:
    """{"lang_<language>": mask} over the queries when they are in more than one language (a tag
    where given, else `query_language`); {} for queries of one language."""
    tags = list(tags) if tags is not None else [""] * len(texts)
    languages = np.array([tag or query_language(str(text)) for text, tag in zip(texts, tags)], dtype=object)
    distinct = sorted(set(languages))
    return {f"lang_{language}": languages == language for language in distinct} if len(distinct) > 1 else {}


def search_validation(dataset) -> tuple[pd.DataFrame | None, str]:
    """The queries a run may tune its search on, as a judgments table, and where they come from: the
    validation half of the judged queries, else the validation split's search clicks (each clicked
    item relevance 1)."""
    events, clicks = dataset.events, None
    if "split" in events.columns and "query" in events.columns:
        clicks = events[(events["split"] == "validation") & (events["query"].astype(str) != "")]
    return search_validation_from(dataset.judgments, clicks)


def search_validation_from(judgments: pd.DataFrame | None, clicks: pd.DataFrame | None) -> tuple[pd.DataFrame | None, str]:
    """`search_validation` from the judgments and the validation search clicks ((query, item_id) rows)."""
    judged = judgment_half(judgments, "validation")
    if judged is not None and len(judged):
        return judged, "validation half of the judged queries"
    if clicks is None or not len(clicks):
        return None, "none"
    frame = pd.DataFrame({"query": clicks["query"].astype(str).to_numpy(), "item_id": clicks["item_id"].astype(str).to_numpy(),
                          "relevance": 1.0}).drop_duplicates(["query", "item_id"]).reset_index(drop=True)
    return frame, "validation search clicks"


def _best(results: dict):
    """The (scale, weight) of the best NDCG; ties keep the scale closest to 1 (the trained weight),
    then the smaller fusion weight."""
    return max(results, key=lambda key: (round(results[key], 6), -abs(np.log(key[0])), -key[1]))


def calibrate_search(model, query_encoder, judgments: pd.DataFrame, vocab, lexical=None, texts_source: str = "",
                     k: int = 10, pool: int | None = None, fusion_weight: float = -1.0, item_encoder=None) -> dict | None:
    """Choose the query tower's text-weight scale and the hybrid fusion weight together, for the best
    mean graded NDCG@k on `judgments` (validation queries, never the test half), and leave the
    chosen scale assigned. The search score is the exported one (`index/lexical.py::hybrid_top_k`):
    fusion weight 0 = dense only, 1 = BM25 only (`lexical` None: dense only). The scale grid grows
    past an end while its best value is there (`_search_scales`; ×1024 is the text-similarity-only
    limit). `fusion_weight` ≥ 0 fixes the
    weight instead of choosing it. Returns the report (`ingredients` = the validation NDCG of each
    part alone: dense as trained, BM25, and zero-shot text when `item_encoder` is given), or None
    (nothing changed) without a query tower or judged queries."""
    import tensorflow as tf

    from recsys_tf.evaluation.metrics import graded_ndcg
    from recsys_tf.index.lexical import FUSION_POOL, fold_full_width, hybrid_top_k
    from recsys_tf.index.topk import top_k_items
    from recsys_tf.text.embedding_cache import encode_texts
    from recsys_tf.training.trained_run import item_vectors

    pool = FUSION_POOL if pool is None else pool
    tower = model.query_tower
    if tower is None or query_encoder is None or judgments is None or not len(judgments):
        return None
    texts, grades = graded_queries(judgments, vocab)
    if not texts:
        return None
    items = item_vectors(model)
    vectors = tf.constant(encode_texts(query_encoder, fold_full_width(texts)))
    skip = getattr(tower, "skip_weight", None)
    trained = float(skip.numpy()) if skip is not None else 1.0
    if lexical is None:
        weights = (0.0,)
    else:
        weights = FUSION_WEIGHTS if fusion_weight < 0 else (float(fusion_weight),)
    cache: dict = {}
    results: dict = {}

    def measure(scale: float) -> None:
        if skip is not None:
            skip.assign(trained * scale)
        queries = tower({"query_vector": vectors}).numpy()
        for weight in weights:
            if lexical is None or weight == 0.0:
                top = top_k_items(queries, items, k)[0]
            else:
                top = hybrid_top_k(queries, items, lexical, texts, weight, k, pool, cache=cache)
            results[(float(scale), weight)] = float(graded_ndcg(top, grades, k).mean())

    try:
        scales = _search_scales(measure, results) if skip is not None else [1.0]
        if skip is None:
            measure(1.0)
    finally:
        if skip is not None:
            skip.assign(trained)
    scale, weight = _best(results)
    if skip is not None:
        skip.assign(trained * scale)
    ingredients = _ingredients(results, model, items, lexical, texts, grades, k, pool, cache, item_encoder)
    return _report(results, scales, weights, ingredients, len(texts), texts_source, k, pool, trained, fusion_weight)


def _search_scales(measure, results: dict) -> list[float]:
    """Measure `SCALES`, then grow the grid ×2 (÷2) while its best scale is at the top (bottom) end,
    within `MIN_SCALE`…`MAX_SCALE`; returns every scale measured."""
    scales = list(SCALES)
    for scale in scales:
        measure(scale)
    while True:
        best_scale = _best(results)[0]
        if best_scale == max(scales) and best_scale < MAX_SCALE:
            scales.append(best_scale * 2)
        elif best_scale == min(scales) and best_scale > MIN_SCALE:
            scales.append(best_scale / 2)
        else:
            return scales
        measure(scales[-1])


def _ingredients(results, model, items, lexical, texts, grades, k, pool, cache, item_encoder) -> dict:
    """Validation NDCG@k of each part alone: dense as trained, BM25, zero-shot text."""
    from recsys_tf.evaluation.metrics import graded_ndcg
    from recsys_tf.index.lexical import hybrid_top_k

    ingredients = {"dense_trained": results.get((1.0, 0.0))}
    if lexical is not None:
        lexical_top = hybrid_top_k(np.zeros((len(texts), items.shape[1]), np.float32), items, lexical, texts, 1.0,
                                   k, pool, cache=cache)
        ingredients["bm25"] = float(graded_ndcg(lexical_top, grades, k).mean())
    if item_encoder is not None:
        ingredients["zero_shot_text"] = zero_shot_ndcg(model, item_encoder, texts, grades, k)
    return ingredients


def _report(results, scales, weights, ingredients, n_queries, texts_source, k, pool, trained, fusion_weight) -> dict:
    """`calibrate_search`'s report (its docstring) from the grid's `results` {(scale, weight): NDCG}."""
    scale, weight = _best(results)
    best = results[(scale, weight)]
    choice = "dense" if weight == 0.0 else "lexical" if weight == 1.0 else "hybrid"
    beaten = {name: value for name, value in ingredients.items() if value is not None and value > best + 1e-9}
    why = (f"validation {n_queries} queries ({texts_source or 'given'}): {choice} (text weight x{scale:g}, "
           f"fusion weight {weight:g}) NDCG@{k} {best:.4f}; alone: "
           + ", ".join(f"{n} {v:.4f}" for n, v in ingredients.items() if v is not None)
           + (f"; below {sorted(beaten)} on validation" if beaten else ""))
    by_scale = {s: max(v for (s2, _), v in results.items() if s2 == s) for s in sorted(scales)}
    by_weight = {w: max(v for (_, w2), v in results.items() if w2 == w) for w in weights}
    return {"scale": scale, "metric": f"ndcg@{k}", "queries": n_queries, "source": texts_source,
            "ndcg": best, "ndcg_by_scale": by_scale, "ndcg_by_weight": by_weight, "ingredients": ingredients,
            "choice": choice, "why": why,
            "text_weight": {"trained": trained, "calibrated": trained * scale},
            "fusion": {"weight": weight, "pool": pool, "grid": list(weights), "chosen": fusion_weight < 0}}


def zero_shot_ndcg(model, item_encoder, texts, grades, k: int, per_query: bool = False):
    """Mean NDCG@k (per query with `per_query`) of the pretrained text encoder alone: cosine of the
    query's and the items' text vectors."""
    from recsys_tf.evaluation.metrics import graded_ndcg
    from recsys_tf.index.topk import top_k_items
    from recsys_tf.text.embedding_cache import encode_texts

    items = np.asarray(model.item_tower.catalog_text.numpy(), np.float32)
    items = items / np.maximum(np.linalg.norm(items, axis=1, keepdims=True), 1e-12)
    queries = np.asarray(encode_texts(item_encoder, list(texts)), np.float32)
    queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    values = graded_ndcg(top_k_items(queries, items, k)[0], grades, k)
    return values if per_query else float(values.mean())
