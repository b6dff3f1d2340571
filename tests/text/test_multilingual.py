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
    packer = keras_hub.layers.MultiSegmentPacker(start_value=tokenizer.start_token_id, end_value=tokenizer.end_token_id,
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


def _sentencepiece_corpus() -> list[str]:
    english = ["the quick brown fox jumps over the lazy dog", "wireless earbuds with noise cancelling",
               "Café crème, naïve résumé", "stainless steel water bottle"]
    return CJK_TEXTS * 3 + _chinese_lexicon_texts() * 2 + english * 5


def _fairseq_reference_ids(model_file: Path, texts: list[str], length: int) -> np.ndarray:
    """The reference XLM-RoBERTa tokenizer (Hugging Face's `XLMRobertaTokenizer`, fairseq's ids):
    SentencePiece ids + 1, SentencePiece's <unk> (0) -> 3, then <s> ... </s> and <pad> = 1."""
    import sentencepiece

    model = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
    rows = []
    for text in texts:
        ids = [i + 1 if i else 3 for i in model.encode(text)][: length - 2]
        rows.append([0] + ids + [2] + [1] * (length - 2 - len(ids)))
    return np.array(rows)


@pytest.fixture(scope="module")
def xlm_roberta_dir(tmp_path_factory):
    from tests.text.hf_checkpoints import write_tiny_xlm_roberta

    return write_tiny_xlm_roberta(tmp_path_factory.mktemp("xlmr") / "xlmr", _sentencepiece_corpus())


def test_sentencepiece_token_ids_equal_the_reference_for_an_xlm_roberta_directory(xlm_roberta_dir):
    backbone, tokenizer, info = load_text_preset(str(xlm_roberta_dir))
    assert info["source"] == "huggingface dir (sentencepiece)"
    assert isinstance(backbone, keras_hub.models.XLMRobertaBackbone)
    texts = CJK_TEXTS + ["\ufffd replaced", "tab\there", "a  b   c", " lead", "trail ", "\x00nul", "ééé"]
    ours = _our_ids(tokenizer, texts, 48)
    theirs = _fairseq_reference_ids(xlm_roberta_dir / "sentencepiece.bpe.model", texts, 48)
    for text, a, b in zip(texts, ours, theirs):
        assert list(a) == list(b), f"{text!r}: {list(a)} vs {list(b)}"
    assert (ours == 3).any()  # characters the tiny model does not know are <unk>, as in the reference
    from safetensors.numpy import load_file

    weights = load_file(str(xlm_roberta_dir / "model.safetensors"))
    np.testing.assert_allclose(backbone.token_embedding.embeddings.numpy(),
                               weights["embeddings.word_embeddings.weight"])
    # RoBERTa positions start after two reserved rows; keras-hub folds token type 0 into them
    np.testing.assert_allclose(backbone.embeddings.position_embedding.position_embeddings.numpy(),
                               weights["embeddings.position_embeddings.weight"][2:]
                               + weights["embeddings.token_type_embeddings.weight"][0], rtol=1e-6)


def test_an_xlm_roberta_text_encoder_and_its_distilled_student_match_the_backbone(xlm_roberta_dir, tmp_path):
    import keras

    from recsys_tf.text.distill import DistilledTextEncoder
    from recsys_tf.text.text_encoder import TextEncoder, unknown_token_id
    from tests.layer_harness import run_layer_test

    encoder = TextEncoder.from_preset(str(xlm_roberta_dir), sequence_length=16)
    texts = tf.constant(["无线耳机", "wireless earbuds", "", "ワイヤレスイヤホン"])
    tokens = encoder.preprocess(texts)
    # NumPy reference: the backbone's sequence output, mean-pooled over the mask, L2-normalised
    hidden = encoder.backbone({"token_ids": tokens["token_ids"], "padding_mask": tokens["padding_mask"]}).numpy()
    mask = tokens["padding_mask"].numpy()[..., None]
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    expected = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    keras_inputs = {"token_ids": keras.Input(shape=(16,), dtype="int32", name="token_ids"),
                    "padding_mask": keras.Input(shape=(16,), dtype="int32", name="padding_mask")}
    run_layer_test(encoder, tokens, keras_inputs, tmp_path, expected=expected)
    loaded = keras.saving.load_model(tmp_path / f"{encoder.name}.keras")  # the SentencePiece model is an asset
    reloaded = [layer for layer in loaded.layers if isinstance(layer, TextEncoder)][0]
    np.testing.assert_allclose(reloaded(texts).numpy(), expected, atol=1e-5)
    assert unknown_token_id(encoder.tokenizer) == 3 and encoder.tokenizer.pad_token_id == 1
    # a student with every teacher layer is the teacher
    student = DistilledTextEncoder(encoder.backbone, encoder.tokenizer, num_layers=2, init_layers=[0, 1],
                                   sequence_length=16)
    np.testing.assert_allclose(student(texts).numpy(), expected, atol=1e-5)


def test_a_sentencepiece_directory_of_another_model_type_is_refused_with_the_fix(tmp_path):
    directory = tmp_path / "t5"
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps({"model_type": "t5"}))
    (directory / "sentencepiece.bpe.model").write_bytes(b"\x00")
    (directory / "model.safetensors").write_bytes(b"")
    with pytest.raises(PresetError, match="model_type 't5'.*Fix: use an XLM-RoBERTa or a BERT checkpoint"):
        load_text_preset(str(directory))


@pytest.mark.slow
@pytest.mark.parametrize("tokenizer_kind", ["wordpiece", "sentencepiece"])
def test_a_chinese_catalog_trains_evaluates_exports_and_answers_chinese_queries(tmp_path, tokenizer_kind):
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
    if tokenizer_kind == "wordpiece":  # a Chinese BERT (bert-base-chinese is cased)
        checkpoint = write_tiny_bert(tmp_path / "zh", vocabulary_for(_chinese_lexicon_texts()), lowercase=False)
    else:  # a multilingual XLM-RoBERTa (paraphrase-multilingual-MiniLM-L12-v2's family)
        from tests.text.hf_checkpoints import write_tiny_xlm_roberta

        checkpoint = write_tiny_xlm_roberta(tmp_path / "zh", _sentencepiece_corpus())
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
    from recsys_tf.export.op_audit import audit

    report = audit(version)  # both tokenizers are TF Text ops: the stock image loads either export
    assert report["serving_image"].startswith("stock tensorflow/serving") and not report["ops"]["unknown"]
    assert ("SentencepieceOp" in report["ops"]["tftext"]) is (tokenizer_kind == "sentencepiece")
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
