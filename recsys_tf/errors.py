"""User-facing errors. The CLI prints these as one line and exits with code 2; any other exception
is a bug (ours or a library's) and keeps its traceback (exit code 1).

Convention for every message: what was wrong, ``Received: <the value>``, ``Fix: <what to do>``.
"""
from __future__ import annotations


class RecsysError(Exception):
    """Base of the errors caused by the user's input, configuration or files."""


class InputError(RecsysError, ValueError):
    """An argument, configuration value or input row that recsys_tf cannot use. Also a `ValueError`,
    so callers of the Python API catch it the way they catch Keras' argument errors."""


class TrainingDiverged(RecsysError):
    """A training loss became NaN or infinite: training stopped at that step, before anything of the
    diverged weights was written (the last crash backup and best weights are from finite steps)."""
