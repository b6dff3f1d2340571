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
