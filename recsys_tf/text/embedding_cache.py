"""Frozen-mode embedding cache: encode a catalog's texts once, reuse the vectors while nothing changed.

A cache file holds the vectors of one *encoder fingerprint* = SHA-256 of (preset name, sequence
length, pooling, projection, normalisation, and the bytes of every weight), so any change of
model or weights starts a new file. Inside it, vectors are keyed by the SHA-256 of each text:
new or edited texts are encoded, unchanged texts are reused. Files are written atomically.

Encoding is resumable: every `CHUNK_TEXTS` new texts are written as a chunk file
(`<file>.chunks/<random>.npz`) as soon as they are encoded, and read back with the main file, so a
crash loses at most one chunk (1M item texts take over an hour on 2 cores); a finished `encode`
merges the chunks into the main file.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
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


CHUNK_TEXTS = 8192  # texts encoded between two progress files


class EmbeddingCache:
    """Cache of text vectors for one encoder under `cache_dir`.

    Example:
        cache = EmbeddingCache(encoder, "runs/x/text_cache")
        vectors = cache.encode(item_texts)          # encodes all the first time
        vectors = cache.encode(item_texts)          # reuses every vector
    """

    def __init__(self, encoder, cache_dir: str | os.PathLike, batch_size: int = 256, chunk_texts: int = CHUNK_TEXTS):
        self.encoder = encoder
        self.batch_size, self.chunk_texts = batch_size, chunk_texts
        self.fingerprint = encoder_fingerprint(encoder)
        self.path = Path(cache_dir) / f"{self.fingerprint[:32]}.npz"
        self.chunks = self.path.with_name(self.path.name + ".chunks")
        self.hits = self.misses = 0

    def _read(self, path: Path) -> dict[bytes, np.ndarray]:
        data = np.load(path, allow_pickle=False)
        if str(data["fingerprint"]) != self.fingerprint:
            return {}
        return {bytes(k): v for k, v in zip(data["keys"], data["vectors"])}

    def _load(self) -> dict[bytes, np.ndarray]:
        """The main file's vectors and those of the chunks an interrupted `encode` left."""
        stored = self._read(self.path) if self.path.exists() else {}
        for chunk in sorted(self.chunks.glob("*.npz")) if self.chunks.exists() else []:
            stored.update(self._read(chunk))
        return stored

    def missing(self, texts: list[str]) -> list[str]:
        """The distinct texts of `texts` without a vector in the cache (chunks included), in order."""
        stored = self._load()
        return list(dict.fromkeys(t for t in texts if text_key(t) not in stored))

    def write_chunk(self, texts: list[str], progress: bool = False) -> dict[bytes, np.ndarray]:
        """Encode `texts` and write them as one chunk file at once (uniquely named: writers of one
        cache may run in parallel, e.g. the workers of a Beam job). Returns key -> vector."""
        chunk = dict(zip((text_key(t) for t in texts), encode_texts(self.encoder, list(texts), self.batch_size, progress)))
        if chunk:
            self._write(self.chunks / f"{uuid.uuid4().hex}.npz", chunk)
        return chunk

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        stored = self._load()
        keys = [text_key(t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in stored))
        self.hits = sum(k in stored for k in keys)
        self.misses = len(texts) - self.hits
        for start in range(0, len(missing), self.chunk_texts):
            stored.update(self.write_chunk(missing[start:start + self.chunk_texts], progress))
        if self.chunks.exists():  # merge the progress files into the main file, then drop them
            self._write(self.path, stored)
            shutil.rmtree(self.chunks, ignore_errors=True)
        if not texts:
            return np.zeros((0, self.encoder.output_dim), np.float32)
        return np.stack([stored[k] for k in keys]).astype(np.float32)

    def _write(self, path: Path, stored: dict[bytes, np.ndarray]) -> None:
        keys = np.array(list(stored.keys()), dtype="S32")
        atomic_write(path, lambda tmp: np.savez(tmp, fingerprint=np.array(self.fingerprint), keys=keys,
                                                vectors=np.stack(list(stored.values())).astype(np.float32)))
