"""Judged search of the *exported* hybrid search against its ingredients, per trained run:

1. calibrates the run as `recsys-tf train` does at its end (text-weight scale and fusion weight on
   the validation half of the judged queries; idempotent; runs trained before hybrid search get
   their fusion weight here);
2. exports it (brute force) and scores the test half of the judged queries through the reloaded
   SavedModel's `search` signature;
3. prints NDCG@10 of the export next to BM25 (`bm25s`, the evaluation baseline, and the in-graph
   index alone), zero-shot MiniLM and the dense part alone, with paired-bootstrap 95% intervals of
   export − BM25 and export − zero-shot over queries;
4. query robustness (docs/hybrid_search.md): the same judged queries with typos, upper case +
   full-width forms, number/unit spacing changed, only their first word, or padded to ~120 words,
   scored for hybrid / dense / BM25; brand-only queries (share of the top 10 of that brand); and
   hostile queries (punctuation only, non-Latin only, empty, 100k characters) through the export:
   finite scores, k results where the catalog allows.

    python benchmarks/hybrid_search.py RUN [RUN ...]
"""
from __future__ import annotations

import re
import sys
import tempfile

import numpy as np

K = 10


def exported_top(model, texts: list[str], item_index: dict, batch: int = 64) -> np.ndarray:
    import tensorflow as tf

    out = np.zeros((len(texts), K), np.int64)
    for start in range(0, len(texts), batch):
        chunk = texts[start:start + batch]
        result = model.signatures["search"](query=tf.constant(chunk), k=tf.constant([K] * len(chunk), tf.int32))
        ids = result["item_ids"].numpy().astype(str)
        out[start:start + len(chunk)] = [[item_index.get(i, 0) for i in row] for row in ids]
    return out


def typo(text: str, rng) -> str:
    """One adjacent-letter swap in every word of five or more letters."""
    words = []
    for word in text.split():
        if len(word) >= 5 and word.isalpha():
            i = int(rng.integers(1, len(word) - 2))
            word = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        words.append(word)
    return " ".join(words)


def full_width_upper(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text.upper())


def units(text: str) -> str:
    """"65w" <-> "65 w", "100 pieces" -> "100pieces": number/unit spacing flipped."""
    joined = re.sub(r"\b(\d+) ([a-z]+)", r"\1\2", text)
    return re.sub(r"\b(\d+)([a-z]+)\b", r"\1 \2", text) if joined == text else joined


VARIANTS = {
    "as judged": lambda t, rng: t,
    "typos": typo,
    "UPPER + full-width": lambda t, rng: full_width_upper(t),
    "number/unit spacing": lambda t, rng: units(t),
    "first word only": lambda t, rng: t.split()[0] if t.split() else t,
    "very long (~120 words)": lambda t, rng: " ".join([t] + ["great value everyday product quality"] * 24),
}
HOSTILE = ["!!!", "...", "?!/\\#", "", "   ", "无线耳机", "наушники", "ヘッドホン", "🎧🎧", "x" * 100_000,
           "\x00\x01", "1/2 in.", "ＸＬ"]


def main(runs: list[str]) -> None:
    for path in runs:
        bench_run(path)


