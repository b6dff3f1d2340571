"""`RecommenderModel`: item, user and query towers + retrieval and ranking heads, trained multi-task.

Tasks (any can be switched off with a zero weight):
* `recommend`: user tower (history + context) -> next item, in-batch softmax (RetrievalHead);
* `search`: query tower (query text [+ user]) -> clicked item, in-batch softmax, rows with a query;
* `rating`: RankingHead(kind="rating") MSE on rows with a rating;
* `click`: RankingHead(kind="click") BCE (click/cart/purchase vs view).

Losses are normalised by the *global* number of contributing rows (summed across replicas), so the
sum of replica losses equals the single-device loss and gradients agree under tf.distribute.
"""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import ops

from recsys_tf.constants import TASKS
from recsys_tf.errors import InputError
from recsys_tf.heads.retrieval_head import RetrievalHead, all_gather, cross_replica_sum
from recsys_tf.training.config import TaskConfig

# logit offset of masked catalog items: exp() underflows to exactly 0 and it stays finite in float16
CATALOG_MASK_OFFSET = -1e4
USER_FEATURES = ("history_items", "history_events", "history_recency", "user_bin", "hour", "weekday", "device")


@keras.saving.register_keras_serializable(package="recsys_tf")
class RecommenderModel(keras.Model):
    """Args:
        item_tower, user_tower, query_tower: the towers (query_tower may be None: no search task).
        retrieval_head: a `RetrievalHead` shared by recommend and search.
        rating_head, click_head: `RankingHead`s (None disables the task).
        task_weights: dict task -> loss weight.
        sampling_probability: `(num_items + 1,)` probability of each item as a batch positive (logQ).
        num_uniform_negatives: extra negatives per batch sampled uniformly over the catalog.
        category_negatives: dict task ("recommend" / "search") -> N: each row of that task also gets
            N negatives drawn from its positive's own category in proportion to how often items are
            training positives (`sample_category_negatives`). Off by default: on the demo data (3 seeds)
            search-side ones lift warm recommend recall@10 by 0.012 but lower search NDCG@50 by 0.010
            and bury new items on the full catalog (docs/results.md "Category negatives").
            Why: in-batch negatives are mostly items of *other* categories, so the softmax teaches
            which category a query wants and little about which item *within* it — the part a
            search for "red waterproof hiking boots" is about. TFRS, keras-rs and keras-hub have no
            per-row negative sampler, hence our own (a few ops over the tower's category table).
        full_softmax: tasks ("recommend" / "search") whose loss is a softmax over the whole catalog
            (`RetrievalHead.catalog_loss`) instead of the in-batch one: every item is a negative for
            every row, so no sampling bias to correct and no popular-item punishment — what beats
            in-batch negatives on small catalogs (SASRec with cross-entropy, Klenitskiy & Vasilev 2023).
            It costs an item-tower pass over the catalog per step (`recsys_tf.training.builder`
            chooses it up to `FULL_SOFTMAX_MAX_ITEMS`).
        repeat_head: a `RepeatHead` (or None): recommend scores of items already in the user's
            history get its learned offset, in training and wherever history items may be returned
            (`recommend_scores`, the buy-again evaluation, `include_history` at serving).
    """

    def __init__(self, item_tower, user_tower, query_tower=None, retrieval_head=None, rating_head=None,
                 click_head=None, task_weights=None, sampling_probability=None, num_uniform_negatives: int = 0,
                 category_negatives=None, full_softmax=(), repeat_head=None, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.item_tower, self.user_tower, self.query_tower = item_tower, user_tower, query_tower
        self.retrieval_head = retrieval_head or RetrievalHead()
        self.rating_head, self.click_head = rating_head, click_head
        self.repeat_head = repeat_head
        weights = dataclasses.asdict(TaskConfig())
        weights.update(task_weights or {})
        unknown = set(weights) - set(TASKS)
        if unknown:
            raise InputError(f"`task_weights` has unknown task(s) {sorted(unknown)}; tasks are {TASKS}.")
        self.task_weights = {k: float(v) for k, v in weights.items()}
        self.num_uniform_negatives = int(num_uniform_negatives)
        self.category_negatives = {k: int(v) for k, v in (category_negatives or {}).items() if int(v) > 0}
        bad = set(self.category_negatives) - {"recommend", "search"}
        if bad or any(int(v) < 0 for v in (category_negatives or {}).values()):
            raise InputError("`category_negatives` maps 'recommend' / 'search' to a number of negatives >= 0. "
                             f"Received: category_negatives={category_negatives!r}. Fix: e.g. {{'search': 8}}.")
        self.full_softmax = tuple(t for t in ("recommend", "search") if t in set(full_softmax or ()))
        if set(full_softmax or ()) - set(self.full_softmax):
            raise InputError("`full_softmax` names tasks among 'recommend' / 'search'. "
                             f"Received: full_softmax={full_softmax!r}. Fix: e.g. ('recommend',).")
        self.seed = seed  # negative sampling; None: drawn from Python's `random`
        self.seed_generator = keras.random.SeedGenerator(seed)
        rows = item_tower.num_items + 1
        probability = np.full(rows, 1.0 / rows, np.float32) if sampling_probability is None \
            else np.asarray(sampling_probability, np.float32)
        self.sampling_probability = self.add_weight(name="sampling_probability", shape=(rows,), trainable=False,
                                                    initializer=keras.initializers.Constant(probability))
        # full softmax: a logit offset per catalog item; `mask_catalog` sets it for items without a
        # training event, which then are no negatives (as in-batch, where they never occur)
        self.catalog_offset = self.add_weight(name="catalog_offset", shape=(item_tower.num_items,), trainable=False,
                                              initializer="zeros") if self.full_softmax else None

    def mask_catalog(self, item_indices) -> None:
        """Keep these items (1-based indices) out of the full-softmax catalog. Why: an item without a
        training event would only ever be a negative, so its id embedding (zeroed by
        `ItemTower.clear_ids` to mean "no id") would be pushed away from every user."""
        if self.catalog_offset is None:
            return
        offset = np.zeros(self.item_tower.num_items, np.float32)
        offset[np.asarray(item_indices, np.int64) - 1] = CATALOG_MASK_OFFSET
        self.catalog_offset.assign(offset)

    def dummy_batch(self, batch_size: int = 2) -> dict:
        """A tiny all-padding batch with every input the model reads (used to create variables)."""
        import tensorflow as tf

        history = self.user_tower_history_length
        batch = {
            "user_bin": tf.zeros([batch_size], tf.int32), "hour": tf.zeros([batch_size], tf.int32),
            "weekday": tf.zeros([batch_size], tf.int32), "device": tf.zeros([batch_size], tf.int32),
            "history_items": tf.zeros([batch_size, history], tf.int32),
            "history_events": tf.zeros([batch_size, history], tf.int32),
            "history_recency": tf.zeros([batch_size, history], tf.int32),
            "target_item": tf.ones([batch_size], tf.int32), "event": tf.ones([batch_size], tf.int32),
            "weight": tf.ones([batch_size]), "has_query": tf.ones([batch_size]), "rating": tf.ones([batch_size]),
            "has_rating": tf.ones([batch_size]), "click": tf.ones([batch_size]),
        }
        if self.query_tower is not None:
            batch["query_vector"] = tf.zeros([batch_size, self.query_tower.text_dim])
        return batch

    user_tower_history_length = 4

    def build_all(self) -> None:
        """Create every variable (heads build lazily) so weights can be saved, loaded or optimised."""
        if not self.built:
            self.compute_losses(self.dummy_batch(), training=False)
            self.built = True

    def active(self, task: str) -> bool:
        if task == "search" and self.query_tower is None:
            return False
        if task == "rating" and self.rating_head is None:
            return False
        if task == "click" and self.click_head is None:
            return False
        return self.task_weights.get(task, 0.0) > 0

    # --- embeddings -----------------------------------------------------------------------------
    def user_embedding(self, batch, training=None):
        return self.user_tower({k: batch[k] for k in USER_FEATURES}, training=training)

    def item_embedding(self, item_index, training=None):
        return self.item_tower(item_index, training=training)

    def query_embedding(self, batch, user_embedding=None, training=None):
        inputs = {k: batch[k] for k in ("query_vector", "query") if k in batch}
        if user_embedding is not None:
            inputs["user_embedding"] = user_embedding
        return self.query_tower(inputs, training=training)

    def call(self, batch, training=None):
        user = self.user_embedding(batch, training=training)
        return {"user_embedding": user, "item_embedding": self.item_embedding(batch["target_item"], training=training)}

    # --- losses ---------------------------------------------------------------------------------
    def category_index(self):
        """`(order, sorted_category, cumulative)`: catalog rows (0-based, item index - 1) grouped by
        category, their categories, and the running sum of their `sampling_probability` with a
        leading 0. Rebuilt from the tables (a sort of the catalog, cheap next to a training step)
        once per `compute_losses`, so it always matches the loaded weights."""
        category = ops.cast(self.item_tower.catalog_category, "int32")[1:]  # row 0 is padding
        order = ops.cast(ops.argsort(category), "int32")
        mass = ops.take(ops.cast(self.sampling_probability, "float32")[1:], order, axis=0)
        return order, ops.take(category, order, axis=0), ops.concatenate([ops.zeros((1,)), ops.cumsum(mass)])

    def sample_category_negatives(self, target, n: int, index=None):
        """`((B, n) item indices, (B, n) expected draws of each)`: drawn (with replacement) from each
        target's own category in the item tower's catalog table, in proportion to the items'
        `sampling_probability` (how often each is a training positive) — the batch's own negative
        distribution restricted to the category, so the expected draws `n * p / p(category)` feed
        the head's logQ like the batch's. Why not uniform in the category: items without a training
        interaction (new items) would then be only ever negatives, and the model learns to bury
        them (cold-start split, seed 42: new-item recall@10 0.545 without category negatives,
        0.310 uniform, 0.460 by frequency — still lower, hence off by default). The target
        itself may be drawn: the head masks it. `index`: `category_index()` (computed when None)."""
        order, sorted_category, cumulative = index if index is not None else self.category_index()
        target_category = ops.take(ops.cast(self.item_tower.catalog_category, "int32"), ops.cast(target, "int32"))
        start = ops.searchsorted(sorted_category, target_category, side="left")
        end = ops.searchsorted(sorted_category, target_category, side="right")  # the category is [start, end)
        low, high = ops.take(cumulative, start), ops.take(cumulative, end)
        uniform = keras.random.uniform((ops.shape(target)[0], n), seed=self.seed_generator)
        point = ops.reshape(low[:, None] + uniform * (high - low)[:, None], (-1,))
        position = ops.reshape(ops.searchsorted(cumulative[1:], point, side="right"), ops.shape(uniform))
        position = ops.clip(ops.cast(position, "int32"), start[:, None], end[:, None] - 1)  # float rounding at the edges
        mass = ops.take(cumulative, position + 1) - ops.take(cumulative, position)
        expected = float(n) * mass / ops.maximum((high - low)[:, None], 1e-12)
        return ops.take(order, position) + 1, expected

    def _row_negatives(self, task, target, training, index):
        n = self.category_negatives.get(task, 0)
        if not n:
            return {}
        ids, expected = self.sample_category_negatives(target, n, index)
        flat = self.item_embedding(ops.reshape(ids, (-1,)), training=training)
        return {"row_candidates": ops.reshape(flat, (-1, n, ops.shape(flat)[-1])), "row_ids": ids,
                "row_probability": expected}

    def compute_losses(self, batch, training=True):
        """Dict of task losses (this replica's share of the global mean) and their weighted `total`."""
        target = ops.cast(batch["target_item"], "int32")
        user = self.user_embedding(batch, training=training)
        item = self.item_embedding(target, training=training)
        probability = ops.take(self.sampling_probability, target, axis=0)
        extra = {}
        if self.num_uniform_negatives:
            extra_ids = keras.random.randint((self.num_uniform_negatives,), 1, self.item_tower.num_items + 1,
                                            seed=self.seed_generator)
            extra = {"extra_candidates": self.item_embedding(extra_ids, training=training), "extra_ids": extra_ids,
                     "extra_probability": ops.full((self.num_uniform_negatives,),
                                                   self.num_uniform_negatives / self.item_tower.num_items)}
        # shared by both tasks; not built when no task that samples them is active
        index = self.category_index() if any(self.active(t) for t in self.category_negatives) else None
        losses = {}
        zero = ops.zeros((), "float32")
        catalog = None
        if any(self.active(t) for t in self.full_softmax):
            catalog = self.item_embedding(ops.arange(1, self.item_tower.num_items + 1, dtype="int32"), training=training)

        def mean(per_example, weights):
            weights = ops.cast(weights, "float32")
            return ops.sum(per_example * weights) / ops.maximum(cross_replica_sum(ops.sum(weights)), 1e-9)

        if self.active("recommend") and "recommend" in self.full_softmax:
            bonus = self.catalog_offset[None, :]
            if self.repeat_head is not None:
                bonus = bonus + self.repeat_head.catalog_bonus(batch["history_items"])[:, 1:]
            losses["recommend"] = mean(self.retrieval_head.catalog_loss(user, catalog, target, bonus=bonus),
                                       batch["weight"])
        elif self.active("recommend"):
            bonus = self.repeat_head.candidate_bonus(batch["history_items"], all_gather(target)) \
                if self.repeat_head is not None else None
            per_example = self.retrieval_head(user, item, target, probability, **extra, bonus=bonus,
                                              **self._row_negatives("recommend", target, training, index))
            losses["recommend"] = mean(per_example, batch["weight"])
        if self.active("search"):
            query = self.query_embedding(batch, user_embedding=user, training=training)
            per_example = self.retrieval_head.catalog_loss(query, catalog, target, bonus=self.catalog_offset[None, :]) \
                if "search" in self.full_softmax \
                else self.retrieval_head(query, item, target, probability, **extra,
                                         **self._row_negatives("search", target, training, index))
            losses["search"] = mean(per_example, batch["has_query"])
        if self.active("rating"):
            predicted = self.rating_head(user, item, batch["user_bin"], target, training=training)
            per_example = ops.square(predicted - batch["rating"])
            if self.rating_head.l2:
                per_example = per_example + self.rating_head.penalty(batch["user_bin"], target)
            losses["rating"] = mean(per_example, batch["has_rating"])
        if self.active("click"):
            logits = self.click_head(user, item, batch["user_bin"], target, training=training)
            bce = keras.losses.binary_crossentropy(ops.expand_dims(batch["click"], -1), ops.expand_dims(logits, -1),
                                                   from_logits=True)
            losses["click"] = mean(bce, ops.ones_like(batch["click"]))
        total = zero
        for task, value in losses.items():
            total = total + self.task_weights[task] * value
        losses["total"] = total
        return losses

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {"name": self.name, "item_tower": ser(self.item_tower), "user_tower": ser(self.user_tower),
                "query_tower": ser(self.query_tower) if self.query_tower else None,
                "retrieval_head": ser(self.retrieval_head),
                "rating_head": ser(self.rating_head) if self.rating_head else None,
                "click_head": ser(self.click_head) if self.click_head else None,
                "repeat_head": ser(self.repeat_head) if self.repeat_head else None,
                "task_weights": self.task_weights, "num_uniform_negatives": self.num_uniform_negatives,
                "category_negatives": self.category_negatives, "full_softmax": list(self.full_softmax),
                "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("user_tower", "query_tower", "retrieval_head", "rating_head", "click_head", "repeat_head"):
            if config.get(key):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        config["item_tower"] = config["user_tower"].item_tower  # one shared item tower, as when built
        return cls(**config)
