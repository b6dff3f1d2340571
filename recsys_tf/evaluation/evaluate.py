"""`evaluate_run`: the model, its ablations and the baselines on the test split — same tasks, same
candidates (the full catalog), same metric code.

Tasks
- `recommend`: each test event is one query; its user's train + validation events before it are the
  history; the target is the test item. Items the user interacted with before are excluded
  (`include_seen=True` keeps them, as the TFRS tutorials do). Breakdowns: `recommend/cold_start_items/…`
  (target never seen in training) and `recommend/short_history/…` (fewer than SHORT_HISTORY distinct items in the history).
- `search`: test events with a query; the clicked item is relevant.
- `search_judged`: anonymous judged queries (judgments.parquet), graded NDCG — the *test* half of the
  queries (`evaluation/judgments.py`; the validation half calibrates the run's search text weight).
  Both search tasks break down by query language when the queries are in more than one
  (`search_judged/lang_zh/…`: the judgments' `language` tag, else the query's script).
- `related`: related items / bundles — the user's last purchase before the test event → the test
  item (the synthetic generator buys complements after purchases); the query item is excluded.
- `rating`: RMSE / MAE on test ratings.
- `recommend_new_items` (protocol `cold-start-items` only): as `recommend`, but the candidates are only
  the items with no event before the test period — "which new item?", the usual cold-start protocol.

Systems: `recsys_tf` (flat keys `recommend/recall@10`), `baselines/<name>/…` (popularity, item_knn,
ease, bm25, zero_shot_text) and `ablations/<name>/…` (other runs, e.g. the ID-only two-tower).

Protocol `tfrs` (on a `random` split) reports `recommend/hit_rate@K` with seen items NOT excluded and
`recommend_exclude_seen/hit_rate@K` with the user's training items excluded, over every test
interaction, plus `rating/rmse` — the TFRS tutorials' numbers.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys_tf.constants import BASELINES, DEFAULT_KS, PROTOCOLS, RETRIEVALS
from recsys_tf.errors import InputError
from recsys_tf.evaluation.baselines import (
    EASE,
    SPARSE_RANKING_ITEMS,
    BM25Search,
    FrequencyRecency,
    ItemKNN,
    Popularity,
    interaction_matrix,
    rank_sparse,
    top_k_from_scores,
)
from recsys_tf.evaluation.events import HISTORY_SPLITS, HistoryEvents, read_eval_events
from recsys_tf.evaluation.judgments import (
    graded_queries,
    judgment_half,
    language_segments,
    language_tags,
)
from recsys_tf.evaluation.metrics import (
    graded_ndcg,
    list_metrics,
    popularity_decile_share,
    ranking_metrics,
)
from recsys_tf.index.topk import rows_per_block, top_k_items

SHORT_HISTORY = 5          # users with fewer distinct history items form the `short_history` breakdown
LIST_METRIC_TASKS = ("recommend", "related")


class Evaluation(dict):
    """Flat metrics (`dict`), plus `per_query` (one row per task × system × query, the input of
    `compare_reports`) and `distributions` (plot data, e.g. popularity-decile shares)."""

    def __init__(self, metrics=None, per_query: pd.DataFrame | None = None, distributions: dict | None = None,
                 ks=DEFAULT_KS):
        super().__init__(metrics or {})
        self.per_query = per_query
        self.distributions = distributions or {}
        self.ks = tuple(ks)


@dataclasses.dataclass
class Task:
    name: str
    keys: np.ndarray                  # stable query keys (join key for --compare)
    users: np.ndarray                 # bootstrap unit
    relevant: object                  # int array (one target) or list of item-index collections
    exclude: list | None = None       # per query: item indices never returned
    segments: dict = dataclasses.field(default_factory=dict)
    grades: list | None = None        # graded judgments: item index -> relevance
    query_rows: np.ndarray | None = None  # rows of the test examples this task's queries come from
    query_items: np.ndarray | None = None  # related: the query item per query
    query_texts: list | None = None

    def exclude_matrix(self, n_items: int) -> sp.csr_matrix | None:
        if self.exclude is None:
            return None
        rows = np.concatenate([np.full(len(e), i) for i, e in enumerate(self.exclude)] or [np.zeros(0)])
        cols = np.concatenate([np.asarray(e) for e in self.exclude] or [np.zeros(0)])
        return sp.csr_matrix((np.ones(len(rows), np.float32), (rows.astype(int), cols.astype(int))),
                             shape=(len(self.exclude), n_items + 1))


def _query_keys(test: pd.DataFrame) -> np.ndarray:
    return (test["user_id"].astype(str) + "|" + test["timestamp"].astype(str) + "|" + test["item_id"].astype(str)
            + "|" + test.groupby(["user_id", "timestamp", "item_id"]).cumcount().astype(str)).to_numpy()


def _last_purchase(test: pd.DataFrame, test_rows: np.ndarray, history: HistoryEvents) -> np.ndarray:
    """Item index of each test event's user's last purchase before it (0 if none)."""
    bought = history.purchase
    left = pd.DataFrame({"user": test_rows, "timestamp": test["timestamp"].to_numpy(np.int64),
                         "row": np.arange(len(test))})
    right = pd.DataFrame({"user": history.rows[bought], "timestamp": history.times[bought],
                          "query_item": history.items[bought]})
    merged = pd.merge_asof(left.sort_values("timestamp"), right.sort_values("timestamp"), on="timestamp",
                           by="user", allow_exact_matches=False, direction="backward")
    return merged.sort_values("row")["query_item"].fillna(0).to_numpy(np.int64)


@dataclasses.dataclass
class EvalData:
    """The test queries and the interaction matrices every task, system and metric shares."""
    vocab: object
    catalog: object
    test: pd.DataFrame
    history: HistoryEvents        # the train + validation events as arrays (`evaluation/events.py`)
    n_users: int
    test_rows: np.ndarray         # user row of each test event
    hist_matrix: sp.csr_matrix    # users x (items + 1)
    query_history: sp.csr_matrix  # the test events' users' rows of hist_matrix
    train_counts: np.ndarray      # history events per item index
    targets: np.ndarray
    keys: np.ndarray
    test_users: np.ndarray
    k_max: int
    events_fingerprint: int       # of the events file (`prepare_examples.events_file_fingerprint`)
    ease_l2: float = 500.0        # EASE's λ, chosen on the validation split (`tune_ease_l2`)
    inputs: dict = dataclasses.field(default_factory=dict)  # run dir -> `inputs_of_test_events`, once computed

    @property
    def n_items(self) -> int:
        return len(self.vocab.items)


def eval_data(run, ks) -> EvalData:
    """The evaluation data of `run`'s dataset, read from its events file in batches (`read_eval_events`)."""
    from recsys_tf.features.catalog import Catalog

    vocab = run.vocab
    events = read_eval_events(run.data_dir, vocab)
    test, history = events.test, events.history
    if test.empty:
        raise InputError(f"{run.data_dir} has no test events. Fix: split with a test fraction > 0.")
    n_items = len(vocab.items)
    hist_matrix = interaction_matrix(history.rows, history.items, events.n_users, n_items)
    train_counts = np.bincount(history.items, minlength=n_items + 1).astype(np.float64)
    train_counts[0] = 0
    return EvalData(vocab, Catalog.from_items(run.dataset.items, vocab), test, history, events.n_users,
                    events.test_rows, hist_matrix, hist_matrix[events.test_rows], train_counts,
                    vocab.item_index(test["item_id"].to_numpy()), _query_keys(test),
                    test["user_id"].astype(str).to_numpy(), min(max(ks), n_items), events.fingerprint)


