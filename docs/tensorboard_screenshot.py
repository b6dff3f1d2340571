"""Screenshot of the TensorBoard dashboard for a run, for the README (not run in CI).

    .venv/bin/python docs/tensorboard_screenshot.py --logdir runs/demo/run/logs --out docs/tensorboard.png

Starts the `tensorboard` package's server on 127.0.0.1, waits until it answers, and renders the page
with headless Chromium (Debian's `chromium` package: `apt-get install chromium`). Chromium runs with
networking limited to loopback use (no background fetches, which a closed network refuses).
"""
from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logdir", default="runs/demo/run/logs")
    parser.add_argument("--out", default="docs/tensorboard.png")
    parser.add_argument("--view", default="#scalars&tagFilter=recall%4010%7Cndcg%4010%7Closs%2Ftotal%7Closs%2Frecommend",
                        help="URL fragment: dashboard and tag filter")
    parser.add_argument("--size", default="1600,1000")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.logdir).is_dir():
        sys.exit(f"--logdir {args.logdir} does not exist. Fix: run `make demo` first (or pass a run's logs dir).")
    if not Path(args.chromium).exists():
        sys.exit(f"Chromium not found at {args.chromium}. Fix: `apt-get install chromium` or pass --chromium PATH.")
    port = free_port()
    tensorboard = [str(Path(sys.executable).with_name("tensorboard")), "--logdir", args.logdir,
                   "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(tensorboard, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + "data/runs", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit(f"TensorBoard did not answer on {url} within 120 s.")
                time.sleep(1)
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                            "--no-first-run", "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", f"--user-data-dir={profile}", "--hide-scrollbars",
                            f"--window-size={args.size}", "--virtual-time-budget=20000",
                            f"--screenshot={Path(args.out).resolve()}", url + args.view],
                           check=True, timeout=180, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
