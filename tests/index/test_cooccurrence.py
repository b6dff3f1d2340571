"""Hybrid recommend's co-occurrence table: EASE / item-kNN fits against NumPy references, the graph
scorer against the NumPy one, the fusion rule, the method choice under a memory budget."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from recsys_tf.errors import InputError
from recsys_tf.index.cooccurrence import (
    CooccurrenceIndex,
    CooccurrenceTable,
    choose_method,
    ease_bytes,
    ease_precision,
    fit_cooccurrence,
    fuse,
    hybrid_top_k,
    interactions,
    top_neighbours,
)


@pytest.fixture(scope="module")
def matrix():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 200, 2500), rng.integers(1, 61, 2500)
    items[:40] = 7  # a popular item, and item 60 never occurs below: an item without events
    items[items == 60] = 59
    return interactions(users, items, 200, 60)


def _ease_reference(matrix, l2):
    gram = (matrix.T @ matrix).toarray()[1:, 1:]
    active = np.flatnonzero(np.diag(gram) > 0)
    precision = np.linalg.inv(gram[np.ix_(active, active)] + l2 * np.eye(len(active)))
    weights = -precision / np.diag(precision)[None, :]
    np.fill_diagonal(weights, 0.0)
    full = np.zeros((matrix.shape[1], matrix.shape[1]))
    full[np.ix_(active + 1, active + 1)] = weights
    return full


def test_ease_precision_is_the_inverse_computed_in_place():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 30))
    gram = x.T @ x
    expected = np.linalg.inv(gram + 3.0 * np.eye(30))
    work = np.array(gram, order="C")
    result = ease_precision(work, 3.0)
    np.testing.assert_allclose(result, expected, atol=1e-10)
    np.testing.assert_allclose(result, result.T)
    assert np.shares_memory(result, work)  # one matrix, not the Gram matrix and its inverse side by side
    with pytest.raises(ValueError, match="not positive definite"):
        ease_precision(-np.eye(3), 0.5)


def test_ease_table_keeps_each_items_largest_positive_weights(matrix):
    reference = _ease_reference(matrix, 50.0)
    table = fit_cooccurrence(matrix, "ease", 50.0, neighbours=5)
    assert table.report["method"] == "ease" and table.report["l2"] == 50.0
    assert table.report["items_with_events"] == 59 and table.report["bytes"] == table.nbytes
    assert (table.neighbours[0] == 0).all() and (table.neighbours[60] == 0).all()  # padding, no events
    for item in range(1, 60):
        row = reference[item]
        expected = [j for j in np.lexsort((np.arange(len(row)), -row)) if row[j] > 0][:5]
        got = table.neighbours[item][table.weights[item] > 0]
        assert list(got) == expected
        np.testing.assert_allclose(table.weights[item][:len(expected)], row[expected], rtol=1e-5)
    # all neighbours kept: the scores are EASE's user row @ B with negative weights cut to 0
    full = fit_cooccurrence(matrix, "ease", 50.0, neighbours=60)
    history = np.array([[3, 7, 7, 0], [0, 0, 0, 0], [59, 12, 1, 2]])
    x = np.zeros((3, 61))
    for r, h in enumerate(history):
        x[r, h[h > 0]] = 1.0
    expected = x @ np.maximum(reference, 0.0)
    np.testing.assert_allclose(full.scores(history), expected, atol=1e-5)


def test_item_knn_table_is_the_cosine_similarity_cut_to_n(matrix):
    dense = matrix.toarray()[:, 1:]
    norms = np.linalg.norm(dense, axis=0) + 1e-9
    cosine = (dense / norms).T @ (dense / norms)
    np.fill_diagonal(cosine, 0.0)
    table = fit_cooccurrence(matrix, "item_knn", neighbours=4)
    assert table.report["method"] == "item_knn" and table.report["l2"] is None
    for item in (1, 7, 33):
        row = cosine[item - 1]
        expected = [j + 1 for j in np.lexsort((np.arange(len(row)), -row)) if row[j] > 0][:4]
        assert list(table.neighbours[item]) == expected
        np.testing.assert_allclose(table.weights[item], row[np.array(expected) - 1], rtol=1e-5)


def test_top_neighbours_dense_and_sparse_agree_with_ties_and_few_positives():
    rows = np.array([[0.0, 2.0, 2.0, -1.0, 0.5], [0.0, -1.0, 0.0, 0.0, 0.0]])
    for given in (rows, sp.csr_matrix(rows)):
        index, weight = top_neighbours(given, 3)
        np.testing.assert_array_equal(index, [[1, 2, 4], [0, 0, 0]])
        np.testing.assert_allclose(weight, [[2.0, 2.0, 0.5], [0, 0, 0]])


@pytest.mark.parametrize("history", [[[3, 7, 7, 0, 12]], [[0, 0, 0, 0, 0]], [[59, 1, 2, 3, 3], [7, 0, 7, 0, 60]]])
def test_graph_scores_equal_the_numpy_reference(matrix, history):
    table = fit_cooccurrence(matrix, "ease", 20.0, neighbours=8)
    got = CooccurrenceIndex(table).scores(tf.constant(history, tf.int32)).numpy()
    np.testing.assert_allclose(got, table.scores(np.array(history)), atol=1e-6)
    assert (got[:, 0] == 0).all()


@pytest.mark.parametrize("method", ["ease", "item_knn"])
@pytest.mark.parametrize("history", [[[3, 7, 7, 0, 12]], [[0, 0, 0, 0, 0]], [[59, 1, 2, 3, 3], [7, 0, 7, 0, 60]],
                                     np.zeros((2, 0), int)])
def test_sparse_scores_list_exactly_the_scoring_items_and_fuse_as_the_catalog_wide_row(matrix, method, history):
    table = fit_cooccurrence(matrix, method, 20.0, neighbours=8)
    index, history = CooccurrenceIndex(table), np.array(history, np.int32)
    expected = table.scores(history)
    sparse = index.sparse_scores(tf.constant(history))
    items, scores, first = (t.numpy() for t in sparse)
    for row in range(len(history)):
        assert (np.diff(items[row]) >= 0).all()
        listed = first[row] & (items[row] > 0) & (scores[row] > 0)
        np.testing.assert_array_equal(np.sort(items[row][listed]), np.flatnonzero(expected[row] > 0))
        np.testing.assert_allclose(scores[row][listed], expected[row][items[row][listed]], rtol=1e-6)
    every = np.tile(np.arange(table.n_items + 1, dtype=np.int32), (len(history), 1))
    np.testing.assert_allclose(sparse.lookup(tf.constant(every)).numpy(), expected, rtol=1e-6, atol=1e-7)
    rng = np.random.default_rng(4)
    vectors = tf.constant(rng.normal(size=(table.n_items + 1, 4)).astype(np.float32))
    users = rng.normal(size=(len(history), 4)).astype(np.float32)
    dense_items = rng.integers(1, table.n_items + 1, (len(history), 6))
    for weight in (0.0, 0.3, 1.0):
        wide = fuse(users, vectors, dense_items, index.scores(tf.constant(history)), weight)
        short = fuse(users, vectors, dense_items, sparse, weight)
        for row in range(len(history)):  # the same candidates with the same scores (only padding differs)
            pairs = [{int(i): float(v) for i, v in zip(ids.numpy()[row], values.numpy()[row]) if v > -1e8}
                     for values, ids in (short, wide)]
            assert pairs[0].keys() == pairs[1].keys()
            assert [pairs[0][i] for i in pairs[1]] == pytest.approx(list(pairs[1].values()), rel=1e-5)


def test_fuse_merges_extra_dense_and_cooccurrence_candidates():
    items = (np.eye(6, 3) * np.arange(6)[:, None]).astype(np.float32)  # item i = i * e_(i mod 3)
    items[4] = [0.5, 0.5, 0.5]
    user = np.array([[1.0, 0.2, 0.0]], np.float32)
    cooc = np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 3.0]], np.float32)  # only item 5 co-occurs
    dense_items = np.array([[3, 1, 4]])
    extra_items, extra_dense = np.array([[1, 0]]), np.array([[9.0, -1e9]], np.float32)
    scores, ids = fuse(user, tf.constant(items), dense_items, cooc, 0.25, extra_items, extra_dense)
    scores, ids = scores.numpy()[0], ids.numpy()[0]
    # candidates: extra 1 (its own dense 9.0), dense 3 and 4 (1 is listed already), co-occurrence 5
    valid = {int(i): s for i, s in zip(ids, scores) if s > -1e8}
    assert set(valid) == {1, 3, 4, 5}
    dense = {1: 9.0, 3: float(items[3] @ user[0]), 4: float(items[4] @ user[0]), 5: float(items[5] @ user[0])}
    low, high = min(dense.values()), max(dense.values())
    for item, value in valid.items():
        expected = 0.75 * (dense[item] - low) / (high - low) + 0.25 * (1.0 if item == 5 else 0.0)
        assert value == pytest.approx(expected, abs=1e-6)


def test_hybrid_top_k_ends_are_the_dense_and_the_cooccurrence_rankings(matrix):
    from recsys_tf.index.topk import top_k_items

    rng = np.random.default_rng(3)
    items = rng.normal(size=(61, 8)).astype(np.float32)
    users = rng.normal(size=(5, 8)).astype(np.float32)
    history = np.array([[3, 7, 0], [12, 0, 0], [59, 1, 2], [5, 6, 7], [0, 0, 0]])
    exclude = [np.array([3, 7]), np.array([12]), np.array([59, 1, 2]), np.array([5, 6, 7]), np.array([], int)]
    table = fit_cooccurrence(matrix, "ease", 50.0, neighbours=10)
    index = CooccurrenceIndex(table)
    dense = hybrid_top_k(users, items, index, history, 0.0, 5, pool=20, exclude=exclude)
    np.testing.assert_array_equal(dense, top_k_items(users, items, 5, exclude=exclude)[0])
    only = hybrid_top_k(users, items, index, history, 1.0, 5, pool=20, exclude=exclude)
    scores = table.scores(history)
    for row in range(4):
        allowed = np.setdiff1d(np.flatnonzero(scores[row] > 0), exclude[row])
        expected = allowed[np.lexsort((allowed, -scores[row][allowed]))][:5]
        np.testing.assert_array_equal(only[row][:len(expected)], expected)
        assert not set(only[row]) & set(exclude[row])
    grid = hybrid_top_k(users, items, index, history, 0.0, 5, pool=20, exclude=exclude, weights=(0.0, 1.0))
    np.testing.assert_array_equal(grid[0.0], dense)
    np.testing.assert_array_equal(grid[1.0], only)


def test_auto_chooses_item_knn_when_ease_would_not_fit_and_ease_asked_for_says_so(matrix):
    assert choose_method("auto", 59, memory=10 * 2 ** 30)[0] == "ease"
    assert choose_method("auto", 30_000, memory=10 * 2 ** 40)[0] == "item_knn"
    method, why = choose_method("auto", 59, memory=ease_bytes(59))
    assert method == "item_knn" and "GB" in why
    with pytest.raises(InputError, match="model.cooccurrence=item_knn"):
        choose_method("ease", 20_000, memory=2 ** 30)
    table = fit_cooccurrence(matrix, "auto", neighbours=3, memory=ease_bytes(59))
    assert table.report["method"] == "item_knn" and "available" in table.report["why"]


def test_table_round_trip_and_growth(matrix, tmp_path):
    table = fit_cooccurrence(matrix, "ease", 50.0, neighbours=6)
    table.save(tmp_path / "t.npz")
    loaded = CooccurrenceTable.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(loaded.neighbours, table.neighbours)
    np.testing.assert_array_equal(loaded.weights, table.weights)
    assert loaded.report == table.report
    grown = loaded.extended(63)
    assert grown.n_items == 63 and grown.report["added_items"] == 3
    assert (grown.weights[61:] == 0).all() and (grown.neighbours[:61] == table.neighbours).all()
    history = np.array([[7, 61, 62]])  # new items have no co-occurrence: they add nothing
    np.testing.assert_allclose(grown.scores(history)[:, :61], table.scores(np.array([[7, 0, 0]])), atol=1e-6)
    with pytest.raises(ValueError, match="cannot shrink"):
        table.extended(10)


def test_cooccurrence_index_saved_and_scored_in_a_fresh_process(matrix, tmp_path):
    """Core TF ops only: a SavedModel with the scorer loads with plain tensorflow and scores the same."""
    table = fit_cooccurrence(matrix, "ease", 50.0, neighbours=6)
    module = CooccurrenceIndex(table)
    module.serve = tf.function(module.scores, input_signature=[tf.TensorSpec([None, None], tf.int32)])
    tf.saved_model.save(module, str(tmp_path / "m"))
    history = [[3, 7, 0], [59, 59, 1]]
    code = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(tmp_path / 'm')!r})
        np.save({str(tmp_path / 'out.npy')!r}, m.serve(tf.constant({history}, tf.int32)).numpy())
    """)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), table.scores(np.array(history)), atol=1e-6)


