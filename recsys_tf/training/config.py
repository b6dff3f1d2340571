"""Experiment configuration: dataclasses at the CLI edge (YAML in, resolved YAML saved in the run).

Every field has a default, so `recsys-tf train --data DIR --out RUN` needs nothing else; override
with `--config FILE.yaml` and `--set section.key=value` (value parsed as YAML: numbers, lists, bools).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

LR_SCHEDULES = ("constant", "cosine")
SOFTMAXES = ("auto", "full", "in_batch")


@dataclass
class TextConfig:
    preset: str = "minilm-l6"          # see recsys_tf.text.presets
    mode: str = "frozen"               # frozen | last_n_layers | full | lora
    item_sequence_length: int = 64
    query_sequence_length: int = 32
    pooling: str = "mean"
    trainable_layers: int = 1          # last_n_layers mode
    lora_rank: int = 4                 # lora mode
    cache_dir: str = ""                # frozen mode embedding cache; default RUN/text_cache
    query_encoder_layers: int = -1     # queries are encoded by a student of this many layers distilled from
    #                                    the frozen text tower (recsys_tf/text/distill.py; search latency);
    #                                    -1 = half the tower's depth (MiniLM: 3) in frozen mode, else none; 0 = none
    query_distill_steps: int = 600     # distillation steps (batch 64)


@dataclass
class ModelConfig:
    embedding_dim: int = 64
    id_dim: int = 32
    attribute_dim: int = 16
    hidden_dims: list = field(default_factory=lambda: [128])
    dropout: float = 0.1
    id_dropout: float = 0.2
    user_id_dropout: float = 0.2
    text_dropout: float = 0.5           # item text features zeroed in the tower's MLP input (the text skip keeps them)
    text_dropout_scope: str = "id_dropped"  # id_dropped: only on rows whose id is dropped (so 0.5 x id_dropout of
    #                                     all rows train attributes-only, warm rows as without it) | all: any row.
    #                                     Measured (docs/results.md): cold-start items ahead of the ID-only ablation at
    #                                     the top of the list, warm recommend unchanged; "all" cost warm recall@10 -0.017
    history_encoder: str = "attention"  # attention | transformer | mean
    max_history: int = 20
    num_heads: int = 2
    personalize_search: bool = True
    anonymous_search_rate: float = 0.0  # share of search rows trained without their user (QueryTower.anonymous_rate)
    #                                     for logged-out traffic; 0.5 *lowered* judged anonymous search on the demo
    #                                     data (NDCG@10 0.754 -> 0.740, paired CI [-0.023, -0.004]), so off by default
    softmax: str = "in_batch"           # retrieval loss of the `softmax_tasks`: full = over the whole catalog,
    #                                     in_batch = the batch's items (logQ-corrected), auto = full up to
    #                                     builder.FULL_SOFTMAX_MAX_ITEMS catalog items, else in_batch. Not the
    #                                     default: catalog items without a training event get gradients as
    #                                     negatives (their zeroed ids move), and under tf.distribute each replica
    #                                     draws its own dropout for the catalog pass (not the one-device loss)
    softmax_tasks: list = field(default_factory=lambda: ["recommend"])  # tasks the full softmax applies to
    repeat_head: bool = True            # learned offset for items already in the history (heads/repeat_head.py):
    #                                     repeats ("buy it again") scored in training and when history is included
    temperature: float = 0.05
    learn_temperature: bool = False
    logq_correction: bool = True
    remove_accidental_hits: bool = True
    num_hard_negatives: int = 0
    num_uniform_negatives: int = 0
    search_category_negatives: int = 0  # per search row, N negatives from the clicked item's own category
    recommend_category_negatives: int = 0  # ... per recommend row (RecommenderModel.category_negatives)
    use_text: bool = True               # False = the ID-only ablation (no text tower)
    text_skip: bool = True              # embeddings also carry the normalised text vector (towers/mlp.py)
    text_skip_init: float = 0.3         # initial weight of the text part (item and user towers); 0.3 beat 1.0
    #                                     on the demo data (NDCG@10 recommend 0.087 vs 0.078, search 0.781 vs 0.762)
    query_text_skip_init: float = 3.0   # ... of the query tower: search leans more on text similarity
    user_bins: int = 0                  # hashed user-id buckets; 0 = automatic (vocabulary.auto_user_bins)
    rating_factors: int = 0             # > 0: biased-MF factors of this size in the rating head (RankingHead)
    rating_l2: float = 0.0              # per-example L2 on the rated pair's biases and factors (RankingHead.penalty)


@dataclass
class TaskConfig:
    recommend: float = 1.0
    search: float = 1.0
    rating: float = 0.5
    click: float = 0.2


@dataclass
class TrainConfig:
    epochs: int = 8
    batch_size: int = 256               # global batch; per replica = batch_size / replicas
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"       # constant | cosine: Keras CosineDecay from learning_rate to 0 over
    #                                     epochs x steps per epoch (docs/results.md "MovieLens 100K": the rating recipe)
    ema_momentum: float = 0.0           # > 0: validate and save the exponential moving average of the weights
    #                                     (Keras optimizer `use_ema`), e.g. 0.999 (the MovieLens rating recipe);
    #                                     0 = the raw weights
    seed: int = 42
    strategy: str = "auto"              # auto | default | mirrored | multi_worker | tpu
    mixed_precision: bool = False       # mixed_float16 on GPU, mixed_bfloat16 on TPU
    jit_compile: bool = False           # XLA for the train step (GPU/TPU)
    early_stopping_patience: int = 3
    monitor: str = "recommend/recall@10"
    backup_every_steps: int = 100
    eval_k: list = field(default_factory=lambda: [10, 50])
    histogram_every_epochs: int = 1
    max_steps_per_epoch: int = 0        # 0 = whole epoch (tests use small values)
    calibrate_search_text: bool = True  # after training, scale the query tower's text weight for the best NDCG@10
    #                                     on the *validation* half of the relevance judgments, when the data has
    #                                     judgments (recsys_tf/evaluation/judgments.py; reports use the test half)


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
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"config has unknown section(s) {sorted(unknown)}; sections are text, model, tasks, train.")
        kwargs = {}
        for f in dataclasses.fields(cls):
            section_cls = type(getattr(cls(), f.name))
            values = data.get(f.name) or {}
            names = {x.name for x in dataclasses.fields(section_cls)}
            bad = set(values) - names
            if bad:
                raise ValueError(f"config section `{f.name}` has unknown key(s) {sorted(bad)}; "
                                 f"known keys: {sorted(names)}.")
            kwargs[f.name] = section_cls(**values)
        config = cls(**kwargs)
        if config.train.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"`train.lr_schedule` must be one of {LR_SCHEDULES}. Received: "
                             f"lr_schedule={config.train.lr_schedule!r}. Fix: --set train.lr_schedule=cosine")
        if not 0.0 <= float(config.train.ema_momentum) < 1.0:
            raise ValueError("`train.ema_momentum` must be in [0, 1) (0 = off). Received: "
                             f"ema_momentum={config.train.ema_momentum!r}. Fix: --set train.ema_momentum=0.99")
        if config.model.softmax not in SOFTMAXES or not set(config.model.softmax_tasks) <= {"recommend", "search"}:
            raise ValueError(f"`model.softmax` must be one of {SOFTMAXES} and `model.softmax_tasks` a list of "
                             f"'recommend' / 'search'. Received: softmax={config.model.softmax!r}, "
                             f"softmax_tasks={config.model.softmax_tasks!r}. Fix: --set model.softmax=in_batch")
        text = config.text
        if int(text.query_encoder_layers) < -1 or (text.query_encoder_layers > 0 and text.mode != "frozen"):
            raise ValueError("`text.query_encoder_layers` must be -1 (automatic), 0 (queries use the text tower) "
                             "or a number of layers of a query encoder distilled from the *frozen* text tower. Received: "
                             f"query_encoder_layers={text.query_encoder_layers} with text.mode={text.mode!r}. "
                             "Fix: --set text.query_encoder_layers=0 for trainable text modes.")
        return config

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    data = yaml.safe_load(Path(path).read_text()) if path else {}
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}.")
    data = data or {}
    for item in overrides or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"`--set` takes section.key=value. Received: {item!r}. Fix: e.g. --set train.epochs=3")
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        data.setdefault(section, {})[name] = yaml.safe_load(value)
    return ExperimentConfig.from_dict(data)
