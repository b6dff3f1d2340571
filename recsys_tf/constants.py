"""The one home of every enumeration that more than one module (or the CLI) needs.

Light on purpose (no TensorFlow): the CLI builds its `choices=` from here without loading models.
"""
from __future__ import annotations

# data
FORMATS = ("movielens-100k", "movielens-latest", "amazon-2023", "online-retail", "judgments", "table")
EVENT_TYPES = ("view", "click", "cart", "purchase", "rating", "search_click")  # model index = 1 + position
SPLITS = ("train", "validation", "test")
SYNTHETIC_LANGUAGES = ("en", "zh")  # `data synth --language`: the synthetic world's text
SPLIT_STRATEGIES = ("temporal-last", "temporal-global", "random", "cold-start-items")
# plausible event times, seconds since 1970 UTC: [1990-01-01, 2100-01-01); `data load --timestamp-range` widens it
TIMESTAMP_RANGE = (631_152_000, 4_102_444_800)

# text tower
POOLINGS = ("mean", "cls")
TEXT_MODES = ("frozen", "last_n_layers", "full", "lora")

# model and training
TASKS = ("recommend", "search", "rating", "click")
HISTORY_ENCODERS = ("attention", "transformer", "mean")
SOFTMAXES = ("auto", "full", "in_batch")
COOCCURRENCE_METHODS = ("auto", "ease", "item_knn", "none")
TEXT_DROPOUT_SCOPES = ("id_dropped", "all")
LR_SCHEDULES = ("constant", "cosine")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")

# evaluation, index, export
PROTOCOLS = ("temporal-last", "tfrs", "cold-start-items")
BASELINES = ("popularity", "item_knn", "ease", "bm25", "zero_shot_text", "frequency_recency")
DEFAULT_KS = (1, 5, 10, 50, 100)
RETRIEVALS = ("exact", "scann")
INDEX_KINDS = ("brute_force", "scann")
