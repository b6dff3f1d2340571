"""Loaders from public formats into the canonical dataset (see `recsys_tf.data.schema`)."""
from recsys_tf.constants import FORMATS
from recsys_tf.data.loaders.amazon import load_amazon_2023
from recsys_tf.data.loaders.judgments import load_judgments
from recsys_tf.data.loaders.movielens import load_movielens_100k, load_movielens_latest
from recsys_tf.data.loaders.online_retail import load_online_retail
from recsys_tf.data.loaders.table import load_table

__all__ = ["FORMATS", "load_amazon_2023", "load_judgments", "load_movielens_100k",
           "load_movielens_latest", "load_online_retail", "load_table"]
