"""Co-occurrence recommendations inside the SavedModel ("people who had X also had Y"), fused with
the two-tower model's dense score.

Why: on sparse catalogs without baskets, EASE and item-kNN (exact item-to-item co-occurrence) beat a
two-tower model at the top of the list on some catalogs and lose to it on others; a user cannot know
in advance which kind theirs is. Both signals, fused with a weight chosen on the validation split,
are never far below the better one (docs/real_catalogs.md). Neither TFRS nor keras-rs ships an
item-to-item scorer that runs inside a SavedModel, so the table and its scorer are written here.

The table (`CooccurrenceTable`) holds, for every catalog item (row = item index, 0 = padding), its
top `N` neighbours (item indices, 0 = none) and their weights (> 0, descending), fitted from the
training events (every event a binary user × item entry):

* `ease` (Steck, "Embarrassingly Shallow Autoencoders", 2019): B = I − P·diag(1/diag(P)),
  P = (XᵀX + λI)⁻¹ over the items that have an event, solved in place with LAPACK's Cholesky
  factorisation and inverse (`potrf` + `potri`: one float64 items × items matrix, 8·n² bytes, instead
  of the Gram matrix and its inverse side by side); each row i then keeps its N largest positive
  weights B[i, j] (the contribution of having i to the score of j);
* `item_knn`: the cosine similarity of the item columns (sparse: only pairs some user shares), each
  row cut to its N largest.

`choose_method("auto", …)` takes EASE when the items with an event fit (at most `MAX_EASE_ITEMS`,
and 8·n² bytes within `EASE_MEMORY_SHARE` of the memory available just before allocating), else
item-kNN; the choice and its reason are recorded in the table's `report`.

A request's co-occurrence scores are the sums of its history items' rows, each distinct item once:
`CooccurrenceIndex.scores` in the graph (core TF ops: the stock TF Serving image loads it),
`CooccurrenceTable.scores` in NumPy (the reference the tests compare with). `fuse` merges the dense
candidates with the co-occurrence candidates exactly as hybrid search merges dense and BM25
(`index/lexical.py::fuse`): min-max normalised dense score, co-occurrence score divided by the best
candidate's, `(1 − weight) · dense + weight · co-occurrence`.

Items added without training (`index add-items`) have no co-occurrence yet: their rows are empty
(`CooccurrenceTable.extended`), so they are found by the dense score only.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from recsys_tf.errors import InputError
from recsys_tf.index.fusion import SparseScores, candidates, fuse, mix
from recsys_tf.index.topk import rows_per_block, top_k_items
from recsys_tf.resources import available_memory

METHODS = ("auto", "ease", "item_knn", "none")
MAX_EASE_ITEMS = 20_000
"""EASE's cubic solve: 20k items take ~2-4 min on 2 cores (and 3.2 GB); larger catalogs use item-kNN."""
EASE_MEMORY_SHARE = 0.6
"""EASE is fitted only when its one float64 items x items matrix (plus a block of work arrays) takes at
most this share of the memory available just before it is allocated."""
EASE_WORK_BYTES = 256 * 2 ** 20
EASE_L2_GRID = (10.0, 50.0, 200.0, 500.0, 2000.0)
DEFAULT_NEIGHBOURS = 100
ROW_BLOCK = 1024  # rows of B (or of the similarity) cut to their top N at a time


def interactions(user_rows: np.ndarray, item_index: np.ndarray, n_users: int, n_items: int) -> sp.csr_matrix:
    """Binary float64 users x (n_items + 1) matrix (column 0, padding, unused)."""
    matrix = sp.csr_matrix((np.ones(len(user_rows)), (np.asarray(user_rows), np.asarray(item_index))),
                           shape=(n_users, n_items + 1))
    matrix.data[:] = 1.0
    return matrix


def ease_bytes(n_items: int) -> int:
    """Peak bytes of `ease_weights` on `n_items` items with an event: the in-place matrix + work."""
    return 8 * n_items ** 2 + EASE_WORK_BYTES


