"""Training that cannot silently diverge: non-finite configuration values are refused before any
work, a non-finite loss stops training at once (exit 2, one line) and leaves valid files."""
import json

import pytest

from recsys_tf.errors import InputError
from recsys_tf.training.config import load_config
from tests.training.conftest import TINY


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", ".nan", "-.inf", "1e400"])
def test_non_finite_configuration_values_are_refused(value):
    with pytest.raises(InputError, match="train.learning_rate.*finite number"):
        load_config(None, [f"train.learning_rate={value}"])
    with pytest.raises(InputError, match="model.dropout.*finite"):
        load_config(None, [f"model.dropout={value}"])


@pytest.mark.slow
def test_a_non_finite_loss_stops_training_with_one_line_and_exit_2(split_dir, tmp_path, capsys):
    from recsys_tf.cli.main import main

    run = tmp_path / "run"
    settings = TINY + ["train.epochs=2", "train.max_steps_per_epoch=3", "tasks.search=0", "train.learning_rate=1e30"]
    args = ["train", "--data", str(split_dir), "--out", str(run)] + [x for s in settings for x in ("--set", s)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training diverged at step" in err[0] and "learning_rate" in err[0]
    assert "Traceback" not in err[0] and "Fix:" in err[0]
    assert not (run / "best.weights.h5").exists() and not (run / "last.weights.h5").exists()
    history = run / "history.json"
    if history.exists():
        json.loads(history.read_text(), parse_constant=lambda c: pytest.fail(f"history.json holds {c}"))
