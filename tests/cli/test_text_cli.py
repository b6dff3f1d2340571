import numpy as np

from recsys_tf.cli.main import main


def test_text_embed_writes_normalised_rows_in_order(tmp_path, capsys):
    lines = ["red mug", "", "blue kettle", "red mug"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "emb.npy"
    assert main(["text", "embed", "--preset", "tiny", "--input", str(tmp_path / "in.txt"), "--output", str(out),
                 "--sequence-length", "16", "--pooling", "cls"]) == 0
    vectors = np.load(out)
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[3], atol=1e-6)


def test_text_embed_errors(tmp_path, capsys):
    assert main(["text", "embed", "--preset", "tiny", "--input", str(tmp_path / "missing.txt"),
                 "--output", str(tmp_path / "o.npy")]) == 2
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\xfe\n")
    assert main(["text", "embed", "--preset", "tiny", "--input", str(tmp_path / "bad.txt"),
                 "--output", str(tmp_path / "o.npy")]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err
    # an existing directory as --output is refused before encoding (it used to write DIR.npy beside it)
    (tmp_path / "good.txt").write_text("a\nb\n")
    (tmp_path / "out").mkdir()
    assert main(["text", "embed", "--preset", "tiny", "--input", str(tmp_path / "good.txt"),
                 "--output", str(tmp_path / "out")]) == 2
    assert "is a directory" in capsys.readouterr().err and not (tmp_path / "out.npy").exists()
    # a name without .npy is written as given
    assert main(["text", "embed", "--preset", "tiny", "--input", str(tmp_path / "good.txt"),
                 "--output", str(tmp_path / "vectors")]) == 0
    assert np.load(tmp_path / "vectors").shape[0] == 2 and not (tmp_path / "vectors.npy").exists()
