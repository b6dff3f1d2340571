import numpy as np
import pytest

from recsys_tf.text.embedding_cache import EmbeddingCache, encode_texts
from recsys_tf.text.text_encoder import TextEncoder


def test_cache_reuses_and_invalidates(tmp_path):
    encoder = TextEncoder.from_preset("tiny", sequence_length=16)
    texts = ["red mug", "blue mug", "red mug", "kettle"]
    cache = EmbeddingCache(encoder, tmp_path)
    first = cache.encode(texts)
    assert cache.misses == 4 and first.shape == (4, encoder.output_dim)
    np.testing.assert_allclose(first, encode_texts(encoder, texts), atol=1e-6)
    again = EmbeddingCache(encoder, tmp_path)
    np.testing.assert_array_equal(again.encode(texts), first)
    assert again.misses == 0
    again.encode(texts + ["new teapot"])
    assert again.misses == 1  # only the new text is encoded
    other_length = EmbeddingCache(TextEncoder(encoder.backbone, encoder.tokenizer, sequence_length=8), tmp_path)
    assert other_length.path != cache.path
    other_pooling = EmbeddingCache(TextEncoder(encoder.backbone, encoder.tokenizer, sequence_length=16,
                                               pooling="cls"), tmp_path)
    assert other_pooling.path != cache.path
    encoder.backbone.weights[0].assign(encoder.backbone.weights[0] + 1.0)
    assert EmbeddingCache(encoder, tmp_path).path != cache.path  # weights changed -> new fingerprint


def test_an_interrupted_encoding_keeps_its_finished_chunks(tmp_path, monkeypatch):
    import recsys_tf.text.embedding_cache as module

    encoder = TextEncoder.from_preset("tiny", sequence_length=16)
    texts = ["red mug", "blue mug", "kettle", "teapot", "green cup"]
    real, calls = module.encode_texts, []

    def crash_on_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "encode_texts", crash_on_the_second_chunk)
    cache = EmbeddingCache(encoder, tmp_path, chunk_texts=2)
    with pytest.raises(KeyboardInterrupt):
        cache.encode(texts)
    assert len(list(cache.chunks.iterdir())) == 1 and not cache.path.exists()
    assert EmbeddingCache(encoder, tmp_path).missing(texts + ["kettle"]) == texts[2:]
    monkeypatch.setattr(module, "encode_texts", real)
    resumed = EmbeddingCache(encoder, tmp_path, chunk_texts=2)
    vectors = resumed.encode(texts)
    assert resumed.misses == 3  # the first chunk's two texts were kept
    np.testing.assert_allclose(vectors, encode_texts(encoder, texts), atol=1e-6)
    assert resumed.path.exists() and not resumed.chunks.exists()  # merged into the main file
    assert EmbeddingCache(encoder, tmp_path).encode(texts).shape == (5, encoder.output_dim)
