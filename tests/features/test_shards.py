"""Sharded examples: the in-process writer equals `build_examples` on whole splits, the Beam pipeline
(DirectRunner) equals the in-process writer, streaming reads every example once, and a crash while
writing leaves the previous complete set."""
import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from recsys_tf.data.schema import EVENTS_FILE, read_dataset, write_dataset
from recsys_tf.data.splits import split_dataset
from recsys_tf.errors import InputError
from recsys_tf.features import prepare_examples, shards
from recsys_tf.features.examples import build_examples
from recsys_tf.features.vocabulary import Vocabularies

MAX_HISTORY = 6


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, small_dataset):
    """The small dataset split with validation and test, its events in several Parquet row groups."""
    out = tmp_path_factory.mktemp("shards") / "split"
    write_dataset(split_dataset(small_dataset, "temporal-last", validation_fraction=0.1), out)
    table = pq.read_table(out / EVENTS_FILE)
    pq.write_table(table, out / EVENTS_FILE, row_group_size=len(table) // 3 + 1)
    assert pq.ParquetFile(out / EVENTS_FILE).metadata.num_row_groups == 3
    return out


@pytest.fixture(scope="module")
def in_process(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("in_process") / "examples"
    manifest = prepare_examples.prepare_in_process(data_dir, out, max_history=MAX_HISTORY, num_shards=3,
                                                   events_per_bucket=500, read_batch=1000, log=None)
    return out, manifest


def _reference(data_dir) -> dict[str, dict]:
    """`build_examples` on each whole split, as training and evaluation build them in memory."""
    dataset = read_dataset(data_dir)
    events = dataset.events.reset_index(drop=True)
    vocab = Vocabularies.from_dataset(dataset.items, events)
    queries = prepare_examples.distinct_queries(events["query"])
    index = {q: i + 1 for i, q in enumerate(queries)}
    train, validation = events[events["split"] == "train"], events[events["split"] == "validation"]
    test = events[events["split"] == "test"]
    history = events[events["split"].isin(["train", "validation"])]
    out = {}
    for name, targets, hist in (("train", train, train), ("validation", validation, train), ("test", test, history)):
        examples = build_examples(targets, hist, vocab, MAX_HISTORY, index)
        examples["row"] = targets.index.to_numpy(np.int64)
        out[name] = examples
    return out


def _assert_same(actual: dict, expected: dict, names=None):
    for name in names or [n for n in expected if n != "user_id"]:
        np.testing.assert_array_equal(np.asarray(actual[name]), np.asarray(expected[name]), err_msg=name)


def test_in_process_shards_equal_build_examples_on_whole_splits(data_dir, in_process):
    out, manifest = in_process
    reference = _reference(data_dir)
    assert manifest["splits"]["validation"]["examples"] > 0 and manifest["splits"]["test"]["examples"] > 0
    for name, expected in reference.items():
        actual = shards.load_split(out, name)
        assert manifest["splits"][name]["examples"] == len(expected["row"]) == len(actual["row"])
        _assert_same(actual, expected, names=[n for n in shards.feature_spec(MAX_HISTORY) if n != "user_id"])
    assert (actual["history_items"] > 0).any() and (shards.load_split(out, "train")["query_index"] > 0).any()
    queries = json.loads((out / shards.QUERIES_FILE).read_text())
    assert len(queries) == manifest["queries"] > 0 and queries == sorted(set(queries))
    assert Vocabularies.load(out / shards.VOCABULARIES_FILE).items == read_dataset(data_dir).items["item_id"].tolist()
    assert len(list(out.glob("train-*.tfrecord"))) == 3 and not list(out.parent.glob(".tmp-*"))


def test_beam_direct_runner_equals_the_in_process_writer(data_dir, in_process, tmp_path):
    from recsys_tf.features.beam_prepare import prepare_with_beam

    out = tmp_path / "beam"
    manifest = prepare_with_beam(data_dir, out, max_history=MAX_HISTORY, num_shards=2, runner="DirectRunner",
                                 block_size=50, log=None)
    ours, ours_manifest = in_process
    for name in shards.SPLIT_SOURCES:
        _assert_same(shards.load_split(out, name), shards.load_split(ours, name),
                     names=list(shards.feature_spec(MAX_HISTORY)))
        assert manifest["splits"][name]["examples"] == ours_manifest["splits"][name]["examples"]
    same = ("events_fingerprint", "catalog_texts_sha256", "features", "items", "queries", "max_history")
    assert {k: manifest[k] for k in same} == {k: ours_manifest[k] for k in same}
    assert manifest["writer"] == "beam:DirectRunner"
    for file in (shards.VOCABULARIES_FILE, shards.QUERIES_FILE):
        assert (out / file).read_text() == (ours / file).read_text()
    assert not list(tmp_path.glob(".tmp-*"))


def test_in_memory_runner_says_no_before_reading_when_the_events_would_not_fit(data_dir, tmp_path, monkeypatch):
    import recsys_tf.resources
    from recsys_tf.features.beam_prepare import check_runner_memory, prepare_with_beam

    with pytest.raises(InputError, match=r"10,000,000 events would need ~7\.5 GiB, this machine has 4\.0 GiB "
                                         r"available\. Fix: drop --runner to prepare in process"):
        check_runner_memory("DirectRunner", 10_000_000, memory=4 * 2 ** 30)
    check_runner_memory("DirectRunner", 1_000_000, memory=4 * 2 ** 30)  # ~1.6 GiB: fits
    check_runner_memory("FlinkRunner", 10 ** 9, memory=4 * 2 ** 30)  # a cluster holds the groups
    monkeypatch.setattr(recsys_tf.resources, "available_memory", lambda: 2 ** 20)
    with pytest.raises(InputError, match="--runner DirectRunner holds the pipeline's groups in memory"):
        prepare_with_beam(data_dir, tmp_path / "beam", max_history=MAX_HISTORY, runner="DirectRunner", log=None)
    assert not list(tmp_path.iterdir())


def test_beam_shard_files_are_the_fixed_count_on_clusters_and_any_on_local_runners(tmp_path):
    from recsys_tf.features.beam_prepare import _written

    for name in ("train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord", "test-00000-of-00001.tfrecord"):
        (tmp_path / name).write_bytes(b"")
    assert _written(tmp_path, "train", 2) == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]
    assert _written(tmp_path, "train", 0) == _written(tmp_path, "train", 2)
    assert _written(tmp_path, "test", 0) == ["test-00000-of-00001.tfrecord"]
    with pytest.raises(RuntimeError, match="the test split.*not 2 files"):
        _written(tmp_path, "test", 2)
    with pytest.raises(RuntimeError, match="no files for the validation split.*not one or more files"):
        _written(tmp_path, "validation", 0)


def test_stream_reads_every_example_once_and_shuffles_by_seed(in_process):
    out, manifest = in_process
    n = manifest["splits"]["train"]["examples"]
    rows = [int(e["row"]) for e in shards.stream(out, "train", shuffle_buffer=n, seed=3).as_numpy_iterator()]
    again = [int(e["row"]) for e in shards.stream(out, "train", shuffle_buffer=n, seed=3).as_numpy_iterator()]
    other = [int(e["row"]) for e in shards.stream(out, "train", shuffle_buffer=n, seed=4).as_numpy_iterator()]
    assert sorted(rows) == sorted(shards.load_split(out, "train")["row"].tolist()) and len(set(rows)) == n
    assert rows == again and rows != other
    # sharded for N input pipelines (3 files here): a partition of the examples, no part empty
    # (whole files when each part gets a non-empty file, else every Nth example)
    for count in (2, 3, 5):
        parts = [[int(e["row"]) for e in shards.stream(out, "train", shard_index=i, num_shards=count)
                  .as_numpy_iterator()] for i in range(count)]
        assert sorted(sum(parts, [])) == sorted(rows) and all(parts), count
    example = next(shards.stream(out, "test").as_numpy_iterator())
    assert example["history_items"].shape == (MAX_HISTORY,) and example["user_id"].decode().startswith("U")


def test_packed_examples_unpack_to_the_same_model_inputs_in_the_same_order(in_process):
    """`packed=True` (one int32 vector per example, as the trainer shuffles them) loses nothing:
    the same examples, shuffled alike, batched and unpacked, equal the features themselves."""
    out, manifest = in_process
    n = manifest["splits"]["train"]["examples"]
    plain = list(shards.stream(out, "train", shuffle_buffer=n, seed=3).batch(64).as_numpy_iterator())
    packed = list(shards.stream(out, "train", shuffle_buffer=n, seed=3, packed=True).batch(64)
                  .map(lambda batch: shards.unpack(batch, MAX_HISTORY)).as_numpy_iterator())
    assert len(plain) == len(packed) > 1
    for expected, actual in zip(plain, packed):
        assert set(actual) == set(expected) - set(shards.BOOKKEEPING_FEATURES)
        for name, values in actual.items():
            assert values.dtype == expected[name].dtype and values.shape == expected[name].shape, name
            np.testing.assert_array_equal(values, expected[name], err_msg=name)
    assert any(batch["rating"].any() and batch["weight"].any() for batch in packed)  # floats came through bit-cast


def test_a_crash_while_writing_keeps_the_previous_complete_set(data_dir, in_process, tmp_path, monkeypatch):
    out = tmp_path / "examples"
    first = prepare_examples.prepare_in_process(data_dir, out, max_history=MAX_HISTORY, log=None)
    calls = []

    def crash(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    real = prepare_examples.users_examples
    monkeypatch.setattr(prepare_examples, "users_examples", crash)
    with pytest.raises(RuntimeError, match="killed"):
        prepare_examples.prepare_in_process(data_dir, out, max_history=MAX_HISTORY + 1, events_per_bucket=500, log=None)
    assert shards.read_manifest(out) == first and not list(tmp_path.glob(".tmp-*"))
    assert len(shards.load_split(out, "train")["row"]) == first["splits"]["train"]["examples"]


def test_bad_inputs_name_the_problem_and_the_fix(tmp_path, small_dataset):
    write_dataset(small_dataset, tmp_path / "raw")
    with pytest.raises(Exception, match="no `split` column.*Fix: run `recsys-tf data split"):
        prepare_examples.prepare_in_process(tmp_path / "raw", tmp_path / "ex", max_history=4, log=None)
    assert not (tmp_path / "ex").exists() and not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(InputError, match="manifest.json is missing.*Fix: write it with `recsys-tf data prepare"):
        shards.read_manifest(tmp_path)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / shards.MANIFEST_FILE).write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(InputError, match="schema_version=99.*Fix"):
        shards.read_manifest(tmp_path / "m")
    frame = pd.DataFrame({"user_id": ["a"]})
    assert shards.events_fingerprint(frame) == shards.events_fingerprint(frame.copy())


def test_events_fingerprint_is_pandas_hash_of_the_rows_as_strings_summed_over_any_partition(data_dir):
    events = pq.read_table(data_dir / EVENTS_FILE).to_pandas()
    events.insert(0, "row", np.arange(len(events), dtype=np.int64))
    events.loc[3, "user_id"], events.loc[5, "timestamp"] = None, -7  # a null and a negative number
    columns = list(shards.FINGERPRINT_COLUMNS)
    reference = pd.util.hash_pandas_object(events[columns].astype(str), index=False).to_numpy().sum(dtype=np.uint64)
    assert shards.events_fingerprint(events) == int(reference)
    parts = [shards.events_fingerprint(events.iloc[i::3]) for i in range(3)]
    assert sum(parts) % 2 ** 64 == int(reference)
    assert shards.events_fingerprint(events.drop(index=4)) != int(reference)
    assert shards.events_fingerprint(events.astype({c: object for c in columns[1:4]})) == int(reference)
    assert shards.events_fingerprint(events.drop(columns=["row", "timestamp"])) == int(
        pd.util.hash_pandas_object(events[columns[1:4] + columns[5:]].astype(str), index=False).sum())


def test_a_file_as_out_is_refused_and_dead_writers_leftovers_are_removed(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "afile").write_text("keep me")
    with pytest.raises(InputError, match="is a file"):
        shards.new_temporary(tmp_path / "afile")
    assert (tmp_path / "afile").read_text() == "keep me"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "examples"
    for kind in ("tmp", "old"):
        (tmp_path / f".{kind}-{dead.pid}-examples").mkdir()
    (tmp_path / f".tmp-{os.getppid()}-examples").mkdir()  # a live process's: another writer, kept
    (tmp_path / f".tmp-{dead.pid}-other").mkdir()  # another output's
    tmp = shards.new_temporary(out)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["afile", tmp.name, f".tmp-{os.getppid()}-examples", f".tmp-{dead.pid}-other"])
