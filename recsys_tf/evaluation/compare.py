"""Offline A/B comparison of two evaluation reports with paired bootstrap confidence intervals.

Both reports must come from the same test split (their per-query keys are joined). Either side may
be several reports of one configuration trained with different seeds (`--compare A1,A2,A3 B1,B2,B3`):
on small test sets the seed-to-seed spread can be as large as the effect being judged. Per metric, the
per-query values are averaged per user first (users are the independent unit, as in an online
test), then users are resampled with replacement `n_resamples` times; the 95% interval of the mean
per-user delta (B − A) says whether B is really better than A or the difference is noise.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.atomic import atomic_write_text
from recsys_tf.errors import InputError

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
    """Mean of A, mean of B, mean delta and its bootstrap interval, resampling `groups` (users).

    `a` and `b` are one value per row, or `(rows, reports)` matrices: the same queries scored by several
    trainings of one configuration (seeds). Then each side is averaged over its reports, and every
    resample also draws each side's reports with replacement, so the interval covers the variance
    between trainings as well as between users (a two-stage bootstrap; with one report per side it is
    the plain paired bootstrap over users)."""
    a = np.asarray(a, np.float64).reshape(len(groups), -1)
    b = np.asarray(b, np.float64).reshape(len(groups), -1)
    columns = [f"a{i}" for i in range(a.shape[1])] + [f"b{i}" for i in range(b.shape[1])]
    frame = pd.DataFrame(np.concatenate([a, b], axis=1), columns=columns).groupby(np.asarray(groups)).mean()
    user_a, user_b = frame[columns[:a.shape[1]]].to_numpy(), frame[columns[a.shape[1]:]].to_numpy()
    deltas = user_b.mean(axis=1) - user_a.mean(axis=1)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    if user_a.shape[1] == 1 and user_b.shape[1] == 1:
        for start in range(0, n_resamples, 200):  # bounded memory: 200 resamples at a time
            stop = min(start + 200, n_resamples)
            means[start:stop] = deltas[rng.integers(0, len(deltas), (stop - start, len(deltas)))].mean(axis=1)
    else:
        for r in range(n_resamples):
            users = rng.integers(0, len(deltas), len(deltas))
            pick_a = rng.integers(0, user_a.shape[1], user_a.shape[1])
            pick_b = rng.integers(0, user_b.shape[1], user_b.shape[1])
            means[r] = (user_b[users][:, pick_b].mean() - user_a[users][:, pick_a].mean())
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    out = {"a": float(user_a.mean()), "b": float(user_b.mean()), "delta": float(deltas.mean()),
           "ci_low": float(low), "ci_high": float(high), "users": int(len(deltas)),
           "significant": bool(low > 0 or high < 0)}
    if user_a.shape[1] > 1 or user_b.shape[1] > 1:
        out["a_per_report"] = [float(v) for v in user_a.mean(axis=0)]
        out["b_per_report"] = [float(v) for v in user_b.mean(axis=0)]
    return out


def _reports(reports) -> list:
    """One report, a list of reports, or a comma-separated string of reports -> list of paths."""
    if isinstance(reports, (str, Path)):
        reports = [r for r in str(reports).split(",") if r]
    return [Path(r) for r in reports]


def compare_reports(report_a, report_b, system: str = "recsys_tf",
                    metrics=DEFAULT_METRICS, n_resamples: int = 2000, seed: int = 0,
                    system_b: str | None = None) -> dict[str, dict]:
    """`{"<task>/<metric>": paired_bootstrap(...)}` for every task and metric both sides have.

    A is `system`'s rows of `report_a`, B is `system_b`'s (default: the same system) rows of
    `report_b`; with one report and two systems (e.g. `ablations/id_only` vs `recsys_tf`) it tells
    whether the model really beats its ablation or a baseline on the same queries. Either side may be
    several reports (a list, or "R1,R2,R3"): trainings of one configuration with different seeds,
    evaluated on the same split; see `paired_bootstrap`."""
    system_b = system if system_b is None else system_b
    paths_a, paths_b = _reports(report_a), _reports(report_b)
    if not paths_a or not paths_b:
        raise InputError(f"Nothing to compare: report_a={report_a!r}, report_b={report_b!r}. "
                         "Fix: pass a report directory (or a comma-separated list of them) for each side.")
    sides = []
    for paths, name in ((paths_a, system), (paths_b, system_b)):
        frames = []
        for path in paths:
            frame = _per_query(path)
            if not (frame["system"] == name).any():
                raise InputError(f"Report {path} has no rows for system {name!r}; it has "
                                 f"{sorted(frame['system'].unique())}. Fix: pass one of those.")
            frames.append(frame[frame["system"] == name])
        sides.append(frames)
    a, b = sides
    out = {}
    for task in sorted(set.intersection(*(set(f["task"]) for f in a + b))):
        # each report's rows of this task indexed once by query; only queries every report has
        tables = [f[f["task"] == task].set_index(["key", "user"]) for f in a + b]
        shared = tables[0].index
        for table in tables[1:]:
            shared = shared.intersection(table.index)
        if shared.empty:
            raise InputError(f"Reports {report_a} and {report_b} share no `{task}` queries. Fix: evaluate all "
                             "runs on the same dataset directory and protocol.")
        for metric in metrics:
            if any(metric not in t for t in tables):
                continue
            values = np.stack([t.loc[shared, metric].to_numpy(np.float64) for t in tables], axis=1)
            # a metric a task does not define (e.g. squared_error of recommend) is NaN in every row
            rows = ~np.isnan(values).any(axis=1)
            if rows.any():
                out[f"{task}/{metric}"] = paired_bootstrap(values[rows, :len(a)], values[rows, len(a):],
                                                           shared.get_level_values("user").to_numpy()[rows],
                                                           n_resamples, seed)
    if not out:
        raise InputError(f"Reports {report_a} and {report_b} have no metric in common for systems "
                         f"{system!r} and {system_b!r}.")
    return out


def render_comparison(result: dict, report_a, report_b) -> str:
    several = any("a_per_report" in r for r in result.values())
    lines = [f"# Comparison: B = {report_b} vs A = {report_a}", "",
             "Paired bootstrap over users, 95% interval of the mean per-user delta (B − A)"
             + (" — each side averaged over its reports (trainings); resamples draw users *and* reports, "
                "so the interval covers seed-to-seed variance too" if several else "")
             + ". For squared/absolute error lower is better.", "",
             "| metric | A | B | delta | 95% CI | significant |" + (" A per report | B per report |" if several else ""),
             "|---|---|---|---|---|---|" + ("---|---|" if several else "")]
    for key, r in result.items():
        line = (f"| {key} | {r['a']:.4f} | {r['b']:.4f} | {r['delta']:+.4f} | "
                f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {'yes' if r['significant'] else 'no'} |")
        if several:
            line += " " + " | ".join(", ".join(f"{v:.3f}" for v in r.get(side, [r[side[0]]]))
                                   for side in ("a_per_report", "b_per_report")) + " |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_comparison(result: dict, report_a, report_b, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.json", json.dumps(result, indent=2, sort_keys=True))
    atomic_write_text(out / "compare.md", render_comparison(result, report_a, report_b))
    return out / "compare.md"
