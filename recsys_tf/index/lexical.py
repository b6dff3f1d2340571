"""BM25 over the catalog text as TensorFlow variables, scored inside a SavedModel.

Why our own: `bm25s` (the evaluation baseline) is Python/NumPy and cannot run in TF Serving; TF
Text's tokenizers need its custom ops, which the stock TF Serving image does not load; neither
TFRS nor keras-rs ships a lexical scorer. So the tokenizer here uses core TF string ops only, the
same function tokenizes the catalog at index time and the query at serving time (parity by
construction), and the index is four tensors:

* `terms` `(T,)` int64: sorted 62-bit hashes of every term of the catalog (hashing instead of a
  vocabulary: no lookup table to track, and added items need no vocabulary change; at 10^6 distinct
  terms the chance of any collision is ~1e-7);
* `starts` `(T + 1,)` int64: term t's postings are `[starts[t], starts[t + 1])`;
* `items` `(nnz,)` int32 and `weights` `(nnz,)` float32: the item index (1-based, as the model's)
  and the BM25 weight `idf(t) · tf·(k1 + 1) / (tf + k1·(1 − b + b·len/avg_len))` of each posting
  (k1 = 1.2, b = 0.75, idf = ln(1 + (N − df + 0.5)/(df + 0.5)), Lucene's defaults).

A query's score for an item is the sum of the weights of its distinct terms (a repeated query word
counts once, so "earbuds earbuds earbuds" is "earbuds").

Tokenizer (`tokenize`): full-width ASCII forms (U+FF01–FF5E) become ASCII, text is lowercased,
every Han / Hiragana / Katakana character is a term of its own (CJK text has no spaces), every run
of characters that is neither a letter nor a digit separates terms ("1/2 in." → 1, 2, in), a final
"s" after at least two letters other than "s" is dropped (earbuds → earbud, glass stays), English
stopwords are dropped, and a query keeps its first MAX_QUERY_TERMS terms.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from recsys_tf.index import fusion
from recsys_tf.index.topk import rows_per_block, top_k_items

HASH_BUCKETS = 2 ** 62
MAX_QUERY_TERMS = 64
K1, B = 1.2, 0.75
# dense candidates fused per query when evaluating or calibrating: the exported search's `fetch`
# (max_k + max_exclude) at the export defaults 100 + 64
FUSION_POOL = 164
# the common English function words (a short list: product text has few, and a dropped term
# cannot be searched for)
STOPWORDS = (
    "a an and are as at be but by for from has have he her his i if in into is it its me my no not of on or "
    "our she so than that the their them then there these they this to was we were what when which who will "
    "with you your").split()
CJK = r"([\p{Han}\p{Hiragana}\p{Katakana}])"


def _fold_full_width(texts):
    """Full-width ASCII forms (U+FF01–FF5E, e.g. "ＡＢＣ１２") -> ASCII, with core TF ops."""
    points = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
    wide = (points >= 0xFF01) & (points <= 0xFF5E)
    points = tf.ragged.map_flat_values(lambda p, w: tf.where(w, p - 0xFEE0, p), points, wide)
    return tf.strings.unicode_encode(points, "UTF-8")


def fold_full_width(texts: list[str]) -> list[str]:
    """`_fold_full_width` in Python: what the exported graph does to a query before the dense query
    encoder too (BERT's uncased tokenizer lowercases but keeps "ＡＢＣ" as unknown pieces: judged
    synthetic queries in full-width upper case scored NDCG@10 0.013 dense-only without this fold)."""
    return ["".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in str(t)) for t in texts]


def tokenize(texts) -> tf.RaggedTensor:
    """`(B,)` strings -> `(B, None)` int64 term hashes (the module docstring's rules)."""
    texts = tf.convert_to_tensor(texts, tf.string)
    text = tf.strings.lower(_fold_full_width(texts), encoding="utf-8")
    text = tf.strings.regex_replace(text, CJK, r" \1 ")
    text = tf.strings.regex_replace(text, r"[^\p{L}\p{N}]+", " ")
    words = tf.strings.split(tf.strings.strip(text))
    words = tf.ragged.map_flat_values(tf.strings.regex_replace, words, r"^(\p{L}+[^s\P{L}])s$", r"\1")
    hashes = tf.strings.to_hash_bucket_fast(words, HASH_BUCKETS)
    stop = tf.strings.to_hash_bucket_fast(tf.constant(STOPWORDS), HASH_BUCKETS)
    keep = ~tf.reduce_any(tf.equal(hashes.flat_values[:, None], stop[None, :]), axis=1)
    return tf.ragged.boolean_mask(hashes, hashes.with_flat_values(keep))


def tokenize_numpy(texts: list[str], batch_size: int = 4096) -> list[np.ndarray]:
    """`tokenize` over a Python list, in batches: the term hashes of each text."""
    out: list[np.ndarray] = []
    for start in range(0, len(texts), batch_size):
        out.extend(row for row in tokenize(tf.constant(texts[start:start + batch_size], tf.string)).numpy())
    return [np.asarray(row, np.int64) for row in out]


def bm25_postings(texts: list[str]) -> dict[str, np.ndarray]:
    """The index arrays (module docstring) of `texts` (item index i + 1 = texts[i])."""
    tokens = tokenize_numpy(list(texts))
    n = len(tokens)
    lengths = np.array([len(t) for t in tokens], np.float64)
    average = max(float(lengths.mean()) if n else 0.0, 1e-9)
    doc = np.repeat(np.arange(n, dtype=np.int64), [len(t) for t in tokens])
    flat = np.concatenate(tokens) if n else np.zeros(0, np.int64)
    # (term, item) pairs with their counts, sorted by term then item
    pairs, counts = np.unique(np.stack([flat, doc], axis=1), axis=0, return_counts=True) if len(flat) else \
        (np.zeros((0, 2), np.int64), np.zeros(0, np.int64))
    terms, starts, df = np.unique(pairs[:, 0], return_index=True, return_counts=True)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    items = pairs[:, 1]
    tf_ = counts.astype(np.float64)
    norm = K1 * (1.0 - B + B * lengths[items] / average)
    weights = np.repeat(idf, df) * tf_ * (K1 + 1.0) / (tf_ + norm)
    return {"terms": terms.astype(np.int64), "starts": np.append(starts, len(pairs)).astype(np.int64),
            "items": (items + 1).astype(np.int32), "weights": weights.astype(np.float32)}


class LexicalIndex(tf.Module):
    """BM25 scores of the catalog for raw query strings, in the graph (module docstring)."""

    def __init__(self, texts: list[str], name: str = "lexical_index"):
        super().__init__(name=name)
        arrays = bm25_postings(texts)
        self.num_items = len(texts)
        self.postings = int(len(arrays["items"]))
        # variables (not constants): a SavedModel's graph proto must stay under 2 GB
        self.terms = tf.Variable(arrays["terms"], trainable=False, name="terms")
        self.starts = tf.Variable(arrays["starts"], trainable=False, name="starts")
        self.items = tf.Variable(arrays["items"], trainable=False, name="items")
        self.weights = tf.Variable(arrays["weights"], trainable=False, name="weights")

    @property
    def nbytes(self) -> int:
        """Bytes of the four index tensors (what an export must store for it)."""
        return sum(int(np.prod(v.shape)) * v.dtype.size for v in (self.terms, self.starts, self.items, self.weights))

    def describe(self) -> dict:
        return {"items": self.num_items, "terms": int(self.terms.shape[0]), "postings": self.postings,
                "bytes": self.nbytes}

    def scores(self, queries) -> tf.Tensor:
        """`(B,)` query strings -> `(B, num_items + 1)` float32 BM25 scores (column 0, padding, is 0;
        a query without a known term scores 0 everywhere)."""
        queries = tf.strings.substr(tf.convert_to_tensor(queries, tf.string), 0, 4096, unit="UTF8_CHAR")
        terms = tokenize(queries)[:, :MAX_QUERY_TERMS]
        batch = tf.shape(queries, out_type=tf.int64)[0]
        if self.terms.shape[0] == 0:  # a catalog without any term (static: known when the index is built)
            return tf.zeros(tf.stack([batch, self.num_items + 1]), tf.float32)
        rows = terms.value_rowids()
        n_terms = tf.shape(self.terms, out_type=tf.int64)[0]
        position = tf.searchsorted(self.terms, terms.flat_values, out_type=tf.int64)
        safe = tf.minimum(position, tf.maximum(n_terms - 1, 0))
        found = (position < n_terms) & tf.equal(tf.gather(self.terms, safe), terms.flat_values)
        # one (row, term) pair per distinct query term
        keys, _ = tf.unique(tf.boolean_mask(rows * (n_terms + 1) + safe, found))
        rows, term = keys // (n_terms + 1), keys % (n_terms + 1)
        begin, end = tf.gather(self.starts, term), tf.gather(self.starts, term + 1)
        postings = tf.ragged.range(begin, end)
        posting_rows = tf.repeat(rows, end - begin)
        width = self.num_items + 1
        slots = posting_rows * width + tf.cast(tf.gather(self.items, postings.flat_values), tf.int64)
        flat = tf.math.unsorted_segment_sum(tf.gather(self.weights, postings.flat_values), slots, batch * width)
        return tf.reshape(flat, [batch, width])


def fuse(query_vectors, item_vectors, dense_items, lexical_scores, weight: float, pad_score: float = -1e9):
    """Hybrid search candidates: `(scores, item indices)` `(B, 2P)` of the dense top P (`dense_items`
    `(B, P)` item indices from the vector index, 0 = none) merged with the lexical top P of
    `lexical_scores` `(B, N + 1)`, so an item found by either can rank; each candidate's exact dense
    score (`query · item`) and BM25 score fused by `index/fusion.py::fuse` (dense min-max, BM25 / best,
    `(1 − weight) · dense + weight · bm25`). Invalid slots (no item, no lexical match, an item
    already in the dense list) get `pad_score`."""
    return fusion.fuse(query_vectors, item_vectors, dense_items, lexical_scores, weight, pad_score=pad_score)


def hybrid_top_k(query_vectors, item_vectors, lexical: LexicalIndex, texts: list[str], weight: float, k: int,
                 pool: int, batch_size: int = 256, cache: dict | None = None) -> np.ndarray:
    """`(B, k)` item indices (0 = none) of the fused ranking of `texts` exactly as the exported hybrid
    search ranks them (`fuse`), with the exact dense top `pool` as the dense candidates (the
    brute-force flavour; ScaNN's are its approximate top `pool`). Used by the calibration,
    `evaluate` and the benchmarks, so their numbers are the exported path's. `cache` (a dict the
    caller keeps) holds the BM25 scores of each batch between calls with the same texts."""
    query_vectors, item_vectors = np.asarray(query_vectors, np.float32), np.asarray(item_vectors, np.float32)
    pool = max(1, min(int(pool), len(item_vectors) - 1))
    batch_size = rows_per_block(len(item_vectors), batch_size, 16)  # BM25 scores and their fusion: 16 bytes a score
    items = tf.constant(item_vectors)
    out = np.zeros((len(texts), k), np.int64)
    for start in range(0, len(texts), batch_size):
        stop = min(start + batch_size, len(texts))
        if cache is not None and start in cache:
            bm25 = cache[start]
        else:
            bm25 = lexical.scores(tf.constant(list(texts[start:stop]), tf.string))
            if cache is not None:
                cache[start] = bm25
        dense_top, _ = top_k_items(query_vectors[start:stop], item_vectors, pool)
        scores, ids = fuse(query_vectors[start:stop], items, dense_top, bm25, float(weight))
        values, order = tf.math.top_k(scores, k=min(k, int(scores.shape[1])))
        top = np.where(values.numpy() > -1e8, np.take_along_axis(ids.numpy(), order.numpy(), 1), 0)
        out[start:stop, :top.shape[1]] = top
    return out
