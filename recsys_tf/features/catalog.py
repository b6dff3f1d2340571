"""`Catalog`: per-item feature arrays in vocabulary order (row 0 = padding / unknown item)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys_tf.features.vocabulary import Vocabularies, price_bucket


def item_text(items: pd.DataFrame) -> list[str]:
    """The text the item tower reads: title, description, brand and category path."""
    parts = (items["title"].astype(str) + ". " + items["description"].astype(str) + " Brand: "
             + items["brand"].astype(str) + ". Category: " + items["category"].astype(str) + ".")
    return parts.str.replace(r"\s+", " ", regex=True).str.strip().tolist()


@dataclass
class Catalog:
    item_ids: list[str]          # vocabulary order; index i + 1
    texts: list[str]             # item_text per item
    category: np.ndarray         # (n_items + 1,) int32
    brand: np.ndarray            # (n_items + 1,) int32
    price: np.ndarray            # (n_items + 1,) int32 price bucket
    titles: list[str]
    categories: list[str]

    @classmethod
    def from_items(cls, items: pd.DataFrame, vocab: Vocabularies) -> Catalog:
        order = items.set_index("item_id").loc[vocab.items].reset_index()
        pad = np.zeros(1, np.int32)
        return cls(item_ids=list(vocab.items), texts=item_text(order),
                   category=np.concatenate([pad, vocab.category_index(order["category"])]),
                   brand=np.concatenate([pad, vocab.brand_index(order["brand"])]),
                   price=np.concatenate([pad, price_bucket(order["price"])]),
                   titles=order["title"].astype(str).tolist(),
                   categories=order["category"].astype(str).tolist())

    @property
    def size(self) -> int:
        return len(self.item_ids)

    def sampling_probability(self, counts: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
        """Estimated probability that an item is a positive in a batch (for logQ correction),
        (n_items + 1,) float32, from the training targets per catalog index ((n_items + 1,) counts)
        with add-`smoothing`."""
        counts = np.asarray(counts).astype(np.float64) + smoothing
        counts[0] = smoothing
        return (counts / counts.sum()).astype(np.float32)
