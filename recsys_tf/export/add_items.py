"""Cold start without retraining: `add_items` writes a new model version whose catalog and index also
hold new items, embedded from their text and attributes by the trained item tower.

How: the export's `assets.extra/recsys_tf_export.json` names the training run. The run's model is
rebuilt with a catalog extended by the new items (new rows at the end of every per-item table), the
trained weights are copied over, and the new items get *no id signal* (zero id-embedding rows, the
same input id dropout trained the tower for) and zero item biases in the rating/click heads.
Categories or brands the model never saw map to the out-of-vocabulary row. Items added by earlier
`add-items` versions are kept (`assets.extra/added_items.parquet` carries them forward).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_tf.data.schema import DatasetError, spreadsheet_safe
from recsys_tf.data.validation import concat_rejects, validate_items

ADDED_ITEMS_FILE = "added_items.parquet"
REJECTS_FILE = "added_items_rejects.csv"


def read_items_file(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(items, rejects) of a .parquet, .csv or .jsonl items file, read as `data load` reads its
    inputs: a CSV line that does not decode or has the wrong number of fields and an invalid JSON
    line become rejects with their reason; an empty file is an error."""
    from recsys_tf.data.loaders.common import REJECT_COLUMNS, read_delimited, read_jsonl

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--items {path} is not a file. Fix: pass a .parquet, .csv or .jsonl file of items "
                                "with item_id, title [, description, category, brand, price].")
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype(object), pd.DataFrame(columns=REJECT_COLUMNS)
    if path.suffix == ".csv":
        return read_delimited(path, sep=",")
    if path.suffix in (".jsonl", ".json"):
        records, rejects = read_jsonl(path)
        if not records and not len(rejects):
            raise DatasetError(f"--items {path}: the file is empty. Fix: one JSON object per line.")
        return pd.DataFrame([dict(value, _row=number) for number, value in records]), rejects
    raise DatasetError(f"--items {path}: unsupported file type {path.suffix!r}. Fix: use .parquet, .csv or .jsonl.")


def _warn_of_newer_added_items(export_dir: Path, model_dir: Path, kept: set, log) -> None:
    """One warning when a newer version of the model holds added items the new version, built from
    `export_dir`, will lack (adding to an older version is allowed: a roll back may want it)."""
    try:
        current = int(export_dir.name)
    except ValueError:
        return
    newer = sorted((int(d.name) for d in model_dir.glob("*") if d.name.isdigit() and int(d.name) > current),
                   reverse=True)
    for version in newer:
        added = model_dir / str(version) / "assets.extra" / ADDED_ITEMS_FILE
        if added.exists():
            lost = sorted(set(pd.read_parquet(added, columns=["item_id"])["item_id"].astype(str)) - kept)
            if lost:
                log(f"warning: version {version} holds {len(lost)} added items that the new version will not "
                    f"(e.g. {', '.join(lost[:3])}): it is built from version {current}. Fix: pass --export "
                    f"{model_dir / str(version)} to keep them.")
            return


def export_info(export_dir: str | Path) -> dict:
    from recsys_tf.training.trained_run import read_json

    info_file = Path(export_dir) / "assets.extra" / "recsys_tf_export.json"
    if not info_file.exists():
        raise FileNotFoundError(f"{info_file} is missing: {export_dir} is not a version directory written by "
                                "`recsys-tf export`. Fix: pass e.g. --export exports/recsys/1.")
    return read_json(info_file)


def export_model_run(export_dir: Path, info: dict):
    """The model behind an export: its own bundle (assets.extra/model/), else (exports written before
    bundles existed) the training run it names, if that is still where it was."""
    from recsys_tf.training.trained_run import BUNDLE_DIR, load_bundle, load_run

    bundle = export_dir / "assets.extra" / BUNDLE_DIR
    if bundle.exists():
        return load_bundle(bundle)
    run_dir = info.get("run_dir")
    if not run_dir or not Path(run_dir).exists():
        raise DatasetError(f"{export_dir} has no model bundle (assets.extra/{BUNDLE_DIR}/) and its training run "
                           f"{run_dir!r} is not on this machine. Fix: re-export the run with `recsys-tf export` "
                           "(exports carry their bundle), then add items to that version.")
    return load_run(run_dir)


