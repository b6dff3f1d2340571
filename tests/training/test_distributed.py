"""tf.distribute: MirroredStrategy on 2 logical CPU devices matches one device (the train split
shuffled whole in memory, or streamed with lazy Adam on every table); 2 worker processes on 127.0.0.1 train an epoch with
MultiWorkerMirroredStrategy (category negatives on), each streaming its part of the examples."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.training.conftest import TINY

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    env.pop("TF_CONFIG", None)
    return env


@pytest.mark.parametrize("softmax,shuffle", [("in_batch", "whole"), ("full", "whole"), ("in_batch", "streamed")])
def test_mirrored_matches_single_device(split_dir, tmp_path, softmax, shuffle):
    # the streamed case also makes every embedding table lazy (train.lazy_adam_rows=1): its gathered and
    # scattered rows must match one device too
    streamed = ["train.shuffle_whole_up_to=0", "train.lazy_adam_rows=1"]
    settings = TINY + [f"model.softmax={softmax}"] + (streamed if shuffle == "streamed" else [])
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("distributed_check.py")), str(split_dir),
                          str(tmp_path), json.dumps(settings)],
                         capture_output=True, text=True, env=_env(), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.split("RESULT ", 1)[1])
    assert "rating/rmse" in results["default"]  # validated on the weight average (train.ema_momentum)
    for key, value in results["default"].items():
        assert abs(value - results["mirrored"][key]) < 1e-3, (key, value, results["mirrored"][key])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_two_processes(split_dir, tmp_path):
    """Two workers train one epoch, each streaming its own files of the examples (2 per split here;
    the chief writes them to RUN/examples, the other worker the same ones to a directory of its own)."""
    workers = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    procs = []
    for index in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        args = [sys.executable, "-m", "recsys_tf.cli.main", "train", "--data", str(split_dir), "--out",
                str(tmp_path / "run"), "--strategy", "multi_worker"]
        # with per-row category negatives too: their sampler runs in each worker's replica function
        for item in TINY + ["train.epochs=1", "train.max_steps_per_epoch=4", "model.search_category_negatives=2",
                            "model.recommend_category_negatives=2"]:
            args += ["--set", item]
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, stderr) in sorted(zip(procs, outputs), key=lambda pair: pair[0].returncode == 0):
        assert proc.returncode == 0, stderr[-3000:]  # a crashed worker first: the others only see its absence
    # MultiWorkerMirroredStrategy's class is CollectiveAllReduceStrategy
    assert "CollectiveAllReduceStrategy with 2 replica(s)" in outputs[0][0], outputs[0][0][-2000:]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[0]["epoch"] == 1 and history[0]["train/total"] > 0
    assert "search_category_negatives: 2" in (tmp_path / "run" / "config.yaml").read_text()
    assert (tmp_path / "run" / "examples" / "manifest.json").exists()
