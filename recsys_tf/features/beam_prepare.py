"""`recsys-tf data prepare --runner R`: the examples of a split dataset as an Apache Beam pipeline.

The same pipeline runs on Beam's DirectRunner and, with their options
passed through, on Flink, Spark or Dataflow:

1. the events file is read by Parquet row group (the launcher reads only its metadata), each row
   keeping its position in the file (`row`), which orders ties exactly like the in-process writer;
2. combiners collect what the vocabularies need from the events (distinct devices and queries,
   the user count) and an order-independent fingerprint of the rows;
3. rows are keyed by a hash bucket of their user and grouped, so every group holds whole users; one
   vectorised `users_examples` call per group builds their examples (the in-process code, with the
   vocabularies as side inputs);
4. each split's records go to `WriteToTFRecord`: `num_shards` files on a cluster runner; on
   Beam's in-memory local runners the runner chooses the files (a fixed count would group every
   serialized example in memory first).

The catalog (items file) is read on the launcher: item vocabularies follow the catalog's order and
a catalog is small next to its events. The output is built in a temporary directory next to `out`
and published only when complete (`shards.publish`), so `out` must be a local or mounted path the
workers can write (for object stores, mount them, e.g. gcsfuse).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.features import shards
from recsys_tf.features.prepare_examples import (
    EVENTS_PER_BUCKET,
    event_file_layout,
    merge_summaries,
    partial_summary,
    user_bucket_keys,
    users_examples,
)

SUMMARY_FILE = "_beam_summary.json"
IN_MEMORY_RUNNERS = ("DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner")
# Beam's local runners hold what the pipeline groups in memory. Its users' events are grouped by
# bucket; a fixed file count would also group every serialized example by file before writing it,
# so on these runners the runner chooses the files (one a bundle). Peak RSS then was 1.43 / 2.47 /
# 7.27 GiB at 1M / 3M / 10M events (docs/scale.md); 1.0 GB plus 700 bytes an event covers all three
IN_MEMORY_BASE_BYTES = 1_000_000_000
IN_MEMORY_BYTES_PER_EVENT = 700


def check_runner_memory(runner: str, n_events: int, memory: int | None = None) -> None:
    """Refuse, before anything is read, a local in-memory runner that would need more memory than the
    machine has available for `n_events` events; cluster runners spread the groups over workers."""
    from recsys_tf.errors import InputError
    from recsys_tf.resources import available_memory

    if runner not in IN_MEMORY_RUNNERS:
        return
    need, have = IN_MEMORY_BASE_BYTES + IN_MEMORY_BYTES_PER_EVENT * n_events, memory or available_memory()
    if need > have:
        raise InputError(f"--runner {runner} holds the pipeline's groups in memory: {n_events:,} events would "
                         f"need ~{need / 2 ** 30:.1f} GiB, this machine has {have / 2 ** 30:.1f} GiB available. "
                         "Fix: drop --runner to prepare in process (~1 GiB at any size), or run the pipeline on a "
                         "cluster (--runner FlinkRunner, SparkRunner or DataflowRunner with its options).")


def _written(tmp: Path, split: str, files: int) -> list[str]:
    """The shard files the pipeline wrote for `split` (`files` of them; any number when 0, at least
    one: Beam writes an empty file for an empty split)."""
    names = sorted(path.name for path in tmp.glob(f"{split}-*-of-*.tfrecord"))
    if not names or (files and names != [shards.shard_name(split, i, files) for i in range(files)]):
        raise RuntimeError(f"the Beam pipeline finished with {names or 'no files'} for the {split} split in {tmp}, "
                           f"not {files or 'one or more'} files")
    return names


def _row_groups(events_path: Path) -> list[tuple[str, int, int]]:
    """(path, row group, position of its first row) of each row group of the events file."""
    import pyarrow.parquet as pq

    metadata = pq.ParquetFile(events_path).metadata
    groups, offset = [], 0
    for i in range(metadata.num_row_groups):
        groups.append((str(events_path), i, offset))
        offset += metadata.row_group(i).num_rows
    return groups


def _read_row_group(element, columns):
    import pyarrow.parquet as pq

    path, index, offset = element
    frame = pq.ParquetFile(path).read_row_group(index, columns=columns).to_pandas()
    frame.insert(0, "row", np.arange(offset, offset + len(frame), dtype=np.int64))
    yield frame


def _by_bucket(frame: pd.DataFrame, buckets: int):
    """(bucket, the frame's rows of that bucket's users)."""
    keys = user_bucket_keys(frame["user_id"].to_numpy(), buckets)
    for bucket in np.unique(keys):
        yield int(bucket), frame[keys == bucket]


def _bucket_users(element) -> dict:
    """The user count of one bucket (buckets hold disjoint users, so their counts add up)."""
    users = set()
    for frame in element[1]:
        users.update(frame["user_id"].astype(str))
    return {"devices": set(), "queries": set(), "users": len(users), "hash": 0}


def _bucket_examples(element, vocab, queries, max_history, block_size):
    _, frames = element
    events = pd.concat(list(frames), ignore_index=True).sort_values("row", kind="stable")
    query_index = {q: i + 1 for i, q in enumerate(queries)}
    from apache_beam.pvalue import TaggedOutput

    for name, examples in users_examples(events, vocab, max_history, query_index).items():
        for record in shards.serialize_blocks(examples, block_size):
            yield name, record
        yield TaggedOutput("counts", (name, len(examples["row"])))


def _build(pipeline, groups, columns, buckets, items, user_bins, max_history, block_size, num_shards, tmp):
    """The pipeline's transforms (module docstring, steps 1-4); a summary file is its last output."""
    import apache_beam as beam

    from recsys_tf.features.vocabulary import Vocabularies

    def vocabularies(_, summary):
        return Vocabularies.from_catalog(items, summary["devices"], summary["users"], user_bins)

    def write_summary(summary, counts):
        payload = {"devices": sorted(summary["devices"]), "queries": sorted(summary["queries"]),
                   "users": summary["users"], "hash": summary["hash"], "counts": dict(counts)}
        (tmp / SUMMARY_FILE).write_text(json.dumps(payload, ensure_ascii=False))

    frames = (pipeline | "row groups" >> beam.Create(groups) | beam.Reshuffle()
              | "read" >> beam.FlatMap(_read_row_group, columns))
    grouped = (frames | "bucket" >> beam.FlatMap(_by_bucket, buckets)
               | "group users" >> beam.GroupByKey())
    users = grouped | "users" >> beam.Map(_bucket_users)
    summary = ((frames | "summaries" >> beam.Map(partial_summary), users)
               | beam.Flatten() | "merge" >> beam.CombineGlobally(merge_summaries))
    vocab = (pipeline | "one" >> beam.Create([None])
             | "vocabularies" >> beam.Map(vocabularies, beam.pvalue.AsSingleton(summary)))
    queries = summary | "queries" >> beam.Map(lambda s: sorted(s["queries"]))
    outputs = grouped | "examples" >> beam.FlatMap(
        _bucket_examples, beam.pvalue.AsSingleton(vocab), beam.pvalue.AsSingleton(queries),
        max_history, block_size).with_outputs("counts", main="records")
    counts = outputs.counts | "count" >> beam.CombinePerKey(sum)
    records = outputs.records
    for name in shards.SPLIT_SOURCES:
        (records | f"{name} only" >> beam.Filter(lambda kv, n=name: kv[0] == n)
         | f"{name} bytes" >> beam.Values()
         | f"write {name}" >> beam.io.WriteToTFRecord(str(tmp / name), file_name_suffix=".tfrecord",
                                                     num_shards=num_shards, shard_name_template="-SSSSS-of-NNNNN"))
    _ = (pipeline | "once" >> beam.Create([None])
         | "summary" >> beam.Map(lambda _, s, c: write_summary(s, c), beam.pvalue.AsSingleton(summary),
                                 beam.pvalue.AsList(counts)))


