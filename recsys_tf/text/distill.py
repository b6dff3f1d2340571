"""A shallower query encoder distilled from the frozen text tower (search latency).

Why: at batch 1 on CPU the 6-layer MiniLM forward pass is ~11 ms of a search request, and its
float32 matmuls alone take ~8 ms (`benchmarks/query_encoder_floor.py`: 42.5 MB of weights read per
query, more than this CPU's L3). Dropping the top layers without training loses search quality
(docs/results.md "Speed and size"). `DistilledTextEncoder` keeps the teacher's embeddings (shared: no second
copy in the export) and runs `num_layers` transformer blocks initialised from teacher layers, then
trained so that its pooled, normalised vector reproduces the teacher's on query-like texts
(`distill_query_encoder`: 1 - cosine). Items are still encoded by the full teacher, so the index
does not change; only the query side gets cheaper.

Neither keras-hub nor TFRS ships embedding distillation (keras-hub has no student/teacher tooling
for backbones), hence this module; the blocks themselves are keras-hub `TransformerEncoder`s
configured exactly like the teacher backbone's (BERT or XLM-RoBERTa).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from recsys_tf.errors import InputError
from recsys_tf.text.text_encoder import TextEncoder, is_bert

WEIGHTS_FILE = "query_encoder.npz"
INFO_FILE = "query_encoder.json"


def default_init_layers(teacher_layers: int, num_layers: int) -> list[int]:
    """Teacher layers the student's blocks start from: evenly spread, always ending with the top one
    (e.g. 6 -> 3: [1, 3, 5]), so the student starts close to the teacher's output space."""
    step = teacher_layers / num_layers
    return [int(round(step * (i + 1))) - 1 for i in range(num_layers)]


@keras.saving.register_keras_serializable(package="recsys_tf")
class DistilledTextEncoder(TextEncoder):
    """A `TextEncoder` that reuses the teacher backbone's embedding layers and runs its own
    `num_layers` transformer blocks (initialised from the teacher's `init_layers`) instead of the
    backbone's. Same tokenizer, pooling, normalisation and output size as the teacher; only the
    blocks are trainable. Frozen-mode only: the teacher backbone must not change.

    Args:
        backbone, tokenizer: the teacher's (shared, not copied).
        num_layers: transformer blocks of the student.
        init_layers: teacher layer indices to start each block from (default evenly spread).
        other args: as `TextEncoder` (training_mode is always "frozen" for the backbone).
    """

    def __init__(self, backbone, tokenizer, num_layers: int = 3, init_layers=None, **kwargs):
        teacher_layers = int(backbone.get_config()["num_layers"])
        if not 1 <= int(num_layers) <= teacher_layers:
            raise InputError(f"`num_layers` of a distilled query encoder must be in [1, {teacher_layers}] "
                             f"(the teacher's depth). Received: num_layers={num_layers}.")
        init_layers = [int(i) for i in (init_layers if init_layers is not None
                                        else default_init_layers(teacher_layers, int(num_layers)))]
        if len(init_layers) != int(num_layers) or not all(0 <= i < teacher_layers for i in init_layers):
            raise InputError(f"`init_layers` must list {num_layers} teacher layer indices in "
                             f"[0, {teacher_layers}). Received: init_layers={init_layers}.")
        # read by _make_sublayers, which TextEncoder.__init__ calls before the layer is locked
        object.__setattr__(self, "_student_spec", (int(num_layers), init_layers))
        kwargs["training_mode"] = "frozen"
        super().__init__(backbone, tokenizer, **kwargs)

    def _make_sublayers(self) -> None:
        import keras_hub

        self.num_layers, self.init_layers = self._student_spec
        hidden = int(self.backbone.get_config()["hidden_dim"])
        self.blocks = []
        for i, source in enumerate(self.init_layers):
            # configured exactly like the teacher's blocks (activation, layer norm epsilon), with
            # dropout off: a distilled encoder for serving
            teacher = self.backbone.transformer_layers[source]
            block = keras_hub.layers.TransformerEncoder.from_config(
                {**teacher.get_config(), "dropout": 0.0, "name": f"student_layer_{i}"})
            block.build((None, None, hidden))
            block.set_weights(teacher.get_weights())
            self.blocks.append(block)

    def sequence_output(self, token_ids, mask, training=None):
        b = self.backbone
        if is_bert(b):
            tokens = b.token_embedding(token_ids)
            x = b.embeddings_add((tokens, b.position_embedding(tokens),
                                  b.segment_embedding(ops.zeros_like(token_ids))))
        else:  # XLM-RoBERTa: token + position embedding in one layer
            x = b.embeddings(token_ids)
        x = b.embeddings_layer_norm(x)
        for block in self.blocks:
            x = block(x, padding_mask=mask, training=training)
        return x

    def block_weights(self) -> list:
        return [w for block in self.blocks for w in block.weights]

    def save_blocks(self, path) -> None:
        """The student's own weights only (the embeddings are the teacher's), written atomically."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, **{f"w{i:03d}": w.numpy() for i, w in enumerate(self.block_weights())})
        tmp.replace(path)

    def load_blocks(self, path) -> None:
        data = np.load(path)
        weights = self.block_weights()
        if len(data.files) != len(weights):
            raise InputError(f"{path} holds {len(data.files)} arrays but a {self.num_layers}-layer distilled "
                             f"encoder has {len(weights)}: it was written for another configuration. "
                             "Fix: re-run `recsys-tf train` (or delete the file to distill again).")
        for i, weight in enumerate(weights):
            weight.assign(data[f"w{i:03d}"])

    def get_config(self):
        config = super().get_config()
        config.update({"num_layers": self.num_layers, "init_layers": self.init_layers})
        return config


def student_of(teacher: TextEncoder, num_layers: int) -> DistilledTextEncoder:
    """A student with the teacher's backbone, tokenizer, length, pooling and normalisation."""
    return DistilledTextEncoder(teacher.backbone, teacher.tokenizer, num_layers=num_layers,
                                sequence_length=teacher.sequence_length, pooling=teacher.pooling,
                                normalize=teacher.normalize, preset=teacher.preset, name="query_text_encoder")


