"""Remove the order of the lines inside each basket of a canonical dataset: the events that share a
user and a timestamp (one invoice of Online Retail) are put in a random order (seeded), everything else
unchanged. A result that still holds on the output does not rest on the data's row order
(docs/real_catalogs.md, "Online Retail without invoice order").

    python scripts/shuffle_baskets.py runs/or/raw --out runs/or_shuffled/raw [--seed 0]

Then split and train as usual (`recsys-tf data split runs/or_shuffled/raw --out runs/or_shuffled/split`).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd


def shuffle_baskets(events: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """`events` sorted by (user, timestamp) with the rows of each (user, timestamp) group shuffled."""
    key = np.random.default_rng(seed).random(len(events))
    order = np.lexsort((key, events["timestamp"].to_numpy(), events["user_id"].astype(str).to_numpy()))
    return events.iloc[order].reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    source, out = Path(args.dataset), Path(args.out)
    if out.exists():
        raise SystemExit(f"--out {out} exists. Fix: choose a new directory.")
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("events.parquet"))
    events = pd.read_parquet(source / "events.parquet")
    shuffle_baskets(events, args.seed).to_parquet(out / "events.parquet", index=False)
    print(f"wrote {out}: {len(events)} events, lines of each (user, timestamp) basket in a random order")


if __name__ == "__main__":
    main()
