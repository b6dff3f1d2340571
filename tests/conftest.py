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


@pytest.fixture(scope="session")
def split_dir(tmp_path_factory, small_dataset):
    """The small synthetic dataset, split temporal-last, on disk."""
    from recsys_tf.data.schema import write_dataset
    from recsys_tf.data.splits import split_dataset

    out = tmp_path_factory.mktemp("data") / "split"
    write_dataset(split_dataset(small_dataset, "temporal-last"), out)
    return out


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, split_dir):
    """A trained tiny-preset run directory (1 short epoch), shared by evaluation/export/serving tests."""
    from recsys_tf.training.config import load_config
    from recsys_tf.training.run import train_run
    from tests.training.conftest import TINY

    run = tmp_path_factory.mktemp("runs") / "tiny"
    train_run(split_dir, run, load_config(None, TINY + ["train.epochs=1", "train.max_steps_per_epoch=8"]),
              log=lambda *_: None)
    return run


@pytest.fixture(scope="session")
def tiny_exports(tiny_run, tmp_path_factory):
    """`tiny_run` exported once per session, each checked in a fresh process (the exporter's reload
    check): (brute-force version dir, ScaNN version dir), both with hybrid search and hybrid recommend
    (fusion weights 0.5). Read-only: a test that adds versions or
    serves a model root copies them with `copy_export` first."""
    from recsys_tf.export.exporter import export_run

    root = tmp_path_factory.mktemp("tiny_exports")
    # hybrid search with a fixed fusion weight (the tiny run's own choice may be 0 = dense only), so
    # every export, client and CLI test goes through the lexical index as well
    # hybrid recommend likewise (co-occurrence weight 0.5), through its table and fusion
    hybrid = {"fusion_weight": 0.5, "recommend_fusion_weight": 0.5}
    brute = export_run(tiny_run, root, "brute", "brute_force", max_k=20, log=lambda *_: None, **hybrid)
    scann = export_run(tiny_run, root, "scann", "scann", max_k=20, log=lambda *_: None, **hybrid)
    return brute, scann


def copy_export(version_dir: Path, root: Path, model_name: str, version: int) -> Path:
    """Copy an export's version directory to ROOT/NAME/VERSION (a model root of one's own)."""
    import shutil

    target = Path(root) / model_name / str(version)
    shutil.copytree(version_dir, target)
    return target
