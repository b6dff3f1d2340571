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


def test_events_reasons():
    raw = pd.DataFrame({
        "user_id": ["u", "u", "", "u", "u", "u", "u", "u"],
        "item_id": ["a", "zz", "a", "a", "a", "a", "a", "a"],
        "event": ["view", "view", "view", "jump", "rating", "rating", "view", "view"],
        "timestamp": [1, 2, 3, 4, 5, 6, "x", -5],
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
