"""Heads own the losses: in-batch softmax retrieval and rating/click ranking."""
from recsys_tf.heads.ranking_head import RankingHead
from recsys_tf.heads.retrieval_head import RetrievalHead, cross_replica_sum

__all__ = ["RankingHead", "RetrievalHead", "cross_replica_sum"]
