"""RecommenderModel: per-row category negatives (sampling, the losses they change, config round trip)."""
import numpy as np
import pytest
import tensorflow as tf

from recsys_tf.heads import RetrievalHead
from recsys_tf.models.recommender import RecommenderModel
from recsys_tf.towers import ItemTower, QueryTower, UserTower

N_ITEMS, TEXT_DIM, D = 30, 6, 8
# item i (1..30) is in category i % 4 (so 7 or 8 items each); row 0 is padding
CATEGORY = np.array([0] + [i % 4 for i in range(1, N_ITEMS + 1)], np.int32)


def _model(**kwargs):
    rng = np.random.default_rng(0)
    items = ItemTower(N_ITEMS, 4, 3, catalog_category=CATEGORY, catalog_brand=rng.integers(0, 3, N_ITEMS + 1),
                      catalog_price=rng.integers(0, 5, N_ITEMS + 1),
                      catalog_text_vectors=rng.normal(size=(N_ITEMS + 1, TEXT_DIM)).astype("float32"),
                      output_dim=D, id_dim=4, attribute_dim=4, hidden_dims=[16], name="item_tower")
    users = UserTower(items, num_user_bins=8, num_devices=2, output_dim=D, hidden_dims=[16], name="user_tower")
    query = QueryTower(text_dim=TEXT_DIM, output_dim=D, hidden_dims=[16], name="query_tower")
    return RecommenderModel(items, users, query, RetrievalHead(temperature=0.1), task_weights={"rating": 0, "click": 0},
                            **kwargs)


def _batch(model, targets):
    batch = model.dummy_batch(len(targets))
    batch["target_item"] = tf.constant(targets, tf.int32)
    batch["query_vector"] = tf.constant(np.random.default_rng(1).normal(size=(len(targets), TEXT_DIM)), tf.float32)
    return batch


def _draw(model, targets, n, times):
    """`times` calls of `sample_category_negatives`: the first call's (ids, expected draws) and all
    ids side by side, `(len(targets), n * times)`, each checked to lie in its target's category."""
    samples = [model.sample_category_negatives(tf.constant(targets), n) for _ in range(times)]
    draws = np.concatenate([ids.numpy() for ids, _ in samples], axis=1)
    assert draws.shape == (len(targets), n * times)
    np.testing.assert_array_equal(CATEGORY[draws], np.repeat(CATEGORY[targets][:, None], n * times, axis=1))
    return samples[0], draws


def test_category_negatives_come_from_the_targets_own_category_equally_when_positives_are():
    model = _model(category_negatives={"search": 5})
    targets = np.array([1, 2, 3, 4, 8, 30], np.int32)
    (_, expected), draws = _draw(model, targets, 5, 200)
    sizes = np.array([(CATEGORY[1:] == CATEGORY[t]).sum() for t in targets])
    np.testing.assert_allclose(expected.numpy(), np.repeat(5.0 / sizes[:, None], 5, axis=1), rtol=1e-6)
    for row, target in enumerate(targets):  # every item of the category is drawn, about equally often
        members = np.flatnonzero(CATEGORY[1:] == CATEGORY[target]) + 1
        counts = np.array([(draws[row] == m).sum() for m in members])
        assert counts.min() > 0.5 * 1000 / len(members) and counts.max() < 1.5 * 1000 / len(members)


def test_category_negatives_follow_the_training_positives_frequency_within_the_category():
    """Drawn in proportion to `sampling_probability` inside the category: an item that was never a
    training positive (a new item, probability ~0) is never a negative, and the expected draws are
    n * p / p(category)."""
    probability = np.zeros(N_ITEMS + 1, np.float32)
    probability[1:] = np.arange(1, N_ITEMS + 1) % 3  # items 3, 6, 9, ...: never a positive
    probability /= probability.sum()
    model = _model(category_negatives={"recommend": 4}, sampling_probability=probability)
    targets = np.array([1, 2, 4, 8], np.int32)
    first, draws = _draw(model, targets, 4, 300)
    assert (probability[draws] > 0).all()
    for row, target in enumerate(targets):
        members = np.flatnonzero(CATEGORY == CATEGORY[target])
        members = members[members > 0]
        share = probability[members] / probability[members].sum()
        observed = np.array([(draws[row] == m).mean() for m in members])
        np.testing.assert_allclose(observed, share, atol=0.05)
        ids, expected = first[0].numpy()[row], first[1].numpy()[row]
        np.testing.assert_allclose(expected, 4 * probability[ids] / probability[members].sum(), rtol=1e-5)


