"""The tokenizer must give the reference implementation's token ids on every fixture text."""
import json

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from recsys_tf.text.presets import minilm_path
from recsys_tf.text.tokenizer import BertReferenceTokenizer


@pytest.fixture(scope="module")
def reference(fixtures_dir):
    texts = json.loads((fixtures_dir / "text/parity_texts.json").read_text())
    return texts, np.load(fixtures_dir / "text/minilm_reference.npz")


@pytest.mark.parametrize("length", [256, 64])
def test_token_ids_match_reference(reference, length):
    texts, ref = reference
    tokenizer = BertReferenceTokenizer(vocabulary=str(minilm_path() / "vocab.txt"))
    packer = keras_hub.layers.MultiSegmentPacker(start_value=tokenizer.cls_token_id, end_value=tokenizer.sep_token_id,
                                                 pad_value=tokenizer.pad_token_id, sequence_length=length)
    ids, _ = packer(tokenizer(tf.constant(texts)))
    for text, ours, theirs in zip(texts, ids.numpy(), ref[f"token_ids_{length}"]):
        np.testing.assert_array_equal(ours, theirs, err_msg=f"token ids differ for {text[:60]!r}")


def test_plain_keras_hub_config_differs_on_these_texts(reference):
    """Documents why BertReferenceTokenizer exists: keras-hub's converted tokenizer alone differs."""
    texts, ref = reference
    plain = keras_hub.models.BertTokenizer(vocabulary=str(minilm_path() / "vocab.txt"), lowercase=True)
    packer = keras_hub.layers.MultiSegmentPacker(start_value=plain.cls_token_id, end_value=plain.sep_token_id,
                                                 pad_value=plain.pad_token_id, sequence_length=64)
    ids, _ = packer(plain(tf.constant(texts)))
    assert (ids.numpy() != ref["token_ids_64"]).any(axis=1).sum() >= 3


def test_config_round_trip():
    tokenizer = BertReferenceTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"],
                                       reference_lowercase=False)
    config = tokenizer.get_config()
    again = BertReferenceTokenizer.from_config(config)
    assert again.get_config() == config and again.reference_strip_accents is False
