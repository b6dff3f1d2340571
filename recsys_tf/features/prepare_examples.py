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


EVENTS_PER_BUCKET = 200_000
"""Events of one bucket of users: what a writer holds at once while it builds examples."""
READ_BATCH = 262_144  # events read from the events file at a time
_HASH_MODULUS = 2 ** 64


def event_file_layout(data_dir: Path) -> tuple[list[str], int]:
    """The example-relevant columns of a split dataset's events file and its row count, from the
    Parquet metadata alone; fails with the fix when the events are not split."""
    import pyarrow.parquet as pq

    from recsys_tf.data.schema import EVENTS_FILE
    from recsys_tf.errors import InputError

    path = Path(data_dir) / EVENTS_FILE
    if not path.exists():
        raise InputError(f"{data_dir} has no {EVENTS_FILE}. Fix: pass a dataset directory written by "
                         "`recsys-tf data load`/`synth` and split by `recsys-tf data split`.")
    metadata = pq.ParquetFile(path).metadata
    columns = [c for c in EVENT_COLUMNS if c in metadata.schema.names]
    if "split" not in columns:
        raise InputError(f"{path} has no `split` column. "
                         f"Fix: run `recsys-tf data split {data_dir} --out SPLIT_DIR` and prepare SPLIT_DIR.")
    return columns, metadata.num_rows


def user_bucket_keys(user_ids, buckets: int) -> np.ndarray:
    """A stable hash bucket per user id (the same on every machine and run)."""
    keys = pd.util.hash_array(np.asarray(user_ids, dtype=object).astype(str).astype(object))
    return (keys % np.uint64(buckets)).astype(np.int64)


def partial_summary(frame: pd.DataFrame) -> dict:
    """What the vocabularies and the manifest need from some event rows; `merge_summaries` adds them up."""
    devices = frame["device"].dropna().astype(str).unique().tolist() if "device" in frame.columns else []
    return {"devices": set(devices), "queries": set(distinct_queries(frame["query"])),
            "users": 0, "hash": shards.events_fingerprint(frame)}


def merge_summaries(parts) -> dict:
    out = {"devices": set(), "queries": set(), "users": 0, "hash": 0}
    for part in parts:
        out["devices"] |= part["devices"]
        out["queries"] |= part["queries"]
        out["users"] += part["users"]
        out["hash"] = (out["hash"] + part["hash"]) % _HASH_MODULUS
    return out


def numbered_batches(events_path: Path, columns: list[str], read_batch: int):
    """The events file as Arrow tables of `read_batch` rows, each with its rows' positions (`row`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    offset = 0
    for batch in pq.ParquetFile(events_path).iter_batches(batch_size=read_batch, columns=columns):
        table = pa.Table.from_batches([batch])
        yield table.add_column(0, "row", pa.array(np.arange(offset, offset + len(table), dtype=np.int64)))
        offset += len(table)
    # Arrow's allocator keeps freed batches for reuse: hand them back, or a training process that
    # read the events once would keep ~0.25 GB of them (10M events) for the whole run
    pa.default_memory_pool().release_unused()


def events_file_fingerprint(data_dir: str | Path, read_batch: int = READ_BATCH) -> int:
    """`shards.events_fingerprint` of a split dataset's whole events file, read in batches: the
    value a manifest records for the events it was prepared from."""
    from recsys_tf.data.schema import EVENTS_FILE

    columns, _ = event_file_layout(Path(data_dir))
    total = 0
    for table in numbered_batches(Path(data_dir) / EVENTS_FILE, columns, read_batch):
        total = (total + shards.events_fingerprint(table.to_pandas())) % _HASH_MODULUS
    return total


def events_file_queries(data_dir: str | Path, read_batch: int = READ_BATCH) -> list[str]:
    """`distinct_queries` of a dataset's events file, reading only its `query` column in batches."""
    import pyarrow.parquet as pq

    from recsys_tf.data.schema import EVENTS_FILE

    queries: set[str] = set()
    for batch in pq.ParquetFile(Path(data_dir) / EVENTS_FILE).iter_batches(batch_size=read_batch, columns=["query"]):
        queries.update(distinct_queries(batch.column(0).to_numpy(zero_copy_only=False)))
    return sorted(queries)