def ease_precision(gram: np.ndarray, l2: float) -> np.ndarray:
    """(gram + l2·I)⁻¹ in place (`gram`: symmetric float64; it is overwritten and returned, full,
    symmetric): Cholesky factorisation and inverse from the factor (LAPACK potrf + potri). The
    Fortran-ordered view is what LAPACK overwrites without a copy; for a symmetric matrix it is
    the same matrix."""
    from scipy.linalg import lapack

    work = gram.T if gram.flags.c_contiguous else gram  # Fortran-contiguous, same values (symmetric)
    work[np.diag_indices_from(work)] += l2
    factor, info = lapack.dpotrf(work, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        raise ValueError(f"EASE: the Gram matrix + {l2}·I is not positive definite (LAPACK potrf info={info}); "
                         "Fix: a larger λ.")
    inverse, info = lapack.dpotri(factor, lower=0, overwrite_c=1)
    if info != 0:
        raise ValueError(f"EASE: inverting the Cholesky factor failed (LAPACK potri info={info}).")
    n = inverse.shape[0]
    for start in range(0, n, ROW_BLOCK):  # potri fills the upper triangle: mirror it, a block at a time
        stop = min(start + ROW_BLOCK, n)
        inverse[start:stop, :start] = inverse[:start, start:stop].T
        block = inverse[start:stop, start:stop]
        inverse[start:stop, start:stop] = np.triu(block) + np.triu(block, 1).T
    return inverse


def top_neighbours(rows, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, weights) `(R, N)` of the N largest positive entries of each row of `rows` (dense
    array or CSR), descending, ties to the lower index; fewer than N positive: index 0, weight 0."""
    count = rows.shape[0]
    index = np.zeros((count, neighbours), np.int32)
    weight = np.zeros((count, neighbours), np.float32)
    if sp.issparse(rows):
        rows = sp.csr_matrix(rows)
        for r in range(count):
            cols = rows.indices[rows.indptr[r]:rows.indptr[r + 1]]
            vals = rows.data[rows.indptr[r]:rows.indptr[r + 1]]
            keep = vals > 0
            cols, vals = cols[keep], vals[keep]
            order = np.lexsort((cols, -vals))[:neighbours]
            index[r, :len(order)], weight[r, :len(order)] = cols[order], vals[order]
        return index, weight
    rows = np.asarray(rows)
    n = min(neighbours, rows.shape[1])
    part = np.argpartition(-rows, n - 1, axis=1)[:, :n] if n < rows.shape[1] else \
        np.tile(np.arange(rows.shape[1]), (count, 1))
    values = np.take_along_axis(rows, part, 1)
    order = np.lexsort((part, -values), axis=1)
    part, values = np.take_along_axis(part, order, 1), np.take_along_axis(values, order, 1)
    positive = values > 0
    index[:, :n] = np.where(positive, part, 0)
    weight[:, :n] = np.where(positive, values, 0.0)
    return index, weight


@dataclasses.dataclass
class CooccurrenceTable:
    """Top-N neighbours per item (module docstring). `neighbours` `(n_items + 1, N)` int32 item
    indices (0 = none), `weights` the same shape float32 (> 0 where a neighbour is, else 0);
    `report`: method, λ, N, items, bytes, memory estimate and why the method was chosen."""
    neighbours: np.ndarray
    weights: np.ndarray
    report: dict

    @property
    def n_items(self) -> int:
        return self.neighbours.shape[0] - 1

    @property
    def nbytes(self) -> int:
        return int(self.neighbours.nbytes + self.weights.nbytes)

    def scores(self, history: np.ndarray) -> np.ndarray:
        """NumPy reference: `(B, H)` item indices (0 = padding; a repeated item counts once) ->
        `(B, n_items + 1)` float32 sums of the history items' neighbour weights (column 0 is 0)."""
        history = np.asarray(history)
        out = np.zeros((len(history), self.n_items + 1), np.float32)
        for row, items in enumerate(history):
            for item in np.unique(items[items > 0]):
                np.add.at(out[row], self.neighbours[item], self.weights[item])
        out[:, 0] = 0.0
        return out

    def extended(self, n_items: int) -> CooccurrenceTable:
        """The table of a catalog grown to `n_items` (new items appended): new rows are empty."""
        extra = n_items - self.n_items
        if extra < 0:
            raise ValueError(f"a co-occurrence table of {self.n_items} items cannot shrink to {n_items}")
        pad = lambda a: np.concatenate([a, np.zeros((extra, a.shape[1]), a.dtype)])  # noqa: E731
        return CooccurrenceTable(pad(self.neighbours), pad(self.weights), {**self.report, "added_items": extra})

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, neighbours=self.neighbours, weights=self.weights,
                     report=np.array(json.dumps(self.report)))

    @classmethod
    def load(cls, path: str | Path) -> CooccurrenceTable:
        with np.load(path, allow_pickle=False) as data:
            return cls(data["neighbours"], data["weights"], json.loads(str(data["report"])))