EASE_L2_GRID = (10.0, 50.0, 200.0, 500.0, 2000.0)


def tune_ease_l2(history: HistoryEvents, n_users: int, n_items: int, grid=EASE_L2_GRID,
                 k: int = 10) -> tuple[float, dict]:
    """EASE's λ with the best validation recall@k (history = the train split, queries = the validation
    events, seen items excluded), as a tuned baseline deserves; 500 when there is no validation split.
    Returns (λ, {λ: recall})."""
    train = history.train
    if train.all() or not train.any():
        return 500.0, {}
    matrix = interaction_matrix(history.rows[train], history.items[train], n_users, n_items)
    queries = matrix[history.rows[~train]]
    targets = history.items[~train]
    curve, rows = {}, score_rows(n_items)
    for l2 in grid:
        ease = EASE(matrix, l2)
        hits = _in_batches(lambda seen, target, ease=ease: (top_k_from_scores(ease.scores(seen), k, seen) == target[:, None]).any(axis=1),
                           queries, targets, batch_size=rows)
        curve[float(l2)] = float(hits.mean())
    return max(curve, key=curve.get), curve


def build_tasks(data: EvalData, judgments, protocol: str, include_seen: bool) -> list[Task]:
    """The queries of every task the protocol and the data allow (module docstring)."""
    test, keys, users, targets = data.test, data.keys, data.test_users, data.targets
    every = np.arange(len(test))
    seen_lists = np.split(data.query_history.indices, data.query_history.indptr[1:-1])  # each row's items
    history_length = np.asarray(data.query_history.sum(axis=1)).ravel()
    segments = {"cold_start_items": data.train_counts[targets] == 0, "short_history": history_length < SHORT_HISTORY}
    tasks: list[Task] = []
    if protocol == "tfrs":
        tasks.append(Task("recommend", keys, users, targets, None, segments, query_rows=every))
        tasks.append(Task("recommend_exclude_seen", keys, users, targets, seen_lists, segments, query_rows=every))
    else:
        tasks.append(Task("recommend", keys, users, targets, None if include_seen else seen_lists, segments,
                          query_rows=every))
        # buy again: the same queries with the user's own items allowed (repeat purchases); `repeat` =
        # the test events whose item the user had before
        repeat = np.asarray(data.query_history[every, targets]).ravel() > 0
        tasks.append(Task("buy_again", keys, users, targets, None, {"repeat": repeat}, query_rows=every))
    if protocol == "cold-start-items":
        # Which new item? Candidates = only the items without an event before the test period (as in
        # DropoutNet, Volkovs et al. 2017): the full-catalog task above also rewards a model for
        # ranking "new" items above known ones as a group, which every target is here.
        known = np.flatnonzero(data.train_counts[1:] > 0) + 1
        tasks.append(Task("recommend_new_items", keys, users, targets, [known] * len(test), query_rows=every))
    queries_text = test["query"].astype(str).to_numpy()
    search_rows = np.flatnonzero(queries_text != "")
    if len(search_rows):
        tasks.append(Task("search", keys[search_rows], users[search_rows], targets[search_rows],
                          segments=language_segments(queries_text[search_rows]),
                          query_rows=search_rows, query_texts=queries_text[search_rows].tolist()))
    last_purchase = _last_purchase(test, data.test_rows, data.history)
    related_rows = np.flatnonzero((last_purchase > 0) & (last_purchase != targets))
    if len(related_rows):
        query_items = last_purchase[related_rows]
        tasks.append(Task("related", keys[related_rows], users[related_rows], targets[related_rows],
                          [np.array([i]) for i in query_items], query_rows=related_rows, query_items=query_items))
    if judgments is not None and len(judgments):
        texts, grades = graded_queries(judgments, data.vocab)
        names = np.array(texts, dtype=object)
        tasks.append(Task("search_judged", names, names, [[i for i, r in g.items() if r > 0] for g in grades],
                          segments=language_segments(texts, language_tags(judgments, texts)),
                          grades=grades, query_texts=names.tolist()))
    return tasks


