"""The README's MovieLens 100K command sequence, end to end on the format fixture:
data load -> data split --strategy random --test-fraction 0.2 --seed 42 -> train -> evaluate --protocol tfrs."""
import json

import numpy as np
import pytest

from recsys_tf.cli.main import main
from tests.training.conftest import TINY

pytestmark = pytest.mark.slow


def test_movielens_tfrs_protocol(fixtures_dir, tmp_path, capsys):
    raw, split, run, report = (tmp_path / n for n in ("raw", "split", "run", "report"))
    assert main(["data", "load", "--format", "movielens-100k", "--path", str(fixtures_dir / "movielens-100k"),
                 "--out", str(raw)]) == 0
    assert main(["data", "split", str(raw), "--out", str(split), "--strategy", "random", "--test-fraction", "0.2",
                 "--seed", "42"]) == 0
    args = ["train", "--data", str(split), "--out", str(run)]
    for item in TINY + ["train.epochs=1", "train.batch_size=32", "train.monitor=recommend/recall@10"]:
        args += ["--set", item]
    assert main(args) == 0
    assert main(["evaluate", "--run", str(run), "--out", str(report), "--protocol", "tfrs"]) == 0
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["counts/test_events"] == 24  # 20% of the 120 valid ratings
    for key in ("recommend/hit_rate@10", "recommend_exclude_seen/hit_rate@10", "rating/rmse",
                "baselines/popularity/recommend/hit_rate@10", "baselines/ease/recommend_exclude_seen/hit_rate@10"):
        assert np.isfinite(metrics[key]), key
    # excluding seen items can only help a hit on an unseen test item
    assert metrics["recommend_exclude_seen/hit_rate@100"] >= metrics["recommend/hit_rate@100"] - 1e-9
    assert "seen items NOT excluded" in (report / "report.md").read_text()
