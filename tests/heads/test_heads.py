import numpy as np
import pytest
import tensorflow as tf

from recsys_tf.heads import RankingHead, RetrievalHead
from tests.layer_harness import run_layer_test


def _numpy_softmax_loss(query, candidates, ids, probability, temperature, logq, remove_hits):
    logits = query @ candidates.T / temperature
    if logq:
        logits = logits - np.log(np.clip(probability, 1e-6, 1.0))[None, :]
    if remove_hits:
        same = ids[None, :] == ids[:, None]
        np.fill_diagonal(same, False)
        logits = np.where(same, logits - 1e9, logits)  # keras-rs uses the smallest float; any huge value
    return _nll_of_batch_positives(logits)


def _nll_of_batch_positives(logits):
    """Softmax cross-entropy of row i against column i (the batch's own positive), NumPy."""
    logits = logits - logits.max(axis=1, keepdims=True)
    n = len(logits)
    return -(logits[np.arange(n), np.arange(n)] - np.log(np.exp(logits).sum(axis=1)))


@pytest.mark.parametrize("logq", [True, False])
@pytest.mark.parametrize("remove_hits", [True, False])
def test_retrieval_loss_matches_numpy(logq, remove_hits):
    rng = np.random.default_rng(0)
    query = rng.normal(size=(6, 4)).astype("float32")
    candidates = rng.normal(size=(6, 4)).astype("float32")
    ids = np.array([3, 5, 3, 7, 8, 5], np.int32)  # accidental hits: rows 0/2 and 1/5
    probability = rng.uniform(0.01, 0.5, size=6).astype("float32")
    head = RetrievalHead(temperature=0.5, logq_correction=logq, remove_accidental_hits=remove_hits)
    ours = head(query, candidates, ids, probability).numpy()
    expected = _numpy_softmax_loss(query, candidates, ids, probability, 0.5, logq, remove_hits)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_logq_lowers_the_penalty_on_popular_negatives():
    query = np.eye(3, 4, dtype="float32")
    candidates = np.eye(3, 4, dtype="float32") + 0.5
    ids = np.arange(3)
    popular_first = np.array([0.9, 0.05, 0.05], np.float32)
    plain = RetrievalHead(temperature=1.0, logq_correction=False)(query, candidates, ids, popular_first).numpy()
    corrected = RetrievalHead(temperature=1.0)(query, candidates, ids, popular_first).numpy()
    assert corrected[1] < plain[1] and corrected[2] < plain[2]  # popular negative pushed down less


def test_hard_negatives_and_extra_candidates():
    rng = np.random.default_rng(1)
    head = RetrievalHead(num_hard_negatives=2)
    q, c = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    extra = rng.normal(size=(3, 4)).astype("float32")
    loss = head(q, c, np.arange(5), None, extra_candidates=extra, extra_ids=np.arange(10, 13),
                extra_probability=np.full(3, 0.1, np.float32))
    assert loss.shape == (5,) and np.isfinite(loss.numpy()).all()


def test_extra_candidates_logq_is_on_the_batch_scale():
    """A uniform extra negative expected e times per batch is corrected by log(e) - log(B): the batch
    candidates' correction is log(per-row probability) = log(B p) - log B."""
    rng = np.random.default_rng(3)
    q, c = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")
    extra = rng.normal(size=(2, 3)).astype("float32")
    probability = rng.uniform(0.05, 0.5, size=4).astype("float32")
    head = RetrievalHead(temperature=1.0, remove_accidental_hits=False)
    ours = head(q, c, np.arange(4), probability, extra_candidates=extra, extra_ids=np.array([10, 11]),
                extra_probability=np.full(2, 0.02, np.float32)).numpy()
    expected = _nll_of_batch_positives(
        np.concatenate([q @ c.T - np.log(probability)[None, :], q @ extra.T - (np.log(0.02) - np.log(4))], 1))
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_row_candidates_match_numpy():
    """Per-row negatives (category negatives) join each row's softmax, logQ-corrected by their expected
    draws on the batch's scale (log e - log B); a row negative with the positive's own id is masked."""
    rng = np.random.default_rng(2)
    query = rng.normal(size=(4, 3)).astype("float32")
    candidates = rng.normal(size=(4, 3)).astype("float32")
    ids = np.array([1, 2, 3, 4], np.int32)
    probability = rng.uniform(0.05, 0.5, size=4).astype("float32")
    rows = rng.normal(size=(4, 2, 3)).astype("float32")
    row_ids = np.array([[7, 1], [8, 9], [3, 5], [6, 6]], np.int32)  # rows 0 and 2 drew their own positive
    expected_draws = np.array([[0.5, 0.5], [0.2, 0.2], [1.0, 1.0], [0.25, 0.25]], np.float32)
    head = RetrievalHead(temperature=0.5)
    ours = head(query, candidates, ids, probability, row_candidates=rows, row_ids=row_ids,
                row_probability=expected_draws).numpy()
    batch_logits = query @ candidates.T / 0.5 - np.log(probability)[None, :]
    row_logits = np.einsum("bd,bnd->bn", query, rows) / 0.5 - (np.log(expected_draws) - np.log(4))
    row_logits[row_ids == ids[:, None]] -= 1e9
    expected = _nll_of_batch_positives(np.concatenate([batch_logits, row_logits], axis=1))
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)
    # unmasked, rows 0 and 2 would have a larger loss (the positive competing with itself)
    unmasked = head(query, candidates, ids, probability, row_candidates=rows, row_probability=expected_draws,
                    row_ids=np.where(row_ids == ids[:, None], 99, row_ids)).numpy()
    assert (unmasked[[0, 2]] > ours[[0, 2]]).all() and np.allclose(unmasked[[1, 3]], ours[[1, 3]], atol=1e-5)


