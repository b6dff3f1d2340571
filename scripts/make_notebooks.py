"""Write notebooks/*.ipynb from the cell sources below (outputs stripped; run `python scripts/make_notebooks.py`)."""
from pathlib import Path

import nbformat

NOTEBOOKS = {
    "01_quickstart.ipynb": [
        ("markdown", "# recsys_tf quickstart\nSynthetic data -> train -> evaluate -> export -> query the SavedModel.\n"
                     "`SMALL=1` (the default in CI) uses the tiny text preset and a small catalog; set `SMALL=0` for "
                     "all-MiniLM-L6-v2 on the default synthetic data."),
        ("code", "import os\n\nimport recsys_tf as rt  # sets TF_USE_LEGACY_KERAS before TensorFlow loads\n\n"
                 "SMALL = os.environ.get('SMALL', '1') == '1'\nWORK = os.environ.get('WORK', 'runs/notebook_quickstart')\n"
                 "PRESET = 'tiny' if SMALL else 'minilm-l6'\nprint(SMALL, WORK, PRESET)"),
        ("code", "data = rt.generate(n_items=300 if SMALL else 2000, n_users=120 if SMALL else 1000, seed=42)\n"
                 "rt.write_dataset(rt.split_dataset(data, 'temporal-last'), f'{WORK}/data')\n"
                 "data.items.head()"),
        ("code", "config = rt.load_config(None, [f'text.preset={PRESET}', 'train.epochs=' + ('2' if SMALL else '8')] +\n"
                 "                     (['train.max_steps_per_epoch=10', 'model.embedding_dim=16', 'text.query_distill_steps=50'] if SMALL else []))\n"
                 "result = rt.train_run(f'{WORK}/data', f'{WORK}/run', config)\nresult['best']"),
        ("code", "import pandas as pd\n\nhistory = pd.DataFrame(result['history'])\n"
                 "ax = history.plot(x='epoch', y=['recommend/recall@10', 'search/recall@10'], marker='o')\n"
                 "ax.set_ylabel('validation recall@10');"),
        ("code", "metrics = rt.evaluate_run(f'{WORK}/run')\nprint(rt.write_report(metrics, f'{WORK}/report').read_text())"),
        ("markdown", "Is a lead real or noise? `compare_reports` joins two systems' per-query rows (here the model and "
                     "EASE in the same report), averages per user and bootstraps users: a 95% interval that excludes 0 "
                     "is a real difference (CLI: `recsys-tf evaluate --compare R R --system baselines/ease "
                     "--system-b recsys_tf`)."),
        ("code", "vs_ease = rt.compare_reports(f'{WORK}/report', f'{WORK}/report', system='baselines/ease', "
                 "system_b='recsys_tf',\n                          metrics=('recall@10', 'ndcg@10'))\n"
                 "print(rt.render_comparison(vs_ease, 'EASE', 'recsys_tf'))"),
        ("code", "version = rt.export_run(f'{WORK}/run', f'{WORK}/exports', 'recsys', 'brute_force')\nversion"),
        ("code", "client = rt.LocalClient(str(version))\n"
                 "items = data.items\nhits = client.search('noise cancelling earbuds', k=5)[0]\n"
                 "client.join_catalog(hits, items)[['item_id', 'score', 'title']]"),
        ("code", "user = data.events.user_id.iloc[0]\n"
                 "history = data.events[data.events.user_id == user].item_id.tail(5).tolist()\n"
                 "recs = client.recommend([user], [history], k=5)[0]\n"
                 "client.join_catalog(recs, items)[['item_id', 'score', 'because_item_id', 'title']]"),
        ("code", "similar = client.similar_items([history[-1]], k=5)[0]\nclient.join_catalog(similar, items)[['item_id', 'title']]"),
    ],
}

