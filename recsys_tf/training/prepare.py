"""From a split dataset to model inputs. Training reads the dataset's catalog and judgments and the
examples `recsys-tf data prepare` wrote (`features.shards`); it never holds the events table:

- `training_examples`: the examples directory of a run, checked against the data and the
  configuration (`--examples EX`), or RUN/examples, written by the in-process writer;
- `TrainingData.read`: one streaming pass over the train shards for what the model and the trainer
  need from them (target counts, rating range, the training queries, the validation users' seen
  items) and the validation examples;
- `prepare`: vocabularies, catalog features and text vectors for the model.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.errors import InputError
from recsys_tf.features import shards
from recsys_tf.features.catalog import Catalog
from recsys_tf.features.vocabulary import Vocabularies, auto_user_bins
from recsys_tf.training.config import ExperimentConfig
from recsys_tf.training.trained_run import text_cache_dir

ID_ONLY_TEXT_DIM = 8  # the ID-only ablation feeds zero "text" vectors of this size
EXAMPLES_DIR = "examples"  # RUN/examples: the run's own `data prepare` output


def examples_problem(examples_dir: Path, items: pd.DataFrame, config: ExperimentConfig, events_hash: int) -> str | None:
    """Why the examples in `examples_dir` are not this data's under this configuration, or None."""
    manifest = shards.read_manifest(examples_dir)
    if manifest["max_history"] != config.model.max_history:
        return (f"it was prepared with max_history={manifest['max_history']}, the configuration has "
                f"model.max_history={config.model.max_history}")
    vocab = Vocabularies.load(examples_dir / shards.VOCABULARIES_FILE)
    if not config.model.user_bins and "users" not in manifest:
        return "its manifest has no user count (an older recsys_tf wrote it), so its automatic user_bins cannot be checked"
    wanted_bins = config.model.user_bins or auto_user_bins(manifest["users"])
    if vocab.user_bins != wanted_bins:
        return f"it was prepared with user_bins={vocab.user_bins}, the configuration gives {wanted_bins}"
    catalog = Vocabularies.from_catalog(items, vocab.devices, 0, vocab.user_bins)
    same_catalog = (catalog.items, catalog.categories, catalog.brands) == (vocab.items, vocab.categories, vocab.brands)
    if not same_catalog or shards.texts_fingerprint(Catalog.from_items(items, vocab).texts) != \
            manifest["catalog_texts_sha256"]:
        return "it was prepared from another catalog (items, categories, brands or texts differ)"
    if manifest["events_fingerprint"] != f"{events_hash:016x}":
        return "it was prepared from other events"
    return None


def training_examples(data_dir: Path, run_dir: Path, config: ExperimentConfig, items: pd.DataFrame,
                      examples_dir: str | Path | None, chief: bool, log, events_hash: int | None = None
                      ) -> tuple[Path, int]:
    """(the examples directory training streams, the events fingerprint). `examples_dir` (`train
    --examples`) must hold this data's examples under this configuration; without it the run writes
    its own in RUN/examples (reused when a resumed run finds them current; a non-chief worker of a
    multi-worker job writes the same examples to a temporary directory of its own). `events_hash`:
    the events fingerprint when the caller has already read it."""
    from recsys_tf.features.prepare_examples import events_file_fingerprint, prepare_in_process

    if examples_dir is not None:
        examples_dir = Path(examples_dir)
        events_hash = events_file_fingerprint(data_dir) if events_hash is None else events_hash
        problem = examples_problem(examples_dir, items, config, events_hash)
        if problem:
            raise InputError(f"{examples_dir} does not hold the examples of {data_dir} under this configuration: "
                             f"{problem}. Fix: rerun `recsys-tf data prepare {data_dir} --out {examples_dir}` with "
                             "the data and configuration you train on, or train without --examples.")
        return examples_dir, events_hash
    own = run_dir / EXAMPLES_DIR if chief else Path(tempfile.mkdtemp(prefix="recsys_tf_worker_examples_")) / "ex"
    if (own / shards.MANIFEST_FILE).exists():
        events_hash = events_file_fingerprint(data_dir) if events_hash is None else events_hash
        if examples_problem(own, items, config, events_hash) is None:
            log(f"examples: reusing {own}")
            return own, events_hash
    # a file per worker at least, so each worker of a multi-worker job streams its own files
    workers = len(json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {}).get("worker", []))
    manifest = prepare_in_process(data_dir, own, max_history=config.model.max_history,
                                  user_bins=config.model.user_bins or None, num_shards=max(2, workers), log=log)
    return own, int(manifest["events_fingerprint"], 16)


