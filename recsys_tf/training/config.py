"""Experiment configuration: dataclasses at the CLI edge (YAML in, resolved YAML saved in the run).

Every field has a default, so `recsys-tf train --data DIR --out RUN` needs nothing else; override
with `--config FILE.yaml` and `--set section.key=value` (value parsed as YAML: numbers, lists, bools).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from recsys_tf.constants import (
    COOCCURRENCE_METHODS,
    HISTORY_ENCODERS,
    LR_SCHEDULES,
    POOLINGS,
    SOFTMAXES,
    STRATEGIES,
    TEXT_DROPOUT_SCOPES,
    TEXT_MODES,
)
from recsys_tf.errors import InputError


def opt(default, help: str, *, choices=None, low=None, high=None, high_open=False, items=None):
    """A configuration field: its default, the line of docs/configuration.md that explains it, and
    what `ExperimentConfig.validate` accepts (`choices`; a range `low` <= v <= `high`, or < `high`
    with `high_open`; `items` = the choices of each element of a list)."""
    factory = (lambda: list(default)) if isinstance(default, list) else None
    meta = {"help": help, "choices": choices, "low": low, "high": high, "high_open": high_open, "items": items}
    return field(default_factory=factory, metadata=meta) if factory else field(default=default, metadata=meta)


@dataclass
class TextConfig:
    preset: str = opt("minilm-l6", "text checkpoint: `minilm-l6` (all-MiniLM-L6-v2, offline package), `tiny` / "
                      "`tiny-4l` (random small BERTs for tests), a Hugging Face or keras-hub checkpoint directory, "
                      "or a cached keras-hub preset name (recsys_tf/text/presets.py)")
    mode: str = opt("frozen", "frozen: cached text vectors; last_n_layers / full / lora: the text tower trains",
                    choices=TEXT_MODES)
    item_sequence_length: int = opt(64, "tokens per item text (longer text is truncated)", low=2)
    query_sequence_length: int = opt(32, "tokens per query", low=2)
    pooling: str = opt("mean", "pooling of the token vectors over the padding mask", choices=POOLINGS)
    trainable_layers: int = opt(1, "last_n_layers mode: how many top transformer blocks train", low=0)
    lora_rank: int = opt(4, "lora mode: rank of the LoRA factors (keras-hub `enable_lora`)", low=1)
    cache_dir: str = opt("", "frozen mode's text-vector cache (and distilled query encoders); empty = RUN/text_cache")
    query_encoder_layers: int = opt(-1, "queries are encoded by a student of this many transformer blocks distilled "
                                    "from the frozen tower (search latency, recsys_tf/text/distill.py); -1 = half the "
                                    "tower's depth (MiniLM: 3) in frozen mode when the training data has queries, "
                                    "0 = the tower itself", low=-1)
    query_distill_steps: int = opt(600, "distillation steps (batch 64)", low=0)
    strict_coverage: bool = opt(False, "fail (instead of warning) when the checkpoint's vocabulary reads more than 2 % "
                                "of a text field's tokens, or 1 % of its texts mostly, as [UNK] "
                                "(recsys_tf/text/coverage.py)")


@dataclass
class ModelConfig:
    embedding_dim: int = opt(64, "output size of the item, user and query towers", low=1)
    id_dim: int = opt(32, "item and user id embedding size", low=1)
    attribute_dim: int = opt(16, "category / brand embedding size (price buckets: half)", low=1)
    hidden_dims: list = opt([128], "hidden layer sizes of the tower MLPs", low=1)
    dropout: float = opt(0.1, "dropout in the tower MLPs", low=0.0, high=1.0, high_open=True)
    id_dropout: float = opt(0.2, "share of training rows whose item id is hidden (trains the tower for new items)",
                            low=0.0, high=1.0, high_open=True)
    user_id_dropout: float = opt(0.2, "share of training rows whose user bucket is hidden", low=0.0, high=1.0,
                                 high_open=True)
    text_dropout: float = opt(0.5, "share of id-dropped training rows whose item text features are hidden from the "
                              "item MLP (the text skip keeps them), so the tower also learns an attributes-only "
                              "embedding for new items (docs/results.md, cold-start items)", low=0.0, high=1.0,
                              high_open=True)
    text_dropout_scope: str = opt("id_dropped", "rows text dropout applies to: id_dropped (warm rows keep their "
                                  "text) or all (cost warm recall@10 0.017 on the demo data)",
                                  choices=TEXT_DROPOUT_SCOPES)
    history_encoder: str = opt("attention", "how the user tower reads the history", choices=HISTORY_ENCODERS)
    max_history: int = opt(20, "newest history items kept per example", low=1)
    num_heads: int = opt(2, "attention heads of the history encoder", low=1)
    personalize_search: bool = opt(True, "the query tower also reads the user")
    anonymous_search_rate: float = opt(0.0, "share of search rows trained without their user, for logged-out "
                                       "traffic (0.5 lowered judged search on the demo data, NDCG@10 -0.014)",
                                       low=0.0, high=1.0, high_open=True)
    softmax: str = opt("auto", "retrieval loss of `softmax_tasks`: in_batch = the batch's items (logQ-corrected), "
                       "full = every catalog item with a training event, auto = full up to "
                       "builder.FULL_SOFTMAX_MAX_ITEMS (20,000) items, else in_batch (full won on validation on "
                       "every data set of docs/real_catalogs.md)", choices=SOFTMAXES)
    softmax_tasks: list = opt(["recommend"], "tasks the full softmax applies to", items=("recommend", "search"))
    repeat_head: bool = opt(True, "a learned score offset for items already in the history, by position and item "
                            "(heads/repeat_head.py): buy again, in training and when history is included")
    temperature: float = opt(0.05, "softmax temperature of the retrieval losses", low=1e-6)
    learn_temperature: bool = opt(False, "train the temperature")
    logq_correction: bool = opt(True, "subtract log sampling probability from in-batch logits")
    remove_accidental_hits: bool = opt(True, "mask in-batch negatives that are the row's own positive item")
    num_hard_negatives: int = opt(0, "keep only the top-N in-batch negatives per row (0 = all)", low=0)
    num_uniform_negatives: int = opt(0, "extra negatives per batch drawn uniformly from the catalog, logQ-corrected",
                                     low=0)
    search_category_negatives: int = opt(0, "per search row, N extra negatives from the clicked item's category "
                                         "(on the demo data: +0.012 warm recall@10, -0.010 search NDCG@50)", low=0)
    recommend_category_negatives: int = opt(0, "per recommend row, N extra negatives from the target's category",
                                            low=0)
    use_text: bool = opt(True, "false = the ID-only ablation (no text tower)")
    text_skip: bool = opt(True, "embeddings also carry the normalised text vector, weighted by a learned scalar")
    text_skip_init: float = opt(0.3, "initial weight of the text skip in the item and user towers (0.3 beat 1.0 on "
                                "the demo data)", low=0.0)
    query_text_skip_init: float = opt(3.0, "initial weight of the text skip in the query tower", low=0.0)
    user_bins: int = opt(0, "hashed user-id buckets; 0 = the smallest power of two > 2 x users, at most 2^18 "
                         "(set higher, e.g. 32768 for MovieLens' 943 users, when per-user memory matters)", low=0)
    rating_factors: int = opt(0, "> 0: biased-MF factors of this size in the rating head", low=0)
    rating_l2: float = opt(0.0, "per-example L2 on the rated pair's biases and factors", low=0.0)
    cooccurrence: str = opt("auto", "hybrid recommend's item-to-item co-occurrence table, fitted on the training "
                            "events after training (index/cooccurrence.py): ease (closed form, lambda chosen on "
                            "validation), item_knn (cosine), auto = ease up to 20,000 items with events when it fits "
                            "in memory, else item_knn; none = dense recommend only", choices=COOCCURRENCE_METHODS)
    cooccurrence_neighbours: int = opt(100, "neighbours kept per item in the co-occurrence table (its size: "
                                       "8 bytes x items x neighbours)", low=1)


@dataclass
class TaskConfig:
    recommend: float = opt(1.0, "loss weight of next-item retrieval (0 switches a task off)", low=0.0)
    search: float = opt(1.0, "loss weight of query -> clicked item retrieval", low=0.0)
    rating: float = opt(0.5, "loss weight of the rating head", low=0.0)
    click: float = opt(0.2, "loss weight of the click head", low=0.0)


@dataclass
class TrainConfig:
    epochs: int = opt(8, "passes over the training examples", low=1)
    batch_size: int = opt(256, "global batch; per replica = batch_size / replicas", low=1)
    learning_rate: float = opt(1e-3, "Adam learning rate", low=1e-12)
    lr_schedule: str = opt("constant", "constant, or cosine: Keras CosineDecay to 0 over epochs x steps per epoch",
                           choices=LR_SCHEDULES)
    ema_momentum: float = opt(0.0, "> 0 (e.g. 0.999): validate and save the exponential moving average of the "
                              "weights (Keras optimizer `use_ema`); training steps keep the raw weights",
                              low=0.0, high=1.0, high_open=True)
    lazy_adam_rows: int = opt(262_144, "embedding tables of at least this many rows (hashed users of big data "
                              "sets, 262k+ item catalogs) take lazy Adam: only the batch's rows update (as "
                              "TPU embeddings' lazy_adam); 0 = exact Adam for every table", low=0)
    seed: int = opt(42, "seeds shuffling, initialisers, dropout and negative sampling")
    strategy: str = opt("auto", "tf.distribute strategy; auto: TPU if TPU_NAME, multi-worker if TF_CONFIG names "
                        "several workers, mirrored for > 1 GPU, else default", choices=STRATEGIES)
    mixed_precision: bool = opt(False, "mixed_float16 on GPU, mixed_bfloat16 on TPU")
    jit_compile: bool = opt(False, "XLA for the train step (GPU/TPU)")
    early_stopping_patience: int = opt(3, "epochs without a better `monitor` before stopping", low=1)
    monitor: str = opt("recommend/recall@10", "validation key that picks best.weights.h5: recommend/*, search/*, or "
                       "rating/rmse, rating/mae (minimised)")
    backup_every_steps: int = opt(100, "crash backup (model + optimizer + position) every N steps and each epoch",
                                  low=1)
    eval_k: list = opt([10, 50], "cut-offs of the validation metrics", low=1)
    histogram_every_epochs: int = opt(1, "TensorBoard weight histograms every N epochs (0 = never)", low=0)
    max_steps_per_epoch: int = opt(0, "0 = whole epoch (tests use small values)", low=0)
    shuffle_whole_up_to: int = opt(1_000_000, "a train split of at most this many examples (read by one input "
                                   "pipeline) is held in memory and shuffled whole each epoch; larger ones stream "
                                   "from the shards through a 200,000-example shuffle buffer", low=0)
    calibrate_search_text: bool = opt(True, "after training, choose the query tower's text weight and the hybrid "
                                      "fusion weight for the best NDCG@10 on the validation half of the judgments "
                                      "(else validation search clicks; docs/hybrid_search.md)")
    fusion_weight: float = opt(-1.0, "hybrid search: weight of BM25 in the exported search score (0 = dense only, "
                               "1 = BM25 only); -1 = chosen with the text weight on validation queries",
                               low=-1.0, high=1.0)
    recommend_fusion_weight: float = opt(-1.0, "hybrid recommend: weight of the co-occurrence score in the exported "
                                         "recommend score (0 = dense only, 1 = co-occurrence only); -1 = chosen "
                                         "for the best NDCG@10 on the validation split after training",
                                         low=-1.0, high=1.0)


# The defaults as objects, for the layers' own keyword defaults (one home for every default).
MODEL_DEFAULTS = ModelConfig()


@dataclass
class ExperimentConfig:
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tasks: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> ExperimentConfig:
        data = data or {}
        _refuse_oversized(data)
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InputError(f"config has unknown section(s) {sorted(unknown)}; sections are text, model, tasks, train.")
        kwargs = {}
        for f in dataclasses.fields(cls):
            section_cls = type(getattr(cls(), f.name))
            values = data.get(f.name) or {}
            if not isinstance(values, dict):
                raise InputError(f"config section `{f.name}` must be a mapping of keys to values. Received: "
                                 f"{_shown(values)}. Fix: e.g. `{f.name}:` followed by indented `key: value` lines.")
            names = {x.name for x in dataclasses.fields(section_cls)}
            bad = set(values) - names
            if bad:
                raise InputError(f"config section `{f.name}` has unknown key(s) {sorted(bad)}; "
                                 f"known keys: {sorted(names)}.")
            kwargs[f.name] = section_cls(**values)
        config = cls(**kwargs)
        config.validate()
        return config

    def validate(self) -> None:
        """Every value's type, choices and range, then the rules between keys: all before any data is
        read, so a misspelt value fails in the first second with the valid choices in the message."""
        for section in dataclasses.fields(self):
            values = getattr(self, section.name)
            for f in dataclasses.fields(values):
                setattr(values, f.name, _checked(f"{section.name}.{f.name}", f, getattr(values, f.name)))
        monitor = self.train.monitor
        if not (monitor.startswith(("recommend/", "search/")) or monitor in ("rating/rmse", "rating/mae")):
            raise InputError("`train.monitor` must be a validation key: recommend/<metric>, search/<metric>, "
                             f"rating/rmse or rating/mae. Received: {monitor!r}. "
                             "Fix: --set train.monitor=recommend/recall@10")
        text = self.text
        if int(text.query_encoder_layers) < -1 or (text.query_encoder_layers > 0 and text.mode != "frozen"):
            raise InputError("`text.query_encoder_layers` must be -1 (automatic), 0 (queries use the text tower) "
                             "or a number of layers of a query encoder distilled from the *frozen* text tower. Received: "
                             f"query_encoder_layers={text.query_encoder_layers} with text.mode={text.mode!r}. "
                             "Fix: --set text.query_encoder_layers=0 for trainable text modes.")

    def save(self, path: str | Path) -> None:
        from recsys_tf.atomic import atomic_write_text

        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "list": list}


def _checked(key: str, f, value):
    """`value` of field `f` converted to its type (int -> float; "1e-3" -> 0.001, as YAML 1.1 reads
    exponents without a dot as strings) and checked against the field's choices and range."""
    kind, meta = _TYPES[f.type], f.metadata
    example = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    fix = f"Fix: e.g. --set {key}={example if isinstance(example, str) else json.dumps(example)}"
    if kind is float and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is float and isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"`{key}` must be a finite number. Received: {_shown(value)}. {fix}")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"`{key}` must be {'an' if kind is int else 'a'} {kind.__name__}. Received: {_shown(value)} ({type(value).__name__}). {fix}")
    allowed = meta.get("choices") or meta.get("items")
    low, high = meta.get("low"), meta.get("high")
    for element in value if kind is list else [value]:
        if allowed and element not in allowed:
            raise InputError(f"`{key}` must be {'a list of values ' if kind is list else ''}among {tuple(allowed)}. "
                             f"Received: {_shown(value)}. {fix}")
        if low is None and high is None:
            continue
        numeric = isinstance(element, (int, float)) and not isinstance(element, bool)
        if not numeric or (low is not None and element < low) or (
                high is not None and (element >= high if meta["high_open"] else element > high)):
            upper = "" if high is None else f" and {'<' if meta['high_open'] else '<='} {high}"
            raise InputError(f"`{key}` must be {'a list of numbers ' if kind is list else ''}>= {low}{upper}. "
                             f"Received: {_shown(value)}. {fix}")
    return value


