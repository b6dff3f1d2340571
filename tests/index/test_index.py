"""ScaNN / brute-force index building and `index tune`, against exact NumPy search."""
import json

import numpy as np
import pytest

from recsys_tf.index.build import (
    ReleasedAfterSerializing,
    build_index,
    default_scann_params,
    recall_against_exact,
    release_dropped_indexes,
)
from recsys_tf.index.tune import candidate_params, probe_queries, tune_scann


def _clustered(n=3000, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(40, d))
    x = centers[rng.integers(0, 40, n)] + 0.3 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_brute_force_matches_numpy_and_scann_recall():
    items = _clustered()
    ids = np.array([f"I{i}" for i in range(len(items))])
    queries = probe_queries(items, 200)
    brute = build_index("brute_force", items, ids, k=10)
    _, found = brute(queries, k=10)
    exact = np.argsort(-(queries @ items.T), axis=1)[:, :10]
    assert (found.numpy().astype(str) == ids[exact]).mean() > 0.99  # ties aside, identical
    assert recall_against_exact(brute, items, ids, queries, 10) > 0.99  # the exact side is the exact top 10
    assert recall_against_exact(build_index("scann", items, ids, k=10), items, ids, queries, 10) >= 0.95


def test_the_built_searcher_is_destroyed_once_serialized_and_the_copy_searches_the_same():
    import tensorflow as tf
    from scann.scann_ops.py import scann_ops

    items = _clustered(n=2000)
    queries = tf.constant(probe_queries(items, 50))
    searcher = scann_ops.builder(tf.constant(items), 10, "dot_product").tree(
        num_leaves=40, num_leaves_to_search=10).score_ah(2).reorder(100).build()
    before = searcher.search_batched(queries, final_num_neighbors=10).indices.numpy()
    state = ReleasedAfterSerializing(searcher).serialize_to_module()
    with pytest.raises(tf.errors.NotFoundError):  # the built searcher is gone from the resource manager
        searcher.search_batched(queries, final_num_neighbors=10)
    again = scann_ops.searcher_from_module(state).search_batched(queries, final_num_neighbors=10)
    np.testing.assert_array_equal(again.indices.numpy(), before)


def test_build_index_releases_its_searcher_and_live_indexes_survive_releasing_dropped_ones(monkeypatch):
    serialized = []
    original = ReleasedAfterSerializing.serialize_to_module
    monkeypatch.setattr(ReleasedAfterSerializing, "serialize_to_module",
                        lambda self: serialized.append(self) or original(self))
    items = _clustered()
    ids = np.array([f"I{i}" for i in range(len(items))])
    queries = probe_queries(items, 100)
    kept = build_index("scann", items, ids, k=10)
    assert len(serialized) == 1
    before = kept(queries, k=10)[1].numpy()
    dropped = build_index("scann", items, ids, k=10)
    dropped(queries, k=10)
    del dropped
    release_dropped_indexes()  # clears cached kernels: the live index recreates its searcher
    np.testing.assert_array_equal(kept(queries, k=10)[1].numpy(), before)


def test_recall_counts_items_tied_with_the_kth_whichever_is_returned():
    rng = np.random.default_rng(1)
    shared = np.ones((1, 8), np.float32) / np.sqrt(8)
    items = np.concatenate([np.repeat(shared, 60, axis=0), 0.3 * rng.normal(size=(200, 8)).astype(np.float32)])
    ids = np.array([f"I{i}" for i in range(len(items))])
    order = rng.permutation(len(items))  # the same catalog, another tie order
    shuffled = build_index("brute_force", items[order], ids[order], k=10)
    assert recall_against_exact(shuffled, items, ids, np.repeat(shared, 5, axis=0), 10) == 1.0
    others = build_index("brute_force", items[60:], ids[60:], k=10)  # without the tied best items
    assert recall_against_exact(others, items, ids, np.repeat(shared, 5, axis=0), 10) < 0.5


def test_default_params_and_grid():
    params = default_scann_params(1_000_000, 10)
    assert params["num_leaves"] == 1000 and params["num_leaves_to_search"] == 20
    assert default_scann_params(300, 10)["num_leaves_to_search"] == 17  # small catalogs: every leaf
    assert default_scann_params(300, 10)["num_reordering_candidates"] == 300  # ... and exact re-scoring of all
    grid = candidate_params(10_000, 10)
    assert grid[0] == default_scann_params(10_000, 10) and len(grid) == len({json.dumps(g) for g in grid})
    assert all(g["num_leaves_to_search"] <= g["num_leaves"] for g in grid)


def test_tune_picks_fastest_setting_reaching_the_target():
    items = _clustered()
    grid = [{"num_leaves": 50, "num_leaves_to_search": s, "num_reordering_candidates": 100,
             "dimensions_per_block": 2} for s in (2, 10, 50)]
    result = tune_scann(items, k=10, queries=probe_queries(items, 300), target_recall=0.9, grid=grid,
                        log=lambda *_: None)
    good = [r for r in result["results"] if r["recall"] >= 0.9]
    assert good and result["reached_target"]
    assert result["chosen"] == max(good, key=lambda r: r["qps"])["params"]
    ids = np.arange(len(items)).astype(str)
    again = recall_against_exact(build_index("scann", items, ids, k=10, **result["chosen"]), items, ids,
                                 probe_queries(items, 300), 10)
    # ScaNN trains its partition tree from a random start, so a rebuild's recall varies by a few
    # points (measured 0.926-0.955 for the same setting here); the target must still hold roughly
    assert again >= 0.9 - 0.05
    # an unreachable target falls back to the most accurate setting and says so
    strict = tune_scann(items, k=10, queries=probe_queries(items, 300), target_recall=1.01, grid=grid[:2],
                        log=lambda *_: None)
    assert not strict["reached_target"]
    assert strict["chosen_recall"] == max(r["recall"] for r in strict["results"])


@pytest.mark.slow
def test_index_tune_cli_feeds_export(tiny_run, tmp_path):
    from recsys_tf.cli.main import main

    out = tmp_path / "scann.json"
    assert main(["index", "tune", "--run", str(tiny_run), "--queries", "200", "--out", str(out)]) == 0
    chosen = json.loads(out.read_text())["chosen"]
    assert set(chosen) == {"num_leaves", "num_leaves_to_search", "num_reordering_candidates", "dimensions_per_block"}
    assert main(["export", "--run", str(tiny_run), "--index", "scann", "--export-root", str(tmp_path / "exp"),
                 "--scann-params", str(out), "--no-verify"]) == 0
    report = json.loads((tmp_path / "exp" / "recsys" / "1" / "assets.extra" / "recsys_tf_export.json").read_text())
    assert report["scann_params"]["num_leaves"] == chosen["num_leaves"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"leaves": 3}))
    assert main(["export", "--run", str(tiny_run), "--index", "scann", "--export-root", str(tmp_path / "exp"),
                 "--scann-params", str(bad)]) == 2