def bench_run(path: str) -> None:
    import tensorflow as tf

    from recsys_tf.data.schema import read_dataset
    from recsys_tf.evaluation.baselines import BM25Search
    from recsys_tf.evaluation.compare import paired_bootstrap
    from recsys_tf.evaluation.judgments import (
        graded_queries,
        judgment_half,
        search_validation,
        zero_shot_ndcg,
    )
    from recsys_tf.evaluation.metrics import graded_ndcg
    from recsys_tf.export.exporter import export_run
    from recsys_tf.index.lexical import FUSION_POOL, LexicalIndex, hybrid_top_k
    from recsys_tf.training.run import calibrate_search
    from recsys_tf.training.trained_run import load_run

    run = load_run(path)
    texts_catalog = run.catalog.texts
    frozen = run.config.text.mode == "frozen"
    report = calibrate_search(run.model, run.query_encoder, search_validation(read_dataset(run.data_dir)), run.vocab, run.path, print,
                              texts_catalog, run.config.train.fusion_weight, run.item_encoder if frozen else None)
    run = load_run(path)  # the calibrated weights and fusion weight
    weight = run.fusion_weight
    texts, grades = graded_queries(judgment_half(run.dataset.judgments, "test"), run.vocab)
    item_index = {item: i + 1 for i, item in enumerate(run.vocab.items)}
    with tempfile.TemporaryDirectory() as root:
        version = export_run(path, root, "bench", "brute_force", verify=False, log=lambda *_: None)
        model = tf.saved_model.load(str(version))
        exported = graded_ndcg(exported_top(model, texts, item_index), grades, K)
        hostile = model.signatures["search"](query=tf.constant(HOSTILE), k=tf.constant([K] * len(HOSTILE)))
        hostile_scores = hostile["scores"].numpy()
        hostile_found = (hostile["item_ids"].numpy() != b"").sum(axis=1)
    lexical = LexicalIndex(texts_catalog)
    items = run.item_vectors()
    queries = run.query_vectors(texts)
    cache: dict = {}

    def ranked(w, vectors=queries, query_texts=texts, memo=cache):
        return hybrid_top_k(vectors, items, lexical, query_texts, w, K, FUSION_POOL, cache=memo)

    systems = {
        f"export (hybrid, w={weight:g})": exported,
        "in-process hybrid": graded_ndcg(ranked(weight), grades, K),
        "dense part": graded_ndcg(ranked(0.0), grades, K),
        "in-graph BM25": graded_ndcg(ranked(1.0), grades, K),
        "bm25s": graded_ndcg(BM25Search(texts_catalog).top_k(texts, K), grades, K),
    }
    zero_shot = None
    if frozen and run.item_encoder is not None:
        zero_shot = zero_shot_ndcg(run.model, run.item_encoder, texts, grades, K, per_query=True)
        systems["zero-shot MiniLM"] = zero_shot
    print(f"\n{path}: {len(texts)} judged test queries; calibration: {report['why'] if report else 'none'}")
    for name, values in systems.items():
        print(f"  {name:24s} NDCG@10 {values.mean():.4f}")
    groups = np.arange(len(texts))
    for name in ("bm25s", "in-graph BM25", "zero-shot MiniLM", "dense part"):
        if name in systems:
            ci = paired_bootstrap(systems[name], exported, groups)
            print(f"  export - {name:16s} {ci['delta']:+.4f} [{ci['ci_low']:+.4f}, {ci['ci_high']:+.4f}]")
    print("  robustness (hybrid / dense / BM25 NDCG@10 against the original judgments):")
    rng = np.random.default_rng(0)
    for variant, change in VARIANTS.items():
        changed = [change(t, rng) for t in texts]
        vectors, memo = run.query_vectors(changed), {}
        row = [graded_ndcg(ranked(w, vectors, changed, memo), grades, K).mean() for w in (weight, 0.0, 1.0)]
        print(f"    {variant:24s} " + " / ".join(f"{v:.4f}" for v in row))
    brands = sorted({str(b) for b in run.dataset.items["brand"].dropna() if str(b)})
    brand_of = run.dataset.items.set_index("item_id")["brand"].astype(str).reindex(run.vocab.items).to_numpy()
    brand_queries = sorted(brands)[:50]
    vectors, memo = run.query_vectors(brand_queries), {}
    for w, label in ((weight, "hybrid"), (0.0, "dense"), (1.0, "BM25")):
        top = ranked(w, vectors, brand_queries, memo)
        share = np.mean([[brand_of[i - 1] == b for i in row if i > 0] for b, row in zip(brand_queries, top)])
        print(f"    brand-only ({len(brand_queries)} brands), {label:6s}: share of the top 10 of that brand {share:.3f}")
    print(f"    hostile queries {HOSTILE[:9]} + 100k chars + control chars + units: finite scores "
          f"{bool(np.isfinite(hostile_scores).all())}, results per query {hostile_found.tolist()}")


if __name__ == "__main__":
    main(sys.argv[1:])
