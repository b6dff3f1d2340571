"""Write notebooks/*.ipynb from the cell sources below (outputs stripped; run `python scripts/make_notebooks.py`)."""
from pathlib import Path

import nbformat

NOTEBOOKS = {
    "01_quickstart.ipynb": [
        ("markdown", "# recsys_tf quickstart\nSynthetic data -> train -> evaluate -> export -> query the SavedModel.\n"
                     "`SMALL=1` (the default in CI) uses the tiny text preset and a small catalog; set `SMALL=0` for "
                     "all-MiniLM-L6-v2 on the default synthetic data."),
        ("code", "import os, json\nimport recsys_tf  # sets TF_USE_LEGACY_KERAS before TensorFlow loads\n"
                 "SMALL = os.environ.get('SMALL', '1') == '1'\nWORK = os.environ.get('WORK', 'runs/notebook_quickstart')\n"
                 "PRESET = 'tiny' if SMALL else 'minilm-l6'\nprint(SMALL, WORK, PRESET)"),
        ("code", "from recsys_tf.data.synthetic import generate\nfrom recsys_tf.data.splits import split_dataset\n"
                 "from recsys_tf.data.schema import write_dataset\n"
                 "data = generate(n_items=300 if SMALL else 2000, n_users=120 if SMALL else 1000, seed=42)\n"
                 "write_dataset(split_dataset(data, 'temporal-last'), f'{WORK}/data')\n"
                 "data.items.head()"),
        ("code", "from recsys_tf.training.config import load_config\nfrom recsys_tf.training.run import train_run\n"
                 "config = load_config(None, [f'text.preset={PRESET}', 'train.epochs=' + ('2' if SMALL else '8')] +\n"
                 "                     (['train.max_steps_per_epoch=10', 'model.embedding_dim=16'] if SMALL else []))\n"
                 "result = train_run(f'{WORK}/data', f'{WORK}/run', config)\nresult['best']"),
        ("code", "import pandas as pd\nhistory = pd.DataFrame(result['history'])\n"
                 "ax = history.plot(x='epoch', y=['recommend/recall@10', 'search/recall@10'], marker='o')\n"
                 "ax.set_ylabel('validation recall@10');"),
        ("code", "from recsys_tf.evaluation.evaluate import evaluate_run, write_report\n"
                 "metrics = evaluate_run(f'{WORK}/run')\nprint(write_report(metrics, f'{WORK}/report').read_text())"),
        ("code", "from recsys_tf.export.exporter import export_run\n"
                 "version = export_run(f'{WORK}/run', f'{WORK}/exports', 'recsys', 'brute_force')\nversion"),
        ("code", "from recsys_tf.serving import LocalClient\nclient = LocalClient(str(version))\n"
                 "items = data.items\nhits = client.search('noise cancelling earbuds', k=5)[0]\n"
                 "client.join_catalog(hits, items)[['item_id', 'score', 'title']]"),
        ("code", "user = data.events.user_id.iloc[0]\n"
                 "history = data.events[data.events.user_id == user].item_id.tail(5).tolist()\n"
                 "recs = client.recommend([user], [history], k=5)[0]\n"
                 "client.join_catalog(recs, items)[['item_id', 'score', 'because_item_id', 'title']]"),
        ("code", "similar = client.similar_items([history[-1]], k=5)[0]\nclient.join_catalog(similar, items)[['item_id', 'title']]"),
    ],
}


def main():
    out = Path(__file__).resolve().parents[1] / "notebooks"
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "markdown" else nbformat.v4.new_code_cell(src)
                    for kind, src in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, out / name)
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
