"""Peak memory and time of `recsys-tf data load --format table` on a CSV of single-event users
(the worst case for per-user overhead: every event a new user id):

    python benchmarks/load_memory.py --events 1000000 --work runs/load_memory

Writes WORK/in/{items,events}.csv (1,000 items; one event per user), then runs the load in its own
process under `/usr/bin/time -v`-style accounting (`resource.getrusage` of the child) and prints
events, seconds, peak RSS and RSS per event.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path


def write_input(folder: Path, events: int, items: int = 1000, seed: int = 0) -> None:
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with open(folder / "items.csv", "w") as handle:
        handle.write("item_id,title\n")
        handle.writelines(f"i{i},item number {i}\n" for i in range(items))
    picks = rng.integers(0, items, events)
    with open(folder / "events.csv", "w") as handle:
        handle.write("user_id,item_id,timestamp\n")
        handle.writelines(f"user{u},i{picks[u]},{1_700_000_000 + u}\n" for u in range(events))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--work", default="runs/load_memory")
    args = parser.parse_args(argv)
    work = Path(args.work)
    write_input(work / "in", args.events)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "recsys_tf.cli.main", "data", "load", "--format", "table",
                    "--path", str(work / "in"), "--out", str(work / "out")], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    size_mb = (work / "in" / "events.csv").stat().st_size / 1e6
    print(f"events={args.events} csv_mb={size_mb:.1f} seconds={seconds:.1f} peak_rss_mb={peak_mb:.0f} "
          f"bytes_per_event={peak_mb * 2**20 / args.events:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
