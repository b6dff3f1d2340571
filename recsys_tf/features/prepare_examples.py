"""`recsys-tf data prepare`: a split dataset -> sharded examples (`features.shards`).

Two writers give the same examples: `prepare_in_process` (pandas/NumPy, for data that fits one
machine) and `features.beam_prepare.prepare_with_beam` (an Apache Beam pipeline for any runner).
Both cut the events into groups of whole users and call `users_examples` on each group: examples
depend only on the user's own events (history, user bin) and on global vocabularies, so any
partition by user gives the same examples as the whole table at once.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.features import shards
from recsys_tf.features.examples import build_examples

EVENT_COLUMNS = ("user_id", "item_id", "event", "timestamp", "rating", "query", "device", "split")
"""The event columns examples are built from (`device` when the data has it)."""


def distinct_queries(queries) -> list[str]:
    """The sorted distinct non-empty query texts (`query_index` i > 0 is the i-th)."""
    distinct = pd.unique(pd.Series(np.asarray(queries, dtype=object)).astype(str).to_numpy(object))
    return sorted(q for q in distinct if q != "")


def numbered_events(events: pd.DataFrame) -> pd.DataFrame:
    """The events with a `row` column: each row's position in the dataset's events file."""
    events = events.reset_index(drop=True)
    events.insert(0, "row", np.arange(len(events), dtype=np.int64))
    return events


def users_examples(events: pd.DataFrame, vocab, max_history: int, query_index: dict[str, int]) -> dict:
    """split -> examples of a group of whole users. `events`: all their events with the `row`
    column (position in the dataset's events file), sorted by `row`."""
    out = {}
    split = events["split"].astype(str).to_numpy()
    train = events[split == "train"]
    for name, sources in shards.SPLIT_SOURCES.items():
        targets = train if name == "train" else events[split == name]
        history = train if sources == ("train",) else events[np.isin(split, sources)]
        examples = build_examples(targets, history, vocab, max_history, query_index)
        examples["row"] = targets["row"].to_numpy(np.int64)
        examples["user_id"] = targets["user_id"].astype(str).to_numpy()
        out[name] = examples
    return out


def _user_groups(events: pd.DataFrame, users_per_group: int):
    """The events of consecutive groups of `users_per_group` users, each sorted by `row`."""
    codes = pd.factorize(events["user_id"].astype(str))[0]
    order = np.lexsort((events["row"].to_numpy(), codes))
    sorted_codes = codes[order]
    for first in range(0, int(codes.max()) + 1 if len(codes) else 0, users_per_group):
        lo, hi = np.searchsorted(sorted_codes, [first, first + users_per_group])
        yield events.iloc[np.sort(order[lo:hi])]


def prepare_in_process(data_dir: str | Path, out: str | Path, *, max_history: int, user_bins: int | None = None,
                       num_shards: int = 2, users_per_group: int = 50_000, log=print) -> dict:
    """Write the examples of a split dataset to `out` (replacing a previous set only when complete)."""
    from recsys_tf.data.schema import read_dataset
    from recsys_tf.features.catalog import Catalog
    from recsys_tf.features.vocabulary import Vocabularies

    dataset = read_dataset(data_dir)
    dataset.split("train")  # fails with the fix when the data is not split
    events = numbered_events(dataset.events[[c for c in EVENT_COLUMNS if c in dataset.events.columns]])
    vocab = Vocabularies.from_dataset(dataset.items, events, user_bins)
    queries = distinct_queries(events["query"])
    query_index = {q: i + 1 for i, q in enumerate(queries)}
    out, tmp = Path(out), shards.new_temporary(Path(out))
    try:
        writers = {name: shards.SplitWriter(tmp, name, num_shards) for name in shards.SPLIT_SOURCES}
        try:
            for group in _user_groups(events, users_per_group):
                for name, examples in users_examples(group, vocab, max_history, query_index).items():
                    writers[name].write(examples)
        finally:
            splits = {name: writer.close() for name, writer in writers.items()}
        manifest = shards.publish(tmp, out, vocab=vocab, queries=queries, splits=splits, max_history=max_history,
                                  events_hash=shards.events_fingerprint(events),
                                  texts_hash=shards.texts_fingerprint(Catalog.from_items(dataset.items, vocab).texts),
                                  writer="in-process")
    except BaseException:
        shards.discard(tmp)
        raise
    if log:
        log(f"wrote {out}: " + ", ".join(f"{k} {v['examples']} examples" for k, v in manifest["splits"].items()))
    return manifest
