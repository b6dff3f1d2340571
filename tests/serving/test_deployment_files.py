"""serving/ files agree with what the exporter writes and the clients send."""
import re
from pathlib import Path

import pytest
import yaml

from recsys_tf.serving.config import models_config

SERVING = Path(__file__).resolve().parents[2] / "serving"


def test_generated_config_matches_the_committed_shape(tmp_path):
    for version in (1, 2):
        (tmp_path / "recsys" / str(version)).mkdir(parents=True)
    (tmp_path / "recsys" / ".tmp-crashed").mkdir()
    generated = models_config(tmp_path, "recsys")
    committed = "\n".join(line for line in (SERVING / "models.config").read_text().splitlines()
                          if not line.startswith("#")) + "\n"
    assert generated == committed
    with pytest.raises(ValueError, match="no versions"):
        models_config(tmp_path, "other")


def test_compose_mounts_exports_where_models_config_points():
    compose = yaml.safe_load((SERVING / "docker-compose.yml").read_text())
    for service, config_file, name in (("tf-serving", "models.config", "recsys"),
                                       ("tf-serving-scann", "models_scann.config", "recsys_scann")):
        spec = compose["services"][service]
        assert "../exports:/models:ro" in spec["volumes"]
        assert f"./{config_file}:/config/models.config:ro" in spec["volumes"]
        base = re.search(r'base_path: "([^"]+)"', (SERVING / config_file).read_text()).group(1)
        assert base == f"/models/{name}"
        assert "--enable_model_warmup=true" in spec["command"]
    assert compose["services"]["tf-serving"]["image"].startswith("tensorflow/serving:2.20")
    k8s = list(yaml.safe_load_all((SERVING / "kubernetes.yaml").read_text()))
    probe = k8s[0]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
    assert probe == {"path": "/v1/models/recsys", "port": 8501}


@pytest.mark.slow
def test_readme_signatures_and_inputs_match_an_export(tiny_exports):
    import tensorflow as tf

    model = tf.saved_model.load(str(tiny_exports[0]))
    readme = (SERVING / "README.md").read_text()
    table = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| (.+?) \|", readme, re.M)}
    assert set(table) == set(model.signatures)
    for name, fn in model.signatures.items():
        for input_name in fn.structured_input_signature[1]:
            assert f"`{input_name}`" in table[name], (name, input_name)


def test_readme_table_lists_every_registered_signature_with_its_inputs():
    from recsys_tf.export.signatures import INPUTS, SIGNATURES

    readme = (SERVING / "README.md").read_text()
    table = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| (.+?) \|", readme, re.M)}
    assert set(table) == set(SIGNATURES) | {"serving_default"}
    for name, (inputs, _) in SIGNATURES.items():
        assert set(inputs) <= set(INPUTS)
        for input_name in inputs:
            assert f"`{input_name}`" in table[name], (name, input_name)
