import pytest

from recsys_tf.data.schema import write_dataset
from recsys_tf.data.splits import split_dataset


@pytest.fixture(scope="session")
def split_dir(tmp_path_factory, small_dataset):
    """The small synthetic dataset, split temporal-last, on disk."""
    out = tmp_path_factory.mktemp("data") / "split"
    write_dataset(split_dataset(small_dataset, "temporal-last"), out)
    return out


TINY = ["text.preset=tiny", "text.item_sequence_length=32", "text.query_sequence_length=16",
        "model.embedding_dim=16", "model.hidden_dims=[32]", "model.id_dim=8", "model.attribute_dim=4",
        "train.batch_size=64", "train.eval_k=[10]"]
