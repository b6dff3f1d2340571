"""Shared fixtures. Size tiers as markers (see pyproject): `large` uses the real MiniLM checkpoint,
`slow` starts subprocesses (crash, multi-worker, fresh-process reload)."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def small_dataset():
    """A small synthetic dataset (deterministic), shared by the whole session."""
    from recsys_tf.data.synthetic import generate

    return generate(n_items=300, n_users=120, sessions_per_user=6, seed=7, n_judgment_queries=20)
