"""Text coverage: how much of a catalog's text the checkpoint's vocabulary can read.

A WordPiece vocabulary without a language's characters maps them to [UNK]: all-MiniLM-L6-v2 reads
"无线耳机" (wireless earphones), "蓝牙耳机" and "降噪耳机" as the same [UNK] tokens, so they get the
same vector and nothing downstream can tell them apart. `check_text_coverage` measures, per field,
the share of [UNK] tokens and of texts that are mostly [UNK] (at least half their tokens), on up to
`SAMPLE` texts spread evenly over the field, and warns — or with `strict` fails — above the limits.

Every stage that encodes text runs it on the texts it encodes: `train` (item titles, descriptions,
training queries; recorded in run.json), `text embed` (the input lines), `evaluate` (the evaluated
queries; the report carries the run's record too), `export` (repeats the run's record into the
export metadata) and `index add-items` (the new items' titles and descriptions).
"""
from __future__ import annotations

import numpy as np

from recsys_tf.errors import InputError

UNK_TOKEN_SHARE_LIMIT = 0.02    # more than 2 % of a field's tokens are [UNK]
MOSTLY_UNK_TEXTS_LIMIT = 0.01   # or more than 1 % of its texts are mostly [UNK]
MOSTLY_UNK = 0.5                # a text is mostly [UNK] when at least half its tokens are
SAMPLE = 5000                   # texts tokenised per field (evenly spaced; every text below that)


class TextCoverageError(InputError):
    """The checkpoint's vocabulary does not cover the text (strict mode)."""


def field_coverage(tokenizer, texts: list[str], field: str) -> dict:
    """[UNK] statistics of one field's texts under `tokenizer` (a keras-hub WordPiece or SentencePiece
    tokenizer: [UNK] or <unk>)."""
    import tensorflow as tf

    texts = [str(t) for t in texts if str(t).strip()]
    if len(texts) > SAMPLE:
        texts = [texts[i] for i in np.linspace(0, len(texts) - 1, SAMPLE).astype(int)]
    report = {"field": field, "texts_checked": len(texts), "unk_token_share": 0.0, "mostly_unk_texts_share": 0.0,
              "examples": []}
    if not texts:
        return report | {"ok": True}
    from recsys_tf.text.text_encoder import unknown_token_id

    unk = unknown_token_id(tokenizer)
    tokens = tokenizer(tf.constant(texts))
    if isinstance(tokens, tf.RaggedTensor):
        tokens = tokens.to_list()
    tokens = [np.asarray(t) for t in tokens]  # keras-hub returns nested lists in eager mode
    n_tokens = np.array([len(t) for t in tokens])
    n_unk = np.array([int((t == unk).sum()) for t in tokens])
    unk_share = n_unk / np.maximum(n_tokens, 1)
    mostly = (n_tokens > 0) & (unk_share >= MOSTLY_UNK)
    report["unk_token_share"] = round(float(n_unk.sum() / max(int(n_tokens.sum()), 1)), 4)
    report["mostly_unk_texts_share"] = round(float(mostly.mean()), 4)
    report["examples"] = [texts[i][:80] for i in np.argsort(-unk_share, kind="stable")[:3] if n_unk[i] > 0]
    report["ok"] = (report["unk_token_share"] <= UNK_TOKEN_SHARE_LIMIT
                    and report["mostly_unk_texts_share"] <= MOSTLY_UNK_TEXTS_LIMIT)
    return report


def check_text_coverage(encoder, fields: dict[str, list[str]], strict: bool = False, log=print) -> dict:
    """field -> `field_coverage` for every field; a warning per field over the limits, or with
    `strict` a `TextCoverageError` naming them all."""
    reports = {name: field_coverage(encoder.tokenizer, texts, name) for name, texts in fields.items()}
    problems = [_message(r, encoder.preset) for r in reports.values() if not r["ok"]]
    if problems and strict:
        raise TextCoverageError(" ".join(problems) + " (strict text coverage is on.)")
    for problem in problems:
        if log:
            log(f"warning: {problem}")
    return reports


def warn_recorded(reports: dict | None, preset: str, strict: bool = False, log=print, stage: str = "") -> None:
    """Repeat the warnings of coverage `reports` recorded by an earlier stage (run.json, an export's
    metadata), or with `strict` raise a `TextCoverageError` naming them."""
    problems = [_message(r, preset) for r in (reports or {}).values() if not r.get("ok", True)]
    if problems and strict:
        raise TextCoverageError(" ".join(problems) + f" (recorded when the run was trained; strict text coverage "
                                f"is on{' for ' + stage if stage else ''}.)")
    for problem in problems:
        if log:
            log(f"warning: {problem}")


def coverage_metrics(reports: dict | None) -> dict:
    """`text_coverage/<field>/<share>` numbers of coverage `reports`, for a flat metrics file."""
    return {f"text_coverage/{field.replace(' ', '_')}/{share}": float(report[share])
            for field, report in (reports or {}).items() for share in ("unk_token_share", "mostly_unk_texts_share")}


def _message(report: dict, preset: str) -> str:
    return (f"text coverage of {report['field']}: {report['unk_token_share']:.0%} of the tokens are [UNK] and "
            f"{report['mostly_unk_texts_share']:.0%} of the texts are mostly [UNK] under the text preset {preset!r} "
            f"(limits {UNK_TOKEN_SHARE_LIMIT:.0%} / {MOSTLY_UNK_TEXTS_LIMIT:.0%}), e.g. "
            + ", ".join(repr(e) for e in report["examples"])
            + ". Texts made of [UNK] get nearly the same vector. Fix: a checkpoint whose vocabulary covers this "
            "language (--set text.preset=DIR, docs/text_tower.md).")
