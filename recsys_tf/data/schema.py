"""The canonical dataset directory: the single source of truth for file names, columns and dtypes.

Every loader writes this layout and every later stage reads it (see docs/data.md)::

    DIR/items.parquet      item_id, title, description, category, brand, price
    DIR/events.parquet     user_id, item_id, event, timestamp, rating, query [, context...] [, split]
    DIR/users.parquet      user_id + attributes                          (optional)
    DIR/judgments.parquet  query, item_id, relevance                     (optional)
    DIR/dataset.json       schema version, source, counts, id hashing, rejects by reason
    DIR/rejects.csv        every input row not taken, with the reason
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from recsys_tf.atomic import atomic_write
from recsys_tf.constants import EVENT_TYPES, SPLITS  # noqa: F401 (part of the schema API)
from recsys_tf.errors import InputError

SCHEMA_VERSION = 1

ITEMS_FILE = "items.parquet"
EVENTS_FILE = "events.parquet"
USERS_FILE = "users.parquet"
JUDGMENTS_FILE = "judgments.parquet"
INFO_FILE = "dataset.json"
REJECTS_FILE = "rejects.csv"

# column -> pandas dtype. "string" columns never hold NaN after validation (empty string instead),
# except where a column is documented as nullable.
ITEM_COLUMNS = {
    "item_id": "string",
    "title": "string",
    "description": "string",
    "category": "string",
    "brand": "string",
    "price": "float64",  # nullable
}
EVENT_COLUMNS = {
    "user_id": "string",
    "item_id": "string",
    "event": "string",
    "timestamp": "int64",
    "rating": "float64",  # null unless event == "rating"
    "query": "string",  # "" unless event == "search_click"
}
USER_REQUIRED_COLUMNS = {"user_id": "string"}
JUDGMENT_COLUMNS = {"query": "string", "item_id": "string", "relevance": "float64"}

# Relative strength of each event as a positive signal; used by training to weight examples.
EVENT_STRENGTH = {"view": 0.25, "click": 0.5, "cart": 0.75, "purchase": 1.0, "rating": 1.0,
                  "search_click": 1.0}
CATEGORY_SEPARATOR = " > "

REJECT_COLUMNS = ["file", "row", "reason", "record"]


class DatasetError(InputError):
    """A dataset (or one of its files) cannot be used at all. The message names file, column and fix."""


@dataclass
class Dataset:
    """The in-memory form of a canonical dataset directory."""

    items: pd.DataFrame
    events: pd.DataFrame | None  # None: not read (`read_dataset(..., events=False)`)
    users: pd.DataFrame | None = None
    judgments: pd.DataFrame | None = None
    info: dict = field(default_factory=dict)
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))

    def split(self, name: str) -> pd.DataFrame:
        """Events of one split ("train", "validation" or "test")."""
        if "split" not in self.events.columns:
            raise DatasetError(
                f"events have no `split` column (asked for split={name!r}). "
                "Fix: run `recsys-tf data split DIR --out SPLIT_DIR` and use SPLIT_DIR."
            )
        return self.events[self.events["split"] == name]


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in REJECT_COLUMNS})


def coerce_columns(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Cast the canonical columns of an already-validated frame to their canonical dtypes."""
    frame = frame.copy()
    for name, dtype in columns.items():
        if dtype == "string":
            frame[name] = frame[name].fillna("").astype(str).astype("string")
        else:
            frame[name] = frame[name].astype(dtype)
    return frame


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as a spreadsheet formula: a cell starting with one of
    `FORMULA_PREFIXES` gets a leading apostrophe, as OWASP's "CSV injection" guidance recommends.
    Rejected rows carry untrusted input and rejects files are opened in spreadsheets."""
    def cell(value):
        return "'" + value if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) else value
    return frame.map(cell) if len(frame) else frame.copy()


def write_rejects(rejects: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a rejects table as CSV, atomically and spreadsheet-safe (`spreadsheet_safe`)."""
    safe = spreadsheet_safe(rejects)
    atomic_write(path, lambda p: safe.to_csv(p, index=False))


def write_dataset(dataset: Dataset, out_dir: str | os.PathLike) -> Path:
    """Write a dataset directory. Each file is written to a temp name and renamed (no partial files)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    events = coerce_columns(dataset.events, EVENT_COLUMNS)
    atomic_write(out / EVENTS_FILE, lambda p: events.to_parquet(p, index=False))
    return write_dataset_tables(dataset, out, event_counts(events))


def event_counts(events: pd.DataFrame) -> dict:
    """The `counts` entries of `dataset.json` an events table contributes (they add up over blocks
    of whole users: see `add_event_counts`)."""
    counts = {"events": int(len(events)), "users": int(events["user_id"].nunique())}
    if "split" in events.columns:
        counts["events_by_split"] = {s: int(n) for s, n in events["split"].value_counts().items()}
    return counts


def add_event_counts(total: dict, block: dict) -> dict:
    """`event_counts` of two disjoint sets of users' events, combined."""
    out = {"events": total.get("events", 0) + block["events"], "users": total.get("users", 0) + block["users"]}
    if "events_by_split" in block:
        by_split = dict(total.get("events_by_split", {}))
        for name, n in block["events_by_split"].items():
            by_split[name] = by_split.get(name, 0) + n
        out["events_by_split"] = by_split
    return out


