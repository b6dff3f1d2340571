"""Towers: each maps its inputs to L2-normalised embeddings of size `output_dim` (no losses here)."""
from recsys_tf.towers.item_tower import ItemTower
from recsys_tf.towers.query_tower import QueryTower
from recsys_tf.towers.user_tower import UserTower

__all__ = ["ItemTower", "QueryTower", "UserTower"]