def choose_method(method: str, active_items: int, memory: int | None = None) -> tuple[str, str]:
    """(`ease` or `item_knn`, why) for `method` (`auto`, `ease`, `item_knn`) and the number of items
    with an event; `ease` asked for on a catalog whose matrix would not fit is an error."""
    need, memory = ease_bytes(active_items), memory or available_memory()
    fits = need <= EASE_MEMORY_SHARE * memory
    if method == "item_knn":
        return "item_knn", "asked for"
    if method == "ease":
        if not fits:
            raise InputError(f"co-occurrence: EASE on {active_items:,} items needs {need / 2 ** 30:.1f} GB, more than "
                              f"{EASE_MEMORY_SHARE:.0%} of the {memory / 2 ** 30:.1f} GB available. "
                              "Fix: --set model.cooccurrence=item_knn (or auto), or more memory.")
        return "ease", "asked for"
    if active_items > MAX_EASE_ITEMS:
        return "item_knn", f"{active_items:,} items > {MAX_EASE_ITEMS:,} (EASE's cubic solve)"
    if not fits:
        return "item_knn", (f"EASE would need {need / 2 ** 30:.1f} GB, more than {EASE_MEMORY_SHARE:.0%} of the "
                            f"{memory / 2 ** 30:.1f} GB available")
    return "ease", f"{active_items:,} items <= {MAX_EASE_ITEMS:,} and {need / 2 ** 30:.2f} GB fit in memory"


def fit_cooccurrence(matrix: sp.csr_matrix, method: str = "auto", l2: float = 200.0,
                     neighbours: int = DEFAULT_NEIGHBOURS, memory: int | None = None) -> CooccurrenceTable:
    """The table of the binary users x (n_items + 1) `matrix` (`interactions`)."""
    if method not in METHODS[:3]:
        raise ValueError(f"`method` must be one of {METHODS[:3]}. Received: method={method!r}.")
    n_items = matrix.shape[1] - 1
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    counts[0] = 0
    active = np.flatnonzero(counts > 0)
    chosen, why = choose_method(method, len(active), memory)
    columns = sp.csc_matrix(matrix, dtype=np.float64)[:, active]
    if chosen == "ease":
        local_index, local_weight = _ease_neighbours(columns, l2, neighbours)
    else:
        local_index, local_weight = _knn_neighbours(columns, neighbours)
    table_index = np.zeros((n_items + 1, neighbours), np.int32)
    table_weight = np.zeros((n_items + 1, neighbours), np.float32)
    table_index[active] = np.where(local_weight > 0, active[local_index], 0)
    table_weight[active] = local_weight
    report = {"method": chosen, "why": why, "l2": float(l2) if chosen == "ease" else None, "neighbours": neighbours,
              "items": int(n_items), "items_with_events": int(len(active)),
              "fit_memory_bytes": int(ease_bytes(len(active))) if chosen == "ease" else int(columns.nnz * 24),
              "bytes": int(table_index.nbytes + table_weight.nbytes)}
    return CooccurrenceTable(table_index, table_weight, report)