def extend_model(model, config, vocab, dataset_items: pd.DataFrame, new_items: pd.DataFrame, item_encoder,
                 query_encoder):
    """(new model, new vocab): the trained model with `new_items` appended to its catalog."""
    from recsys_tf.features.catalog import Catalog
    from recsys_tf.text.embedding_cache import encode_texts
    from recsys_tf.training.builder import build_model

    if item_encoder is None:
        raise DatasetError("This model was trained without text (model.use_text=false): it cannot embed new "
                           "items. Fix: add items to an export of a text model, or retrain with the new items.")
    new_vocab = dataclasses.replace(vocab, items=list(vocab.items) + new_items["item_id"].astype(str).tolist())
    known = dataset_items.set_index("item_id").loc[list(vocab.items)].reset_index()
    all_items = pd.concat([known, new_items], ignore_index=True)
    catalog = Catalog.from_items(all_items, new_vocab)
    old_text = model.item_tower.catalog_text.numpy()
    new_text = encode_texts(item_encoder, catalog.texts[len(vocab.items):])
    text_vectors = np.concatenate([old_text, np.asarray(new_text, np.float32)])
    new_model = build_model(config, new_vocab, catalog, text_vectors, None, 0.0, item_encoder, query_encoder,
                            rating_range=model.rating_head.rating_range if model.rating_head is not None else None)
    new_model.build_all()
    # matched by structure: the same builder creates the same variables in the same order; the
    # catalog tables (built for the extended catalog above) are recognised by identity, not by name
    old_weights, new_weights = model.weights, new_model.weights
    tower = new_model.item_tower
    rebuilt = {id(v) for v in (tower.catalog_text, tower.catalog_category, tower.catalog_brand, tower.catalog_price,
                                getattr(tower, "catalog_tokens", None), new_model.sampling_probability,
                                new_model.catalog_offset) if v is not None}
    if len(old_weights) != len(new_weights):
        raise RuntimeError("internal error: the extended model has other variables than the trained one")
    for old, new in zip(old_weights, new_weights, strict=True):
        if id(new) in rebuilt:
            continue
        value = old.numpy()
        if tuple(old.shape) != tuple(new.shape):
            # per-item rows (id embedding, item bias): new items get zeros = "no id signal"
            if old.shape[1:] != new.shape[1:] or new.shape[0] < old.shape[0]:
                raise RuntimeError(f"internal error: cannot extend variable {old.path} {old.shape} -> {new.shape}")
            value = np.concatenate([value, np.zeros((new.shape[0] - old.shape[0], *old.shape[1:]), value.dtype)])
        new.assign(value)
    return new_model, new_vocab


def _new_items_coverage(items: pd.DataFrame, item_encoder, strict: bool, log) -> dict:
    """[UNK] coverage of the new items' titles and descriptions (`text/coverage.py`), checked before
    they are encoded; {} for a model without text (`extend_model` refuses it)."""
    from recsys_tf.text.coverage import check_text_coverage

    if item_encoder is None:
        return {}
    fields = {f"added item {column}s": items[column].fillna("").astype(str).tolist()
              for column in ("title", "description") if column in items.columns}
    return check_text_coverage(item_encoder, fields, strict=strict, log=log)


def _fusion_weight(info: dict, run) -> float:
    """The base export's hybrid-search weight (a dense export stays dense); the lexical index is
    rebuilt over the extended catalog. Exports from before hybrid search: the run's chosen weight."""
    search = info.get("search")
    return float(search.get("fusion_weight", 0.0)) if search else run.fusion_weight


def _recommend_fusion_weight(info: dict, run) -> float:
    """The base export's hybrid-recommend weight (a dense export stays dense); exports from before
    hybrid recommend: the run's chosen weight. New items have no co-occurrence (empty rows of
    `CooccurrenceTable.extended`): the dense score alone brings them in."""
    recommend = info.get("recommend")
    if recommend:
        return float(recommend.get("fusion_weight", 0.0)) if recommend.get("kind") == "hybrid" else 0.0
    return run.recommend_fusion_weight


