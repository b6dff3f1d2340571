"""Helpers every loader shares: tolerant line readers that report bad lines, and `assemble`, which
validates the canonical tables and builds the `Dataset` (rejects included, nothing dropped silently)."""
from __future__ import annotations

import array
import csv
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.constants import TIMESTAMP_RANGE
from recsys_tf.data.hashing import HASH_SCHEME, hash_user_ids
from recsys_tf.data.schema import REJECT_COLUMNS, Dataset, DatasetError
from recsys_tf.data.validation import (
    MAX_RECORD_CHARS,
    concat_rejects,
    validate_events,
    validate_items,
    validate_judgments,
    validate_users,
)

PROGRESS_MIN_BYTES = 20_000_000  # show a progress bar for input files larger than this


def _progress(iterable, path: Path, total: int | None = None):
    """Lines of a large file with a progress bar on a terminal (tqdm hides itself otherwise)."""
    if path.stat().st_size < PROGRESS_MIN_BYTES:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=f"reading {path.name}", unit="line", disable=None, mininterval=1.0)


def _reject(file_name: str, row, reason: str, record) -> dict:
    text = record if isinstance(record, str) else repr(record)
    return {"file": file_name, "row": str(row), "reason": reason, "record": text[:MAX_RECORD_CHARS]}


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DatasetError(f"{what}: file {str(path)!r} not found. Fix: pass --path pointing at the "
                           "directory (or file) that holds it.")
    return path


def refuse_duplicate_columns(names, file_name: str, fix: str) -> None:
    """Two columns of one name make every later column lookup ambiguous: refused, naming them."""
    seen, twice = set(), []
    for name in map(str, names):
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    if twice:
        raise DatasetError(f"{file_name}: column name(s) {twice} occur more than once; columns: "
                           f"{list(map(str, names))}. Fix: {fix}.")


