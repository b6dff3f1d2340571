import keras
import numpy as np
import pytest
import tensorflow as tf

from recsys_tf.towers import ItemTower, QueryTower, UserTower
from tests.layer_harness import run_layer_test

N_ITEMS, TEXT_DIM, D = 12, 6, 8


def _item_tower(**kwargs):
    kwargs = {"dropout": 0.0, "text_dropout": 0.0, **kwargs}  # one random effect at a time
    rng = np.random.default_rng(0)
    return ItemTower(N_ITEMS, 3, 4, catalog_category=rng.integers(0, 4, N_ITEMS + 1),
                     catalog_brand=rng.integers(0, 5, N_ITEMS + 1), catalog_price=rng.integers(0, 5, N_ITEMS + 1),
                     catalog_text_vectors=rng.normal(size=(N_ITEMS + 1, TEXT_DIM)).astype("float32"),
                     output_dim=D, id_dim=4, attribute_dim=4, hidden_dims=[16], **kwargs)


def _user_inputs(batch=3, history=5):
    items = np.zeros((batch, history), np.int32)
    items[0, -3:] = [1, 2, 3]
    items[1, -1:] = [4]  # row 2: empty history
    return {"history_items": items, "history_events": (items > 0).astype(np.int32),
            "history_recency": (items > 0).astype(np.int32), "user_bin": np.array([1, 2, 3], np.int32),
            "hour": np.array([0, 5, 23], np.int32), "weekday": np.array([0, 3, 6], np.int32),
            "device": np.array([0, 1, 2], np.int32)}


def test_item_tower_shapes_norms_and_ranks():
    tower = _item_tower()
    out = tower(np.array([1, 2, 0]))
    assert out.shape == (3, tower.embedding_dim) and tower.embedding_dim == D + TEXT_DIM
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0, atol=1e-5)
    assert tower(np.array([[1, 2], [3, 0]])).shape == (2, 2, tower.embedding_dim)
    plain = _item_tower(text_skip=False)
    assert plain(np.array([1])).shape == (1, D)
    # a catalog item equals embedding its own features with its own id
    by_features = tower.embed_features(tf.gather(tower.catalog_text, [2]), tf.gather(tower.catalog_category, [2]),
                                       tf.gather(tower.catalog_brand, [2]), tf.gather(tower.catalog_price, [2]),
                                       item_index=tf.constant([2]))
    np.testing.assert_allclose(by_features.numpy(), tower(np.array([2])).numpy(), atol=1e-6)


def test_item_tower_id_dropout_only_in_training():
    tower = _item_tower(id_dropout=0.99)
    np.testing.assert_allclose(tower(np.array([1, 2])).numpy(), tower(np.array([1, 2])).numpy())
    train = tower(np.array([1, 2] * 50), training=True).numpy()
    cold = tower.embed_features(tf.gather(tower.catalog_text, [1, 2] * 50), tf.gather(tower.catalog_category, [1, 2] * 50),
                                tf.gather(tower.catalog_brand, [1, 2] * 50), tf.gather(tower.catalog_price, [1, 2] * 50))
    assert np.isclose(train, cold.numpy(), atol=1e-5).all(axis=1).mean() > 0.8  # ids mostly dropped


def test_item_tower_text_dropout_zeroes_only_the_learned_text_input():
    tower = _item_tower(text_dropout=0.99, id_dropout=0.0, text_dropout_scope="all")
    np.testing.assert_allclose(tower(np.array([1, 2])).numpy(), tower(np.array([1, 2])).numpy())
    train = tower(np.array([1] * 100), training=True).numpy()
    no_text = tower.embed_features(tf.zeros((100, TEXT_DIM)), tf.gather(tower.catalog_category, [1] * 100),
                                   tf.gather(tower.catalog_brand, [1] * 100), tf.gather(tower.catalog_price, [1] * 100),
                                   item_index=tf.constant([1] * 100)).numpy()
    # the learned part sees no text; the text skip (last TEXT_DIM dims) still carries the item's text
    learned = slice(0, D)
    assert np.isclose(train[:, learned] / np.linalg.norm(train[:, learned], axis=1, keepdims=True),
                      no_text[:, learned] / np.linalg.norm(no_text[:, learned], axis=1, keepdims=True),
                      atol=1e-5).all(axis=1).mean() > 0.8
    np.testing.assert_allclose(train[:, D:], np.repeat(tower(np.array([1])).numpy()[:, D:], 100, axis=0), atol=1e-5)


