"""User signatures take hour/weekday from the server clock: helpers for tests that compare two
evaluations of them."""
from recsys_tf.export.signatures import clock_hour


def within_one_clock_hour(check):
    """Run `check`; repeat it once if an hour boundary fell inside it (a real mismatch fails twice)."""
    hour = clock_hour()
    try:
        check()
    except AssertionError:
        if clock_hour() == hour:
            raise
        check()
