"""Row-level validation shared by every loader: bad rows go to rejects with a reason, never vanish.

Each `validate_*` takes a raw frame (any dtypes, possibly garbage) whose columns already carry the
canonical names, and returns ``(clean_frame, rejects_frame)``. A frame that cannot be used at all
(a required column is missing) raises `DatasetError` naming the file, the column and the fix.
Every input row ends up in exactly one of the two outputs: ``len(clean) + len(rejects) == len(raw)``.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from recsys_tf.constants import TIMESTAMP_RANGE
from recsys_tf.data.schema import (
    EVENT_COLUMNS,
    EVENT_TYPES,
    ITEM_COLUMNS,
    JUDGMENT_COLUMNS,
    REJECT_COLUMNS,
    DatasetError,
    coerce_columns,
    empty_rejects,
)

MAX_RECORD_CHARS = 500  # rejects.csv keeps a truncated copy of each bad row for inspection
REPLACEMENT_CHAR = "\ufffd"  # what a lenient decoder leaves where bytes were undecodable


def require_columns(frame: pd.DataFrame, required, file_name: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{file_name}: required column(s) {missing} not found; columns present: "
            f"{list(map(str, frame.columns))}. Fix: rename the column(s) in the file or pass a "
            "column mapping (e.g. `--columns item_id=sku,title=name`)."
        )


def _record(row: pd.Series) -> str:
    text = json.dumps({str(k): (None if _is_missing(v) else str(v)) for k, v in row.items()
                       if k != "_row"}, ensure_ascii=False)
    return text[:MAX_RECORD_CHARS]


def _is_missing(value) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _as_text(value) -> str:
    """A cell as text: missing is ""; a float with an integral value loses its ".0" (a Parquet or
    pandas column of ids or titles with a missing value is float: 456.0 was written as 456)."""
    if _is_missing(value):
        return ""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def given(series: pd.Series) -> pd.Series:
    """True where a cell holds a value (not missing, not blank)."""
    return _text(series).str.strip() != ""


def _text(series: pd.Series) -> pd.Series:
    """Strings with missing values as "" (pandas NA/None/NaN all count as missing). Built from a list
    rather than `Series.map`, which re-infers a string dtype and, cast back to object, copies every
    string (60 MB per million ids)."""
    return pd.Series([_as_text(v) for v in series.to_numpy(dtype=object)], index=series.index, dtype=object)


def _date(seconds: int) -> str:
    return pd.Timestamp(seconds, unit="s").strftime("%Y-%m-%d")


def _lowered(series: pd.Series) -> pd.Series:
    """`_text`, stripped and lower-cased, computed once per distinct value (event types: a handful)."""
    codes, distinct = pd.factorize(_text(series))
    cleaned = np.array([v.strip().lower() for v in distinct] + [""], dtype=object)
    return pd.Series(cleaned[codes], index=series.index, dtype=object)


def _numeric(series: pd.Series) -> pd.Series:
    values = series.to_numpy(dtype=object)
    return pd.to_numeric(pd.Series([None if _is_missing(v) else v for v in values], index=series.index,
                                   dtype=object), errors="coerce")


def _epoch_seconds(series: pd.Series) -> pd.Series:
    """Timestamps as seconds since 1970-01-01 UTC: numbers as they are; datetime columns of any unit
    (Parquet / Arrow timestamps) converted, time-zone-naive ones read as UTC, fractions of a second
    dropped, missing ones NaN."""
    datetimes = pd.api.types.is_datetime64_any_dtype(series) or \
        pd.api.types.infer_dtype(series, skipna=True) in ("datetime", "datetime64")  # Timestamps in an object column
    if not datetimes:
        return _numeric(series)
    values = pd.to_datetime(series, utc=True).dt.tz_localize(None)
    return np.floor((values - pd.Timestamp(0)).dt.total_seconds())


class _Collector:
    """Assigns each row at most one reason (the first that applies) and builds the rejects frame."""

    def __init__(self, frame: pd.DataFrame, file_name: str):
        self.frame = frame
        self.file_name = file_name
        self.reason = pd.Series([None] * len(frame), index=frame.index, dtype=object)

    def flag(self, mask, reason: str) -> None:
        mask = pd.Series(mask, index=self.frame.index).fillna(True).astype(bool)
        self.reason[mask & self.reason.isna()] = reason

    @property
    def ok(self) -> pd.Series:
        return self.reason.isna()

    def rejects(self) -> pd.DataFrame:
        bad = self.frame[~self.ok]
        if bad.empty:
            return empty_rejects()
        rows = bad["_row"] if "_row" in bad.columns else bad.index.to_series()
        return pd.DataFrame({
            "file": self.file_name,
            "row": rows.astype(str).values,
            "reason": self.reason[~self.ok].values,
            "record": [_record(r) for _, r in bad.iterrows()],
        })[REJECT_COLUMNS]


def _cells(frame: pd.DataFrame, columns, test) -> pd.Series:
    mask = pd.Series(False, index=frame.index)
    for c in columns:
        if c in frame.columns:
            mask |= np.fromiter(map(test, frame[c].to_numpy(dtype=object)), bool, len(frame))
    return mask


def _flag_bad_text(check: _Collector, columns) -> None:
    """Undecodable bytes, NUL characters (which C-string consumers such as shells, many databases
    and CSV tools truncate at or refuse) and list-valued cells (a Parquet list column) in the text
    columns are rejected."""
    check.flag(_cells(check.frame, columns, lambda v: isinstance(v, bytes)
                      or (isinstance(v, str) and REPLACEMENT_CHAR in v)), "undecodable bytes")
    check.flag(_cells(check.frame, columns, lambda v: isinstance(v, str) and "\x00" in v),
               "NUL character in a text field")
    check.flag(_cells(check.frame, columns, lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray))),
               "a list or nested value in a text field (one string expected)")


def validate_items(raw: pd.DataFrame, file_name: str = "items") -> tuple[pd.DataFrame, pd.DataFrame]:
    require_columns(raw, ["item_id", "title"], file_name)
    frame = raw.copy()
    for optional in ("description", "category", "brand"):
        if optional not in frame.columns:
            frame[optional] = ""
    if "price" not in frame.columns:
        frame["price"] = np.nan
    check = _Collector(frame, file_name)
    _flag_bad_text(check, ["item_id", "title", "description", "category", "brand"])
    ids = _text(frame["item_id"]).str.strip()
    check.flag(ids == "", "missing item_id")
    check.flag(_text(frame["title"]).str.strip() == "", "empty title")
    price = _numeric(frame["price"])
    check.flag(given(frame["price"]) & price.isna(), "price is not a number")
    check.flag(price.notna() & ((price < 0) | ~np.isfinite(price.fillna(0))), "price is negative or infinite")
    # Keep the first occurrence of an id among otherwise-valid rows; later ones are rejected.
    check.flag(check.ok & ids.where(check.ok).duplicated(keep="first") & check.ok, "duplicate item_id")
    clean = frame[check.ok].copy()
    clean["item_id"] = ids[check.ok]
    for c in ("title", "description", "category", "brand"):
        clean[c] = _text(clean[c]).str.strip()
    clean["price"] = price[check.ok]
    clean = coerce_columns(clean[list(ITEM_COLUMNS)], ITEM_COLUMNS).reset_index(drop=True)
    return clean, check.rejects()


def validate_events(raw: pd.DataFrame, known_item_ids, file_name: str = "events",
                    rating_range: tuple[float, float] = (0.0, 5.0),
                    context_columns=(), timestamp_range: tuple[int, int] = TIMESTAMP_RANGE,
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate events; `known_item_ids` are the ids of the already-validated items; timestamps
    outside ``[timestamp_range[0], timestamp_range[1])`` (seconds since 1970 UTC) are rejected."""
    require_columns(raw, ["user_id", "item_id", "event", "timestamp"], file_name)
    frame = raw.copy()
    if "rating" not in frame.columns:
        frame["rating"] = np.nan
    if "query" not in frame.columns:
        frame["query"] = ""
    check = _Collector(frame, file_name)
    _flag_bad_text(check, ["user_id", "item_id", "query", *context_columns])
    users = _text(frame["user_id"]).str.strip()
    items = _text(frame["item_id"]).str.strip()
    event = _lowered(frame["event"])
    check.flag(users == "", "missing user_id")
    check.flag(items == "", "missing item_id")
    check.flag(~event.isin(EVENT_TYPES), f"unknown event type (expected one of {', '.join(EVENT_TYPES)})")
    ts = _epoch_seconds(frame["timestamp"])
    check.flag(ts.isna() | ~np.isfinite(ts.fillna(0)) | (ts.fillna(0) % 1 != 0), "bad timestamp (not an integer)")
    check.flag(ts < 0, "bad timestamp (negative)")
    earliest, latest = timestamp_range
    check.flag(ts < earliest, f"bad timestamp (before {_date(earliest)}; widen with --timestamp-range)")
    check.flag(ts >= latest, f"bad timestamp (from {_date(latest)} on; milliseconds instead of seconds?)")
    rating = _numeric(frame["rating"])
    low, high = rating_range
    rating_given = given(frame["rating"])
    check.flag((event == "rating") & rating.isna(), "rating event without a numeric rating")
    check.flag(rating_given & rating.isna() & (event != "rating"), "rating is not a number")
    check.flag(rating_given & (event != "rating") & event.isin(EVENT_TYPES),
               "a rating on a non-rating event (only 'rating' events carry one: set event=rating for a rating, "
               "or leave the rating empty)")
    check.flag(rating.notna() & ((rating < low) | (rating > high)), f"rating out of range [{low}, {high}]")
    check.flag(~items.isin(set(known_item_ids)), "unknown item_id (not in items)")
    clean = frame[check.ok].copy()
    clean["user_id"], clean["item_id"], clean["event"] = users[check.ok], items[check.ok], event[check.ok]
    clean["timestamp"] = ts[check.ok].astype("int64")
    clean["rating"] = rating[check.ok].where(event[check.ok] == "rating")
    clean["query"] = _text(clean["query"])
    extra = [c for c in context_columns if c in clean.columns]
    for c in extra:
        clean[c] = _text(clean[c]).astype("string")
    keep = list(EVENT_COLUMNS) + extra + (["split"] if "split" in clean.columns else [])
    clean = coerce_columns(clean[keep], EVENT_COLUMNS).reset_index(drop=True)
    return clean, check.rejects()


