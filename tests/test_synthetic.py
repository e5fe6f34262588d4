"""Tests for helpers.synthetic."""

import numpy as np
import pytest

from helpers.synthetic import synthetic_ratings


def test_size_uniqueness_and_ranges():
    frame = synthetic_ratings(50, 40, 600, seed=3)
    assert len(frame) == 600
    assert not frame.duplicated(["userId", "movieId"]).any()
    assert frame["userId"].between(0, 49).all() and frame["movieId"].between(0, 39).all()
    assert set(np.unique(frame["rating"])) <= set(np.arange(1, 11) / 2)


def test_same_seed_same_frame_other_seed_differs():
    first = synthetic_ratings(30, 30, 200, seed=7)
    assert first.equals(synthetic_ratings(30, 30, 200, seed=7))
    assert not first.equals(synthetic_ratings(30, 30, 200, seed=8))


def test_popularity_is_skewed_like_a_long_tail():
    frame = synthetic_ratings(2_000, 500, 20_000, popularity_exponent=1.0, seed=0)
    counts = np.sort(frame["movieId"].value_counts().to_numpy())[::-1]
    top_tenth_share = counts[: len(counts) // 10].sum() / counts.sum()
    assert top_tenth_share > 0.4
    flat = synthetic_ratings(2_000, 500, 20_000, popularity_exponent=0.0, activity_sigma=0.0, seed=0)
    flat_counts = np.sort(flat["movieId"].value_counts().to_numpy())[::-1]
    assert flat_counts[: len(flat_counts) // 10].sum() / flat_counts.sum() < 0.15


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_users": 0}, "n_users=0; expected a whole number"),
        ({"n_ratings": 5_000}, "exceeds half of n_users"),
        ({"popularity_exponent": -1.0}, "expected both ≥ 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    args = {"n_users": 50, "n_items": 40, "n_ratings": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        synthetic_ratings(**args)


def test_movielens_shape_scales_all_three_counts():
    from helpers.synthetic import ML_32M_SHAPE, movielens_shape

    assert movielens_shape(1.0) == ML_32M_SHAPE
    small = movielens_shape(0.01)
    assert small == (2_009, 844, 320_002)
    assert movielens_shape(1e-6).n_ratings <= movielens_shape(1e-6).n_users * movielens_shape(1e-6).n_items // 2


def test_movielens_shape_rejects_non_positive_scale():
    from helpers.synthetic import movielens_shape

    with pytest.raises(ValueError, match="scale=0"):
        movielens_shape(0)


def test_synthetic_movielens_has_the_scaled_shape_and_is_seeded():
    from helpers.synthetic import movielens_shape, synthetic_movielens

    frame = synthetic_movielens(0.01, seed=4)
    shape = movielens_shape(0.01)
    assert len(frame) == shape.n_ratings
    assert frame["userId"].max() < shape.n_users and frame["movieId"].max() < shape.n_items
    assert frame["timestamp"].is_monotonic_increasing
    assert frame.equals(synthetic_movielens(0.01, seed=4))
    activity = frame["userId"].value_counts()
    assert activity.max() > 3 * activity.median()  # a few heavy users, as in MovieLens
