import numpy as np
import pandas as pd
import pytest

from recsys_tf.data.catalog_vocabulary import LEAVES
from recsys_tf.data.schema import EVENT_TYPES, read_dataset, write_dataset
from recsys_tf.data.synthetic import generate
from recsys_tf.errors import InputError
from tests.repo_scripts import load_script


def test_deterministic_given_seed():
    a = generate(n_items=100, n_users=20, seed=3)
    b = generate(n_items=100, n_users=20, seed=3)
    c = generate(n_items=100, n_users=20, seed=4)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.items, b.items)
    assert not a.items.equals(c.items)


def test_world_has_what_the_models_need(small_dataset):
    items, events = small_dataset.items, small_dataset.events
    assert len([leaf for leaf in LEAVES]) >= 30
    assert items["item_id"].is_unique
    assert set(events["event"]) <= set(EVENT_TYPES)
    assert {"view", "click", "cart", "purchase", "search_click", "rating"} <= set(events["event"])
    searches = events[events["event"] == "search_click"]
    assert (searches["query"].str.len() > 0).all()
    assert (events.loc[events["event"] != "search_click", "query"] == "").all()
    ratings = events[events["event"] == "rating"]["rating"]
    assert ratings.between(1, 5).all() and events.loc[events["event"] != "rating", "rating"].isna().all()
    # popularity skew: the top 10% of items hold a large share of events
    counts = np.sort(events["item_id"].value_counts().to_numpy())[::-1]
    assert counts[: max(1, len(items) // 10)].sum() / counts.sum() > 0.3


def test_cold_start_items_appear_only_after_cutoff(small_dataset):
    cutoff = small_dataset.info["cold_start_after"]
    first_seen = small_dataset.events.groupby("item_id")["timestamp"].min()
    late = first_seen[first_seen >= cutoff]
    assert len(late) > 0


def test_purchases_follow_carts(small_dataset):
    events = small_dataset.events
    carts = set(zip(events.loc[events.event == "cart", "user_id"], events.loc[events.event == "cart", "item_id"]))
    purchases = set(zip(events.loc[events.event == "purchase", "user_id"],
                        events.loc[events.event == "purchase", "item_id"]))
    assert purchases <= carts


def test_round_trip_through_directory(tmp_path, small_dataset):
    write_dataset(small_dataset, tmp_path / "d")
    back = read_dataset(tmp_path / "d")
    assert len(back.events) == len(small_dataset.events)
    assert back.info["counts"]["items"] == len(small_dataset.items)
    assert back.judgments is not None and back.users is not None
    assert (tmp_path / "d" / "rejects.csv").exists()


def test_search_oracle_replays_the_catalog_and_bounds_the_judgments(tmp_path, small_dataset):
    """scripts/search_oracle.py: the query-parsing oracle ranks the target's leaf by the named
    features, colour and brand — well above a random order of the same leaf, below a perfect 1."""
    import pytest

    oracle = load_script("search_oracle")
    raw = write_dataset(small_dataset, tmp_path / "raw")
    for half in ("validation", "test"):
        ndcg = oracle.oracle_ndcg(str(raw), ks=(5, 10), half=half, draws=5)
        assert 0.6 < ndcg[5] < 1.0 and 0.6 < ndcg[10] < 1.0
    # the parse matters: with the query's words ignored (a random order of the leaf) it is clearly lower
    assert oracle.oracle_ndcg(str(raw), ks=(5,), draws=5, parse=False)[5] < ndcg[5] - 0.1
    items = pd.read_parquet(raw / "items.parquet")
    items.loc[0, "title"] = "something else"
    items.to_parquet(raw / "items.parquet")
    with pytest.raises(SystemExit, match="does not match the generator"):
        oracle.oracle_ndcg(str(raw))


def test_chinese_world_has_the_same_items_users_and_events_with_chinese_text(small_dataset):
    import re

    from recsys_tf.data.catalog_vocabulary import COLOURS, DESCRIPTION_TEMPLATES
    from recsys_tf.data.catalog_vocabulary_zh import COLOURS_ZH, DESCRIPTION_TEMPLATES_ZH, LEAVES_ZH

    # the same shapes, so both languages draw the same random numbers
    assert list(LEAVES_ZH) == list(LEAVES) and len(COLOURS_ZH) == len(COLOURS)
    assert len(DESCRIPTION_TEMPLATES_ZH) == len(DESCRIPTION_TEMPLATES)
    for leaf, (nouns, features, _, _) in LEAVES.items():
        _, nouns_zh, features_zh = LEAVES_ZH[leaf]
        assert len(nouns_zh) == len(nouns) and [len(g) for g in features_zh] == [len(g) for g in features], leaf
    zh = generate(n_items=300, n_users=120, sessions_per_user=6, seed=7, n_judgment_queries=20, language="zh")
    en = small_dataset
    assert zh.events.drop(columns="query").equals(en.events.drop(columns="query"))
    assert zh.items[["item_id", "brand", "price"]].equals(en.items[["item_id", "brand", "price"]])
    assert zh.users.equals(en.users) and zh.info["generator"]["language"] == "zh"
    han = re.compile(r"[\u4e00-\u9fff]")
    for column in ("title", "description", "category"):
        assert zh.items[column].map(lambda text: bool(han.search(text))).all(), column
    queries = zh.events.loc[zh.events["query"] != "", "query"]
    assert len(queries) == (en.events["query"] != "").sum() and queries.map(lambda q: bool(han.search(q))).all()
    assert zh.judgments["query"].map(lambda q: bool(han.search(q))).all()
    with pytest.raises(InputError, match="`language` must be one of \\('en', 'zh'\\)"):
        generate(n_items=60, n_users=10, language="fr")


def test_written_in_blocks_it_is_the_same_data_and_one_block_is_generate_exactly(tmp_path):
    """`write_synthetic` holds one block of users at a time: the same users' events (each block in
    time order) and the same catalog, users and judgments; with one block, `generate`'s files."""
    from recsys_tf.data.splits import split_dataset
    from recsys_tf.data.synthetic import write_synthetic

    whole = generate(n_items=80, n_users=25, seed=5, n_judgment_queries=10)
    counts = write_synthetic(tmp_path / "blocks", n_items=80, n_users=25, seed=5, n_judgment_queries=10,
                             split="temporal-last", block_users=7)
    blocks = read_dataset(tmp_path / "blocks")
    reference = split_dataset(whole, "temporal-last").events
    key = ["user_id", "timestamp", "item_id", "event"]
    pd.testing.assert_frame_equal(blocks.events.sort_values(key, kind="stable").reset_index(drop=True),
                                  read_dataset(write_dataset(split_dataset(whole, "temporal-last"), tmp_path / "w"))
                                  .events.sort_values(key, kind="stable").reset_index(drop=True))
    # the blocks follow each other: users 0-6, then 7-13, ...
    assert list(pd.unique(blocks.events["user_id"].str[1:].astype(int) // 7)) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(blocks.users, whole.users)
    pd.testing.assert_frame_equal(blocks.judgments, whole.judgments)
    assert {k: blocks.info["counts"][k] for k in counts} == counts and counts["events"] == len(reference)
    assert blocks.info["counts"]["events_by_split"] == reference["split"].value_counts().to_dict()
    assert blocks.info["split"] == {"strategy": "temporal-last"}

    write_synthetic(tmp_path / "one", n_items=80, n_users=25, seed=5, n_judgment_queries=10)
    written = read_dataset(write_dataset(whole, tmp_path / "generate"))
    pd.testing.assert_frame_equal(read_dataset(tmp_path / "one").events, written.events)
    with pytest.raises(InputError, match="per-user split.*split='random'.*--strategy random"):
        write_synthetic(tmp_path / "x", n_items=80, n_users=25, split="random")