def write_dataset_tables(dataset: Dataset, out: Path, counts: dict) -> Path:
    """Write every file of a dataset directory but the events (already in `out`, described by
    `counts` = `event_counts`): items, users, judgments, rejects and `dataset.json`, the last."""
    items = coerce_columns(dataset.items, ITEM_COLUMNS)
    atomic_write(out / ITEMS_FILE, lambda p: items.to_parquet(p, index=False))
    for frame, name in ((dataset.users, USERS_FILE), (dataset.judgments, JUDGMENTS_FILE)):
        if frame is not None:
            atomic_write(out / name, lambda p, f=frame: f.to_parquet(p, index=False))
        elif (out / name).exists():
            (out / name).unlink()
    rejects = dataset.rejects if dataset.rejects is not None else empty_rejects()
    write_rejects(rejects, out / REJECTS_FILE)
    info = dict(dataset.info)
    info["schema_version"] = SCHEMA_VERSION
    info["counts"] = {"items": int(len(items)), "events": counts["events"], "users": counts["users"],
                      "judgments": int(len(dataset.judgments)) if dataset.judgments is not None else 0,
                      "rejects": int(len(rejects))}
    if "events_by_split" in counts:
        info["counts"]["events_by_split"] = counts["events_by_split"]
    info["rejects_by_reason"] = {str(k): int(v) for k, v in
                                 rejects["reason"].value_counts().items()} if len(rejects) else {}
    atomic_write(out / INFO_FILE, lambda p: p.write_text(json.dumps(info, indent=2, sort_keys=True)))
    return out


def content_fingerprint(dataset: Dataset) -> str:
    """SHA-256 (first 32 hex digits) of the items' and events' content, row order and split included:
    what a run directory records to refuse resuming on other data."""
    digest = hashlib.sha256()
    for frame in (dataset.items, dataset.events):
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return digest.hexdigest()[:32]


def _checked(frame: pd.DataFrame, columns, path: Path) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path} lacks column(s) {missing}. "
                           "Fix: regenerate it with `recsys-tf data load` / `data synth`.")
    return frame


def read_items(data_dir: str | os.PathLike) -> pd.DataFrame:
    """The catalog table of a dataset directory alone (out-of-core paths read events in pieces)."""
    path = Path(data_dir) / ITEMS_FILE
    if not path.exists():
        raise DatasetError(f"{path} is missing: {data_dir} is not a recsys_tf dataset "
                           "directory. Fix: point at a directory written by `recsys-tf data ...`.")
    return _checked(pd.read_parquet(path), ITEM_COLUMNS, path)


def read_judgments(data_dir: str | os.PathLike) -> pd.DataFrame | None:
    """The judged search queries of a dataset directory, None when it has none."""
    path = Path(data_dir) / JUDGMENTS_FILE
    return pd.read_parquet(path) if path.exists() else None


def read_dataset(data_dir: str | os.PathLike, events: bool = True) -> Dataset:
    """Read a canonical dataset directory written by `write_dataset` (any loader or `data synth`).
    `events=False`: everything but the events (`Dataset.events` is None), for those who read the
    events file in batches (evaluate) or not at all (export)."""
    path = Path(data_dir)
    if not path.is_dir():
        raise DatasetError(f"dataset directory {str(path)!r} does not exist. "
                           "Fix: create one with `recsys-tf data synth --out DIR` or `data load`.")
    for required in (ITEMS_FILE, EVENTS_FILE):
        if not (path / required).exists():
            raise DatasetError(f"{path / required} is missing: {path} is not a recsys_tf dataset "
                               "directory. Fix: point at a directory written by `recsys-tf data ...`.")
    items = read_items(path)
    events = _checked(pd.read_parquet(path / EVENTS_FILE), EVENT_COLUMNS, path / EVENTS_FILE) if events else None
    users = pd.read_parquet(path / USERS_FILE) if (path / USERS_FILE).exists() else None
    judgments = read_judgments(path)
    info = json.loads((path / INFO_FILE).read_text()) if (path / INFO_FILE).exists() else {}
    rejects = (pd.read_csv(path / REJECTS_FILE, dtype=str, keep_default_na=False)
               if (path / REJECTS_FILE).exists() else empty_rejects())
    return Dataset(items=items, events=events, users=users, judgments=judgments, info=info,
                   rejects=rejects)
