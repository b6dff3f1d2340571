"""On-disk examples: sharded TFRecord files plus a manifest, written by `recsys-tf data prepare`
(in process or as an Apache Beam pipeline) and streamed by tf.data.

An examples directory:

    manifest.json        schema version, feature spec, max_history, per split the example count and
                         its shard files, fingerprints of the dataset's events and catalog texts,
                         the item, query and user counts
    vocabularies.json    `Vocabularies` (items in catalog order, categories, brands, devices, user bins)
    queries.json         the distinct query texts; an example's `query_index` i > 0 is queries[i - 1]
    train-00000-of-00002.tfrecord, validation-..., test-...

Each TFRecord record is one `tf.train.Example` holding a *block* of up to 4,096 examples: every
numeric feature is one bytes value, the block's little-endian array (`serialize_block`), so writing
and parsing are vectorised (one proto per block, not per example). `stream` parses blocks in
parallel and unbatches them to examples (`packed=True`: one int32 vector per example, `unpack` per
batch — what a shuffle buffer holds cheaply); `blocks` yields the parsed blocks themselves, for
passes over a whole split (`load_split`, training's summary).

An example = one event with its user's history before it (`features.examples.build_examples`):
train targets are the train events (history: the train events before each), validation targets see
the train events, test targets the train and validation events. `row` is the target's position in
the dataset's events file, so both writers give the same examples and tests can compare them.

A directory is complete when `manifest.json` exists: it is written last, and the directory itself is
built under a temporary name and renamed into place (`commit`), so a crash leaves the previous
complete set or none.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np

from recsys_tf.atomic import atomic_write_text
from recsys_tf.errors import InputError

SCHEMA_VERSION = 1
MANIFEST_FILE = "manifest.json"
VOCABULARIES_FILE = "vocabularies.json"
QUERIES_FILE = "queries.json"
SPLIT_SOURCES = {"train": ("train",), "validation": ("train",), "test": ("train", "validation")}
"""Each examples split and the event splits its histories are drawn from."""

INT_FEATURES = ("row", "user_bin", "hour", "weekday", "device", "target_item", "event", "query_index")
FLOAT_FEATURES = ("weight", "has_query", "rating", "has_rating", "click")
HISTORY_FEATURES = ("history_items", "history_events", "history_recency")
BYTES_FEATURES = ("user_id",)
BOOKKEEPING_FEATURES = ("row", "user_id")
"""Features that identify an example but are no model input."""


def feature_spec(max_history: int) -> dict[str, dict]:
    """name -> {"dtype", "shape"} of one example (what `stream` yields)."""
    spec = {name: {"dtype": "int32", "shape": []} for name in INT_FEATURES}
    spec["row"]["dtype"] = "int64"
    spec |= {name: {"dtype": "float32", "shape": []} for name in FLOAT_FEATURES}
    spec |= {name: {"dtype": "int32", "shape": [max_history]} for name in HISTORY_FEATURES}
    spec |= {name: {"dtype": "string", "shape": []} for name in BYTES_FEATURES}
    return spec


def serialize_block(examples: dict[str, np.ndarray]) -> bytes:
    """One `tf.train.Example` holding a block of examples (`build_examples` output plus `row` and
    `user_id`): each numeric feature is one bytes value, the block's little-endian array (int32,
    `row` int64, float32; histories row-major), which `tf.io.decode_raw` reads back; `user_id` is a
    bytes list. Raw arrays instead of int64/float lists: serialising a block costs one copy per
    feature instead of one Python number per value."""
    from tensorflow.core.example import example_pb2, feature_pb2

    def raw(values, dtype) -> feature_pb2.Feature:
        data = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
        return feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[data]))

    feature = {name: raw(examples[name], spec["dtype"]) for name, spec in feature_spec(0).items()
               if spec["dtype"] != "string"}
    for name in BYTES_FEATURES:
        feature[name] = feature_pb2.Feature(bytes_list=feature_pb2.BytesList(
            value=[str(v).encode("utf-8") for v in examples[name]]))
    return example_pb2.Example(features=feature_pb2.Features(feature=feature)).SerializeToString()


def block_rows(examples: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The examples at positions `rows` of a block (every feature sliced alike)."""
    return {name: np.asarray(values)[rows] for name, values in examples.items()}


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


