"""`data load --format online-retail`: every line loaded or rejected by its documented rule."""
import json

import pandas as pd

from recsys_tf.cli.main import main
from recsys_tf.data.loaders import load_online_retail
from recsys_tf.data.loaders.online_retail import REASONS, repair_text
from tests.conftest import FIXTURES


def test_online_retail_rules_on_a_fixture(tmp_path):
    path = FIXTURES / "online_retail" / "online_retail.csv"
    dataset = load_online_retail(path)
    lines = len(pd.read_csv(path))
    assert len(dataset.events) + len(dataset.rejects) == lines == 13
    reasons = dataset.rejects.set_index("row")["reason"].to_dict()
    assert reasons == {"4": REASONS["duplicate"], "6": REASONS["repeat"], "7": REASONS["customer"],
                       "8": REASONS["cancellation"], "9": REASONS["code"], "11": REASONS["quantity"],
                       "13": REASONS["price"], "14": REASONS["date"]}
    events = dataset.events
    assert set(events["event"]) == {"purchase"} and events["user_id"].tolist()[0] == "17850"
    first = events[(events["invoice"] == "536365") & (events["item_id"] == "84406B")]
    assert first["quantity"].tolist() == ["5"]  # 2 + 3: the repeated line's quantity is added
    assert int(events["timestamp"].iloc[0]) == int(pd.Timestamp("2010-12-01 08:26:00", tz="UTC").timestamp())
    items = dataset.items.set_index("item_id")
    # commonest description is the title (a tie here: the latest wins); the other one goes to the description
    assert items.loc["85123A", "title"] == "CREAM HANGING HEART T-LIGHT HOLDER"
    assert items.loc["85123A", "description"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert items.loc["22632", "title"] == "HAND WARMER RED RETROSPOT £1"  # mis-decoded pound sign repaired
    assert "POST" not in items.index and "22633" not in items.index
    assert repair_text("Gift Voucher Â£40.00") == "Gift Voucher £40.00" and repair_text("plain") == "plain"


def test_online_retail_cli(tmp_path, capsys):
    out = tmp_path / "or"
    assert main(["data", "load", "--format", "online-retail", "--path",
                 str(FIXTURES / "online_retail" / "online_retail.csv"), "--out", str(out)]) == 0
    info = json.loads((out / "dataset.json").read_text())
    assert info["source"] == "online-retail"
    assert len(pd.read_csv(out / "rejects.csv")) == 8