def test_category_negatives_change_only_their_task_and_round_trip(tmp_path):
    plain = _model()
    search_only = _model(category_negatives={"search": 4})
    batch = _batch(plain, [1, 2, 3, 4, 5, 6])
    plain.build_all(), search_only.build_all()
    search_only.set_weights(plain.get_weights())
    a = {k: float(v) for k, v in plain.compute_losses(batch, training=False).items()}
    b = {k: float(v) for k, v in search_only.compute_losses(batch, training=False).items()}
    assert b["recommend"] == pytest.approx(a["recommend"], abs=1e-6)  # recommend rows untouched
    assert b["search"] > a["search"]  # more negatives in the same softmax: a larger loss
    config = search_only.get_config()
    assert config["category_negatives"] == {"search": 4}
    again = RecommenderModel.from_config(config)
    assert again.get_config()["category_negatives"] == {"search": 4}
    again.build_all()  # fresh random weights: only load_weights can make the embeddings equal
    search_only.save_weights(tmp_path / "m.weights.h5")
    again.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(again.item_embedding(tf.range(N_ITEMS + 1)).numpy(),
                               search_only.item_embedding(tf.range(N_ITEMS + 1)).numpy(), atol=1e-6)


@pytest.mark.parametrize("bad", [{"rating": 3}, {"search": -1}])
def test_category_negatives_reject_bad_values(bad):
    with pytest.raises(ValueError, match="category_negatives"):
        _model(category_negatives=bad)


def test_full_softmax_scores_the_whole_catalog_and_round_trips():
    model = _model(full_softmax=("recommend",))
    batch = _batch(model, [1, 2, 3, 30])
    model.build_all()
    losses = model.compute_losses(batch, training=False)
    user = model.user_embedding(batch, training=False).numpy()
    catalog = model.item_embedding(tf.range(1, N_ITEMS + 1), training=False).numpy()
    logits = user @ catalog.T / 0.1
    logits -= logits.max(axis=1, keepdims=True)
    nll = -(logits[np.arange(4), np.array([1, 2, 3, 30]) - 1] - np.log(np.exp(logits).sum(axis=1)))
    assert float(losses["recommend"]) == pytest.approx(nll.mean(), rel=1e-4)
    in_batch = _model()
    in_batch.build_all()
    in_batch.set_weights([w for v, w in zip(model.weights, model.get_weights(), strict=True)
                          if "catalog_offset" not in v.path])
    plain = in_batch.compute_losses(batch, training=False)
    assert float(plain["search"]) == pytest.approx(float(losses["search"]), abs=1e-6)  # search stays in-batch
    assert float(plain["recommend"]) < float(losses["recommend"])  # 30 negatives instead of 3
    config = model.get_config()
    assert RecommenderModel.from_config(config).full_softmax == ("recommend",)
    with pytest.raises(ValueError, match="full_softmax"):
        _model(full_softmax=("rating",))


