"""`read_eval_events` against pandas on the whole events file."""
import numpy as np
import pandas as pd

from recsys_tf.data.schema import EVENTS_FILE, read_dataset
from recsys_tf.evaluation.events import read_eval_events
from recsys_tf.features.prepare_examples import events_file_fingerprint
from recsys_tf.features.vocabulary import Vocabularies


def test_events_read_in_batches_equal_the_whole_table(split_dir):
    dataset = read_dataset(split_dir)
    # items missing from the vocabulary map to 0, as they do for a run trained on another catalog
    vocab = Vocabularies.from_catalog(dataset.items.iloc[:250], set(), 1, None)
    events = read_eval_events(split_dir, vocab, read_batch=500)
    whole = pd.read_parquet(split_dir / EVENTS_FILE)
    assert len(whole) > 2000  # several batches
    test = whole[whole["split"] == "test"].reset_index(drop=True)
    pd.testing.assert_frame_equal(events.test, test)
    history = whole[whole["split"].isin(["train", "validation"])]
    users = np.sort(pd.unique(np.concatenate([history["user_id"].astype(str), test["user_id"].astype(str)])))
    assert events.n_users == len(users)
    np.testing.assert_array_equal(events.test_rows, np.searchsorted(users, test["user_id"].astype(str)))
    np.testing.assert_array_equal(events.history.rows, np.searchsorted(users, history["user_id"].astype(str)))
    np.testing.assert_array_equal(events.history.items, vocab.item_index(history["item_id"].to_numpy()))
    assert (events.history.items == 0).any() and (events.history.items > 0).any()
    np.testing.assert_array_equal(events.history.times, history["timestamp"].to_numpy(np.int64))
    np.testing.assert_array_equal(events.history.purchase, (history["event"] == "purchase").to_numpy())
    assert events.history.purchase.any()
    np.testing.assert_array_equal(events.history.train, (history["split"] == "train").to_numpy())
    assert events.fingerprint == events_file_fingerprint(split_dir)
