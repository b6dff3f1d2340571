"""TensorBoard output of a run: scalars, histograms, hparams and the embedding projector."""
from __future__ import annotations

from pathlib import Path

import numpy as np

HISTOGRAM_VALUES = 1 << 18
PROJECTOR_ITEMS = 100_000
"""Items the embedding projector shows at most (every k-th of a bigger catalog): the projector
loads the whole tensor into the browser, and its PCA / t-SNE views sample far fewer points anyway."""
"""At most this many values of a variable go into its histogram: TensorBoard's histogram op one-hot
encodes every value into its buckets (~120 bytes a value), which took 2 GB for a 262,144 x 32 user
table and more than 6 GB for a 1M-bin one; larger variables are histogrammed on an evenly strided
sample of this size."""


def histogram_sample(values):
    """`values` (1-D), or every k-th of them when there are more than `HISTOGRAM_VALUES`."""
    n = int(values.shape[0])
    return values if n <= HISTOGRAM_VALUES else values[:: -(-n // HISTOGRAM_VALUES)]


class TensorBoardLogger:
    """Writes to RUN/logs/{train,validation}; `enabled=False` (non-chief workers) writes nothing."""

    def __init__(self, log_dir: str | Path, enabled: bool = True):
        import tensorflow as tf

        self.log_dir = Path(log_dir)
        self.enabled = enabled
        self.train = tf.summary.create_file_writer(str(self.log_dir / "train")) if enabled else None
        self.validation = tf.summary.create_file_writer(str(self.log_dir / "validation")) if enabled else None

    def scalars(self, values: dict, step: int, writer: str = "train") -> None:
        if not self.enabled:
            return
        import tensorflow as tf

        with getattr(self, writer).as_default(step=step):
            for name, value in values.items():
                tf.summary.scalar(name, float(value))

    def histograms(self, variables, step: int) -> None:
        if not self.enabled:
            return
        import tensorflow as tf

        with self.train.as_default(step=step):
            for variable in variables:
                values = tf.reshape(tf.convert_to_tensor(variable), [-1])
                tf.summary.histogram(f"weights/{variable.path}", histogram_sample(values))

    def hparams(self, hparams: dict) -> None:
        if not self.enabled:
            return
        from tensorboard.plugins.hparams import api as hp

        flat = {k: (v if isinstance(v, int | float | str | bool) else str(v)) for k, v in hparams.items()}
        with self.train.as_default():
            hp.hparams(flat)

    def flush(self) -> None:
        for writer in (self.train, self.validation):
            if writer is not None:
                writer.flush()

    def projector(self, embeddings: np.ndarray, metadata: list[tuple[str, str, str]]) -> Path | None:
        """Item embeddings with (item_id, title, category) metadata for TensorBoard's projector
        (every k-th item of a catalog over `PROJECTOR_ITEMS`)."""
        if not self.enabled:
            return None
        step = -(-len(embeddings) // PROJECTOR_ITEMS)
        embeddings, metadata = embeddings[::step], metadata[::step]
        import tensorflow as tf
        from tensorboard.plugins import projector

        out = self.log_dir / "train"  # TensorBoard's projector only looks in runs (dirs with event files)
        out.mkdir(parents=True, exist_ok=True)
        with (out / "metadata.tsv").open("w", encoding="utf-8") as handle:
            handle.write("item_id\ttitle\tcategory\n")
            for row in metadata:
                handle.write("\t".join(str(x).replace("\t", " ").replace("\n", " ") for x in row) + "\n")
        variable = tf.Variable(embeddings, name="item_embeddings")
        checkpoint = tf.train.Checkpoint(embedding=variable)
        checkpoint.save(str(out / "embedding.ckpt"))
        config = projector.ProjectorConfig()
        embedding = config.embeddings.add()
        embedding.tensor_name = "embedding/.ATTRIBUTES/VARIABLE_VALUE"
        embedding.metadata_path = "metadata.tsv"
        projector.visualize_embeddings(str(out), config)
        return out