def test_masked_catalog_items_are_no_negatives_and_get_no_gradient():
    model = _model(full_softmax=("recommend",))
    batch = _batch(model, [1, 2, 3, 30])
    model.build_all()
    model.task_weights["search"] = 0.0  # the recommend loss alone
    masked = np.arange(10, 20)  # 1-based catalog items without a training event
    model.mask_catalog(masked)
    with tf.GradientTape() as tape:
        loss = model.compute_losses(batch, training=False)["recommend"]
    user = model.user_embedding(batch, training=False).numpy()
    keep = np.setdiff1d(np.arange(1, N_ITEMS + 1), masked)
    catalog = model.item_embedding(tf.constant(keep), training=False).numpy()
    logits = user @ catalog.T / 0.1
    logits -= logits.max(axis=1, keepdims=True)
    columns = np.searchsorted(keep, [1, 2, 3, 30])
    nll = -(logits[np.arange(4), columns] - np.log(np.exp(logits).sum(axis=1)))
    assert float(loss) == pytest.approx(nll.mean(), rel=1e-4)  # the softmax over the other 20 items
    ids = model.item_tower.id_embedding.embeddings
    grad = tf.convert_to_tensor(tape.gradient(loss, ids)).numpy()
    assert not grad[masked].any() and grad[keep].any()
    model.mask_catalog([])
    assert not model.catalog_offset.numpy().any()
    _model().mask_catalog(masked)  # in-batch models have no catalog to mask


def _numpy_bonus(head, items, n_items):
    """RepeatHead's offset, NumPy: per row, the item bias once plus its positions' weights (from the end)."""
    bias, position = head.item_bias.numpy(), head.position_weight.numpy()
    out = np.zeros((len(items), n_items + 1), np.float32)
    for row in range(len(items)):
        for p, item in enumerate(items[row]):
            if item:
                out[row, item] += position[min(len(items[row]) - 1 - p, head.max_positions - 1)]
        for item in set(items[row]) - {0}:
            out[row, item] += bias[item]
    return out


def test_repeat_head_matches_numpy_in_every_form():
    from recsys_tf.heads import RepeatHead

    rng = np.random.default_rng(3)
    head = RepeatHead(N_ITEMS, max_positions=4)  # positions 4+ from the end share the last weight
    for weight in (head.item_bias, head.position_weight):
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    items = np.array([[0, 0, 3, 5, 3, 7], [1, 2, 2, 2, 30, 1]], np.int32)
    expected = _numpy_bonus(head, items, N_ITEMS)
    np.testing.assert_allclose(head.catalog_bonus(items).numpy(), expected, atol=1e-5)
    candidates = np.array([3, 4, 2, 30, 5, 1], np.int32)
    np.testing.assert_allclose(head.candidate_bonus(items, candidates).numpy(), expected[:, candidates], atol=1e-5)
    np.testing.assert_allclose(head.history_bonus(items).numpy(),
                               np.take_along_axis(expected, items, axis=1) * (items > 0), atol=1e-5)
    again = RepeatHead.from_config(head.get_config())
    again.set_weights(head.get_weights())
    np.testing.assert_allclose(again.catalog_bonus(items).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("full", [(), ("recommend",)])
def test_repeat_head_offsets_the_recommend_logits_of_history_items(full, tmp_path):
    from recsys_tf.heads import RepeatHead

    plain, repeat = _model(full_softmax=full), _model(full_softmax=full, repeat_head=RepeatHead(N_ITEMS))
    batch = _batch(plain, [1, 2, 3, 4])
    batch["history_items"] = tf.constant([[1, 0, 0, 0], [5, 5, 2, 0], [0, 0, 0, 0], [4, 1, 0, 0]], tf.int32)
    plain.build_all(), repeat.build_all()
    repeat.set_weights(plain.get_weights() + [np.zeros(w.shape, "float32") for w in repeat.repeat_head.weights])
    base = float(plain.compute_losses(batch, training=False)["recommend"])
    assert float(repeat.compute_losses(batch, training=False)["recommend"]) == pytest.approx(base, abs=1e-6)
    repeat.repeat_head.item_bias.assign(np.full(N_ITEMS + 1, 2.0, "float32"))  # history items score higher
    boosted = float(repeat.compute_losses(batch, training=False)["recommend"])
    assert boosted < base  # rows 0, 1 and 3 have their target in the history
    again = RecommenderModel.from_config(repeat.get_config())
    again.build_all()
    repeat.save_weights(tmp_path / "m.weights.h5")
    again.load_weights(tmp_path / "m.weights.h5")
    assert float(again.compute_losses(batch, training=False)["recommend"]) == pytest.approx(boosted, abs=1e-6)