def validate_judgments(raw: pd.DataFrame, known_item_ids, file_name: str = "judgments"):
    require_columns(raw, ["query", "item_id", "relevance"], file_name)
    frame = raw.copy()
    check = _Collector(frame, file_name)
    _flag_bad_text(check, ["query", "item_id"])
    query = _text(frame["query"]).str.strip()
    items = _text(frame["item_id"]).str.strip()
    relevance = _numeric(frame["relevance"])
    check.flag(query == "", "empty query")
    check.flag(relevance.isna() | (relevance < 0), "relevance is not a non-negative number")
    check.flag(~items.isin(set(known_item_ids)), "unknown item_id (not in items)")
    clean = pd.DataFrame({"query": query[check.ok], "item_id": items[check.ok],
                          "relevance": relevance[check.ok]})
    if "language" in frame.columns:  # optional query language tag (evaluation reports per language)
        clean["language"] = _text(frame["language"]).str.strip().str.lower()[check.ok]
    return coerce_columns(clean, JUDGMENT_COLUMNS).reset_index(drop=True), check.rejects()


def validate_users(raw: pd.DataFrame, file_name: str = "users"):
    require_columns(raw, ["user_id"], file_name)
    frame = raw.copy()
    check = _Collector(frame, file_name)
    _flag_bad_text(check, ["user_id"])
    ids = _text(frame["user_id"]).str.strip()
    check.flag(ids == "", "missing user_id")
    check.flag(check.ok & ids.where(check.ok).duplicated(keep="first"), "duplicate user_id")
    clean = frame[check.ok].drop(columns=["_row"], errors="ignore").copy()
    clean["user_id"] = ids[check.ok].astype("string")
    return clean.reset_index(drop=True), check.rejects()


def concat_rejects(*frames: pd.DataFrame) -> pd.DataFrame:
    frames = [f for f in frames if f is not None and len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty_rejects()