def build_systems(run, others: dict, data: EvalData, tasks: list[Task], chosen: tuple, retrieval: str,
                  batch_size: int, include_seen: bool) -> tuple[dict, dict]:
    """`systems`: name prefix -> ranker(task, exclude_matrix) -> top (None: the system cannot do the
    task); `extras`: prefix -> the model vectors (ratings) of the model and its ablations."""
    systems: dict[str, object] = {}
    extras: dict[str, dict] = {}
    n_items, k_max = data.n_items, data.k_max
    for prefix, trained in {"": run, **{f"ablations/{name}/": other for name, other in others.items()}}.items():
        vectors = _model_vectors(trained, data, tasks, batch_size)
        systems[prefix] = _vector_ranker(vectors, k_max, n_items, retrieval)
        extras[prefix] = vectors
    scored = {"popularity": lambda: Popularity(data.history.items, n_items),
              "item_knn": lambda: ItemKNN(data.hist_matrix), "ease": lambda: EASE(data.hist_matrix, data.ease_l2)}
    for name in (n for n in scored if n in chosen):
        systems[f"baselines/{name}/"] = _score_ranker(scored[name](), data.query_history, k_max, n_items)
    if "frequency_recency" in chosen:
        repeat_matrix = FrequencyRecency.repeat_matrix(data.history.rows, data.history.items, data.history.times,
                                                       data.n_users, n_items)
        systems["baselines/frequency_recency/"] = _score_ranker(
            FrequencyRecency(data.history.items, n_items), repeat_matrix[data.test_rows],
            k_max, n_items, tasks=("buy_again", "recommend") if include_seen else ("buy_again",))
    _search_systems(run, data, systems, extras[""])
    _recommend_systems(run, data, systems, extras[""])
    if "bm25" in chosen:
        systems["baselines/bm25/"] = _bm25_ranker(BM25Search(data.catalog.texts), k_max)
    if "zero_shot_text" in chosen:
        zero_shot = _zero_shot_vectors(run, data, tasks)
        if zero_shot is not None:
            systems["baselines/zero_shot_text/"] = _vector_ranker(zero_shot, k_max, n_items, "exact")
    return systems, extras


