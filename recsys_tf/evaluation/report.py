"""Evaluation report: metrics.json, report.md (model vs ablations vs baselines), PNG plots,
per_query.parquet (input of `--compare`) and TensorBoard summaries under REPORT/tensorboard."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from recsys_tf.atomic import atomic_write, atomic_write_text
from recsys_tf.constants import DEFAULT_KS

BASELINE_ORDER = ("zero_shot_text", "popularity", "item_knn", "ease", "bm25")


def systems_in(metrics: dict) -> list[tuple[str, str]]:
    """(label, key prefix) of every system in `metrics`: recsys_tf, ablations, then baselines."""
    ablations = sorted({key.split("/")[1] for key in metrics if key.startswith("ablations/")})
    baselines = {key.split("/")[1] for key in metrics if key.startswith("baselines/")}
    return ([("recsys_tf", "")] + [(name, f"ablations/{name}/") for name in ablations]
            + [(name, f"baselines/{name}/") for name in BASELINE_ORDER if name in baselines])


def _table(metrics: dict, task: str, columns: list[str]) -> list[str]:
    rows = [(label, prefix) for label, prefix in systems_in(metrics)
            if any(f"{prefix}{task}/{c}" in metrics for c in columns)]
    if not rows:
        return []
    lines = ["| system | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, prefix in rows:
        cells = [f"{metrics[f'{prefix}{task}/{c}']:.4f}" if f"{prefix}{task}/{c}" in metrics else "–"
                 for c in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _ks(metrics: dict, ks) -> list[int]:
    return [k for k in ks if any(key.endswith(f"@{k}") for key in metrics)] or list(ks)


def render_markdown(metrics: dict, ks=DEFAULT_KS, plots: list[str] = ()) -> str:
    ks = _ks(metrics, ks)
    k10 = 10 if 10 in ks else ks[-1]
    lines = ["# Evaluation report", "", f"Protocol: `{metrics.get('protocol', 'temporal-last')}`; "
             f"{int(metrics.get('counts/test_events', 0))} test events; every catalog item is a candidate.", ""]
    if "params/ease/l2" in metrics:
        curve = ", ".join(f"{key.rsplit('=', 1)[1]}: {value:.4f}" for key, value in metrics.items()
                          if key.startswith("params/ease/validation_recall@10/"))
        lines += [f"EASE λ = {metrics['params/ease/l2']:g}, the best validation recall@10 "
                  f"({curve or 'no validation split: the default'}).", ""]
    quality = [f"recall@{k}" for k in ks] + [f"precision@{k10}", f"ndcg@{k10}", f"map@{k10}", "mrr"]
    lists = [f"coverage@{k10}", f"diversity@{k10}", f"novelty@{k10}", f"popularity_bias@{k10}"]
    sections = [("recommend", "Recommend (history → next item)"),
                ("recommend_exclude_seen", "Recommend, the user's training items excluded (TFRS protocol)"),
                ("recommend_new_items", "Recommend among new items only (cold-start protocol: candidates = items "
                 "without an event before the test period)"),
                ("buy_again", "Buy again (the user's own earlier items allowed: repeat purchases count)"),
                ("related", "Related items / bundles (last purchase → next item)"),
                ("search", "Search (query → clicked item)")]
    for task, title in sections:
        if metrics.get("protocol") == "tfrs" and task == "recommend":
            title = "Recommend, seen items NOT excluded (TFRS protocol)"
        if metrics.get("protocol") == "tfrs" and task.startswith("recommend"):
            columns = [f"hit_rate@{k}" for k in ks] + [f"ndcg@{k10}", "mrr"]
        else:
            columns = quality
        table = _table(metrics, task, columns)
        if table:
            lines += [f"## {title}", ""] + table + [""]
            list_table = _table(metrics, task, lists)
            if list_table:
                lines += ["Beyond accuracy (coverage of the catalog, category diversity, novelty, popularity "
                          "bias = popularity of recommended items / popularity of what users picked):", ""]
                lines += list_table + [""]
        if task == "buy_again":
            table = _table(metrics, task, [f"recall@{k10}", f"repeat/recall@{k10}", f"repeat/ndcg@{k10}"])
            if table and f"{task}/repeat/recall@{k10}" in metrics:
                lines += [f"Repeats ({int(metrics.get(f'counts/{task}/repeat', 0))} queries whose item the user "
                          "had before):", ""] + table + [""]
        if task.startswith("recommend"):
            segment_columns = [f"{seg}/recall@{k10}" for seg in ("cold_start_items", "short_history")]
            table = _table(metrics, task, [f"recall@{k10}"] + segment_columns)
            if table and any(f"{task}/{c}" in metrics for c in segment_columns):
                counts = ", ".join(f"{seg} = {int(metrics.get(f'counts/{task}/{seg}', 0))}"
                                   for seg in ("cold_start_items", "short_history"))
                lines += [f"Breakdowns ({counts} queries; cold_start_items = target never seen in "
                          "training, short_history = fewer than 5 distinct history items):", ""] + table + [""]
    table = _table(metrics, "search_judged", [f"ndcg@{k}" for k in ks if k >= 5] + [f"precision@{k10}"])
    if table:
        lines += ["## Search on graded judgments (anonymous queries)", ""] + table + [""]
    lines += _language_lines(metrics, k10)
    table = _table(metrics, "rating", ["rmse", "mae"])
    if table:
        lines += ["## Rating", ""] + table + [""]
    lines += _coverage_lines(metrics)
    for plot in plots:
        lines += [f"![{Path(plot).stem}]({Path(plot).name})", ""]
    return "\n".join(lines)


def _language_lines(metrics: dict, k10: int) -> list[str]:
    """Search and judged search per query language (present when queries are in several)."""
    lines = []
    for task, metric in (("search", f"recall@{k10}"), ("search_judged", f"ndcg@{k10}")):
        languages = sorted({key.split("/")[2] for key in metrics if key.startswith(f"counts/{task}/lang_")})
        table = _table(metrics, task, [f"{language}/{metric}" for language in languages])
        if table:
            counts = ", ".join(f"{language[5:]} = {int(metrics[f'counts/{task}/{language}'])}" for language in languages)
            lines += [f"By query language, {task} {metric} ({counts} queries; the judgments' language tag, else "
                      "the query's script):", ""] + table + [""]
    return lines


def _coverage_lines(metrics: dict) -> list[str]:
    """The text coverage table: share of [UNK] tokens and of mostly-[UNK] texts per text field."""
    from recsys_tf.text.coverage import (  # recsys_tf.text loads TF
        MOSTLY_UNK_TEXTS_LIMIT,
        UNK_TOKEN_SHARE_LIMIT,
    )

    fields = sorted({key.split("/")[1] for key in metrics if key.startswith("text_coverage/")})
    if not fields:
        return []
    lines = ["## Text coverage (share of the checkpoint's [UNK] tokens)", "",
             f"Above {UNK_TOKEN_SHARE_LIMIT:.0%} of the tokens or {MOSTLY_UNK_TEXTS_LIMIT:.0%} of the texts, the text "
             "tower cannot tell those texts apart (docs/text_tower.md).", "",
             "| field | [UNK] tokens | mostly-[UNK] texts | |", "|---|---|---|---|"]
    for field in fields:
        tokens = metrics.get(f"text_coverage/{field}/unk_token_share", 0.0)
        texts = metrics.get(f"text_coverage/{field}/mostly_unk_texts_share", 0.0)
        over = tokens > UNK_TOKEN_SHARE_LIMIT or texts > MOSTLY_UNK_TEXTS_LIMIT
        lines.append(f"| {field.replace('_', ' ')} | {tokens:.1%} | {texts:.1%} | {'**over the limit**' if over else 'ok'} |")
    return lines + [""]


def _finish(plt, fig, ax, xlabel: str, ylabel: str, title: str, path: Path) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(metrics: dict, distributions: dict, out: Path, ks=DEFAULT_KS) -> list[Path]:
    """recall_at_k.png (Recall@K curves), ablation.png (bars), popularity_bias.png (deciles)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = _ks(metrics, ks)
    written = []
    task = "recommend_exclude_seen" if "recommend_exclude_seen/recall@10" in metrics else "recommend"
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, prefix in systems_in(metrics):
        values = [metrics.get(f"{prefix}{task}/recall@{k}") for k in ks]
        if all(v is not None for v in values):
            ax.plot(ks, values, marker="o", label=label)
    ax.set_xscale("log")
    written.append(_finish(plt, fig, ax, "K", f"{task} recall@K", "Recall@K, full catalog", out / "recall_at_k.png"))

    groups = [("recommend", "recommend/recall@10"), ("cold-start items", "recommend/cold_start_items/recall@10"),
              ("short history", "recommend/short_history/recall@10"), ("related", "related/recall@10"),
              ("search (judged)", "search_judged/ndcg@10")]
    groups = [(g, key) for g, key in groups if key in metrics]
    bars = [(label, prefix) for label, prefix in systems_in(metrics)
            if label in ("recsys_tf", "zero_shot_text") or prefix.startswith("ablations/")]
    if groups and bars:
        fig, ax = plt.subplots(figsize=(8, 4))
        width = 0.8 / len(bars)
        for i, (label, prefix) in enumerate(bars):
            ax.bar(np.arange(len(groups)) + i * width, [metrics.get(f"{prefix}{key}", 0.0) for _, key in groups],
                   width, label=label)
        ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, [g for g, _ in groups])
        written.append(_finish(plt, fig, ax, "", "recall@10 (search: NDCG@10)",
                               "What the text tower buys: full model vs ablations", out / "ablation.png"))

    shares = distributions.get("recommend/popularity_decile_share@10")
    if shares:
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, values in shares.items():
            ax.plot(range(10), values, marker="o", label=label.rstrip("/").split("/")[-1],
                    linestyle="--" if label == "targets" else "-")
        written.append(_finish(plt, fig, ax, "item popularity decile (0 = least popular tenth of the catalog)",
                               "share of top-10 recommendations", "Popularity bias (targets = what users picked)",
                               out / "popularity_bias.png"))
    return written


