"""Default preset vs the reference sentence-transformers all-MiniLM-L6-v2 (vectors computed once by
scripts/make_parity_reference.py in a throwaway PyTorch venv, stored as a small fixture)."""
import json

import numpy as np
import pytest
import tensorflow as tf

from recsys_tf.text.text_encoder import TextEncoder

pytestmark = pytest.mark.large


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder.from_preset("minilm-l6", sequence_length=256)


@pytest.mark.parametrize("length", [256, 64])
def test_embeddings_match_reference(minilm, fixtures_dir, length):
    texts = json.loads((fixtures_dir / "text/parity_texts.json").read_text())
    reference = np.load(fixtures_dir / "text/minilm_reference.npz")[f"embeddings_{length}"]
    encoder = TextEncoder(minilm.backbone, minilm.tokenizer, sequence_length=length)
    ours = encoder(tf.constant(texts)).numpy()
    cosine = (ours * reference).sum(axis=1)
    for text, value in zip(texts, cosine):
        assert value >= 0.999, f"cosine {value:.5f} for {text[:60]!r}"
    assert np.isfinite(ours).all()


def test_checkpoint_hash_is_verified(tmp_path):
    from recsys_tf.text.presets import PresetError, verify_checkpoint

    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"not the real weights")
    with pytest.raises(PresetError, match="expected 53aa5117.*Refusing"):
        verify_checkpoint(fake)
