"""`train_run`, the `recsys-tf train` job. The run directory's layout and `load_run` live in
`recsys_tf/training/trained_run.py`.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import time
from pathlib import Path

from recsys_tf.atomic import atomic_write, atomic_write_text
from recsys_tf.data.schema import Dataset
from recsys_tf.errors import InputError
from recsys_tf.training.config import ExperimentConfig
from recsys_tf.training.trained_run import (
    BACKUP_DIR,
    BEST_WEIGHTS,
    CONFIG_FILE,
    INFO_FILE,
    VOCAB_FILE,
    item_vectors,
    load_run,
    load_weights,
    read_config,
    read_json,
    text_cache_dir,
)

__all__ = ["train_run", "load_run", "calibrate_search", "has_training_queries", "query_student_layers"]


def train_run(data_dir: str | Path, run_dir: str | Path, config: ExperimentConfig, log=print,
              examples_dir: str | Path | None = None) -> dict:
    """Train a run from a split dataset. Training streams the examples `recsys-tf data prepare`
    writes: those in `examples_dir`, else the run's own in RUN/examples (written first)."""
    from recsys_tf.locking import run_lock
    from recsys_tf.training.strategy import choose_strategy
    from recsys_tf.training.trainer import is_chief

    # MultiWorkerMirroredStrategy must exist before any other TensorFlow op runs in the process
    strategy = choose_strategy(config.train.strategy)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # the chief holds the run directory (the other workers of a multi-worker job share it)
    with run_lock(run_dir, "train") if is_chief() else contextlib.nullcontext():
        return _train(Path(data_dir), run_dir, config, strategy, log, examples_dir)


def _checked_data(data_dir: Path, run_dir: Path, config: ExperimentConfig):
    """(the catalog, the events fingerprint of a resumed run else None), after checking the events
    are split and, for a resumed run, that its data and configuration are the ones it started with
    (before anything is written)."""
    from recsys_tf.data.schema import read_items
    from recsys_tf.features.prepare_examples import event_file_layout, events_file_fingerprint
    from recsys_tf.training.prepare import data_fingerprint

    items = read_items(data_dir)
    event_file_layout(data_dir)  # fails with the fix when the events are not split
    if not (run_dir / BACKUP_DIR).exists():
        return items, None
    events_hash = events_file_fingerprint(data_dir)
    _refuse_mixed_resume(run_dir, config, data_fingerprint(items, events_hash))
    return items, events_hash


def _train(data_dir: Path, run_dir: Path, config: ExperimentConfig, strategy, log, examples_dir) -> dict:
    import keras

    from recsys_tf.features.prepare_examples import events_file_queries
    from recsys_tf.training.builder import build_model
    from recsys_tf.training.prepare import (
        TrainingData,
        data_fingerprint,
        prepare,
        text_encoders,
        training_examples,
    )
    from recsys_tf.training.strategy import set_mixed_precision
    from recsys_tf.training.trainer import Trainer, is_chief

    items, events_hash = _checked_data(data_dir, run_dir, config)
    keras.utils.set_random_seed(config.train.seed)
    policy = set_mixed_precision(config.train.mixed_precision, strategy)
    if config.train.batch_size % strategy.num_replicas_in_sync:
        raise InputError(f"`train.batch_size` ({config.train.batch_size}) must be divisible by the number of "
                         f"replicas ({strategy.num_replicas_in_sync}). Fix: --set train.batch_size=...")
    log(f"strategy: {type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s); precision {policy}")
    with strategy.scope():
        item_encoder, query_encoder = text_encoders(config)
    coverage = _text_coverage(items, events_file_queries(data_dir) if item_encoder else [], item_encoder, config, log)
    examples, events_hash = training_examples(data_dir, run_dir, config, items, examples_dir, is_chief(), log,
                                              events_hash)
    data, fingerprint = TrainingData.read(data_dir, examples, items), data_fingerprint(items, events_hash)
    has_queries = bool(data.train_queries)
    if not has_queries and config.tasks.search > 0 and config.model.use_text:
        log("search: the training data has no search queries, so no query encoder is distilled and no search "
            "loss is computed; search signatures encode queries with the text tower itself")
    if query_student_layers(config, item_encoder, has_queries):
        # outside the strategy scope: the student is trained by its own loop and only encodes queries
        # (frozen mode); every worker distills the same student from the same seed and data
        query_encoder = distilled_query_encoder(config, data.train_queries, data.items, item_encoder, query_encoder,
                                                run_dir, log)
    with strategy.scope():
        prepared = prepare(data, config, run_dir, item_encoder, query_encoder)
        model = build_model(config, prepared.vocab, prepared.catalog, prepared.text_vectors,
                            prepared.sampling_probability, prepared.rating_mean, item_encoder, query_encoder,
                            rating_range=prepared.rating_range, search_rows=has_queries)
    if is_chief():
        _write_run_files(run_dir, config, prepared, data_dir, strategy, policy, item_encoder, coverage,
                         fingerprint, has_queries)
    trainer = Trainer(model, config, strategy, run_dir, prepared, data.validation_users)
    trainer.logger.hparams(_hparams(config))
    result = trainer.fit(log=log)
    if is_chief():
        _finish(trainer, data, prepared, config, item_encoder, query_encoder, run_dir, log, data_dir)
    elif examples_dir is None:  # a non-chief worker's own copy of the examples (`training_examples`)
        shutil.rmtree(data.examples_dir.parent, ignore_errors=True)
    return result


