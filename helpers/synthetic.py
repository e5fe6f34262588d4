"""Synthetic interaction data with MovieLens-like skew, for benchmarks and scale experiments."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["synthetic_ratings"]


def synthetic_ratings(
    n_users: int,
    n_items: int,
    n_ratings: int,
    *,
    popularity_exponent: float = 1.0,
    activity_sigma: float = 1.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Unique (user, item, rating) rows with power-law item popularity and skewed user activity.

    Item ``r`` (by popularity rank) is drawn with probability proportional to
    ``(r + 1) ** -popularity_exponent``; user activity is log-normal with ``activity_sigma``.
    Repeated pairs are redrawn, so every (user, item) pair appears once.

    Parameters
    ----------
    n_users, n_items : int
        Catalog sizes (both ≥ 1).
    n_ratings : int
        Rows to return; at most ``n_users * n_items / 2`` so unique pairs can be found quickly.
    popularity_exponent : float, default 1.0
        Zipf exponent of item popularity (≥ 0; 0 is uniform).
    activity_sigma : float, default 1.0
        Spread of log user activity (≥ 0; 0 is uniform).
    seed : int, default 0
        Seed of the random generator; the same seed gives the same frame.

    Returns
    -------
    DataFrame
        ``userId`` and ``movieId`` (int32, ids from 0) and ``rating`` (float32, half stars 0.5–5).

    Raises
    ------
    ValueError
        If a size is below 1, an exponent or sigma is negative, or ``n_ratings`` is too dense.

    Examples
    --------
    >>> frame = synthetic_ratings(100, 50, 1_000, seed=1)
    >>> len(frame), frame.duplicated(["userId", "movieId"]).any()
    (1000, np.False_)
    """
    for name, value in (("n_users", n_users), ("n_items", n_items), ("n_ratings", n_ratings)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name}={value!r}; expected a whole number ≥ 1")
    if n_ratings > n_users * n_items / 2:
        raise ValueError(
            f"n_ratings={n_ratings:,} exceeds half of n_users * n_items = {n_users * n_items:,}; "
            "lower it or enlarge the catalog"
        )
    if popularity_exponent < 0 or activity_sigma < 0:
        raise ValueError(
            f"popularity_exponent={popularity_exponent} and activity_sigma={activity_sigma}; expected both ≥ 0"
        )
    rng = np.random.default_rng(seed)
    item_weight = (np.arange(1, n_items + 1, dtype=np.float64)) ** -popularity_exponent
    item_p = item_weight[rng.permutation(n_items)] / item_weight.sum()
    user_weight = rng.lognormal(0.0, activity_sigma, n_users)
    user_p = user_weight / user_weight.sum()

    keys = np.empty(0, dtype=np.int64)
    while len(keys) < n_ratings:
        draw = int((n_ratings - len(keys)) * 1.2) + 16
        users = rng.choice(n_users, size=draw, p=user_p)
        items = rng.choice(n_items, size=draw, p=item_p)
        fresh = pd.unique(np.concatenate([keys, users.astype(np.int64) * n_items + items]))
        keys = fresh[:n_ratings]
    return pd.DataFrame({
        "userId": (keys // n_items).astype(np.int32),
        "movieId": (keys % n_items).astype(np.int32),
        "rating": (rng.integers(1, 11, size=n_ratings) / 2).astype(np.float32),
    })
