import numpy as np

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
