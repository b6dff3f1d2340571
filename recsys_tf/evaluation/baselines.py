"""Classic baselines scored over the full catalog, in the item-index space of the model
(column 0 = padding, never recommended): popularity, item-kNN (cosine), EASE (Steck 2019) and
BM25 for search (the `bm25s` library)."""
from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from recsys_tf.index.cooccurrence import ease_precision
from recsys_tf.resources import available_memory


def interaction_matrix(user_rows: np.ndarray, item_index: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary users x (n_items + 1) matrix."""
    data = np.ones(len(user_rows), np.float32)
    matrix = sp.csr_matrix((data, (user_rows, item_index)), shape=(n_users, n_items + 1))
    matrix.data[:] = 1.0
    return matrix


class Popularity:
    def __init__(self, train_item_index: np.ndarray, n_items: int):
        counts = np.bincount(train_item_index, minlength=n_items + 1).astype(np.float32)
        counts[0] = 0
        self.scores_vector = counts
        # the catalog by count, ties to the lower item index (padding 0 never)
        self.fallback = np.lexsort((np.arange(1, n_items + 1), -counts[1:])) + 1

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.scores_vector, (history.shape[0], self.scores_vector.size)).copy()

    def sparse_scores(self, history: sp.csr_matrix) -> None:
        """For `rank_sparse`: no per-user score, the whole ranking is `fallback`."""
        return None


class FrequencyRecency:
    """"Buy it again": the user's own items, most often first, ties broken by the most recent; then
    the catalog by popularity. `scores(history)` takes the users' rows of `repeat_matrix(...)`."""

    def __init__(self, train_item_index: np.ndarray, n_items: int):
        popularity = Popularity(train_item_index, n_items)
        self.popularity = popularity.scores_vector / max(float(popularity.scores_vector.max()), 1.0)  # below own items
        self.fallback = popularity.fallback

    @staticmethod
    def repeat_matrix(user_rows: np.ndarray, item_index: np.ndarray, timestamps: np.ndarray, n_users: int,
                      n_items: int) -> sp.csr_matrix:
        """users x (n_items + 1): count of the user's events with the item + the recency of the last
        one in [0, 1) (the user's first event 0, newest ~1), so counts rank first and recency breaks ties."""
        shape = (n_users, n_items + 1)
        counts = sp.csr_matrix((np.ones(len(user_rows)), (user_rows, item_index)), shape=shape)
        times = timestamps.astype(np.float64)
        first = np.full(n_users, np.inf)
        np.minimum.at(first, user_rows, times)
        last_user = np.full(n_users, -np.inf)
        np.maximum.at(last_user, user_rows, times)
        span = np.maximum(last_user - first, 1.0)
        order = np.lexsort((times, item_index, user_rows))
        keys = user_rows[order] * (n_items + 1) + item_index[order]
        is_last = np.append(keys[1:] != keys[:-1], True)
        pick = order[is_last]
        latest = sp.csr_matrix(((times[pick] - first[user_rows[pick]]) / span[user_rows[pick]] * 0.999,
                                (user_rows[pick], item_index[pick])), shape=shape)
        return counts + latest

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        own = np.asarray(history.toarray())
        return np.where(own > 0, 1.0 + own, 0.999 * self.popularity[None, :])

    def sparse_scores(self, history: sp.csr_matrix) -> sp.csr_matrix:
        """For `rank_sparse`: the own items' counts + recency, then `fallback` (the catalog by popularity)."""
        return sp.csr_matrix(history)


class ItemKNN:
    """Cosine item-item similarity over the interaction matrix; score = sum over the user's items.

    The similarity stays a sparse matrix: it has an entry only for item pairs some user shares, so
    its memory grows with co-occurrences, not with items squared (a 54.7k-item catalog would need
    12 GB dense)."""

    def __init__(self, matrix: sp.csr_matrix):
        norms = np.sqrt(np.asarray(matrix.power(2).sum(axis=0))).ravel() + 1e-9
        normalised = (matrix @ sp.diags(1.0 / norms)).tocsc()
        similarity = (normalised.T @ normalised).tocsr().astype(np.float32)
        similarity.setdiag(0.0)
        similarity.eliminate_zeros()
        self.similarity = similarity
        self.fallback = np.arange(1, similarity.shape[0], dtype=np.int64)  # unscored items: lower index first

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        return self.sparse_scores(history).toarray()

    def sparse_scores(self, history: sp.csr_matrix) -> sp.csr_matrix:
        return (sp.csr_matrix(history, dtype=np.float32) @ self.similarity).tocsr()


EASE_BYTES_PER_ENTRY = 12  # the float64 Gram matrix inverted in place (`ease_precision`) + float32 weights


def ease_item_cap(memory: int | None = None) -> int:
    """The most items EASE's dense items x items matrices fit in half of `memory`."""
    return int(math.sqrt(0.5 * (memory or available_memory()) / EASE_BYTES_PER_ENTRY))


class EASE:
    """Embarrassingly Shallow Autoencoder: B = I - P diag(1/diag(P)), P = (X^T X + λI)^-1, inverted in
    place by Cholesky (`index/cooccurrence.py::ease_precision`: the Gram matrix is symmetric positive
    definite, so one float64 matrix is its own workspace) and kept as float32 weights.

    EASE is dense in items x items. When the catalog needs more than half the available memory
    (`ease_item_cap`), it is fitted on the most frequent items that fit and every other item scores
    -inf (never recommended), with a message naming the catalog size, the memory and the cap."""

    def __init__(self, matrix: sp.csr_matrix, l2: float = 500.0, max_items: int | None = None, log=print):
        n_items = matrix.shape[1]
        cap = max_items or ease_item_cap()
        self.n_items, self.kept = n_items, None
        if n_items > cap:
            counts = np.asarray(matrix.sum(axis=0)).ravel()
            self.kept = np.sort(np.argsort(-counts, kind="stable")[:cap])
            matrix = matrix[:, self.kept]
            if log:
                log(f"EASE: {n_items:,} items would need {EASE_BYTES_PER_ENTRY * n_items ** 2 / 2 ** 30:.1f} GB "
                    f"(this machine has {available_memory() / 2 ** 30:.1f} GB available); fitted on the {cap:,} most "
                    "frequent items, the others are not recommended by EASE. Fix: more memory, or "
                    "--baselines without ease")
        matrix = sp.csr_matrix(matrix, dtype=np.float64)
        precision = ease_precision((matrix.T @ matrix).toarray(order="F"), l2)  # in place: one float64 matrix
        diagonal = np.diag(precision).copy()
        self.weights = np.empty(precision.shape, np.float32)
        for start in range(0, len(diagonal), 1024):  # B = -P / diag(P), a block of rows at a time
            self.weights[start:start + 1024] = -precision[start:start + 1024] / diagonal[None, :]
        np.fill_diagonal(self.weights, 0.0)
        del precision

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        if self.kept is None:
            return np.asarray(history @ self.weights)
        out = np.full((history.shape[0], self.n_items), -np.inf, np.float32)
        out[:, self.kept] = np.asarray(history[:, self.kept] @ self.weights)
        return out


class BM25Search:
    """BM25 over item texts (title, description, brand, category) with `bm25s`."""

    def __init__(self, item_texts: list[str]):
        import bm25s

        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(item_texts, stopwords="en", show_progress=False), show_progress=False)
        self.n_items = len(item_texts)

    def top_k(self, queries: list[str], k: int) -> np.ndarray:
        """Item indices (1-based, as the model's) of the top k items per query."""
        import bm25s

        k = min(k, self.n_items)
        results, _ = self.retriever.retrieve(bm25s.tokenize(queries, stopwords="en", show_progress=False), k=k,
                                             show_progress=False)
        return np.asarray(results) + 1


