"""Time helpers.build_interactions against lightfm.data.Dataset (fit + build_interactions).

Synthetic ratings at 100k users x 20k items with power-law popularity, at 1M and 5M rows; every
row becomes an interaction weighted by its rating, in both builders.
Prints the figures; it asserts nothing (targets are read off the output, see README).

    .venv/bin/python benchmarks/bench_interactions.py [--rows 1000000 5000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import time

import lightfm
import numpy as np
import pandas as pd
from lightfm.data import Dataset

from helpers.data import build_interactions
from helpers.synthetic import synthetic_ratings

N_USERS, N_ITEMS = 100_000, 20_000


def time_helper(frame: pd.DataFrame, repeat: int) -> tuple[float, int]:
    best, nnz = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        built = build_interactions(frame, weight_col="rating")
        best = min(best, time.perf_counter() - start)
        nnz = built.matrix.nnz
    return best, nnz


def time_dataset(frame: pd.DataFrame) -> tuple[float, int]:
    start = time.perf_counter()
    dataset = Dataset()
    dataset.fit(frame["userId"].unique(), frame["movieId"].unique())
    matrix, _ = dataset.build_interactions(
        zip(frame["userId"].to_numpy(), frame["movieId"].to_numpy(), frame["rating"].to_numpy())
    )
    return time.perf_counter() - start, matrix.nnz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="helper runs per size (best is reported)")
    args = parser.parse_args()

    print(f"python {platform.python_version()} · lightfm {lightfm.__version__} · pandas {pd.__version__} "
          f"· numpy {np.__version__} · {platform.machine()}")
    print(f"{N_USERS:,} users x {N_ITEMS:,} items, power-law popularity; every row an interaction, rating as weight")
    print(f"{'rows':>10} {'helper s':>9} {'Dataset s':>10} {'speed-up':>9}")
    for rows in args.rows:
        frame = synthetic_ratings(N_USERS, N_ITEMS, rows, seed=0)
        helper_s, helper_nnz = time_helper(frame, args.repeat)
        dataset_s, dataset_nnz = time_dataset(frame)
        if helper_nnz != dataset_nnz:
            raise SystemExit(f"helper built {helper_nnz} interactions but Dataset built {dataset_nnz}")
        print(f"{rows:>10,} {helper_s:>9.3f} {dataset_s:>10.2f} {dataset_s / helper_s:>8.0f}x")


if __name__ == "__main__":
    main()
