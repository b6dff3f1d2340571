"""Train / validation / test splits. Each strategy returns the events with a `split` column.

* ``temporal-last`` (default): per user, ordered by time, the last event is test and the one
  before it validation; users with fewer than 3 events stay wholly in train.
* ``temporal-global``: everything before the validation cut is train, then validation, then test
  (cuts at time quantiles or given timestamps).
* ``random``: the TFRS tutorials' protocol — a seeded permutation of interactions; the first
  ``1 - test_fraction`` are train (the last ``validation_fraction`` of those validation), the rest test.
* ``cold-start-items``: the most recently introduced ``test_fraction`` of items (by first event)
  put all their events in test, the next ``validation_fraction`` in validation: none is seen in training.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys_tf.constants import SPLIT_STRATEGIES
from recsys_tf.data.schema import Dataset
from recsys_tf.errors import InputError

STRATEGIES = SPLIT_STRATEGIES


def check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise InputError(f"`{name}` must be in [0, 1). Received: {name}={value}. Fix: e.g. --{name.replace('_', '-')} 0.2")


def split_events(events: pd.DataFrame, strategy: str = "temporal-last", *, test_fraction: float = 0.2,
                 validation_fraction: float = 0.0, seed: int = 42, test_cutoff: int | None = None,
                 validation_cutoff: int | None = None) -> pd.DataFrame:
    check_fraction("test_fraction", test_fraction)
    check_fraction("validation_fraction", validation_fraction)
    events = events.drop(columns=["split"], errors="ignore").reset_index(drop=True)
    split = np.full(len(events), "train", dtype=object)
    if strategy == "temporal-last":
        ordered = events.assign(_i=np.arange(len(events))).sort_values(["user_id", "timestamp", "_i"], kind="stable")
        rank_from_end = ordered.groupby("user_id").cumcount(ascending=False).to_numpy()
        size = ordered.groupby("user_id")["_i"].transform("size").to_numpy()
        idx = ordered["_i"].to_numpy()
        split[idx[(rank_from_end == 0) & (size >= 3)]] = "test"
        split[idx[(rank_from_end == 1) & (size >= 3)]] = "validation"
    elif strategy == "temporal-global":
        ts = events["timestamp"].to_numpy()
        test_cut = test_cutoff if test_cutoff is not None else np.quantile(ts, 1 - (test_fraction or 0.1))
        val_frac = validation_fraction or 0.1
        val_cut = validation_cutoff if validation_cutoff is not None else np.quantile(
            ts, max(0.0, 1 - (test_fraction or 0.1) - val_frac))
        split[ts >= val_cut] = "validation"
        split[ts >= test_cut] = "test"
    elif strategy == "random":
        permutation = np.random.default_rng(seed).permutation(len(events))
        n_train = int(round(len(events) * (1 - test_fraction)))
        n_val = int(round(n_train * validation_fraction))
        split[permutation[n_train:]] = "test"
        split[permutation[n_train - n_val:n_train]] = "validation"
    elif strategy == "cold-start-items":
        first_seen = events.groupby("item_id")["timestamp"].min().sort_values(kind="stable")
        n_items = len(first_seen)
        n_test = max(1, int(round(n_items * (test_fraction or 0.1))))
        n_val = int(round(n_items * validation_fraction))
        test_items = set(first_seen.index[n_items - n_test:])
        val_items = set(first_seen.index[n_items - n_test - n_val:n_items - n_test])
        split[events["item_id"].isin(val_items).to_numpy()] = "validation"
        split[events["item_id"].isin(test_items).to_numpy()] = "test"
    else:
        raise InputError(f"`strategy` must be one of {STRATEGIES}. Received: strategy={strategy!r}.")
    return events.assign(split=pd.Series(split, dtype="string"))


def split_dataset(dataset: Dataset, strategy: str = "temporal-last", **kwargs) -> Dataset:
    events = split_events(dataset.events, strategy, **kwargs)
    info = dict(dataset.info)
    info["split"] = {"strategy": strategy, **{k: v for k, v in kwargs.items() if v is not None}}
    return Dataset(items=dataset.items, events=events, users=dataset.users, judgments=dataset.judgments,
                   info=info, rejects=dataset.rejects)
