"""Retrieval indexes over item embeddings: TFRS ScaNN (approximate) and BruteForce (exact)."""
from recsys_tf.index.build import (
    INDEX_KINDS,
    build_index,
    default_scann_params,
    recall_against_exact,
)

__all__ = ["INDEX_KINDS", "build_index", "default_scann_params", "recall_against_exact"]
