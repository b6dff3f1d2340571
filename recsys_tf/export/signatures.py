"""Serving signatures over a trained model + a retrieval index. All inputs are raw strings / ints;
tokenisation, id lookup and hashing run inside the graph.

Conventions (serving/README.md):
* string matrices (`history_item_ids`, `exclude_item_ids`, `candidate_item_ids`) are dense,
  right-padded with "" (TF Serving takes dense tensors); "" and unknown ids are ignored;
* limits (`ServingGraph.limits`, recorded in the export metadata): `k` is a per-row int32 in
  [1, max_k]; a batch has at most `max_batch` rows, a history or candidate matrix at most
  `max_request_ids` columns, a row of `exclude_item_ids` at most `max_exclude` ids. A request over a
  limit is refused with INVALID_ARGUMENT naming the limit, never cut. The batch returns `max(k)`
  columns; positions beyond a row's own k, or beyond the items left after exclusions, hold item id ""
  and score -1e9 (finite, never NaN);
* the model reads the newest `max_history` *known* ids of each history row ("" padding and unknown
  ids are skipped, wherever they are); `recommend` excludes those items and every id of
  `exclude_item_ids` (k results are guaranteed while at most `max_exclude` of the fetched
  `max_k + max_exclude` candidates are excluded); `similar_items` excludes the item;
* history order is oldest -> newest (most recent last); event types are taken as "view" and
  recency by position (serving has no timestamps); hour/weekday come from the server clock
  (UTC) and device is unknown, except in `recommend_in_context`, which takes them per row
  (hour/weekday -1 = server clock, device "" = unknown) plus the diversification inputs
  (`mmr_lambda` 1 and `max_per_category` 0 = off).
* an empty history falls back to the user id and context (what the user tower learned for
  users without history); an unknown user id hashes to a bucket like any new user.
"""
from __future__ import annotations

import inspect
import time

import keras
import numpy as np
import tensorflow as tf

from recsys_tf.features.vocabulary import EVENT_VOCABULARY, RECENCY_BUCKETS
from recsys_tf.training.trained_run import item_vectors


