"""`BertReferenceTokenizer`: keras-hub's `BertTokenizer` configured to tokenize exactly like the
reference (Hugging Face / original BERT) `BasicTokenizer` + WordPiece of uncased checkpoints.

Why a subclass: keras-hub's pre-tokenization differs from the reference in three ways that change
token ids on real product text (found by `tests/text/test_parity.py`):
1. its lowercasing is `case_fold_utf8` (NFKC_Casefold), which folds "ﬁ" to "fi" and full-width
   "ＡＢＣ" to "abc", and re-composes the Hangul jamo that NFD produced (Korean -> [UNK]); the
   reference only lowercases;
2. its HF converter does not turn on accent stripping, which uncased BERT does ("Ångström" ->
   "angstrom", "ズ" -> "ス"), so accented words became [UNK];
3. it splits words at control/format characters (zero-width space, soft hyphen) and does not treat
   Unicode space separators (NBSP) as whitespace; the reference deletes the former and splits at
   the latter.
So this layer does the reference's text clean-up in graph (tensorflow + tensorflow-text ops only,
both available in stock TF Serving) and hands keras-hub lowercased, accent-stripped text with its
own lowercasing and accent stripping off. CJK splitting, punctuation splitting and WordPiece stay
keras-hub's. Known remaining difference: FastWordpiece maps words longer than 100 *bytes* to
[UNK] where the reference counts 100 *characters* (only matters for > 33-character CJK words).
"""
from __future__ import annotations

import keras
import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

# Reference `_is_control`: Unicode category C* except \t \n \r; plus NUL and U+FFFD are deleted.
_DELETE = r"[\p{Cc}\p{Cf}\p{Co}\p{Cs}\x{FFFD}]"
_WHITESPACE = r"[\t\n\r\p{Zs}]"


def reference_normalize(text: tf.Tensor, lowercase: bool = True, strip_accents: bool = True) -> tf.Tensor:
    """The reference BasicTokenizer's text clean-up, as string ops on a tf.string tensor."""
    # Keep \t \n \r (they are Cc but whitespace in the reference) by turning them into spaces first.
    text = tf.strings.regex_replace(text, _WHITESPACE, " ")
    text = tf.strings.regex_replace(text, _DELETE, "")
    if lowercase:
        text = tf.strings.lower(text, encoding="utf-8")
    if strip_accents:
        text = tf_text.normalize_utf8(text, "NFD")
        text = tf.strings.regex_replace(text, r"\p{Mn}", "")
    return text


@keras.saving.register_keras_serializable(package="recsys_tf")
class BertReferenceTokenizer(keras_hub.models.BertTokenizer):
    """A `keras_hub.models.BertTokenizer` whose output matches the reference tokenizer.

    Args:
        vocabulary: list of tokens or a vocabulary file path (as for `BertTokenizer`).
        reference_lowercase: lowercase like the reference (uncased checkpoints).
        reference_strip_accents: strip accents like the reference (defaults to
            `reference_lowercase`, as Hugging Face's `strip_accents=None` does).
    """

    def __init__(self, vocabulary=None, reference_lowercase: bool = True,
                 reference_strip_accents: bool | None = None, **kwargs):
        kwargs["lowercase"] = False  # done by `reference_normalize` instead (see module docstring)
        kwargs.pop("strip_accents", None)
        super().__init__(vocabulary=vocabulary, **kwargs)
        self.reference_lowercase = reference_lowercase
        self.reference_strip_accents = (reference_lowercase if reference_strip_accents is None
                                        else reference_strip_accents)

    def tokenize(self, inputs):
        inputs = tf.convert_to_tensor(inputs) if not isinstance(inputs, tf.Tensor | tf.RaggedTensor) else inputs
        inputs = reference_normalize(inputs, self.reference_lowercase, self.reference_strip_accents)
        return super().tokenize(inputs)

    def get_config(self):
        config = super().get_config()
        config.pop("lowercase", None)
        config.update({"reference_lowercase": self.reference_lowercase,
                       "reference_strip_accents": self.reference_strip_accents})
        return config
