"""Vocabularies: string values -> contiguous indices (0 = out of vocabulary), saved with the run.

Item ids use an exact vocabulary over the catalog (the retrieval index needs item identity);
users are hashed into `user_bins` buckets (new users at serving time still get an embedding).
The same lookups run in tf.data pipelines and inside exported signatures (`keras.layers.StringLookup`
and `keras.layers.Hashing` are plain TF ops).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.atomic import atomic_write_text
from recsys_tf.constants import EVENT_TYPES

PRICE_BUCKET_EDGES = [5, 10, 20, 35, 50, 75, 100, 150, 250, 400, 700, 1200]  # 0 = unknown price
EVENT_VOCABULARY = list(EVENT_TYPES)  # index = 1 + position
RECENCY_BUCKETS = 16


@dataclass
class Vocabularies:
    items: list[str]
    categories: list[str]
    brands: list[str]
    devices: list[str] = field(default_factory=list)
    user_bins: int = 10_000

    @classmethod
    def from_dataset(cls, items: pd.DataFrame, events: pd.DataFrame, user_bins: int | None = None) -> Vocabularies:
        devices = events["device"].dropna().astype(str).unique() if "device" in events.columns else []
        return cls.from_catalog(items, devices, int(events["user_id"].nunique()), user_bins)

    @classmethod
    def from_catalog(cls, items: pd.DataFrame, devices, n_users: int, user_bins: int | None = None) -> Vocabularies:
        """From the catalog table and what the events contribute (distinct devices, user count):
        what an out-of-core pipeline computes with combiners."""
        return cls(items=items["item_id"].astype(str).tolist(),
                   categories=sorted(items["category"].astype(str).unique()),
                   brands=sorted(items["brand"].astype(str).unique()),
                   devices=[d for d in sorted(set(devices)) if d], user_bins=user_bins or auto_user_bins(n_users))

    # index lookups in numpy (pipelines); 0 = OOV
    def item_index(self, ids) -> np.ndarray:
        return self._lookup("items", ids)

    def category_index(self, values) -> np.ndarray:
        return self._lookup("categories", values)

    def brand_index(self, values) -> np.ndarray:
        return self._lookup("brands", values)

    def device_index(self, values) -> np.ndarray:
        return self._lookup("devices", values)

    def _lookup(self, name: str, values) -> np.ndarray:
        """`VocabularyLookup` of the `name` vocabulary, built on first use and again only when that
        list is replaced or grows (kept outside the dataclass fields: not saved, not compared)."""
        vocabulary = getattr(self, name)
        cache = self.__dict__.setdefault("_lookups", {})
        built_from, size, lookup = cache.get(name, (None, 0, None))
        if built_from is not vocabulary or size != len(vocabulary):  # holding the list keeps its identity
            lookup = VocabularyLookup(vocabulary)
            cache[name] = (vocabulary, len(vocabulary), lookup)
        return lookup(values)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: str | Path) -> Vocabularies:
        return cls(**json.loads(Path(path).read_text()))


class VocabularyLookup:
    """values -> 1 + position in a vocabulary (compared as strings; the last occurrence of a repeated
    entry wins, as in a dict built in order), 0 when absent or null.

    The vocabulary's hash table (pandas' C code) is built once; a call factorises its values
    (`pd.factorize`: Arrow's dictionary encoding for Arrow strings, no Python string per value) and
    looks up each distinct value once, so a batch costs one pass over its values."""

    def __init__(self, vocabulary):
        last = {str(v): i for i, v in enumerate(vocabulary)}
        self.index = pd.Index(list(last), dtype=object)
        self.positions = np.array(list(last.values()) + [-1], np.int64)  # not found (-1): the -1, so 0

    def __call__(self, values) -> np.ndarray:
        if not isinstance(values, (pd.Series, pd.Index)):
            values = np.asarray(values, dtype=object)
        codes, distinct = pd.factorize(values)
        keys = pd.Index(distinct).astype(str).to_numpy(object)
        found = self.index.get_indexer(keys)
        indices = np.append(self.positions[found] + 1, 0).astype(np.int32)  # the null code -1 picks the 0
        return indices[codes]


MAX_AUTO_USER_BINS = 2**18


def auto_user_bins(n_users: int) -> int:
    """The automatic hashed-user bucket count: the smallest power of two > 2 x users (at least 64),
    capped at MAX_AUTO_USER_BINS (262,144), reached at 65,536 users.

    Past the cap more users share each bucket and the history-aware tower carries them (it is
    trained with user-id dropout for that). The cap was chosen on validation, where sharing cost
    nothing measurable: 29k synthetic users in 8,192 / 32,768 / 65,536 buckets all reach recall@10
    0.212 after one epoch, 294k users in 65,536 buckets 0.218, and Online Retail's 4,334 users in
    1,024 / 4,096 / 16,384 buckets 0.234 / 0.234 / 0.233 after three (docs/scale.md). What sharing
    saves is memory: a 2^20-bucket table with its Adam slots took a 10M-event training run from 2.6
    to 3.2 GB. Set `model.user_bins` to choose another size."""
    return min(MAX_AUTO_USER_BINS, max(64, 1 << (2 * n_users).bit_length()))


def price_bucket(prices) -> np.ndarray:
    prices = np.asarray(pd.to_numeric(pd.Series(prices), errors="coerce"), dtype=float)
    buckets = np.searchsorted(PRICE_BUCKET_EDGES, np.nan_to_num(prices, nan=-1.0), side="right") + 1
    return np.where(np.isnan(prices), 0, buckets).astype(np.int32)


# hours h between a history event and the prediction time go to bucket floor(log2(h + 1)) + 1, i.e.
# one past the number of edges 2**k - 1 hours (k >= 1) they reach; integer seconds are compared
# exactly, and a binary search over 14 edges is ~13x faster than the logarithm
RECENCY_EDGES_SECONDS = 3600 * (2 ** np.arange(1, RECENCY_BUCKETS - 1, dtype=np.int64) - 1)


def recency_bucket(seconds) -> np.ndarray:
    """floor(log2(hours + 1)) + 1 of the seconds between a history event and the prediction time,
    in [1, RECENCY_BUCKETS-1] (negative seconds count as 0)."""
    return (np.searchsorted(RECENCY_EDGES_SECONDS, np.asarray(seconds), side="right") + 1).astype(np.int32)


def hash_user_ids_to_bins(user_ids, bins: int) -> np.ndarray:
    """Same bucketing as `keras.layers.Hashing(num_bins=bins)` (FarmHash64), so training pipelines
    and export graphs agree."""
    import tensorflow as tf

    return tf.strings.to_hash_bucket_fast(tf.constant(np.asarray(user_ids, dtype=object).astype(str)),
                                          bins).numpy().astype(np.int32)
