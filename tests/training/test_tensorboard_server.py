"""The real TensorBoard server over a run's logs serves the scalar tags, hparams and the projector."""
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def _port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes via a proxy


def _get(url):
    with _NO_PROXY.open(url, timeout=10) as response:
        return json.loads(response.read())


def test_tensorboard_serves_run_logs(tiny_run):
    port = _port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(tiny_run / "logs"),
                               "--host", "127.0.0.1", "--port", str(port), "--load_fast", "false"],
                              stdout=subprocess.DEVNULL, stderr=open(tiny_run / "tensorboard.log", "w"))
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        plugins = None
        while time.time() < deadline:
            try:
                plugins = _get(f"{base}/data/plugins_listing")
                tags = _get(f"{base}/data/plugin/scalars/tags")
                if tags.get("train") and tags.get("validation"):
                    break
            except (OSError, ValueError):
                pass
            time.sleep(1)
        assert plugins is not None, "TensorBoard did not start: " + (tiny_run / "tensorboard.log").read_text()[-1500:]
        assert "train" in tags, tags
        assert {"loss/recommend", "loss/total", "learning_rate"} <= set(tags["train"])
        assert {"recommend/recall@10", "recommend/ndcg@10"} <= set(tags["validation"])
        for plugin in ("scalars", "histograms", "hparams"):  # the projector answers below (activates lazily)
            assert plugins[plugin]["enabled"], plugin
        projector_runs = _get(f"{base}/data/plugin/projector/runs")
        assert projector_runs, "no projector run"
    finally:
        server.terminate()
        server.wait(timeout=30)
