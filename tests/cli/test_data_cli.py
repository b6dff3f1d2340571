import json

import pytest

from recsys_tf.cli.main import main


def test_synth_validate_stats_split(tmp_path, capsys):
    raw, split = tmp_path / "raw", tmp_path / "split"
    assert main(["data", "synth", "--out", str(raw), "--items", "120", "--users", "30"]) == 0
    assert main(["data", "validate", str(raw)]) == 0
    assert main(["data", "stats", str(raw)]) == 0
    assert (raw / "popularity.png").stat().st_size > 1000
    assert main(["data", "split", str(raw), "--out", str(split), "--strategy", "random"]) == 0
    info = json.loads((split / "dataset.json").read_text())
    assert info["split"]["strategy"] == "random" and set(info["counts"]["events_by_split"]) == {"train", "test"}


def test_load_movielens_and_judgments(tmp_path, fixtures_dir, capsys):
    out = tmp_path / "ml"
    assert main(["data", "load", "--format", "movielens-100k", "--path",
                 str(fixtures_dir / "movielens-100k"), "--out", str(out)]) == 0
    assert "4 rejected rows" in capsys.readouterr().out
    assert main(["data", "load", "--format", "judgments", "--path", str(fixtures_dir / "judgments.csv"),
                 "--out", str(out)]) == 0
    assert (out / "judgments.parquet").exists()


def test_bad_input_is_one_line_error(tmp_path, capsys):
    assert main(["data", "validate", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err and "Fix" in err
    assert main(["data", "load", "--format", "table", "--path", str(tmp_path), "--out", str(tmp_path / "o")]) == 2


def test_validate_flags_a_corrupted_directory(tmp_path, capsys):
    import pandas as pd

    raw = tmp_path / "raw"
    main(["data", "synth", "--out", str(raw), "--items", "60", "--users", "10"])
    events = pd.read_parquet(raw / "events.parquet")
    events.loc[0, "item_id"] = "NOT-AN-ITEM"
    events.to_parquet(raw / "events.parquet")
    assert main(["data", "validate", str(raw)]) == 1
    assert "unknown item_id" in capsys.readouterr().out


def test_prepare_in_process_and_on_beam_write_the_same_counts(tmp_path, capsys):
    raw, split = tmp_path / "raw", tmp_path / "split"
    main(["data", "synth", "--out", str(raw), "--items", "80", "--users", "20"])
    main(["data", "split", str(raw), "--out", str(split), "--validation-fraction", "0.1"])
    assert main(["data", "prepare", str(split), "--out", str(tmp_path / "a"), "--set", "model.max_history=5"]) == 0
    assert main(["data", "prepare", str(split), "--out", str(tmp_path / "b"), "--set", "model.max_history=5",
                 "--runner", "DirectRunner", "--pipeline-option", "direct_num_workers=1", "--shards", "1"]) == 0
    a, b = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in "ab")
    assert a["max_history"] == b["max_history"] == 5 and a["writer"] == "in-process"
    assert {k: v["examples"] for k, v in a["splits"].items()} == {k: v["examples"] for k, v in b["splits"].items()}
    assert b["splits"]["train"]["shards"] == ["train-00000-of-00001.tfrecord"]
    capsys.readouterr()
    assert main(["data", "prepare", str(split), "--out", str(tmp_path / "c"), "--pipeline-option", "x=1"]) == 2
    assert "needs a Beam `--runner`" in capsys.readouterr().err
    assert main(["data", "prepare", str(split), "--out", str(tmp_path / "c"), "--runner", "DirectRunner",
                 "--pipeline-option=--x=1"]) == 2
    assert "without leading dashes" in capsys.readouterr().err
    assert main(["data", "prepare", str(raw), "--out", str(tmp_path / "c")]) == 2
    assert "no `split` column" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_prepare_encode_texts_fills_the_cache_training_reads_on_beam_and_in_process(tmp_path, capsys):
    """`--encode-texts` on DirectRunner writes one chunk per batch of texts and merges them; the cache
    is the training item encoder's (every text a hit), and in process nothing is left to encode."""
    import numpy as np

    from recsys_tf.text.embedding_cache import EmbeddingCache, encode_texts
    from recsys_tf.text.encode_catalog import catalog_texts, encode_catalog, item_encoder
    from recsys_tf.training.config import load_config

    raw, cache = tmp_path / "raw", tmp_path / "cache"
    main(["data", "synth", "--out", str(raw), "--items", "60", "--users", "10", "--split", "temporal-last"])
    settings = ["--set", "text.preset=tiny", "--set", "text.item_sequence_length=16", "--set", f"text.cache_dir={cache}"]
    assert main(["data", "prepare", str(raw), "--out", str(tmp_path / "ex"), "--encode-texts", *settings[:4]]) == 2
    assert "no `text.cache_dir` is set" in capsys.readouterr().err
    assert main(["data", "prepare", str(raw), "--out", str(tmp_path / "ex"), "--encode-texts", "--runner",
                 "DirectRunner", "--pipeline-option", "direct_num_workers=1", *settings]) == 0
    config = load_config(None, ["text.preset=tiny", "text.item_sequence_length=16"])
    texts = catalog_texts(raw)
    cached = EmbeddingCache(item_encoder(config), cache)
    assert cached.path.exists() and not cached.chunks.exists() and cached.missing(texts) == []
    np.testing.assert_allclose(cached.encode(texts), encode_texts(item_encoder(config), texts), atol=1e-5)
    assert cached.misses == 0
    again = encode_catalog(raw, config, cache, log=None)
    assert again == {"texts": len(texts), "encoded": 0, "cache": str(cached.path)}
    assert encode_catalog(raw, config, tmp_path / "other", runner="DirectRunner", batch_texts=16, log=None)["encoded"] \
        == len(texts)
    with pytest.raises(Exception, match="frozen-mode text cache.*text.mode='lora'"):
        encode_catalog(raw, load_config(None, ["text.preset=tiny", "text.mode=lora"]), cache, log=None)
