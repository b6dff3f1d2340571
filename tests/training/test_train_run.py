import json

import numpy as np
import pytest
import tensorflow as tf
import yaml

from recsys_tf.cli.main import main
from recsys_tf.data.schema import read_dataset
from recsys_tf.text.distill import DistilledTextEncoder
from recsys_tf.text.text_encoder import TextEncoder
from recsys_tf.training.config import load_config
from recsys_tf.training.prepare import text_encoders
from recsys_tf.training.run import (
    distilled_query_encoder,
    load_run,
    query_student_layers,
    train_run,
)
from tests.training.conftest import TINY, logged_scalars


def _tags(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for sub in ("train", "validation"):
        accumulator = EventAccumulator(str(log_dir / sub), size_guidance={"tensors": 0})
        accumulator.Reload()
        tags |= set(accumulator.Tags()["tensors"])
    return tags


def test_train_cli_end_to_end(split_dir, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", str(split_dir), "--out", str(run)]
    for item in TINY + ["train.epochs=2"]:
        args += ["--set", item]
    assert main(args) == 0
    for name in ("config.yaml", "vocab.json", "run.json", "best.weights.h5", "last.weights.h5", "history.json"):
        assert (run / name).exists(), name
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 2 and "recommend/recall@10" in history[-1] and "search/recall@10" in history[-1]
    tags = _tags(run / "logs")
    assert {"loss/recommend", "loss/search", "loss/rating", "loss/click", "loss/total", "learning_rate",
            "recommend/recall@10", "recommend/ndcg@10"} <= tags
    assert any(t.startswith("weights/") for t in tags)
    assert (run / "logs" / "train" / "projector_config.pbtxt").exists()
    assert (run / "logs" / "train" / "metadata.tsv").read_text().startswith("item_id\ttitle\tcategory")
    # the default distils a query encoder of half the tower's depth (tiny: 1 of 2 layers) sharing its embeddings
    info = json.loads((run / "query_encoder.json").read_text())
    assert info["num_layers"] == 1 and info["steps"] == 20 and (run / "query_encoder.npz").exists()
    # a finished run reloads to the same embeddings
    trained = load_run(run)
    model, config, vocab, dataset = trained.model, trained.config, trained.vocab, trained.dataset
    item_encoder, query_encoder = trained.item_encoder, trained.query_encoder
    assert isinstance(query_encoder, DistilledTextEncoder) and query_encoder.backbone is item_encoder.backbone
    assert config.train.epochs == 2 and model.item_tower.num_items == len(vocab.items)
    out = model.item_tower(np.arange(5), training=False).numpy()
    assert np.isfinite(out).all()
    # catalog items without a training interaction carry no id signal (zero rows), trained ones do
    assert dataset.events is None  # a trained run does not hold the events: evaluate streams them
    events = read_dataset(trained.data_dir).events
    trained = set(events.loc[events["split"] == "train", "item_id"].astype(str))
    untrained = [i + 1 for i, item in enumerate(vocab.items) if item not in trained]
    ids = model.item_tower.id_embedding.embeddings.numpy()
    assert untrained and not ids[untrained].any()
    assert np.abs(ids[[i + 1 for i, item in enumerate(vocab.items) if item in trained]]).sum(axis=1).min() > 0
    # a run from before the distilled query encoder (no such config key, no student file) still loads
    saved = yaml.safe_load((run / "config.yaml").read_text())
    del saved["text"]["query_encoder_layers"]
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    (run / "query_encoder.npz").unlink()
    old_query_encoder = load_run(run).query_encoder
    assert type(old_query_encoder) is TextEncoder and old_query_encoder.backbone is not None


def test_tasks_can_be_switched_off(split_dir, tmp_path):
    config = load_config(None, TINY + ["train.epochs=1", "train.max_steps_per_epoch=2", "tasks.search=0",
                                       "tasks.rating=0", "tasks.click=0", "model.use_text=false"])
    result = train_run(split_dir, tmp_path / "r", config, log=lambda *_: None)
    record = result["history"][0]
    assert "train/recommend" in record and "train/search" not in record and "train/rating" not in record
    trained = load_run(tmp_path / "r")
    model, config = trained.model, trained.config
    # the ID-only ablation drops no text (the default text dropout would only reshuffle its random numbers)
    assert config.model.text_dropout == 0.5 and model.item_tower.text_dropout == 0.0



def test_rating_monitor_keeps_the_lowest_validation_rmse(split_dir, tmp_path):
    from recsys_tf.training.prepare import TrainingData
    from recsys_tf.training.trainer import evaluate_retrieval

    config = load_config(None, TINY + ["train.epochs=3", "train.max_steps_per_epoch=4", "tasks.search=0",
                                       "train.monitor=rating/rmse", "model.rating_factors=4", "model.rating_l2=0.1",
                                       "model.user_bins=512", "train.learning_rate=0.05"])
    result = train_run(split_dir, tmp_path / "r", config, log=lambda *_: None)
    rmse = [record["rating/rmse"] for record in result["history"]]
    assert all("rating/mae" in record for record in result["history"])
    assert result["best"] == pytest.approx(min(rmse))  # lower is better for errors, not the first epoch's -inf
    trained = load_run(tmp_path / "r")
    model, vocab, dataset = trained.model, trained.vocab, trained.dataset
    assert vocab.user_bins == 512 and model.rating_head.factor_dim == 4 and model.rating_head.l2 == 0.1
    # predictions are clipped to the training ratings' scale, recorded in run.json for reloading
    events = read_dataset(split_dir).events
    ratings = events.loc[events["split"] == "train", "rating"].dropna()
    assert model.rating_head.rating_range == [ratings.min(), ratings.max()]
    assert json.loads((tmp_path / "r" / "run.json").read_text())["rating_range"] == [ratings.min(), ratings.max()]
    # best.weights.h5 is the epoch with the lowest validation RMSE: recomputing it from the reloaded run agrees
    data = TrainingData.read(split_dir, tmp_path / "r" / "examples", dataset.items)
    again = evaluate_retrieval(model, data.validation, None, None, [10])
    assert again["rating/rmse"] == pytest.approx(min(rmse), rel=1e-4)


def test_cosine_schedule_decays_to_zero_over_the_run(split_dir, tmp_path):
    config = load_config(None, TINY + ["train.epochs=2", "train.max_steps_per_epoch=3", "tasks.search=0",
                                       "train.learning_rate=0.01", "train.lr_schedule=cosine"])
    train_run(split_dir, tmp_path / "r", config, log=lambda *_: None)
    logged = logged_scalars(tmp_path / "r" / "logs" / "train", "learning_rate")
    # logged after each epoch's last step: 0.01 * (1 + cos(pi * step / 6)) / 2 over 2 epochs x 3 steps
    assert sorted(logged) == [3, 6]
    assert logged[3] == pytest.approx(0.005, rel=1e-5) and logged[6] == pytest.approx(0.0, abs=1e-9)
    assert load_run(tmp_path / "r").config.train.lr_schedule == "cosine"


def test_weight_average_is_validated_and_saved_while_training_continues_on_raw_weights(split_dir, tmp_path):
    from recsys_tf.training.prepare import TrainingData, prepare
    from recsys_tf.training.trainer import Trainer

    config = load_config(None, TINY + ["train.epochs=1", "train.max_steps_per_epoch=4", "tasks.search=0",
                                       "train.learning_rate=0.05", "train.ema_momentum=0.5"])
    train_run(split_dir, tmp_path / "r", config, log=lambda *_: None)
    trained = load_run(tmp_path / "r")  # best = last here
    model, config, dataset = trained.model, trained.config, trained.dataset
    item_encoder, query_encoder = trained.item_encoder, trained.query_encoder
    saved = [w.numpy().copy() for w in model.trainable_variables]
    # the crash checkpoint holds the raw weights and the optimizer's average (so a resumed run keeps both)
    data = TrainingData.read(split_dir, tmp_path / "r" / "examples", dataset.items)
    prepared = prepare(data, config, tmp_path / "r", item_encoder, query_encoder)
    trainer = Trainer(model, config, tf.distribute.get_strategy(), tmp_path / "r", prepared, [])
    trainer.checkpoint.restore(trainer.manager.latest_checkpoint).assert_existing_objects_matched()
    raw = [w.numpy().copy() for w in model.trainable_variables]
    assert any(not np.allclose(a, b) for a, b in zip(raw, saved))  # 4 steps at lr 0.05: average != raw
    with trainer.averaged_weights():
        for w, expected in zip(model.trainable_variables, saved):
            np.testing.assert_array_equal(w.numpy(), expected)
    for w, expected in zip(model.trainable_variables, raw):  # and back to the raw weights for training
        np.testing.assert_array_equal(w.numpy(), expected)


def test_bad_settings_are_clear(split_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown key"):
        load_config(None, ["train.epoch=3"])
    with pytest.raises(ValueError, match="section.key=value"):
        load_config(None, ["epochs=3"])
    with pytest.raises(ValueError, match="query_encoder_layers=2 with text.mode='lora'.*Fix"):
        load_config(None, ["text.mode=lora", "text.query_encoder_layers=2"])
    with pytest.raises(ValueError, match="lr_schedule` must be among.*Received: 'step'.*Fix: e.g. --set train.lr_sch"):
        load_config(None, ["train.lr_schedule=step"])
    with pytest.raises(ValueError, match="ema_momentum` must be >= 0.0 and < 1.0. Received: 1.0.*Fix"):
        load_config(None, ["train.ema_momentum=1.0"])
    (tmp_path / "c.yaml").write_text("- not a mapping\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(tmp_path / "c.yaml")


def test_query_encoder_depth_resolution_and_reuse(split_dir, tmp_path):
    config = load_config(None, TINY)
    item_encoder, teacher = text_encoders(config)
    assert query_student_layers(config, item_encoder) == 1  # -1: half of 2 layers
    assert query_student_layers(load_config(None, TINY + ["text.query_encoder_layers=0"]), item_encoder) == 0
    assert query_student_layers(load_config(None, TINY + ["text.query_encoder_layers=2"]), item_encoder) == 0
    assert query_student_layers(load_config(None, TINY + ["text.mode=lora"]), item_encoder) == 0
    assert query_student_layers(config, None) == 0
    assert query_student_layers(load_config(None, TINY + ["tasks.search=0"]), item_encoder) == 0  # no query tower
    dataset, logs = read_dataset(split_dir), []
    train = dataset.split("train")
    queries = train.loc[train["query"] != "", "query"].tolist()

    def distilled(config, run):
        return distilled_query_encoder(config, queries, dataset.items, item_encoder, teacher, run, log=logs.append)

    first = distilled(config, tmp_path)
    again = distilled(config, tmp_path)
    assert "reusing" in logs[-1] and not any("reusing" in line for line in logs[:-1])
    texts = tf.constant(["red scarf", "blue yoga mat"])
    np.testing.assert_allclose(again(texts).numpy(), first(texts).numpy(), atol=1e-6)
    # other settings distil again
    more = load_config(None, TINY + ["text.query_distill_steps=21"])
    distilled(more, tmp_path)
    assert "reusing" not in logs[-1]
    # another run with the same settings and text cache takes the student from the cache, into its own dir
    shared = load_config(None, TINY + [f"text.cache_dir={tmp_path / 'text_cache'}"])
    other = tmp_path / "other_run"
    other.mkdir()
    from_cache = distilled(shared, other)
    assert "of an earlier run with the same settings" in logs[-1]
    np.testing.assert_allclose(from_cache(texts).numpy(), first(texts).numpy(), atol=1e-6)
    assert json.loads((other / "query_encoder.json").read_text())["steps"] == 20
    distilled(shared, other)
    assert "distilled earlier" in logs[-1]  # now a resumed run of its own


def test_one_seed_drives_every_random_stream(split_dir, tmp_path):
    from recsys_tf.training.builder import SEED_STREAMS, stream_seeds

    assert stream_seeds(7) == stream_seeds(7) and set(stream_seeds(7)) == set(SEED_STREAMS)
    assert not set(stream_seeds(7).values()) & set(stream_seeds(8).values())
    # dropout, id/text dropout, user dropout and uniform negatives all on, so each stream matters
    base = TINY + ["train.epochs=1", "train.max_steps_per_epoch=2", "tasks.search=0", "model.num_uniform_negatives=8",
                   "model.rating_factors=4"]
    losses = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        result = train_run(split_dir, tmp_path / name, load_config(None, base + [f"train.seed={seed}"]),
                           log=lambda *_: None)
        losses[name] = {k: v for k, v in result["history"][0].items() if k != "seconds"}
        model = load_run(tmp_path / name).model
        assert model.item_tower.seed == stream_seeds(seed)["item_tower"]
        assert model.rating_head.seed == stream_seeds(seed)["rating_head"]
    assert losses["a"] == losses["b"]  # every metric and loss, exactly
    assert losses["a"]["train/total"] != losses["c"]["train/total"]


def test_training_reads_the_shards_summary_and_validation_equal_to_the_events(split_dir, tmp_path):
    """What training takes from the shards (one streaming pass) equals what the events say."""
    from recsys_tf.features.examples import build_examples
    from recsys_tf.features.prepare_examples import distinct_queries, prepare_in_process
    from recsys_tf.features.vocabulary import Vocabularies
    from recsys_tf.training.prepare import TrainingData

    examples = tmp_path / "examples"
    prepare_in_process(split_dir, examples, max_history=20, num_shards=3, events_per_bucket=700, log=None)
    dataset = read_dataset(split_dir)
    data = TrainingData.read(split_dir, examples, dataset.items)
    events = dataset.events
    train, validation = events[events["split"] == "train"], events[events["split"] == "validation"]
    vocab = Vocabularies.from_dataset(dataset.items, events)
    assert data.vocab == vocab and data.queries == distinct_queries(events["query"])
    np.testing.assert_array_equal(data.train_item_counts,
                                  np.bincount(vocab.item_index(train["item_id"]), minlength=len(vocab.items) + 1))
    assert data.train_examples == len(train) and data.train_queries == train.loc[train["query"] != "", "query"].tolist()
    expected = build_examples(validation, train, vocab, 20, {q: i + 1 for i, q in enumerate(data.queries)})
    assert set(data.validation) == set(expected) and data.validation_users == validation["user_id"].tolist()
    for name, values in expected.items():
        np.testing.assert_array_equal(data.validation[name], values, err_msg=name)
    for user in validation["user_id"]:
        np.testing.assert_array_equal(data.seen[user], np.unique(vocab.item_index(train.loc[train["user_id"] == user,
                                                                                                   "item_id"])))
    ratings = train["rating"].dropna()
    assert data.rating_range == ((ratings.min(), ratings.max()) if len(ratings) else None)
    clicks = data.validation_search_clicks()
    searched = validation[validation["query"] != ""]
    assert clicks["query"].tolist() == searched["query"].tolist()
    assert clicks["item_id"].tolist() == searched["item_id"].tolist()


def test_training_writes_its_examples_or_takes_checked_ones(split_dir, tmp_path):
    """Without --examples a run writes its own; with Beam's examples of the same data it trains
    exactly alike (same examples, whole-split shuffle in event order); others are refused."""
    from recsys_tf.errors import InputError
    from recsys_tf.features import shards
    from recsys_tf.features.beam_prepare import prepare_with_beam

    config = load_config(None, TINY + ["train.epochs=1", "train.max_steps_per_epoch=3"])
    own = tmp_path / "own"
    first = train_run(split_dir, own, config, log=lambda *_: None)
    info = json.loads((own / "run.json").read_text())
    assert info["train_shards"] == str((own / "examples").resolve())
    assert info["train_examples"] == shards.read_manifest(own / "examples")["splits"]["train"]["examples"]

    examples = tmp_path / "examples"
    manifest = prepare_with_beam(split_dir, examples, max_history=20, num_shards=3, log=None)
    run = tmp_path / "run"
    result = train_run(split_dir, run, config, log=lambda *_: None, examples_dir=examples)
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in result["history"]] == \
        [{k: v for k, v in h.items() if k != "seconds"} for h in first["history"]]
    info = json.loads((run / "run.json").read_text())
    assert info["train_shards"] == str(examples.resolve()) and not (run / "examples").exists()
    assert info["train_examples"] == manifest["splits"]["train"]["examples"]
    # the same data and configuration: the same data fingerprint either way
    assert info["data_fingerprint"] == json.loads((own / "run.json").read_text())["data_fingerprint"]

    with pytest.raises(InputError, match="max_history=20, the configuration has model.max_history=5.*Fix: rerun"):
        train_run(split_dir, tmp_path / "c", load_config(None, TINY + ["model.max_history=5"]), log=lambda *_: None,
                  examples_dir=examples)
    with pytest.raises(InputError, match="user_bins=.*the configuration gives 512.*Fix"):
        train_run(split_dir, tmp_path / "c", load_config(None, TINY + ["model.user_bins=512"]), log=lambda *_: None,
                  examples_dir=examples)
    dataset = read_dataset(split_dir)
    dataset.events.loc[dataset.events.index[0], "timestamp"] += 1
    from recsys_tf.data.schema import write_dataset

    other = write_dataset(dataset, tmp_path / "other")
    with pytest.raises(InputError, match="prepared from other events.*Fix: rerun `recsys-tf data prepare"):
        train_run(other, tmp_path / "d", config, log=lambda *_: None, examples_dir=examples)
    assert shards.read_manifest(examples) == manifest


def test_text_coverage_is_recorded_and_strict_coverage_fails_before_training(tiny_run, split_dir, tmp_path):
    from recsys_tf.data.schema import write_dataset
    from recsys_tf.text.coverage import TextCoverageError

    coverage = json.loads((tiny_run / "run.json").read_text())["text_coverage"]
    assert set(coverage) == {"item titles", "item descriptions", "queries"}
    assert all(report["ok"] and report["texts_checked"] > 0 for report in coverage.values())
    dataset = read_dataset(split_dir)
    dataset.items = dataset.items.assign(title=["无线耳机 蓝牙耳机"] * len(dataset.items))
    chinese = write_dataset(dataset, tmp_path / "chinese")
    with pytest.raises(TextCoverageError, match="item titles.*\\[UNK\\].*Fix"):
        train_run(chinese, tmp_path / "run", load_config(None, TINY + ["text.strict_coverage=true"]),
                  log=lambda *_: None)
    assert not (tmp_path / "run" / "run.json").exists()


def test_large_variables_are_histogrammed_on_a_strided_sample(tmp_path):
    from recsys_tf.training.monitoring import HISTOGRAM_VALUES, TensorBoardLogger, histogram_sample

    small = tf.range(10, dtype=tf.float32)
    assert histogram_sample(small) is small
    big = tf.range(3 * HISTOGRAM_VALUES + 5, dtype=tf.float32)
    sample = histogram_sample(big).numpy()
    assert len(sample) <= HISTOGRAM_VALUES and sample[0] == 0 and np.all(np.diff(sample) == 4)
    logger = TensorBoardLogger(tmp_path)
    import keras

    variable = keras.Variable(big.numpy().reshape(-1, 1), name="table")  # the trainer logs Keras variables
    logger.histograms([variable], step=1)
    logger.flush()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(tmp_path / "train"), size_guidance={"tensors": 0})
    accumulator.Reload()
    (event,) = accumulator.Tensors(f"weights/{variable.path}")
    buckets = tf.make_ndarray(event.tensor_proto)  # (left, right, count) per bucket
    assert buckets[:, 2].sum() == len(sample) and buckets[-1, 1] >= sample[-1] > 3 * HISTOGRAM_VALUES - 4


def test_validation_in_chunks_and_item_vectors_in_batches_equal_one_pass(tiny_run, split_dir):
    """Validation scores its rows a chunk at a time and the catalog's vectors come a batch at a time
    (memory flat whatever the split or catalog size): the same numbers as one pass."""
    from recsys_tf.training.prepare import TrainingData
    from recsys_tf.training.trained_run import item_vectors
    from recsys_tf.training.trainer import evaluate_retrieval

    run = load_run(tiny_run)
    model = run.model
    np.testing.assert_allclose(item_vectors(model, batch_size=7), item_vectors(model, batch_size=10**6),
                               rtol=1e-5, atol=1e-6)
    data = TrainingData.read(split_dir, tiny_run / "examples", run.dataset.items)
    query_vectors = np.random.default_rng(0).normal(size=(len(data.queries) + 1, model.query_tower.text_dim))
    args = (model, data.validation, data.seen, data.validation_users, [5, 10])
    whole = evaluate_retrieval(*args, query_vectors=query_vectors.astype(np.float32))
    chunked = evaluate_retrieval(*args, query_vectors=query_vectors.astype(np.float32), chunk=7)
    assert len(data.validation_users) > 7 * 3
    assert {"recommend/recall@10", "search/ndcg@5", "rating/rmse", "rating/mae"} <= set(whole)
    assert chunked == pytest.approx(whole, rel=1e-6)


def test_the_projector_shows_every_kth_item_of_a_big_catalog(tmp_path, monkeypatch):
    import recsys_tf.training.monitoring as monitoring

    monkeypatch.setattr(monitoring, "PROJECTOR_ITEMS", 10)
    vectors = np.arange(25 * 3, dtype=np.float32).reshape(25, 3)
    out = monitoring.TensorBoardLogger(tmp_path).projector(vectors, [(f"i{n}", f"t{n}", "c") for n in range(25)])
    rows = (out / "metadata.tsv").read_text().splitlines()[1:]
    assert [row.split("\t")[0] for row in rows] == [f"i{n}" for n in range(0, 25, 3)]  # 9 <= 10 items
    saved = tf.train.load_checkpoint(str(out / "embedding.ckpt-1")).get_tensor("embedding/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_array_equal(saved, vectors[::3])
