"""Hybrid recommend after training: the co-occurrence table (`index/cooccurrence.py`) and the fusion
weight of the exported recommend, both chosen on the validation split.

1. EASE's λ (grid `EASE_L2_GRID`, extended while its best is at an end) for the best
   co-occurrence-only validation NDCG@10, the table fitted on the train split's events (item-kNN
   has no λ);
2. the fusion weight (grid `FUSION_GRID`, 0 = dense only ... 1 = co-occurrence only) for the best
   validation NDCG@10 of the fused ranking (`cooccurrence.hybrid_top_k`, the export's rule), ties
   to recall@10, then to the smaller weight;
3. the table refitted on the train + validation events with that λ (the test users' histories hold
   both, as EASE's baseline in `evaluate` is fitted on both) and saved as RUN/cooccurrence.npz;
   the report (`recommend_calibration` in run.json): both curves, the three validation rankings
   (hybrid, dense only, co-occurrence only), the table's method, size and why.

The grid spans the whole [0, 1] range, so its ends are real choices: 0 when the co-occurrence
signal adds nothing on validation, 1 when the dense model does. `train.recommend_fusion_weight`
≥ 0 fixes the weight (the curve is still reported).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from recsys_tf.atomic import atomic_write, atomic_write_text
from recsys_tf.training.config import ExperimentConfig
from recsys_tf.training.trained_run import (
    COOCCURRENCE_FILE,
    INFO_FILE,
    read_json,
    user_and_query_vectors,
)

CALIBRATION_ROWS = 20_000
"""Validation rows the grids are scored on (a seeded sample of bigger splits): at NDCG@10 ~0.05 their
standard error is ~0.0015, below the steps between neighbouring weights that matter."""


EXTEND_L2 = 3


def calibrate_recommend(model, config: ExperimentConfig, data_dir: Path, vocab, validation: dict, seen: dict,
                        validation_users: list, run_dir: Path, log=print) -> dict | None:
    """Fit and save the run's co-occurrence table and choose the recommend fusion weight (module
    docstring); None (dense recommend, nothing written) when `model.cooccurrence` is none, the
    recommend task is off, or there are no validation rows."""
    from recsys_tf.evaluation.events import read_eval_events
    from recsys_tf.index.cooccurrence import FUSION_GRID, interactions

    if config.model.cooccurrence == "none" or config.tasks.recommend <= 0 or not len(validation["target_item"]):
        return None
    started = time.time()
    n_items = len(vocab.items)
    events = read_eval_events(data_dir, vocab)
    history = events.history
    known = history.items > 0
    train = history.train & known
    rows = _sample(len(validation["target_item"]), config.train.seed)
    sample = {name: values[rows] for name, values in validation.items()}
    users, _ = user_and_query_vectors(model, sample, with_queries=False)
    exclude = [np.asarray(seen.get(validation_users[r], ()), np.int64) for r in rows]
    targets = sample["target_item"]
    log(f"recommend calibration: co-occurrence table and fusion weight on {len(rows):,} validation rows")
    train_matrix = interactions(history.rows[train], history.items[train], events.n_users, n_items)
    table, l2_curve = _best_table(config, train_matrix, sample["history_items"], users, targets, exclude, log)
    weight = config.train.recommend_fusion_weight
    grid = FUSION_GRID if weight < 0 else tuple(sorted({0.0, 1.0, float(weight)}))
    curve = _fusion_curve(model, table, sample, users, targets, exclude, grid, log)
    chosen = _best_weight(curve) if weight < 0 else float(weight)
    everything = interactions(history.rows[known], history.items[known], events.n_users, n_items)
    final = _fit(config, everything, table.report.get("l2"))
    atomic_write(run_dir / COOCCURRENCE_FILE, lambda tmp: final.save(tmp))
    rankings = {"hybrid": curve[_key(chosen)], "dense": curve[_key(0.0)], "cooccurrence": curve[_key(1.0)]}
    report = {"fusion_weight": chosen, "chosen_on": "validation NDCG@10" if weight < 0 else "configuration",
              "validation_rows": int(len(rows)), "fusion_curve": curve, "ease_l2_curve": l2_curve,
              "validation": rankings, "table": final.report, "seconds": round(time.time() - started, 1)}
    info_path = run_dir / INFO_FILE
    info = read_json(info_path)
    info["recommend_calibration"] = report
    atomic_write_text(info_path, json.dumps(info, indent=2, default=str))
    log(f"recommend calibrated in {report['seconds']:.0f} s: co-occurrence weight {chosen:g} "
        f"({final.report['method']}: {final.report['why']}; {final.report['bytes'] / 2 ** 20:.1f} MB); validation "
        + ", ".join(f"{name} NDCG@10 {value['ndcg@10']:.4f}" for name, value in rankings.items()))
    return report


def _sample(n: int, seed: int) -> np.ndarray:
    if n <= CALIBRATION_ROWS:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, CALIBRATION_ROWS, replace=False))


def _key(weight: float) -> str:
    return f"{float(weight):g}"


def _fit(config: ExperimentConfig, matrix, l2):
    from recsys_tf.index.cooccurrence import fit_cooccurrence, neighbours_for

    return fit_cooccurrence(matrix, config.model.cooccurrence, l2 if l2 is not None else 200.0,
                            neighbours_for(matrix.shape[1] - 1, config.model.cooccurrence_neighbours))


def _quality(top, targets) -> dict:
    from recsys_tf.evaluation.metrics import hit_metrics

    rows = hit_metrics(top, targets, [10])
    return {name: round(float(rows[name].mean()), 5) for name in ("recall@10", "ndcg@10")}


def _best_table(config, matrix, history, users, targets, exclude, log):
    """The train-split table with the λ of the best co-occurrence-only NDCG@10 (EASE), and the curve.
    The grid is extended (λ / 4 below, λ x 4 above, up to `EXTEND_L2` times) while its best λ is at an
    end, so the λ chosen is never the edge of the values tried."""
    from recsys_tf.index.cooccurrence import (
        EASE_L2_GRID,
        CooccurrenceIndex,
        choose_method,
        hybrid_top_k,
    )

    method, _ = choose_method(config.model.cooccurrence, int((np.asarray(matrix.sum(axis=0)).ravel()[1:] > 0).sum()))
    tables, curve = {}, {}
    no_items = np.zeros((matrix.shape[1], 1), np.float32)

    def trial(l2):
        started = time.time()
        table = _fit(config, matrix, l2)
        top = hybrid_top_k(users[:, :1], no_items, CooccurrenceIndex(table), history, 1.0, 10, exclude=exclude,
                           dense=False)
        tables[l2], curve[l2] = table, _quality(top, targets)
        if l2 is not None:
            log(f"  co-occurrence {table.report['method']} λ={l2:g}: validation NDCG@10 {curve[l2]['ndcg@10']:.4f} "
                f"({time.time() - started:.0f} s)")

    for l2 in EASE_L2_GRID if method == "ease" else (None,):
        trial(l2)
    for _ in range(EXTEND_L2 if method == "ease" else 0):
        best = max(curve, key=lambda l2: (curve[l2]["ndcg@10"], -l2))
        if best == min(curve):
            trial(best / 4)
        elif best == max(curve):
            trial(best * 4)
        else:
            break
    best = max(curve, key=lambda l2: (curve[l2]["ndcg@10"], -(l2 or 0)))
    return tables[best], {_key(l2): quality for l2, quality in sorted(curve.items()) if l2 is not None}


def _fusion_curve(model, table, sample, users, targets, exclude, grid, log) -> dict:
    """Validation quality of every fusion weight of `grid`."""
    from recsys_tf.index.cooccurrence import CooccurrenceIndex, hybrid_top_k
    from recsys_tf.training.trained_run import item_vectors

    tops = hybrid_top_k(users, item_vectors(model), CooccurrenceIndex(table), sample["history_items"], 0.0, 10,
                        exclude=exclude, weights=grid)
    curve = {_key(w): _quality(top, targets) for w, top in tops.items()}
    log("  fusion weight -> validation NDCG@10: " + ", ".join(f"{w}: {q['ndcg@10']:.4f}" for w, q in curve.items()))
    return curve


def _best_weight(curve: dict) -> float:
    """The weight of the best NDCG@10, then recall@10, then the smaller weight."""
    return float(min(curve, key=lambda w: (-curve[w]["ndcg@10"], -curve[w]["recall@10"], float(w))))


def recalibrate_run(run_dir: str | Path, log=print) -> dict | None:
    """`calibrate_recommend` for a finished run (e.g. one trained before hybrid recommend): its
    validation examples, seen items and best weights as training left them."""
    from recsys_tf.training.prepare import TrainingData
    from recsys_tf.training.trained_run import load_run

    run = load_run(run_dir)
    examples = Path(run.info["train_shards"])  # the examples directory the run trained from
    data = TrainingData.read(Path(run.data_dir), examples, run.dataset.items)
    return calibrate_recommend(run.model, run.config, Path(run.data_dir), run.vocab, data.validation, data.seen,
                               data.validation_users, Path(run_dir), log)