SEARCH_TASKS = ("search", "search_judged")


def _search_systems(run, data: EvalData, systems: dict, vectors: dict) -> None:
    """Search as exported: the run's hybrid ranking (`index/lexical.py::hybrid_top_k`, its fusion
    weight from run.json) replaces the dense one on the search tasks, and its two parts are reported
    beside it as `ablations/dense_search/` and `ablations/lexical_search/` (the in-graph BM25)."""
    from recsys_tf.index.lexical import FUSION_POOL, LexicalIndex, hybrid_top_k

    if run.model.query_tower is None or run.query_encoder is None:
        return
    lexical = LexicalIndex(data.catalog.texts)

    def rank(weight: float, task: Task):
        queries = vectors["queries"].get(task.name)
        if queries is None:
            return None
        return hybrid_top_k(queries, vectors["items"], lexical, task.query_texts, weight, data.k_max, FUSION_POOL)

    _add_fused(systems, SEARCH_TASKS, rank, run.fusion_weight, ("dense_search", "lexical_search"))


def _add_fused(systems: dict, tasks: tuple, rank, weight: float, parts: tuple[str, str]) -> None:
    """A hybrid ranking as the model's on `tasks` (`rank(weight, task)` -> top k, or None) when its
    `weight` > 0, with its parts beside it: `ablations/<parts[0]>/` = the model's dense ranking on
    those tasks, `ablations/<parts[1]>/` = the other signal alone (weight 1)."""
    dense = systems[""]

    def ranker(w: float, other):
        def ranked(task: Task, exclude_matrix):
            if task.name not in tasks:
                return other(task, exclude_matrix) if other is not None else None
            return rank(w, task)
        return ranked

    if weight > 0:
        systems[""] = ranker(weight, dense)
        systems[f"ablations/{parts[0]}/"] = lambda task, m: dense(task, m) if task.name in tasks else None
    systems[f"ablations/{parts[1]}/"] = ranker(1.0, None)


RECOMMEND_TASKS = ("recommend", "recommend_exclude_seen", "buy_again", "related")


def _recommend_systems(run, data: EvalData, systems: dict, vectors: dict) -> None:
    """Recommend as exported: with a co-occurrence table, the run's hybrid ranking
    (`index/cooccurrence.py::hybrid_top_k`, its fusion weight from run.json) replaces the dense one on
    the recommend tasks (buy again and related items too), and its two parts are reported beside it as
    `ablations/dense_recommend/` and `ablations/cooccurrence_recommend/`. `recommend_new_items` stays
    dense: new items have no co-occurrence."""
    from recsys_tf.index.cooccurrence import CooccurrenceIndex, hybrid_top_k

    table = run.cooccurrence
    if table is None:
        return
    index = CooccurrenceIndex(table)

    def rank(weight: float, task: Task):
        users = vectors["queries"].get(task.name)
        if users is None:
            return None
        return hybrid_top_k(users, vectors["items"], index, vectors["history"][task.name], weight, data.k_max,
                            exclude=task.exclude, boost=vectors["boost"].get(task.name))

    _add_fused(systems, RECOMMEND_TASKS, rank, run.recommend_fusion_weight, ("dense_recommend", "cooccurrence_recommend"))


