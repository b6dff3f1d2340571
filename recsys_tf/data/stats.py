"""Dataset statistics (`recsys-tf data stats`): counts, sparsity, popularity skew, a histogram."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys_tf.data.schema import Dataset


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of interaction counts over items (0 = uniform, 1 = one item gets all)."""
    values = np.sort(np.asarray(counts, dtype=float))
    if values.size == 0 or values.sum() == 0:
        return 0.0
    n = values.size
    return float((2 * np.arange(1, n + 1) - n - 1).dot(values) / (n * values.sum()))


def dataset_stats(dataset: Dataset) -> dict:
    events, items = dataset.events, dataset.items
    per_item = events["item_id"].value_counts()
    n_users, n_items = events["user_id"].nunique(), len(items)
    top = per_item.iloc[: max(1, int(0.01 * n_items))].sum()
    stats = {
        "items": n_items,
        "users": int(n_users),
        "events": int(len(events)),
        "events_by_type": {str(k): int(v) for k, v in events["event"].value_counts().items()},
        "items_with_events": int(per_item.size),
        "density": float(events[["user_id", "item_id"]].drop_duplicates().shape[0] / max(1, n_users * n_items)),
        "events_per_user_median": float(events.groupby("user_id").size().median()) if len(events) else 0.0,
        "popularity_gini": gini(np.concatenate([per_item.to_numpy(), np.zeros(n_items - per_item.size)])),
        "top_1pct_items_share": float(top / max(1, len(events))),
        "categories": int(items["category"].nunique()),
        "rejects": int(len(dataset.rejects)),
    }
    if "split" in events.columns:
        stats["events_by_split"] = {str(k): int(v) for k, v in events["split"].value_counts().items()}
    return stats


def plot_popularity(dataset: Dataset, out_png: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = dataset.events["item_id"].value_counts().to_numpy()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.hist(counts, bins=50, log=True)
    left.set(title="Events per item", xlabel="events", ylabel="items (log)")
    right.loglog(np.arange(1, counts.size + 1), counts)
    right.set(title="Popularity by rank (long tail)", xlabel="item rank", ylabel="events")
    fig.tight_layout()
    out = Path(out_png)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
