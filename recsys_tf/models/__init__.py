"""The multi-task model: towers + heads."""
from recsys_tf.models.recommender import TASKS, RecommenderModel

__all__ = ["TASKS", "RecommenderModel"]