def query_like_texts(queries: list[str], item_texts: list[str], n_windows: int = 20000,
                     seed: int = 0) -> list[str]:
    """Distillation texts: the training queries, and short word windows (1-6 words) cut from item
    titles and descriptions — queries are short and use the catalog's words; the student never
    sees evaluation queries."""
    rng = np.random.default_rng(seed)
    words = [t.split() for t in item_texts if t.strip()]
    windows = []
    for _ in range(n_windows if words else 0):
        w = words[int(rng.integers(len(words)))]
        n = int(rng.integers(1, 7))
        start = int(rng.integers(max(len(w) - n, 0) + 1))
        windows.append(" ".join(w[start:start + n]))
    return sorted(set(queries) | set(windows))


def distill_query_encoder(teacher: TextEncoder, texts: list[str], num_layers: int = 3, steps: int = 600,
                          batch_size: int = 64, learning_rate: float = 3e-4, validation_fraction: float = 0.05,
                          seed: int = 0, teacher_vectors: np.ndarray | None = None, log=print):
    """Train a `DistilledTextEncoder` to reproduce `teacher`'s vectors on `texts` (1 - cosine).
    Returns (student, info) where info has the held-out mean cosine before and after, steps and
    seconds. `teacher_vectors` (len(texts), dim) may come from an embedding cache."""
    from recsys_tf.text.embedding_cache import encode_texts

    if teacher.training_mode != "frozen":
        raise InputError("A distilled query encoder needs a frozen text tower (text.mode=frozen): the "
                         f"teacher must not change while the student copies it. Received: mode={teacher.training_mode!r}. "
                         "Fix: set text.query_encoder_layers=0 for this mode.")
    if len(texts) < 2:
        raise InputError(f"Distilling a query encoder needs texts; received {len(texts)}.")
    start_time = time.time()
    student = student_of(teacher, num_layers)
    targets = teacher_vectors if teacher_vectors is not None else encode_texts(teacher, texts)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    n_val = max(1, int(len(texts) * validation_fraction))
    val, train = order[:n_val], order[n_val:]
    texts_arr = np.array(texts, dtype=object)

    def cosine(indices):
        vectors = encode_texts(student, list(texts_arr[indices]))
        return float(np.mean(np.sum(vectors * targets[indices], axis=1)))

    before = cosine(val)
    variables = student.trainable_weights
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, warmup_target=None)
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(variables)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None, targets.shape[1]], tf.float32)])
    def train_step(text, target):
        with tf.GradientTape() as tape:
            out = student(text, training=True)
            loss = tf.reduce_mean(1.0 - tf.reduce_sum(out * target, axis=1))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    for step in range(steps):
        batch = train[rng.integers(len(train), size=batch_size)]
        loss = float(train_step(tf.constant(list(texts_arr[batch]), tf.string), tf.constant(targets[batch])))
        if log and (step + 1) % max(steps // 5, 1) == 0:
            log(f"distill query encoder: step {step + 1}/{steps} loss {loss:.4f}")
    after = cosine(val)
    info = {"num_layers": num_layers, "init_layers": student.init_layers, "texts": len(texts), "steps": steps,
            "batch_size": batch_size, "learning_rate": learning_rate, "heldout_cosine_before": before,
            "heldout_cosine_after": after, "seconds": round(time.time() - start_time, 1)}
    if log:
        log(f"distilled a {num_layers}-layer query encoder: held-out cosine to the teacher {before:.4f} -> "
            f"{after:.4f} ({info['seconds']} s)")
    return student, info


def save_query_encoder(student: DistilledTextEncoder, info: dict, run_dir) -> None:
    """Blocks first, then the report (the marker `train` checks to reuse a student), each atomically."""
    run_dir = Path(run_dir)
    student.save_blocks(run_dir / WEIGHTS_FILE)
    tmp = run_dir / f".{INFO_FILE}.tmp"
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(run_dir / INFO_FILE)


def load_query_encoder(teacher: TextEncoder, run_dir, num_layers: int) -> DistilledTextEncoder:
    run_dir = Path(run_dir)
    path = run_dir / WEIGHTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: this run was configured with text.query_encoder_layers="
                                f"{num_layers} but has no distilled query encoder. Fix: re-run `recsys-tf train`.")
    student = student_of(teacher, num_layers)
    student.load_blocks(path)
    return student