MAX_CONFIG_VALUES = 10_000  # a whole configuration has ~80 values; lists (hidden_dims, eval_k) a few each


def _refuse_oversized(data) -> None:
    """Refuse a configuration of more than MAX_CONFIG_VALUES values, counting every value each time a
    YAML alias repeats it: 265 bytes of nested aliases expand to 10^8 values (a "billion laughs")."""
    budget, stack = MAX_CONFIG_VALUES, [data]
    while stack:
        value = stack.pop()
        budget -= 1
        if budget < 0:
            raise InputError(f"the configuration expands to more than {MAX_CONFIG_VALUES} values (YAML aliases "
                             "repeating nested lists?). Fix: write the values out; no key needs more than a short list.")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)


def _shown(value, limit: int = 200) -> str:
    """`repr(value)` cut to `limit` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) if path else {}
    except IsADirectoryError:
        raise InputError(f"--config {path} is a directory. Fix: pass a YAML file (configs/*.yaml).") from None
    except UnicodeDecodeError as err:
        raise InputError(f"--config {path} is not UTF-8 text ({err.reason} at byte {err.start}). Fix: save the "
                         "file as UTF-8.") from None
    except yaml.YAMLError as err:
        raise InputError(f"config file {path} is not valid YAML: {err}. Fix: see configs/*.yaml for the layout.") from None
    if data is not None and not isinstance(data, dict):
        raise InputError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}.")
    data = data or {}
    for item in overrides or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise InputError(f"`--set` takes section.key=value. Received: {item!r}. Fix: e.g. --set train.epochs=3")
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        try:
            data.setdefault(section, {})[name] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise InputError(f"`--set {item}`: the value is not valid YAML ({err}). Fix: quote it, e.g. "
                             f"--set '{key}=\"{value}\"'") from None
    return ExperimentConfig.from_dict(data)


def reference_markdown() -> str:
    """docs/configuration.md, generated from the dataclasses (`python -m recsys_tf.training.config`
    rewrites it; a test keeps the file in sync)."""
    lines = ["# Configuration reference", "",
             "Generated from `recsys_tf/training/config.py` by `python -m recsys_tf.training.config` "
             "(do not edit by hand).", "",
             "Set keys with `--config FILE.yaml` (sections `text`, `model`, `tasks`, `train`; recipes in "
             "`configs/`) and `--set section.key=value` (value parsed as YAML; later wins). Every value is "
             "checked (type, choices, range) before any data is read. The resolved configuration is saved as "
             "`RUN/config.yaml`; resuming a run with a different configuration is refused."]
    for section in dataclasses.fields(ExperimentConfig):
        lines += ["", f"## `{section.name}`", "", "| key | default | accepted | what it does |", "|---|---|---|---|"]
        for f in dataclasses.fields(section.default_factory()):
            meta = f.metadata
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            allowed = meta.get("choices") or meta.get("items")
            if allowed:
                accepted = ("list of " if meta.get("items") else "") + " \\| ".join(allowed)
            elif meta.get("low") is not None:
                upper = "" if meta.get("high") is None else f", {'<' if meta['high_open'] else '≤'} {meta['high']}"
                accepted = f"{f.type} ≥ {meta['low']}{upper}"
            else:
                accepted = f.type
            shown = json.dumps(default) if not isinstance(default, str) else (f"`{default}`" if default else "\"\"")
            lines.append(f"| `{f.name}` | {shown} | {accepted} | {meta['help'].replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    Path(__file__).resolve().parents[2].joinpath("docs", "configuration.md").write_text(reference_markdown())
