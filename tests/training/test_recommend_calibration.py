"""Hybrid recommend's calibration after training: the table refitted on train + validation with the
λ chosen on validation, the fusion weight the best of its curve, `model.cooccurrence=none` dense."""
import json

import numpy as np
import pytest

from tests.training.conftest import TINY


def test_the_run_records_its_choices_and_the_table_is_the_refit_on_train_and_validation(tiny_run):
    from recsys_tf.evaluation.events import read_eval_events
    from recsys_tf.index.cooccurrence import fit_cooccurrence, interactions
    from recsys_tf.training.run import load_run

    run = load_run(tiny_run)
    report = json.loads((tiny_run / "run.json").read_text())["recommend_calibration"]
    curve = report["fusion_curve"]
    assert len(curve) == 21 and report["chosen_on"] == "validation NDCG@10"
    best = max(curve.values(), key=lambda q: q["ndcg@10"])["ndcg@10"]
    assert curve[f"{report['fusion_weight']:g}"]["ndcg@10"] == best == report["validation"]["hybrid"]["ndcg@10"]
    assert report["validation"]["dense"] == curve["0"] and report["validation"]["cooccurrence"] == curve["1"]
    assert run.recommend_fusion_weight == report["fusion_weight"]
    table = report["table"]
    assert table["method"] == "ease" and table["bytes"] == run.cooccurrence.nbytes
    l2_curve = {float(k): v["ndcg@10"] for k, v in report["ease_l2_curve"].items()}
    assert l2_curve[table["l2"]] == max(l2_curve.values())
    if len(l2_curve) < 8:  # the grid was extended until its best λ was not at an end
        assert min(l2_curve) < table["l2"] < max(l2_curve)
    events = read_eval_events(run.data_dir, run.vocab)
    known = events.history.items > 0
    refit = fit_cooccurrence(interactions(events.history.rows[known], events.history.items[known], events.n_users,
                                          len(run.vocab.items)), "ease", table["l2"], neighbours=table["neighbours"])
    np.testing.assert_array_equal(refit.neighbours, run.cooccurrence.neighbours)
    np.testing.assert_allclose(refit.weights, run.cooccurrence.weights, rtol=1e-5)


@pytest.mark.slow
def test_cooccurrence_none_trains_a_dense_recommender_and_a_fixed_weight_is_kept(split_dir, tmp_path):
    from recsys_tf.training.config import load_config
    from recsys_tf.training.recommend_calibration import recalibrate_run
    from recsys_tf.training.run import load_run, train_run

    settings = TINY + ["train.epochs=1", "train.max_steps_per_epoch=2", "tasks.search=0"]
    train_run(split_dir, tmp_path / "dense", load_config(None, settings + ["model.cooccurrence=none"]),
              log=lambda *_: None)
    dense = load_run(tmp_path / "dense")
    assert dense.cooccurrence is None and dense.recommend_fusion_weight == 0.0
    assert "recommend_calibration" not in dense.info
    train_run(split_dir, tmp_path / "fixed", load_config(None, settings + ["train.recommend_fusion_weight=0.3",
                                                                            "model.cooccurrence=item_knn"]),
              log=lambda *_: None)
    fixed = load_run(tmp_path / "fixed")
    report = fixed.info["recommend_calibration"]
    assert fixed.recommend_fusion_weight == 0.3 and report["chosen_on"] == "configuration"
    assert report["table"]["method"] == "item_knn" and set(report["fusion_curve"]) == {"0", "0.3", "1"}
    lines = []
    assert recalibrate_run(tmp_path / "fixed", log=lines.append)["fusion_weight"] == 0.3  # idempotent
    assert any("recommend calibrated" in line for line in lines)
