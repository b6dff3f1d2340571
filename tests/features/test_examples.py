import numpy as np
import pandas as pd
import tensorflow as tf

from recsys_tf.features.examples import build_examples
from recsys_tf.features.vocabulary import (
    EVENT_VOCABULARY,
    MAX_AUTO_USER_BINS,
    RECENCY_BUCKETS,
    Vocabularies,
    VocabularyLookup,
    auto_user_bins,
    recency_bucket,
)


def _vocab():
    return Vocabularies(items=["a", "b", "c", "d"], categories=["x"], brands=["y"], user_bins=64)


def test_recency_bucket_is_one_plus_floor_log2_of_hours_plus_one_capped():
    edges = 3600 * (2 ** np.arange(1, RECENCY_BUCKETS, dtype=np.int64) - 1)
    seconds = np.concatenate([[-5, 0, 1, 3599, 2 ** 40], edges - 1, edges, edges + 1,
                              np.random.default_rng(0).integers(0, 2 ** 32, 10_000)])
    hours = np.maximum(seconds, 0) / 3600.0
    reference = np.clip(np.floor(np.log2(hours + 1.0)).astype(np.int32) + 1, 1, RECENCY_BUCKETS - 1)
    np.testing.assert_array_equal(recency_bucket(seconds), reference)
    np.testing.assert_array_equal(recency_bucket(seconds.reshape(-1, 1)).ravel(), reference)
    assert recency_bucket(seconds).dtype == np.int32


def test_vocabulary_lookup_matches_a_dict_of_strings_for_every_kind_of_input(tmp_path):
    vocabulary = ["a", "b", "a", "c", "10"]  # "a" repeated: the last occurrence wins, as in a dict
    reference = {v: i + 1 for i, v in enumerate(vocabulary)}
    values = ["c", "zz", "a", None, "b", "a", "10"]
    expected = [reference.get(v, 0) if v is not None else 0 for v in values]
    lookup = VocabularyLookup(vocabulary)
    for given in (values, np.array(values, dtype=object), pd.Series(values, dtype="string"),
                  pd.Series(values, dtype="string[pyarrow]"), pd.Index(values)):
        np.testing.assert_array_equal(lookup(given), expected)
        assert lookup(given).dtype == np.int32
    np.testing.assert_array_equal(lookup(np.array([10, 3])), [5, 0])  # compared as strings
    np.testing.assert_array_equal(lookup([]), np.zeros(0, np.int32))
    np.testing.assert_array_equal(VocabularyLookup([])(["a", None]), [0, 0])
    vocab = _vocab()
    np.testing.assert_array_equal(vocab.item_index(["d", "a"]), [4, 1])
    vocab.items = ["d"]  # a replaced vocabulary is looked up afresh
    np.testing.assert_array_equal(vocab.item_index(["d", "a"]), [1, 0])
    # the cached lookups are neither compared nor saved
    assert vocab == Vocabularies(items=["d"], categories=["x"], brands=["y"], user_bins=64)
    vocab.save(tmp_path / "vocab.json")
    assert Vocabularies.load(tmp_path / "vocab.json") == vocab
    vocab.items.append("a")  # a vocabulary that grows is looked up afresh too
    np.testing.assert_array_equal(vocab.item_index(["d", "a"]), [1, 2])


def test_history_is_the_newest_earlier_events_right_aligned():
    hour = 3600
    history = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u1"],
        "item_id": ["a", "b", "c", "d", "d"],
        "event": ["rating", "rating", "view", "rating", "rating"],
        "timestamp": [0, hour, 3 * hour, 0, 10 * hour],  # u1's "d" is later than the target: not history
        "rating": [4.0, 2.0, np.nan, 5.0, 1.0],
    })
    targets = pd.DataFrame({"user_id": ["u1", "u3"], "item_id": ["d", "a"], "event": ["rating", "rating"],
                            "timestamp": [7 * hour, 0], "rating": [3.0, np.nan]})
    ex = build_examples(targets, history, _vocab(), max_history=2)
    # u1: the newest two events before 7 h are b (6 h before) and c (a view, 4 h before); u3 has none
    np.testing.assert_array_equal(ex["history_items"], [[2, 3], [0, 0]])
    rating_event, view_event = EVENT_VOCABULARY.index("rating") + 1, EVENT_VOCABULARY.index("view") + 1
    np.testing.assert_array_equal(ex["history_events"], [[rating_event, view_event], [0, 0]])
    # recency = 1 + floor(log2(hours + 1)): 6 h -> 3, 4 h -> 3
    np.testing.assert_array_equal(ex["history_recency"], [[3, 3], [0, 0]])
    np.testing.assert_array_equal(ex["rating"], [3.0, 0.0])
    np.testing.assert_array_equal(ex["has_rating"], [1.0, 0.0])
    np.testing.assert_array_equal(ex["target_item"], [4, 1])