def test_hybrid_top_k_without_dense_candidates_is_the_cooccurrence_ranking(matrix):
    table = fit_cooccurrence(matrix, "ease", 50.0, neighbours=10)
    history = np.array([[3, 7, 0], [12, 0, 0]])
    exclude = [np.array([3, 7]), np.array([12])]
    alone = hybrid_top_k(np.zeros((2, 1), np.float32), np.zeros((61, 1), np.float32), CooccurrenceIndex(table),
                         history, 1.0, 5, pool=20, exclude=exclude, dense=False)
    scores = table.scores(history)
    for row in range(2):
        allowed = np.setdiff1d(np.flatnonzero(scores[row] > 0), exclude[row])
        expected = allowed[np.lexsort((allowed, -scores[row][allowed]))][:5]
        np.testing.assert_array_equal(alone[row][:len(expected)], expected)
        assert (alone[row][len(expected):] == 0).all()


def test_hybrid_top_k_never_returns_an_excluded_item_even_a_boosted_one(matrix):
    """Buy-again offsets make history items candidates; where they are also excluded (recommend with
    seen items excluded), exclusion wins, as in `top_k_items`."""
    rng = np.random.default_rng(5)
    items = rng.normal(size=(61, 4)).astype(np.float32)
    users = rng.normal(size=(3, 4)).astype(np.float32)
    history = np.array([[3, 7, 12], [5, 6, 0], [1, 2, 3]])
    offsets = np.full(history.shape, 100.0, np.float32)  # would put every history item first
    exclude = [np.array([3, 7, 12]), np.array([5]), np.array([], int)]
    index = CooccurrenceIndex(fit_cooccurrence(matrix, "ease", 50.0, neighbours=10))
    for weight in (0.0, 0.5, 1.0):
        top = hybrid_top_k(users, items, index, history, weight, 5, pool=10, exclude=exclude,
                           boost=(history, offsets))
        for row in range(3):
            assert not set(top[row]) & set(exclude[row].tolist()), (weight, row, top[row])
        if weight == 0.0:  # dense only: the allowed history items, boosted, come first
            assert top[1][0] == 6 and set(top[2][:3]) == {1, 2, 3}