def score(data: EvalData, tasks: list[Task], systems: dict, extras: dict, ks) -> tuple[dict, list, dict]:
    """Metrics of every system on every task: flat results, per-query rows, plot distributions."""
    results: dict[str, float] = {}
    rows = []
    distributions: dict[str, dict] = {}
    n_items, counts = data.n_items, data.train_counts
    # reference popularity = what users picked; on cold-start protocols that is 0 by construction,
    # so the catalog's mean popularity is used instead (never a division by ~0)
    target_popularity = float(counts[data.targets].mean())
    if target_popularity <= 0:
        target_popularity = float(counts[1:].mean()) or 1.0
    for task in tasks:
        exclude_matrix = task.exclude_matrix(n_items)
        for prefix, ranker in systems.items():
            top = ranker(task, exclude_matrix)
            if top is None:
                continue
            per_query = ranking_metrics(top, task.relevant, ks)
            if task.grades is not None:
                for k in ks:
                    per_query[f"ndcg@{k}"] = graded_ndcg(top, task.grades, k)
            for metric, values in per_query.items():
                results[f"{prefix}{task.name}/{metric}"] = float(np.mean(values))
            for segment, mask in task.segments.items():
                if mask.any():
                    for metric, values in per_query.items():
                        results[f"{prefix}{task.name}/{segment}/{metric}"] = float(np.mean(values[mask]))
            if task.name in LIST_METRIC_TASKS:
                results.update({f"{prefix}{task.name}/{metric}": value for metric, value in list_metrics(
                    top, ks, n_items, data.catalog.category, counts, data.n_users, target_popularity).items()})
                distributions.setdefault(f"{task.name}/popularity_decile_share@10", {})[prefix or "recsys_tf/"] = \
                    popularity_decile_share(top, counts, 10)
            frame = pd.DataFrame(per_query)
            for column, value in (("user", task.users), ("key", task.keys),
                                  ("system", (prefix or "recsys_tf/").rstrip("/")), ("task", task.name)):
                frame.insert(0, column, value)
            rows.append(frame)
        for segment, mask in task.segments.items():
            results[f"counts/{task.name}/{segment}"] = float(mask.sum())
        results[f"counts/{task.name}"] = float(len(task.keys))
        if task.name in LIST_METRIC_TASKS:
            distributions.setdefault(f"{task.name}/popularity_decile_share@10", {})["targets"] = \
                popularity_decile_share(np.asarray(task.relevant)[:, None], counts, 1)
    test = data.test
    has_rating = ~test["rating"].isna().to_numpy() if "rating" in test.columns else np.zeros(len(test), bool)
    for prefix, vectors in extras.items():
        predicted = vectors.get("ratings")
        if predicted is not None and has_rating.any():
            error = predicted[has_rating] - test["rating"].to_numpy(np.float64)[has_rating]
            results[f"{prefix}rating/rmse"] = float(np.sqrt(np.mean(error ** 2)))
            results[f"{prefix}rating/mae"] = float(np.mean(np.abs(error)))
            rows.append(pd.DataFrame({"task": "rating", "system": (prefix or "recsys_tf/").rstrip("/"),
                                      "key": data.keys[has_rating], "user": data.test_users[has_rating],
                                      "squared_error": error ** 2, "absolute_error": np.abs(error)}))
    return results, rows, distributions


def evaluate_run(run_dir: str | Path, data_dir: str | Path | None = None, ks=DEFAULT_KS, include_seen: bool = False,
                 baselines: bool | tuple = True, batch_size: int = 512, protocol: str = "temporal-last",
                 ablations: dict | None = None, retrieval: str = "exact", progress: bool = False,
                 strict_text: bool = False, log=print) -> Evaluation:
    """Evaluate `run_dir` (and `ablations` = {name: other run dir}) against the baselines: the
    tasks (`build_tasks`), the systems that rank them (`build_systems`), the metrics (`score`).

    `baselines`: True (all of BASELINES), False, or a tuple of names. `retrieval`: `exact` (batched
    matmul + top-k over every item) or `scann` (the TFRS ScaNN index the export would use).
    `strict_text` (or the run's `text.strict_coverage`): poor [UNK] coverage of the run's text or of
    the evaluated queries is an error instead of a warning (`text_coverage/...` in the metrics)."""
    if protocol not in PROTOCOLS:
        raise InputError(f"`protocol` must be one of {PROTOCOLS}. Received: protocol={protocol!r}.")
    if retrieval not in RETRIEVALS:
        raise InputError(f"`retrieval` must be one of {RETRIEVALS}. Received: retrieval={retrieval!r}.")
    chosen = BASELINES if baselines is True else tuple(baselines or ())
    unknown = sorted(set(chosen) - set(BASELINES))
    if unknown:
        raise InputError(f"Unknown baselines {unknown}. Fix: choose from {list(BASELINES)} or `all`.")
    ks = tuple(sorted(set(int(k) for k in ks)))
    from recsys_tf.training.trained_run import load_run

    run = load_run(run_dir, data_dir)
    others = {}
    for name, path in (ablations or {}).items():
        others[name] = load_run(path, run.data_dir)
        if list(others[name].vocab.items) != list(run.vocab.items):
            raise InputError(f"Ablation run {path} was trained on a different item vocabulary than {run_dir}. "
                             "Fix: train both runs on the same dataset directory.")
    data = eval_data(run, ks)
    results_params = {}
    if "ease" in chosen:
        data.ease_l2, curve = tune_ease_l2(data.history, data.n_users, data.n_items)
        results_params = {"params/ease/l2": data.ease_l2,
                          **{f"params/ease/validation_recall@10/l2={k:g}": v for k, v in curve.items()}}
    # the validation half of the judgments may have tuned the run: reports use the test half
    tasks = build_tasks(data, judgment_half(run.dataset.judgments, "test"), protocol, include_seen)
    results_params.update(_text_coverage(run, tasks, strict_text or run.config.text.strict_coverage, log))
    if run.cooccurrence is not None:
        results_params["params/recommend/fusion_weight"] = run.recommend_fusion_weight
    systems, extras = build_systems(run, others, data, tasks, chosen, retrieval, batch_size, include_seen)
    results, rows, distributions = score(data, tasks, systems, extras, ks)
    results.update(results_params)
    results["protocol"] = protocol
    results["counts/test_events"] = float(len(data.test))
    results["counts/search_events"] = float(sum(len(t.keys) for t in tasks if t.name == "search"))
    per_query = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return Evaluation(results, per_query, distributions, ks)


