"""A run directory cannot be corrupted: resuming on other data is refused before anything is
written, and a second process cannot train (or read) a run while it is being trained."""
import shutil
import subprocess
import sys
import time

import pytest

from recsys_tf.cli.main import main
from recsys_tf.data.schema import content_fingerprint, read_dataset, write_dataset
from recsys_tf.data.splits import split_dataset
from recsys_tf.data.synthetic import generate
from recsys_tf.errors import InputError
from recsys_tf.locking import LOCK_FILE, RunLockedError, run_lock
from recsys_tf.training.config import load_config
from recsys_tf.training.run import train_run
from tests.training.conftest import TINY

HOLD = ("import sys, time; from recsys_tf.locking import run_lock\n"
        "with run_lock(sys.argv[1], 'train'):\n    print('held', flush=True); time.sleep(120)\n")


def test_resuming_on_other_data_is_refused_before_anything_is_written(tiny_run, split_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert (run / "checkpoints" / "backup").exists()
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != LOCK_FILE}
    other = write_dataset(split_dataset(generate(n_items=300, n_users=120, sessions_per_user=6, seed=8,
                                                 n_judgment_queries=20), "temporal-last"), tmp_path / "other")
    config = load_config(None, TINY + ["train.epochs=1", "train.max_steps_per_epoch=8"])
    with pytest.raises(InputError, match="trained on other data \\(data fingerprint [0-9a-f]{32}, this data "
                                         "[0-9a-f]{32}\\).*Fix: use a new --out"):
        train_run(other, run, config, log=lambda *_: None)
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != LOCK_FILE}
    assert after == before
    assert content_fingerprint(read_dataset(split_dir)) == content_fingerprint(read_dataset(split_dir))
    assert content_fingerprint(read_dataset(split_dir)) != content_fingerprint(read_dataset(other))



def test_resuming_with_another_configuration_is_refused_naming_what_changed(tiny_run, split_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != LOCK_FILE}
    config = load_config(None, TINY + ["train.epochs=1", "train.max_steps_per_epoch=8", "model.id_dropout=0.35"])
    with pytest.raises(InputError, match="different configuration \\(model.id_dropout: 0.2 \\(run\\) vs 0.35 "
                                         "\\(now\\)\\).*Fix: use a new --out"):
        train_run(split_dir, run, config, log=lambda *_: None)
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != LOCK_FILE}
    assert after == before

def test_a_run_being_trained_cannot_be_trained_or_read_and_a_dead_holder_frees_it(split_dir, tmp_path, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        with pytest.raises(RunLockedError, match=f"in use \\(`train`, pid {holder.pid} on .*Fix: wait"):
            train_run(split_dir, run, load_config(None, TINY), log=lambda *_: None)
        assert time.perf_counter() - started < 5
        assert main(["evaluate", "--run", str(run), "--out", str(tmp_path / "report")]) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    with run_lock(run, "train"):  # the killed holder's lock is free: no cleanup needed
        with pytest.raises(RunLockedError):
            with run_lock(run, "evaluate", exclusive=False):
                pass
    with run_lock(run, "evaluate", exclusive=False), run_lock(run, "export", exclusive=False):
        pass  # readers share
    with run_lock(tmp_path / "missing", "evaluate", exclusive=False):
        assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("damage", ["truncated weights", "config.yaml", "run.json"])
def test_a_damaged_run_directory_is_a_one_line_error_naming_the_file(tiny_run, split_dir, tmp_path, capsys, damage):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    if damage == "truncated weights":
        weights = run / "best.weights.h5"
        weights.write_bytes(weights.read_bytes()[:5000])
        broken, command = weights, ["evaluate", "--run", str(run), "--out", str(tmp_path / "report")]
    elif damage == "config.yaml":  # on resume: read before anything is written
        broken = run / "config.yaml"
        broken.write_text("model: [unclosed\n")
        command = ["train", "--data", str(split_dir), "--out", str(run)] + [f"--set={s}" for s in TINY]
    else:
        broken = run / "run.json"
        broken.write_text("{")
        command = ["export", "--run", str(run), "--export-root", str(tmp_path / "exports"), "--no-verify"]
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != LOCK_FILE}
    assert main(command) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(broken) in err[0], err
    assert ("cannot be loaded" if damage == "truncated weights" else "is damaged") in err[0]
    assert "Fix: restore the file from a copy, or train again into a new --out" in err[0]
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != LOCK_FILE} == before


def test_export_root_that_is_a_file_and_export_check_on_garbage_are_one_line_errors(tiny_run, tmp_path, capsys):
    blocking = tmp_path / "afile"
    blocking.write_text("not a directory")
    for root in (blocking, blocking / "below"):
        assert main(["export", "--run", str(tiny_run), "--export-root", str(root), "--no-verify"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{blocking} is a file" in err[0] and "Fix: pass a directory" in err[0]
    garbage = tmp_path / "garbage" / "1"
    garbage.mkdir(parents=True)
    (garbage / "saved_model.pb").write_bytes(b"\x08\x01garbage")
    assert main(["export", "check", str(garbage)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a SavedModel protocol buffer" in err[0] and "Fix:" in err[0]