def add_items(export_dir: str | Path, items_file: str | Path, export_root: str | Path | None = None,
              model_name: str | None = None, index_kind: str | None = None, verify: bool = True, log=print,
              strict_text: bool = False) -> Path:
    """Write ROOT/NAME/<next version> = the export at `export_dir` + the items of `items_file`.
    Returns the new version directory. Rejected rows (invalid, or an id already in the catalog) are
    written to assets.extra/added_items_rejects.csv of the new version and counted in the log.
    The new items' text is checked for [UNK] coverage before it is encoded (a warning, or with
    `strict_text` / the run's `text.strict_coverage` an error) and recorded in the export metadata."""
    from recsys_tf.export.exporter import export_model

    export_dir = Path(export_dir)
    info = export_info(export_dir)
    export_root = Path(export_root) if export_root else export_dir.parent.parent
    model_name = model_name or export_dir.parent.name
    index_kind = index_kind or info.get("index", "brute_force")
    raw, read_rejects = read_items_file(items_file)
    if "item_id" not in raw.columns and not len(raw):
        raw = pd.DataFrame(columns=["item_id", "title"])  # every line rejected: reported below
    clean, rejects = validate_items(raw, Path(items_file).name)
    rejects = concat_rejects(read_rejects, rejects)
    previous_file = export_dir / "assets.extra" / ADDED_ITEMS_FILE
    previous = pd.read_parquet(previous_file) if previous_file.exists() else clean.iloc[:0]
    _warn_of_newer_added_items(export_dir, export_root / model_name, set(previous["item_id"].astype(str)), log)
    run = export_model_run(export_dir, info)
    model, config, vocab, dataset = run.model, run.config, run.vocab, run.dataset
    item_encoder, query_encoder = run.item_encoder, run.query_encoder
    taken = set(vocab.items) | set(previous["item_id"].astype(str))
    duplicate = clean["item_id"].astype(str).isin(taken)
    if duplicate.any():
        dup_rejects = pd.DataFrame({"file": Path(items_file).name, "row": np.flatnonzero(duplicate.to_numpy()),
                                    "reason": "item_id already in the exported catalog",
                                    "record": clean.loc[duplicate, "item_id"].astype(str).to_numpy()})
        rejects = pd.concat([rejects, dup_rejects], ignore_index=True)
        clean = clean[~duplicate].reset_index(drop=True)
    if clean.empty:
        reasons = rejects["reason"].value_counts().to_dict() if len(rejects) else {}
        raise DatasetError(f"{items_file}: no new item to add ({len(raw)} rows, rejected by reason: {reasons}). "
                           "Fix: give new, unique item_ids with a non-empty title.")
    coverage = _new_items_coverage(clean, item_encoder, strict_text or config.text.strict_coverage, log)
    added = pd.concat([previous, clean], ignore_index=True)
    # a bundle's catalog already holds the earlier additions, a training run's does not
    to_append = added[~added["item_id"].astype(str).isin(set(vocab.items))].reset_index(drop=True)
    new_model, new_vocab = extend_model(model, config, vocab, dataset.items, to_append, item_encoder, query_encoder)
    log(f"adding {len(clean)} items ({len(previous)} added earlier, {len(rejects)} rows rejected"
        + (f": {rejects['reason'].value_counts().to_dict()}" if len(rejects) else "") + ")")
    assets = {ADDED_ITEMS_FILE: lambda path: added.to_parquet(path, index=False),
              REJECTS_FILE: lambda path: spreadsheet_safe(rejects).to_csv(path, index=False)}
    return export_model(new_model, config, new_vocab, item_encoder, query_encoder, export_root,
                        model_name=model_name, index_kind=index_kind, max_k=int(info.get("max_k", 100)), verify=verify,
                        log=log,  # ScaNN settings: defaults for the new catalog size
                        fusion_weight=_fusion_weight(info, run),
                        cooccurrence=run.cooccurrence.extended(len(new_vocab.items)) if run.cooccurrence is not None
                        else None, recommend_fusion_weight=_recommend_fusion_weight(info, run),
                        provenance={"run_dir": info.get("run_dir"), "added_items": int(len(added)),
                                    "based_on": str(export_dir.resolve()),
                                    "text_coverage": {**(info.get("text_coverage") or {}), **coverage}},
                        extra_assets=assets,
                        bundle=(pd.concat([dataset.items.set_index("item_id").loc[list(vocab.items)].reset_index(),
                                           to_append], ignore_index=True), run.bundle_info(), run.path))