SETUP = ("code", "import json\nimport os\nfrom pathlib import Path\n\n"
                 "import recsys_tf as rt  # sets TF_USE_LEGACY_KERAS before TensorFlow loads\n\n"
                 "SMALL = os.environ.get('SMALL', '1') == '1'\nWORK = Path(os.environ.get('WORK', 'runs/notebook_{name}'))\n"
                 "REPO = Path(rt.__file__).resolve().parents[1]\nFIXTURES = REPO / 'tests' / 'fixtures'\n"
                 "PRESET = 'tiny' if SMALL else 'minilm-l6'\n"
                 "TRAIN = [f'text.preset={{PRESET}}', 'train.epochs=' + ('2' if SMALL else '8')] + "
                 "(['train.max_steps_per_epoch=10', 'model.embedding_dim=16', 'text.query_distill_steps=50'] if SMALL else [])\n"
                 "\n\ndef cli(*args):  # the `recsys-tf` command line, called from Python\n    code = rt.run_cli([str(a) for a in args])\n"
                 "    assert code == 0, f'recsys-tf {{args}} exited with {{code}}'\n"
                 "\n\ndef sets(items):\n    return [x for item in items for x in ('--set', item)]\n\n\nprint(SMALL, WORK, PRESET)")

NOTEBOOKS["02_bring_your_own_data.ipynb"] = [
    ("markdown", "# Bring your own data: MovieLens, Amazon Reviews 2023, any table\n"
                 "Every loader writes the same canonical dataset directory (items / events / users / judgments "
                 "parquet + dataset.json + rejects.csv), so everything after `data load` is the same for every source.\n"
                 "This notebook uses the small fixture files shipped with the tests; point `--path` at the real "
                 "downloads (`ml-100k/`, `Electronics.jsonl` + `meta_Electronics.jsonl`) for real numbers."),
    ("code", SETUP[1].format(name="byod")),
    ("markdown", "## MovieLens 100K in the TFRS tutorial protocol\n`data load` → `data split --strategy random "
                 "--test-fraction 0.2 --seed 42` → `train` → `evaluate --protocol tfrs`: every test rating is one "
                 "query over all movies, hit rates with and without the user's seen movies, RMSE on test ratings."),
    ("code", "cli('data', 'load', '--format', 'movielens-100k', '--path', FIXTURES / 'movielens-100k', '--out', WORK / 'ml/raw')\n"
             "print((WORK / 'ml/raw/dataset.json').read_text())"),
    ("code", "import pandas as pd\n\nrejects = pd.read_csv(WORK / 'ml/raw/rejects.csv')\n"
             "print(len(rejects), 'rejected rows, by reason:')\nrejects['reason'].value_counts()"),
    ("code", "cli('data', 'split', WORK / 'ml/raw', '--out', WORK / 'ml/split', '--strategy', 'random', '--test-fraction', '0.2', '--seed', '42')\n"
             "cli('train', '--data', WORK / 'ml/split', '--out', WORK / 'ml/run', *sets(TRAIN + ['train.batch_size=32']))\n"
             "cli('evaluate', '--run', WORK / 'ml/run', '--out', WORK / 'ml/report', '--protocol', 'tfrs')"),
    ("code", "metrics = json.loads((WORK / 'ml/report/metrics.json').read_text())\n"
             "rows = {name: {k: metrics.get(f'{prefix}{k}') for k in ('recommend/hit_rate@10', 'recommend/hit_rate@100', "
             "'recommend_exclude_seen/hit_rate@100')}\n"
             "        for name, prefix in [('recsys_tf', ''), ('popularity', 'baselines/popularity/'), "
             "('item_knn', 'baselines/item_knn/'), ('ease', 'baselines/ease/')]}\n"
             "pd.DataFrame(rows).T"),
    ("markdown", "On the real MovieLens 100K files the published numbers under this protocol are: TFRS basic retrieval "
                 "top-100 0.236, popularity 0.295 (0.412 seen excluded), item-kNN 0.354 (0.513), EASE 0.316 (0.624); "
                 "ranking RMSE 1.113 (TFRS), 0.93 (DCN). The fixture here has a few dozen ratings, so its numbers only "
                 "show that the pipeline runs."),
    ("markdown", "## Amazon Reviews 2023 (JSONL reviews + metadata)"),
    ("code", "cli('data', 'load', '--format', 'amazon-2023', '--path', FIXTURES / 'amazon-2023', '--out', WORK / 'amazon')\n"
             "amazon = rt.read_dataset(WORK / 'amazon')\n"
             "amazon.items[['item_id', 'title', 'category', 'brand', 'price']].head()"),
    ("code", "amazon.events.head()"),
    ("markdown", "## Any CSV / Parquet table\n`recsys-tf data load --format table --path DIR --columns "
                 "user_id=customer,item_id=sku,timestamp=ts` maps your column names onto the canonical ones; "
                 "see docs/data.md."),
]