def _finish(trainer, data, prepared, config: ExperimentConfig, item_encoder, query_encoder, run_dir: Path, log,
            data_dir: Path):
    """The chief's last steps: the best weights back in the model, search calibration, hybrid
    recommend's co-occurrence table and fusion weight, the projector."""
    from recsys_tf.evaluation.judgments import search_validation_from
    from recsys_tf.training.recommend_calibration import calibrate_recommend

    model, catalog = trainer.model, prepared.catalog
    load_weights(model, run_dir / BEST_WEIGHTS)
    if config.train.calibrate_search_text:
        calibrate_search(model, query_encoder, search_validation_from(data.judgments, data.validation_search_clicks()),
                         prepared.vocab, run_dir, log, catalog.texts, config.train.fusion_weight,
                         item_encoder if config.text.mode == "frozen" else None)
    calibrate_recommend(model, config, data_dir, prepared.vocab, data.validation, data.seen, data.validation_users,
                        run_dir, log)
    trainer.logger.projector(item_vectors(model)[1:], list(zip(catalog.item_ids, catalog.titles, catalog.categories)))
    trainer.logger.flush()


def _text_coverage(items, queries: list[str], item_encoder, config: ExperimentConfig, log) -> dict | None:
    """[UNK] coverage of the item titles, descriptions and queries under the text checkpoint
    (`text.strict_coverage` fails on poor coverage before any encoding)."""
    if item_encoder is None:
        return None
    from recsys_tf.text.coverage import check_text_coverage

    fields = {f"item {c}s": items[c].fillna("").astype(str).tolist() for c in ("title", "description")
              if c in items.columns}
    if queries:
        fields["queries"] = list(queries)
    return check_text_coverage(item_encoder, fields, strict=config.text.strict_coverage, log=log)


def _refuse_mixed_resume(run_dir: Path, config: ExperimentConfig, data_fingerprint: str) -> None:
    """A run directory with a backup resumes; refuse it, before anything is written, when its saved
    configuration or the fingerprint of the data it was trained on differs."""
    saved_config = run_dir / CONFIG_FILE
    if not (run_dir / BACKUP_DIR).exists():
        return
    if saved_config.exists():
        saved, wanted = read_config(run_dir).to_dict(), config.to_dict()
        if saved != wanted:
            changed = [f"{section}.{key}: {saved[section].get(key)!r} (run) vs {wanted[section].get(key)!r} (now)"
                       for section in sorted(wanted) for key in sorted(set(saved[section]) | set(wanted[section]))
                       if saved[section].get(key) != wanted[section].get(key)]
            raise InputError(f"{run_dir} holds a run with a different configuration ({'; '.join(changed[:5])}"
                             f"{'; …' if len(changed) > 5 else ''}); resuming it with this one would mix two "
                             "experiments. Fix: use a new --out, or the same config to resume.")
    info_path = run_dir / INFO_FILE
    recorded = read_json(info_path).get("data_fingerprint") if info_path.exists() else None
    if recorded is not None and recorded != data_fingerprint:
        raise InputError(f"{run_dir} was trained on other data (data fingerprint {recorded}, this data "
                         f"{data_fingerprint}); resuming would mix two data sets. Fix: use a new --out, or "
                         "the data the run started with.")


