import json

import numpy as np
import pandas as pd
import pytest

from recsys_tf.evaluation.judgments import graded_queries, is_validation_query, judgment_half


def test_halves_are_a_fixed_partition_by_query():
    judgments = pd.DataFrame({"query": [f"q{i % 40}" for i in range(200)], "item_id": [f"i{i}" for i in range(200)],
                              "relevance": 1.0})
    validation, test = judgment_half(judgments, "validation"), judgment_half(judgments, "test")
    assert len(validation) + len(test) == len(judgments)
    assert not set(validation["query"]) & set(test["query"])  # a query's rows stay together
    assert 10 < validation["query"].nunique() < 30
    np.testing.assert_array_equal(is_validation_query(["q1", "q2"]), is_validation_query(["q1", "q2"]))
    assert judgment_half(None, "test") is None
    with pytest.raises(ValueError, match="half='train'"):
        judgment_half(judgments, "train")


@pytest.mark.slow
def test_training_calibrates_search_text_weight_on_validation_judgments(tiny_run):
    """tiny_run's training ended with the calibration: the chosen scale is the best of its curve, the
    saved weights carry it, and a NumPy top-10 reproduces the validation NDCG it reports."""
    from recsys_tf.evaluation.metrics import graded_ndcg
    from recsys_tf.text.embedding_cache import encode_texts
    from recsys_tf.training.run import load_run

    report = json.loads((tiny_run / "run.json").read_text())["search_calibration"]
    curve = {float(k): v for k, v in report["ndcg_by_scale"].items()}
    assert curve[report["scale"]] == max(curve.values()) and len(curve) == 8
    run = load_run(tiny_run)
    model, vocab, dataset, query_encoder = run.model, run.vocab, run.dataset, run.query_encoder
    weight = float(model.query_tower.skip_weight.numpy())
    assert weight == pytest.approx(report["text_weight"]["calibrated"], rel=1e-6)
    assert weight == pytest.approx(report["text_weight"]["trained"] * report["scale"], rel=1e-6)
    texts, grades = graded_queries(judgment_half(dataset.judgments, "validation"), vocab)
    assert report["queries"] == len(texts) > 0
    queries = model.query_tower({"query_vector": encode_texts(query_encoder, texts)}).numpy()
    items = model.item_tower(np.arange(len(vocab.items) + 1), training=False).numpy()
    scores = queries @ items.T
    scores[:, 0] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    assert graded_ndcg(top, grades, 10).mean() == pytest.approx(curve[report["scale"]], abs=1e-4)
