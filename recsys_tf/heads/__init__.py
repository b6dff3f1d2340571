"""Heads own the losses: retrieval softmax (in-batch or full catalog), the repeat offset, rating/click ranking."""
from recsys_tf.heads.ranking_head import RankingHead
from recsys_tf.heads.repeat_head import RepeatHead
from recsys_tf.heads.retrieval_head import RetrievalHead, cross_replica_sum

__all__ = ["RankingHead", "RepeatHead", "RetrievalHead", "cross_replica_sum"]
