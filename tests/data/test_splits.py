import numpy as np
import pytest

from recsys_tf.data.splits import split_events


def test_temporal_last(small_dataset):
    ev = split_events(small_dataset.events, "temporal-last")
    for _, group in ev.groupby("user_id"):
        if len(group) >= 3:
            ordered = group.sort_values("timestamp", kind="stable")
            assert ordered["split"].iloc[-1] == "test" and ordered["split"].iloc[-2] == "validation"
            assert (ordered["split"].iloc[:-2] == "train").all()
        else:
            assert (group["split"] == "train").all()


def test_random_is_the_tfrs_protocol(small_dataset):
    ev = split_events(small_dataset.events, "random", test_fraction=0.2, seed=42)
    perm = np.random.default_rng(42).permutation(len(ev))
    n_train = int(round(0.8 * len(ev)))
    assert (ev["split"].to_numpy()[perm[:n_train]] == "train").all()
    assert (ev["split"].to_numpy()[perm[n_train:]] == "test").all()
    assert split_events(small_dataset.events, "random", seed=42)["split"].equals(ev["split"])


def test_temporal_global_orders_in_time(small_dataset):
    ev = split_events(small_dataset.events, "temporal-global", test_fraction=0.1, validation_fraction=0.1)
    t = ev.groupby("split")["timestamp"]
    assert t.max()["train"] <= t.min()["validation"] and t.max()["validation"] <= t.min()["test"]


def test_cold_start_items_are_unseen_in_train(small_dataset):
    ev = split_events(small_dataset.events, "cold-start-items", test_fraction=0.1)
    train_items = set(ev.loc[ev.split == "train", "item_id"])
    assert train_items.isdisjoint(set(ev.loc[ev.split == "test", "item_id"]))


def test_bad_fraction_message():
    with pytest.raises(ValueError, match="test_fraction.*Received"):
        split_events(None, "random", test_fraction=1.5)
