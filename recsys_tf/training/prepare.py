"""From a split dataset to model inputs: vocabularies, catalog features, text vectors, examples."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys_tf.data.schema import Dataset
from recsys_tf.features.catalog import Catalog
from recsys_tf.features.examples import build_examples
from recsys_tf.features.vocabulary import Vocabularies
from recsys_tf.training.config import ExperimentConfig
from recsys_tf.training.trained_run import text_cache_dir

ID_ONLY_TEXT_DIM = 8  # the ID-only ablation feeds zero "text" vectors of this size


@dataclass
class PreparedData:
    vocab: Vocabularies
    catalog: Catalog
    text_vectors: np.ndarray          # (n_items + 1, text_dim), row 0 zeros
    query_texts: list[str]            # distinct training/eval queries; index i + 1
    query_vectors: np.ndarray         # (n_queries + 1, text_dim), row 0 zeros
    train: dict
    validation: dict
    sampling_probability: np.ndarray
    rating_mean: float
    seen: dict                        # user_id -> item indices in training (excluded at evaluation)
    rating_range: tuple | None = None  # (min, max) of the training ratings; None without ratings
    train_shards: Path | None = None  # `data prepare` output the trainer streams; `train` then holds targets only


def _events_with_split(dataset: Dataset, name: str):
    return dataset.split(name)


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


def prepare(dataset: Dataset, config: ExperimentConfig, run_dir: str | Path, item_encoder=None,
            query_encoder=None, vocab: Vocabularies | None = None,
            examples_dir: str | Path | None = None) -> PreparedData:
    """Everything training needs from a split dataset; with `examples_dir` (`data prepare` output
    for this dataset) training streams its shards instead of building the examples in memory."""
    run_dir = Path(run_dir)
    train_events = _events_with_split(dataset, "train")
    validation_events = _events_with_split(dataset, "validation")
    vocab = vocab or Vocabularies.from_dataset(dataset.items, dataset.events,
                                               user_bins=config.model.user_bins or None)
    catalog = Catalog.from_items(dataset.items, vocab)
    queries = sorted(set(dataset.events.loc[dataset.events["query"].astype(str) != "", "query"].astype(str)))
    if item_encoder is not None:
        cache_dir = text_cache_dir(config, run_dir)
        item_vectors = encode_with_cache(item_encoder, catalog.texts, cache_dir)
        query_vectors = encode_with_cache(query_encoder, queries, cache_dir) if queries else \
            np.zeros((0, item_encoder.output_dim), np.float32)
        dim = item_encoder.output_dim
    else:
        dim = ID_ONLY_TEXT_DIM
        item_vectors = np.zeros((catalog.size, dim), np.float32)
        query_vectors = np.zeros((len(queries), dim), np.float32)
    pad = np.zeros((1, dim), np.float32)
    query_index = {q: i + 1 for i, q in enumerate(queries)}
    max_history = config.model.max_history
    if examples_dir is not None:
        train, validation = _shard_examples(examples_dir, dataset, vocab, queries, max_history)
        if not validation:  # no validation events: the same empty arrays as in memory
            validation = build_examples(validation_events, train_events, vocab, max_history, query_index)
    else:
        train = build_examples(train_events, train_events, vocab, max_history, query_index)
        validation = build_examples(validation_events, train_events, vocab, max_history, query_index)
    ratings = train_events["rating"].dropna()
    seen: dict[str, np.ndarray] = {}
    for user, group in train_events.groupby("user_id"):
        seen[str(user)] = np.unique(vocab.item_index(group["item_id"].to_numpy()))
    return PreparedData(vocab=vocab, catalog=catalog, text_vectors=np.concatenate([pad, item_vectors]),
                        query_texts=queries, query_vectors=np.concatenate([pad, query_vectors]),
                        train=train, validation=validation,
                        sampling_probability=catalog.sampling_probability(train["target_item"]),
                        rating_mean=float(ratings.mean()) if len(ratings) else 0.0,
                        rating_range=(float(ratings.min()), float(ratings.max())) if len(ratings) else None, seen=seen,
                        train_shards=Path(examples_dir) if examples_dir is not None else None)


def _shard_examples(examples_dir, dataset: Dataset, vocab: Vocabularies, queries: list[str], max_history: int):
    """(train targets, validation examples) from shards, after checking they were prepared from
    this dataset with this `model.max_history`."""
    import json

    from recsys_tf.errors import InputError
    from recsys_tf.features import shards
    from recsys_tf.features.prepare_examples import numbered_events

    manifest = shards.read_manifest(examples_dir)
    fix = f"Fix: rerun `recsys-tf data prepare DATA --out {examples_dir}` with the data and configuration you train on."
    if manifest["max_history"] != max_history:
        raise InputError(f"{examples_dir} was prepared with max_history={manifest['max_history']}, the configuration "
                         f"has model.max_history={max_history}. {fix}")
    same = (f"{shards.events_fingerprint(numbered_events(dataset.events)):016x}" == manifest["events_fingerprint"]
            and Vocabularies.load(Path(examples_dir) / shards.VOCABULARIES_FILE) == vocab
            and json.loads((Path(examples_dir) / shards.QUERIES_FILE).read_text()) == queries)
    if not same:
        raise InputError(f"{examples_dir} was prepared from other data than this dataset (events, vocabularies or "
                         f"queries differ). {fix}")
    targets = {"target_item": np.concatenate([b["target_item"] for b in shards.stream(examples_dir, "train")
                                              .batch(65536).as_numpy_iterator()] or [np.zeros(0, np.int32)])}
    validation = shards.load_split(examples_dir, "validation")
    return targets, {k: v for k, v in validation.items() if k not in shards.BOOKKEEPING_FEATURES}
