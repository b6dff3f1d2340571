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


def test_search_validation_falls_back_to_validation_clicks():
    from recsys_tf.data.schema import Dataset
    from recsys_tf.evaluation.judgments import search_validation

    events = pd.DataFrame({"user_id": ["u1", "u2", "u3", "u4"], "item_id": ["i1", "i2", "i1", "i3"],
                           "query": ["mug", "mug", "", "belt"], "split": ["validation", "validation", "validation",
                                                                         "test"]})
    frame, source = search_validation(Dataset(items=pd.DataFrame({"item_id": ["i1", "i2", "i3"]}), events=events))
    assert source == "validation search clicks"
    assert sorted(zip(frame["query"], frame["item_id"])) == [("mug", "i1"), ("mug", "i2")]
    assert (frame["relevance"] == 1.0).all()


@pytest.mark.slow
def test_training_calibrates_search_on_validation_judgments(tiny_run):
    """tiny_run's training ended with the calibration: the chosen (text-weight scale, fusion weight)
    is the best of its grid, the scale is not at an end of a grid that could grow, the saved weights
    carry it, and the exported ranking (`hybrid_top_k`) reproduces the validation NDCG it reports."""
    from recsys_tf.evaluation.judgments import FUSION_WEIGHTS, MAX_SCALE, MIN_SCALE
    from recsys_tf.evaluation.metrics import graded_ndcg
    from recsys_tf.index.lexical import FUSION_POOL, LexicalIndex, hybrid_top_k
    from recsys_tf.index.topk import top_k_items
    from recsys_tf.text.embedding_cache import encode_texts
    from recsys_tf.training.run import load_run

    report = json.loads((tiny_run / "run.json").read_text())["search_calibration"]
    by_scale = {float(k): v for k, v in report["ndcg_by_scale"].items()}
    by_weight = {float(k): v for k, v in report["ndcg_by_weight"].items()}
    assert sorted(by_weight) == list(FUSION_WEIGHTS) and report["source"] == "validation half of the judged queries"
    assert report["ndcg"] == max(by_scale.values()) == max(by_weight.values())
    assert by_scale[report["scale"]] == report["ndcg"] and by_weight[report["fusion"]["weight"]] == report["ndcg"]
    scales = sorted(by_scale)
    assert report["scale"] not in (scales[0], scales[-1]) or report["scale"] in (MIN_SCALE, MAX_SCALE) \
        or by_scale[scales[0]] == by_scale[scales[-1]] == report["ndcg"]
    assert set(report["ingredients"]) == {"dense_trained", "bm25", "zero_shot_text"}
    assert report["ndcg"] >= report["ingredients"]["dense_trained"] and report["ndcg"] >= report["ingredients"]["bm25"]
    run = load_run(tiny_run)
    assert run.fusion_weight == report["fusion"]["weight"]
    model, vocab, dataset, query_encoder = run.model, run.vocab, run.dataset, run.query_encoder
    weight = float(model.query_tower.skip_weight.numpy())
    assert weight == pytest.approx(report["text_weight"]["calibrated"], rel=1e-6)
    assert weight == pytest.approx(report["text_weight"]["trained"] * report["scale"], rel=1e-6)
    texts, grades = graded_queries(judgment_half(dataset.judgments, "validation"), vocab)
    assert report["queries"] == len(texts) > 0
    queries = model.query_tower({"query_vector": encode_texts(query_encoder, texts)}).numpy()
    items = model.item_tower(np.arange(len(vocab.items) + 1), training=False).numpy()
    if report["fusion"]["weight"] == 0:
        top = top_k_items(queries, items, 10)[0]
    else:
        top = hybrid_top_k(queries, items, LexicalIndex(run.catalog.texts), texts, report["fusion"]["weight"], 10,
                           FUSION_POOL)
    assert graded_ndcg(top, grades, 10).mean() == pytest.approx(report["ndcg"], abs=1e-4)


def test_query_language_is_read_from_the_script():
    from recsys_tf.evaluation.judgments import language_segments, query_language

    cases = {"无线耳机": "zh", "AirPods Pro 2代": "zh", "無線耳機": "zh", "ワイヤレスイヤホン": "ja", "東京 ラーメン": "ja",
             "무선 이어폰": "ko", "наушники": "cyrillic", "سماعات": "arabic", "wireless earbuds": "latin",
             "écouteurs": "latin", "ＡｉｒＰｏｄｓ": "latin", "123 ¥": "other", "👍": "other", "": "other"}
    assert {text: query_language(text) for text in cases} == cases
    assert language_segments(["mug", "belt"]) == {}  # one language: no breakdown
    segments = language_segments(["mug", "杯子", "tasse", "mug"], tags=["", "", "fr", ""])
    assert {name: mask.tolist() for name, mask in segments.items()} == {
        "lang_fr": [False, False, True, False], "lang_latin": [True, False, False, True],
        "lang_zh": [False, True, False, False]}


def test_judged_search_is_reported_per_query_language(tiny_run, split_dir, tmp_path):
    import shutil

    from recsys_tf.data.schema import read_dataset, write_dataset
    from recsys_tf.evaluation.evaluate import evaluate_run, write_report

    data = tmp_path / "data"
    shutil.copytree(split_dir, data)
    dataset = read_dataset(data)
    judgments = dataset.judgments.copy()
    queries = sorted(judgments["query"].unique())
    chinese = {q: f"{q} 耳机" for q in queries[::3]}  # a third of the queries gain Han characters
    judgments["query"] = judgments["query"].map(lambda q: chinese.get(q, q))
    judgments["language"] = np.where(judgments["query"].isin(queries[1::3]), "en", "")  # a third tagged
    dataset.judgments = judgments
    write_dataset(dataset, data)
    metrics = evaluate_run(tiny_run, data_dir=data, baselines=("bm25",), log=lambda *_: None)
    languages = ("lang_en", "lang_latin", "lang_zh")
    counts = [metrics[f"counts/search_judged/{lang}"] for lang in languages]
    assert all(c > 0 for c in counts) and sum(counts) == metrics["counts/search_judged"]
    for prefix in ("", "baselines/bm25/"):
        overall = metrics[f"{prefix}search_judged/ndcg@10"]
        by_language = sum(metrics[f"{prefix}search_judged/{lang}/ndcg@10"] * c for lang, c in zip(languages, counts))
        assert by_language / sum(counts) == pytest.approx(overall, abs=1e-6)
    report = write_report(metrics, tmp_path / "report", plots=False, tensorboard=False).read_text()
    assert "By query language, search_judged ndcg@10 (en = " in report and "lang_zh/ndcg@10" in report