NOTEBOOKS["03_distributed_training_and_tensorboard.ipynb"] = [
    ("markdown", "# Distributed training and TensorBoard\n"
                 "One custom training loop runs under every `tf.distribute` strategy: `auto` picks TPUStrategy when "
                 "a TPU resolver answers, MultiWorkerMirroredStrategy when `TF_CONFIG` names several workers, "
                 "MirroredStrategy with more than one GPU, and the default strategy otherwise. The global batch is "
                 "`train.batch_size`; each replica gets its share, and the retrieval softmax gathers every "
                 "replica's items so in-batch negatives come from the global batch.\n\n"
                 "No GPU here: we split the CPU into **2 logical devices** (this must happen before TensorFlow "
                 "initialises its devices, so it is the first TensorFlow call of the kernel)."),
    ("code", "import tensorflow as tf\n\ncpus = tf.config.list_physical_devices('CPU')\n"
             "tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)\n"
             "tf.config.list_logical_devices('CPU')"),
    ("code", SETUP[1].format(name="distributed")),
    ("code", "data = rt.generate(n_items=300 if SMALL else 2000, n_users=120 if SMALL else 1000, seed=7)\n"
             "rt.write_dataset(rt.split_dataset(data, 'temporal-last'), WORK / 'data')"),
    ("code", "config = rt.load_config(None, TRAIN + ['train.strategy=mirrored', 'train.batch_size=64'])\n"
             "result = rt.train_run(WORK / 'data', WORK / 'run', config)\n"
             "json.loads((WORK / 'run/run.json').read_text())"),
    ("markdown", "**Other strategies** (same command, `--set train.strategy=...`):\n"
                 "- several GPUs: `mirrored` (or `auto`); add `train.mixed_precision=true` (float16 compute, float32 "
                 "variables) and `train.jit_compile=true` for XLA.\n"
                 "- several machines: set `TF_CONFIG` on every worker (`{\"cluster\": {\"worker\": [\"host1:12345\", "
                 "\"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}`) and run the same "
                 "`recsys-tf train` on each; worker 0 writes checkpoints and logs.\n"
                 "- TPU: `train.strategy=tpu` (bfloat16 with mixed precision)."),
    ("markdown", "## Reading what TensorBoard shows\nThe run writes `logs/train` (losses, learning rate, weight "
                 "histograms, hparams, the embedding projector) and `logs/validation` (Recall@K / NDCG@K per epoch). "
                 "Open it with `tensorboard --logdir RUN/logs`; here we read the same event files directly."),
    ("code", "import pandas as pd\nfrom tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n\n\n"
             "def scalars(path):\n    \"\"\"{tag: [(step, value)]} of the scalar summaries (histograms and hparams skipped).\"\"\"\n"
             "    acc = EventAccumulator(str(path), size_guidance={'tensors': 0}).Reload()\n"
             "    out = {}\n    for tag in acc.Tags()['tensors']:\n"
             "        values = [(e.step, tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]\n"
             "        if values and all(v.size == 1 and v.dtype.kind == 'f' for _, v in values):\n"
             "            out[tag] = [(step, float(v)) for step, v in values]\n    return out\n\n\n"
             "train_tags, val_tags = scalars(WORK / 'run/logs/train'), scalars(WORK / 'run/logs/validation')\n"
             "sorted(val_tags)"),
    ("code", "curve = pd.DataFrame(val_tags['recommend/recall@10'], columns=['epoch', 'recall@10'])\n"
             "ax = curve.plot(x='epoch', y='recall@10', marker='o'); ax.set_title('validation recall@10');"),
    ("code", "print((WORK / 'run/logs/train/projector_config.pbtxt').read_text())\n"
             "pd.read_csv(WORK / 'run/logs/train/metadata.tsv', sep='\\t').head()"),
]