def test_item_tower_text_dropout_scope_id_dropped_hides_text_only_where_the_id_is_hidden():
    tower = _item_tower(text_dropout=0.99, id_dropout=0.5, text_dropout_scope="id_dropped")
    train = tower(np.array([1] * 200), training=True).numpy()
    feats = [tf.gather(getattr(tower, f"catalog_{n}"), [1]) for n in ("category", "brand", "price")]
    full = tower(np.array([1])).numpy()
    no_id = tower.embed_features(tf.gather(tower.catalog_text, [1]), *feats).numpy()
    neither = tower.embed_features(tf.zeros((1, TEXT_DIM)), *feats).numpy()
    id_only = tower.embed_features(tf.zeros((1, TEXT_DIM)), *feats, item_index=tf.constant([1])).numpy()
    learned = slice(0, D)

    def share(ref):
        unit = lambda x: x[:, learned] / np.linalg.norm(x[:, learned], axis=1, keepdims=True)  # noqa: E731
        return np.isclose(unit(train), unit(ref), atol=1e-5).all(axis=1).mean()
    # rows keep both (id kept) or lose both (id dropped, then text with p=0.99); never id without text
    assert share(full) > 0.3 and share(neither) > 0.3 and np.isclose(share(full) + share(neither) + share(no_id), 1.0)
    assert share(id_only) == 0.0 and share(no_id) < 0.05
    assert tower.get_config()["text_dropout_scope"] == "id_dropped"
    # without id dropout no row is id-dropped, so no text is hidden either
    quiet = _item_tower(text_dropout=0.99, id_dropout=0.0)
    np.testing.assert_allclose(quiet(np.array([1] * 20), training=True).numpy(),
                               np.repeat(quiet(np.array([1])).numpy(), 20, axis=0), atol=1e-5)
    with pytest.raises(ValueError, match="text_dropout_scope"):
        _item_tower(text_dropout_scope="ids")


@pytest.mark.parametrize("encoder", ["attention", "transformer", "mean"])
def test_user_tower_masks_padding(encoder):
    tower = UserTower(_item_tower(), num_user_bins=8, num_devices=2, output_dim=D, history_encoder=encoder,
                      hidden_dims=[16])
    inputs = _user_inputs()
    out = tower(inputs).numpy()
    assert out.shape == (3, tower.embedding_dim) and np.isfinite(out).all()
    _, _, weights = tower.encode_history({k: tf.constant(v) for k, v in inputs.items()})
    weights = weights.numpy()
    assert (weights[inputs["history_items"] == 0] == 0).all()
    np.testing.assert_allclose(weights[:2].sum(axis=1), 1.0, atol=1e-5)
    assert weights[2].sum() == 0  # empty history -> no behaviour signal
    changed = dict(inputs, history_events=inputs["history_events"] + (inputs["history_items"] == 0) * 3)
    np.testing.assert_allclose(tower(changed).numpy(), out, atol=1e-5)  # padded positions are ignored


def test_query_tower_gate():
    tower = QueryTower(text_dim=TEXT_DIM, output_dim=D, hidden_dims=[16], personalize=True)
    vectors = np.random.default_rng(1).normal(size=(3, TEXT_DIM)).astype("float32")
    anonymous = tower({"query_vector": vectors}).numpy()
    user = np.eye(3, tower.embedding_dim, dtype="float32")
    personal = tower({"query_vector": vectors, "user_embedding": user}).numpy()
    assert anonymous.shape == personal.shape == (3, D + TEXT_DIM)
    assert not np.allclose(anonymous, personal)
    np.testing.assert_allclose(np.linalg.norm(personal, axis=1), 1.0, atol=1e-5)


