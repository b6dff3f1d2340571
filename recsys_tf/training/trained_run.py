"""The run directory: the one module that names its files, and `TrainedRun`, a trained model with
everything needed to use it (configuration, vocabularies, dataset, text encoders).

RUN/
  config.yaml            resolved ExperimentConfig
  run.json               data directory, strategy, replicas, text preset, counts; search_calibration
                         (the query text weight chosen on the validation judgments)
  vocab.json             vocabularies (item ids, categories, brands, devices, user hash bins)
  best.weights.h5        weights of the best validation epoch (last.weights.h5: the final ones)
  history.json           per-epoch losses and validation metrics
  checkpoints/backup/    crash-recovery checkpoint (model + optimizer + position)
  logs/                  TensorBoard: train/, validation/, projector/
  text_cache/            frozen-mode embedding cache (unless text.cache_dir names another)
  query_encoder.npz/.json   the distilled query encoder's blocks and its distillation report
  cooccurrence.npz       hybrid recommend's item-to-item table (`index/cooccurrence.py`); its report
                         and fusion weight: run.json `recommend_calibration`
"""
from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np

from recsys_tf.data.schema import Dataset, DatasetError, read_dataset
from recsys_tf.errors import InputError
from recsys_tf.training.config import ExperimentConfig

CONFIG_FILE = "config.yaml"
INFO_FILE = "run.json"
VOCAB_FILE = "vocab.json"
BEST_WEIGHTS = "best.weights.h5"
LAST_WEIGHTS = "last.weights.h5"
HISTORY_FILE = "history.json"
BACKUP_DIR = Path("checkpoints") / "backup"
LOGS_DIR = "logs"
TEXT_CACHE_DIR = "text_cache"
COOCCURRENCE_FILE = "cooccurrence.npz"  # hybrid recommend's table (`index/cooccurrence.py`)
REQUIRED_FILES = (CONFIG_FILE, VOCAB_FILE, INFO_FILE, BEST_WEIGHTS)


DAMAGED_FIX = ("Fix: restore the file from a copy, or train again into a new --out (a damaged run "
               "directory is not repaired in place).")


def read_json(path: str | Path) -> dict:
    """A JSON object file of a run directory or export; a damaged one is an `InputError` naming it."""
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is damaged: not JSON ({err}). {DAMAGED_FIX}") from None
    if not isinstance(value, dict):
        raise InputError(f"{path} is damaged: expected a JSON object, found {type(value).__name__}. {DAMAGED_FIX}")
    return value


def read_saved_config(path: str | Path) -> dict:
    """The mapping of a run's config.yaml; a damaged one is an `InputError` naming it."""
    import yaml

    path = Path(path)
    try:
        value = yaml.safe_load(path.read_text()) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise InputError(f"{path} is damaged: not YAML ({str(err).splitlines()[0]}). {DAMAGED_FIX}") from None
    if not isinstance(value, dict):
        raise InputError(f"{path} is damaged: expected a mapping of sections, found {type(value).__name__}. "
                         f"{DAMAGED_FIX}")
    return value


def load_weights(model, path: str | Path) -> None:
    """`model.load_weights(path)`; a truncated or foreign weights file is an `InputError` naming it
    (h5py reports it as an `OSError`, Keras a mismatch as a `ValueError`)."""
    path = Path(path)
    try:
        model.load_weights(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"{path} cannot be loaded into this run's model ({str(err).splitlines()[0][:300]}; "
                         f"{path.stat().st_size if path.exists() else 0} bytes). {DAMAGED_FIX}") from None


def text_cache_dir(config: ExperimentConfig, run_dir: str | Path) -> Path:
    """Where frozen-mode text vectors (and distilled query encoders) are cached for this run."""
    return Path(config.text.cache_dir) if config.text.cache_dir else Path(run_dir) / TEXT_CACHE_DIR


ITEM_BATCH = 16_384  # catalog items per item-tower call: a 1M-item catalog is not one huge batch


