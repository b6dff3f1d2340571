"""Tiny random BERT checkpoints in Hugging Face format (config.json, model.safetensors, vocab.txt,
tokenizer_config.json), written offline so tests can load them through keras-hub's HF converter
exactly as a user's downloaded checkpoint directory (`--set text.preset=DIR`) is loaded.

The weight names and shapes are those of `transformers.BertModel` (`nn.Linear` stores (out, in)).
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def bert_weights(vocabulary_size: int, hidden: int, layers: int, intermediate: int, positions: int,
                 seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def normal(*shape):
        return rng.normal(0.0, 0.05, size=shape).astype(np.float32)

    weights = {"embeddings.word_embeddings.weight": normal(vocabulary_size, hidden),
               "embeddings.position_embeddings.weight": normal(positions, hidden),
               "embeddings.token_type_embeddings.weight": normal(2, hidden),
               "embeddings.LayerNorm.weight": np.ones(hidden, np.float32),
               "embeddings.LayerNorm.bias": np.zeros(hidden, np.float32),
               "pooler.dense.weight": normal(hidden, hidden), "pooler.dense.bias": normal(hidden)}
    for i in range(layers):
        prefix = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            weights[f"{prefix}attention.self.{name}.weight"] = normal(hidden, hidden)
            weights[f"{prefix}attention.self.{name}.bias"] = normal(hidden)
        weights[f"{prefix}attention.output.dense.weight"] = normal(hidden, hidden)
        weights[f"{prefix}attention.output.dense.bias"] = normal(hidden)
        weights[f"{prefix}intermediate.dense.weight"] = normal(intermediate, hidden)
        weights[f"{prefix}intermediate.dense.bias"] = normal(intermediate)
        weights[f"{prefix}output.dense.weight"] = normal(hidden, intermediate)
        weights[f"{prefix}output.dense.bias"] = normal(hidden)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[f"{prefix}{norm}.weight"] = np.ones(hidden, np.float32)
            weights[f"{prefix}{norm}.bias"] = np.zeros(hidden, np.float32)
    return weights


def write_tiny_bert(directory: Path, vocabulary: list[str], lowercase: bool, hidden: int = 32, layers: int = 2,
                    intermediate: int = 64, positions: int = 128, seed: int = 0) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    config = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": len(vocabulary),
              "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": 2,
              "intermediate_size": intermediate, "max_position_embeddings": positions, "type_vocab_size": 2,
              "hidden_act": "gelu", "layer_norm_eps": 1e-12, "pad_token_id": 0}
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    (directory / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": lowercase, "tokenize_chinese_chars": True}))
    save_file(bert_weights(len(vocabulary), hidden, layers, intermediate, positions, seed),
              str(directory / "model.safetensors"))
    return directory


def vocabulary_for(texts: list[str], words: list[str] = (), leave_out: str = "") -> list[str]:
    """Specials, every character of `texts` (as typed, lowercased and NFD-decomposed: what either
    casing of the reference tokenizer can produce) alone and as a `##` continuation, and `words`;
    the characters of `leave_out` are left out (they become [UNK])."""
    chars: set[str] = set()
    for text in texts:
        for form in (text, text.lower(), unicodedata.normalize("NFD", text.lower())):
            chars.update(c for c in form if not c.isspace() and c not in leave_out)
    pieces = sorted(chars) + [f"##{c}" for c in sorted(chars)]
    return SPECIALS + [w for w in dict.fromkeys(list(words) + pieces) if w not in SPECIALS]


def train_sentencepiece(directory: Path, corpus: list[str], vocab_size: int = 900,
                        model_type: str = "unigram") -> Path:
    """A tiny SentencePiece model with XLM-RoBERTa's special ids (<unk> 0, <s> 1, </s> 2, no <pad>),
    written as `sentencepiece.bpe.model` (the file name of XLM-RoBERTa checkpoints)."""
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=model, vocab_size=vocab_size, model_type=model_type,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=0.9995, hard_vocab_limit=False,
        minloglevel=2)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sentencepiece.bpe.model"
    path.write_bytes(model.getvalue())
    return path


def write_tiny_xlm_roberta(directory: Path, corpus: list[str], hidden: int = 32, layers: int = 2,
                           intermediate: int = 64, positions: int = 128, seed: int = 0) -> Path:
    """A tiny random XLM-RoBERTa checkpoint in Hugging Face format over a SentencePiece model trained
    on `corpus`: vocabulary = pieces + 2 (fairseq's ids shift the pieces by one; <mask> is last),
    positions + 2 rows (RoBERTa reserves two), one token type."""
    import sentencepiece

    directory = Path(directory)
    model = train_sentencepiece(directory, corpus)
    vocabulary_size = sentencepiece.SentencePieceProcessor(model_file=str(model)).get_piece_size() + 2
    config = {"architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta", "vocab_size": vocabulary_size,
              "hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": 2,
              "intermediate_size": intermediate, "max_position_embeddings": positions + 2, "type_vocab_size": 1,
              "hidden_act": "gelu", "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0,
              "eos_token_id": 2}
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    (directory / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "XLMRobertaTokenizer"}))
    weights = bert_weights(vocabulary_size, hidden, layers, intermediate, positions + 2, seed)
    weights["embeddings.token_type_embeddings.weight"] = weights["embeddings.token_type_embeddings.weight"][:1]
    save_file(weights, str(directory / "model.safetensors"))
    return directory
