"""The in-graph BM25 index and the hybrid fusion, against a NumPy BM25 written from the formula."""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

from recsys_tf.index.lexical import (
    K1,
    MAX_QUERY_TERMS,
    STOPWORDS,
    B,
    LexicalIndex,
    fuse,
    tokenize,
    tokenize_numpy,
)

CATALOG = [
    "Acme wireless earbuds, black",
    "Acme wired earbuds",
    "Stainless steel L bracket 1/2 in.",
    "Glass water bottle 750 ml",
    "Running shoes for men",
    "Bluetooth speaker, waterproof",
    "真无线耳机 AirPods Pro 2代",
    "降噪耳机",
    "ＸＬ cotton t-shirt",
]


def _words(text: str) -> list[str]:
    """The tokenizer's rules, written again in plain Python for the reference."""
    import re
    import unicodedata

    text = "".join(chr(ord(c) - 0xFEE0) if 0xFF01 <= ord(c) <= 0xFF5E else c for c in text).lower()
    text = re.sub(r"([\u3040-\u30ff\u4e00-\u9fff])", r" \1 ", text)
    words = [w for w in re.split(r"[^\w]+|_", text) if w]
    words = [w[:-1] if len(w) >= 3 and w.endswith("s") and w[-2] != "s" and
             all(unicodedata.category(c).startswith("L") for c in w) else w for w in words]
    return [w for w in words if w not in set(STOPWORDS)]


def _numpy_bm25(catalog: list[str], query: str) -> np.ndarray:
    docs = [Counter(_words(t)) for t in catalog]
    lengths = np.array([sum(d.values()) for d in docs], float)
    average = lengths.mean()
    scores = np.zeros(len(catalog) + 1)
    for term in set(_words(query)):
        df = sum(term in d for d in docs)
        if not df:
            continue
        idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf_ = d.get(term, 0)
            if tf_:
                scores[i + 1] += idf * tf_ * (K1 + 1) / (tf_ + K1 * (1 - B + B * lengths[i] / average))
    return scores


def test_tokenizer_rules():
    def words_of(text):
        return tokenize_numpy([text])[0]

    def same(a, b):
        return np.array_equal(words_of(a), words_of(b))

    assert same("Wireless EARBUDS", "wireless earbud")          # case, final s
    assert same("glass", "glass") and not same("glass", "glas")   # "ss" keeps its s
    assert same("ＸＬ", "xl")                                     # full-width forms
    assert same("1/2 in.", "1 2")                                 # punctuation splits, stopword "in" dropped
    assert len(words_of("无线耳机")) == 4                          # one term per Han character
    assert len(words_of("!!! ... ???")) == 0 and len(words_of("")) == 0
    assert len(tokenize(["the and of"]).flat_values) == 0         # stopwords only
    assert [len(_words(t)) for t in CATALOG] == [len(t) for t in tokenize_numpy(CATALOG)]


@pytest.mark.parametrize("query", ["wireless earbuds", "acme earbuds earbuds earbuds", "l bracket 1/2",
                                   "耳机", "water bottle", "XL t-shirt", "nothing matches zzz"])
def test_bm25_scores_match_numpy(query):
    index = LexicalIndex(CATALOG)
    got = index.scores(tf.constant([query, "acme"])).numpy()
    np.testing.assert_allclose(got[0], _numpy_bm25(CATALOG, query), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], _numpy_bm25(CATALOG, "acme"), rtol=1e-5, atol=1e-6)
    assert got[:, 0].tolist() == [0.0, 0.0]


def test_hostile_queries_give_defined_scores():
    index = LexicalIndex(CATALOG)
    hostile = ["", "!!!", "。。。", "耳" * 5000, " ".join(["earbuds"] * 1000), "\x00\x01", "😀😀", "ａ" * 10,
               "x" * 100000, " ".join(f"w{i}" for i in range(MAX_QUERY_TERMS * 3))]
    scores = index.scores(tf.constant(hostile)).numpy()
    assert scores.shape == (len(hostile), len(CATALOG) + 1) and np.isfinite(scores).all()
    assert not scores[[0, 1, 2, 5, 6]].any()
    assert scores[3, 7 + 1] > 0  # 耳 is in both earphone titles


def test_empty_catalog_and_catalog_without_terms():
    for catalog in ([], ["!!!", ""]):
        index = LexicalIndex(catalog)
        scores = index.scores(tf.constant(["earbuds", ""])).numpy()
        assert scores.shape == (2, len(catalog) + 1) and not scores.any()


def test_fuse_merges_both_candidate_lists_and_weights_the_normalised_scores():
    rng = np.random.default_rng(0)
    n, d = len(CATALOG), 4
    items = rng.normal(size=(n + 1, d)).astype(np.float32)
    items[0] = 0
    query = rng.normal(size=(1, d)).astype(np.float32)
    lexical = LexicalIndex(CATALOG).scores(tf.constant(["wireless earbuds"])).numpy()
    dense_all = items[1:] @ query[0]
    dense_top = np.argsort(-dense_all)[:3] + 1
    for weight in (0.0, 0.3, 1.0):
        scores, ids = fuse(query, items, dense_top[None, :], lexical, weight)
        scores, ids = scores.numpy()[0], ids.numpy()[0]
        valid = ids > 0
        lexical_hits = set(np.flatnonzero(lexical[0] > 0))
        assert set(ids[valid]) == set(dense_top) | (lexical_hits & set(np.argsort(-lexical[0])[:3]))
        dense = items[ids[valid]] @ query[0]
        dense = (dense - dense.min()) / max(dense.max() - dense.min(), 1e-6)
        bm25 = lexical[0][ids[valid]] / lexical[0][ids[valid]].max()
        np.testing.assert_allclose(scores[valid], (1 - weight) * dense + weight * bm25, rtol=1e-5, atol=1e-6)
        assert (scores[~valid] == -1e9).all()


def test_lexical_index_saved_and_scored_in_a_fresh_process(tmp_path):
    """Only core TF ops: a process that imports nothing but tensorflow scores the same."""
    index = LexicalIndex(CATALOG)
    index.serve = tf.function(lambda q: index.scores(q), input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(index, str(tmp_path / "lexical"))
    queries = ["wireless earbuds", "降噪耳机", "", "ＸＬ shirts"]
    expected = index.scores(tf.constant(queries)).numpy()
    code = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(tmp_path / "lexical")!r})
        np.save({str(tmp_path / "out.npy")!r}, loaded.serve(tf.constant({queries!r})).numpy())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-6)
    ops = {node.op for f in tf.saved_model.load(str(tmp_path / "lexical")).serve.concrete_functions
           for node in f.graph.as_graph_def().node}
    assert not any(op.startswith(("TFText", "Sentencepiece", "Scann")) for op in ops)