def _text_coverage(run, tasks: list[Task], strict: bool, log) -> dict:
    """The run's recorded [UNK] coverage (warned again) and that of the queries evaluated here, as
    `text_coverage/...` metrics; {} for a run without text."""
    from recsys_tf.text.coverage import check_text_coverage, coverage_metrics, warn_recorded

    if run.item_encoder is None:
        return {}
    recorded = run.info.get("text_coverage") or {}
    warn_recorded(recorded, run.config.text.preset, strict, log, "evaluate")
    queries = sorted({q for task in tasks if task.query_texts for q in task.query_texts})
    evaluated = check_text_coverage(run.item_encoder, {"evaluated queries": queries}, strict, log) if queries else {}
    return coverage_metrics({**recorded, **evaluated})


def inputs_of_test_events(run, data: EvalData) -> dict:
    """The model inputs of every test event, in event order (`data.test`'s rows); `query_index` i > 0
    points to `queries[i - 1]` of the result's "queries" entry. They are the test split of the
    examples the run trained from when those are this data's (checked as `train --examples` checks
    them: events, catalog, `max_history`, user buckets) — read block by block — else they are built
    from the events, the train + validation ones read whole (evaluating a run on other data: prepare
    examples of big data with `recsys-tf data prepare` and train on them)."""
    from recsys_tf.data.schema import EVENTS_FILE
    from recsys_tf.features import shards
    from recsys_tf.features.examples import build_examples
    from recsys_tf.features.prepare_examples import distinct_queries
    from recsys_tf.training.prepare import examples_problem

    if str(run.path) in data.inputs:  # per run: an ablation may have its own max_history and user buckets
        return data.inputs[str(run.path)]
    recorded = run.info.get("train_shards")
    if recorded and (Path(recorded) / shards.MANIFEST_FILE).exists() and examples_problem(
            Path(recorded), run.dataset.items, run.config, data.events_fingerprint) is None:
        loaded = shards.load_split(recorded, "test")
        inputs = {k: v for k, v in loaded.items() if k not in shards.BOOKKEEPING_FEATURES}
        inputs["queries"] = json.loads((Path(recorded) / shards.QUERIES_FILE).read_text())
    else:
        queries = distinct_queries(data.test["query"])
        history = pd.read_parquet(Path(run.data_dir) / EVENTS_FILE, filters=[("split", "in", list(HISTORY_SPLITS))])
        inputs = build_examples(data.test, history, run.vocab, run.config.model.max_history,
                                {q: i + 1 for i, q in enumerate(queries)})
        inputs["queries"] = queries
    if len(inputs["target_item"]) != len(data.test):
        raise InputError(f"{recorded}: {len(inputs['target_item'])} test examples for {len(data.test)} test events. "
                         f"Fix: rerun `recsys-tf data prepare {run.data_dir} --out {recorded}`.")
    data.inputs[str(run.path)] = inputs
    return inputs


def used_queries(query_index: np.ndarray, queries: list[str]) -> tuple[list[str], np.ndarray]:
    """(the texts that rows' `query_index` (i > 0: `queries[i - 1]`) use, in index order; the rows'
    indices into those texts, the same way: 0 = no query)."""
    used = np.unique(query_index[query_index > 0])
    return [queries[i - 1] for i in used], (np.searchsorted(used, query_index) + (query_index > 0)).astype(np.int32)


