"""Offline A/B comparison of two evaluation reports with paired bootstrap confidence intervals.

Both reports must come from the same test split (their per-query keys are joined). Per metric, the
per-query values are averaged per user first (users are the independent unit, as in an online
test), then users are resampled with replacement `n_resamples` times; the 95% interval of the mean
per-user delta (B − A) says whether B is really better than A or the difference is noise.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_METRICS = ("recall@5", "recall@10", "ndcg@10", "precision@10", "map@10", "mrr", "recall@50", "squared_error",
                   "absolute_error")


def _per_query(report: str | Path) -> pd.DataFrame:
    path = Path(report) / "per_query.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {report} is not a report written by this version of "
                                "`recsys-tf evaluate`. Fix: re-run `recsys-tf evaluate --run RUN --out REPORT`.")
    return pd.read_parquet(path)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, groups: np.ndarray, n_resamples: int = 2000,
                     seed: int = 0, confidence: float = 0.95) -> dict:
    """Mean of A, mean of B, mean delta and its bootstrap interval, resampling `groups` (users)."""
    frame = pd.DataFrame({"g": groups, "d": np.asarray(b, np.float64) - np.asarray(a, np.float64),
                          "a": a, "b": b}).groupby("g").mean()
    deltas = frame["d"].to_numpy()
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 200):  # bounded memory: 200 resamples at a time
        stop = min(start + 200, n_resamples)
        means[start:stop] = deltas[rng.integers(0, len(deltas), (stop - start, len(deltas)))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return {"a": float(frame["a"].mean()), "b": float(frame["b"].mean()), "delta": float(deltas.mean()),
            "ci_low": float(low), "ci_high": float(high), "users": int(len(deltas)),
            "significant": bool(low > 0 or high < 0)}


def compare_reports(report_a: str | Path, report_b: str | Path, system: str = "recsys_tf",
                    metrics=DEFAULT_METRICS, n_resamples: int = 2000, seed: int = 0,
                    system_b: str | None = None) -> dict[str, dict]:
    """`{"<task>/<metric>": paired_bootstrap(...)}` for every task and metric both reports have.

    A is `system`'s rows of `report_a`, B is `system_b`'s (default: the same system) rows of
    `report_b`; with one report and two systems (e.g. `ablations/id_only` vs `recsys_tf`) it tells
    whether the model really beats its ablation or a baseline on the same queries."""
    system_b = system if system_b is None else system_b
    a, b = _per_query(report_a), _per_query(report_b)
    for frame, name, report in ((a, system, report_a), (b, system_b, report_b)):
        if not (frame["system"] == name).any():
            raise ValueError(f"Report {report} has no rows for system {name!r}; it has "
                             f"{sorted(frame['system'].unique())}. Fix: pass one of those.")
    a, b = a[a["system"] == system], b[b["system"] == system_b]
    out = {}
    for task in sorted(set(a["task"]) & set(b["task"])):
        joined = a[a["task"] == task].merge(b[b["task"] == task], on=["key", "user"], suffixes=("_a", "_b"))
        if joined.empty:
            raise ValueError(f"Reports {report_a} and {report_b} share no `{task}` queries. Fix: evaluate both "
                             "runs on the same dataset directory and protocol.")
        for metric in metrics:
            if f"{metric}_a" not in joined or f"{metric}_b" not in joined:
                continue
            # a metric a task does not define (e.g. squared_error of recommend) is NaN in every row
            rows = joined[joined[f"{metric}_a"].notna() & joined[f"{metric}_b"].notna()]
            if not rows.empty:
                out[f"{task}/{metric}"] = paired_bootstrap(rows[f"{metric}_a"].to_numpy(), rows[f"{metric}_b"].to_numpy(),
                                                           rows["user"].to_numpy(), n_resamples, seed)
    if not out:
        raise ValueError(f"Reports {report_a} and {report_b} have no metric in common for systems "
                         f"{system!r} and {system_b!r}.")
    return out


def render_comparison(result: dict, report_a, report_b) -> str:
    lines = [f"# Comparison: B = {report_b} vs A = {report_a}", "",
             "Paired bootstrap over users, 95% interval of the mean per-user delta (B − A). "
             "For squared/absolute error lower is better.", "",
             "| metric | A | B | delta | 95% CI | significant |", "|---|---|---|---|---|---|"]
    for key, r in result.items():
        lines.append(f"| {key} | {r['a']:.4f} | {r['b']:.4f} | {r['delta']:+.4f} | "
                     f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {'yes' if r['significant'] else 'no'} |")
    return "\n".join(lines) + "\n"


def write_comparison(result: dict, report_a, report_b, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2, sort_keys=True))
    (out / "compare.md").write_text(render_comparison(result, report_a, report_b))
    return out / "compare.md"
