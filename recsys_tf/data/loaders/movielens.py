"""MovieLens loaders: 100K (`u.data`, `u.item`, `u.user`, Latin-1) and "latest" (`ratings.csv`,
`movies.csv`). Every rating becomes an `event="rating"` row; title + genres become the item text."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from recsys_tf.constants import TIMESTAMP_RANGE
from recsys_tf.data.loaders.common import assemble, read_delimited, require_file
from recsys_tf.data.validation import require_columns

# The 19 genre flags of u.item, in file order (u.genre lists the same).
ML100K_GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                 "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
                 "Romance", "Sci-Fi", "Thriller", "War", "Western"]
ITEM_FIELDS = ["movie_id", "title", "release_date", "video_release_date", "imdb_url", *ML100K_GENRES]


def _genre_text(genres: list[str]) -> tuple[str, str]:
    genres = [g for g in genres if g and g not in ("unknown", "(no genres listed)")]
    category = genres[0] if genres else "Unknown"
    return category, ("Genres: " + ", ".join(genres) + ".") if genres else ""


def load_movielens_100k(path: str | Path, salt: bytes | None = None, timestamp_range=TIMESTAMP_RANGE):
    root = Path(path)
    data = require_file(root / "u.data", "MovieLens 100K ratings")
    item_file = require_file(root / "u.item", "MovieLens 100K movies")
    ratings, r_rej = read_delimited(data, sep="\t", encoding="latin-1", header=False,
                                    names=["user_id", "item_id", "rating", "timestamp"])
    movies, m_rej = read_delimited(item_file, sep="|", encoding="latin-1", header=False, names=ITEM_FIELDS)
    items = pd.DataFrame({"item_id": movies["movie_id"], "title": movies["title"], "_row": movies["_row"]})
    cats, descs = [], []
    for _, row in movies.iterrows():
        category, text = _genre_text([g for g in ML100K_GENRES if str(row[g]).strip() == "1"])
        if str(row["release_date"]).strip():
            text = (text + f" Released {row['release_date'].strip()}.").strip()
        cats.append(category)
        descs.append(text)
    items["category"], items["description"], items["brand"], items["price"] = cats, descs, "", None
    ratings["event"] = "rating"
    users = None
    pre = [r_rej, m_rej]
    if (root / "u.user").is_file():
        users, u_rej = read_delimited(root / "u.user", sep="|", encoding="latin-1", header=False,
                                      names=["user_id", "age", "gender", "occupation", "zip_code"])
        users["age"] = pd.to_numeric(users["age"], errors="coerce")
        pre.append(u_rej)
    return assemble(source="movielens-100k", items_raw=items, events_raw=ratings, users_raw=users,
                    files={"items": "u.item", "events": "u.data", "users": "u.user"}, pre_rejects=pre,
                    rating_range=(1.0, 5.0), salt=salt, timestamp_range=timestamp_range)


def load_movielens_latest(path: str | Path, salt: bytes | None = None, timestamp_range=TIMESTAMP_RANGE):
    root = Path(path)
    ratings, r_rej = read_delimited(require_file(root / "ratings.csv", "MovieLens ratings"), sep=",")
    movies, m_rej = read_delimited(require_file(root / "movies.csv", "MovieLens movies"), sep=",")
    require_columns(ratings, ["userId", "movieId", "rating", "timestamp"], "ratings.csv")
    require_columns(movies, ["movieId", "title", "genres"], "movies.csv")
    ratings = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"})
    ratings["event"] = "rating"
    cats, descs = zip(*[_genre_text(str(g).split("|")) for g in movies["genres"]]) \
        if len(movies) else ((), ())
    items = pd.DataFrame({"item_id": movies["movieId"], "title": movies["title"],
                          "category": list(cats), "description": list(descs), "brand": "", "price": None,
                          "_row": movies["_row"]})
    return assemble(source="movielens-latest", items_raw=items, events_raw=ratings,
                    files={"items": "movies.csv", "events": "ratings.csv"}, pre_rejects=[r_rej, m_rej],
                    rating_range=(0.5, 5.0), salt=salt, timestamp_range=timestamp_range)
