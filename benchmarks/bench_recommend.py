"""All-user top-10: helpers.top_k_items against a per-user model.predict loop and the bare product.

A LightFM model of 100k users x 20k items x 30 factors (trained one epoch on synthetic likes, so
its numbers are realistic in scale). The per-user loop is timed on a sample of users and scaled up
(running it for all 100k users takes minutes); the helper and the bare matrix product run for all.
Prints the figures; asserts nothing.

    .venv/bin/python benchmarks/bench_recommend.py [--users 100000] [--items 20000] [--sample 2000]
"""

from __future__ import annotations

import argparse
import platform
import time

import lightfm
import numpy as np
import pandas as pd
from lightfm import LightFM

from helpers.data import IdMapping, build_interactions
from helpers.recommend import batch_size_for, top_k_items
from helpers.synthetic import synthetic_ratings

K = 10


def per_user_loop(model: LightFM, users: np.ndarray, n_items: int) -> np.ndarray:
    all_items = np.arange(n_items, dtype=np.int32)
    out = np.empty((len(users), K), dtype=np.int64)
    for row, user in enumerate(users):
        scores = model.predict(np.full(n_items, user, dtype=np.int32), all_items, num_threads=1)
        top = np.argpartition(-scores, K - 1)[:K]
        out[row] = top[np.argsort(-scores[top])]
    return out


def bare_product(model: LightFM, batch: int) -> None:
    users, items = model.user_embeddings, model.item_embeddings
    for start in range(0, len(users), batch):
        users[start : start + batch] @ items.T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--components", type=int, default=30)
    parser.add_argument("--sample", type=int, default=2_000, help="users timed in the per-user loop")
    args = parser.parse_args()

    print(f"python {platform.python_version()} · lightfm {lightfm.__version__} · numpy {np.__version__} "
          f"· {platform.machine()}")
    frame = synthetic_ratings(args.users, args.items, args.users * 10, seed=0)
    everyone = IdMapping(pd.RangeIndex(args.users), pd.RangeIndex(args.items))
    likes = build_interactions(frame, everyone, rating_col=None)
    model = LightFM(no_components=args.components, loss="warp", random_state=0)
    model.fit(likes.matrix, epochs=1, num_threads=2)
    print(f"model: {args.users:,} users x {args.items:,} items x {args.components} factors; top-{K} for every user")

    batch = batch_size_for(args.items)
    start = time.perf_counter()
    bare_product(model, batch)
    floor_s = time.perf_counter() - start

    start = time.perf_counter()
    items, _ = top_k_items(model, np.arange(args.users), K)
    helper_s = time.perf_counter() - start

    sample = np.random.default_rng(0).choice(args.users, size=min(args.sample, args.users), replace=False)
    start = time.perf_counter()
    looped = per_user_loop(model, sample, args.items)
    loop_sample_s = time.perf_counter() - start
    loop_s = loop_sample_s * args.users / len(sample)
    agree = np.mean([len(set(a) & set(b)) / K for a, b in zip(looped, items[sample])])

    print(f"{'method':<34} {'seconds':>9}")
    print(f"{'bare matrix product (floor)':<34} {floor_s:>9.2f}")
    print(f"{'helpers.top_k_items':<34} {helper_s:>9.2f}")
    print(f"{'per-user predict loop (scaled)':<34} {loop_s:>9.1f}   ({loop_sample_s:.1f} s for {len(sample):,} users)")
    print(f"helper vs per-user loop: {loop_s / helper_s:.1f}x faster; helper vs floor: {helper_s / floor_s:.2f}x")
    print(f"top-{K} overlap between helper and loop on the sampled users: {agree:.3f}")


if __name__ == "__main__":
    main()