def data_fingerprint(items: pd.DataFrame, events_hash: int) -> str:
    """The identity of the data a run trains on (run.json `data_fingerprint`): the catalog's content
    and the events file's order-independent fingerprint (rows, users, items, events, times, splits)."""
    digest = hashlib.sha256(f"events:{events_hash:016x}\n".encode())
    digest.update(pd.util.hash_pandas_object(items.astype(str), index=False).to_numpy().tobytes())
    return digest.hexdigest()[:32]


def empty_examples(max_history: int) -> dict[str, np.ndarray]:
    """No examples, with every model input of `shards.feature_spec` (a split without events)."""
    return {name: np.zeros([0] + spec["shape"], spec["dtype"]) for name, spec in shards.feature_spec(max_history).items()
            if name not in shards.BOOKKEEPING_FEATURES}


@dataclass
class TrainingData:
    """What training reads from a split dataset: its catalog and judgments, and from the examples
    the vocabularies, the queries, the validation examples and a summary of the train split."""
    examples_dir: Path
    items: pd.DataFrame
    judgments: pd.DataFrame | None
    vocab: Vocabularies
    queries: list[str]               # every distinct query; an example's query_index i > 0 is queries[i - 1]
    train_examples: int
    train_item_counts: np.ndarray    # (n_items + 1,) training targets per catalog index
    train_queries: list[str]         # the training search queries, in event order (the distillation texts)
    rating_range: tuple | None       # (min, max) of the training ratings; None without ratings
    rating_mean: float
    validation: dict                 # validation examples (model inputs), in event order
    validation_users: list[str]
    seen: dict                       # validation user -> catalog indices of their training items

    @classmethod
    def read(cls, data_dir: Path, examples_dir: Path, items: pd.DataFrame) -> TrainingData:
        from recsys_tf.data.schema import DatasetError, read_judgments

        manifest = shards.read_manifest(examples_dir)
        vocab = Vocabularies.load(examples_dir / shards.VOCABULARIES_FILE)
        queries = json.loads((examples_dir / shards.QUERIES_FILE).read_text())
        if not manifest["splits"]["train"]["examples"]:
            raise DatasetError(f"{data_dir}: no training events (split == 'train'). Fix: check the split fractions.")
        loaded = shards.load_split(examples_dir, "validation")
        validation_users = [u.decode("utf-8") for u in loaded.get("user_id", [])]
        validation = {k: v for k, v in loaded.items() if k not in shards.BOOKKEEPING_FEATURES} or \
            empty_examples(manifest["max_history"])
        summary = _train_summary(examples_dir, len(vocab.items), validation_users)
        ratings = summary.pop("ratings")
        return cls(examples_dir=examples_dir, items=items, judgments=read_judgments(data_dir), vocab=vocab,
                   queries=queries, train_queries=[queries[i - 1] for i in summary.pop("query_index")],
                   validation=validation, validation_users=validation_users,
                   rating_range=(ratings["min"], ratings["max"]) if ratings["count"] else None,
                   rating_mean=ratings["sum"] / ratings["count"] if ratings["count"] else 0.0, **summary)

    def validation_search_clicks(self) -> pd.DataFrame:
        """(query, item_id) of the validation split's search clicks."""
        rows = np.flatnonzero(self.validation["has_query"] > 0)
        return pd.DataFrame({"query": [self.queries[i - 1] for i in self.validation["query_index"][rows]],
                             "item_id": [self.vocab.items[i - 1] for i in self.validation["target_item"][rows]]})


def _train_summary(examples_dir: Path, n_items: int, validation_users: list[str]) -> dict:
    """One pass over the train shards: examples and targets per item, the ratings' count, sum and
    range, the training queries (by event order) and the training items of the validation users —
    arrays of ints, never the examples themselves."""
    users = pd.Index(pd.unique(np.asarray(validation_users, dtype=object)))
    counts = np.zeros(n_items + 1, np.int64)
    ratings = {"count": 0, "sum": 0.0, "min": np.inf, "max": -np.inf}
    query_rows, query_index, seen_users, seen_items = [], [], [], []
    for batch in shards.blocks(examples_dir, "train").as_numpy_iterator():
        counts += np.bincount(batch["target_item"], minlength=n_items + 1)
        rated = batch["rating"][batch["has_rating"] > 0].astype(np.float64)
        if len(rated):
            ratings = {"count": ratings["count"] + len(rated), "sum": ratings["sum"] + float(rated.sum()),
                       "min": min(ratings["min"], float(rated.min())), "max": max(ratings["max"], float(rated.max()))}
        searched = batch["has_query"] > 0
        query_rows.append(batch["row"][searched])
        query_index.append(batch["query_index"][searched])
        code = users.get_indexer(pd.Series(batch["user_id"]).str.decode("utf-8")) if len(users) else \
            np.full(len(batch["row"]), -1)
        seen_users.append(code[code >= 0].astype(np.int32))
        seen_items.append(batch["target_item"][code >= 0])
    order = np.argsort(np.concatenate(query_rows), kind="stable") if query_rows else np.zeros(0, int)
    seen_users, seen_items = np.concatenate(seen_users), np.concatenate(seen_items)
    by_user = np.argsort(seen_users, kind="stable")
    bounds = np.searchsorted(seen_users[by_user], np.arange(len(users) + 1))
    seen = {str(user): np.unique(seen_items[by_user[bounds[i]:bounds[i + 1]]])
            for i, user in enumerate(users) if bounds[i + 1] > bounds[i]}
    return {"train_examples": int(counts.sum()), "train_item_counts": counts, "ratings": ratings, "seen": seen,
            "query_index": np.concatenate(query_index)[order] if query_index else np.zeros(0, np.int32)}


