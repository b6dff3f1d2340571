"""The CLI's error contract: user errors are one line with exit code 2, bugs keep their traceback."""
from __future__ import annotations

import pytest

from recsys_tf.cli import data_commands
from recsys_tf.cli import main as cli
from recsys_tf.errors import InputError


def _patched(monkeypatch, error):
    def boom(args):
        raise error
    monkeypatch.setattr(data_commands, "cmd_validate", boom)


def test_user_errors_are_one_line_with_exit_code_2(monkeypatch, tmp_path, capsys):
    _patched(monkeypatch, InputError("`x` must be > 0. Received: x=-1. Fix: --x 1"))
    assert cli.main(["data", "validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "recsys-tf data: error: `x` must be > 0. Received: x=-1. Fix: --x 1\n"
    with pytest.raises(InputError):  # --debug shows the traceback of user errors too
        cli.main(["--debug", "data", "validate", str(tmp_path)])


@pytest.mark.parametrize("error", [ValueError("Shapes (3,) and (4,) are incompatible"), RuntimeError("bug"),
                                   KeyError("missing")])
def test_other_errors_are_not_turned_into_user_errors(monkeypatch, tmp_path, error):
    _patched(monkeypatch, error)  # a library's ValueError is a bug: traceback, exit code 1 from Python
    with pytest.raises(type(error)):
        cli.main(["data", "validate", str(tmp_path)])
