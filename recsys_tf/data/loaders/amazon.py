"""Amazon Reviews 2023 (McAuley Lab) loader: a reviews JSONL file + its `meta_*.jsonl`.

Reviews: {rating, title, text, asin, parent_asin, user_id, timestamp (ms), verified_purchase, ...}.
Meta: {parent_asin, title, features[], description[], categories[], main_category, store, price, ...}.
Items are keyed by `parent_asin` (as the dataset's own benchmarks do); each review is a `rating`
event; the timestamp is converted from milliseconds to seconds.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys_tf.constants import TIMESTAMP_RANGE
from recsys_tf.data.loaders.common import assemble, read_jsonl
from recsys_tf.data.schema import DatasetError

CATEGORY_SEPARATOR = " > "


def _files(path: Path) -> tuple[Path, Path]:
    if path.is_file():
        meta = path.with_name("meta_" + path.name)
        return path, meta
    metas = sorted(path.glob("meta_*.jsonl"))
    reviews = sorted(p for p in path.glob("*.jsonl") if not p.name.startswith("meta_"))
    if len(metas) != 1 or len(reviews) != 1:
        raise DatasetError(
            f"amazon-2023: expected one reviews file and one meta_*.jsonl in {str(path)!r}; found "
            f"reviews={[p.name for p in reviews]}, meta={[p.name for p in metas]}. Fix: pass --path "
            "pointing at the reviews file (its meta_ file beside it) or a directory with exactly one of each.")
    return reviews[0], metas[0]


def _join(value) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value if v is not None)
    return "" if value is None else str(value)


def _price(value):
    if value is None or value == "" or str(value).lower() == "none":
        return None
    text = str(value).replace("$", "").replace(",", "").strip()
    return text  # validation turns unparseable prices into rejects


def load_amazon_2023(path: str | Path, salt: bytes | None = None, timestamp_range=TIMESTAMP_RANGE):
    reviews_file, meta_file = _files(Path(path))
    if not meta_file.is_file():
        raise DatasetError(f"amazon-2023: metadata file {str(meta_file)!r} not found. Fix: download "
                           f"meta_<Category>.jsonl next to {reviews_file.name}.")
    metas, meta_rejects = read_jsonl(meta_file)
    reviews, review_rejects = read_jsonl(reviews_file)
    items = pd.DataFrame([{
        "item_id": m.get("parent_asin"),
        "title": m.get("title"),
        "description": " ".join(t for t in (_join(m.get("features")), _join(m.get("description"))) if t),
        "category": CATEGORY_SEPARATOR.join(map(str, m.get("categories") or [])) or _join(m.get("main_category")),
        "brand": _join(m.get("store")),
        "price": _price(m.get("price")),
        "_row": n} for n, m in metas], columns=["item_id", "title", "description", "category", "brand",
                                                 "price", "_row"])
    events = pd.DataFrame([{
        "user_id": r.get("user_id"),
        "item_id": r.get("parent_asin") or r.get("asin"),
        "event": "rating",
        "timestamp": _ms_to_s(r.get("timestamp")),
        "rating": r.get("rating"),
        "_row": n} for n, r in reviews], columns=["user_id", "item_id", "event", "timestamp", "rating", "_row"])
    return assemble(source="amazon-2023", items_raw=items, events_raw=events,
                    files={"items": meta_file.name, "events": reviews_file.name},
                    pre_rejects=[meta_rejects, review_rejects], rating_range=(1.0, 5.0), salt=salt,
                    timestamp_range=timestamp_range)


def _ms_to_s(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value  # left as is; validation rejects it with "bad timestamp"
    return number // 1000 if number == number else value  # NaN stays NaN