def _head_inputs():
    import keras

    return [keras.Input((4,)), keras.Input((4,)), keras.Input((), dtype="int32"), keras.Input((), dtype="int32")]


def test_ranking_head_rating_has_biases_and_round_trips():
    head = RankingHead("rating", num_user_bins=4, num_items=5, hidden_dims=[8], global_mean=3.5)
    u, i = np.ones((2, 4), "float32"), np.ones((2, 4), "float32")
    out = head(u, i, np.array([0, 1]), np.array([1, 2]))
    assert out.shape == (2,)
    head.user_bias.embeddings.assign(tf.ones((4, 1)))
    np.testing.assert_allclose(head(u, i, np.array([0, 1]), np.array([1, 2])).numpy(), out.numpy() + 1.0, atol=1e-5)
    config = head.get_config()
    assert RankingHead.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="kind.*Received"):
        RankingHead("ctr")



def test_rating_range_clips_predictions_outside_training_only(tmp_path):

    head = RankingHead("rating", num_user_bins=4, num_items=5, hidden_dims=[8], global_mean=3.0, rating_range=(1, 5))
    u, i = np.ones((3, 4), "float32"), np.ones((3, 4), "float32")
    bins, items = np.array([0, 1, 2]), np.array([1, 2, 3])
    head(u, i, bins, items)
    for w in head.mlp.weights:  # MLP term 0 (its random init would move the scores): score = 3 + item bias
        w.assign(tf.zeros_like(w))
    head.item_bias.embeddings.assign(np.array([[0.0], [9.0], [-9.0], [0.5], [0], [0]], "float32"))
    raw = head(u, i, bins, items, training=True).numpy()
    np.testing.assert_allclose(raw, [12.0, -6.0, 3.5], atol=1e-6)  # training sees the unclipped output (gradients)
    for training in (None, False):
        np.testing.assert_allclose(head(u, i, bins, items, training=training).numpy(), np.clip(raw, 1, 5), atol=1e-6)
    assert head.get_config()["rating_range"] == [1.0, 5.0]
    run_layer_test(head, (u, i, bins, items), _head_inputs(), tmp_path, expected=np.clip(raw, 1, 5),
                   call=lambda layer, x: layer(*x))
    with pytest.raises(ValueError, match="rating_range.*Received: rating_range=\\(5, 1\\)"):
        RankingHead("rating", rating_range=(5, 1))
    with pytest.raises(ValueError, match="kind='rating' only"):
        RankingHead("click", rating_range=(0, 1))


def test_ranking_head_factors_and_penalty_match_numpy(tmp_path):

    head = RankingHead("rating", num_user_bins=4, num_items=5, hidden_dims=[8], global_mean=3.5, factor_dim=3, l2=0.1)
    u, i = np.random.default_rng(0).normal(size=(2, 2, 4)).astype("float32")
    bins, items = np.array([0, 3]), np.array([1, 5])
    without = RankingHead("rating", num_user_bins=4, num_items=5, hidden_dims=[8], global_mean=3.5)
    without(u, i, bins, items)
    head(u, i, bins, items)
    for name in ("mlp", "crosses"):  # same MLP + cross weights: the difference is the MF term alone
        a, b = getattr(head, name), getattr(without, name)
        for wa, wb in zip(a.weights if name == "mlp" else [w for c in a for w in c.weights],
                          b.weights if name == "mlp" else [w for c in b for w in c.weights]):
            wb.assign(wa)
    rng = np.random.default_rng(1)
    P, Q = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(6, 3)).astype("float32")
    bu, bi = rng.normal(size=(4, 1)).astype("float32"), rng.normal(size=(6, 1)).astype("float32")
    head.user_factors.embeddings.assign(P)
    head.item_factors.embeddings.assign(Q)
    for h in (head, without):
        h.user_bias.embeddings.assign(bu)
        h.item_bias.embeddings.assign(bi)
    expected = without(u, i, bins, items).numpy() + np.sum(P[bins] * Q[items], axis=1)
    np.testing.assert_allclose(head(u, i, bins, items).numpy(), expected, rtol=1e-5, atol=1e-5)
    penalty = 0.1 * (bu[bins, 0] ** 2 + bi[items, 0] ** 2 + np.sum(P[bins] ** 2, 1) + np.sum(Q[items] ** 2, 1))
    np.testing.assert_allclose(head.penalty(bins, items).numpy(), penalty, rtol=1e-5)
    run_layer_test(head, (u, i, bins, items), _head_inputs(), tmp_path, expected=expected,
                   call=lambda layer, x: layer(*x))
    with pytest.raises(ValueError, match="factor_dim.*Received"):
        RankingHead("rating", factor_dim=-1)

def test_retrieval_head_config_and_errors():
    head = RetrievalHead(temperature=0.1, learn_temperature=True, num_hard_negatives=3)
    assert RetrievalHead.from_config(head.get_config()).get_config() == head.get_config()
    assert len(head.trainable_weights) == 1
    with pytest.raises(ValueError, match="temperature.*Received"):
        RetrievalHead(temperature=0)
