"""TF Serving's model directory layout: ROOT/NAME/<integer version>/, written atomically.

A version is written into a hidden temporary directory (".tmp-..." — TF Serving's file-system
poller only loads all-digit directory names) and renamed into place. The rename is the commit:
`os.rename` onto an existing version fails, so two exports racing for the same number never
overwrite each other; the loser takes the next number.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

from recsys_tf.errors import InputError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_model_name(name: str) -> str:
    if not NAME_PATTERN.match(name) or name in (".", ".."):
        raise InputError(f"`--model-name` must be letters, digits, '_', '.', '-' (not starting with a dot, at most "
                         f"128 characters). Received: {name!r}. Fix: e.g. --model-name recsys")
    return name


def model_dir(export_root: str | os.PathLike, name: str) -> Path:
    root = Path(export_root).resolve()
    path = (root / check_model_name(name)).resolve()
    if path.parent != root:
        raise InputError(f"model directory {path} escapes the export root {root}.")
    for directory, what in ((root, "--export-root"), (path, "the model directory")):
        blocking = next((p for p in (directory, *directory.parents) if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise InputError(f"{what} {directory} cannot be a directory: {blocking} is a file. "
                             "Fix: pass a directory (existing or new) as --export-root, e.g. --export-root exports.")
    return path


def versions(path: Path) -> list[int]:
    return sorted(int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit()) if path.exists() else []


def new_temporary(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    return tmp


def commit(tmp: Path, path: Path, version: int | None = None) -> Path:
    """Rename `tmp` to the next free version (or exactly `version`); returns the final directory."""
    while True:
        number = version if version is not None else (max(versions(path), default=0) + 1)
        target = path / str(number)
        try:
            os.rename(tmp, target)
            return target
        except OSError:
            if version is not None:
                shutil.rmtree(tmp, ignore_errors=True)
                raise FileExistsError(f"version {number} already exists in {path}. Fix: omit --version to take "
                                      "the next one.") from None
            continue  # another export took this number first: try the next

