"""Generic CSV / Parquet tables with a column mapping.

`path` is a directory holding `items.{csv,parquet}` and `events.{csv,parquet}` (optional
`users.*`, `judgments.*`). `columns` maps canonical name -> your column name, e.g.
``{"item_id": "sku", "title": "name", "timestamp": "ts"}``; unmapped canonical names are looked up
as-is. Extra event columns named in `context_columns` (e.g. device) are kept."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.constants import TIMESTAMP_RANGE
from recsys_tf.data.loaders.common import assemble, read_delimited, refuse_duplicate_columns
from recsys_tf.data.schema import EVENT_COLUMNS, DatasetError
from recsys_tf.data.validation import given


def _read(root: Path, stem: str, required: bool):
    for suffix in (".parquet", ".csv", ".tsv"):
        file = root / f"{stem}{suffix}"
        if file.is_file():
            if suffix == ".parquet":
                frame = pd.read_parquet(file).astype(object)
                frame["_row"] = range(1, len(frame) + 1)
                return frame, None, file.name
            frame, rejects = read_delimited(file, sep="," if suffix == ".csv" else "\t")
            return frame, rejects, file.name
    if required:
        raise DatasetError(f"table: {stem}.parquet / {stem}.csv not found in {str(root)!r}. Fix: put the "
                           f"{stem} table there or pass --path pointing at the directory that holds it.")
    return None, None, None


def _refuse_missing_columns(root: Path, frames: dict, files: dict, headers: set, columns: dict,
                            context_columns) -> None:
    """A `--columns` mapping or a `--context-columns` name that no file has (`headers`: every file's
    own column names) is an error, not ignored."""
    for canonical, yours in columns.items():
        if yours not in headers:
            raise DatasetError(f"table: --columns {canonical}={yours}: no column {yours!r} in "
                               f"{', '.join(sorted(files.values()))} under {str(root)!r}. Fix: name a column the "
                               "file has (its header is case-sensitive), or drop the mapping.")
    canonical = [c for c in context_columns if c in EVENT_COLUMNS or c in ("split", "_row")]
    if canonical:
        raise DatasetError(f"table: --context-columns {','.join(canonical)}: a column the events have anyway "
                           f"({', '.join(EVENT_COLUMNS)}). Fix: name only extra event columns, e.g. device.")
    missing = [c for c in context_columns if c not in frames["events"].columns]
    if missing:
        raise DatasetError(f"table: --context-columns {','.join(missing)}: not a column of {files['events']} "
                           f"(it has {', '.join(c for c in frames['events'].columns if c != '_row')}). Fix: name "
                           "event columns the file has.")


def load_table(path: str | Path, columns: dict[str, str] | None = None, context_columns=(),
               salt: bytes | None = None, rating_range=(0.0, 5.0), timestamp_range=TIMESTAMP_RANGE):
    root = Path(path)
    inverse = {v: k for k, v in (columns or {}).items()}
    frames, files, pre, headers = {}, {}, [], set()
    for stem, required in (("items", True), ("events", True), ("users", False), ("judgments", False)):
        frame, rejects, name = _read(root, stem, required)
        if frame is not None:
            headers |= set(frame.columns)
            frames[stem] = frame.rename(columns={c: inverse[c] for c in frame.columns if c in inverse})
            refuse_duplicate_columns([c for c in frames[stem].columns if c != "_row"], f"{name} (after --columns)",
                                     "rename one of them in the file, or do not map a column with --columns "
                                     "onto a name the file already has")
            files[stem] = name
            pre.append(rejects)
    _refuse_missing_columns(root, frames, files, headers, columns or {}, context_columns)
    events = frames["events"]
    if "event" not in events.columns:
        # an implicit-feedback table: every row a positive; a row with a rating is a rating event
        rated = given(events["rating"]) if "rating" in events.columns else False
        events["event"] = np.where(rated, "rating", "purchase")
    return assemble(source="table", items_raw=frames["items"], events_raw=frames["events"],
                    users_raw=frames.get("users"), judgments_raw=frames.get("judgments"), files=files,
                    pre_rejects=pre, rating_range=rating_range, context_columns=tuple(context_columns),
                    salt=salt, timestamp_range=timestamp_range)
