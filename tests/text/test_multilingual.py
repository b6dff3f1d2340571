"""Text beyond English: Chinese and other CJK text through WordPiece BERT checkpoints in Hugging Face
format (tiny random ones written here, loaded through keras-hub's converter like a user's
downloaded directory), with token ids equal to the reference tokenizer's, and a Chinese synthetic
catalog through train → evaluate → export (fresh-process reload) → query."""
import json
import os
from pathlib import Path

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from tokenizers import BertWordPieceTokenizer

from recsys_tf.text.presets import PresetError, load_text_preset, minilm_path
from tests.text.hf_checkpoints import vocabulary_for, write_tiny_bert

# Chinese (simplified and traditional), Japanese, Korean, mixed Chinese + Latin, full- and
# half-width forms, punctuation of each script, zero-width and no-break spaces, rare CJK extension
# characters, combining accents, emoji
CJK_TEXTS = [
    "无线耳机", "蓝牙耳机 降噪", "真无线耳机，超长续航！", "AirPods Pro 2代", "华为FreeBuds 5i 无线耳机",
    "無線耳機（繁體）", "續航時間", "ワイヤレスイヤホン", "ノイズキャンセリング", "「限定」セール", "ｶﾞｲﾄﾞ half-width kana",
    "무선 이어폰", "블루투스 헤드폰", "한국어와 中文 mixed English", "ＡｉｒＰｏｄｓ　Ｐｒｏ", "１２３ｍｍ", "ＡＢＣ－１２３",
    "Ｔシャツ　ＸＬ", "Café crème 咖啡机", "iPhone15手机壳【透明】", "运动鞋 42码 男款", "机械键盘\u200b青轴",
    "耳机\u00a0耳机", "价格：¥199.00", "α-β 测试", "𠀀 rare ext-B char", "e\u0301 combining", "〇一二三", "㈱会社",
    "ℌ𝔢𝔩𝔩𝔬 math", "👍 好评 😊", "蓝牙5.3耳机", "", "  ",
]
WORDS = ["air", "##pods", "pro", "free", "##buds", "iphone", "##15", "mixed", "english", "combining", "rare"]
LEFT_OUT = "續ホ블"  # characters missing from the vocabulary: [UNK] on both sides


def _reference_ids(vocab_file: Path, lowercase: bool, texts: list[str], length: int) -> np.ndarray:
    """Hugging Face's BERT tokenizer (the `tokenizers` implementation of BasicTokenizer + WordPiece)."""
    reference = BertWordPieceTokenizer(str(vocab_file), lowercase=lowercase, clean_text=True,
                                       handle_chinese_chars=True, strip_accents=None)
    reference.enable_truncation(length)
    reference.enable_padding(length=length)
    return np.array([encoding.ids for encoding in reference.encode_batch(texts)])


def _our_ids(tokenizer, texts: list[str], length: int) -> np.ndarray:
    packer = keras_hub.layers.MultiSegmentPacker(start_value=tokenizer.cls_token_id, end_value=tokenizer.sep_token_id,
                                                 pad_value=tokenizer.pad_token_id, sequence_length=length)
    return packer(tokenizer(tf.constant(texts)))[0].numpy()


def _chinese_lexicon_texts() -> list[str]:
    """Every string the Chinese synthetic world writes with (what a Chinese checkpoint covers)."""
    from recsys_tf.data.catalog_vocabulary import DEPARTMENT_BRANDS
    from recsys_tf.data.catalog_vocabulary_zh import (
        COLOURS_ZH,
        DESCRIPTION_TEMPLATES_ZH,
        LEAVES_ZH,
        WELL_MADE_ZH,
    )

    texts = [WELL_MADE_ZH, "abcdefghijklmnopqrstuvwxyz0123456789.,-&"] + DESCRIPTION_TEMPLATES_ZH
    texts += [b for brands in DEPARTMENT_BRANDS.values() for b in brands] + [c for pair in COLOURS_ZH for c in pair]
    for category, nouns, features in LEAVES_ZH.values():
        texts += [category, *nouns, *(f for group in features for f in group)]
    return texts


def test_the_reference_implementation_reproduces_the_stored_transformers_token_ids(fixtures_dir):
    """`tokenizers` is the reference below: on the MiniLM fixture it gives exactly the token ids that
    `transformers` computed (scripts/make_parity_reference.py)."""
    texts = json.loads((fixtures_dir / "text/parity_texts.json").read_text())
    stored = np.load(fixtures_dir / "text/minilm_reference.npz")["token_ids_64"]
    np.testing.assert_array_equal(_reference_ids(minilm_path() / "vocab.txt", True, texts, 64), stored)


