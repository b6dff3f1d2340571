import keras
import numpy as np
import pytest
import tensorflow as tf

from recsys_tf.text.presets import PresetError
from recsys_tf.text.text_encoder import TextEncoder
from tests.layer_harness import run_layer_test

TEXTS = ["acme wireless earbuds, black", "blue yoga mat", "", "   ", "x" * 100_000, "无线耳机"]


@pytest.fixture(scope="module")
def tiny():
    return TextEncoder.from_preset("tiny", sequence_length=16, projection_dim=8)


def test_shapes_norms_and_edge_inputs(tiny):
    out = tiny(tf.constant(TEXTS)).numpy()
    assert out.shape == (len(TEXTS), 8)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out[2], out[3], atol=1e-6)  # empty and whitespace-only mean "no text"


def test_string_and_token_inputs_agree(tiny):
    tokens = tiny.preprocess(tf.constant(TEXTS))
    assert tokens["token_ids"].dtype == tf.int32 and tokens["padding_mask"].dtype == tf.int32
    assert tokens["token_ids"].shape == (len(TEXTS), 16)
    np.testing.assert_allclose(tiny(tokens).numpy(), tiny(tf.constant(TEXTS)).numpy(), atol=1e-6)


def test_short_strings_are_trimmed_and_match_full_padding(tiny):
    short = tf.constant(["blue yoga mat", "mat", ""])
    tokens = tiny.preprocess(short)
    trimmed = TextEncoder._trim_padding(tokens)
    longest = int(tokens["padding_mask"].numpy().sum(axis=1).max())
    assert longest < 16 and trimmed["token_ids"].shape == (3, longest)
    np.testing.assert_allclose(tiny(short).numpy(), tiny(tokens).numpy(), atol=1e-6)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooling_matches_numpy_reference(tiny, pooling):
    encoder = TextEncoder(tiny.backbone, tiny.tokenizer, sequence_length=16, pooling=pooling, normalize=False)
    tokens = encoder.preprocess(tf.constant(TEXTS[:3]))
    hidden = tiny.backbone({"token_ids": tokens["token_ids"], "segment_ids": tf.zeros_like(tokens["token_ids"]),
                            "padding_mask": tokens["padding_mask"] > 0})["sequence_output"].numpy()
    mask = tokens["padding_mask"].numpy()[..., None]
    expected = hidden[:, 0] if pooling == "cls" else (hidden * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(encoder(tokens).numpy(), expected, atol=1e-5)


def test_layer_harness_config_save_reload_and_reference(tiny, tmp_path):
    inputs = keras.Input(shape=(16,), dtype="int32", name="token_ids")
    mask = keras.Input(shape=(16,), dtype="int32", name="padding_mask")
    tokens = tiny.preprocess(tf.constant(TEXTS))
    hidden = tiny.backbone({"token_ids": tokens["token_ids"], "segment_ids": tf.zeros_like(tokens["token_ids"]),
                            "padding_mask": tokens["padding_mask"] > 0})["sequence_output"].numpy()
    weights = tokens["padding_mask"].numpy()[..., None]
    pooled = (hidden * weights).sum(1) / np.maximum(weights.sum(1), 1.0)
    projected = pooled @ tiny.projection.kernel.numpy()
    if tiny.projection.use_bias:
        projected = projected + tiny.projection.bias.numpy()
    expected = projected / np.linalg.norm(projected, axis=1, keepdims=True)
    run_layer_test(tiny, tokens, {"token_ids": inputs, "padding_mask": mask}, tmp_path, expected=expected)
    loaded = keras.saving.load_model(tmp_path / f"{tiny.name}.keras")
    reloaded_encoder = [layer for layer in loaded.layers if isinstance(layer, TextEncoder)][0]
    np.testing.assert_allclose(reloaded_encoder(tf.constant(TEXTS)).numpy(), tiny(tf.constant(TEXTS)).numpy(),
                               atol=1e-6)


def _changed_after_one_step(encoder):
    before = {w.path: w.numpy().copy() for w in encoder.weights}
    optimizer = keras.optimizers.Adam(1e-2)
    tokens = encoder.preprocess(tf.constant(TEXTS[:2]))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(encoder(tokens, training=True)[:, 0])
    grads = tape.gradient(loss, encoder.trainable_weights)
    optimizer.apply_gradients(zip(grads, encoder.trainable_weights))
    return {path for path, value in before.items()
            if not np.array_equal(value, [w for w in encoder.weights if w.path == path][0].numpy())}


@pytest.mark.parametrize("mode", ["frozen", "last_n_layers", "full", "lora"])
def test_only_the_chosen_weights_train(mode):
    encoder = TextEncoder.from_preset("tiny-4l", sequence_length=16, projection_dim=8, training_mode=mode,
                                      trainable_layers=1, lora_rank=2)
    changed = _changed_after_one_step(encoder)
    backbone_changed = {p for p in changed if "projection" not in p}
    assert any("projection" in p for p in changed)
    if mode == "frozen":
        assert backbone_changed == set()
    elif mode == "last_n_layers":
        assert backbone_changed and all("transformer_layer_3" in p for p in backbone_changed)
    elif mode == "full":
        assert any("token_embedding" in p for p in backbone_changed)
        assert any("transformer_layer_0" in p for p in backbone_changed)
    else:  # keras LoRA: the adapted query/value layers train their low-rank factors and biases
        assert any("lora" in p for p in backbone_changed)
        assert all("lora" in p or (p.endswith("/bias") and ("/query/" in p or "/value/" in p))
                   for p in backbone_changed)


def test_bad_arguments_name_value_and_fix():
    with pytest.raises(ValueError, match="pooling.*Received: pooling='max'"):
        TextEncoder.from_preset("tiny", pooling="max")
    with pytest.raises(ValueError, match="sequence_length.*Received: sequence_length=1000"):
        TextEncoder.from_preset("tiny", sequence_length=1000)
    with pytest.raises(PresetError, match="not a local directory.*Fix"):
        TextEncoder.from_preset("no_such_preset_en")


def test_directory_presets(tmp_path, tiny):
    (tmp_path / "junk").mkdir()
    with pytest.raises(PresetError, match="neither a Hugging Face"):
        TextEncoder.from_preset(str(tmp_path / "junk"))
    tiny.backbone.save_to_preset(str(tmp_path / "kh"))
    tiny.tokenizer.save_to_preset(str(tmp_path / "kh"))
    again = TextEncoder.from_preset(str(tmp_path / "kh"), sequence_length=16)
    plain = TextEncoder(tiny.backbone, tiny.tokenizer, sequence_length=16)
    np.testing.assert_allclose(again(tf.constant(TEXTS)).numpy(), plain(tf.constant(TEXTS)).numpy(), atol=1e-6)