class SplitWriter:
    """Writes one split's example blocks round-robin into `num_shards` files, at most `block_size`
    examples per record; `close()` returns the split's manifest entry."""

    def __init__(self, directory: Path, split: str, num_shards: int, block_size: int = 4096):
        import tensorflow as tf

        self.names = [shard_name(split, i, num_shards) for i in range(num_shards)]
        self.writers = [tf.io.TFRecordWriter(str(Path(directory) / name)) for name in self.names]
        self.block_size, self.count, self.records = block_size, 0, 0

    def write(self, block: dict[str, np.ndarray]) -> None:
        for record in serialize_blocks(block, self.block_size):
            self.writers[self.records % len(self.writers)].write(record)
            self.records += 1
        self.count += len(block["row"])

    def close(self) -> dict:
        for writer in self.writers:
            writer.close()
        return {"examples": self.count, "shards": self.names}


def serialize_blocks(block: dict[str, np.ndarray], block_size: int = 4096):
    """The records of a block of examples, at most `block_size` examples each."""
    n = len(block["row"])
    for start in range(0, n, block_size):
        yield serialize_block(block_rows(block, np.arange(start, min(n, start + block_size))))


FINGERPRINT_COLUMNS = ("row", "user_id", "item_id", "event", "timestamp", "split")


def events_fingerprint(events) -> int:
    """Order-independent fingerprint of event rows: the sum of `pd.util.hash_pandas_object` of the
    rows' `FINGERPRINT_COLUMNS` as strings, so partial sums of any partition of the rows add up to the
    same value (both writers sum it over their batches)."""
    columns = [c for c in FINGERPRINT_COLUMNS if c in events.columns]
    if not columns:
        return 0
    return int(_combined_row_hashes([_string_hashes(events[c]) for c in columns]).sum(dtype=np.uint64))


def _string_hashes(column) -> np.ndarray:
    """The hashes `hash_pandas_object` gives a column's values as strings, 4-8x faster than it:
    numbers, nearly all distinct, are hashed one by one instead of factorised first; strings are
    factorised by `pd.factorize` (Arrow's dictionary encoding for Arrow strings, instead of a hash
    table of Python strings), the distinct ones hashed and nulls given pandas' null hash."""
    import pandas as pd

    as_strings = column.astype(str)
    if column.dtype.kind in "iuf":
        return pd.util.hash_array(as_strings.to_numpy(), categorize=False)
    codes, distinct = pd.factorize(as_strings)
    hashes = pd.util.hash_array(np.asarray(distinct, dtype=object), categorize=False)
    out = hashes[codes] if len(hashes) else np.zeros(len(codes), np.uint64)
    out[codes < 0] = np.iinfo(np.uint64).max
    return out


def _combined_row_hashes(hashes: list[np.ndarray]) -> np.ndarray:
    """Per-row hashes of several columns combined as `pd.util.hash_pandas_object` combines a frame's
    (pandas' `combine_hash_arrays` is private; a test holds the two equal)."""
    out, mult = np.zeros_like(hashes[0]) + np.uint64(0x345678), np.uint64(1000003)
    for i, column in enumerate(hashes):
        out ^= column
        out *= mult
        mult += np.uint64(82520 + 2 * (len(hashes) - i))
    return out + np.uint64(97531)


