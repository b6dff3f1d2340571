"""TF Serving `models.config` (text-format ModelServerConfig) for an export root.

Policy: serve the two newest versions; label the older `stable` and the newer `canary` (a single
version is both). Roll back by pointing `stable` at an older version and reloading the config.
"""
from __future__ import annotations

from recsys_tf.errors import InputError
from recsys_tf.export.versions import model_dir, versions


def models_config(export_root, model_name: str, base_path: str = "/models") -> str:
    found = versions(model_dir(export_root, model_name))
    if not found:
        raise InputError(f"no versions under {export_root}/{model_name}. Fix: run `recsys-tf export` first.")
    served = found[-2:]
    stable, canary = served[0], served[-1]
    specific = "\n".join(f"        versions: {v}" for v in served)
    return (
        "model_config_list {\n"
        "  config {\n"
        f"    name: \"{model_name}\"\n"
        f"    base_path: \"{base_path.rstrip('/')}/{model_name}\"\n"
        "    model_platform: \"tensorflow\"\n"
        "    model_version_policy {\n"
        "      specific {\n"
        f"{specific}\n"
        "      }\n"
        "    }\n"
        f"    version_labels {{ key: \"stable\" value: {stable} }}\n"
        f"    version_labels {{ key: \"canary\" value: {canary} }}\n"
        "  }\n"
        "}\n")
