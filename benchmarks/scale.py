"""Data-path scale: synthetic events -> split -> `data prepare` (in process and on Beam's DirectRunner)
-> one training epoch (frozen text) from the shards or from memory.

Prints, per size, the rate and the peak RSS of each stage, each stage in its own process (so its
RSS is its own; TensorFlow's import happens before the clock starts):

    python benchmarks/scale.py --events 300000 --events 1000000 --work runs/scale
    python benchmarks/scale.py --events 300000 --stages train,train_streamed

The training stages run one epoch of the default model with frozen MiniLM text (vectors cached in
WORK/text_cache, so encoding is paid once) from the in-process stage's examples and report training
examples per second over the epoch (`history[0].seconds`: the steps, not setup or validation):
`train` with the defaults (a split of up to 1M examples is shuffled whole in memory),
`train_streamed` streaming through the shuffle buffer (`train.shuffle_whole_up_to=0`).
`--max-steps` caps the epoch. `evaluate` evaluates the `train` stage's run (WORK/SIZE/train) on
every task against the interaction baselines (popularity, item-kNN, EASE, frequency-recency) and
reports events of the dataset per second. `--user-bins N` fixes `model.user_bins` (the in_process stage then
writes WORK/SIZE/examples/in_process_binsN, which the training stages read), so every size trains
the same model; by default the user table grows with the users. `--set KEY=VALUE` (repeatable) adds
configuration to the training stages (their runs' validation metrics: WORK/SIZE/NAME/history.json).

The synthetic world has ~34 events per user, so `--events N` draws N / 34 users and 2,000 items.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

EVALUATE_BASELINES = ("popularity", "item_knn", "ease", "frequency_recency")


def _stage(name: str, root: Path, target: int, max_steps: int, user_bins: int, settings: list) -> dict:
    out = subprocess.run([sys.executable, __file__, "--stage", name, "--work", str(root), "--events", str(target),
                          "--max-steps", str(max_steps), "--user-bins", str(user_bins)]
                         + [f"--set={setting}" for setting in settings],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _examples_dir(root: Path, user_bins: int) -> Path:
    return root / "examples" / (f"in_process_bins{user_bins}" if user_bins else "in_process")


def _train_epoch(name: str, root: Path, max_steps: int, user_bins: int, settings: list) -> tuple[int, float]:
    """(training examples, seconds) of one epoch of `name` (train / train_streamed)."""
    import shutil

    from recsys_tf.training.config import load_config
    from recsys_tf.training.run import train_run

    run = root / name
    shutil.rmtree(run, ignore_errors=True)
    config = load_config(None, ["train.epochs=1", f"train.max_steps_per_epoch={max_steps}",
                                f"text.cache_dir={root.parent / 'text_cache'}", "model.max_history=20", f"model.user_bins={user_bins}"]
                         + (["train.shuffle_whole_up_to=0"] if name == "train_streamed" else []) + settings)
    result = train_run(root / "split", run, config, log=lambda *_: None, examples_dir=_examples_dir(root, user_bins))
    examples = json.loads((run / "run.json").read_text())["train_examples"]
    if max_steps:
        examples = min(examples, max_steps * config.train.batch_size)
    return examples, result["history"][0]["seconds"]


def _run_stage(name: str, root: Path, target: int, max_steps: int = 0, user_bins: int = 0,
               settings: list = ()) -> dict:
    split, examples = root / "split", root / "examples"
    started = time.perf_counter()
    if name == "synth":
        from recsys_tf.data.synthetic import write_synthetic

        # written one block of users at a time (`recsys-tf data synth --split temporal-last`)
        events = write_synthetic(split, n_items=2000, n_users=max(10, target // 34), seed=42,
                                 split="temporal-last")["events"]
    else:
        import pyarrow.parquet as pq
        import tensorflow as tf  # noqa: F401  (imported before the clock starts)

        events = pq.ParquetFile(split / "events.parquet").metadata.num_rows
        started = time.perf_counter()
        if name == "evaluate":
            from recsys_tf.evaluation.evaluate import evaluate_run

            evaluate_run(root / "train", baselines=EVALUATE_BASELINES, log=lambda *_: None)
        elif name in ("train", "train_streamed"):
            events, seconds = _train_epoch(name, root, max_steps, user_bins, list(settings))  # events: training examples here
            started = time.perf_counter() - seconds
        elif name == "in_process":
            from recsys_tf.features.prepare_examples import prepare_in_process

            prepare_in_process(split, _examples_dir(root, user_bins), max_history=20, user_bins=user_bins or None,
                               num_shards=4, log=None)
        else:
            from recsys_tf.features.beam_prepare import prepare_with_beam

            prepare_with_beam(split, examples / "beam", max_history=20, num_shards=4, runner="DirectRunner",
                              log=None)
    seconds = time.perf_counter() - started
    return {"events": events, "seconds": round(seconds, 2), "events_per_s": round(events / seconds),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="target event count (repeatable)")
    parser.add_argument("--work", default="runs/scale")
    parser.add_argument("--stages", default="synth,in_process,beam",
                        help="comma-separated: synth, in_process, beam, train, train_streamed, evaluate")
    parser.add_argument("--max-steps", type=int, default=0, help="training stages: cap the epoch (0 = whole)")
    parser.add_argument("--user-bins", type=int, default=0,
                        help="model.user_bins of in_process and the training stages (0 = automatic, from the users)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="configuration of the training stages (repeatable), e.g. train.lazy_adam_rows=1")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(_run_stage(args.stage, Path(args.work), args.events[0], args.max_steps, args.user_bins, args.set)))
        return
    print("| events | stage | seconds | events/s (training: examples/s) | peak RSS (GB) |\n|---|---|---|---|---|")
    for target in args.events or [300_000]:
        root = Path(args.work) / str(target)
        for name in args.stages.split(","):
            if name == "synth" and (root / "split" / "events.parquet").exists():
                continue
            r = _stage(name, root, target, args.max_steps, args.user_bins, args.set)
            print(f"| {r['events']:,} | {name} | {r['seconds']} | {r['events_per_s']:,} | {r['peak_rss_gb']} |",
                  flush=True)


if __name__ == "__main__":
    main()
