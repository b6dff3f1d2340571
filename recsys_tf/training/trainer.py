"""`Trainer`: the custom training loop behind `train_run` (recsys_tf/training/run.py).

One custom loop for every strategy (default, Mirrored, MultiWorkerMirrored, TPU): a `tf.function`
step runs `strategy.run` (GradientTape + Keras 3 optimizer) and `strategy.reduce` sums the
replicas' shares of each task loss. Each epoch ends with full-catalog validation (Recall@K,
NDCG@K for recommend and search), TensorBoard summaries, best/last weights and early stopping.

Crash safety (BackupAndRestore semantics): a `tf.train.Checkpoint` of model, optimizer and
position (epoch, step in epoch, best metric, patience) is written every `backup_every_steps`
steps and at each epoch end; rerunning the same command restores it and skips the batches
already trained (shuffling is seeded per epoch, so the remaining batches are the same ones).
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from recsys_tf.atomic import atomic_write, atomic_write_text
from recsys_tf.training.config import ExperimentConfig
from recsys_tf.training.monitoring import TensorBoardLogger
from recsys_tf.training.trained_run import (
    BACKUP_DIR,
    BEST_WEIGHTS,
    HISTORY_FILE,
    LAST_WEIGHTS,
    LOGS_DIR,
    item_vectors,
    user_and_query_vectors,
)


def is_chief() -> bool:
    config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    task = config.get("task", {})
    return task.get("type", "chief") == "chief" or (task.get("type") == "worker" and int(task.get("index", 0)) == 0
                                                    and "chief" not in config.get("cluster", {}))


VALIDATION_CHUNK = 32_768  # validation rows scored at a time, so its memory does not grow with the split


def evaluate_retrieval(model, examples: dict, seen: dict | None, user_ids: list | None, ks, batch_size: int = 512,
                       query_vectors=None, chunk: int = VALIDATION_CHUNK) -> dict[str, float]:
    """Full-catalog Recall@K / NDCG@K of recommend (and search, for rows with a query); `rating/rmse` and
    `rating/mae` of the rating head on rows with a rating (when the model trains one). Rows are scored
    `chunk` at a time; the metrics are means over all rows, the same whatever the chunk."""
    n = len(examples["target_item"])
    if n == 0:
        return {}
    items = item_vectors(model)
    per_row: dict[str, list] = {}
    for start in range(0, n, chunk):
        part = {name: values[start:start + chunk] for name, values in examples.items()}
        users = user_ids[start:start + chunk] if user_ids is not None else None
        for name, values in _row_metrics(model, items, part, seen, users, ks, batch_size, query_vectors).items():
            per_row.setdefault(name, []).append(values)
    metrics = {name: float(np.concatenate(values).mean()) for name, values in per_row.items()
               if not name.startswith("rating/")}
    if "rating/error" in per_row:
        error = np.concatenate(per_row["rating/error"])
        metrics.update({"rating/rmse": float(np.sqrt(np.mean(np.square(error)))),
                        "rating/mae": float(np.mean(np.abs(error)))})
    return metrics


def _row_metrics(model, items: np.ndarray, examples: dict, seen: dict | None, user_ids: list | None, ks,
                 batch_size: int, query_vectors) -> dict[str, np.ndarray]:
    """Per-row metrics of some validation rows: `recommend/<metric>`, `search/<metric>` (rows with a
    query) and `rating/error` (prediction - rating, rows with a rating)."""
    import tensorflow as tf

    from recsys_tf.evaluation.metrics import hit_metrics
    from recsys_tf.index.topk import top_k_items

    search_rows = np.flatnonzero(examples["has_query"] > 0) if model.query_tower is not None else np.array([], int)
    users, searches = user_and_query_vectors(model, examples, batch_size, query_vectors, with_queries=len(search_rows) > 0)
    k_max = max(ks)
    exclude = [seen.get(u) for u in user_ids] if seen is not None and user_ids is not None else None
    top, _ = top_k_items(users, items, k_max, exclude=exclude)
    rows = {f"recommend/{k}": v for k, v in hit_metrics(top, examples["target_item"], ks).items()}
    if len(search_rows) and searches is not None:
        top, _ = top_k_items(searches[search_rows], items, k_max)
        rows.update({f"search/{k}": v for k, v in hit_metrics(top, examples["target_item"][search_rows], ks).items()})
    rating_rows = np.flatnonzero(examples["has_rating"] > 0) if model.active("rating") else np.array([], int)
    if len(rating_rows):  # the catalog's item vectors are computed above: gather, don't re-run the tower
        target = examples["target_item"][rating_rows]
        predicted = np.concatenate([
            model.rating_head(tf.constant(users[part]), tf.constant(items[target[start:start + batch_size]]),
                              tf.constant(examples["user_bin"][part]), tf.constant(target[start:start + batch_size])).numpy()
            for start in range(0, len(rating_rows), batch_size)
            for part in [rating_rows[start:start + batch_size]]]).ravel()
        rows["rating/error"] = predicted - examples["rating"][rating_rows]
    return rows


LOWER_IS_BETTER = ("rmse", "mae")


def monitor_sign(monitor: str) -> int:
    """+1 for metrics where higher is better (recall, NDCG, ...), -1 for errors (`rating/rmse`, `rating/mae`)."""
    return -1 if monitor.rsplit("/", 1)[-1] in LOWER_IS_BETTER else 1


STREAM_SHUFFLE_BUFFER = 200_000  # examples held for shuffling a streamed split (packed: ~0.1 GB at max_history 20)


def untrained_items(train_item_counts: np.ndarray) -> np.ndarray:
    """Catalog indices (1..num_items) that occur in no training example. Training targets cover the
    histories too: a train example's history is made of earlier train events, each a target itself."""
    counts = np.asarray(train_item_counts).copy()
    counts[0] = 1
    return np.flatnonzero(counts == 0)