def _model_vectors(run, data: EvalData, tasks, batch_size) -> dict:
    """Item vectors and the query vectors of every task for one trained model."""
    import tensorflow as tf

    from recsys_tf.index.lexical import fold_full_width
    from recsys_tf.text.embedding_cache import encode_texts
    from recsys_tf.training.trained_run import user_and_query_vectors

    model, query_encoder = run.model, run.query_encoder
    inputs = inputs_of_test_events(run, data)
    examples = {k: v for k, v in inputs.items() if k != "queries"}
    texts, examples["query_index"] = used_queries(examples["query_index"], inputs["queries"])  # encode only these
    item_vectors = run.item_vectors()
    has_query_tower = model.query_tower is not None and query_encoder is not None
    query_vectors = np.zeros((len(texts) + 1, model.query_tower.text_dim if model.query_tower else 1), np.float32)
    if has_query_tower and texts:
        query_vectors[1:] = encode_texts(query_encoder, fold_full_width(texts))
    users, searches = user_and_query_vectors(model, examples, batch_size, query_vectors if has_query_tower else None)
    # "history": the items each task's co-occurrence scores read (hybrid recommend): the newest
    # max_history known items the export would see, or the query item of `related`
    out = {"items": item_vectors, "queries": {}, "boost": {}, "history": {}}
    if model.repeat_head is not None:
        offsets = _in_batches(lambda items: model.repeat_head.history_bonus(items).numpy(), examples["history_items"])
    for task in tasks:
        if task.name.startswith("recommend") or task.name == "buy_again":
            out["queries"][task.name] = users[task.query_rows]
            out["history"][task.name] = examples["history_items"][task.query_rows]
            if model.repeat_head is not None:
                out["boost"][task.name] = (examples["history_items"][task.query_rows], offsets[task.query_rows])
        elif task.name == "search" and searches is not None:
            out["queries"][task.name] = searches[task.query_rows]
        elif task.name == "related":
            out["queries"][task.name] = item_vectors[task.query_items]
            out["history"][task.name] = np.asarray(task.query_items)[:, None]
        elif task.name == "search_judged" and has_query_tower:
            out["queries"][task.name] = run.query_vectors(task.query_texts)
    if model.rating_head is not None:
        out["ratings"] = _in_batches(lambda user, item, user_bin: model.rating_head(
            tf.constant(user), tf.constant(item_vectors[item]), tf.constant(user_bin), tf.constant(item)).numpy().ravel(),
            users, examples["target_item"], examples["user_bin"])
    return out


ROW_BATCH = 8192  # test rows per head call: a head's intermediate tensors grow with the rows


def _in_batches(function, *arrays, batch_size: int = ROW_BATCH) -> np.ndarray:
    """`function` over `batch_size` rows of `arrays` (NumPy or SciPy sparse) at a time, the results
    concatenated."""
    return np.concatenate([function(*(array[start:start + batch_size] for array in arrays))
                           for start in range(0, arrays[0].shape[0], batch_size)])


def _zero_shot_vectors(run, data: EvalData, tasks) -> dict | None:
    """Pretrained text encoder only: item = text vector, user = mean of history item vectors,
    query = query text vector, cosine similarity. None when the run has no text preset."""
    from recsys_tf.text.embedding_cache import EmbeddingCache
    from recsys_tf.text.presets import PresetError
    from recsys_tf.training.prepare import text_encoders

    config = run.config
    frozen = dataclasses.replace(config, model=dataclasses.replace(config.model, use_text=True),
                                 text=dataclasses.replace(config.text, mode="frozen"))
    try:
        item_encoder, query_encoder = text_encoders(frozen)
    except PresetError as error:
        print(f"zero_shot_text baseline skipped: {error}")
        return None
    cache_dir, texts = run.cache_dir, data.catalog.texts
    items = np.zeros((data.n_items + 1, item_encoder.output_dim), np.float32)
    items[1:] = EmbeddingCache(item_encoder, cache_dir).encode(texts, progress=len(texts) > 512)
    items /= np.maximum(np.linalg.norm(items, axis=1, keepdims=True), 1e-12)
    history = items[inputs_of_test_events(run, data)["history_items"]].sum(axis=1)
    history /= np.maximum(np.linalg.norm(history, axis=1, keepdims=True), 1e-12)
    out = {"items": items, "queries": {}}
    for task in tasks:
        if task.name.startswith("recommend") or task.name == "buy_again":
            out["queries"][task.name] = history[task.query_rows]
        elif task.name == "related":
            out["queries"][task.name] = items[task.query_items]
        elif task.query_texts:
            out["queries"][task.name] = EmbeddingCache(query_encoder, cache_dir).encode(task.query_texts)
    return out


