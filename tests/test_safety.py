"""File and request safety (issue 9 item 5): nothing unpickled or eval'd, YAML only via safe_load,
and clients never send unbounded requests."""
import re
from pathlib import Path

import numpy as np
import pytest

from recsys_tf.serving.client import RecsysClient

PACKAGE = Path(__file__).resolve().parents[1] / "recsys_tf"
FORBIDDEN = [r"\bimport pickle\b", r"\bpickle\.loads?\(", r"(?<![\w.])eval\(", r"(?<![\w.])exec\(",
             r"yaml\.load\(", r"yaml\.unsafe_load", r"allow_pickle\s*=\s*True", r"\bmarshal\.loads?\("]


def test_no_pickle_eval_or_unsafe_yaml_in_the_package():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        offenders += [f"{path.relative_to(PACKAGE)}: {p}" for p in FORBIDDEN if re.search(p, text)]
    assert not offenders, offenders


class _Recorder(RecsysClient):
    def __init__(self):
        super().__init__("test://", "m", limits={"max_batch": 4, "max_k": 50, "max_exclude": 2, "max_request_ids": 3})
        self.sent = []

    def _predict(self, signature, inputs):
        self.sent.append((signature, inputs))
        n = len(next(iter(inputs.values())))
        return {"item_ids": np.full((n, 1), "A", object), "scores": np.zeros((n, 1), np.float32),
                "because_item_ids": np.full((n, 1), "", object)}


def test_client_never_sends_unbounded_requests():
    client = _Recorder()
    with pytest.raises(ValueError, match="max_batch"):
        client.search(["q"] * 5)
    with pytest.raises(ValueError, match="k"):
        client.search("q", k=51)
    with pytest.raises(ValueError, match="k"):
        client.search("q", k=0)
    with pytest.raises(ValueError, match="histories.*1000 ids.*max_request_ids=3"):  # refused, never cut
        client.recommend(["u"], [[f"I{i}" for i in range(1000)]])
    with pytest.raises(ValueError, match="exclude.*3 ids.*max_exclude=2"):
        client.recommend(["u"], [["I1"]], exclude=[["X1", "X2", "X3"]])
    assert not client.sent  # rejected requests were never sent
    client.recommend(["u"], [["I1", "I2", "I3"]], exclude=[["X1", "X2"]])
    _, inputs = client.sent[-1]
    assert inputs["history_item_ids"].tolist() == [["I1", "I2", "I3"]] and inputs["exclude_item_ids"].shape == (1, 2)
