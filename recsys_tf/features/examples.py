"""Training / evaluation examples: one per event, with the user's history before it, as numpy
arrays (`data prepare` writes them as shards: `features.shards`); `with_query_vectors` attaches the
frozen query vectors to a tf.data pipeline of them.

Every example carries all task inputs; each task's loss masks the rows that apply
(`has_query` for search, `has_rating` for rating), so one shuffled stream feeds every task.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_tf.data.schema import EVENT_STRENGTH
from recsys_tf.features.vocabulary import (
    EVENT_VOCABULARY,
    Vocabularies,
    VocabularyLookup,
    hash_user_ids_to_bins,
    recency_bucket,
)

CLICK_EVENTS = {"click", "cart", "purchase", "search_click", "rating"}

_event_index = VocabularyLookup(EVENT_VOCABULARY)  # event type -> 1 + position, 0 when unknown


def _history_positions(target_events: pd.DataFrame, history_events: pd.DataFrame, same_frame: bool):
    """`(order, start, cut)`: the history rows sorted by (user, timestamp, row order), and for each
    target the slice `order[start:cut]` of its user's history rows that come before it."""
    users = pd.concat([history_events["user_id"], target_events["user_id"]], ignore_index=True).astype(str)
    codes = pd.factorize(users)[0].astype(np.int64)
    hist_codes, target_codes = codes[:len(history_events)], codes[len(history_events):]
    hist_times = history_events["timestamp"].to_numpy(np.int64)
    order = np.lexsort((np.arange(len(history_events)), hist_times, hist_codes))
    sorted_codes, sorted_times = hist_codes[order], hist_times[order]
    start = np.searchsorted(sorted_codes, target_codes, side="left")
    if same_frame:
        # the target is itself a history row: everything before it in (timestamp, row order)
        position = np.empty(len(order), np.int64)
        position[order] = np.arange(len(order))
        return order, start, position
    # the history rows at or before the target's timestamp: one search over (user, time) keys
    # (loaders keep timestamps in [0, 2100-01-01) at most, below 2**33 seconds)
    keys = (sorted_codes << 33) | sorted_times
    target_keys = (target_codes << 33) | target_events["timestamp"].to_numpy(np.int64)
    return order, start, np.searchsorted(keys, target_keys, side="right")


def build_examples(target_events: pd.DataFrame, history_events: pd.DataFrame, vocab: Vocabularies,
                   max_history: int, query_index: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """One example per row of `target_events`; its history = the most recent `max_history` of the
    user's `history_events` before it, right-aligned, 0-padded.

    "Before" is (timestamp, row order): when `target_events` *is* `history_events` (training
    examples) a row's history is the user's rows before it, so the lines of one basket (one
    timestamp) see the lines before them, as a next-item model is asked at serving time; for other
    targets (validation, test) it is the history rows at or before the target's timestamp — every
    split puts the tied train/validation rows of a user before its later split's row."""
    same_frame = target_events is history_events
    targets = target_events.reset_index(drop=True)
    n = len(targets)
    order, start, cut = _history_positions(targets, history_events.reset_index(drop=True), same_frame)
    hist_items = vocab.item_index(history_events["item_id"])[order]
    hist_events = _event_index(history_events["event"])[order]
    hist_times = history_events["timestamp"].to_numpy(np.int64)[order]
    t_times = targets["timestamp"].to_numpy(np.int64)
    slots = cut[:, None] - max_history + np.arange(max_history)[None, :]  # right-aligned
    valid = slots >= start[:, None]
    slots = np.where(valid, slots, 0)
    if len(order):
        items = np.where(valid, hist_items[slots], 0).astype(np.int32)
        events = np.where(valid, hist_events[slots], 0).astype(np.int32)
        recency = np.where(valid, recency_bucket(t_times[:, None] - hist_times[slots]), 0).astype(np.int32)
    else:
        items = events = recency = np.zeros((n, max_history), np.int32)
    t_users = targets["user_id"].astype(str).to_numpy()
    when = pd.to_datetime(t_times, unit="s", utc=True)
    queries = targets["query"].astype(str).to_numpy() if "query" in targets.columns else np.full(n, "")
    ratings = targets["rating"].to_numpy(np.float32) if "rating" in targets.columns else np.full(n, np.nan, np.float32)
    device = vocab.device_index(targets["device"]) if "device" in targets.columns \
        else np.zeros(n, np.int32)
    example = {
        "user_bin": hash_user_ids_to_bins(t_users, vocab.user_bins) if n else np.zeros(0, np.int32),
        "history_items": items, "history_events": events, "history_recency": recency,
        "hour": when.hour.to_numpy().astype(np.int32), "weekday": when.day_of_week.to_numpy().astype(np.int32),
        "device": device,
        "target_item": vocab.item_index(targets["item_id"]),
        "event": _event_index(targets["event"]),
        "weight": targets["event"].astype(str).map(EVENT_STRENGTH).fillna(1.0).to_numpy(np.float32),
        "has_query": (queries != "").astype(np.float32),
        "rating": np.nan_to_num(ratings, nan=0.0).astype(np.float32),
        "has_rating": (~np.isnan(ratings)).astype(np.float32),
        "click": targets["event"].astype(str).isin(CLICK_EVENTS).to_numpy(np.float32),
    }
    if query_index is not None:
        codes, distinct = pd.factorize(queries)  # look up each distinct query once
        index = np.array([query_index.get(q, 0) for q in distinct] + [0], np.int32)
        example["query_index"] = index[codes]  # a null's code -1 picks the final 0
    else:
        example["query_text"] = queries.astype(object)
    return example


def with_query_vectors(batches, query_vectors):
    """Batches whose `query_index` becomes `query_vector` (a row of the `query_vectors` tensor, which
    every epoch's pipeline gathers from without copying it), prefetched."""
    import tensorflow as tf

    if query_vectors is not None:

        def attach(batch):
            batch = dict(batch)
            batch["query_vector"] = tf.gather(query_vectors, batch.pop("query_index"))
            return batch

        batches = batches.map(attach, num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)
