"""Property tests: whatever the rows of an input file, every row is either loaded or rejected with a
reason (counts add up), or the file fails as a whole with a DatasetError; loading is idempotent."""
import csv
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys_tf.data import loaders
from recsys_tf.data.schema import DatasetError

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

text_or_garbage = st.one_of(
    st.integers(-10**12, 10**13).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=30),
    st.sampled_from(["1", "2", "5", "", "NaN", "-1", "99", "rating", "view", "é", "\u0000"]),
    st.text(min_size=2000, max_size=5000),  # huge field
)
raw_bytes = st.binary(max_size=60).filter(lambda b: b"\n" not in b and b"\r" not in b)


def _rows(path: Path, header: bool) -> int:
    """Rows as the loaders define them, minus the header: RFC 4180 records of a `.csv` file (a quoted
    field may span lines; an unparseable stretch counts once), non-blank lines of any other file."""
    data = path.read_bytes()
    if path.suffix != ".csv":
        return sum(1 for line in data.splitlines() if line.strip()) - int(header)
    reader = csv.reader(line.decode("utf-8", "surrogateescape") for line in data.splitlines(keepends=True))
    records = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return records - int(header)
        except csv.Error:
            records += 1
            continue
        records += bool(fields) and not (len(fields) == 1 and not fields[0].strip())


def _check(load, events_file: Path, header: bool):
    try:
        first = load()
    except DatasetError:
        return
    taken = len(first.events)
    rejected = int((first.rejects["file"] == events_file.name).sum())
    assert taken + rejected == _rows(events_file, header)
    assert first.rejects["reason"].str.len().gt(0).all()
    if _rows(events_file, header) % 4:
        return  # re-ingestion (idempotence) is checked on a quarter of the cases to keep CI fast
    again = load()
    pd.testing.assert_frame_equal(first.events, again.events)
    pd.testing.assert_frame_equal(first.rejects, again.rejects)


def _line(fields, sep):
    return sep.join(fields).encode("utf-8", "surrogatepass")


@FUZZ
@given(st.lists(st.one_of(st.lists(text_or_garbage, min_size=3, max_size=5).map(lambda f: _line(f, "\t")),
                          raw_bytes), max_size=12))
def test_movielens_100k_fuzz(fixtures_dir, lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(fixtures_dir / "movielens-100k/u.item", root / "u.item")
        good = (fixtures_dir / "movielens-100k/u.data").read_bytes().splitlines()[:5]
        (root / "u.data").write_bytes(b"\n".join(good + lines) + b"\n")
        _check(lambda: loaders.load_movielens_100k(root), root / "u.data", header=False)


@FUZZ
@given(st.lists(st.one_of(st.lists(text_or_garbage, min_size=3, max_size=5).map(lambda f: _line(f, ",")),
                          raw_bytes), max_size=12))
def test_movielens_latest_fuzz(fixtures_dir, lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(fixtures_dir / "movielens-latest/movies.csv", root / "movies.csv")
        (root / "ratings.csv").write_bytes(b"\n".join([b"userId,movieId,rating,timestamp", b"1,1,4.0,964982703"]
                                                      + lines) + b"\n")
        _check(lambda: loaders.load_movielens_latest(root), root / "ratings.csv", header=True)


json_value = st.one_of(st.none(), st.booleans(), st.integers(-10**15, 10**15), st.floats(), st.text(max_size=20),
                       st.sampled_from(["B0A1", "B0A2", "AE1", 1588687728923, 5.0, 0, "5"]))


@FUZZ
@given(st.lists(st.one_of(
    st.fixed_dictionaries({"user_id": json_value, "parent_asin": json_value, "rating": json_value,
                           "timestamp": json_value}).map(lambda d: json.dumps(d).encode()),
    st.lists(json_value, max_size=3).map(lambda v: json.dumps(v).encode()),
    raw_bytes), max_size=12))
def test_amazon_2023_fuzz(fixtures_dir, lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copy(fixtures_dir / "amazon-2023/meta_Electronics.jsonl", root / "meta_Electronics.jsonl")
        (root / "Electronics.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        _check(lambda: loaders.load_amazon_2023(root), root / "Electronics.jsonl", header=False)


@FUZZ
@given(st.lists(st.one_of(st.lists(text_or_garbage, min_size=4, max_size=6).map(lambda f: _line(f, ",")),
                          raw_bytes), max_size=12))
def test_table_fuzz(fixtures_dir, lines):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "items.csv").write_text("item_id,title\n1,One\n2,Two\n5,Five\n")
        (root / "events.csv").write_bytes(b"\n".join([b"user_id,item_id,event,timestamp,rating"] + lines) + b"\n")
        _check(lambda: loaders.load_table(root), root / "events.csv", header=True)


def _rating(text: str) -> float | None:
    """The rating a cell holds when it is a finite number in [0, 5], else None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value <= 5.0 else None


@FUZZ
@given(st.lists(text_or_garbage.filter(lambda t: not set(t) & set("\x00\r\n")), max_size=12))
def test_table_without_event_column_keeps_every_rating_fuzz(ratings):
    """Valid rows but the rating: an empty rating is a purchase, a number in range a rating event
    holding it, anything else a reject with its reason; never a rating silently nulled."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "items.csv").write_text("item_id,title\n1,One\n")
        rows = [{"user_id": f"u{i}", "item_id": "1", "timestamp": 1700000000 + i, "rating": r}
                for i, r in enumerate(ratings)]
        pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "rating"]).to_csv(root / "events.csv",
                                                                                         index=False)
        try:
            d = loaders.load_table(root)
        except DatasetError:
            return
        given_ratings = [r for r in ratings if r.strip() and r.strip().lower() != "nan"]
        rated = d.events[d.events["event"] == "rating"]
        expected = sorted(v for v in map(_rating, given_ratings) if v is not None)
        assert sorted(rated["rating"].tolist()) == expected
        assert d.events.loc[d.events["event"] != "rating", "rating"].isna().all()
        assert len(d.events) + len(d.rejects) == len(ratings)


@settings(FUZZ, max_examples=120)  # each case parses dates and prices of every line: the slowest loader
@given(st.lists(st.one_of(st.lists(text_or_garbage, min_size=7, max_size=9).map(lambda f: _line(f, ",")),
                          raw_bytes), max_size=12))
def test_online_retail_fuzz(fixtures_dir, lines):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "online_retail.csv"
        good = (fixtures_dir / "online_retail/online_retail.csv").read_bytes().splitlines()[:6]
        path.write_bytes(b"\n".join(good + lines) + b"\n")
        _check(lambda: loaders.load_online_retail(path), path, header=True)
