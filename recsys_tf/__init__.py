"""recsys_tf: BERT-in-the-tower recommendation and search for TF Serving.

Public API (imported lazily, so `import recsys_tf` stays light and sets nothing but the one
environment default below):

    from recsys_tf import TextEncoder, ItemTower, UserTower, QueryTower, RetrievalHead, RankingHead
    from recsys_tf import RecommenderModel, load_config, train_run, load_run, evaluate_run, export_run
    from recsys_tf import GrpcClient, RestClient, LocalClient, generate, read_dataset, write_dataset
    from recsys_tf import compare_reports, add_items, build_index, tune_scann
"""
import importlib
import os

# TFRS (imported for its ScaNN/BruteForce index layers) needs Keras 2 behind `tf.keras`;
# with this set, `tf.keras` is tf_keras and `import keras` stays Keras 3. Set only if the user
# did not choose, and before anything imports tensorflow. See docs/development.md "Troubleshooting".
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"

_PUBLIC = {
    "generate": "recsys_tf.data.synthetic", "read_dataset": "recsys_tf.data.schema",
    "write_dataset": "recsys_tf.data.schema", "split_dataset": "recsys_tf.data.splits",
    "TextEncoder": "recsys_tf.text.text_encoder", "BertReferenceTokenizer": "recsys_tf.text.tokenizer",
    "EmbeddingCache": "recsys_tf.text.embedding_cache",
    "ItemTower": "recsys_tf.towers.item_tower", "UserTower": "recsys_tf.towers.user_tower",
    "QueryTower": "recsys_tf.towers.query_tower", "RetrievalHead": "recsys_tf.heads.retrieval_head",
    "RankingHead": "recsys_tf.heads.ranking_head", "RecommenderModel": "recsys_tf.models.recommender",
    "load_config": "recsys_tf.training.config", "train_run": "recsys_tf.training.run",
    "load_run": "recsys_tf.training.trained_run", "TrainedRun": "recsys_tf.training.trained_run",
    "RepeatHead": "recsys_tf.heads.repeat_head", "ExperimentConfig": "recsys_tf.training.config",
    "InputError": "recsys_tf.errors", "evaluate_run": "recsys_tf.evaluation.evaluate",
    "export_run": "recsys_tf.export.exporter", "GrpcClient": "recsys_tf.serving.grpc_client",
    "RestClient": "recsys_tf.serving.rest_client", "LocalClient": "recsys_tf.serving.local_client",
    "compare_reports": "recsys_tf.evaluation.compare", "add_items": "recsys_tf.export.add_items",
    "build_index": "recsys_tf.index.build", "tune_scann": "recsys_tf.index.tune",
    "write_report": "recsys_tf.evaluation.report", "render_comparison": "recsys_tf.evaluation.compare",
    # public name -> "module:attribute" where the two differ
    "audit_export": "recsys_tf.export.op_audit:audit", "run_cli": "recsys_tf.cli.main:main",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        module, _, attribute = _PUBLIC[name].partition(":")
        return getattr(importlib.import_module(module), attribute or name)
    raise AttributeError(f"module 'recsys_tf' has no attribute {name!r}")
