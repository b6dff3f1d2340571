"""Training / evaluation examples: one per event, with the user's history before it, as numpy
arrays; `make_dataset` turns them into a tf.data pipeline.

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
    hash_user_ids_to_bins,
    recency_bucket,
)

CLICK_EVENTS = {"click", "cart", "purchase", "search_click", "rating"}


def _event_index(events: pd.Series) -> np.ndarray:
    table = {e: i + 1 for i, e in enumerate(EVENT_VOCABULARY)}
    return events.astype(str).map(table).fillna(0).to_numpy(np.int32)


def build_examples(target_events: pd.DataFrame, history_events: pd.DataFrame, vocab: Vocabularies,
                   max_history: int, query_index: dict[str, int] | None = None) -> dict[str, np.ndarray]:
    """One example per row of `target_events`. A target's history = the user's events in
    `history_events` strictly before the target's timestamp (or, for the same timestamp, earlier
    rows), the most recent `max_history`, right-aligned, 0-padded."""
    hist = history_events.sort_values(["user_id", "timestamp"], kind="stable")
    hist_users = hist["user_id"].astype(str).to_numpy()
    hist_items = vocab.item_index(hist["item_id"].to_numpy())
    hist_events = _event_index(hist["event"])
    hist_times = hist["timestamp"].to_numpy(np.int64)
    starts = {u: i for i, u in reversed(list(enumerate(hist_users)))}
    ends = {u: i + 1 for i, u in enumerate(hist_users)}

    targets = target_events.reset_index(drop=True)
    n = len(targets)
    items = np.zeros((n, max_history), np.int32)
    events = np.zeros((n, max_history), np.int32)
    recency = np.zeros((n, max_history), np.int32)
    t_users = targets["user_id"].astype(str).to_numpy()
    t_times = targets["timestamp"].to_numpy(np.int64)
    for row in range(n):
        user = t_users[row]
        if user not in starts:
            continue
        lo, hi = starts[user], ends[user]
        cut = lo + int(np.searchsorted(hist_times[lo:hi], t_times[row], side="left"))
        take = slice(max(lo, cut - max_history), cut)
        length = take.stop - take.start
        if length <= 0:
            continue
        items[row, -length:] = hist_items[take]
        events[row, -length:] = hist_events[take]
        recency[row, -length:] = recency_bucket(t_times[row] - hist_times[take])
    when = pd.to_datetime(t_times, unit="s", utc=True)
    queries = targets["query"].astype(str).to_numpy() if "query" in targets.columns else np.full(n, "")
    ratings = targets["rating"].to_numpy(np.float32) if "rating" in targets.columns else np.full(n, np.nan, np.float32)
    device = vocab.device_index(targets["device"].astype(str).to_numpy()) if "device" in targets.columns \
        else np.zeros(n, np.int32)
    example = {
        "user_bin": hash_user_ids_to_bins(t_users, vocab.user_bins) if n else np.zeros(0, np.int32),
        "history_items": items, "history_events": events, "history_recency": recency,
        "hour": when.hour.to_numpy().astype(np.int32), "weekday": when.day_of_week.to_numpy().astype(np.int32),
        "device": device,
        "target_item": vocab.item_index(targets["item_id"].to_numpy()),
        "event": _event_index(targets["event"]),
        "weight": targets["event"].astype(str).map(EVENT_STRENGTH).fillna(1.0).to_numpy(np.float32),
        "has_query": (queries != "").astype(np.float32),
        "rating": np.nan_to_num(ratings, nan=0.0).astype(np.float32),
        "has_rating": (~np.isnan(ratings)).astype(np.float32),
        "click": targets["event"].astype(str).isin(CLICK_EVENTS).to_numpy(np.float32),
    }
    if query_index is not None:
        example["query_index"] = np.array([query_index.get(q, 0) for q in queries], np.int32)
    else:
        example["query_text"] = queries.astype(object)
    return example


def make_dataset(examples: dict[str, np.ndarray], batch_size: int, shuffle: bool, seed: int,
                 query_vectors: np.ndarray | None = None, epoch: int = 0, drop_remainder: bool = False):
    """tf.data pipeline. With `query_vectors` ((n_queries + 1, d), row 0 = no query) the
    `query_index` feature becomes `query_vector` (frozen text mode)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(examples)
    if shuffle:
        # seeded per epoch: a resumed run replays exactly the batches it had not seen
        dataset = dataset.shuffle(len(examples["target_item"]), seed=seed + epoch, reshuffle_each_iteration=False)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if query_vectors is not None:
        table = tf.constant(query_vectors)

        def attach(batch):
            batch = dict(batch)
            batch["query_vector"] = tf.gather(table, batch.pop("query_index"))
            return batch

        dataset = dataset.map(attach, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
