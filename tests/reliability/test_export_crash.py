"""kill -9 during an export leaves no loadable version; two exports at once give two complete versions."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsys_tf.export.versions import versions

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _export(run, root, *extra):
    return [sys.executable, "-m", "recsys_tf.cli.main", "export", "--run", str(run), "--export-root", str(root),
            "--model-name", "recsys", "--max-k", "10", *extra]


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))


def test_kill_during_export_then_export_again(tiny_run, tmp_path):
    proc = subprocess.Popen(_export(tiny_run, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    model_dir = tmp_path / "recsys"
    deadline = time.time() + 300
    while time.time() < deadline and not any(model_dir.glob(".tmp-*/variables")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert versions(model_dir) == []  # the half-written export is hidden, never a version
    assert all(p.name.startswith(".tmp-") for p in model_dir.iterdir())
    done = subprocess.run(_export(tiny_run, tmp_path, "--no-verify"), capture_output=True, text=True, env=_env(),
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert versions(model_dir) == [1] and (model_dir / "1" / "saved_model.pb").exists()


def test_two_concurrent_exports_give_two_complete_versions(tiny_run, tmp_path):
    procs = [subprocess.Popen(_export(tiny_run, tmp_path, "--no-verify"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=_env()) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
    model_dir = tmp_path / "recsys"
    assert versions(model_dir) == [1, 2]
    for version in (1, 2):
        assert (model_dir / str(version) / "saved_model.pb").exists()
        assert (model_dir / str(version) / "assets.extra" / "tf_serving_warmup_requests").exists()