def test_short_history_is_left_padded():
    history = pd.DataFrame({"user_id": ["u1"], "item_id": ["a"], "event": ["purchase"], "timestamp": [0]})
    targets = pd.DataFrame({"user_id": ["u1"], "item_id": ["b"], "event": ["purchase"], "timestamp": [5]})
    ex = build_examples(targets, history, _vocab(), max_history=3)
    np.testing.assert_array_equal(ex["history_items"], [[0, 0, 1]])
    np.testing.assert_array_equal(ex["has_rating"], [0.0])  # no rating column: no rating rows


def test_user_bins_match_the_export_graph_hashing():
    targets = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["a", "b"], "event": ["view", "view"],
                            "timestamp": [0, 0]})
    ex = build_examples(targets, targets.iloc[:0], _vocab(), max_history=2)
    np.testing.assert_array_equal(ex["user_bin"], tf.strings.to_hash_bucket_fast(["u1", "u2"], 64).numpy())
    np.testing.assert_array_equal(ex["history_items"], np.zeros((2, 2)))


def test_auto_user_bins_rule_and_cap():
    assert auto_user_bins(0) == 64 and auto_user_bins(31) == 64
    assert auto_user_bins(943) == 2048 and auto_user_bins(1000) == 2048 and auto_user_bins(1024) == 4096
    assert auto_user_bins(65_535) == 2**17
    assert auto_user_bins(65_536) == auto_user_bins(10_000_000) == MAX_AUTO_USER_BINS == 2**18
    events = pd.DataFrame({"user_id": [f"u{i}" for i in range(100)], "item_id": "a"})
    items = pd.DataFrame({"item_id": ["a"], "category": ["x"], "brand": ["y"]})
    assert Vocabularies.from_dataset(items, events).user_bins == 256
    assert Vocabularies.from_dataset(items, events, user_bins=32768).user_bins == 32768


def test_basket_lines_see_the_lines_before_them():
    # one basket (same timestamp) a, b, c after an earlier a; then a later test event d
    events = pd.DataFrame({"user_id": ["u1"] * 4 + ["u2"], "item_id": ["a", "b", "c", "a", "b"],
                           "event": ["purchase"] * 5, "timestamp": [5, 5, 5, 0, 5]})
    ex = build_examples(events, events, _vocab(), max_history=3)
    # training rows (same frame): history = the user's rows before it in (timestamp, row order)
    np.testing.assert_array_equal(ex["history_items"], [[0, 0, 1], [0, 1, 1], [1, 1, 2], [0, 0, 0], [0, 0, 0]])
    test = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["d", "a"], "event": ["purchase"] * 2,
                         "timestamp": [5, 4]})
    ex = build_examples(test, events, _vocab(), max_history=3)
    # another frame: every history row at or before the target's time; u2's row at 5 is later
    np.testing.assert_array_equal(ex["history_items"], [[1, 2, 3], [0, 0, 0]])
    np.testing.assert_array_equal(ex["history_recency"][0], [1, 1, 1])


def test_vectorised_histories_match_a_per_row_reference():
    rng = np.random.default_rng(0)
    n = 400
    events = pd.DataFrame({"user_id": rng.choice(["u1", "u2", "u3", "u4"], n),
                           "item_id": rng.choice(["a", "b", "c", "d"], n), "event": "view",
                           "timestamp": rng.integers(0, 50, n)})
    ex = build_examples(events, events, _vocab(), max_history=5)
    index = {"a": 1, "b": 2, "c": 3, "d": 4}
    for row in range(n):
        user, time = events.user_id[row], events.timestamp[row]
        before = [i for i in range(n) if events.user_id[i] == user
                  and (events.timestamp[i], i) < (time, row)]
        before.sort(key=lambda i: (events.timestamp[i], i))
        expect = [index[events.item_id[i]] for i in before[-5:]]
        np.testing.assert_array_equal(ex["history_items"][row], [0] * (5 - len(expect)) + expect)


def test_query_index_looks_up_each_query_and_gives_0_to_unknown_empty_and_missing_ones():
    targets = pd.DataFrame({"user_id": ["u"] * 5, "item_id": ["a"] * 5, "event": ["search_click"] * 5,
                            "timestamp": [0] * 5, "query": ["hats", "", "socks", "hats", None]})
    ex = build_examples(targets, targets.iloc[:0], _vocab(), max_history=2, query_index={"shoes": 1, "hats": 2})
    np.testing.assert_array_equal(ex["query_index"], [2, 0, 0, 2, 0])
    assert ex["query_index"].dtype == np.int32
    np.testing.assert_array_equal(ex["has_query"][:4], [1, 0, 1, 1])