@pytest.mark.parametrize("lowercase", [False, True], ids=["cased (bert-base-chinese)", "uncased (multilingual)"])
def test_cjk_token_ids_equal_the_reference_for_a_hugging_face_checkpoint_directory(tmp_path, lowercase):
    checkpoint = write_tiny_bert(tmp_path / "zh", vocabulary_for(CJK_TEXTS, WORDS, LEFT_OUT), lowercase)
    backbone, tokenizer, info = load_text_preset(str(checkpoint))
    assert info["source"] == "huggingface dir" and tokenizer.reference_lowercase is lowercase
    assert backbone.get_config()["num_layers"] == 2
    ours = _our_ids(tokenizer, CJK_TEXTS, 48)
    theirs = _reference_ids(checkpoint / "vocab.txt", lowercase, CJK_TEXTS, 48)
    vocab = (checkpoint / "vocab.txt").read_text(encoding="utf-8").splitlines()
    for text, a, b in zip(CJK_TEXTS, ours, theirs):
        assert list(a) == list(b), f"{text!r}: {[vocab[i] for i in a if i]} vs {[vocab[i] for i in b if i]}"
    unk = tokenizer.token_to_id("[UNK]")
    assert (ours[CJK_TEXTS.index("續航時間")] == unk).sum() == 1  # a left-out character is [UNK], not dropped
    # the same weights as the file: keras-hub's converter mapped them
    from safetensors.numpy import load_file

    embeddings = load_file(str(checkpoint / "model.safetensors"))["embeddings.word_embeddings.weight"]
    np.testing.assert_allclose(backbone.get_layer("token_embedding").embeddings.numpy(), embeddings)


def test_a_sentencepiece_checkpoint_directory_is_refused_with_the_fix(tmp_path):
    directory = tmp_path / "xlmr"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": "xlm-roberta"}))
    (directory / "sentencepiece.bpe.model").write_bytes(b"\x00")
    with pytest.raises(PresetError, match="SentencePiece checkpoint \\(sentencepiece.bpe.model.*Fix: use a multilingual "
                                          "or Chinese WordPiece BERT"):
        load_text_preset(str(directory))


@pytest.mark.slow
def test_a_chinese_catalog_trains_evaluates_exports_and_answers_chinese_queries(tmp_path):
    from recsys_tf.data.schema import write_dataset
    from recsys_tf.data.splits import split_dataset
    from recsys_tf.data.synthetic import generate
    from recsys_tf.evaluation.evaluate import evaluate_run
    from recsys_tf.export.add_items import export_info
    from recsys_tf.export.exporter import export_run
    from recsys_tf.serving.local_client import LocalClient
    from recsys_tf.training.config import load_config
    from recsys_tf.training.run import train_run
    from tests.training.conftest import TINY

    dataset = generate(n_items=300, n_users=120, sessions_per_user=6, seed=7, n_judgment_queries=20, language="zh")
    data = write_dataset(split_dataset(dataset, "temporal-last"), tmp_path / "data")
    checkpoint = write_tiny_bert(tmp_path / "zh-bert", vocabulary_for(_chinese_lexicon_texts()), lowercase=False)
    # strict coverage: training fails if the checkpoint reads the Chinese text as [UNK]
    config = load_config(None, TINY + [f"text.preset={checkpoint}", "text.strict_coverage=true", "train.epochs=1",
                                       "train.max_steps_per_epoch=8"])
    run = tmp_path / "run"
    train_run(data, run, config, log=lambda *_: None)
    coverage = json.loads((run / "run.json").read_text())["text_coverage"]
    assert all(report["ok"] for report in coverage.values()) and coverage["queries"]["texts_checked"] > 0

    metrics = evaluate_run(run, baselines=("bm25",), log=lambda *_: None)
    assert metrics["text_coverage/evaluated_queries/unk_token_share"] == 0.0
    assert 0.0 <= metrics["search_judged/ndcg@10"] <= 1.0 and metrics["baselines/bm25/search_judged/ndcg@10"] > 0.3

    # the exporter reloads the SavedModel in a fresh process and compares every signature
    version = export_run(run, tmp_path / "exports", "zh", "brute_force", max_k=10, fusion_weight=0.5,
                         log=lambda *_: None)
    assert export_info(version)["reload_check"].startswith("identical outputs in a fresh process")
    results = LocalClient(str(version)).search("无线耳机", k=5)
    titles = dataset.items.set_index("item_id").loc[[item for item, _ in results[0]], "title"].tolist()
    assert sum("耳机" in title for title in titles) >= 3, titles


@pytest.mark.large
@pytest.mark.skipif(not os.environ.get("RECSYS_TF_CHINESE_CHECKPOINT"),
                    reason="set RECSYS_TF_CHINESE_CHECKPOINT to a Chinese or multilingual BERT directory")
def test_a_real_chinese_checkpoint_ranks_earphones_above_other_products():
    """The issue's example with a real checkpoint directory (e.g. bert-base-chinese) where one is present."""
    from recsys_tf.text.coverage import check_text_coverage
    from recsys_tf.text.text_encoder import TextEncoder

    encoder = TextEncoder.from_preset(os.environ["RECSYS_TF_CHINESE_CHECKPOINT"], sequence_length=32)
    earphones, others = ["蓝牙耳机", "真无线耳机", "降噪耳机"], ["机械键盘", "运动鞋"]
    reports = check_text_coverage(encoder, {"items": earphones + others + ["无线耳机"]}, strict=True)
    assert reports["items"]["ok"]
    vectors = encoder(tf.constant(["无线耳机"] + earphones + others)).numpy()
    scores = vectors[1:] @ vectors[0]
    assert scores[: len(earphones)].min() > scores[len(earphones):].max(), scores