def top_k_from_scores(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    scores = scores.astype(np.float32, copy=True)
    scores[:, 0] = -np.inf
    if exclude is not None:
        rows, cols = exclude.nonzero()
        scores[rows, cols] = -np.inf
    k = min(k, scores.shape[1] - 1)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(part, order, axis=1)
    top[~np.isfinite(np.take_along_axis(scores, top, axis=1))] = 0  # fewer than k allowed items: padding
    return top


SPARSE_RANKING_ITEMS = 100_000
"""Catalogs of more items rank popularity, item-kNN and frequency-recency with `rank_sparse`, without
a dense block of (queries x items) scores: popularity is one list for everyone, item-kNN's scores are
mostly zero and frequency-recency scores the user's own items, then popularity. Their ties then go to
the lower item index. Smaller catalogs keep `top_k_from_scores` on dense scores, whose ties fall
where NumPy's partition puts them; the documented numbers of every catalog under this size are those."""


def rank_sparse(scores: sp.csr_matrix | None, k: int, exclude: sp.csr_matrix | None, fallback: np.ndarray,
                n_rows: int) -> np.ndarray:
    """Top k item indices per row of non-negative sparse `scores` (None = no scores), by score then the
    lower item index, followed by the items of `fallback` (every item, in the order unscored items
    rank) that have no score; excluded items and padding 0 never, padding 0 when fewer than k are
    allowed. The same top-k items as `top_k_from_scores` on the dense scores when no tie straddles the
    k-th (the order within a tie may differ)."""
    k = min(k, len(fallback))
    out = np.zeros((n_rows, k), np.int64)
    empty = np.zeros(0, np.int64)
    for row in range(n_rows):
        banned = exclude.indices[exclude.indptr[row]:exclude.indptr[row + 1]] if exclude is not None else empty
        top = empty
        if scores is not None:
            index = scores.indices[scores.indptr[row]:scores.indptr[row + 1]]
            value = scores.data[scores.indptr[row]:scores.indptr[row + 1]]
            keep = (value > 0) & (index > 0) & ~np.isin(index, banned)
            index, value = index[keep], value[keep]
            top = index[np.lexsort((index, -value))][:k]
        if len(top) < k:
            taken = np.concatenate([banned, top])
            candidates = fallback[:k - len(top) + len(taken)]
            top = np.concatenate([top, candidates[~np.isin(candidates, taken)][:k - len(top)]])
        out[row, :len(top)] = top
    return out