NOTEBOOKS["04_serving.ipynb"] = [
    ("markdown", "# Serving: exports, op audit, gRPC / REST clients, cold-start items\n"
                 "In production the exports are served by TF Serving (`serving/docker-compose.yml`: the stock "
                 "`tensorflow/serving` image for brute-force exports, a ScaNN-enabled build for ScaNN exports). "
                 "TF Serving cannot be installed on this machine, so this notebook starts the TF Serving-protocol "
                 "server the tests use (`tests/serving/savedmodel_server.py`: the real PredictionService gRPC API and "
                 "REST API over the real SavedModel) on 127.0.0.1 — the client code is exactly what you would run "
                 "against TF Serving."),
    ("code", SETUP[1].format(name="serving")),
    ("code", "data = rt.generate(n_items=300 if SMALL else 2000, n_users=120 if SMALL else 1000, seed=11)\n"
             "rt.write_dataset(rt.split_dataset(data, 'temporal-last'), WORK / 'data')\n"
             "cli('train', '--data', WORK / 'data', '--out', WORK / 'run', *sets(TRAIN))"),
    ("markdown", "## Both export flavors and the op audit\nEach export reloads itself in a fresh process "
                 "(tensorflow + tensorflow_text only, + ScaNN ops for ScaNN) and compares every signature before "
                 "the version directory appears."),
    ("code", "cli('export', '--run', WORK / 'run', '--index', 'brute_force', '--export-root', WORK / 'exports', '--model-name', 'recsys')\n"
             "cli('export', '--run', WORK / 'run', '--index', 'scann', '--export-root', WORK / 'exports', '--model-name', 'recsys_scann')\n"
             "for flavor in ('recsys', 'recsys_scann'):\n    result = rt.audit_export(WORK / 'exports' / flavor / '1')\n"
             "    print(flavor, '->', result['serving_image'], '| custom ops:', result['ops']['tftext'] + result['ops']['scann'])"),
    ("code", "import sys\n\nsys.path.insert(0, str(REPO))  # the repository's test server, not part of the package\n"
             "from tests.serving.savedmodel_server import SavedModelServer  # noqa: E402\n\n"
             "server = SavedModelServer(WORK / 'exports', 'recsys').start()\n"
             "grpc_client = rt.GrpcClient(f'127.0.0.1:{server.grpc_port}', 'recsys', timeout=10)\n"
             "rest_client = rt.RestClient(f'http://127.0.0.1:{server.rest_port}', 'recsys', timeout=10)\n"
             "items = data.items"),
    ("code", "hits = grpc_client.search('noise cancelling earbuds', k=5)[0]\n"
             "grpc_client.join_catalog(hits, items)[['item_id', 'score', 'title']]"),
    ("code", "user = data.events.user_id.iloc[0]\nhistory = data.events[data.events.user_id == user].item_id.tail(5).tolist()\n"
             "recs = rest_client.recommend([user], [history], k=5)[0]\n"
             "rest_client.join_catalog(recs, items)[['item_id', 'score', 'because_item_id', 'title']]"),
    ("code", "similar = grpc_client.similar_items([history[-1]], k=5)[0]\n"
             "scores = rest_client.score(user, history, [item for item, _ in similar])\n"
             "{k: (v.round(3) if v.dtype.kind == 'f' else v).tolist() for k, v in scores.items()}  # rating, click_probability, known"),
    ("markdown", "## Cold start: add items without retraining\n`recsys-tf index add-items` embeds new items from "
                 "their text and attributes with the trained item tower and writes the next version; a TF Serving "
                 "file-system poller picks it up (here: the test server reloads the new version)."),
    ("code", "import pandas as pd\n\nnew = pd.DataFrame([{'item_id': 'NEW-0001', 'title': 'Wireless noise cancelling earbuds, black', "
             "'description': 'Bluetooth in-ear earbuds with active noise cancelling and charging case', "
             "'category': items.category.iloc[0], 'brand': 'Acme', 'price': 59.0}])\n"
             "new.to_parquet(WORK / 'new_items.parquet')\n"
             "cli('index', 'add-items', '--export', WORK / 'exports/recsys/1', '--items', WORK / 'new_items.parquet')\n"
             "server.stop()\nserver = SavedModelServer(WORK / 'exports', 'recsys').start()\n"
             "client = rt.GrpcClient(f'127.0.0.1:{server.grpc_port}', 'recsys', timeout=10)\n"
             "client.similar_items(['NEW-0001'], k=3)[0]"),
    ("code", "server.stop()"),
]


def main():
    out = Path(__file__).resolve().parents[1] / "notebooks"
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
                    for kind, src in cells]
        for i, cell in enumerate(nb.cells):  # stable ids: regenerating changes only edited cells
            cell["id"] = f"{Path(name).stem[:2]}-{i:02d}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, out / name)
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