class Trainer:
    def __init__(self, model, config: ExperimentConfig, strategy, run_dir: Path, prepared, validation_users):
        import keras
        import tensorflow as tf

        from recsys_tf.training.optimizer import Adam

        self.model, self.config, self.strategy, self.run_dir = model, config, strategy, Path(run_dir)
        self.prepared, self.validation_users = prepared, validation_users
        self._whole = None  # the train split as tensors, when it is shuffled whole (`_whole_split`)
        self.chief = is_chief()
        with strategy.scope():
            # create every lazily-built variable before the optimizer sees the variable list
            model.build_all()
            untrained = untrained_items(prepared.train_item_counts)
            model.item_tower.clear_ids(untrained)
            model.mask_catalog(untrained)
            ema = float(config.train.ema_momentum)  # Keras validates ema_momentum even when use_ema is off
            self.optimizer = Adam(self.learning_rate(), use_ema=ema > 0, ema_momentum=ema or 0.99,
                                  lazy_rows=config.train.lazy_adam_rows)
            if keras.mixed_precision.global_policy().name == "mixed_float16":
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(model.trainable_variables)
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
            self.step_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
            self.best = tf.Variable(-np.inf, dtype=tf.float64, trainable=False)
            self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(model=model, optimizer=self.optimizer, epoch=self.epoch,
                                              step_in_epoch=self.step_in_epoch, global_step=self.global_step,
                                              best=self.best, bad_epochs=self.bad_epochs)
        backup_dir = self.run_dir / BACKUP_DIR
        if not self.chief:  # every worker must save (collective), only the chief's copy is kept
            backup_dir = Path(tempfile.mkdtemp(prefix="recsys_tf_worker_backup_"))
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(backup_dir), max_to_keep=1)
        self.logger = TensorBoardLogger(self.run_dir / LOGS_DIR, self.chief)
        self._step_fn = self._make_step()

    def _make_step(self):
        import tensorflow as tf

        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        scaled = hasattr(optimizer, "scale_loss")

        def replica_step(batch):
            with tf.GradientTape() as tape:
                losses = model.compute_losses(batch, training=True)
                loss = optimizer.scale_loss(losses["total"]) if scaled else losses["total"]
            variables = model.trainable_variables
            gradients = tape.gradient(loss, variables)
            optimizer.apply_gradients([(g, v) for g, v in zip(gradients, variables) if g is not None])
            return losses

        def step(distributed_batch):
            per_replica = strategy.run(replica_step, args=(distributed_batch,))
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}

        return tf.function(step, jit_compile=self.config.train.jit_compile or None)

    def _dataset(self, epoch: int, skip: int):
        return self.strategy.distribute_datasets_from_function(lambda context: self._shard_dataset(epoch, skip, context))

    def _shard_dataset(self, epoch: int, skip: int, context):
        """One input pipeline's training batches (per replica) from the `data prepare` shards,
        shuffled with a seed per epoch (a resumed run replays its epoch exactly).

        One pipeline and at most `train.shuffle_whole_up_to` examples (1M by default, ~0.4 GB at
        max_history 20): the split is read into memory in event order and shuffled whole. Else the files are interleaved, blocks parsed in parallel and
        examples shuffled in a bounded buffer. Why by hand (`distribute_datasets_from_function`) and
        not tf.data's auto-sharding: with several workers each reads its own files (or every Nth
        example when a worker would get no non-empty file), so their example counts differ, and a
        worker that ran out would feed empty batches into the others' collectives. Each pipeline
        therefore repeats its part and takes exactly the epoch's step count (times the replicas it
        feeds: its batches are per replica)."""
        import tensorflow as tf

        from recsys_tf.features import shards
        from recsys_tf.features.examples import with_query_vectors

        train = self.config.train
        n, pipelines = self.prepared.train_examples, context.num_input_pipelines
        per_replica = context.get_per_replica_batch_size(train.batch_size)
        if pipelines == 1 and n <= train.shuffle_whole_up_to:
            # shuffle positions, not examples: the same permutation as shuffling the examples
            # themselves, without a buffer of n examples of ~17 small tensors each (GBs at 1M)
            table = self._whole_split()
            order = tf.data.Dataset.range(n).shuffle(n, seed=train.seed + epoch, reshuffle_each_iteration=False)
            batches = order.batch(per_replica).map(lambda rows: {k: tf.gather(v, rows) for k, v in table.items()})
        else:
            stream = shards.stream(self.prepared.train_shards, "train", shuffle_buffer=min(n, STREAM_SHUFFLE_BUFFER),
                                   seed=train.seed + epoch, shard_index=context.input_pipeline_id if pipelines > 1
                                   else None, num_shards=pipelines if pipelines > 1 else None, packed=True)
            max_history = self.config.model.max_history
            batches = stream.batch(per_replica).map(lambda batch: shards.unpack(batch, max_history))
        if pipelines > 1:
            batches = batches.repeat()
        per_step = context.num_replicas_in_sync // pipelines  # this pipeline's batches in one global step
        batches = batches.take(self.steps_per_epoch() * per_step).skip(skip * per_step)
        return with_query_vectors(batches, self.prepared.query_vectors)

    def _whole_split(self) -> dict:
        """The train split's model inputs in event order, as tensors (read from the shards once)."""
        import tensorflow as tf

        from recsys_tf.features import shards

        if self._whole is None:
            examples = shards.load_split(self.prepared.train_shards, "train")
            self._whole = {k: tf.constant(v) for k, v in examples.items() if k not in shards.BOOKKEEPING_FEATURES}
        return self._whole

    def learning_rate(self):
        """`train.learning_rate`, or Keras' CosineDecay to 0 over the whole run (`train.lr_schedule=cosine`).

        The schedule reads the optimizer's own step counter, which the crash-recovery checkpoint holds,
        so a resumed run continues the same curve."""
        import keras

        train = self.config.train
        if train.lr_schedule == "constant":
            return train.learning_rate
        return keras.optimizers.schedules.CosineDecay(train.learning_rate,
                                                      decay_steps=max(1, train.epochs * self.steps_per_epoch()))

    def steps_per_epoch(self) -> int:
        steps = math.ceil(self.prepared.train_examples / self.config.train.batch_size)
        return min(steps, self.config.train.max_steps_per_epoch) if self.config.train.max_steps_per_epoch else steps

    @contextlib.contextmanager
    def averaged_weights(self):
        """With `train.ema_momentum > 0`: the model holds the optimizer's moving average of the weights
        inside the block (Keras' public `finalize_variable_values`), its raw weights again after it —
        validation, best/last weights see the average; training and the crash checkpoint the raw ones."""
        if not self.config.train.ema_momentum:
            yield
            return
        variables = self.model.trainable_variables
        raw = [np.array(v.numpy()) for v in variables]  # host copies: exact, any strategy
        self.optimizer.finalize_variable_values(variables)
        try:
            yield
        finally:
            for variable, value in zip(variables, raw):
                variable.assign(value)

    def validate(self) -> dict[str, float]:
        return evaluate_retrieval(self.model, self.prepared.validation, self.prepared.seen, self.validation_users,
                                  self.config.train.eval_k, query_vectors=self.prepared.query_vectors)

    def fit(self, log=print) -> dict:
        # Position (epoch, step), best metric and patience live in checkpointed variables that
        # resume, backup, validation and early stopping all read and write; the crash-resume test
        # (tests/reliability/test_crash_resume.py) pins that interplay.
        train = self.config.train
        restored = self.manager.latest_checkpoint
        if restored:
            self.checkpoint.restore(restored)
            log(f"resumed from {restored}: epoch {int(self.epoch.numpy()) + 1}, "
                f"step {int(self.step_in_epoch.numpy())} of the epoch")
        history_path = self.run_dir / HISTORY_FILE
        history = json.loads(history_path.read_text()) if restored and history_path.exists() else []
        steps = self.steps_per_epoch()
        while int(self.epoch.numpy()) < train.epochs and int(self.bad_epochs.numpy()) < train.early_stopping_patience:
            epoch = int(self.epoch.numpy())
            skip = int(self.step_in_epoch.numpy())
            started = time.perf_counter()
            totals = self._train_epoch(epoch, skip, steps)
            n_steps = max(1, int(self.step_in_epoch.numpy()) - skip)
            record = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - started, 2),
                      **{f"train/{k}": v / n_steps for k, v in totals.items()}}
            record.update(self._validate_and_keep_best())
            step = int(self.global_step.numpy())
            self.logger.scalars({k: v for k, v in record.items() if "/" in k and not k.startswith("train/")},
                                step, writer="validation")
            if train.histogram_every_epochs and (epoch + 1) % train.histogram_every_epochs == 0:
                self.logger.histograms(self.model.trainable_variables, step)
            self.logger.flush()
            history.append({k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in record.items()})
            log("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
            self.epoch.assign_add(1)
            self.step_in_epoch.assign(0)
            self.manager.save(checkpoint_number=step)
            if self.chief:
                atomic_write_text(history_path, json.dumps(history, indent=2))
        with self.averaged_weights():
            if self.chief:
                self._save_weights(LAST_WEIGHTS)
                if not (self.run_dir / BEST_WEIGHTS).exists():
                    self._save_weights(BEST_WEIGHTS)
        return {"history": history, "best": monitor_sign(train.monitor) * float(self.best.numpy())}

    def _save_weights(self, name: str) -> None:
        """Weights written to a temporary file and renamed: a crash mid-save keeps the previous file."""
        atomic_write(self.run_dir / name, lambda tmp: self.model.save_weights(str(tmp)))

    def _train_epoch(self, epoch: int, skip: int, steps: int) -> dict[str, float]:
        """Run one epoch's steps from step `skip` on; returns the summed losses by name."""
        from tqdm import tqdm

        train = self.config.train
        totals: dict[str, float] = {}
        bar = tqdm(total=steps, initial=skip, desc=f"epoch {epoch + 1}/{train.epochs}", unit="step",
                   disable=None if self.chief else True, mininterval=10)
        for batch in self._dataset(epoch, skip):
            losses = {k: float(v) for k, v in self._step_fn(batch).items()}
            if not all(math.isfinite(v) for v in losses.values()):
                bar.close()
                self._diverged(losses, int(self.global_step.numpy()) + 1)
            for k, v in losses.items():
                totals[k] = totals.get(k, 0.0) + v
            self.step_in_epoch.assign_add(1)
            self.global_step.assign_add(1)
            step = int(self.global_step.numpy())
            bar.update(1)
            bar.set_postfix(loss=f"{losses['total']:.3f}")
            if step % 10 == 0 or int(self.step_in_epoch.numpy()) == steps:  # and each epoch's last step
                self.logger.scalars({f"loss/{k}": v for k, v in losses.items()}, step)
                lr = self.optimizer.learning_rate
                self.logger.scalars({"learning_rate": float(lr.numpy() if hasattr(lr, "numpy") else lr)}, step)
            if train.backup_every_steps and step % train.backup_every_steps == 0:
                self.manager.save(checkpoint_number=step)
        bar.close()
        return totals

    def _diverged(self, losses: dict, step: int) -> None:
        """Stop at the first non-finite loss, before the step's weights reach a backup or a weights
        file (the run directory keeps the last finite backup, best weights and history)."""
        from recsys_tf.errors import TrainingDiverged

        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        lr = self.optimizer.learning_rate
        lr = float(lr.numpy() if hasattr(lr, "numpy") else lr)
        raise TrainingDiverged(
            f"training diverged at step {step} (epoch {int(self.epoch.numpy()) + 1}): non-finite loss {bad} with "
            f"train.learning_rate={self.config.train.learning_rate:g} (now {lr:g}). Nothing of this step was saved; "
            f"{self.run_dir} keeps the last finite backup and best weights. Fix: train into a new --out with a "
            "smaller learning rate (e.g. --set train.learning_rate=1e-3) or check the input data.")

    def _validate_and_keep_best(self) -> dict[str, float]:
        """Validate the averaged weights; on improvement save them as best, else count patience."""
        monitor = self.config.train.monitor
        with self.averaged_weights():
            metrics = self.validate()
            metric = metrics.get(monitor)
            if metric is not None:
                metric = monitor_sign(monitor) * metric  # `best` holds the signed value
            if metric is not None and metric > float(self.best.numpy()):
                self.best.assign(metric)
                self.bad_epochs.assign(0)
                if self.chief:
                    self._save_weights(BEST_WEIGHTS)
            elif metric is not None:
                self.bad_epochs.assign_add(1)
        return metrics


