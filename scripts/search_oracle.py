"""How high can search NDCG go on the synthetic judgments? An oracle that reads each judged query
with the generator's own vocabulary.

The judged queries are noisy paraphrases of a target item (`recsys_tf/data/synthetic.py`): they name
its noun, usually some of its features, sometimes its colour or brand. Grades: 3 = the target, 2 =
same leaf sharing a feature, 1 = same leaf. Many items fit a query equally well (a query naming only
"wireless earbuds" fits every wireless pair), so no ranker can reach NDCG 1. This oracle knows the
target's leaf and the generator's synonym lists, matches the query's words against them (exact
substrings: a typo defeats it, as it would a lexical parser), scores each item of the leaf by how
many of the named features, colour and brand it has, and breaks ties at random (the mean over 30
draws): a ceiling for any ranker that uses only what the query says. It reconstructs the
catalog from the generator's parameters in `dataset.json` and checks the titles match.

    .venv/bin/python scripts/search_oracle.py runs/demo/data/raw --ks 5,10,50

Measured on the demo data (test half, 202 queries): NDCG@5 / @10 / @50 0.747 / 0.815 / 0.910 —
recsys_tf 0.723 / 0.782 / 0.851, zero-shot MiniLM 0.721 / 0.772 / 0.826 (docs/results.md).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def oracle_ndcg(raw_dir: str, ks=(5, 10, 50), half: str = "test", draws: int = 30, seed: int = 0,
                parse: bool = True) -> dict[int, float]:
    """Mean graded NDCG@k of the oracle on the `half` of the judgments; `parse=False` ignores the
    query's words (a random order of the target's leaf: what knowing the category alone gives)."""
    import pandas as pd

    from recsys_tf.data.catalog_vocabulary import COLOURS, LEAVES
    from recsys_tf.data.synthetic import ENGLISH, _make_items
    from recsys_tf.evaluation.judgments import judgment_half
    from recsys_tf.evaluation.metrics import graded_ndcg

    raw = Path(raw_dir)
    generator = json.loads((raw / "dataset.json").read_text()).get("generator")
    if not generator:
        raise SystemExit(f"{raw}/dataset.json has no `generator` section: the oracle needs data made by "
                         "`recsys-tf data synth`. Fix: pass a synthetic raw data directory.")
    if generator.get("language", "en") != "en":
        raise SystemExit(f"{raw} was generated with --language {generator['language']}; the oracle parses English "
                         "queries. Fix: run it on an English synthetic data directory.")
    # `generate` draws the catalog first from a fresh generator, so this replays it exactly
    items, meta, _, _ = _make_items(generator["n_items"], generator["days"], generator["cold_start_fraction"],
                                    np.random.default_rng(generator["seed"]), ENGLISH)
    stored = pd.read_parquet(raw / "items.parquet").set_index("item_id")
    if not (stored.loc[items["item_id"], "title"].to_numpy() == items["title"].to_numpy()).all():
        raise SystemExit(f"{raw}/items.parquet does not match the generator replayed from dataset.json.")
    judged = judgment_half(pd.read_parquet(raw / "judgments.parquet"), half)
    row_of = {item: row for row, item in enumerate(items["item_id"])}
    leaves = list(LEAVES)
    rng = np.random.default_rng(seed)
    tops, grades = [], []
    for query, group in judged.groupby("query"):
        grade = {row_of[i]: float(r) for i, r in zip(group["item_id"], group["relevance"])}
        target = next(row for row, r in grade.items() if r == 3.0)
        leaf = meta[target][0]
        features = LEAVES[leaves[leaf]][1]
        named = [f for f, synonyms in enumerate(features) if any(s in query for s in synonyms)]
        colours = {c for c, synonyms in enumerate(COLOURS) if any(s in query for s in synonyms)}
        in_leaf = np.array([row for row, m in enumerate(meta) if m[0] == leaf])
        score = np.array([sum(f in meta[r][2] for f in named) + (meta[r][3] in colours)
                          + (meta[r][1].lower() in query) for r in in_leaf], float) * parse
        for _ in range(draws):
            ranked = in_leaf[np.lexsort((rng.random(len(in_leaf)), -score))][:max(ks)]
            tops.append(np.pad(ranked, (0, max(ks) - len(ranked)), constant_values=-1))  # -1: no item
            grades.append(grade)
    return {k: float(graded_ndcg(np.array(tops), grades, k).mean()) for k in ks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw_dir", help="a synthetic raw data directory (recsys-tf data synth --out DIR)")
    parser.add_argument("--ks", default="5,10,50")
    parser.add_argument("--half", default="test", choices=["validation", "test"])
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    leaf_only = oracle_ndcg(args.raw_dir, ks, args.half, parse=False)
    for k, value in oracle_ndcg(args.raw_dir, ks, args.half).items():
        print(f"oracle search_judged/ndcg@{k} = {value:.4f}   (the leaf alone, random order: {leaf_only[k]:.4f})")


if __name__ == "__main__":
    main()