def clock_hour() -> int:
    """Hours since the epoch: `recommend`, `score` and the other user signatures take their
    hour/weekday context from the server clock, so two evaluations of them agree only within one
    clock hour. Checks that compare two evaluations (the export's reload check, the client tests)
    repeat the comparison when an hour boundary fell between them."""
    return int(time.time() // 3600)

PAD_SCORE = -1e9
VIEW_EVENT = EVENT_VOCABULARY.index("view") + 1
MAX_BATCH = 1024  # rows per request (the clients' bound too)
MAX_REQUEST_IDS = 1000  # columns of a history or candidate matrix: bounds the work of one request


class ServingGraph:
    """Holds the pieces the signature functions close over (built once, tracked by the archive)."""

    def __init__(self, model, vocab, index, query_encoder, max_k: int, max_exclude: int, max_history: int,
                 item_encoder=None, lexical=None, fusion_weight: float = 0.0, cooccurrence=None,
                 recommend_fusion_weight: float = 0.0):
        self.model, self.vocab, self.index = model, vocab, index
        # hybrid recommend (`index/cooccurrence.py`): the co-occurrence table's score fused with the
        # dense score in recommend*, buy again and similar_items; None = dense recommend only
        self.cooccurrence = cooccurrence if cooccurrence is not None and recommend_fusion_weight > 0 else None
        self.recommend_fusion_weight = float(recommend_fusion_weight) if self.cooccurrence is not None else 0.0
        # hybrid search (`index/lexical.py`): BM25 over the catalog text fused with the dense score;
        # None = dense search only
        self.lexical = lexical if lexical is not None and fusion_weight > 0 else None
        self.fusion_weight = float(fusion_weight) if self.lexical is not None else 0.0
        self.query_encoder = query_encoder
        self.item_encoder = item_encoder or query_encoder
        self.max_k, self.max_exclude, self.max_history = int(max_k), int(max_exclude), int(max_history)
        self.fetch = self.max_k + self.max_exclude
        self.item_lookup = keras.layers.StringLookup(vocabulary=list(vocab.items), num_oov_indices=1,
                                                     mask_token=None, name="item_lookup")
        self.item_lookup(tf.constant([""]))  # builds it (the archive only tracks built layers)
        self.item_vectors = tf.Variable(item_vectors(model), trainable=False, name="item_vectors")

    # --- pieces ---------------------------------------------------------------------------------
    def lookup(self, ids):
        return tf.cast(self.item_lookup(ids), tf.int32)

    def limits(self) -> dict:
        """What one request may hold; over it the signatures answer INVALID_ARGUMENT (`checked`)."""
        return {"max_batch": MAX_BATCH, "max_k": self.max_k, "max_exclude": self.max_exclude,
                "max_history": self.max_history, "max_request_ids": MAX_REQUEST_IDS}

    def checked(self, value, *, k=None, batch=None, width=None, ids=None):
        """`value` once the request's sizes are within `limits()`: `k` every row in [1, max_k],
        `batch` rows ≤ max_batch, `width` columns of a string matrix ≤ max_request_ids, `ids` (a
        string matrix) at most max_exclude non-empty ids per row."""
        checks = []
        if k is not None:
            checks += [tf.debugging.assert_greater_equal(k, 1, message=(
                           "`k` must be at least 1. Fix: ask for 1 or more results")),
                       tf.debugging.assert_less_equal(k, self.max_k, message=(
                           f"`k` is over this export's max_k={self.max_k}. Fix: ask for at most {self.max_k} "
                           "results, or export with a larger --max-k"))]
        if batch is not None:
            checks.append(tf.debugging.assert_less_equal(batch, MAX_BATCH, message=(
                f"the batch is over max_batch={MAX_BATCH} rows. Fix: split the request")))
        if width is not None:
            checks.append(tf.debugging.assert_less_equal(width, MAX_REQUEST_IDS, message=(
                f"an id list is over max_request_ids={MAX_REQUEST_IDS} columns. Fix: send the newest "
                f"{MAX_REQUEST_IDS} history ids, or split the candidates into several requests")))
        if ids is not None:
            count = tf.reduce_sum(tf.cast(ids != "", tf.int32), axis=1)
            checks.append(tf.debugging.assert_less_equal(count, self.max_exclude, message=(
                f"`exclude_item_ids` holds more ids than this export's max_exclude={self.max_exclude}. Fix: "
                f"exclude at most {self.max_exclude} ids, or export with a larger max_exclude")))
        with tf.control_dependencies(checks):
            return tf.identity(value)

    def _k(self, k):
        return tf.reduce_max(tf.concat([tf.reshape(self.checked(k, k=k, batch=tf.size(k)), [-1]), [1]], 0))

    def context(self, batch, hour=None, weekday=None, device=None):
        """hour (0-23) / weekday (0 = Monday) per row; a negative value, or no input, takes the
        server clock (UTC); device strings outside the training vocabulary (or "") are unknown (0)."""
        now = tf.cast(tf.timestamp(), tf.int64)
        hours = tf.fill([batch], tf.cast((now // 3600) % 24, tf.int32))
        weekdays = tf.fill([batch], tf.cast(((now // 86400) + 3) % 7, tf.int32))  # 1970-01-01 was a Thursday
        checks = []
        if hour is not None:
            checks.append(tf.debugging.assert_less(hour, 24, message="`hour` must be in [0, 23] (or -1 = server clock)"))
            hours = tf.where(hour >= 0, hour, hours)
        if weekday is not None:
            checks.append(tf.debugging.assert_less(
                weekday, 7, message="`weekday` must be in [0, 6], 0 = Monday (or -1 = server clock)"))
            weekdays = tf.where(weekday >= 0, weekday, weekdays)
        device_index = tf.zeros([batch], tf.int32)
        if device is not None and self.vocab.devices:
            # a handful of device names: one comparison per name (no lookup table to track)
            names = tf.constant(list(self.vocab.devices))
            matches = tf.equal(device[:, None], names[None, :])
            device_index = tf.where(tf.reduce_any(matches, axis=1),
                                    tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32) + 1, 0)
        with tf.control_dependencies(checks):
            return {"hour": tf.identity(hours), "weekday": tf.identity(weekdays), "device": device_index}

    def item_names(self):
        """Item index -> id string (index 0, padding / unknown, -> "")."""
        return tf.concat([[""], tf.constant(list(self.vocab.items))], 0)

    def user_inputs(self, user_id, history_item_ids, hour=None, weekday=None, device=None):
        # Known items first moved to the right end of each row (order kept), then the newest
        # max_history of them: rows of one batch are right-padded with "" to the longest, so cutting
        # the raw columns first would drop a short row's whole history; "" and unknown ids never
        # take one of the max_history places.
        history_item_ids = self.checked(history_item_ids, batch=tf.shape(history_item_ids)[0],
                                        width=tf.shape(history_item_ids)[1])
        items = self.lookup(history_item_ids)
        order = tf.argsort(tf.cast(items > 0, tf.int32), axis=1, stable=True)
        items = tf.gather(items, order, batch_dims=1)[:, -self.max_history:]
        lengths = tf.reduce_sum(tf.cast(items > 0, tf.int32), axis=1)
        width = tf.shape(items)[1]
        position_from_end = width - 1 - tf.range(width)[None, :]
        valid = position_from_end < lengths[:, None]
        recency = tf.where(valid, tf.minimum(position_from_end + 1, RECENCY_BUCKETS - 1), 0)
        return {"history_items": items, "history_events": tf.where(valid, VIEW_EVENT, 0),
                "history_recency": recency,
                "user_bin": tf.cast(tf.strings.to_hash_bucket_fast(user_id, self.vocab.user_bins), tf.int32),
                **self.context(tf.shape(user_id)[0], hour, weekday, device)}

    def user_embedding(self, user_id, history_item_ids, hour=None, weekday=None, device=None):
        inputs = self.user_inputs(user_id, history_item_ids, hour, weekday, device)
        return self.model.user_tower(inputs, training=False), inputs["history_items"]

    def recommend(self, user_id, history_item_ids, exclude_item_ids, k, mmr_lambda=None, max_per_category=None,
                  context=(), include_history=None):
        """The recommend* signatures: top-k for the user, history and `exclude_item_ids` excluded,
        with the history item that explains each result; `context` = (hour, weekday, device).
        `include_history` `(B,)` bool: rows where it is true keep their history items as candidates
        ("buy it again"), scored `user · item` + the model's repeat offset (`RepeatHead`). With a
        co-occurrence table, the candidates and their scores are the hybrid ones (`hybrid_candidates`)."""
        user, history = self.user_embedding(user_id, history_item_ids, *context)
        names = self.item_names()  # one copy of the id list in the signature's graph
        history_names = tf.gather(names, history)
        own = None
        if include_history is not None:
            own = self.history_candidates(user, history, include_history)
            history_names = tf.where(include_history[:, None], "", history_names)
        # the history the model saw (its newest max_history known items) first, then the caller's
        # ids; `retrieve` keeps the first max_exclude columns of this
        exclude = tf.concat([history_names, self.checked(exclude_item_ids, ids=exclude_item_ids)], axis=1)
        candidates = None
        if self.cooccurrence is not None:
            candidates = self.hybrid_candidates(user, history, names, own)
        elif own is not None:
            own = (own[0], tf.gather(names, own[1]))
        scores, ids = self.retrieve(user, k, exclude, mmr_lambda, max_per_category,
                                    extra=own if candidates is None else None, candidates=candidates)
        return {"item_ids": ids, "scores": scores, "because_item_ids": self.explain(ids, history, names)}

    def hybrid_candidates(self, queries, history, names, extra=None):
        """(fused scores, ids) of hybrid recommend (`index/cooccurrence.py::fuse`): the index's dense
        top `fetch` for `queries` merged with the co-occurrence top `fetch` of the `history` items
        `(B, H)` (and `extra` = (dense scores, item indices) of the buy-again history candidates)."""
        from recsys_tf.index.cooccurrence import fuse

        _, dense_ids = self.index(queries, k=self.fetch)
        extra_scores, extra_items = extra if extra is not None else (None, None)
        fused, items = fuse(queries, self.item_vectors, self.lookup(dense_ids), self.cooccurrence.sparse_scores(history),
                            self.recommend_fusion_weight, extra_items, extra_scores, PAD_SCORE)
        return fused, tf.gather(names, items)

    def history_candidates(self, user, history, include_history):
        """`(scores, item indices)` `(B, H)` of each row's own history items (the newest position of
        each item; padding, repeats and rows without `include_history` get PAD_SCORE / 0)."""
        scores = tf.einsum("bd,bhd->bh", user, tf.gather(self.item_vectors, history))
        if self.model.repeat_head is not None:
            scores += self.model.repeat_head.history_bonus(history)
        width = tf.shape(history)[1]
        later = tf.range(width)[None, :] > tf.range(width)[:, None]  # [p, q]: q after p
        repeated_later = tf.reduce_any(tf.equal(history[:, :, None], history[:, None, :]) & later[None], axis=2)
        keep = (history > 0) & ~repeated_later & include_history[:, None]
        return tf.where(keep, scores, PAD_SCORE), tf.where(keep, history, 0)

    def similar_items(self, item_id, k):
        """The similar_items signature: the items nearest to each item's vector (the item excluded),
        hybrid with a co-occurrence table (the item as a one-item history); unknown ids get no result."""
        items = self.lookup(item_id)
        vectors = tf.gather(self.item_vectors, items)
        candidates = self.hybrid_candidates(vectors, items[:, None], self.item_names()) \
            if self.cooccurrence is not None else None
        scores, ids = self.retrieve(vectors, k, tf.reshape(item_id, [-1, 1]), candidates=candidates)
        known = items[:, None] > 0
        return {"item_ids": tf.where(known, ids, ""), "scores": tf.where(known, scores, PAD_SCORE)}

    def query_embedding(self, query, user=None):
        from recsys_tf.index.lexical import _fold_full_width

        query = tf.strings.substr(query, 0, 4096, unit="UTF8_CHAR")  # bound work; the encoder truncates anyway
        vector = self.query_encoder(_fold_full_width(query), training=False)  # "ＡＢＣ" -> "ABC", as BM25 reads it
        inputs = {"query_vector": vector}
        if user is not None:
            inputs["user_embedding"] = user
        return self.model.query_tower(inputs, training=False)

    def search(self, query, k, user=None, mmr_lambda=None, max_per_category=None):
        """The search* signatures: dense retrieval of the query tower's vector, or, with a lexical
        index, the hybrid ranking (`index/lexical.py::fuse`) of the index's dense top `fetch` merged
        with the BM25 top `fetch`; the scores are then the fused scores in [0, 1]."""
        vectors = self.query_embedding(query, user)
        candidates = None
        if self.lexical is not None:
            from recsys_tf.index.lexical import fuse

            _, dense_ids = self.index(vectors, k=self.fetch)
            query = tf.strings.substr(query, 0, 4096, unit="UTF8_CHAR")
            fused, items = fuse(vectors, self.item_vectors, self.lookup(dense_ids), self.lexical.scores(query),
                                self.fusion_weight, PAD_SCORE)
            candidates = (fused, tf.gather(self.item_names(), items))
        return self.retrieve(vectors, k, None, mmr_lambda, max_per_category, candidates=candidates)

    def retrieve(self, queries, k, exclude_ids=None, mmr_lambda=None, max_per_category=None, extra=None,
                 candidates=None):
        """Top-k (scores, ids) from the index after removing `exclude_ids` (B, E) strings; with
        `mmr_lambda` / `max_per_category` the k are chosen by `diversify` among the fetched candidates.
        `extra` = (scores, ids) `(B, X)`: more candidates scored by the caller (history items with
        their repeat offset); the index's own copies of those ids are dropped. `candidates` =
        (scores, ids) used instead of the index's (hybrid search)."""
        scores, ids = candidates if candidates is not None else self.index(queries, k=self.fetch)
        if extra is not None:
            duplicate = tf.reduce_any(tf.equal(ids[:, :, None], extra[1][:, None, :]) & (extra[1][:, None, :] != ""),
                                      axis=-1)
            scores = tf.concat([tf.where(duplicate, PAD_SCORE, scores), extra[0]], axis=1)
            ids = tf.concat([ids, extra[1]], axis=1)
        valid = tf.ones_like(scores, tf.bool)
        if exclude_ids is not None:
            hit = tf.reduce_any(tf.equal(ids[:, :, None], exclude_ids[:, None, :]) & (exclude_ids[:, None, :] != ""),
                                axis=-1)
            valid = ~hit
        masked = tf.where(valid, scores, PAD_SCORE)
        top_scores, order = tf.math.top_k(masked, k=tf.minimum(self.fetch, tf.shape(masked)[1]))
        top_ids = tf.gather(ids, order, batch_dims=1)
        kk = self._k(k)
        if mmr_lambda is not None:
            top_scores, top_ids = self.diversify(top_scores, top_ids, kk, mmr_lambda, max_per_category)
        top_scores, top_ids = top_scores[:, :kk], top_ids[:, :kk]
        keep = (tf.range(kk)[None, :] < tf.reshape(k, [-1])[:, None]) & (top_scores > PAD_SCORE / 2)
        return tf.where(keep, top_scores, PAD_SCORE), tf.where(keep, top_ids, "")

    def diversify(self, scores, ids, kk, mmr_lambda, max_per_category):
        """Greedy re-selection of kk of the (B, F) candidates: maximal marginal relevance
        λ·score − (1 − λ)·max cosine to the items already chosen (λ = 1: plain ranking), and at most
        `max_per_category` items per catalog category (≤ 0: no cap). Written here because neither
        TFRS nor keras-rs ships an in-graph MMR / category cap for serving."""
        index = self.lookup(ids)
        vectors = tf.gather(self.item_vectors, index)
        similarity = tf.einsum("bfd,bgd->bfg", vectors, vectors)
        categories = tf.gather(self.model.item_tower.catalog_category, index)
        n_categories = self.model.item_tower.num_categories + 1
        lam = tf.cast(tf.reshape(mmr_lambda, [-1]), tf.float32)
        lam = tf.clip_by_value(tf.where(tf.math.is_finite(lam), lam, 1.0), 0.0, 1.0)[:, None]  # NaN/inf -> off
        cap = tf.cast(tf.reshape(max_per_category, [-1]), tf.int32)[:, None]
        available = scores > PAD_SCORE / 2
        batch, width = tf.shape(scores)[0], tf.shape(scores)[1]

        def step(t, chosen, max_sim, counts, out_scores, out_ids):
            penalty = tf.where(tf.reduce_any(chosen, axis=1, keepdims=True), max_sim, 0.0)
            objective = lam * scores - (1.0 - lam) * penalty
            blocked = (cap > 0) & (tf.gather(counts, categories, batch_dims=1) >= cap)
            objective = tf.where(available & ~chosen & ~blocked, objective, -np.inf)
            pick = tf.argmax(objective, axis=1, output_type=tf.int32)
            ok = tf.reduce_max(objective, axis=1) > -np.inf
            out_scores = out_scores.write(t, tf.where(ok, tf.gather(scores, pick, batch_dims=1), PAD_SCORE))
            out_ids = out_ids.write(t, tf.where(ok, tf.gather(ids, pick, batch_dims=1), ""))
            picked = tf.one_hot(pick, width, on_value=True, off_value=False) & ok[:, None]
            chosen = chosen | picked
            max_sim = tf.maximum(max_sim, tf.where(ok[:, None], tf.gather(similarity, pick, batch_dims=1), -1.0))
            counts += tf.one_hot(tf.gather(categories, pick, batch_dims=1), n_categories, dtype=tf.int32) * \
                tf.cast(ok[:, None], tf.int32)
            return t + 1, chosen, max_sim, counts, out_scores, out_ids

        _, _, _, _, out_scores, out_ids = tf.while_loop(
            lambda t, *_: t < kk, step,
            (tf.constant(0), tf.zeros([batch, width], tf.bool), tf.fill([batch, width], -1.0),
             tf.zeros([batch, n_categories], tf.int32), tf.TensorArray(tf.float32, size=kk),
             tf.TensorArray(tf.string, size=kk)),
            # static widths differ between index kinds (ScaNN's outputs are not statically shaped)
            shape_invariants=(tf.TensorShape([]),) + (tf.TensorShape(None),) * 5)
        return tf.transpose(out_scores.stack()), tf.transpose(out_ids.stack())

    def explain(self, result_ids, history_items, names):
        """For each result, the history item most similar to it ("because you viewed ..."); `names`
        is `item_names()`, made once by the caller."""
        result_vectors = tf.gather(self.item_vectors, self.lookup(result_ids))
        history_vectors = tf.gather(self.item_vectors, history_items)
        similarity = tf.einsum("bkd,bhd->bkh", result_vectors, history_vectors)
        similarity = tf.where(history_items[:, None, :] > 0, similarity, -2.0)
        best = tf.argmax(similarity, axis=-1, output_type=tf.int32)
        best_index = tf.gather(history_items, best, batch_dims=1)
        has_history = tf.reduce_any(history_items > 0, axis=1)[:, None] & (result_ids != "")
        return tf.where(has_history, tf.gather(names, best_index), "")


# Every serving input once: shape, dtype and the warm-up value TF Serving replays at load
# (`export/warmup.py`). A signature names its inputs; its function takes them in that order.
INPUTS = {
    "user_id": ([None], tf.string, lambda items: np.array(["warmup-user"], object)),
    "history_item_ids": ([None, None], tf.string, lambda items: np.array([items[:2] + [""]], object)),
    "exclude_item_ids": ([None, None], tf.string, lambda items: np.array([[""]], object)),
    "candidate_item_ids": ([None, None], tf.string, lambda items: np.array([items[:3]], object)),
    "item_id": ([None], tf.string, lambda items: np.array(items[:1], object)),
    "query": ([None], tf.string, lambda items: np.array(["wireless earbuds"], object)),
    "item_text": ([None], tf.string, lambda items: np.array(["Acme wireless earbuds, black"], object)),
    "k": ([None], tf.int32, lambda items: np.array([10], np.int32)),
    "mmr_lambda": ([None], tf.float32, lambda items: np.array([0.7], np.float32)),
    "max_per_category": ([None], tf.int32, lambda items: np.array([2], np.int32)),
    "hour": ([None], tf.int32, lambda items: np.array([20], np.int32)),
    "weekday": ([None], tf.int32, lambda items: np.array([-1], np.int32)),
    "device": ([None], tf.string, lambda items: np.array([""], object)),
    "include_history": ([None], tf.bool, lambda items: np.array([True])),
}
USER = ("user_id", "history_item_ids")
DIVERSE = ("mmr_lambda", "max_per_category")
# signature -> (inputs, needs the query side). The one place to add a signature: its function in
# `signature_functions`, its row here; specs, warm-up requests and the test of serving/README.md's
# table follow from this table.
SIGNATURES = {
    "recommend": ((*USER, "exclude_item_ids", "k"), False),
    "recommend_diverse": ((*USER, "exclude_item_ids", "k", *DIVERSE), False),
    "recommend_in_context": ((*USER, "exclude_item_ids", "k", "hour", "weekday", "device", *DIVERSE,
                              "include_history"), False),
    "similar_items": (("item_id", "k"), False),
    "score": ((*USER, "candidate_item_ids"), False),
    "embed_items": (("item_id",), False),
    "search": (("query", "k"), True),
    "search_diverse": (("query", "k", *DIVERSE), True),
    "search_personalized": (("query", *USER, "k"), True),
    "similar_to_text": (("item_text", "k"), True),
    "embed_query": (("query",), True),
}
DEFAULT_SIGNATURE = "recommend"  # what a request without signature_name gets (`serving_default`)


def input_specs(name: str) -> list:
    return [tf.TensorSpec(INPUTS[i][0], INPUTS[i][1], name=i) for i in SIGNATURES[name][0]]


def warmup_inputs(name: str, item_ids: list[str]) -> dict[str, np.ndarray]:
    items = list(item_ids[:3]) + [""] * max(0, 3 - len(item_ids))
    return {i: INPUTS[i][2](items) for i in SIGNATURES[name][0]}


def _score(graph: ServingGraph, user_id, history_item_ids, candidate_item_ids) -> dict:
    """Every head's score of each (user, candidate) pair; unknown candidates score 0."""
    user, _ = graph.user_embedding(user_id, history_item_ids)
    candidates = graph.lookup(graph.checked(candidate_item_ids, width=tf.shape(candidate_item_ids)[1]))
    n = tf.shape(candidates)[1]
    items = tf.gather(graph.item_vectors, candidates)
    users = tf.repeat(user[:, None, :], n, axis=1)
    bins = tf.repeat(tf.cast(tf.strings.to_hash_bucket_fast(user_id, graph.vocab.user_bins), tf.int32)[:, None], n, 1)
    flat = lambda x: tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))  # noqa: E731
    shape = tf.shape(candidates)
    out = {"retrieval_score": tf.reduce_sum(users * items, axis=-1)}
    if graph.model.rating_head is not None:
        rating = graph.model.rating_head(flat(users), flat(items), flat(bins), flat(candidates), training=False)
        out["rating"] = tf.reshape(rating, shape)
    if graph.model.click_head is not None:
        logits = graph.model.click_head(flat(users), flat(items), flat(bins), flat(candidates), training=False)
        out["click_probability"] = tf.reshape(tf.sigmoid(logits), shape)
    known = candidates > 0
    return {k: tf.where(known, v, 0.0) for k, v in out.items()} | {"known": known}


def signature_functions(graph: ServingGraph) -> dict:
    """name -> (function, input signature) for the signatures the model can serve (`SIGNATURES`).
    Each is a closure (never default arguments: those are traced as inputs and fail with
    NotEncodableError). One short closure per signature, checked against the `SIGNATURES` table."""
    def recommend(user_id, history_item_ids, exclude_item_ids, k):
        return graph.recommend(user_id, history_item_ids, exclude_item_ids, k)

    def recommend_in_context(user_id, history_item_ids, exclude_item_ids, k, hour, weekday, device, mmr_lambda,
                             max_per_category, include_history):
        return graph.recommend(user_id, history_item_ids, exclude_item_ids, k, mmr_lambda, max_per_category,
                               context=(hour, weekday, device), include_history=include_history)

    def search(query, k):
        scores, ids = graph.search(query, k)
        return {"item_ids": ids, "scores": scores}

    def recommend_diverse(user_id, history_item_ids, exclude_item_ids, k, mmr_lambda, max_per_category):
        return graph.recommend(user_id, history_item_ids, exclude_item_ids, k, mmr_lambda, max_per_category)

    def search_diverse(query, k, mmr_lambda, max_per_category):
        scores, ids = graph.search(query, k, None, mmr_lambda, max_per_category)
        return {"item_ids": ids, "scores": scores}

    def search_personalized(query, user_id, history_item_ids, k):
        user, _ = graph.user_embedding(user_id, history_item_ids)
        scores, ids = graph.search(query, k, user)
        return {"item_ids": ids, "scores": scores}

    def similar_items(item_id, k):
        return graph.similar_items(item_id, k)

    def similar_to_text(item_text, k):
        text = graph.item_encoder(tf.strings.substr(item_text, 0, 4096, unit="UTF8_CHAR"), training=False)
        zeros = tf.zeros_like(tf.strings.length(item_text))
        vectors = graph.model.item_tower.embed_features(text, zeros, zeros, zeros, training=False)
        scores, ids = graph.retrieve(vectors, k)
        return {"item_ids": ids, "scores": scores}

    def score(user_id, history_item_ids, candidate_item_ids):
        return _score(graph, user_id, history_item_ids, candidate_item_ids)

    def embed_query(query):
        return {"embedding": graph.query_embedding(query)}

    def embed_items(item_id):
        return {"embedding": tf.gather(graph.item_vectors, graph.lookup(item_id)),
                "known": graph.lookup(item_id) > 0}

    local = locals()
    searching = graph.model.query_tower is not None and graph.query_encoder is not None
    functions = {name: (local[name], input_specs(name)) for name, (_, needs_query) in SIGNATURES.items()
                 if searching or not needs_query}
    _check_arguments(functions)
    functions["serving_default"] = functions[DEFAULT_SIGNATURE]
    return functions


def _check_arguments(functions: dict) -> None:
    """A signature function's arguments are its inputs, in the order `SIGNATURES` lists them."""
    for name, (function, _) in functions.items():
        if tuple(inspect.signature(function).parameters) != SIGNATURES[name][0]:
            raise RuntimeError(f"signature {name!r}: the function takes {tuple(inspect.signature(function).parameters)} "
                               f"but SIGNATURES lists {SIGNATURES[name][0]}")