def write_tensorboard(metrics: dict, markdown: str, log_dir: Path) -> None:
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default(step=0):
        for key, value in metrics.items():
            if isinstance(value, (int, float)):
                tf.summary.scalar(f"evaluation/{key}", float(value))
        tf.summary.text("evaluation/report", markdown)
    writer.flush()
    writer.close()


def write_report(metrics: dict, out_dir: str | Path, ks=None, plots: bool = True, tensorboard: bool = True) -> Path:
    """Write REPORT/{metrics.json, report.md, *.png, per_query.parquet, distributions.json,
    tensorboard/}; returns the report.md path. `metrics` is an `Evaluation` (or a plain dict)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ks = ks or getattr(metrics, "ks", DEFAULT_KS)
    plain = dict(metrics)
    atomic_write_text(out / "metrics.json", json.dumps(plain, indent=2, sort_keys=True))
    distributions = getattr(metrics, "distributions", {}) or {}
    atomic_write_text(out / "distributions.json", json.dumps(distributions, indent=2, sort_keys=True))
    per_query = getattr(metrics, "per_query", None)
    if per_query is not None and len(per_query):
        atomic_write(out / "per_query.parquet", lambda tmp: per_query.to_parquet(tmp, index=False))
    written = write_plots(plain, distributions, out, ks) if plots else []
    markdown = render_markdown(plain, ks, [str(p) for p in written])
    atomic_write_text(out / "report.md", markdown + "\n")
    if tensorboard:
        write_tensorboard(plain, markdown, out / "tensorboard")
    return out / "report.md"
