"""The code, the tests, the benchmarks and the notebooks pass `ruff` (the settings in pyproject.toml)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed. Fix: make install (it is a dev dependency)")
    done = subprocess.run([ruff, "check", "--output-format", "concise", "recsys_tf", "tests", "benchmarks", "notebooks",
                           "scripts/make_notebooks.py"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