def _ease_neighbours(columns: sp.csc_matrix, l2: float, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    gram = (columns.T @ columns).toarray(order="F")
    precision = ease_precision(gram, l2)
    diagonal = np.diag(precision).copy()
    index, weight = [], []
    for start in range(0, precision.shape[0], ROW_BLOCK):
        block = -precision[start:start + ROW_BLOCK] / diagonal[None, :]  # B[i, j] = -P[i, j] / P[j, j]
        block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = 0.0
        i, w = top_neighbours(block, neighbours)
        index.append(i)
        weight.append(w)
    return np.concatenate(index), np.concatenate(weight)


def _knn_neighbours(columns: sp.csc_matrix, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    norms = np.sqrt(np.asarray(columns.power(2).sum(axis=0))).ravel() + 1e-9
    normalised = (columns @ sp.diags(1.0 / norms)).tocsc()
    index, weight = [], []
    for start in range(0, columns.shape[1], ROW_BLOCK):
        block = (normalised[:, start:start + ROW_BLOCK].T @ normalised).tocsr()
        block.setdiag(0.0, k=start)
        block.eliminate_zeros()
        i, w = top_neighbours(block, neighbours)
        index.append(i)
        weight.append(w)
    return np.concatenate(index), np.concatenate(weight)


class CooccurrenceIndex(tf.Module):
    """The table as two variables, scored in the graph (core TF ops only)."""

    def __init__(self, table: CooccurrenceTable, name: str = "cooccurrence_index"):
        super().__init__(name=name)
        self.num_items = table.n_items
        # variables (not constants): a SavedModel's graph proto must stay under 2 GB
        self.neighbours = tf.Variable(table.neighbours, trainable=False, name="neighbours")
        self.weights = tf.Variable(table.weights, trainable=False, name="weights")
        self.report = dict(table.report)

    @property
    def nbytes(self) -> int:
        return sum(int(np.prod(v.shape)) * v.dtype.size for v in (self.neighbours, self.weights))

    def scores(self, history) -> tf.Tensor:
        """`(B, H)` int32 item indices (0 = padding; a repeated item counts once) -> `(B, num_items + 1)`
        float32 co-occurrence scores (column 0 is 0): `sparse_scores` read out over the whole catalog."""
        sparse = self.sparse_scores(history)
        every = tf.range(self.num_items + 1, dtype=tf.int32)
        return sparse.lookup(tf.tile(every[None, :], [tf.shape(sparse.items)[0], 1]))

    def sparse_scores(self, history) -> SparseScores:
        """The same scores as `scores`, as `SparseScores` over the at most H · N neighbours of the
        history (what serving fuses: sorting H · N entries per request instead of scattering into
        and ranking a catalog-wide row keeps the cost independent of the catalog's size)."""
        history, use = self._distinct(history)
        batch = tf.shape(history)[0]
        weights = tf.reshape(tf.gather(self.weights, history) * use[:, :, None], [batch, -1])
        targets = tf.where(weights > 0, tf.reshape(tf.gather(self.neighbours, history), [batch, -1]), 0)
        # a leading empty slot: every row has one position, even for an empty history
        targets = tf.concat([tf.zeros([batch, 1], tf.int32), targets], axis=1)
        weights = tf.concat([tf.zeros([batch, 1]), weights], axis=1)
        order = tf.argsort(targets, axis=1, stable=True)
        items = tf.gather(targets, order, batch_dims=1)
        weights = tf.gather(weights, order, batch_dims=1)
        first = tf.concat([tf.ones([batch, 1], tf.bool), tf.not_equal(items[:, 1:], items[:, :-1])], axis=1)
        run = tf.cumsum(tf.cast(tf.reshape(first, [-1]), tf.int32)) - 1  # one segment per (row, item)
        totals = tf.math.unsorted_segment_sum(tf.reshape(weights, [-1]), run, tf.size(run))
        scores = tf.where(items > 0, tf.reshape(tf.gather(totals, run), tf.shape(items)), 0.0)
        return SparseScores(items, scores, first)

    @staticmethod
    def _distinct(history):
        """(history as int32, `(B, H)` float 1 where the position is an item not seen earlier in the row)."""
        history = tf.cast(history, tf.int32)
        width = tf.shape(history)[1]
        earlier = tf.range(width)[None, :] < tf.range(width)[:, None]  # [p, q]: q before p
        repeated = tf.reduce_any(tf.equal(history[:, :, None], history[:, None, :]) & earlier[None], axis=2)
        return history, tf.cast((history > 0) & ~repeated, tf.float32)


RECOMMEND_POOL = 164
"""Dense and co-occurrence candidates fused per request when evaluating or calibrating: the exported
recommend's `fetch` (max_k + max_exclude) at the export defaults 100 + 64."""
FUSION_GRID = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 21))