def prepare_with_beam(data_dir: str | Path, out: str | Path, *, max_history: int, user_bins: int | None = None,
                      num_shards: int = 2, runner: str = "DirectRunner", pipeline_args: list[str] | None = None,
                      block_size: int = 4096, log=print) -> dict:
    """Write the examples of a split dataset to `out` with a Beam pipeline on `runner`."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from recsys_tf.data.schema import EVENTS_FILE, read_items
    from recsys_tf.features.catalog import Catalog
    from recsys_tf.features.vocabulary import Vocabularies

    data_dir, out = Path(data_dir), Path(out)
    items = read_items(data_dir)
    columns, n_events = event_file_layout(data_dir)
    check_runner_memory(runner, n_events)
    groups = _row_groups(data_dir / EVENTS_FILE)
    buckets = max(1, math.ceil(n_events / EVENTS_PER_BUCKET))
    tmp = shards.new_temporary(out)

    try:
        options = PipelineOptions(pipeline_args or [], runner=runner)
        files = 0 if runner in IN_MEMORY_RUNNERS else num_shards  # 0: the runner chooses
        with beam.Pipeline(options=options) as pipeline:
            _build(pipeline, groups, columns, buckets, items, user_bins, max_history, block_size, files, tmp)
        summary = json.loads((tmp / SUMMARY_FILE).read_text())
        (tmp / SUMMARY_FILE).unlink()
        vocab = Vocabularies.from_catalog(items, summary["devices"], summary["users"], user_bins)
        splits = {name: {"examples": int(summary["counts"].get(name, 0)), "shards": _written(tmp, name, files)}
                  for name in shards.SPLIT_SOURCES}
        manifest = shards.publish(tmp, out, vocab=vocab, queries=summary["queries"], splits=splits,
                                  max_history=max_history, events_hash=int(summary["hash"]),
                                  texts_hash=shards.texts_fingerprint(Catalog.from_items(items, vocab).texts),
                                  writer=f"beam:{runner}", users=int(summary["users"]))
    except BaseException:
        shards.discard(tmp)
        raise
    if log:
        log(f"wrote {out} on {runner}: " + ", ".join(f"{k} {v['examples']} examples"
                                                    for k, v in manifest["splits"].items()))
    return manifest
