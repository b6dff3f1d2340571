"""Text encoding throughput of a preset on this machine (items/s).

    .venv/bin/python benchmarks/text_encode.py [--preset minilm-l6] [--sequence-length 64] [--batch-size 256]
"""
import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="minilm-l6")
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--items", type=int, default=2048)
    args = parser.parse_args()

    from recsys_tf.data.synthetic import generate
    from recsys_tf.text.embedding_cache import encode_texts
    from recsys_tf.text.text_encoder import TextEncoder

    items = generate(n_items=max(args.items, 50), n_users=10, seed=1).items
    texts = (items["title"] + ". " + items["description"]).tolist()[: args.items]
    encoder = TextEncoder.from_preset(args.preset, sequence_length=args.sequence_length)
    encode_texts(encoder, texts[: args.batch_size], batch_size=args.batch_size)  # trace + warm up
    start = time.perf_counter()
    encode_texts(encoder, texts, batch_size=args.batch_size)
    elapsed = time.perf_counter() - start
    print(f"preset={args.preset} sequence_length={args.sequence_length} batch={args.batch_size} "
          f"items={len(texts)} seconds={elapsed:.2f} items_per_s={len(texts) / elapsed:.0f}")


if __name__ == "__main__":
    main()
