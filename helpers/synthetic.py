"""Synthetic interaction data with MovieLens-like skew, for benchmarks and scale experiments."""

from __future__ import annotations

import numpy as np
import pandas as pd
from typing import NamedTuple


class MovieLensShape(NamedTuple):
    """Users, rated items and ratings of a MovieLens-like data set."""

    n_users: int
    n_items: int
    n_ratings: int


#: MovieLens-32M (GroupLens, 2023): 200,948 users rated 84,432 of its 87,585 movies 32,000,204 times.
ML_32M_SHAPE = MovieLensShape(n_users=200_948, n_items=84_432, n_ratings=32_000_204)

__all__ = ["ML_32M_SHAPE", "MovieLensShape", "movielens_shape", "synthetic_movielens", "synthetic_ratings"]


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


def movielens_shape(scale: float = 1.0, *, base: MovieLensShape = ML_32M_SHAPE) -> MovieLensShape:
    """``base`` (MovieLens-32M) with users, items and ratings each multiplied by ``scale``.

    Ratings per user stay at the base's mean (about 159 for ML-32M), so the matrix gets denser as
    ``scale`` shrinks (the item count shrinks too); at least one user and item are kept, and the
    ratings are capped at half the matrix so :func:`synthetic_ratings` can draw unique pairs.

    Parameters
    ----------
    scale : float, default 1.0
        Size factor, > 0 (above 1 gives a larger-than-real data set).
    base : MovieLensShape, default ML_32M_SHAPE

    Returns
    -------
    MovieLensShape

    Raises
    ------
    ValueError
        If ``scale`` is not positive.

    Examples
    --------
    >>> movielens_shape(0.01)
    MovieLensShape(n_users=2009, n_items=844, n_ratings=320002)
    >>> movielens_shape() == ML_32M_SHAPE
    True
    """
    if not scale > 0:
        raise ValueError(f"scale={scale!r}; expected a number > 0")
    n_users = max(1, round(base.n_users * scale))
    n_items = max(2, round(base.n_items * scale))
    n_ratings = max(1, min(round(base.n_ratings * scale), n_users * n_items // 2))
    return MovieLensShape(n_users, n_items, n_ratings)


def synthetic_movielens(
    scale: float = 0.01,
    *,
    seed: int = 0,
    base: MovieLensShape = ML_32M_SHAPE,
    popularity_exponent: float = 1.0,
    activity_sigma: float = 1.0,
) -> pd.DataFrame:
    """Synthetic ratings with MovieLens-32M's shape times ``scale`` (see :func:`movielens_shape`).

    Item popularity follows a power law and user activity is log-normal, as in
    :func:`synthetic_ratings`; a ``timestamp`` column (int64 seconds, increasing with row order
    within the drawn period) makes the frame look like ``load_movielens().ratings``.

    Parameters
    ----------
    scale : float, default 0.01
        Size factor (> 0); 1.0 draws the full 32M ratings (about 1 minute, a few GB of memory).
    seed : int, default 0
        The same seed gives the same frame.
    base, popularity_exponent, activity_sigma
        Passed on; see :func:`movielens_shape` and :func:`synthetic_ratings`.

    Returns
    -------
    DataFrame
        ``userId``, ``movieId`` (int32, from 0), ``rating`` (float32), ``timestamp`` (int64).

    Raises
    ------
    ValueError
        If ``scale`` is not positive (or an argument of :func:`synthetic_ratings` is invalid).

    Examples
    --------
    >>> frame = synthetic_movielens(0.01, seed=1)
    >>> len(frame), int(frame["movieId"].max()) < 844, list(frame.columns)
    (320002, True, ['userId', 'movieId', 'rating', 'timestamp'])
    """
    shape = movielens_shape(scale, base=base)
    frame = synthetic_ratings(*shape, popularity_exponent=popularity_exponent,
                              activity_sigma=activity_sigma, seed=seed)
    rng = np.random.default_rng([seed, 1])
    start, end = 822_873_600, 1_697_155_200  # 1996-01-29 and 2023-10-13, ML-32M's first and last day
    frame["timestamp"] = np.sort(rng.integers(start, end, size=len(frame), dtype=np.int64))
    return frame
