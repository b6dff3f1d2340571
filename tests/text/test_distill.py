import keras
import numpy as np
import pytest
import tensorflow as tf

from recsys_tf.text.distill import (
    DistilledTextEncoder,
    default_init_layers,
    distill_query_encoder,
    load_query_encoder,
    query_like_texts,
    save_query_encoder,
)
from recsys_tf.text.text_encoder import TextEncoder
from tests.layer_harness import run_layer_test

TEXTS = ["acme wireless earbuds black", "blue yoga mat", "", "noise cancelling", "x" * 5_000, "无线耳机"]


@pytest.fixture(scope="module")
def teacher():
    return TextEncoder.from_preset("tiny-4l", sequence_length=16)


def test_default_init_layers_spread_and_end_at_the_top():
    assert default_init_layers(6, 3) == [1, 3, 5]
    assert default_init_layers(6, 2) == [2, 5]
    assert default_init_layers(4, 4) == [0, 1, 2, 3]
    assert default_init_layers(6, 1) == [5]


def test_full_depth_student_equals_the_teacher(teacher):
    """Blocks copied from every teacher layer in order + the shared embeddings = the teacher itself."""
    student = DistilledTextEncoder(teacher.backbone, teacher.tokenizer, num_layers=4, init_layers=[0, 1, 2, 3],
                                   sequence_length=16)
    np.testing.assert_allclose(student(tf.constant(TEXTS)).numpy(), teacher(tf.constant(TEXTS)).numpy(), atol=1e-5)


def test_student_shares_embeddings_and_trains_only_its_blocks(teacher):
    student = DistilledTextEncoder(teacher.backbone, teacher.tokenizer, num_layers=2, sequence_length=16)
    own = {id(w) for w in student.trainable_weights}
    assert own == {id(w) for w in student.block_weights()}
    assert teacher.backbone.token_embedding.embeddings in [w for w in student.weights]  # shared, not copied
    out = student(tf.constant(TEXTS)).numpy()
    assert out.shape == (len(TEXTS), teacher.output_dim) and np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_get_config_names_the_layers_it_copies(teacher):
    config = DistilledTextEncoder(teacher.backbone, teacher.tokenizer, num_layers=2, sequence_length=16).get_config()
    assert config["num_layers"] == 2 and config["init_layers"] == [1, 3]


def test_bad_arguments_name_value_and_fix(teacher):
    with pytest.raises(ValueError, match="num_layers.*Received: num_layers=9"):
        DistilledTextEncoder(teacher.backbone, teacher.tokenizer, num_layers=9)
    with pytest.raises(ValueError, match="init_layers.*Received: init_layers=\\[0, 7\\]"):
        DistilledTextEncoder(teacher.backbone, teacher.tokenizer, num_layers=2, init_layers=[0, 7])
    lora = TextEncoder.from_preset("tiny", sequence_length=16, training_mode="lora", lora_rank=2)
    with pytest.raises(ValueError, match="frozen text tower.*Fix"):
        distill_query_encoder(lora, TEXTS, num_layers=1, steps=1)


def test_query_like_texts_are_queries_and_short_windows():
    texts = query_like_texts(["red scarf"], ["acme wool scarf red warm winter soft long", "blue mat"], n_windows=50)
    assert "red scarf" in texts and len(texts) == len(set(texts))
    assert all(1 <= len(t.split()) <= 6 for t in texts)


def test_distillation_moves_the_student_towards_the_teacher_and_reloads(teacher, tmp_path):
    texts = query_like_texts([], ["acme wireless earbuds black noise cancelling", "blue yoga mat non slip",
                                  "steel water bottle insulated", "wool scarf red warm"], n_windows=300)
    student, info = distill_query_encoder(teacher, texts, num_layers=1, steps=60, batch_size=32,
                                          learning_rate=3e-3, log=None)
    assert info["heldout_cosine_after"] > info["heldout_cosine_before"]
    save_query_encoder(student, info, tmp_path)
    again = load_query_encoder(teacher, tmp_path, num_layers=1)
    np.testing.assert_allclose(again(tf.constant(TEXTS)).numpy(), student(tf.constant(TEXTS)).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="holds .* arrays.*Fix"):
        load_query_encoder(teacher, tmp_path, num_layers=2)
    with pytest.raises(FileNotFoundError, match="query_encoder.npz is missing.*Fix"):
        load_query_encoder(teacher, tmp_path / "nowhere", num_layers=1)


def test_layer_harness_config_save_reload(teacher, tmp_path):
    student = DistilledTextEncoder(teacher.backbone, teacher.tokenizer, num_layers=2, sequence_length=16)
    for w in student.block_weights():  # make them differ from the teacher's layers
        w.assign(w.numpy() + np.random.default_rng(0).normal(0, 0.01, w.shape).astype("float32"))
    ids = keras.Input(shape=(16,), dtype="int32", name="token_ids")
    mask = keras.Input(shape=(16,), dtype="int32", name="padding_mask")
    out = run_layer_test(student, student.preprocess(tf.constant(TEXTS)), {"token_ids": ids, "padding_mask": mask},
                         tmp_path, atol=1e-6)
    assert not np.allclose(out, teacher(tf.constant(TEXTS)).numpy(), atol=1e-3)  # the perturbation shows
