import numpy as np
import pandas as pd
import pytest

from recsys_tf.data.schema import DatasetError
from recsys_tf.data.validation import validate_events, validate_items, validate_judgments


def _items():
    return pd.DataFrame({
        "item_id": ["a", "b", "b", "", "c", "d", "e", "f"],
        "title": ["A", "B", "B2", "x", "  ", "D", "E\ufffd", "F"],
        "price": [1.0, None, 2.0, 1.0, 1.0, "abc", 1.0, -3],
    })


def test_items_each_bad_row_has_its_reason():
    clean, rejects = validate_items(_items(), "items.csv")
    assert list(clean["item_id"]) == ["a", "b"]
    assert len(clean) + len(rejects) == len(_items())
    assert sorted(rejects["reason"]) == sorted([
        "duplicate item_id", "missing item_id", "empty title", "price is not a number",
        "undecodable bytes", "price is negative or infinite"])
    assert (rejects["file"] == "items.csv").all()


def test_missing_required_column_names_file_column_and_fix():
    with pytest.raises(DatasetError, match=r"items.csv: required column\(s\) \['title'\].*Fix"):
        validate_items(pd.DataFrame({"item_id": ["a"]}), "items.csv")


T = 1_700_000_000


def test_events_reasons():
    raw = pd.DataFrame({
        "user_id": ["u", "u", "", "u", "u", "u", "u", "u"],
        "item_id": ["a", "zz", "a", "a", "a", "a", "a", "a"],
        "event": ["view", "view", "view", "jump", "rating", "rating", "view", "view"],
        "timestamp": [T + 1, T + 2, T + 3, T + 4, T + 5, T + 6, "x", -5],
        "rating": [np.nan, np.nan, np.nan, np.nan, 9, np.nan, np.nan, np.nan],
    })
    clean, rejects = validate_events(raw, ["a"], rating_range=(1, 5))
    assert len(clean) == 1 and len(rejects) == 7
    reasons = set(rejects["reason"])
    assert "unknown item_id (not in items)" in reasons and "missing user_id" in reasons
    assert "rating out of range [1, 5]" in reasons and "rating event without a numeric rating" in reasons
    assert "bad timestamp (negative)" in reasons and "bad timestamp (not an integer)" in reasons


def test_judgments():
    raw = pd.DataFrame({"query": ["q", "", "q"], "item_id": ["a", "a", "zz"], "relevance": [3, 1, 2]})
    clean, rejects = validate_judgments(raw, ["a"])
    assert len(clean) == 1 and set(rejects["reason"]) == {"empty query", "unknown item_id (not in items)"}


def test_timestamps_outside_the_plausible_range_are_rejected_with_a_configurable_bound():
    raw = pd.DataFrame({"user_id": ["u"] * 4, "item_id": ["a"] * 4, "event": ["view"] * 4,
                        "timestamp": [50_000, 631_152_000, 4_102_444_799, 4_102_444_800]})
    clean, rejects = validate_events(raw, ["a"])
    assert clean["timestamp"].tolist() == [631_152_000, 4_102_444_799]
    assert rejects["reason"].tolist() == ["bad timestamp (before 1990-01-01; widen with --timestamp-range)",
                                          "bad timestamp (from 2100-01-01 on; milliseconds instead of seconds?)"]
    clean, rejects = validate_events(raw, ["a"], timestamp_range=(0, 4_102_444_800))
    assert len(clean) == 3 and len(rejects) == 1


def test_nul_characters_are_rejected_and_integral_floats_stay_integers_as_text():
    items, item_rejects = validate_items(pd.DataFrame({"item_id": [1.0, 2.0, 3.0], "title": [456.0, "Red\x00shoe", 7.5]}))
    assert items["item_id"].tolist() == ["1", "3"] and items["title"].tolist() == ["456", "7.5"]
    assert item_rejects["reason"].tolist() == ["NUL character in a text field"]
    events, event_rejects = validate_events(pd.DataFrame({
        "user_id": ["u\x001", "u2", 10.0], "item_id": ["1", "3", 1.0], "event": ["view"] * 3,
        "timestamp": [T, T, T], "query": ["", "mug\x00", ""]}), ["1", "3"])
    assert events["user_id"].tolist() == ["10"] and events["item_id"].tolist() == ["1"]
    assert event_rejects["reason"].tolist() == ["NUL character in a text field"] * 2
