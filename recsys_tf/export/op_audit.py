"""`recsys-tf export check`: which TF Serving image can load a SavedModel.

Every op in the SavedModel's graphs (including function libraries) is classified by which library
registers it: core TensorFlow, TF Text (linked into stock `tensorflow/serving`) or ScaNN (`Scann>`
ops: only a ScaNN-enabled TF Serving build). Registrations are read in fresh subprocesses that
import exactly one library each, so the answer does not depend on what this process imported.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_REGISTERED = """
import json, sys
import tensorflow as tf
from tensorflow.python.framework import op_def_registry
if sys.argv[1] == "tftext":
    import tensorflow_text  # noqa: F401
ops = json.loads(sys.stdin.read())
print(json.dumps(sorted(op for op in ops if op_def_registry.get(op) is not None)))
"""


def _registered(library: str, ops: set[str]) -> set[str]:
    """The subset of `ops` registered in a fresh process with tensorflow (+ `library`) imported."""
    out = subprocess.run([sys.executable, "-c", _REGISTERED, library], input=json.dumps(sorted(ops)),
                         capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def saved_model_ops(path: str | Path) -> set[str]:
    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2

    from recsys_tf.errors import InputError

    proto = saved_model_pb2.SavedModel()
    file = Path(path) / "saved_model.pb"
    try:
        proto.ParseFromString(file.read_bytes())
    except DecodeError as err:
        raise InputError(f"{file} is not a SavedModel protocol buffer ({err}; {file.stat().st_size} bytes). "
                         "Fix: point at a version directory written by `recsys-tf export`, or export again "
                         "if the file was truncated or overwritten.") from err
    ops = set()
    for graph in proto.meta_graphs:
        ops |= {node.op for node in graph.graph_def.node}
        for function in graph.graph_def.library.function:
            ops |= {node.op for node in function.node_def}
    return ops


def audit(path: str | Path) -> dict:
    ops = saved_model_ops(path)
    core = _registered("core", ops)
    tftext = _registered("tftext", ops - core)
    classes = {"core": sorted(ops & core), "tftext": sorted((ops - core) & tftext),
               "scann": sorted(op for op in ops - core - tftext if op.startswith("Scann>")),
               "unknown": sorted(op for op in ops - core - tftext if not op.startswith("Scann>"))}
    if classes["unknown"]:
        image = None
    elif classes["scann"]:
        image = "ScaNN-enabled TF Serving (google-research scann/tf_serving build, TF 2.20)"
    else:
        image = "stock tensorflow/serving:2.20.x (core TF + TF Text ops)"
    return {"ops": classes, "serving_image": image}
