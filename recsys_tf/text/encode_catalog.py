"""`recsys-tf data prepare --encode-texts`: the catalog's item texts into the frozen-mode embedding
cache that training reads (`text.cache_dir`), in process or as a stage of an Apache Beam job.

The encoder is the one training builds from the same configuration (`text.preset`,
`text.item_sequence_length`, `text.pooling`), so the cache file is the one its fingerprint names.
On Beam the texts still missing from the cache are batched (`BatchElements`) and each batch is
encoded on a worker and written as one chunk file of the cache (`EmbeddingCache.write_chunk`): a
crashed job keeps every finished chunk and a rerun encodes only the rest. The launcher then merges
the chunks into the cache's main file. The cache directory must be a path the launcher and the
workers share (as for the examples directory).
"""
from __future__ import annotations

from pathlib import Path

from recsys_tf.training.config import ExperimentConfig

BEAM_BATCH_TEXTS = 2048  # texts per Beam element: one chunk file each


def item_encoder(config: ExperimentConfig):
    """The frozen item text encoder training builds from `config`."""
    from recsys_tf.errors import InputError
    from recsys_tf.training.prepare import text_encoders

    if not config.model.use_text or config.text.mode != "frozen":
        raise InputError(f"`--encode-texts` fills the frozen-mode text cache; this configuration has "
                         f"model.use_text={config.model.use_text}, text.mode={config.text.mode!r}. Fix: drop "
                         "--encode-texts (other modes encode text inside the training step).")
    return text_encoders(config)[0]


def catalog_texts(data_dir: str | Path) -> list[str]:
    """The distinct item texts of a dataset's catalog (what training encodes)."""
    from recsys_tf.data.schema import read_items
    from recsys_tf.features.catalog import item_text

    return list(dict.fromkeys(item_text(read_items(data_dir))))


class _EncodeChunks:
    """Beam DoFn body: builds the encoder once per worker (`setup`), then encodes each batch of
    texts into one chunk file of the cache."""

    def __init__(self, config: dict, cache_dir: str):
        self.config, self.cache_dir, self.cache = config, cache_dir, None

    def setup(self):
        from recsys_tf.text.embedding_cache import EmbeddingCache

        self.cache = EmbeddingCache(item_encoder(ExperimentConfig.from_dict(self.config)), self.cache_dir)

    def process(self, texts):
        yield len(self.cache.write_chunk(list(texts)))


def encode_catalog(data_dir: str | Path, config: ExperimentConfig, cache_dir: str | Path, *, runner: str | None = None,
                   pipeline_args: list[str] | None = None, batch_texts: int = BEAM_BATCH_TEXTS, log=print) -> dict:
    """Fill `cache_dir` with the vectors of the catalog's item texts: in process (`runner` None) or
    as a Beam pipeline on `runner`. Returns {"texts", "encoded", "cache"}."""
    from recsys_tf.text.embedding_cache import EmbeddingCache

    texts = catalog_texts(data_dir)
    cache = EmbeddingCache(item_encoder(config), cache_dir)
    missing = cache.missing(texts)
    if missing and runner:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        # the DoFn class is made here so that importing this module does not need Apache Beam
        encode = type("EncodeChunks", (_EncodeChunks, beam.DoFn), {})
        with beam.Pipeline(options=PipelineOptions(pipeline_args or [], runner=runner)) as pipeline:
            _ = (pipeline | "texts" >> beam.Create(missing)
                 | "batch" >> beam.BatchElements(min_batch_size=batch_texts, max_batch_size=batch_texts)
                 | "encode" >> beam.ParDo(encode(config.to_dict(), str(cache_dir))))
    cache.encode(texts, progress=len(missing) > 512)  # in process: encodes; after Beam: merges the chunks
    if log:
        log(f"item texts: {len(texts)} in {cache.path}, {len(missing)} encoded now"
            + (f" on {runner}" if runner and missing else ""))
    return {"texts": len(texts), "encoded": len(missing), "cache": str(cache.path)}
