"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half of one."""
from __future__ import annotations

import os
from pathlib import Path


def atomic_write(path: str | os.PathLike, write) -> Path:
    """`write(tmp)` writes a temporary file next to `path`, which then replaces `path` in one rename.
    The temporary name ends like `path` (writers such as Keras' `save_weights` and `np.savez` check or
    append the suffix) and is removed if `write` fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))
