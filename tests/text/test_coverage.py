"""The [UNK] coverage guard: it fires on the Chinese earphone example with the default English
checkpoint, names the field, the shares, examples and the fix, and stays quiet on English text."""
import numpy as np
import pytest

from recsys_tf.cli.main import main
from recsys_tf.text.coverage import SAMPLE, TextCoverageError, check_text_coverage, field_coverage
from recsys_tf.text.text_encoder import TextEncoder

CHINESE = ["无线耳机", "蓝牙耳机", "真无线耳机", "降噪耳机", "机械键盘", "运动鞋"]
ENGLISH = ["acme wireless earbuds, black", "blue yoga mat", "AirPods Pro 2", "steel water bottle 750 ml"]


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder.from_preset("minilm-l6", sequence_length=32)


@pytest.mark.large
def test_the_guard_fires_on_chinese_titles_with_the_english_checkpoint(minilm):
    # the collapse the guard is about: three different products, one vector
    vectors = minilm(np.array(CHINESE[:4]), training=False).numpy()
    assert np.allclose(vectors[0], vectors[1], atol=1e-5) and np.allclose(vectors[0], vectors[3], atol=1e-5)
    messages = []
    reports = check_text_coverage(minilm, {"item titles": CHINESE, "queries": ENGLISH}, log=messages.append)
    titles = reports["item titles"]
    assert not titles["ok"] and titles["mostly_unk_texts_share"] >= 0.5 and titles["texts_checked"] == 6
    assert reports["queries"] == {"field": "queries", "texts_checked": 4, "unk_token_share": 0.0,
                                  "mostly_unk_texts_share": 0.0, "examples": [], "ok": True}
    assert len(messages) == 1 and "item titles" in messages[0] and "'minilm-l6'" in messages[0]
    assert "'无线耳机'" in messages[0] and "Fix: a checkpoint whose vocabulary covers" in messages[0]
    with pytest.raises(TextCoverageError, match="item titles.*strict text coverage is on"):
        check_text_coverage(minilm, {"item titles": CHINESE}, strict=True)
    check_text_coverage(minilm, {"item titles": ENGLISH}, strict=True)  # English passes strictly


@pytest.mark.large
def test_large_fields_are_sampled_evenly_and_empty_texts_skipped(minilm):
    texts = ENGLISH * (SAMPLE // 2) + CHINESE * (SAMPLE // 4) + ["", "  "]
    report = field_coverage(minilm.tokenizer, texts, "titles")
    assert report["texts_checked"] == SAMPLE and 0.2 < report["mostly_unk_texts_share"] < 0.45
    assert field_coverage(minilm.tokenizer, ["", " "], "empty") == {
        "field": "empty", "texts_checked": 0, "unk_token_share": 0.0, "mostly_unk_texts_share": 0.0,
        "examples": [], "ok": True}


@pytest.mark.large
def test_text_embed_warns_and_strict_text_fails(tmp_path, capsys):
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(CHINESE) + "\n", encoding="utf-8")
    assert main(["text", "embed", "--input", str(lines), "--output", str(tmp_path / "e.npy")]) == 0
    assert "warning: text coverage of the lines of" in capsys.readouterr().err
    assert main(["text", "embed", "--input", str(lines), "--output", str(tmp_path / "f.npy"), "--strict-text"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "[UNK]" in err and "Fix" in err and not (tmp_path / "f.npy").exists()


def test_every_stage_warns_records_and_refuses_strictly_on_a_chinese_catalog(split_dir, tmp_path):
    """train → evaluate → export → add-items with the tiny (English-only) vocabulary on Chinese
    titles: each stage warns, records the shares, and `strict_text` stops it before it writes."""
    from recsys_tf.data.schema import read_dataset, write_dataset
    from recsys_tf.evaluation.evaluate import evaluate_run, write_report
    from recsys_tf.export.add_items import add_items, export_info
    from recsys_tf.export.exporter import export_run
    from recsys_tf.training.config import load_config
    from recsys_tf.training.run import train_run
    from tests.training.conftest import TINY

    dataset = read_dataset(split_dir)
    dataset.items = dataset.items.assign(title=[CHINESE[i % len(CHINESE)] for i in range(len(dataset.items))])
    data = write_dataset(dataset, tmp_path / "chinese")
    messages = []
    run = tmp_path / "run"
    train_run(data, run, load_config(None, TINY + ["train.epochs=1", "train.max_steps_per_epoch=4"]),
              log=messages.append)
    assert any(m.startswith("warning: text coverage of item titles") for m in messages)

    messages.clear()
    metrics = evaluate_run(run, baselines=(), log=messages.append)
    assert metrics["text_coverage/item_titles/mostly_unk_texts_share"] == 1.0
    assert metrics["text_coverage/item_descriptions/unk_token_share"] <= 0.02
    assert metrics["text_coverage/evaluated_queries/unk_token_share"] <= 0.02  # English queries
    assert len(messages) == 1 and "item titles" in messages[0] and "'tiny'" in messages[0]
    report = write_report(metrics, tmp_path / "report", plots=False, tensorboard=False).read_text()
    assert "| item titles | " in report and "**over the limit**" in report and "| evaluated queries | 0.0% | 0.0% | ok |" in report
    with pytest.raises(TextCoverageError, match="item titles.*strict text coverage is on for evaluate"):
        evaluate_run(run, baselines=(), strict_text=True, log=lambda *_: None)

    root = tmp_path / "exports"
    with pytest.raises(TextCoverageError, match="item titles.*for export"):
        export_run(run, root, "m", verify=False, strict_text=True, log=lambda *_: None)
    assert not (root / "m").exists() or not any((root / "m").iterdir())
    messages.clear()
    version = export_run(run, root, "m", verify=False, log=messages.append)
    recorded = export_info(version)["text_coverage"]
    assert not recorded["item titles"]["ok"] and recorded["queries"]["ok"]
    assert any("warning: text coverage of item titles" in m for m in messages)

    new_items = tmp_path / "new.csv"
    new_items.write_text("item_id,title\nzh1,降噪耳机\nzh2,机械键盘\n", encoding="utf-8")
    with pytest.raises(TextCoverageError, match="added item titles.*strict text coverage is on"):
        add_items(version, new_items, verify=False, strict_text=True, log=lambda *_: None)
    assert sorted(p.name for p in (root / "m").iterdir()) == [version.name]
    english = tmp_path / "english.csv"
    english.write_text("item_id,title\nen1,blue yoga mat\n", encoding="utf-8")
    added = add_items(version, english, verify=False, log=lambda *_: None)
    coverage = export_info(added)["text_coverage"]
    assert coverage["added item titles"]["ok"] and not coverage["item titles"]["ok"]