def _hparams(config: ExperimentConfig) -> dict:
    """The hyperparameters shown in TensorBoard's HParams dashboard."""
    as_dict = config.to_dict()
    return {**{f"model.{k}": v for k, v in as_dict["model"].items()},
            **{f"text.{k}": v for k, v in as_dict["text"].items()},
            "train.learning_rate": config.train.learning_rate,
            "train.lr_schedule": config.train.lr_schedule,
            "train.ema_momentum": config.train.ema_momentum,
            "train.batch_size": config.train.batch_size}


def _write_run_files(run_dir: Path, config, prepared, data_dir, strategy, policy, item_encoder,
                     coverage: dict | None, data_fingerprint: str, search_rows: bool) -> None:
    """config.yaml, vocab.json and run.json of a starting (or resuming) run."""
    config.save(run_dir / CONFIG_FILE)
    prepared.vocab.save(run_dir / VOCAB_FILE)
    info = {"data_dir": str(Path(data_dir).resolve()), "data_fingerprint": data_fingerprint,
            "strategy": type(strategy).__name__,
            "replicas": strategy.num_replicas_in_sync, "precision": policy,
            "text_preset": item_encoder.preset if item_encoder is not None else None,
            "train_examples": prepared.train_examples,
            "train_shards": str(prepared.train_shards.resolve()), "search_rows": search_rows,
            "text_coverage": coverage,
            "validation_examples": int(len(prepared.validation["target_item"])),
            "items": prepared.catalog.size, "rating_range": prepared.rating_range,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_text(run_dir / INFO_FILE, json.dumps(info, indent=2))


def calibrate_search(model, query_encoder, search_queries: tuple, vocab, run_dir: Path, log=print,
                     catalog_texts: list[str] | None = None, fusion_weight: float = -1.0,
                     item_encoder=None) -> dict | None:
    """Choose the search text weight and the hybrid fusion weight of the best weights on the run's
    validation queries (`search_queries`: `evaluation/judgments.py::search_validation`'s (judgments,
    source): the judged validation half, else validation search clicks), save the weights back (atomically) and record the report in run.json
    as `search_calibration` (the export reads its fusion weight from there). `catalog_texts` (the
    texts the lexical index is built over, in vocabulary order) None or `fusion_weight` 0: dense
    search only. Idempotent: a run calibrated before starts again from its trained weight."""
    from recsys_tf.evaluation.judgments import calibrate_search as choose
    from recsys_tf.index.lexical import LexicalIndex

    validation, source = search_queries
    if model.query_tower is None or validation is None or not len(validation):
        return None
    info_path = run_dir / INFO_FILE
    info = read_json(info_path)
    earlier = info.get("search_calibration")
    skip = getattr(model.query_tower, "skip_weight", None)
    if earlier and skip is not None and abs(float(skip.numpy()) - earlier["text_weight"]["calibrated"]) < 1e-6:
        skip.assign(earlier["text_weight"]["trained"])
    lexical = LexicalIndex(catalog_texts) if catalog_texts is not None and fusion_weight != 0 else None
    report = choose(model, query_encoder, validation, vocab, lexical, texts_source=source,
                    fusion_weight=fusion_weight, item_encoder=item_encoder)
    if report is None:
        return None
    atomic_write(run_dir / BEST_WEIGHTS, lambda tmp: model.save_weights(str(tmp)))
    info["search_calibration"] = report
    atomic_write_text(info_path, json.dumps(info, indent=2, default=str))
    log(f"search calibrated: {report['why']}")
    return report


def has_training_queries(dataset: Dataset) -> bool:
    """Whether any training event carries a search query (else the search task has no rows)."""
    train = dataset.split("train")
    return "query" in train.columns and bool((train["query"].astype(str) != "").any())


def query_student_layers(config: ExperimentConfig, item_encoder, has_queries: bool = True) -> int:
    """Depth of the run's distilled query encoder, 0 = none (queries use the text tower itself).
    `text.query_encoder_layers` -1 (default) = half the tower's depth, rounded up, in frozen mode
    (MiniLM: 3 of 6); a depth >= the tower's means the tower itself. None without the search task
    (no query tower, nothing would use it) or without training queries (the query tower trains on
    none, so the student would cost minutes of distillation for nothing)."""
    if (item_encoder is None or config.text.mode != "frozen" or config.tasks.search <= 0 or not config.model.use_text
            or not has_queries):
        return 0
    depth = int(item_encoder.backbone.get_config()["num_layers"])
    layers = config.text.query_encoder_layers
    layers = (depth + 1) // 2 if layers == -1 else layers
    return layers if 0 < layers < depth else 0


def distilled_query_encoder(config: ExperimentConfig, train_queries: list[str], items, item_encoder, teacher,
                            run_dir: Path, log=print):
    """The run's distilled query encoder: loaded from RUN when it was made with these settings (a
    resumed run); else copied from the text cache (`CACHE/query_encoders/<key>/`) when another run
    distilled it from the same teacher weights, texts, depth, steps and seed; else distilled from
    `teacher` on the training queries (in event order) and the catalog's texts and saved in RUN (query_encoder.npz +
    query_encoder.json) and in the cache."""
    import hashlib

    from recsys_tf.features.catalog import item_text
    from recsys_tf.text.distill import (
        INFO_FILE,
        distill_query_encoder,
        load_query_encoder,
        query_like_texts,
        save_query_encoder,
    )
    from recsys_tf.text.embedding_cache import encoder_fingerprint
    from recsys_tf.training.prepare import encode_with_cache
    from recsys_tf.training.trainer import is_chief

    layers, steps = query_student_layers(config, item_encoder, bool(train_queries)), config.text.query_distill_steps
    texts = query_like_texts(list(train_queries), item_text(items), seed=config.train.seed)
    digest = hashlib.sha256("\n".join(texts).encode("utf-8", "surrogatepass")).hexdigest()
    wanted = {"num_layers": layers, "steps": steps, "seed": config.train.seed, "texts_sha256": digest}
    info_path = run_dir / INFO_FILE
    if info_path.exists():
        info = read_json(info_path)
        if all(info.get(key) == value for key, value in wanted.items()):
            log(f"query encoder: reusing the {layers}-layer student distilled earlier ({info_path})")
            return load_query_encoder(teacher, run_dir, layers)
    cache_dir = text_cache_dir(config, run_dir)
    # Distillation is deterministic in (teacher weights, texts, depth, steps, seed), so other runs on
    # the same data share the student through the text cache (176 s of the demo training on 2 cores).
    shared = cache_dir / "query_encoders" / hashlib.sha256(json.dumps(
        {**wanted, "teacher": encoder_fingerprint(teacher)}, sort_keys=True).encode()).hexdigest()[:20]
    if (shared / INFO_FILE).exists():
        if is_chief():
            _copy_student(shared, run_dir)
        log(f"query encoder: reusing the {layers}-layer student of an earlier run with the same settings ({shared})")
        return load_query_encoder(teacher, shared, layers)
    targets = encode_with_cache(teacher, texts, cache_dir)
    student, info = distill_query_encoder(teacher, texts, num_layers=layers, steps=steps, seed=config.train.seed,
                                          teacher_vectors=targets, log=log)
    info.update(wanted)
    if is_chief():
        save_query_encoder(student, info, run_dir)
        shared.mkdir(parents=True, exist_ok=True)
        _copy_student(run_dir, shared)
    return student


def _copy_student(source: Path, target: Path) -> None:
    """Copy a saved query encoder: the weights first, the report (the reuse marker) last, atomically."""
    import shutil

    from recsys_tf.text.distill import INFO_FILE, WEIGHTS_FILE

    for name in (WEIGHTS_FILE, INFO_FILE):
        atomic_write(target / name, lambda tmp, name=name: shutil.copyfile(source / name, tmp))
