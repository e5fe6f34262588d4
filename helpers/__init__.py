"""Helpers for the LightFM course: what a learner would otherwise copy between notebooks."""

from helpers.data import (
    DEFAULT_DATA_DIR,
    ChecksumError,
    IdMapping,
    Interactions,
    MovieLens,
    UnknownIdError,
    build_interactions,
    load_movielens,
    lookup_movies,
    verify_checksums,
)
from helpers.evaluate import learning_curve
from helpers.plots import plot_learning_curve

__all__ = [
    "DEFAULT_DATA_DIR",
    "ChecksumError",
    "IdMapping",
    "Interactions",
    "MovieLens",
    "UnknownIdError",
    "build_interactions",
    "load_movielens",
    "lookup_movies",
    "verify_checksums",
    "learning_curve",
    "plot_learning_curve",
]
