"""`export_run`: a trained run -> ROOT/NAME/<version>/ SavedModel with retrieval signatures.

Steps: rebuild the model from the run, embed every catalog item, index them (TFRS BruteForce or
ScaNN), trace the signatures (`signatures.py`) into a `keras.export.ExportArchive` (Keras 3
towers + text encoder + the tf_keras TFRS index in one SavedModel), write warm-up requests, check
the result in a fresh process, then rename the temporary directory into the next version.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from recsys_tf.export import versions as version_dirs

SAVE_NAMESPACES = ["Scann", "TFText"]


def _endpoint(fn):
    def endpoint(*args):  # closure over fn: see signatures.signature_functions
        return fn(*args)

    return endpoint


def build_archive(graph, functions):
    from recsys_tf.export.archive import new_export_archive

    archive = new_export_archive()
    model = graph.model
    for layer in (model.item_tower, model.user_tower, model.query_tower, model.rating_head, model.click_head,
                  graph.query_encoder, graph.item_encoder, graph.item_lookup):
        if layer is not None:
            archive.track(layer)
    archive.track(graph.index)
    for module in (graph.lexical, graph.cooccurrence):
        if module is not None:
            archive.track(module)
    for name, (fn, spec) in functions.items():
        archive.add_endpoint(name, _endpoint(fn), input_signature=spec)
    return archive


def _reload_check(version_dir: Path, samples: dict, index_kind: str, out_file: Path) -> dict:
    """Run every signature in a fresh process that imports only tensorflow, tensorflow_text (and
    scann ops for ScaNN exports); returns {signature: {output: array}}."""
    inputs_file = out_file.with_suffix(".inputs.npz")
    flat = {f"{sig}::{key}": np.asarray(v).astype(str) if np.asarray(v).dtype == object else np.asarray(v)
            for sig, inputs in samples.items() for key, v in inputs.items()}
    np.savez(inputs_file, **flat)
    scann_import = "from scann import scann_ops  # noqa: F401" if index_kind == "scann" else ""
    code = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf, tensorflow_text  # noqa: F401
        {scann_import}
        model = tf.saved_model.load({str(version_dir)!r})
        data = np.load({str(inputs_file)!r}, allow_pickle=False)
        out = {{}}
        for key in data.files:
            sig, name = key.split("::")
            out.setdefault(sig, {{}})[name] = data[key]
        result = {{}}
        for sig, inputs in out.items():
            fn = model.signatures[sig]
            res = fn(**{{k: tf.constant(v) for k, v in inputs.items()}})
            for k, v in res.items():
                v = v.numpy()
                result[f"{{sig}}::{{k}}"] = v.astype(str) if v.dtype == object else v
        np.savez({str(out_file)!r}, **result)
    """)
    env = {"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "2", "HOME": str(Path.home())}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"the export did not reload in a fresh process:\n{done.stderr[-3000:]}")
    data = np.load(out_file, allow_pickle=False)
    result: dict = {}
    for key in data.files:
        sig, name = key.split("::")
        result.setdefault(sig, {})[name] = data[key]
    return result


def _reload_mismatch(expected: dict, reloaded: dict) -> str | None:
    """The first output that differs between the in-process and the reloaded signatures, or None."""
    for sig, outputs in expected.items():
        for key, value in outputs.items():
            got = reloaded[sig][key]
            if value.dtype == object:
                value = value.astype(str)
                if not np.array_equal(got, value):
                    return f"signature {sig!r} output {key!r} differs after reload: {got} vs {value}"
            elif not np.allclose(got, value, atol=1e-4):
                return f"signature {sig!r} output {key!r} differs after reload: {got} vs {value}"
    return None


def verify_reload(in_process, reload, clock) -> None:
    """Raise if the reloaded signatures' outputs differ from the in-process ones. User signatures
    read hour/weekday from the clock: when an hour boundary fell during the check (`clock()` is the
    hour count) and the outputs differ, the two sides may have seen different hours, so the whole
    check runs once more."""
    for _attempt in range(2):
        hour = clock()
        problem = _reload_mismatch(in_process(), reload())
        if not problem or clock() == hour:
            break
    if problem:
        raise RuntimeError(problem)


def size_report(version_dir: Path, layers, embeddings: np.ndarray, identifiers, lexical_bytes: int = 0,
                cooccurrence_bytes: int = 0) -> dict:
    """Bytes of the SavedModel's variables vs. what they must hold: every distinct weight of the
    model and text encoders once, plus the index (embeddings + identifiers), the lexical index's
    and the co-occurrence table's tensors (`cooccurrence_bytes`, also reported on its own). Goal: ratio ≤ 1.15, i.e. no weight is stored twice (a text encoder tracked by two
    layers would be)."""
    seen, weights = set(), 0
    for layer in layers:
        for variable in getattr(layer, "weights", []) if layer is not None else []:
            key = id(getattr(variable, "value", variable))
            if key not in seen:
                seen.add(key)
                weights += int(np.prod(variable.shape)) * np.dtype(variable.dtype).itemsize
    index = int(np.asarray(embeddings, np.float32).nbytes) + sum(len(str(i).encode()) + 1 for i in identifiers)
    index += int(lexical_bytes) + int(cooccurrence_bytes)
    written = sum(f.stat().st_size for f in (version_dir / "variables").iterdir())
    return {"variables_bytes": written, "weights_bytes": weights, "index_bytes": index,
            "cooccurrence_bytes": int(cooccurrence_bytes),
            "size_ratio": round(written / max(weights + index, 1), 4)}


def export_run(run_dir, export_root, model_name: str = "recsys", index_kind: str = "brute_force",
               max_k: int = 100, max_exclude: int = 64, version: int | None = None, verify: bool = True,
               scann_params: dict | None = None, log=print, fusion_weight: float | None = None,
               strict_text: bool = False, recommend_fusion_weight: float | None = None) -> Path:
    """Export a trained run as the next version of ROOT/NAME (see the module docstring).
    `fusion_weight` None = the run's (chosen on validation queries, `TrainedRun.fusion_weight`);
    `recommend_fusion_weight` None = the run's hybrid recommend weight (`TrainedRun.recommend_fusion_weight`,
    0 = dense recommend; a run without a co-occurrence table is dense whatever the value).
    The run's [UNK] text coverage is warned about again and recorded in the export metadata
    (`strict_text` or the run's `text.strict_coverage`: poor coverage refuses the export)."""
    from recsys_tf.text.coverage import warn_recorded
    from recsys_tf.training.trained_run import load_run

    run = load_run(run_dir)
    coverage = run.info.get("text_coverage")
    warn_recorded(coverage, run.config.text.preset, strict_text or run.config.text.strict_coverage, log, "export")
    return export_model(run.model, run.config, run.vocab, run.item_encoder, run.query_encoder, export_root,
                        model_name=model_name, index_kind=index_kind, max_k=max_k, max_exclude=max_exclude,
                        version=version, verify=verify, scann_params=scann_params, log=log,
                        fusion_weight=run.fusion_weight if fusion_weight is None else fusion_weight,
                        provenance={"run_dir": str(Path(run_dir).resolve()), "text_coverage": coverage},
                        bundle=(run.dataset.items, run.bundle_info(), run.path), cooccurrence=run.cooccurrence,
                        recommend_fusion_weight=run.recommend_fusion_weight if recommend_fusion_weight is None
                        else recommend_fusion_weight)


SCANN_RECALL_WARNING = 0.9  # an export whose ScaNN index finds less of the exact top 10 warns with the fix


def scann_recall_warning(recall: float) -> str | None:
    """The export's warning for a ScaNN index with recall@10 vs exact under `SCANN_RECALL_WARNING`."""
    if recall >= SCANN_RECALL_WARNING:
        return None
    return (f"warning: the ScaNN index finds {recall:.3f} of the exact top 10 on these embeddings (below "
            f"{SCANN_RECALL_WARNING}). Fix: `recsys-tf index tune --run RUN --out PARAMS.json` and export with "
            "`--scann-params PARAMS.json`, or `--index brute_force`.")


def _scann_recall(index, embeddings: np.ndarray, item_ids, log) -> float:
    """Recall@10 of the ScaNN index against exact search, on 500 perturbed catalog vectors; logged,
    with `scann_recall_warning` when it is low."""
    from recsys_tf.index.build import recall_against_exact

    rng = np.random.default_rng(0)
    n_items = len(embeddings)
    queries = embeddings[rng.choice(n_items, size=min(500, n_items), replace=False)]
    queries = queries + rng.normal(scale=0.05, size=queries.shape).astype(np.float32)
    recall = recall_against_exact(index, embeddings, item_ids, queries, min(10, n_items))
    log(f"ScaNN recall@10 vs exact: {recall:.3f}")
    warning = scann_recall_warning(recall)
    if warning:
        log(warning)
    return recall


def _lexical_index(model, query_encoder, vocab, bundle, fusion_weight: float):
    """The BM25 index of hybrid search over the bundle's catalog texts (the texts the item tower
    embeds), or None: fusion off, no search signatures, or no catalog items to index."""
    if fusion_weight <= 0 or model.query_tower is None or query_encoder is None or bundle is None:
        return None
    from recsys_tf.features.catalog import Catalog
    from recsys_tf.index.lexical import LexicalIndex

    items = bundle[0].set_index("item_id").loc[list(vocab.items)].reset_index()
    return LexicalIndex(Catalog.from_items(items, vocab).texts)


def _write_assets(assets: Path, report: dict, extra_assets: dict | None, bundle: tuple | None, model, config, vocab,
                  cooccurrence) -> None:
    """assets.extra/: the export report, the caller's extra files and the model bundle (with the
    co-occurrence table) that `add-items` rebuilds the model from."""
    from recsys_tf.training.trained_run import BUNDLE_DIR, write_bundle

    (assets / "recsys_tf_export.json").write_text(json.dumps(report, indent=2))
    for name, writer in (extra_assets or {}).items():
        writer(assets / name)
    if bundle is not None:
        items, bundle_info, query_encoder_dir = bundle
        write_bundle(assets / BUNDLE_DIR, model, config, vocab, items, bundle_info, query_encoder_dir, cooccurrence)


def _cooccurrence_index(table, n_items: int, weight: float):
    """The in-graph scorer of hybrid recommend's table, or None (no table, or weight 0: dense)."""
    if table is None or weight <= 0:
        return None
    if table.n_items != n_items:
        raise ValueError(f"the co-occurrence table has {table.n_items} items, the catalog {n_items}")
    from recsys_tf.index.cooccurrence import (
        CooccurrenceIndex,  # deferred: TensorFlow, as the exporter's others
    )

    return CooccurrenceIndex(table)


def _search_report(graph) -> dict:
    """How the export's search signatures score: hybrid (with its fusion weight and BM25 index) or dense."""
    if graph.lexical is None:
        return {"kind": "dense"}
    return {"kind": "hybrid", "fusion_weight": graph.fusion_weight, "candidates": graph.fetch,
            "lexical_index": graph.lexical.describe()}


def _recommend_report(graph, table) -> dict:
    """How the export's recommend signatures score: hybrid (fusion weight, candidates, the table's
    method, size and why) or dense (and why, when the run has a table)."""
    if graph.cooccurrence is None:
        return {"kind": "dense", **({"cooccurrence": "weight 0: dense only"} if table is not None else {})}
    return {"kind": "hybrid", "fusion_weight": graph.recommend_fusion_weight, "candidates": graph.fetch,
            "cooccurrence": table.report | {"bytes": graph.cooccurrence.nbytes}}


def _verify_in_fresh_process(tmp: Path, functions: dict, samples: dict, index_kind: str) -> None:
    """Every signature of the written SavedModel, reloaded in a fresh process, returns what the
    in-memory functions return on the warm-up samples."""
    import tensorflow as tf

    from recsys_tf.export.signatures import clock_hour

    def in_process():
        return {sig: {k: v.numpy() for k, v in tf.function(functions[sig][0])(
            *[tf.constant(samples[sig][spec.name]) for spec in functions[sig][1]]).items()} for sig in samples}

    verify_reload(in_process, lambda: _reload_check(tmp, samples, index_kind, tmp.parent / f"{tmp.name}.check.npz"),
                  clock_hour)


def export_model(model, config, vocab, item_encoder, query_encoder, export_root, *, model_name: str = "recsys",
                 index_kind: str = "brute_force", max_k: int = 100, max_exclude: int = 64, version: int | None = None,
                 verify: bool = True, scann_params: dict | None = None, log=print, provenance: dict | None = None,
                 extra_assets: dict | None = None, bundle: tuple | None = None, fusion_weight: float = 0.0,
                 cooccurrence=None, recommend_fusion_weight: float = 0.0) -> Path:
    """Export an in-memory model (`export_run`, `add_items`); `extra_assets` = {file name: writer(path)}
    written into assets.extra/; `bundle` = (catalog items, bundle info, directory of the distilled query
    encoder's files): the model bundle `add-items` rebuilds the model from (`trained_run.write_bundle`);
    its items' texts are also what the lexical index of hybrid search (`fusion_weight` > 0) is built over;
    `cooccurrence` (a `CooccurrenceTable` of the model's catalog) with `recommend_fusion_weight` > 0:
    hybrid recommend (`index/cooccurrence.py`), the table also written into the bundle."""
    import tensorflow as tf

    from recsys_tf.export.signatures import ServingGraph, signature_functions
    from recsys_tf.export.warmup import sample_inputs, write_warmup
    from recsys_tf.index.build import build_index
    from recsys_tf.training.trained_run import item_vectors

    target_dir = version_dirs.model_dir(export_root, model_name)
    n_items, embeddings = len(vocab.items), item_vectors(model)[1:]
    index = build_index(index_kind, embeddings, vocab.items, k=min(max_k + max_exclude, n_items), **(scann_params or {}))
    graph = ServingGraph(model, vocab, index, query_encoder, max_k=min(max_k, n_items),
                         max_exclude=min(max_exclude, max(0, n_items - min(max_k, n_items))),
                         max_history=config.model.max_history, item_encoder=item_encoder,
                         lexical=_lexical_index(model, query_encoder, vocab, bundle, fusion_weight),
                         fusion_weight=fusion_weight, cooccurrence=_cooccurrence_index(cooccurrence, n_items,
                                                                                       recommend_fusion_weight),
                         recommend_fusion_weight=recommend_fusion_weight)
    functions = signature_functions(graph)
    report = {"index": index_kind, "items": n_items, "max_k": graph.max_k, "limits": graph.limits(),
              "signatures": sorted(functions),
              "scann_params": dict(getattr(index, "_recsys_params", {})),
              "search": _search_report(graph), "recommend": _recommend_report(graph, cooccurrence),
              **(provenance or {})}
    if index_kind == "scann":
        report["scann_recall@10"] = _scann_recall(index, embeddings, vocab.items, log)
    tmp = version_dirs.new_temporary(target_dir)
    try:
        archive = build_archive(graph, functions)
        archive.write_out(str(tmp), options=tf.saved_model.SaveOptions(namespace_whitelist=SAVE_NAMESPACES),
                          verbose=False)
        report.update(size_report(tmp, [model, item_encoder, query_encoder], embeddings, vocab.items,
                                  graph.lexical.nbytes if graph.lexical is not None else 0,
                                  graph.cooccurrence.nbytes if graph.cooccurrence is not None else 0))
        samples = sample_inputs(vocab, functions)
        write_warmup(tmp, model_name, samples)
        if verify:
            _verify_in_fresh_process(tmp, functions, samples, index_kind)
            report["reload_check"] = "identical outputs in a fresh process (tensorflow + tensorflow_text only)"
        _write_assets(tmp / "assets.extra", report, extra_assets, bundle, model, config, vocab, cooccurrence)
        for leftover in tmp.parent.glob(f"{tmp.name}.check*"):
            leftover.unlink()
        final = version_dirs.commit(tmp, target_dir, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for leftover in target_dir.glob(f"{tmp.name}.check*"):
            leftover.unlink()
        raise
    log(f"exported {final} ({index_kind}, {n_items} items, signatures: {', '.join(sorted(functions))})")
    return final
