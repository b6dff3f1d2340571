"""Configuration: every value checked up front, recipes in configs/, the reference doc in sync."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from recsys_tf.errors import InputError
from recsys_tf.training.config import ExperimentConfig, load_config, reference_markdown

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("override, message", [
    ("model.history_encoder=transfomer", "`model.history_encoder` must be among ('attention', 'transformer', 'mean')"),
    ("model.dropout=1.5", "`model.dropout` must be >= 0.0 and < 1.0. Received: 1.5"),
    ("train.epochs=2.5", "`train.epochs` must be an int. Received: 2.5 (float)"),
    ("train.epochs=0", "`train.epochs` must be >= 1"),
    ("train.epochs=abc", "`train.epochs` must be an int. Received: 'abc' (str)"),
    ("train.batch_size=0", "`train.batch_size` must be >= 1. Received: 0"),
    ("model.softmax_tasks=[rank]", "`model.softmax_tasks` must be a list of values among ('recommend', 'search')"),
    ("model.hidden_dims=[64, 0]", "`model.hidden_dims` must be a list of numbers >= 1"),
    ("model.use_text=maybe", "`model.use_text` must be a bool. Received: 'maybe'"),
    ("text.mode=lorra", "`text.mode` must be among ('frozen', 'last_n_layers', 'full', 'lora')"),
    ("train.strategy=gpu", "`train.strategy` must be among"),
    ("train.monitor=recall", "`train.monitor` must be a validation key"),
    ("tasks.rating=-1", "`tasks.rating` must be >= 0.0"),
    ("model.softmax=sampled", "`model.softmax` must be among ('auto', 'full', 'in_batch')"),
    ("train.lr_schedule=linear", "`train.lr_schedule` must be among ('constant', 'cosine')"),
    ("train.ema_momentum=1", "`train.ema_momentum` must be >= 0.0 and < 1.0"),
])
def test_bad_values_name_the_key_the_value_and_a_fix(override, message):
    with pytest.raises(InputError) as err:
        load_config(None, [override])
    assert message in str(err.value) and "Fix: e.g. --set" in str(err.value) or "Fix: --set" in str(err.value)


def test_values_are_converted_to_the_field_type():
    config = load_config(None, ["train.learning_rate=1e-3", "model.temperature=1", "train.eval_k=[5, 20]"])
    assert config.train.learning_rate == 0.001 and isinstance(config.train.learning_rate, float)
    assert config.model.temperature == 1.0 and isinstance(config.model.temperature, float)
    assert config.train.eval_k == [5, 20]


def test_unknown_keys_sections_and_bad_yaml(tmp_path):
    with pytest.raises(InputError, match="unknown key"):
        load_config(None, ["model.history_encodr=mean"])
    with pytest.raises(InputError, match="unknown section"):
        load_config(None, ["modle.dropout=0.1"])
    with pytest.raises(InputError, match="section `text` must be a mapping.*Received: 5"):
        ExperimentConfig.from_dict({"text": 5})
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_config(bad)


def test_rules_between_keys():
    with pytest.raises(InputError, match="query_encoder_layers"):
        load_config(None, ["text.mode=full", "text.query_encoder_layers=3"])


def test_recipes_load_and_the_demo_recipe_is_the_defaults():
    recipes = sorted((ROOT / "configs").glob("*.yaml"))
    assert {p.stem for p in recipes} >= {"demo", "movielens_rating", "movielens_retrieval"}
    for path in recipes:
        load_config(path)
    assert load_config(ROOT / "configs" / "demo.yaml").to_dict() == ExperimentConfig().to_dict()
    rating = load_config(ROOT / "configs" / "movielens_rating.yaml")
    assert (rating.tasks.rating, rating.model.rating_factors, rating.train.ema_momentum) == (2.0, 32, 0.999)


def test_reference_doc_is_generated_from_the_dataclasses():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    assert doc == reference_markdown(), "docs/configuration.md is stale. Fix: python -m recsys_tf.training.config"
    for section in dataclasses.fields(ExperimentConfig):
        for f in dataclasses.fields(section.default_factory()):
            assert f"| `{f.name}` |" in doc and f.metadata["help"]


def test_saved_config_round_trips(tmp_path):
    config = load_config(None, ["model.softmax=auto", "train.seed=7"])
    config.save(tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml").to_dict() == config.to_dict()
    assert yaml.safe_load((tmp_path / "c.yaml").read_text())["train"]["seed"] == 7


def test_cli_rejects_a_misspelt_value_before_reading_data_or_loading_tensorflow(tmp_path):
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "recsys_tf.cli.main", "train", "--data", str(tmp_path / "none"),
                           "--out", str(tmp_path / "run"), "--set", "model.history_encoder=transfomer"],
                          capture_output=True, text=True)
    seconds = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    assert "model.history_encoder" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert seconds < 10  # in practice ~1 s: Python start-up, no TensorFlow import (2 cores shared with tests)
    assert not (tmp_path / "run").exists()


def test_python_tags_and_alias_bombs_are_refused_in_under_a_second_with_a_short_message(tmp_path):
    tagged = tmp_path / "tagged.yaml"
    tagged.write_text('model: !!python/object/apply:os.system ["echo hi"]\n')
    with pytest.raises(InputError, match="not valid YAML.*python/object"):
        load_config(tagged)
    levels = ["&l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 7)]
    bomb = tmp_path / "bomb.yaml"  # 9^8 = 43 million values in ~400 bytes
    bomb.write_text(f"model:\n  hidden_dims: [{', '.join(levels)}, [{', '.join(['*l6'] * 9)}]]\n")
    assert bomb.stat().st_size < 500
    started = time.perf_counter()
    with pytest.raises(InputError, match="expands to more than 10000 values") as err:
        load_config(bomb)
    assert time.perf_counter() - started < 1 and len(str(err.value)) < 300
    with pytest.raises(InputError, match=r"\(\d+ characters\)"):  # a long wrong value is shown cut
        load_config(None, ["model.hidden_dims=[" + ", ".join(["[1]"] * 500) + "]"])
