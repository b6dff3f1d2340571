"""Run-directory locks: one `train` writes a run directory at a time, and nothing reads it for
`evaluate` or `export` while it is being trained.

`fcntl.flock` on `DIR/.lock`: `train` holds it exclusively, readers share it, and a second process
fails at once with the holder's pid, host and command. The kernel releases the lock when its process
dies, so a lock left by a killed run is taken over by the next command without any cleanup (the
file itself stays; its content is only a note of the last holder). Lock files on NFS need a server
with working `flock` (Linux NFSv4 emulates it with byte-range locks).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from recsys_tf.errors import InputError

LOCK_FILE = ".lock"


class RunLockedError(InputError):
    """Another process holds the run directory's lock."""


@contextlib.contextmanager
def run_lock(directory: str | os.PathLike, action: str, exclusive: bool = True):
    """Hold `directory`'s lock while the block runs (`exclusive` for writers, shared for readers)."""
    path = Path(directory) / LOCK_FILE
    if exclusive:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = open(path, "a+")
    except OSError:
        if exclusive:
            raise
        yield  # a reader of a missing or read-only directory: nothing can be training there
        return
    try:
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunLockedError(f"{directory} is in use ({holder}), so `{action}` cannot "
                                 f"{'write' if exclusive else 'read'} it now. Fix: wait until that command "
                                 "finishes, or train into another --out.") from None
        if exclusive:
            handle.seek(0)
            handle.truncate()
            handle.write(f"`{action}`, pid {os.getpid()} on {socket.gethostname()}")
            handle.flush()
        yield
    finally:
        handle.close()  # closing the file releases the lock