def _spill_by_bucket(events_path: Path, columns: list[str], buckets: int, spill: Path,
                     read_batch: int) -> tuple[dict, list[Path]]:
    """Pass 1: read the events file by batches, summarise them and append each batch's rows to its
    users' bucket file (Arrow, no Python per row). Returns the summary and the bucket files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    spill.mkdir()
    writers, summary = {}, merge_summaries([])
    try:
        for table in numbered_batches(events_path, columns, read_batch):
            summary = merge_summaries([summary, partial_summary(table.to_pandas())])
            keys = user_bucket_keys(table.column("user_id").to_numpy(zero_copy_only=False), buckets)
            order = np.argsort(keys, kind="stable")
            bounds = np.searchsorted(keys[order], np.arange(buckets + 1))
            for bucket in np.flatnonzero(np.diff(bounds)):
                part = table.take(pa.array(order[bounds[bucket]:bounds[bucket + 1]]))
                if bucket not in writers:
                    writers[bucket] = pq.ParquetWriter(spill / f"bucket-{bucket:05d}.parquet", part.schema)
                writers[bucket].write_table(part)
    finally:
        for writer in writers.values():
            writer.close()
    return summary, [spill / f"bucket-{b:05d}.parquet" for b in sorted(writers)]


def prepare_in_process(data_dir: str | Path, out: str | Path, *, max_history: int, user_bins: int | None = None,
                       num_shards: int = 2, events_per_bucket: int = EVENTS_PER_BUCKET, read_batch: int = READ_BATCH,
                       log=print) -> dict:
    """Write the examples of a split dataset to `out` (replacing a previous set only when complete),
    holding one bucket of users' events at a time: pass 1 spills the events file into buckets of
    whole users (`_spill_by_bucket`), pass 2 builds each bucket's examples with `users_examples`."""
    import pyarrow.parquet as pq

    from recsys_tf.data.schema import EVENTS_FILE, read_items
    from recsys_tf.features.catalog import Catalog
    from recsys_tf.features.vocabulary import Vocabularies

    data_dir = Path(data_dir)
    items = read_items(data_dir)
    columns, n_events = event_file_layout(data_dir)
    buckets = max(1, -(-n_events // events_per_bucket))
    out, tmp = Path(out), shards.new_temporary(Path(out))
    try:
        summary, bucket_files = _spill_by_bucket(data_dir / EVENTS_FILE, columns, buckets, tmp / ".spill", read_batch)
        n_users = sum(len(pq.read_table(f, columns=["user_id"]).column("user_id").unique()) for f in bucket_files)
        vocab = Vocabularies.from_catalog(items, summary["devices"], n_users, user_bins)
        queries = sorted(summary["queries"])
        query_index = {q: i + 1 for i, q in enumerate(queries)}
        writers = {name: shards.SplitWriter(tmp, name, num_shards) for name in shards.SPLIT_SOURCES}
        try:
            for path in bucket_files:
                events = pd.read_parquet(path).sort_values("row", kind="stable").reset_index(drop=True)
                for name, examples in users_examples(events, vocab, max_history, query_index).items():
                    writers[name].write(examples)
                path.unlink()
        finally:
            splits = {name: writer.close() for name, writer in writers.items()}
        (tmp / ".spill").rmdir()
        manifest = shards.publish(tmp, out, vocab=vocab, queries=queries, splits=splits, max_history=max_history,
                                  events_hash=int(summary["hash"]),
                                  texts_hash=shards.texts_fingerprint(Catalog.from_items(items, vocab).texts),
                                  writer="in-process", users=n_users)
    except BaseException:
        shards.discard(tmp)
        raise
    if log:
        log(f"wrote {out}: " + ", ".join(f"{k} {v['examples']} examples" for k, v in manifest["splits"].items()))
    return manifest
