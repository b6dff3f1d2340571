"""Training throughput (examples/s) on this machine for a text mode.

    .venv/bin/python benchmarks/train_throughput.py --mode frozen [--preset minilm-l6] [--steps 30]
    .venv/bin/python benchmarks/train_throughput.py --mode lora

frozen: item/query text vectors come from the embedding cache (no BERT in the step);
lora / last_n_layers / full: each step runs the BERT backbone on the batch's target items.
"""
import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="frozen", choices=["frozen", "lora", "last_n_layers", "full"])
    parser.add_argument("--preset", default="minilm-l6")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()

    from recsys_tf.data.schema import write_dataset
    from recsys_tf.data.splits import split_dataset
    from recsys_tf.data.synthetic import generate
    from recsys_tf.training.config import load_config
    from recsys_tf.training.run import train_run

    with tempfile.TemporaryDirectory() as tmp:
        data = split_dataset(generate(n_items=args.items, n_users=args.items // 2, seed=3), "temporal-last")
        write_dataset(data, f"{tmp}/data")
        base = [f"text.preset={args.preset}", f"text.mode={args.mode}", f"train.batch_size={args.batch_size}",
                "train.epochs=1", "text.item_sequence_length=64", "train.eval_k=[10]"]
        # a first short run pays for text encoding (cache) and tracing; the timed run reuses the cache
        train_run(f"{tmp}/data", f"{tmp}/warm", load_config(None, base + ["train.max_steps_per_epoch=2",
                  f"text.cache_dir={tmp}/cache"]), log=lambda *_: None)
        config = load_config(None, base + [f"train.max_steps_per_epoch={args.steps}", f"text.cache_dir={tmp}/cache"])
        start = time.perf_counter()
        result = train_run(f"{tmp}/data", f"{tmp}/run", config, log=lambda *_: None)
        elapsed = time.perf_counter() - start
        seconds = result["history"][0]["seconds"]
    print(f"mode={args.mode} preset={args.preset} batch={args.batch_size} steps={args.steps} "
          f"epoch_seconds={seconds:.1f} examples_per_s={args.steps * args.batch_size / seconds:.0f} "
          f"(whole run incl. setup and validation: {elapsed:.1f}s)")


if __name__ == "__main__":
    main()