def read_delimited(path: Path, *, sep: str, encoding: str = "utf-8", names=None,
                   header: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a delimited text file line by line; lines that do not decode or have the wrong number of
    fields become rejects. Returns (frame of strings with a `_row` column = 1-based line, rejects)."""
    data = path.read_bytes()
    if not data.strip():
        raise DatasetError(f"{path}: the file is empty. Fix: check the path or the export that made it.")
    rejects = []
    lines = data.splitlines(keepends=True)  # CSV records may span lines: the csv module needs the ends
    start = 0
    if header:
        try:
            first = lines[0].decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError as err:
            raise DatasetError(f"{path}: header line is not {encoding} ({err}). Fix: re-save as "
                               f"{encoding} or pass the right encoding.") from err
        names = next(csv.reader([first], delimiter=sep))
        names = [n.strip() for n in names]
        start = 1
    if names is None:
        raise DatasetError(f"{path}: no column names. Fix: the file needs a header line.")
    refuse_duplicate_columns(names, path.name, "rename one of them in the header")
    parse = _csv_records if sep not in ("|", "\t") else _split_records
    # one list per column, not one per row: a row list costs ~90 bytes more than its fields
    columns, numbers = [[] for _ in names], array.array("q")
    for number, fields, line, reason in parse(lines, start, sep, encoding, path):
        if reason is None and len(fields) != len(names):
            reason = f"wrong number of fields ({len(fields)}, expected {len(names)})"
        if reason is not None:
            rejects.append(_reject(path.name, number, reason, line))
            continue
        for column, value in zip(columns, fields):
            column.append(value)
        numbers.append(number)
    del lines, data
    frame = pd.DataFrame({i: pd.Series(c, dtype=object) for i, c in enumerate(columns)})
    frame.columns = names
    frame["_row"] = np.frombuffer(numbers, dtype=np.int64) if len(numbers) else np.zeros(0, np.int64)
    return frame, pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def _split_records(lines: list[bytes], start: int, sep: str, encoding: str, path: Path):
    """(line number, fields, line, reject reason or None) of an unquoted format: one record per line."""
    for number, raw in _progress(enumerate(lines[start:], start=start + 1), path, total=len(lines) - start):
        if not raw.strip():
            continue  # blank line: not a row
        raw = raw.rstrip(b"\r\n")
        try:
            line = raw.decode(encoding)
        except UnicodeDecodeError:
            yield number, None, repr(raw), f"undecodable bytes (not {encoding})"
            continue
        yield number, line.split(sep), line, None


def _csv_records(lines: list[bytes], start: int, sep: str, encoding: str, path: Path):
    """(first line number, fields, text, reject reason or None) of RFC 4180 CSV records, parsed by the
    `csv` module across lines, so a quoted field may hold the separator, quotes ("") and newlines.
    Lines are decoded with `surrogateescape`: a record holding bytes that are not `encoding` is
    rejected whole, naming its first line."""
    decoded = (raw.decode(encoding, errors="surrogateescape")
               for raw in _progress(lines[start:], path, total=len(lines) - start))
    reader = csv.reader(decoded, delimiter=sep)
    consumed = start
    while True:
        first = consumed + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            consumed = start + reader.line_num
            yield first, None, f"lines {first}-{consumed}", f"unparseable line ({err})"
            continue
        consumed = start + reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line: not a row
        text = sep.join(fields)
        if any(_SURROGATE.search(f) for f in fields):
            yield first, None, repr(text.encode(encoding, errors="surrogateescape")), \
                f"undecodable bytes (not {encoding})"
            continue
        yield first, fields, text, None


_SURROGATE = re.compile("[\udc80-\udcff]")


def read_jsonl(path: Path) -> tuple[list[tuple[int, dict]], pd.DataFrame]:
    """Read JSON Lines; undecodable or invalid lines (or non-objects) become rejects."""
    records, rejects = [], []
    with path.open("rb") as handle:
        for number, raw in _progress(enumerate(handle, start=1), path):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                rejects.append(_reject(path.name, number, "undecodable bytes (not utf-8)", repr(raw)))
                continue
            except json.JSONDecodeError as err:
                rejects.append(_reject(path.name, number, f"invalid JSON ({err.msg})", raw.decode("utf-8")))
                continue
            if not isinstance(value, dict):
                rejects.append(_reject(path.name, number, "JSON line is not an object", raw.decode("utf-8")))
                continue
            records.append((number, value))
    return records, pd.DataFrame(rejects, columns=REJECT_COLUMNS)


def assemble(*, source: str, items_raw: pd.DataFrame, events_raw: pd.DataFrame,
             users_raw: pd.DataFrame | None = None, judgments_raw: pd.DataFrame | None = None,
             files: dict[str, str], pre_rejects=(), rating_range=(0.0, 5.0), context_columns=(),
             salt: bytes | None = None, extra_info: dict | None = None,
             timestamp_range=TIMESTAMP_RANGE) -> Dataset:
    """Validate raw canonical-named tables and build the Dataset. `files` maps table -> file name;
    events outside `timestamp_range` (seconds since 1970 UTC, end excluded) are rejected."""
    items, item_rejects = validate_items(items_raw, files.get("items", "items"))
    events, event_rejects = validate_events(events_raw, items["item_id"], files.get("events", "events"),
                                            rating_range=rating_range, context_columns=context_columns,
                                            timestamp_range=timestamp_range)
    users = user_rejects = judgments = judgment_rejects = None
    if users_raw is not None:
        users, user_rejects = validate_users(users_raw, files.get("users", "users"))
    if judgments_raw is not None:
        judgments, judgment_rejects = validate_judgments(judgments_raw, items["item_id"],
                                                         files.get("judgments", "judgments"))
    if salt is not None:
        events["user_id"] = hash_user_ids(events["user_id"], salt)
        if users is not None:
            users["user_id"] = hash_user_ids(users["user_id"], salt)
    rejects = concat_rejects(*pre_rejects, item_rejects, event_rejects, user_rejects, judgment_rejects)
    if salt is not None and len(rejects):
        # a rejected row may carry the plain user id; never write it next to hashed ids
        rejects["record"] = "(withheld: user ids are hashed)"
    info = {"source": source, "files": files, "user_ids": HASH_SCHEME if salt is not None else "plain",
            "context_columns": [c for c in context_columns if c in events.columns]}
    info.update(extra_info or {})
    return Dataset(items=items, events=events, users=users, judgments=judgments, info=info,
                   rejects=rejects)