def test_query_tower_anonymous_rate_trains_the_query_only_path():
    tower = QueryTower(text_dim=TEXT_DIM, output_dim=D, hidden_dims=[16], personalize=True, anonymous_rate=0.5,
                       dropout=0.0)  # only the anonymous switch is random
    vectors = np.random.default_rng(2).normal(size=(400, TEXT_DIM)).astype("float32")
    user = np.random.default_rng(3).normal(size=(400, tower.embedding_dim)).astype("float32")
    anonymous = tower({"query_vector": vectors}).numpy()
    personal = tower({"query_vector": vectors, "user_embedding": user}).numpy()
    # inference never drops the user
    np.testing.assert_allclose(tower({"query_vector": vectors, "user_embedding": user}).numpy(), personal)
    train = tower({"query_vector": vectors, "user_embedding": user}, training=True).numpy()
    as_anonymous = np.isclose(train, anonymous, atol=1e-5).all(axis=1)
    as_personal = np.isclose(train, personal, atol=1e-5).all(axis=1)
    assert (as_anonymous ^ as_personal).all()  # each row is exactly one of the two
    assert 0.4 < as_anonymous.mean() < 0.6
    with pytest.raises(ValueError, match="anonymous_rate=1.0"):
        QueryTower(text_dim=TEXT_DIM, anonymous_rate=1.0)


@pytest.mark.parametrize("make", ["item", "user", "query"])
def test_get_config_round_trip_and_keras_save(make, tmp_path):
    if make == "item":
        layer, call_input = _item_tower(), np.array([1, 2, 0])
        inputs = keras.Input(shape=(), dtype="int32")
    elif make == "user":
        layer, call_input = UserTower(_item_tower(), num_user_bins=8, num_devices=2, output_dim=D,
                                      hidden_dims=[16]), _user_inputs()
        inputs = {k: keras.Input(shape=np.asarray(v).shape[1:], dtype="int32", name=k) for k, v in call_input.items()}
    else:
        layer = QueryTower(text_dim=TEXT_DIM, output_dim=D, hidden_dims=[16], anonymous_rate=0.3)
        call_input = {"query_vector": np.ones((2, TEXT_DIM), "float32")}
        inputs = {"query_vector": keras.Input(shape=(TEXT_DIM,), name="query_vector")}
    run_layer_test(layer, call_input, inputs, tmp_path)


def test_text_skip_keeps_text_similarity():
    """Two items with the same text: with the text part their cosine is (l·l' + w²)/(1 + w²) ≥ l·l',
    the learned part's cosine alone (weight 0)."""
    tower = _item_tower(id_dropout=0.0)
    same_text = tf.gather(tower.catalog_text, [3, 3])

    def cosine():
        a = tower.embed_features(same_text, tf.constant([1, 2]), tf.constant([1, 3]), tf.constant([1, 4])).numpy()
        return float(a[0] @ a[1])

    tower.skip_weight.assign(0.0)
    learned_only = cosine()
    tower.skip_weight.assign(1.0)
    with_text = cosine()
    np.testing.assert_allclose(with_text, (learned_only + 1.0) / 2.0, atol=1e-5)


def test_clear_ids_zeroes_only_those_rows():
    tower = _item_tower()
    before = tower.id_embedding.embeddings.numpy().copy()
    tower.clear_ids([2, 5])
    after = tower.id_embedding.embeddings.numpy()
    assert not after[[2, 5]].any()
    np.testing.assert_array_equal(np.delete(after, [2, 5], axis=0), np.delete(before, [2, 5], axis=0))
    # a cleared item embeds exactly like an unknown item with its features
    features = [tf.gather(t, [2]) for t in (tower.catalog_text, tower.catalog_category, tower.catalog_brand,
                                            tower.catalog_price)]
    np.testing.assert_allclose(tower(np.array([2])).numpy(), tower.embed_features(*features).numpy(), atol=1e-6)
    tower.clear_ids([])  # no-op
