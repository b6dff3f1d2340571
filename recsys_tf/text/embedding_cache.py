"""Frozen-mode embedding cache: encode a catalog's texts once, reuse the vectors while nothing changed.

A cache file holds the vectors of one *encoder fingerprint* = SHA-256 of (preset name, sequence
length, pooling, projection, normalisation, and the bytes of every weight), so any change of
model or weights starts a new file. Inside it, vectors are keyed by the SHA-256 of each text:
new or edited texts are encoded, unchanged texts are reused. Files are written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from recsys_tf.atomic import atomic_write


def encoder_fingerprint(encoder) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"preset": encoder.preset, "sequence_length": encoder.sequence_length,
                              "pooling": encoder.pooling, "projection_dim": encoder.projection_dim,
                              "normalize": encoder.normalize}, sort_keys=True).encode())
    for weight in encoder.weights:
        digest.update(weight.path.encode())
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def encode_texts(encoder, texts: list[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """Encode texts in batches (graph-compiled). Returns float32 (len(texts), encoder.output_dim)."""
    import tensorflow as tf

    fn = tf.function(lambda t: encoder(t, training=False), reduce_retracing=True)
    out = np.zeros((len(texts), encoder.output_dim), dtype=np.float32)
    starts = range(0, len(texts), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="encoding texts", unit="batch")
    for start in starts:
        batch = tf.constant(texts[start:start + batch_size], dtype=tf.string)
        out[start:start + batch_size] = fn(batch).numpy()
    return out


class EmbeddingCache:
    """Cache of text vectors for one encoder under `cache_dir`.

    Example:
        cache = EmbeddingCache(encoder, "runs/x/text_cache")
        vectors = cache.encode(item_texts)          # encodes all the first time
        vectors = cache.encode(item_texts)          # reuses every vector
    """

    def __init__(self, encoder, cache_dir: str | os.PathLike, batch_size: int = 256):
        self.encoder = encoder
        self.batch_size = batch_size
        self.fingerprint = encoder_fingerprint(encoder)
        self.path = Path(cache_dir) / f"{self.fingerprint[:32]}.npz"
        self.hits = self.misses = 0

    def _load(self) -> dict[bytes, np.ndarray]:
        if not self.path.exists():
            return {}
        data = np.load(self.path, allow_pickle=False)
        if str(data["fingerprint"]) != self.fingerprint:
            return {}
        return {bytes(k): v for k, v in zip(data["keys"], data["vectors"])}

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        stored = self._load()
        keys = [text_key(t) for t in texts]
        missing = sorted({i for i, k in enumerate(keys) if k not in stored}, key=int)
        unique_missing: dict[bytes, int] = {}
        for i in missing:
            unique_missing.setdefault(keys[i], i)
        self.hits, self.misses = len(texts) - len(missing), len(missing)
        if unique_missing:
            new = encode_texts(self.encoder, [texts[i] for i in unique_missing.values()],
                               self.batch_size, progress)
            stored.update(zip(unique_missing.keys(), new))
            self._save(stored)
        if not texts:
            return np.zeros((0, self.encoder.output_dim), np.float32)
        return np.stack([stored[k] for k in keys]).astype(np.float32)

    def _save(self, stored: dict[bytes, np.ndarray]) -> None:
        keys = np.array(list(stored.keys()), dtype="S32")
        atomic_write(self.path, lambda tmp: np.savez(tmp, fingerprint=np.array(self.fingerprint), keys=keys,
                                                     vectors=np.stack(list(stored.values())).astype(np.float32)))
