"""The events `evaluate` needs, read from a split dataset's events file in batches: the test events
as a table (one row per evaluated query) and the train + validation events as five arrays
(user row, item index, time, purchase?, train?), 18 bytes an event instead of a pandas row of
strings, so that evaluating 10M events does not hold 10M rows of text.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

HISTORY_SPLITS = ("train", "validation")


@dataclasses.dataclass
class HistoryEvents:
    """The train + validation events, in file order, as arrays."""
    rows: np.ndarray      # int64 user row (position among the sorted distinct users of the file)
    items: np.ndarray     # int64 item index (0 = not in the run's vocabulary)
    times: np.ndarray     # int64 timestamp
    purchase: np.ndarray  # bool: event == "purchase"
    train: np.ndarray     # bool: split == "train" (else "validation")


@dataclasses.dataclass
class EvalEvents:
    test: pd.DataFrame        # the test events, every column of the file, in file order
    test_rows: np.ndarray     # user row of each test event
    history: HistoryEvents
    n_users: int              # distinct users of the train, validation and test events
    fingerprint: int          # `prepare_examples.events_file_fingerprint` of the file


def _user_codes(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, distinct = pd.factorize(pd.Series(users, dtype=object).astype(str), sort=False)
    return codes.astype(np.int64), np.asarray(distinct, dtype=object)


def _joined(arrays: list, dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)


def read_eval_events(data_dir: str | Path, vocab, read_batch: int | None = None) -> EvalEvents:
    """`EvalEvents` of a split dataset directory, holding one batch of `read_batch` rows of the file
    at a time besides the arrays (user ids become rows once every batch has been read)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from recsys_tf.data.schema import EVENTS_FILE
    from recsys_tf.features import shards
    from recsys_tf.features.prepare_examples import READ_BATCH, event_file_layout, numbered_batches

    layout, _ = event_file_layout(Path(data_dir))  # fails with the fix when the events are not split
    path = Path(data_dir) / EVENTS_FILE
    columns = pq.ParquetFile(path).schema_arrow.names
    parts: dict[str, list] = {name: [] for name in ("codes", "distinct", "test", "items", "times", "purchase", "train")}
    tests, fingerprint = [], 0
    for table in numbered_batches(path, columns, read_batch or READ_BATCH):
        fingerprint = (fingerprint + shards.events_fingerprint(table.select(["row", *layout]).to_pandas())) % 2 ** 64
        split = np.asarray(pc.cast(table.column("split"), pa.string()).to_numpy(zero_copy_only=False), dtype=object)
        is_test, keep = split == "test", np.isin(split, HISTORY_SPLITS)
        tests.append(table.filter(pa.array(is_test)).drop_columns(["row"]))
        used = keep | is_test
        codes, distinct = _user_codes(table.column("user_id").to_numpy(zero_copy_only=False)[used])
        parts["codes"].append(codes)
        parts["distinct"].append(distinct)
        parts["test"].append(is_test[used])
        parts["items"].append(vocab.item_index(table.column("item_id").to_numpy(zero_copy_only=False)[keep]))
        parts["times"].append(table.column("timestamp").to_numpy().astype(np.int64)[keep])
        purchase = pc.fill_null(pc.equal(pc.cast(table.column("event"), pa.string()), "purchase"), False)
        parts["purchase"].append(purchase.to_numpy(zero_copy_only=False)[keep])
        parts["train"].append(split[keep] == "train")
    users = np.sort(pd.unique(np.concatenate(parts["distinct"]))) if parts["distinct"] else np.zeros(0, object)
    rows = [np.searchsorted(users, distinct)[codes] for codes, distinct in zip(parts["codes"], parts["distinct"])]
    is_test, rows = _joined(parts["test"], bool), _joined(rows, np.int64)
    test = pa.concat_tables(tests).to_pandas() if tests else pd.DataFrame(columns=columns)
    history = HistoryEvents(rows[~is_test], _joined(parts["items"], np.int64), _joined(parts["times"], np.int64),
                            _joined(parts["purchase"], bool), _joined(parts["train"], bool))
    return EvalEvents(test, rows[is_test], history, len(users), fingerprint)
