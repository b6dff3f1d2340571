"""UCI Online Retail (Chen, Sain & Guo 2012; CC BY 4.0): invoice lines of a UK online gift shop.

Input: the released table as Parquet, CSV or Excel (`InvoiceNo, StockCode, Description, Quantity,
InvoiceDate, UnitPrice, CustomerID, Country`). Every line ends up either as one `purchase` event or
in `rejects.csv` with its reason (loaded + rejected = input lines). The rules, in the order they
are applied (a line gets the first reason that fits):

1. `cancellation (invoice starts with C)`: InvoiceNo `C…` lines undo an earlier sale; they are
   not purchases (and their earlier sale stays: the customer did choose the product).
2. `no customer (guest checkout)`: CustomerID missing — the line cannot be tied to a user.
3. `non-product code (postage, fee or manual adjustment)`: StockCode not of the product form
   `NNNNN` + optional letters (`85123A`); this drops POST, DOT, M, C2, BANK CHARGES, AMAZONFEE,
   CRUK, D, S, PADS, B, gift vouchers and the like.
4. `non-positive quantity (return or stock adjustment)` and `non-positive unit price (free or
   adjustment line)`.
5. `bad invoice date`: InvoiceDate that does not parse.
6. `duplicate line (every field equals an earlier line)`: the same line twice.
7. `same product again in this invoice (quantity added to its first line)`: one event per
   (invoice, product); its `quantity` is the sum of the lines.

Items: one per StockCode kept by the rules (case kept: `85123a` and `85123A` are the shop's own
codes). Title = the commonest description among its kept lines (ties: the latest one), after
repairing the mis-decoded pound sign ("Â£" -> "£", text that was UTF-8 read as Latin-1); the
other descriptions of the code are written to the item's `description` field so their words
still reach the text model. No category or brand exists in this data; `price` = the median unit
price. A code whose kept lines all lack a description is rejected by item validation ("empty
title") and its lines then as "unknown item_id".

Events: user_id = CustomerID as an integer string, event `purchase`, timestamp = InvoiceDate
(UK local time, read as UTC seconds), context columns `invoice`, `quantity`, `unit_price`,
`country` (kept as event columns, as text like every context column).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.constants import TIMESTAMP_RANGE
from recsys_tf.data.loaders.common import assemble, read_delimited, require_file
from recsys_tf.data.schema import REJECT_COLUMNS, DatasetError
from recsys_tf.data.validation import MAX_RECORD_CHARS

COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
           "Country")
CONTEXT_COLUMNS = ("invoice", "quantity", "unit_price", "country")
PRODUCT_CODE = re.compile(r"^\d{5}[A-Za-z]{0,3}$")
REASONS = {
    "cancellation": "cancellation (invoice starts with C)",
    "customer": "no customer (guest checkout)",
    "code": "non-product code (postage, fee or manual adjustment)",
    "quantity": "non-positive quantity (return or stock adjustment)",
    "price": "non-positive unit price (free or adjustment line)",
    "date": "bad invoice date",
    "duplicate": "duplicate line (every field equals an earlier line)",
    "repeat": "same product again in this invoice (quantity added to its first line)",
}


def repair_text(text: str) -> str:
    """Undo UTF-8 bytes that were decoded as Latin-1 / cp1252 ("Â£" -> "£"); other text unchanged."""
    if "Â" not in text and "Ã" not in text:
        return text
    for codec in ("latin-1", "cp1252"):
        try:
            return text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return text.replace("Â£", "£")


def _read(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    if path.is_dir():
        found = sorted(p for ext in ("parquet", "csv", "xlsx") for p in path.glob(f"*.{ext}"))
        if len(found) != 1:
            raise DatasetError(f"online-retail: expected one .parquet, .csv or .xlsx file in {str(path)!r}; found "
                               f"{[p.name for p in found]}. Fix: pass --path pointing at the file itself.")
        path = found[0]
    require_file(path, "online-retail")
    rejects = pd.DataFrame(columns=REJECT_COLUMNS)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".xlsx":
        frame = pd.read_excel(path)  # needs openpyxl, as pandas says when it is missing
    else:
        frame, rejects = read_delimited(path, sep=",", encoding="utf-8")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"online-retail: {path.name} lacks column(s) {missing}; columns present: "
                           f"{list(map(str, frame.columns))}. Fix: pass the file as released by UCI "
                           "(InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country).")
    if "_row" not in frame.columns:
        frame["_row"] = np.arange(2, len(frame) + 2)  # spreadsheet line numbers: line 1 is the header
    return frame.reset_index(drop=True), rejects, path.name


def _customer(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") else text


def _classify(frame: pd.DataFrame) -> tuple[pd.Series, dict[str, pd.Series]]:
    """The first rejection reason of each line (None = kept) and the parsed columns."""
    invoice = frame["InvoiceNo"].astype(str).str.strip()
    code = frame["StockCode"].astype(str).str.strip()
    customer = frame["CustomerID"].map(_customer)
    quantity = pd.to_numeric(frame["Quantity"], errors="coerce")
    price = pd.to_numeric(frame["UnitPrice"], errors="coerce")
    when = pd.to_datetime(frame["InvoiceDate"], errors="coerce", utc=True)
    description = frame["Description"].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v))
                                           else repair_text(str(v).strip()))
    reason = pd.Series([None] * len(frame), index=frame.index, dtype=object)

    def flag(mask, key):
        reason[mask.fillna(True).astype(bool) & reason.isna()] = REASONS[key]

    flag(invoice.str.upper().str.startswith("C"), "cancellation")
    flag(customer == "", "customer")
    flag(~code.str.match(PRODUCT_CODE), "code")
    flag(~(quantity > 0), "quantity")
    flag(~(price > 0), "price")
    flag(when.isna(), "date")
    fields = frame[list(COLUMNS)].astype(str)
    flag(fields.duplicated(keep="first") & reason.isna(), "duplicate")
    keyed = pd.DataFrame({"invoice": invoice, "code": code}).where(reason.isna())
    flag(keyed.duplicated(keep="first") & reason.isna(), "repeat")
    parsed = {"invoice": invoice, "code": code, "customer": customer, "quantity": quantity, "price": price,
              "when": when, "description": description}
    return reason, parsed


def _items(kept: pd.DataFrame) -> pd.DataFrame:
    """One row per product code: the commonest description (ties: the latest) as title, the others
    as description, the median unit price."""
    described = kept[kept["description"] != ""]
    counts = (described.groupby(["code", "description"], sort=False)
              .agg(n=("description", "size"), last=("when", "max")).reset_index()
              .sort_values(["code", "n", "last"], ascending=[True, False, False], kind="stable"))
    titles = counts.drop_duplicates("code").set_index("code")["description"]
    others = counts[~counts.index.isin(counts.drop_duplicates("code").index)]
    more = others.groupby("code")["description"].agg(" / ".join)
    codes = pd.Index(kept["code"].unique())
    return pd.DataFrame({
        "item_id": codes,
        "title": titles.reindex(codes).fillna("").to_numpy(),
        "description": more.reindex(codes).fillna("").to_numpy(),
        "price": kept.groupby("code")["price"].median().reindex(codes).to_numpy(),
        "_row": np.arange(1, len(codes) + 1),
    })


def load_online_retail(path: str | Path, salt: bytes | None = None, timestamp_range=TIMESTAMP_RANGE):
    frame, read_rejects, file_name = _read(Path(path))
    reason, parsed = _classify(frame)
    rejected = reason.notna()
    bad = frame.loc[rejected, list(COLUMNS)]
    lines = bad[COLUMNS[0]].map(_cell)
    for column in COLUMNS[1:]:
        lines = lines + "," + bad[column].map(_cell)
    pre = [read_rejects, pd.DataFrame({"file": file_name, "row": frame["_row"][rejected].astype(str),
                                       "reason": reason[rejected], "record": lines.str.slice(0, MAX_RECORD_CHARS)},
                                      columns=REJECT_COLUMNS)]
    kept = pd.DataFrame({k: v[~rejected] for k, v in parsed.items()})
    kept["_row"] = frame["_row"][~rejected]
    # quantities of repeated (invoice, product) lines are added to the first one
    repeats = pd.DataFrame({"invoice": parsed["invoice"], "code": parsed["code"],
                            "quantity": parsed["quantity"]})[reason == REASONS["repeat"]]
    extra = repeats.groupby(["invoice", "code"])["quantity"].sum()
    key = pd.MultiIndex.from_arrays([kept["invoice"], kept["code"]])
    kept["quantity"] = kept["quantity"].to_numpy() + extra.reindex(key).fillna(0).to_numpy()
    events = pd.DataFrame({
        "user_id": kept["customer"], "item_id": kept["code"], "event": "purchase",
        "timestamp": ((kept["when"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(),
        "invoice": kept["invoice"], "quantity": kept["quantity"].map(_number),
        "unit_price": kept["price"].map(_number), "country": frame["Country"][~rejected].astype(str).str.strip(),
        "_row": kept["_row"],
    })
    return assemble(source="online-retail", items_raw=_items(kept), events_raw=events,
                    files={"items": f"{file_name} (one item per StockCode)", "events": file_name},
                    pre_rejects=pre, context_columns=CONTEXT_COLUMNS, salt=salt, timestamp_range=timestamp_range,
                    extra_info={"rules": "recsys_tf/data/loaders/online_retail.py"})


def _cell(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _number(value) -> str:
    return f"{value:g}"

