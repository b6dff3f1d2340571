"""A SavedModel holding only the TextEncoder reloads in a fresh process (tensorflow + tensorflow_text)."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from recsys_tf.export.text_export import export_text_encoder
from recsys_tf.text.text_encoder import TextEncoder

TEXTS = ["acme wireless earbuds", "", "Crème brûlée torch", "无线耳机 降噪", "y" * 5000]


def _reload_in_fresh_process(path, out):
    code = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf, tensorflow_text  # noqa: F401 (registers TF Text ops)
        model = tf.saved_model.load({str(path)!r})
        result = model.signatures["serving_default"](text=tf.constant({TEXTS!r}))
        np.save({str(out)!r}, result["embedding"].numpy())
    """)
    subprocess.run([sys.executable, "-c", code], check=True, env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2"})
    return np.load(out)


@pytest.mark.slow
def test_tiny_encoder_reloads_with_same_vectors(tmp_path):
    encoder = TextEncoder.from_preset("tiny", sequence_length=32, projection_dim=16)
    export_text_encoder(encoder, tmp_path / "sm")
    vectors = _reload_in_fresh_process(tmp_path / "sm", tmp_path / "out.npy")
    assert np.abs(vectors - encoder(tf.constant(TEXTS)).numpy()).max() < 1e-5


@pytest.mark.large
@pytest.mark.slow
def test_minilm_encoder_reloads_with_same_vectors_and_single_weights(tmp_path):
    encoder = TextEncoder.from_preset("minilm-l6", sequence_length=64)
    export_text_encoder(encoder, tmp_path / "sm")
    vectors = _reload_in_fresh_process(tmp_path / "sm", tmp_path / "out.npy")
    assert np.abs(vectors - encoder(tf.constant(TEXTS)).numpy()).max() < 1e-5
    weight_bytes = sum(w.numpy().nbytes for w in encoder.weights)
    stored = sum(f.stat().st_size for f in (tmp_path / "sm" / "variables").iterdir())
    assert stored <= 1.05 * weight_bytes, f"{stored} bytes of variables for {weight_bytes} bytes of weights"