@dataclass
class PreparedData:
    vocab: Vocabularies
    catalog: Catalog
    text_vectors: np.ndarray          # (n_items + 1, text_dim), row 0 zeros
    query_texts: list[str]            # distinct queries; index i + 1
    query_vectors: object             # tf.Tensor (n_queries + 1, text_dim), row 0 zeros: one copy,
                                      # which the input pipelines and validation gather from
    train_shards: Path                # the examples the trainer streams
    train_examples: int
    train_item_counts: np.ndarray     # (n_items + 1,) training targets per item
    validation: dict
    sampling_probability: np.ndarray
    rating_mean: float
    seen: dict                        # validation user -> item indices in training (excluded at validation)
    rating_range: tuple | None = None  # (min, max) of the training ratings; None without ratings


def text_encoders(config: ExperimentConfig):
    """(item encoder, query encoder) sharing one backbone, or (None, None) for the ID-only ablation."""
    if not config.model.use_text:
        return None, None
    from recsys_tf.text.text_encoder import TextEncoder

    text = config.text
    item_encoder = TextEncoder.from_preset(text.preset, sequence_length=text.item_sequence_length,
                                           pooling=text.pooling, training_mode=text.mode,
                                           trainable_layers=text.trainable_layers, lora_rank=text.lora_rank,
                                           seed=config.train.seed, name="item_text_encoder")
    query_encoder = TextEncoder(item_encoder.backbone, item_encoder.tokenizer,
                                sequence_length=text.query_sequence_length, pooling=text.pooling,
                                training_mode=text.mode, trainable_layers=text.trainable_layers,
                                lora_rank=text.lora_rank, preset=item_encoder.preset, name="query_text_encoder")
    return item_encoder, query_encoder


def encode_with_cache(encoder, texts: list[str], cache_dir: Path) -> np.ndarray:
    from recsys_tf.text.embedding_cache import EmbeddingCache

    return EmbeddingCache(encoder, cache_dir).encode(texts, progress=len(texts) > 512)


def prepare(data: TrainingData, config: ExperimentConfig, run_dir: str | Path, item_encoder=None,
            query_encoder=None) -> PreparedData:
    """Everything the model and the trainer need: catalog features and text vectors (cached)."""
    catalog = Catalog.from_items(data.items, data.vocab)
    queries = data.queries
    if item_encoder is not None:
        cache_dir = text_cache_dir(config, Path(run_dir))
        item_vectors = encode_with_cache(item_encoder, catalog.texts, cache_dir)
        query_vectors = encode_with_cache(query_encoder, queries, cache_dir) if queries else \
            np.zeros((0, item_encoder.output_dim), np.float32)
        dim = item_encoder.output_dim
    else:
        dim = ID_ONLY_TEXT_DIM
        item_vectors = np.zeros((catalog.size, dim), np.float32)
        query_vectors = np.zeros((len(queries), dim), np.float32)
    import tensorflow as tf

    pad = np.zeros((1, dim), np.float32)
    return PreparedData(vocab=data.vocab, catalog=catalog, text_vectors=np.concatenate([pad, item_vectors]),
                        query_texts=queries, query_vectors=tf.constant(np.concatenate([pad, query_vectors])),
                        train_shards=data.examples_dir, train_examples=data.train_examples,
                        train_item_counts=data.train_item_counts, validation=data.validation,
                        sampling_probability=catalog.sampling_probability(data.train_item_counts),
                        rating_mean=data.rating_mean, rating_range=data.rating_range, seen=data.seen)
