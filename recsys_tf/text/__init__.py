"""Text tower: keras-hub BERT with reference-exact tokenization, pooling, projection, caching."""
from recsys_tf.text.distill import DistilledTextEncoder, distill_query_encoder
from recsys_tf.text.embedding_cache import EmbeddingCache
from recsys_tf.text.presets import DEFAULT_PRESET, PresetError, load_text_preset
from recsys_tf.text.text_encoder import TextEncoder
from recsys_tf.text.tokenizer import BertReferenceTokenizer

__all__ = ["DEFAULT_PRESET", "BertReferenceTokenizer", "DistilledTextEncoder", "EmbeddingCache", "PresetError",
           "TextEncoder", "distill_query_encoder", "load_text_preset"]