def item_vectors(model, batch_size: int = ITEM_BATCH) -> np.ndarray:
    """(num_items + 1, d) item embeddings of the whole catalog, row 0 = padding (index = item index),
    computed `batch_size` items at a time."""
    import tensorflow as tf

    n = model.item_tower.num_items + 1
    return np.concatenate([model.item_tower(tf.range(start, min(start + batch_size, n)), training=False).numpy()
                           for start in range(0, n, batch_size)])


def user_and_query_vectors(model, examples: dict, batch_size: int = 512, query_vectors=None,
                           with_queries: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """User embeddings of every example row and, when the model has a query tower, `with_queries`
    and `query_vectors` (text vectors indexed by the rows' `query_index`), their query embeddings."""
    import tensorflow as tf

    searching = with_queries and model.query_tower is not None and query_vectors is not None
    users, searches = [], []
    for start in range(0, len(examples["target_item"]), batch_size):
        batch = {k: v[start:start + batch_size] for k, v in examples.items() if k != "query_text"}
        index = batch.pop("query_index", None)
        if query_vectors is not None and index is not None:
            batch["query_vector"] = tf.gather(query_vectors, index)  # an array or a tensor
        batch = {k: tf.constant(v) for k, v in batch.items()}
        user = model.user_embedding(batch, training=False)
        users.append(user.numpy())
        if searching and "query_vector" in batch:
            searches.append(model.query_embedding(batch, user_embedding=user, training=False).numpy())
    dim = model.item_tower.embedding_dim
    users = np.concatenate(users) if users else np.zeros((0, dim), np.float32)
    return users, (np.concatenate(searches) if searches else None) if searching else None


@dataclasses.dataclass
class TrainedRun:
    """A finished training run, rebuilt by `load_run`. The item encoder is the text tower (frozen
    weights = the preset's) that export signatures use on raw text; None for the ID-only ablation.
    `dataset` holds the catalog and judgments, not the events (`read_dataset(run.data_dir)` has them)."""
    path: Path
    model: object
    config: ExperimentConfig
    vocab: object
    dataset: Dataset
    item_encoder: object
    query_encoder: object
    info: dict

    @property
    def cache_dir(self) -> Path:
        return text_cache_dir(self.config, self.path)

    @property
    def data_dir(self) -> str | None:
        return self.info.get("data_dir")  # None for an export's bundle

    def bundle_info(self) -> dict:
        """What an export's bundle records about the training data (`write_bundle`)."""
        return {"rating_range": self.info.get("rating_range"), "search_rows": bool(self.info.get("search_rows", True)),
                "trained_run": self.info.get("trained_run", str(self.path.resolve())),
                "search_calibration": self.info.get("search_calibration"),
                "recommend_calibration": self.info.get("recommend_calibration")}

    @property
    def fusion_weight(self) -> float:
        """The hybrid search's BM25 weight chosen on validation queries (run.json
        `search_calibration.fusion.weight`); 0 (dense search only) for runs never calibrated."""
        calibration = self.info.get("search_calibration") or {}
        return float((calibration.get("fusion") or {}).get("weight", 0.0))

    @functools.cached_property
    def cooccurrence(self):
        """Hybrid recommend's `CooccurrenceTable` (RUN/cooccurrence.npz, or the export bundle's), None
        for runs without one (dense recommend)."""
        # deferred: the module imports TensorFlow, and loading a run's files does not need it
        from recsys_tf.index.cooccurrence import CooccurrenceTable

        path = self.path / COOCCURRENCE_FILE
        if not path.exists():
            return None
        try:
            table = CooccurrenceTable.load(path)
        except (OSError, ValueError, KeyError) as err:
            raise InputError(f"{path} is damaged ({str(err).splitlines()[0][:200]}). {DAMAGED_FIX}") from None
        if table.n_items != len(self.vocab.items):
            raise InputError(f"{path} holds {table.n_items} items but {self.path} has {len(self.vocab.items)}. "
                             f"{DAMAGED_FIX}")
        return table

    @property
    def recommend_fusion_weight(self) -> float:
        """Hybrid recommend's co-occurrence weight chosen on validation (run.json
        `recommend_calibration.fusion_weight`); 0 (dense recommend) without a co-occurrence table."""
        calibration = self.info.get("recommend_calibration") or {}
        return float(calibration.get("fusion_weight", 0.0)) if self.cooccurrence is not None else 0.0

    @property
    def catalog(self):
        """The run's catalog (features of `vocab.items`, in vocabulary order)."""
        from recsys_tf.features.catalog import Catalog

        return Catalog.from_items(self.dataset.items.set_index("item_id").loc[self.vocab.items].reset_index(),
                                  self.vocab)

    def item_vectors(self) -> np.ndarray:
        return item_vectors(self.model)

    def user_vectors(self, examples: dict, batch_size: int = 512) -> np.ndarray:
        return user_and_query_vectors(self.model, examples, batch_size, with_queries=False)[0]

    def query_vectors(self, texts: list[str]) -> np.ndarray:
        """Anonymous query embeddings of raw texts (the query encoder, then the query tower)."""
        import tensorflow as tf

        from recsys_tf.index.lexical import fold_full_width
        from recsys_tf.text.embedding_cache import encode_texts

        if self.model.query_tower is None or self.query_encoder is None:
            raise DatasetError(f"{self.path} has no query tower (trained without search or text). "
                               "Fix: train with tasks.search > 0 and model.use_text=true.")
        vectors = encode_texts(self.query_encoder, fold_full_width(texts))
        return self.model.query_tower({"query_vector": tf.constant(vectors)}).numpy()


def read_config(run_dir: Path) -> ExperimentConfig:
    """The run's configuration; keys added after a run was trained get the value its model had."""
    saved = read_saved_config(Path(run_dir) / CONFIG_FILE)
    # runs trained before the distilled query encoder existed have no such key: their queries were
    # encoded by the text tower itself; before the repeat head and the full softmax, neither existed
    saved.setdefault("text", {}).setdefault("query_encoder_layers", 0)
    saved.setdefault("model", {}).setdefault("repeat_head", False)
    saved["model"].setdefault("softmax", "in_batch")
    try:
        return ExperimentConfig.from_dict(saved)
    except InputError as err:
        raise InputError(f"{Path(run_dir) / CONFIG_FILE}: {err}") from None


def load_run(run_dir: str | Path, data_dir: str | Path | None = None) -> TrainedRun:
    """Rebuild a trained model from its run directory (`data_dir`: the dataset, if it moved)."""
    from recsys_tf.training.run import has_training_queries

    run_dir = Path(run_dir)
    for name in REQUIRED_FILES:
        if not (run_dir / name).exists():
            raise DatasetError(f"{run_dir / name} is missing: {run_dir} is not a finished training run. "
                               "Fix: run `recsys-tf train --data DIR --out RUN` to the end first.")
    info = read_json(run_dir / INFO_FILE)
    dataset = read_dataset(data_dir or info["data_dir"], events=False)  # evaluate streams the events file
    if data_dir is not None:
        info = {**info, "data_dir": str(Path(data_dir).resolve())}
    if info.get("search_rows") is None:  # runs trained before run.json recorded it
        info = {**info, "search_rows": has_training_queries(read_dataset(info["data_dir"]))}
    return _rebuild(run_dir, info, dataset, info["search_rows"])


# An export carries what rebuilding its model needs (`write_bundle`), so `add-items` works on an
# export copied to another machine: assets.extra/model/ = config, vocabularies, weights, the catalog's
# items, the distilled query encoder and the few facts of the training data the builder reads.
BUNDLE_DIR = "model"
BUNDLE_ITEMS = "items.parquet"
BUNDLE_FILES = (CONFIG_FILE, VOCAB_FILE, INFO_FILE, BEST_WEIGHTS, BUNDLE_ITEMS)


def write_bundle(directory: Path, model, config: ExperimentConfig, vocab, items, info: dict,
                 query_encoder_dir: Path | None = None, cooccurrence=None) -> None:
    """Write the model bundle of an export (`items`: the catalog rows of `vocab.items`;
    `cooccurrence`: the export's `CooccurrenceTable`, or None)."""
    import shutil

    from recsys_tf.text.distill import INFO_FILE as STUDENT_INFO
    from recsys_tf.text.distill import WEIGHTS_FILE as STUDENT_WEIGHTS

    directory.mkdir(parents=True, exist_ok=True)
    config.save(directory / CONFIG_FILE)
    vocab.save(directory / VOCAB_FILE)
    (directory / INFO_FILE).write_text(json.dumps(info, indent=2))
    model.save_weights(str(directory / BEST_WEIGHTS))
    items.set_index("item_id").loc[list(vocab.items)].reset_index().to_parquet(directory / BUNDLE_ITEMS, index=False)
    if cooccurrence is not None:
        cooccurrence.save(directory / COOCCURRENCE_FILE)
    for name in (STUDENT_WEIGHTS, STUDENT_INFO):
        if query_encoder_dir is not None and (Path(query_encoder_dir) / name).exists():
            shutil.copyfile(Path(query_encoder_dir) / name, directory / name)


def load_bundle(directory: str | Path) -> TrainedRun:
    """The model of an export, from its bundle (`write_bundle`); its dataset holds the items only."""
    import pandas as pd

    from recsys_tf.data.schema import EVENT_COLUMNS

    directory = Path(directory)
    missing = [name for name in BUNDLE_FILES if not (directory / name).exists()]
    if missing:
        raise DatasetError(f"{directory} lacks {missing}: the export's model bundle is incomplete. "
                           "Fix: copy the whole version directory, or re-export with `recsys-tf export`.")
    info = read_json(directory / INFO_FILE)
    dataset = Dataset(items=pd.read_parquet(directory / BUNDLE_ITEMS), events=pd.DataFrame(columns=list(EVENT_COLUMNS)))
    return _rebuild(directory, info, dataset, bool(info.get("search_rows", True)))


def _rebuild(path: Path, info: dict, dataset: Dataset, has_queries: bool) -> TrainedRun:
    """The model of a run directory or an export bundle: config, vocabularies, weights (BEST_WEIGHTS)."""
    from recsys_tf.features.catalog import Catalog
    from recsys_tf.features.vocabulary import Vocabularies
    from recsys_tf.training.builder import build_model
    from recsys_tf.training.prepare import ID_ONLY_TEXT_DIM, text_encoders
    from recsys_tf.training.run import query_student_layers

    config = read_config(path)
    vocab = Vocabularies.load(path / VOCAB_FILE)
    catalog = Catalog.from_items(dataset.items.set_index("item_id").loc[vocab.items].reset_index(), vocab)
    item_encoder, query_encoder = text_encoders(config)
    student_layers = query_student_layers(config, item_encoder, has_queries)
    if student_layers:
        from recsys_tf.text.distill import load_query_encoder
        query_encoder = load_query_encoder(query_encoder, path, student_layers)
    dim = item_encoder.output_dim if item_encoder is not None else ID_ONLY_TEXT_DIM
    # text vectors and sampling probabilities are weights / training-only: loaded, not recomputed
    model = build_model(config, vocab, catalog, np.zeros((catalog.size + 1, dim), np.float32),
                        sampling_probability=None, rating_mean=0.0, item_encoder=item_encoder,
                        query_encoder=query_encoder, rating_range=info.get("rating_range"), search_rows=has_queries)
    model.build_all()
    load_weights(model, path / BEST_WEIGHTS)
    return TrainedRun(path, model, config, vocab, dataset, item_encoder, query_encoder, info)