def _vector_ranker(vectors: dict, k: int, n_items: int, retrieval: str):
    index = None

    def rank(task: Task, exclude_matrix):
        nonlocal index
        queries = vectors["queries"].get(task.name)
        if queries is None:
            return None
        boost = vectors.get("boost", {}).get(task.name)
        if retrieval == "exact":
            return top_k_items(queries, vectors["items"], k, exclude=task.exclude, boost=boost)[0]
        if index is None:
            from recsys_tf.index.build import build_index

            index = build_index("scann", vectors["items"][1:], np.arange(1, n_items + 1), k=k)
        return _index_top_k(index, queries, k, task.exclude, boost, vectors["items"])

    return rank


def _index_top_k(index, queries, k, exclude, boost=None, item_vectors=None) -> np.ndarray:
    """Top k from an approximate index, asking for k + |excluded| and filtering (as serving does);
    with `boost` (history items and their offsets) the history items are scored exactly with their
    offset and merged with the index's candidates (as serving's `include_history` does)."""
    extra = max((len(e) for e in exclude), default=0) if exclude is not None else 0
    scores, ids = index(np.asarray(queries, np.float32), k=k + extra)
    scores, ids = scores.numpy(), ids.numpy().astype(np.int64)
    out = np.zeros((len(ids), k), np.int64)
    for row, found in enumerate(ids):
        value = scores[row]
        if boost is not None:
            own = np.unique(boost[0][row][boost[0][row] > 0])
            offset = dict(zip(boost[0][row], boost[1][row]))
            keep = ~np.isin(found, own)
            found = np.concatenate([found[keep], own])
            value = np.concatenate([value[keep], item_vectors[own] @ queries[row] + [offset[i] for i in own]])
            found = found[np.argsort(-value, kind="stable")]
        if exclude is not None and len(exclude[row]):
            found = found[~np.isin(found, exclude[row])]
        out[row, :min(k, len(found))] = found[:k]
    return out


SCORE_BATCH = 2048  # query rows an interaction baseline scores at once (fewer for big catalogs: `score_rows`)


def score_rows(n_items: int) -> int:
    """Rows per block of an interaction baseline's scores: the scores, `top_k_from_scores`' float32
    copy, its negation and argpartition's int64 indices take 24 bytes a score."""
    return rows_per_block(n_items, SCORE_BATCH, 24)


def _score_ranker(baseline, query_history, k: int, n_items: int, tasks=None):
    """Top k of an interaction-score baseline; `tasks`: the only tasks it reports (None = all it can)."""
    def rank(task: Task, exclude_matrix):
        if task.name == "recommend_new_items" or (tasks is not None and task.name not in tasks):
            return None  # scores from interactions are 0 for every new item: no ranking to report
        if task.name.startswith("recommend") or task.name == "buy_again":
            queries = query_history[task.query_rows]
        elif task.name == "related":
            queries = sp.csr_matrix((np.ones(len(task.query_items), np.float32),
                                     (np.arange(len(task.query_items)), task.query_items)),
                                    shape=(len(task.query_items), n_items + 1))
        else:
            return None
        exclude = sp.csr_matrix(exclude_matrix) if exclude_matrix is not None else None
        sparse = n_items > SPARSE_RANKING_ITEMS and hasattr(baseline, "sparse_scores")
        rows = SCORE_BATCH if sparse else score_rows(n_items)
        tops = []
        for start in range(0, queries.shape[0], rows):
            block = queries[start:start + rows]
            banned = exclude[start:start + rows] if exclude is not None else None
            tops.append(rank_sparse(baseline.sparse_scores(block), k, banned, baseline.fallback, block.shape[0])
                        if sparse else top_k_from_scores(baseline.scores(block), k, banned))
        return np.concatenate(tops) if tops else np.zeros((0, k), np.int64)

    return rank


def _bm25_ranker(bm25: BM25Search, k: int):
    def rank(task: Task, exclude_matrix):
        if not task.query_texts:
            return None
        return bm25.top_k(list(task.query_texts), k)

    return rank


from recsys_tf.evaluation.report import write_report  # noqa: E402  (re-exported: evaluate + report in one import)

__all__ = ["DEFAULT_KS", "PROTOCOLS", "BASELINES", "Evaluation", "evaluate_run", "graded_ndcg", "write_report"]
