"""Deterministic synthetic e-commerce world: the embedded default for the demo and the tests.

Generative model (all draws from one ``numpy.random.default_rng(seed)``, so a seed fixes everything):

* **Catalog.** 42 leaf categories in a 3-level tree (`catalog_vocabulary.LEAVES`). An item picks a
  leaf (Zipf-weighted, so some categories are bigger), a brand of the leaf's department, 1-2
  features and a colour. Its title uses one synonym of each ("Acme wireless earbuds, noise
  cancelling, black"), its description other synonyms, so title, description and query rarely
  share every word. The price is log-uniform in the leaf's range. Each item has a popularity
  weight ~ Zipf(1.6), capped at 200 (long tail) and a release time: ``cold_start_fraction`` of items are released
  after ``0.85`` of the time span, so they have no events before that cut-off (cold start).
* **Users.** Each user has a taste: a Dirichlet over 2-4 favourite leaves, a favourite brand per
  department (affinity 3x), two favourite colours (affinity 3x), a must-have feature per leaf
  (affinity 2x), a price sensitivity (preferred price quantile) and a device. Colour and features
  exist only in the item text (title/description), not in the structured attributes: as in real
  catalogs, part of what users want is written, not tabulated, so a model without text can learn it
  for warm items only (through ids), never for cold-start items. The effect is modest because
  popularity dominates within a leaf: in the default world 40 % of views are in the viewer's two
  favourite colours (25 % by chance).
* **Sessions.** Poisson(``sessions_per_user``) sessions at uniform random times. A session picks a
  leaf from the taste, or — with probability 0.35 after a purchase — a complement of the last
  purchased leaf (phone -> case, laptop -> mouse), which makes bundles learnable. 35% of sessions
  start with a search: the query is a noisy paraphrase of a target item (other synonyms, dropped
  words, typos, sometimes the brand) and the click on it is a ``search_click`` event carrying the
  query. Then views of items of the leaf drawn by popularity x brand affinity x price fit x
  per-user item noise, and a funnel view -> click (p=.45) -> cart (.35) -> purchase (.6) for the best.
* **Ratings.** 30% of purchases get a ``rating`` event; the 1-5 value grows with how well the item
  matched the user's taste plus noise.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from recsys_tf.atomic import atomic_write
from recsys_tf.constants import SYNTHETIC_LANGUAGES
from recsys_tf.data.catalog_vocabulary import (
    COLOURS,
    DEPARTMENT_BRANDS,
    DESCRIPTION_TEMPLATES,
    DEVICES,
    LEAVES,
    USER_SEGMENTS,
)
from recsys_tf.data.catalog_vocabulary_zh import (
    COLOURS_ZH,
    DESCRIPTION_TEMPLATES_ZH,
    LEAVES_ZH,
    WELL_MADE_ZH,
)
from recsys_tf.data.schema import Dataset, empty_rejects
from recsys_tf.errors import InputError

DAY = 86_400
START_TIME = 1_700_000_000  # 2023-11-14, an arbitrary fixed origin
COLD_START_CUTOFF = 0.85
BLOCK_USERS = 20_000  # `write_synthetic` holds this many users' events (~700k) at a time


class _Lexicon(NamedTuple):
    """The text of one language: per English leaf path its category path, nouns and feature
    synonym groups (the shapes of `LEAVES`, so both languages draw the same random numbers)."""

    leaves: dict
    colours: list
    templates: list
    well_made: str
    joiner: str      # between the first feature and the noun in a title
    separator: str   # between the title's parts


ENGLISH = _Lexicon({leaf: (leaf, nouns, features) for leaf, (nouns, features, _, _) in LEAVES.items()},
                   COLOURS, DESCRIPTION_TEMPLATES, "well made", " ", ", ")
CHINESE = _Lexicon(LEAVES_ZH, COLOURS_ZH, DESCRIPTION_TEMPLATES_ZH, WELL_MADE_ZH, "", "，")


def _lexicon(language: str) -> _Lexicon:
    return CHINESE if language == "zh" else ENGLISH


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = rng.integers(3)
    if kind == 0:  # swap two letters
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:  # drop a letter
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]  # double a letter


def _make_items(n_items: int, days: int, cold_start_fraction: float, rng: np.random.Generator, lex: _Lexicon):
    leaves = list(LEAVES)
    leaf_weight = 1.0 / np.arange(1, len(leaves) + 1) ** 0.5
    leaf_weight = rng.permutation(leaf_weight / leaf_weight.sum())
    rows, meta = [], []
    leaf_of = rng.choice(len(leaves), size=n_items, p=leaf_weight)
    for i in range(n_items):
        leaf = leaves[leaf_of[i]]
        lo, hi = LEAVES[leaf][2]
        category, nouns, features = lex.leaves[leaf]
        brands = DEPARTMENT_BRANDS[leaf.split(" > ")[0]]
        brand = brands[int(rng.integers(len(brands)))]
        feats = [int(f) for f in rng.choice(len(features), size=min(len(features), int(rng.integers(1, 3))),
                                            replace=False)]
        colour = int(rng.integers(len(COLOURS)))
        noun_t = nouns[int(rng.integers(len(nouns)))]
        feat_t = [features[f][int(rng.integers(len(features[f])))] for f in feats]
        title = (f"{brand} {feat_t[0]}{lex.joiner}{noun_t}" + "".join(f"{lex.separator}{f}" for f in feat_t[1:])
                 + f"{lex.separator}{lex.colours[colour][0]}")
        noun_d = nouns[int(rng.integers(len(nouns)))]
        feat_d = [features[f][int(rng.integers(len(features[f])))] for f in feats]
        template = lex.templates[int(rng.integers(len(lex.templates)))]
        description = template.format(noun=noun_d, brand=brand, feature=feat_d[0],
                                      feature2=feat_d[1] if len(feat_d) > 1 else lex.well_made,
                                      colour=lex.colours[colour][1])
        price = float(np.round(np.exp(rng.uniform(np.log(lo), np.log(hi))), 2))
        rows.append({"item_id": f"SKU{i:06d}", "title": title, "description": description,
                     "category": category, "brand": brand, "price": price})
        meta.append((leaf_of[i], brand, feats, colour))
    popularity = rng.zipf(1.6, size=n_items).astype(float)
    popularity = np.minimum(popularity, 200.0)
    release = np.zeros(n_items)
    n_cold = int(round(cold_start_fraction * n_items))
    cold = rng.choice(n_items, size=n_cold, replace=False)
    release[cold] = rng.uniform(COLD_START_CUTOFF, 0.95, size=n_cold) * days * DAY
    items = pd.DataFrame(rows)
    return items, meta, popularity, release


def _query_for(meta, rng: np.random.Generator, lex: _Lexicon) -> str:
    """A noisy paraphrase of an item: other synonyms, dropped words, typos, sometimes the brand.
    Every draw depends on the English words only, so each language draws the same numbers."""
    leaf_index, brand, feats, colour = meta
    leaf = list(LEAVES)[leaf_index]
    (_, nouns, features), (_, text_nouns, text_features) = ENGLISH.leaves[leaf], lex.leaves[leaf]
    n = int(rng.integers(len(nouns)))
    words = [(nouns[n], text_nouns[n])]  # (English, this language)
    for f in feats:
        if rng.random() < 0.7:
            n = int(rng.integers(len(features[f])))
            words.insert(0, (features[f][n], text_features[f][n]))
    if rng.random() < 0.3:
        n = int(rng.integers(2))
        words.append((ENGLISH.colours[colour][n], lex.colours[colour][n]))
    if rng.random() < 0.25:
        words.insert(0, (brand.lower(), brand.lower()))
    tokens = [(t, j) for j, (english, _) in enumerate(words) for t in english.split()]  # (token, its word)
    dropped = None
    if len(tokens) > 2 and rng.random() < 0.2:
        dropped = tokens.pop(int(rng.integers(len(tokens))))[1]
    misspelt = set()
    for i, (token, j) in enumerate(tokens):
        if rng.random() < 0.08:
            tokens[i] = (_typo(token, rng), j)
            misspelt.add(j)
    if lex is ENGLISH:
        return " ".join(t for t, _ in tokens).lower()
    return " ".join(_noisy_words([w for _, w in words], dropped, misspelt)).lower()


def _noisy_words(words: list[str], dropped: int | None, misspelt: set) -> list[str]:
    """The English query's noise on words of a language written without spaces: a dropped token
    drops its word (or, for a one-word query, the word's last character), a misspelt token swaps
    two neighbouring characters of its word."""
    words = list(words)
    for j in misspelt:
        word = words[j]
        if len(word) >= 2:
            k = len(word) // 2
            words[j] = word[:k - 1] + word[k] + word[k - 1] + word[k + 1:]
    if dropped is not None:
        if len(words) > 1:
            del words[dropped]
        elif len(words[0]) > 2:
            words[0] = words[0][:-1]
    return words


class _World(NamedTuple):
    """Catalog facts the user simulation reads, precomputed once (no random draws)."""

    items: pd.DataFrame
    meta: list
    popularity: np.ndarray
    release: np.ndarray
    leaves: list
    leaf_items: list
    log_price: np.ndarray
    leaf_price: dict
    complements: list
    brands: np.ndarray
    item_leaf: np.ndarray
    item_colour: np.ndarray
    item_has_feature: np.ndarray
    n_features: np.ndarray
    lexicon: _Lexicon


def _world(items, meta, popularity, release, lexicon: _Lexicon) -> _World:
    leaves = list(LEAVES)
    item_leaf = np.array([m[0] for m in meta])
    leaf_items = [np.flatnonzero(item_leaf == li) for li in range(len(leaves))]
    log_price = np.log(items["price"].to_numpy())
    leaf_price = {li: (log_price[ix].min(), log_price[ix].max()) for li, ix in enumerate(leaf_items) if len(ix)}
    item_has_feature = np.zeros((len(items), max(len(LEAVES[leaf][1]) for leaf in leaves)), bool)
    for i, m in enumerate(meta):
        item_has_feature[i, m[2]] = True
    return _World(items=items, meta=meta, popularity=popularity, release=release, leaves=leaves,
                  leaf_items=leaf_items, log_price=log_price, leaf_price=leaf_price,
                  complements=[[leaves.index(c) for c in LEAVES[leaf][3]] for leaf in leaves],
                  brands=items["brand"].to_numpy(), item_leaf=item_leaf,
                  item_colour=np.array([m[3] for m in meta]), item_has_feature=item_has_feature,
                  n_features=np.array([len(LEAVES[leaf][1]) for leaf in leaves]), lexicon=lexicon)


class _Taste(NamedTuple):
    favourites: np.ndarray
    taste: np.ndarray
    fav_brand: dict
    price_pref: float
    device: str
    fav_colours: np.ndarray
    must_have: np.ndarray  # a feature index per leaf


def _taste(world: _World, rng: np.random.Generator) -> _Taste:
    non_empty = [li for li in range(len(world.leaves)) if len(world.leaf_items[li])]
    favourites = rng.choice(non_empty, size=int(rng.integers(2, 5)), replace=False)
    taste = rng.dirichlet(np.ones(len(favourites)) * 0.8)
    fav_brand = {dep: bs[int(rng.integers(len(bs)))] for dep, bs in DEPARTMENT_BRANDS.items()}
    price_pref = rng.uniform(0.1, 0.9)
    device = DEVICES[int(rng.integers(len(DEVICES)))]
    fav_colours = rng.choice(len(COLOURS), size=2, replace=False)
    must_have = (rng.random(len(world.leaves)) * world.n_features).astype(int)
    return _Taste(favourites, taste, fav_brand, price_pref, device, fav_colours, must_have)


def _session(world: _World, user_id: str, taste: _Taste, start: float, last_purchase_leaf,
             events: list, rng: np.random.Generator):
    """Append one session's events; return the leaf of its purchase, else `last_purchase_leaf`."""
    w = world
    if last_purchase_leaf is not None and w.complements[last_purchase_leaf] and rng.random() < 0.35:
        leaf = int(rng.choice(w.complements[last_purchase_leaf]))
    else:
        leaf = int(rng.choice(taste.favourites, p=taste.taste))
    candidates = w.leaf_items[leaf]
    candidates = candidates[w.release[candidates] <= start]
    if len(candidates) == 0:
        return last_purchase_leaf
    lo, hi = w.leaf_price[leaf]
    fit = 1.0 - np.abs((w.log_price[candidates] - lo) / max(hi - lo, 1e-6) - taste.price_pref)
    dep = w.leaves[leaf].split(" > ")[0]
    affinity = np.where(w.brands[candidates] == taste.fav_brand[dep], 3.0, 1.0)
    affinity = affinity * np.where(np.isin(w.item_colour[candidates], taste.fav_colours), 3.0, 1.0)
    affinity = affinity * np.where(w.item_has_feature[candidates, taste.must_have[leaf]], 2.0, 1.0)
    utility = w.popularity[candidates] * affinity * np.exp(2.0 * fit)
    utility = utility * rng.lognormal(0, 0.5, size=len(candidates))
    p = utility / utility.sum()
    n_views = int(min(len(candidates), rng.integers(1, 6)))
    viewed = rng.choice(candidates, size=n_views, replace=False, p=p)
    device = taste.device
    t = int(START_TIME + start)
    if rng.random() < 0.35:
        target = int(viewed[0])
        events.append((user_id, target, "search_click", t, np.nan, _query_for(w.meta[target], rng, w.lexicon), device))
        t += int(rng.integers(5, 60))
    for item in viewed:
        events.append((user_id, int(item), "view", t, np.nan, "", device))
        t += int(rng.integers(5, 120))
    best = int(viewed[np.argmax(utility[np.searchsorted(candidates, viewed)])]) if n_views else None
    if best is None or rng.random() > 0.45:
        return last_purchase_leaf
    events.append((user_id, best, "click", t, np.nan, "", device))
    t += int(rng.integers(5, 120))
    if rng.random() > 0.35 + 0.3 * (best in viewed[:1]):
        return last_purchase_leaf
    events.append((user_id, best, "cart", t, np.nan, "", device))
    t += int(rng.integers(5, 300))
    if rng.random() > 0.6:
        return last_purchase_leaf
    events.append((user_id, best, "purchase", t, np.nan, "", device))
    if rng.random() < 0.3:
        # `affinity.max() > 1` nearly always holds (colour/feature affinities); the brand and the
        # colour match add on top of it
        score = 2.4 + 2.0 * fit[np.searchsorted(candidates, best)] + 0.6 * (affinity.max() > 1) \
            + (w.brands[best] == taste.fav_brand[dep]) * 0.6 + np.isin(w.item_colour[best], taste.fav_colours) * 0.5 \
            + rng.normal(0, 0.6)
        rating = float(np.clip(np.round(score), 1, 5))
        events.append((user_id, best, "rating", t + int(rng.integers(DAY, 10 * DAY)), rating, "", device))
    return leaf


def generate(n_items: int = 2000, n_users: int = 1000, sessions_per_user: float = 8.0,
             days: int = 120, cold_start_fraction: float = 0.08, seed: int = 42,
             n_judgment_queries: int = 400, language: str = "en") -> Dataset:
    """Generate a canonical `Dataset` (items, events, users, judgments). Deterministic in `seed`.
    `language` "zh" writes titles, descriptions, categories and queries in Chinese
    (`catalog_vocabulary_zh`): the same world and events as "en" for the same seed, other text."""
    world = _SyntheticWorld(n_items, n_users, sessions_per_user, days, cold_start_fraction, seed, language)
    (users, events), = world.user_blocks(n_users)
    return world.dataset(users, events, n_judgment_queries)


def write_synthetic(out: str | Path, *, n_items: int = 2000, n_users: int = 1000, sessions_per_user: float = 8.0,
                    days: int = 120, cold_start_fraction: float = 0.08, seed: int = 42,
                    n_judgment_queries: int = 400, language: str = "en", split: str | None = None,
                    block_users: int = BLOCK_USERS) -> dict:
    """Write the synthetic dataset to `out` holding one block of `block_users` users' events at a time
    (10M events in a few hundred MB). The events file holds the blocks one after the other, each in
    (timestamp, user) order: with `n_users <= block_users` it is `generate`'s dataset exactly.
    `split="temporal-last"` also splits it (a per-user split, so per block = on the whole table).
    Returns the `counts` of `dataset.json`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recsys_tf.data.schema import (
        EVENT_COLUMNS,
        EVENTS_FILE,
        add_event_counts,
        coerce_columns,
        event_counts,
        write_dataset_tables,
    )
    from recsys_tf.data.splits import split_events

    if split not in (None, "temporal-last"):
        raise InputError(f"`split` must be None or 'temporal-last' (a per-user split). Received: split={split!r}. "
                         f"Fix: write the data unsplit, then `recsys-tf data split DIR --out SPLIT --strategy {split}`.")
    world = _SyntheticWorld(n_items, n_users, sessions_per_user, days, cold_start_fraction, seed, language)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    users, counts = [], {}

    def write_events(path):
        nonlocal counts
        writer = None
        try:
            for block_users_frame, events in world.user_blocks(block_users):
                if split:
                    events = split_events(events, split)
                table = pa.Table.from_pandas(coerce_columns(events, EVENT_COLUMNS), preserve_index=False)
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                users.append(block_users_frame)
                counts = add_event_counts(counts, event_counts(events))
        finally:
            if writer is not None:
                writer.close()

    atomic_write(out / EVENTS_FILE, write_events)
    dataset = world.dataset(pd.concat(users, ignore_index=True), None, n_judgment_queries)
    if split:
        dataset.info["split"] = {"strategy": split}
    write_dataset_tables(dataset, out, counts)
    return counts


class _SyntheticWorld:
    """The catalog and the user loop of `generate`, drawing from one `rng` in a fixed order (catalog,
    then per user: taste, segment, age, sessions; then judgments): the data sets behind the
    documented numbers depend on that order."""

    def __init__(self, n_items, n_users, sessions_per_user, days, cold_start_fraction, seed, language):
        if n_items < 50 or n_users < 10:
            raise InputError(f"`n_items` must be >= 50 and `n_users` >= 10. Received: n_items={n_items}, "
                             f"n_users={n_users}. Fix: pass larger sizes.")
        if language not in SYNTHETIC_LANGUAGES:
            raise InputError(f"`language` must be one of {SYNTHETIC_LANGUAGES}. Received: language={language!r}.")
        self.rng = np.random.default_rng(seed)
        self.lexicon = _lexicon(language)
        self.world = _world(*_make_items(n_items, days, cold_start_fraction, self.rng, self.lexicon), self.lexicon)
        self.n_users, self.sessions_per_user, self.span = n_users, sessions_per_user, days * DAY
        self.generator = {"n_items": n_items, "n_users": n_users, "sessions_per_user": sessions_per_user,
                          "days": days, "cold_start_fraction": cold_start_fraction, "seed": seed, "language": language}

    def user_blocks(self, block_users: int):
        """(users, events) of consecutive blocks of `block_users` users, events in (timestamp, user) order."""
        world, rng = self.world, self.rng
        for first in range(0, self.n_users, block_users):
            users, events = [], []
            for u in range(first, min(self.n_users, first + block_users)):
                user_id = f"U{u:05d}"
                taste = _taste(world, rng)
                segment = USER_SEGMENTS[int(rng.integers(len(USER_SEGMENTS)))]
                users.append({"user_id": user_id, "segment": segment, "age": int(rng.integers(18, 80))})
                n_sessions = max(1, int(rng.poisson(self.sessions_per_user)))
                last_purchase_leaf = None
                for start in np.sort(rng.uniform(0, self.span, size=n_sessions)):
                    last_purchase_leaf = _session(world, user_id, taste, start, last_purchase_leaf, events, rng)
            ev = pd.DataFrame(events, columns=["user_id", "item", "event", "timestamp", "rating", "query", "device"])
            ev["item_id"] = world.items["item_id"].to_numpy()[ev.pop("item").to_numpy()]
            ev = ev.sort_values(["timestamp", "user_id"], kind="stable").reset_index(drop=True)
            yield pd.DataFrame(users), ev[["user_id", "item_id", "event", "timestamp", "rating", "query", "device"]]

    def dataset(self, users: pd.DataFrame, events: pd.DataFrame | None, n_judgment_queries: int) -> Dataset:
        """The `Dataset` once every user block was drawn (the judgments draw last)."""
        items = self.world.items
        judgments = _judgments(items, self.world.meta, self.world.item_leaf, n_judgment_queries, self.rng,
                               self.lexicon)
        info = {"source": "synthetic", "generator": dict(self.generator),
                "cold_start_after": int(START_TIME + COLD_START_CUTOFF * self.span),
                "user_ids": "plain", "context_columns": ["device"]}
        return Dataset(items=items, events=events, users=users, judgments=judgments, info=info,
                       rejects=empty_rejects())


def _judgments(items, meta, item_leaf, n_queries, rng, lex: _Lexicon) -> pd.DataFrame:
    """Graded relevance: 3 = the target item, 2 = same leaf sharing a feature, 1 = same leaf."""
    rows = []
    for _ in range(n_queries):
        target = int(rng.integers(len(items)))
        query = _query_for(meta[target], rng, lex)
        same_leaf = np.flatnonzero(item_leaf == item_leaf[target])
        for other in same_leaf:
            if other == target:
                grade = 3.0
            elif set(meta[other][2]) & set(meta[target][2]):
                grade = 2.0
            else:
                grade = 1.0
            rows.append((query, items["item_id"].iat[other], grade))
    frame = pd.DataFrame(rows, columns=["query", "item_id", "relevance"])
    return frame.drop_duplicates(["query", "item_id"], keep="first").reset_index(drop=True)
