"""Choose the rating head's L2 (`model.rating_l2`) without looking at the test ratings.

A standalone biased matrix factorisation (global mean + user and item biases + `p_u · q_i`, the
`RankingHead(factor_dim=...)` term alone, trained with Adam and the same per-example L2 as
`RankingHead.penalty`) on the *training* rows of a split, with a validation part carved from them
(seeded), for each L2; prints the best validation RMSE and its epoch. This is how docs/results.md's
MovieLens rating recipe got `model.rating_l2=0.1`:

    .venv/bin/python scripts/rating_l2_sweep.py runs/ml/split --l2 0.02,0.05,0.1,0.15,0.2

(~20 s per value on 2 cores for MovieLens 100K, 30 epochs.)
"""
from __future__ import annotations

import argparse

import numpy as np


def sweep(split_dir: str, l2_values, factors: int = 32, epochs: int = 30, learning_rate: float = 1e-3,
          batch_size: int = 256, validation_fraction: float = 0.1, seed: int = 42) -> dict[float, tuple[float, int]]:
    import keras
    import pandas as pd
    import tensorflow as tf

    from recsys_tf.data.schema import read_dataset

    events = read_dataset(split_dir).events
    train = events[(events["split"] == "train") & events["rating"].notna()]
    if train.empty:
        raise SystemExit(f"{split_dir}: no training rows with a rating; this sweep is for rating data.")
    order = np.random.default_rng(seed).permutation(len(train))
    cut = int(len(train) * (1 - validation_fraction))
    users = pd.factorize(train["user_id"])[0].astype("int32")
    items = pd.factorize(train["item_id"])[0].astype("int32")
    ratings = train["rating"].to_numpy("float32")
    fit, val = order[:cut], order[cut:]
    mean = float(ratings[fit].mean())
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    results = {}
    for l2 in l2_values:
        keras.utils.set_random_seed(seed)
        init = keras.initializers.RandomNormal(stddev=0.1, seed=7)  # as RankingHead's factors
        p, q = (keras.layers.Embedding(n, factors, embeddings_initializer=init) for n in (n_users, n_items))
        bu, bi = (keras.layers.Embedding(n, 1, embeddings_initializer="zeros") for n in (n_users, n_items))

        def predict(u, i):
            return (mean + tf.squeeze(bu(u), -1) + tf.squeeze(bi(i), -1)
                    + tf.reduce_sum(p(u) * q(i), -1))

        predict(users[:1], items[:1])
        variables = bu.weights + bi.weights + p.weights + q.weights
        optimizer = keras.optimizers.Adam(learning_rate)

        @tf.function
        def step(u, i, r):
            with tf.GradientTape() as tape:
                parts = tf.concat([bu(u), bi(i), p(u), q(i)], -1)
                loss = tf.reduce_mean(tf.square(predict(u, i) - r) + l2 * tf.reduce_sum(tf.square(parts), -1))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

        curve = []
        for epoch in range(epochs):
            batch_order = fit[np.random.default_rng(seed + epoch).permutation(len(fit))]
            for start in range(0, len(batch_order), batch_size):
                j = batch_order[start:start + batch_size]
                step(users[j], items[j], ratings[j])
            error = predict(users[val], items[val]).numpy() - ratings[val]
            curve.append(float(np.sqrt(np.mean(np.square(error)))))
        best = int(np.argmin(curve))
        results[l2] = (curve[best], best + 1)
        print(f"l2={l2}: best validation RMSE {curve[best]:.4f} at epoch {best + 1} (last {curve[-1]:.4f})",
              flush=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("split_dir", help="a split dataset directory (recsys-tf data split)")
    parser.add_argument("--l2", default="0.02,0.05,0.1,0.15,0.2", help="comma-separated L2 values")
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    sweep(args.split_dir, [float(x) for x in args.l2.split(",")], factors=args.factors, epochs=args.epochs,
          seed=args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