def texts_fingerprint(texts) -> str:
    """SHA-256 of the catalog's item texts in catalog order: the key of their text vectors."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(str(text).encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def publish(tmp: Path, out: Path, *, vocab, queries: list[str], splits: dict, max_history: int,
            events_hash: int, texts_hash: str, writer: str, users: int) -> dict:
    """Write the vocabularies, queries and (last) the manifest into `tmp`, then `commit` it to `out`."""
    vocab.save(tmp / VOCABULARIES_FILE)
    atomic_write_text(tmp / QUERIES_FILE, json.dumps(queries, ensure_ascii=False))
    manifest = {"schema_version": SCHEMA_VERSION, "writer": writer, "max_history": max_history,
                "encoding": "one tf.train.Example per block; numeric features = little-endian raw arrays",
                "features": feature_spec(max_history), "splits": splits,
                "history_sources": {k: list(v) for k, v in SPLIT_SOURCES.items()},
                "events_fingerprint": f"{events_hash:016x}", "catalog_texts_sha256": texts_hash,
                "items": len(vocab.items), "queries": len(queries), "users": users}
    atomic_write_text(tmp / MANIFEST_FILE, json.dumps(manifest, indent=2))
    commit(tmp, out)
    return manifest


def new_temporary(out: Path) -> Path:
    """An empty directory next to `out` to build a shard set in (removed by `commit` or `discard`).
    Refuses an `out` that is a file (a shard set is a directory; the file is never replaced), and
    removes the temporary and set-aside directories that killed writers of `out` left behind."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file: an examples directory would replace it. Fix: choose a "
                         "directory path (new, or an examples directory to overwrite).")
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)
    tmp = out.with_name(f".tmp-{os.getpid()}-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _remove_leftovers(out: Path) -> None:
    """`.tmp-PID-NAME` / `.old-PID-NAME` directories next to `out` whose process is gone (a writer
    killed before `commit` or `discard`); those of live processes are another writer's, kept."""
    for kind in ("tmp", "old"):
        for path in out.parent.glob(f".{kind}-*-{out.name}"):
            pid = path.name[len(kind) + 2:-len(out.name) - 1]
            if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def commit(tmp: Path, out: Path) -> Path:
    """Replace `out` by the complete set in `tmp`: the old set is moved aside, the new one renamed
    into place, then the old one removed, so at every moment `out` is a complete set or absent."""
    if not (tmp / MANIFEST_FILE).exists():
        raise RuntimeError(f"{tmp} has no {MANIFEST_FILE}: refusing to publish an incomplete shard set")
    old = out.with_name(f".old-{os.getpid()}-{out.name}")
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def discard(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)


def read_manifest(directory: str | os.PathLike) -> dict:
    path = Path(directory) / MANIFEST_FILE
    if not path.exists():
        raise InputError(f"{directory} is not a complete examples directory: {MANIFEST_FILE} is missing. "
                         "Fix: write it with `recsys-tf data prepare SPLIT_DIR --out DIR`.")
    manifest = json.loads(path.read_text())
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise InputError(f"{path} has schema_version={manifest.get('schema_version')!r}; this recsys_tf reads "
                         f"{SCHEMA_VERSION}. Fix: rerun `recsys-tf data prepare` with this version.")
    return manifest


def _split_files(directory: str | os.PathLike, split: str) -> tuple[list[str], int]:
    """(the split's shard files, max_history), or a clear error when the directory has no such split."""
    manifest = read_manifest(directory)
    if split not in manifest["splits"]:
        raise InputError(f"{directory} has no {split!r} examples (it has {sorted(manifest['splits'])}). "
                         "Fix: prepare the examples from a split dataset with that split.")
    return [str(Path(directory) / name) for name in manifest["splits"][split]["shards"]], manifest["max_history"]


def _model_inputs(max_history: int) -> list[tuple[str, dict]]:
    """(name, spec) of the model-input features (no bookkeeping), in the order `packed` lays them out."""
    return [(name, spec) for name, spec in feature_spec(max_history).items() if name not in BOOKKEEPING_FEATURES]


def _width(spec: dict) -> int:
    return spec["shape"][0] if spec["shape"] else 1


def _pack(block: dict, max_history: int):
    """A block's model inputs as one int32 matrix (n, width): float features bit-cast, histories flat."""
    import tensorflow as tf

    columns = []
    for name, spec in _model_inputs(max_history):
        values = block[name] if spec["dtype"] == "int32" else tf.bitcast(block[name], tf.int32)
        columns.append(tf.reshape(values, [-1, _width(spec)]))
    return tf.concat(columns, axis=1)


def unpack(batch, max_history: int) -> dict:
    """The model inputs of a batch of `stream(..., packed=True)` examples (a (batch, width) int32 tensor)."""
    import tensorflow as tf

    specs = _model_inputs(max_history)
    parts = tf.split(batch, [_width(spec) for _, spec in specs], axis=1)
    out = {}
    for (name, spec), part in zip(specs, parts):
        part = part if spec["dtype"] == "int32" else tf.bitcast(part, tf.as_dtype(spec["dtype"]))
        out[name] = part if spec["shape"] else tf.squeeze(part, axis=1)
    return out


def _parsed_blocks(files, max_history: int, cycle_length: int, packed: bool = False):
    """tf.data: the files' records interleaved, each parsed into a block (a dict of arrays of up to
    4,096 examples, `feature_spec`; `packed`: the block's model inputs as one int32 matrix)."""
    import tensorflow as tf

    spec = feature_spec(max_history)
    parse_spec = {name: tf.io.FixedLenFeature([], tf.string) for name in spec if name not in BYTES_FEATURES}
    parse_spec |= {name: tf.io.FixedLenSequenceFeature([], tf.string, allow_missing=True) for name in BYTES_FEATURES}

    def parse(record):
        block = tf.io.parse_single_example(record, parse_spec)
        out = {name: block[name] for name in BYTES_FEATURES}
        for name, feature in spec.items():
            if name not in BYTES_FEATURES:
                values = tf.io.decode_raw(block[name], tf.as_dtype(feature["dtype"]), little_endian=True)
                out[name] = tf.reshape(values, [-1, max_history]) if feature["shape"] else values
        return _pack(out, max_history) if packed else out

    return files.interleave(tf.data.TFRecordDataset, cycle_length=cycle_length, num_parallel_calls=tf.data.AUTOTUNE,
                            deterministic=True).map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def blocks(directory: str | os.PathLike, split: str, *, cycle_length: int = 4):
    """A tf.data pipeline of the split's blocks as written (dicts of arrays of up to 4,096 examples):
    for passes over every example that need no example order or shuffling (summaries, loading)."""
    import tensorflow as tf

    files, max_history = _split_files(directory, split)
    return _parsed_blocks(tf.data.Dataset.from_tensor_slices(files), max_history, cycle_length)


def stream(directory: str | os.PathLike, split: str, *, shuffle_buffer: int = 0, seed: int = 0,
           cycle_length: int = 4, shard_index: int | None = None, num_shards: int | None = None,
           packed: bool = False):
    """A tf.data pipeline of single examples (dicts of tensors, `feature_spec`) of one split: the
    split's files interleaved, blocks parsed in parallel, unbatched, optionally shuffled (seeded).
    `shard_index`/`num_shards` keep one shard: whole files when every shard gets a non-empty file,
    else every Nth example (the trainer passes its input pipeline's id and count).

    `packed`: each example is one int32 vector of its model inputs (no bookkeeping features; `unpack`
    turns a batch of them back into features), packed a block at a time. A shuffle buffer then holds
    one tensor per example instead of 15: 200,000 examples take ~0.1 GB instead of ~0.65 GB."""
    import tensorflow as tf

    files, max_history = _split_files(directory, split)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    # whole files per shard when each shard gets a non-empty file (a split smaller than one block
    # per file leaves files empty), else every Nth example
    by_file = (shard_index is not None and len(files) >= num_shards
               and all(tf.io.gfile.stat(f).length > 0 for f in files))
    if by_file:
        dataset = dataset.shard(num_shards, shard_index)
    dataset = _parsed_blocks(dataset, max_history, cycle_length, packed).unbatch()
    if shard_index is not None and not by_file:
        dataset = dataset.shard(num_shards, shard_index)
    if shuffle_buffer:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=False)
    return dataset


def load_split(directory: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
    """Every example of one split as NumPy arrays, sorted by `row` (event order): validation, the
    trainer's whole-split shuffle, tests."""
    rows: dict[str, list] = {}
    for block in blocks(directory, split).as_numpy_iterator():
        for name, values in block.items():
            rows.setdefault(name, []).append(values)
    if not rows:
        return {}
    out = {name: np.concatenate(values) for name, values in rows.items()}
    order = np.argsort(out["row"], kind="stable")
    return {name: values[order] for name, values in out.items()}
