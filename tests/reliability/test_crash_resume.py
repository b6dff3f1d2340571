"""kill -9 in the middle of training, rerun the same command: it resumes from the last backup and
ends where an uninterrupted run ends (on the cosine learning-rate schedule, which must continue, not restart)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.training.conftest import TINY, logged_scalars

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SETTINGS = TINY + ["train.epochs=3", "train.max_steps_per_epoch=12", "train.backup_every_steps=3",
                   "model.dropout=0.0", "model.id_dropout=0.0", "model.user_id_dropout=0.0",
                   "train.early_stopping_patience=10", "train.lr_schedule=cosine"]


def _command(split_dir, run):
    args = [sys.executable, "-m", "recsys_tf.cli.main", "train", "--data", str(split_dir), "--out", str(run)]
    for item in SETTINGS:
        args += ["--set", item]
    return args


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))


def test_kill_9_mid_epoch_then_resume(split_dir, tmp_path):
    reference = subprocess.run(_command(split_dir, tmp_path / "clean"), capture_output=True, text=True, env=_env(),
                               timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]
    run = tmp_path / "crashed"
    proc = subprocess.Popen(_command(split_dir, run), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    backup = run / "checkpoints" / "backup"
    deadline = time.time() + 300
    # wait until epoch 1 is done and a mid-epoch-2 backup (step 15 = 12 + 3) exists
    while time.time() < deadline and not list(backup.glob("ckpt-15.index")):
        if proc.poll() is not None:
            pytest.fail("training ended before it could be killed: " + proc.stderr.read().decode()[-2000:])
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "last.weights.h5").exists()
    resumed = subprocess.run(_command(split_dir, run), capture_output=True, text=True, env=_env(), timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stdout and "epoch 2" in resumed.stdout
    clean = json.loads((tmp_path / "clean" / "history.json").read_text())
    after = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in after] == [1, 2, 3]
    for key in ("recommend/recall@10", "recommend/ndcg@10"):
        assert abs(after[-1][key] - clean[-1][key]) <= 0.02 * max(clean[-1][key], 1e-3) + 1e-6, key
    # the schedule read the restored optimizer step: the resumed run ends at learning rate 0 like the clean one
    # (restarted at step 15 it would end at 1e-3 * (1 + cos(pi * 21 / 36)) / 2 = 3.7e-4)
    assert _last_learning_rate(run) == pytest.approx(0.0, abs=1e-9)
    assert _last_learning_rate(tmp_path / "clean") == pytest.approx(0.0, abs=1e-9)


def _last_learning_rate(run):
    logged = logged_scalars(run / "logs" / "train", "learning_rate")
    assert max(logged) == 36
    return logged[36]
