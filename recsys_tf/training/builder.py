"""Build the multi-task model from an `ExperimentConfig` and prepared data."""
from __future__ import annotations

import numpy as np

from recsys_tf.heads.ranking_head import RankingHead
from recsys_tf.heads.repeat_head import RepeatHead
from recsys_tf.heads.retrieval_head import RetrievalHead
from recsys_tf.models.recommender import RecommenderModel
from recsys_tf.towers.item_tower import ItemTower
from recsys_tf.towers.query_tower import QueryTower
from recsys_tf.towers.user_tower import UserTower
from recsys_tf.training.config import ExperimentConfig

# `model.softmax=auto` scores the whole catalog per step up to this many items: the item tower over
# the catalog plus a (batch x items) matmul stay below ~10x an in-batch step on 2 CPU cores there
FULL_SOFTMAX_MAX_ITEMS = 20_000


def full_softmax_tasks(config: ExperimentConfig, num_items: int) -> tuple:
    m = config.model
    full = m.softmax == "full" or (m.softmax == "auto" and num_items <= FULL_SOFTMAX_MAX_ITEMS)
    return tuple(m.softmax_tasks) if full else ()


SEED_STREAMS = ("item_tower", "user_tower", "query_tower", "recommender", "rating_head", "click_head")


def stream_seeds(seed: int) -> dict:
    """One seed per random stream (id/text dropout, user dropout, anonymous search rows, negative
    sampling, factor initialisers), all from `train.seed`: the same seed reproduces a run, another
    seed changes every stream. (Keras' own Dropout layers and initialisers follow
    `keras.utils.set_random_seed(train.seed)`, called before the model is built.)"""
    states = np.random.SeedSequence(int(seed)).spawn(len(SEED_STREAMS))
    return {name: int(s.generate_state(1)[0] % (2**31 - 1)) for name, s in zip(SEED_STREAMS, states, strict=True)}


def build_model(config: ExperimentConfig, vocab, catalog, text_vectors: np.ndarray, sampling_probability,
                rating_mean: float, item_encoder=None, query_encoder=None, rating_range=None,
                search_rows: bool = True) -> RecommenderModel:
    """`rating_range`: (min, max) of the training ratings — rating predictions are clipped to it
    (`RankingHead`); None = unclipped. `search_rows=False` (training data without queries): the
    query tower is built (search signatures still encode text) but its loss, which would have no
    rows, is not computed."""
    m = config.model
    seed = stream_seeds(config.train.seed)
    live_text = item_encoder is not None and config.text.mode != "frozen"
    token_ids = None
    if live_text:
        token_ids = np.concatenate([np.zeros((1, item_encoder.sequence_length), np.int32),
                                    item_encoder.preprocess(catalog.texts)["token_ids"].numpy()])
    item_tower = ItemTower(
        num_items=catalog.size, num_categories=len(vocab.categories), num_brands=len(vocab.brands),
        catalog_category=catalog.category, catalog_brand=catalog.brand, catalog_price=catalog.price,
        catalog_text_vectors=text_vectors, output_dim=m.embedding_dim, id_dim=m.id_dim,
        attribute_dim=m.attribute_dim, hidden_dims=m.hidden_dims, dropout=m.dropout, id_dropout=m.id_dropout,
        text_encoder=item_encoder if live_text else None, catalog_token_ids=token_ids,
        text_skip=m.text_skip and m.use_text, text_skip_init=m.text_skip_init,
        # the ID-only ablation has no text to drop (and must not draw the extra random numbers)
        text_dropout=m.text_dropout if m.use_text else 0.0, text_dropout_scope=m.text_dropout_scope,
        seed=seed["item_tower"], name="item_tower")
    user_tower = UserTower(item_tower, num_user_bins=vocab.user_bins, num_devices=len(vocab.devices),
                           output_dim=m.embedding_dim, history_encoder=m.history_encoder, num_heads=m.num_heads,
                           hidden_dims=m.hidden_dims, dropout=m.dropout, user_id_dropout=m.user_id_dropout,
                           seed=seed["user_tower"], name="user_tower")
    use_search = config.tasks.search > 0 and m.use_text
    query_tower = QueryTower(text_encoder=query_encoder if live_text else None, text_dim=text_vectors.shape[1],
                             output_dim=m.embedding_dim, hidden_dims=m.hidden_dims, dropout=m.dropout,
                             personalize=m.personalize_search, text_skip=m.text_skip,
                             text_skip_init=m.query_text_skip_init, anonymous_rate=m.anonymous_search_rate,
                             seed=seed["query_tower"], name="query_tower") \
        if use_search else None
    retrieval = RetrievalHead(temperature=m.temperature, learn_temperature=m.learn_temperature,
                              logq_correction=m.logq_correction, remove_accidental_hits=m.remove_accidental_hits,
                              num_hard_negatives=m.num_hard_negatives or None, name="retrieval_head")
    rating = RankingHead("rating", num_user_bins=vocab.user_bins, num_items=catalog.size, hidden_dims=[64],
                         global_mean=rating_mean, factor_dim=m.rating_factors, l2=m.rating_l2,
                         rating_range=rating_range, seed=seed["rating_head"], name="rating_head") if config.tasks.rating > 0 else None
    click = RankingHead("click", num_user_bins=vocab.user_bins, num_items=catalog.size, hidden_dims=[64],
                        seed=seed["click_head"], name="click_head") if config.tasks.click > 0 else None
    weights = {"recommend": config.tasks.recommend, "search": config.tasks.search if use_search and search_rows else 0.0,
               "rating": config.tasks.rating, "click": config.tasks.click}
    return RecommenderModel(item_tower, user_tower, query_tower, retrieval, rating, click, task_weights=weights,
                            sampling_probability=sampling_probability,
                            num_uniform_negatives=m.num_uniform_negatives,
                            category_negatives={"recommend": m.recommend_category_negatives,
                                                "search": m.search_category_negatives},
                            full_softmax=full_softmax_tasks(config, catalog.size),
                            repeat_head=RepeatHead(catalog.size, m.max_history, name="repeat_head") if m.repeat_head else None,
                            seed=seed["recommender"], name="recommender")
