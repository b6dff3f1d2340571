"""Every subcommand against a table of bad inputs: a missing path, a file where a directory is
expected and the reverse, an empty file or directory, undecodable bytes, bad numbers. Each must end
with one line on stderr naming the input, exit code 2 and no traceback. `COMMANDS` must list every
leaf subcommand of the parser, so a new subcommand fails here until its bad inputs are listed."""
import argparse
import contextlib
import io

import pytest

from recsys_tf.cli.main import build_parser, main

# subcommand -> argument lists; "{dir}" / "{file}" is the input under test (a directory or a file is
# expected there), "{out}" an output directory under test (given an existing file), "{new}" a path
# that does not exist yet (an output)
COMMANDS = {
    "data synth": [["data", "synth", "--out", "{out}", "--items", "50", "--users", "10"]],
    "data load": [["data", "load", "--format", "table", "--path", "{dir}", "--out", "{new}"],
                  ["data", "load", "--format", "online-retail", "--path", "{file}", "--out", "{new}"],
                  ["data", "load", "--format", "judgments", "--path", "{file}", "--out", "{dir}"]],
    "data validate": [["data", "validate", "{dir}"]],
    "data stats": [["data", "stats", "{dir}"]],
    "data split": [["data", "split", "{dir}", "--out", "{new}"]],
    "data prepare": [["data", "prepare", "{dir}", "--out", "{new}"]],
    "text embed": [["text", "embed", "--input", "{file}", "--output", "{new}"]],
    "train": [["train", "--data", "{dir}", "--out", "{new}"],
              ["train", "--data", "{dir}", "--out", "{new}", "--config", "{file}"]],
    "evaluate": [["evaluate", "--run", "{dir}", "--out", "{new}"]],
    "export": [["export", "--run", "{dir}", "--export-root", "{new}"]],
    "export check": [["export", "check", "{dir}"]],
    "index tune": [["index", "tune", "--run", "{dir}"]],
    "index add-items": [["index", "add-items", "--export", "{dir}", "--items", "{file}"]],
    "query search": [["query", "--endpoint", "file://{dir}", "search", "mug"]],
    "query recommend": [["query", "--endpoint", "file://{dir}", "recommend", "--user", "u1"]],
    "query similar": [["query", "--endpoint", "file://{dir}", "similar", "SKU1"]],
    "serving config": [["serving", "config", "--export-root", "{dir}", "--out", "{new}"]],
}

BAD_NUMBERS = [  # (argument list, what the message names): out-of-range numbers, refused before any work
    (["evaluate", "--run", "{new}", "--out", "{new}", "--ks", "0,-1"], "--ks"),
    (["evaluate", "--run", "{new}", "--out", "{new}", "--ks", "five"], "--ks"),
    (["data", "split", "{new}", "--out", "{new}", "--test-fraction", "2"], "fraction"),
    (["train", "--data", "{new}", "--out", "{new}", "--set", "train.learning_rate=nan"], "learning_rate"),
    (["export", "--run", "{new}", "--max-k", "0"], "--max-k"),
    (["query", "--endpoint", "file://{new}", "--k", "0", "search", "mug"], "--k"),
]


def _leaf_commands(parser: argparse.ArgumentParser, prefix=()) -> set[str]:
    leaves = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                leaves |= _leaf_commands(sub, (*prefix, name))
            if prefix and not any(a.required for a in parser._actions if isinstance(a, argparse._SubParsersAction)):
                leaves.add(" ".join(prefix))  # `export` runs on its own and has `export check`
            return leaves
    return {" ".join(prefix)}


def test_the_table_lists_every_subcommand():
    assert set(COMMANDS) == _leaf_commands(build_parser())


@pytest.fixture
def bad(tmp_path):
    """name -> (kind it replaces, path)."""
    (tmp_path / "a_file.txt").write_text("not what was expected\n")
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "undecodable.csv").write_bytes(b"\xff\xfe\x00\x81 not utf-8 \xc3\x28\n")
    return {"missing": ("any", tmp_path / "missing"), "a file": ("dir", tmp_path / "a_file.txt"),
            "an empty directory": ("any", tmp_path / "empty_dir"), "a directory": ("file", tmp_path / "empty_dir"),
            "an empty file": ("file", tmp_path / "empty.csv"),
            "undecodable bytes": ("file", tmp_path / "undecodable.csv")}


def _run(argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse's own refusals
            code = exit_.code
    return code, err.getvalue()


def _check(argv, named: str) -> None:
    code, err = _run(argv)
    assert code == 2, (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    lines = [line for line in err.strip().splitlines() if line.strip() and "error" in line.lower()]
    assert len(lines) == 1, (argv, err)
    assert named in err, (argv, named, err)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_refuses_bad_paths_with_one_line(command, bad, tmp_path):
    for template in COMMANDS[command]:
        kind = "dir" if any("{dir}" in a for a in template) else "out" if "{out}" in template else "file"
        for name, (fits, path) in bad.items():
            if (kind == "out" and name != "a file") or (kind != "out" and fits not in ("any", kind)):
                continue
            argv = [a.replace("{dir}", str(path)).replace("{file}", str(path)).replace("{out}", str(path))
                    .replace("{new}", str(tmp_path / f"new_{name.replace(' ', '_')}")) for a in template]
            _check(argv, path.name)


@pytest.mark.parametrize("template,named", BAD_NUMBERS, ids=lambda t: " ".join(t[-2:]) if isinstance(t, list) else t)
def test_bad_numbers_are_refused_with_one_line(template, named, tmp_path):
    _check([a.replace("{new}", str(tmp_path / "nothing")) for a in template], named)