def hybrid_top_k(user_vectors, item_vectors, table_index: CooccurrenceIndex, history: np.ndarray, weight: float,
                 k: int, pool: int = RECOMMEND_POOL, exclude: list | None = None, boost: tuple | None = None,
                 batch_size: int = 512, weights: tuple | None = None, dense: bool = True) -> np.ndarray | dict:
    """`(B, k)` item indices (0 = none) of the fused ranking (`fuse`) of users with these `history`
    rows `(B, H)` (what the co-occurrence scores read), with the exact dense top `pool` as the dense
    candidates (the brute-force flavour). `exclude[i]`: item indices never returned for row i; they
    are removed from both candidate lists before fusion (the export removes them after fetching
    max_k + max_exclude of each). `boost` = (history items, offsets) `(B, H)`: buy again, the history
    items join the candidates with `user · item + offset`. With `weights` (a tuple of weights), a
    dict weight -> top k, sharing the scores between the weights (the calibration grid). `dense`
    False: no dense candidates (the co-occurrence ranking alone, without scoring the catalog)."""
    user_vectors, item_vectors = np.asarray(user_vectors, np.float32), np.asarray(item_vectors, np.float32)
    n_items = len(item_vectors) - 1
    batch_size = rows_per_block(n_items, batch_size, 12)  # co-occurrence scores, their top-k and the scatter
    pool = max(1, min(int(pool), n_items))
    grid = tuple(weights) if weights is not None else (float(weight),)
    items = tf.constant(item_vectors)
    out = {w: np.zeros((len(user_vectors), k), np.int64) for w in grid}
    for start in range(0, len(user_vectors), batch_size):
        stop = min(start + batch_size, len(user_vectors))
        users = user_vectors[start:stop]
        banned = exclude[start:stop] if exclude is not None else None
        dense_top = top_k_items(users, item_vectors, pool, exclude=banned)[0] if dense else \
            np.zeros((stop - start, pool), np.int32)
        cooccurrence = table_index.sparse_scores(tf.constant(history[start:stop], tf.int32))
        if banned is not None:
            cooccurrence = _without(cooccurrence, banned)
        extra_items = extra_dense = None
        if boost is not None:
            extra_items, extra_dense = _boosted(users, item_vectors, boost[0][start:stop], boost[1][start:stop])
            if banned is not None:  # an excluded item is never a candidate, boosted or not
                for row, excluded in enumerate(banned):
                    if excluded is not None and len(excluded):
                        extra_items[row][np.isin(extra_items[row], excluded)] = 0
        dense_scores, other, valid, ids = candidates(users, items, dense_top, cooccurrence, extra_items, extra_dense)
        ids = ids.numpy()
        for w in grid:  # the candidates are shared: each weight only mixes and ranks
            values, order = tf.math.top_k(mix(dense_scores, other, valid, float(w), -1e9), k=min(k, ids.shape[1]))
            top = np.where(values.numpy() > -1e8, np.take_along_axis(ids, order.numpy(), 1), 0)
            out[w][start:stop, :top.shape[1]] = top
    return out if weights is not None else out[grid[0]]


def _without(scores: SparseScores, banned: list) -> SparseScores:
    """`scores` with the items of `banned` (per row, item indices) scoring 0."""
    items, values = scores.items.numpy(), scores.scores.numpy().copy()
    for row, excluded in enumerate(banned):
        if excluded is not None and len(excluded):
            values[row][np.isin(items[row], excluded)] = 0.0
    return scores._replace(scores=tf.constant(values))


def _boosted(users: np.ndarray, item_vectors: np.ndarray, history: np.ndarray, offsets: np.ndarray):
    """(items, dense scores) `(B, H)` of the history items as buy-again candidates: `user · item` +
    the repeat offset (`RepeatHead`), the newest position of a repeated item (as serving takes it)."""
    history = np.asarray(history)
    later = np.triu(np.ones((history.shape[1],) * 2, bool), 1)  # [p, q]: q after p
    repeated_later = ((history[:, :, None] == history[:, None, :]) & later[None]).any(axis=2)
    keep = (history > 0) & ~repeated_later
    dense = np.einsum("bd,bhd->bh", users, item_vectors[history]) + offsets
    return np.where(keep, history, 0).astype(np.int32), np.where(keep, dense, 0.0).astype(np.float32)


def neighbours_for(n_items: int, wanted: int = DEFAULT_NEIGHBOURS) -> int:
    """Neighbours per item: `wanted`, fewer for a catalog with fewer other items."""
    return max(1, min(int(wanted), max(n_items - 1, 1)))


__all__ = ["CooccurrenceIndex", "CooccurrenceTable", "fit_cooccurrence", "fuse", "hybrid_top_k",
           "interactions", "ease_precision"]
