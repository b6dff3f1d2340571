"""The atomic-write helper: all or nothing, suffix kept, no temporary left behind."""
from __future__ import annotations

import numpy as np
import pytest

from recsys_tf.atomic import atomic_write, atomic_write_text


def test_replaces_the_file_in_one_step_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "sub" / "cache.npz"
    seen = []
    atomic_write(target, lambda tmp: (seen.append(tmp.name), np.savez(tmp, x=np.arange(3))))
    assert seen[0].endswith("cache.npz") and seen[0] != "cache.npz"  # np.savez would append .npz otherwise
    assert np.load(target)["x"].tolist() == [0, 1, 2]
    atomic_write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "sub"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "history.json"
    target.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["history.json"]
