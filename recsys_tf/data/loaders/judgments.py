"""Query-product judgments (ESCI / WANDS style) added to an existing dataset directory.

The CSV needs a query, an item id and a label. Labels may be numeric (graded relevance) or ESCI
letters/words: Exact=3, Substitute=2, Complement=1, Irrelevant=0 (WANDS: Exact=2, Partial=1,
Irrelevant=0 map to 3/1/0 so the scales agree on "exact"). An optional `language` (or
`query_language`) column tags each query's language; `evaluate` then reports judged search per
language (untagged queries get the language of their script, `evaluation/judgments.py`)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys_tf.data.loaders.common import read_delimited, require_file
from recsys_tf.data.schema import Dataset, read_dataset
from recsys_tf.data.validation import concat_rejects, require_columns, validate_judgments

LABELS = {"e": 3.0, "exact": 3.0, "s": 2.0, "substitute": 2.0, "c": 1.0, "complement": 1.0,
          "partial": 1.0, "i": 0.0, "irrelevant": 0.0}


def _relevance(label):
    text = str(label).strip().lower()
    return LABELS.get(text, text)


def load_judgments(path: str | Path, dataset_dir: str | Path, columns: dict[str, str] | None = None) -> Dataset:
    """Read judgments from `path` and attach them to the dataset in `dataset_dir` (its items decide
    which item ids are known)."""
    file = require_file(Path(path), "judgments")
    sep = "\t" if file.suffix in (".tsv", ".txt") else ","
    frame, pre = read_delimited(file, sep=sep)
    mapping = {"query": "query", "item_id": "item_id", "label": "relevance", "relevance": "relevance",
               "product_id": "item_id", "esci_label": "relevance", "language": "language",
               "query_language": "language"}
    mapping.update({v: k for k, v in (columns or {}).items()})
    frame = frame.rename(columns={c: mapping[c] for c in frame.columns if c in mapping})
    require_columns(frame, ["query", "item_id", "relevance"], file.name)
    frame["relevance"] = frame["relevance"].map(_relevance)
    dataset = read_dataset(dataset_dir)
    judgments, rejects = validate_judgments(frame, dataset.items["item_id"], file.name)
    if dataset.judgments is not None:
        judgments = pd.concat([dataset.judgments, judgments], ignore_index=True)
    dataset.judgments = judgments.drop_duplicates(["query", "item_id"], keep="last").reset_index(drop=True)
    # loading a file again replaces its rejects (idempotent): the other files' rejects stay
    earlier = dataset.rejects
    if earlier is not None and len(earlier):
        earlier = earlier[earlier["file"].astype(str) != file.name]
    dataset.rejects = concat_rejects(earlier, pre, rejects)
    files = dataset.info.setdefault("judgment_files", [])
    if file.name not in files:
        files.append(file.name)
    return dataset
