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
from helpers.evaluate import (
    METRICS,
    Evaluation,
    Split,
    bootstrap_ci,
    evaluate_ranking,
    genre_popularity_scorer,
    item_cold_start_split,
    learning_curve,
    lightfm_scorer,
    popularity_scorer,
    random_scorer,
    random_split,
    temporal_split,
)
from helpers.features import Features, check_feature_shapes, item_features, stack_features, user_features
from helpers.features import similar_features, training_tags, without_identity
from helpers.plots import plot_learning_curve
from helpers.evaluate import EarlyStoppingResult, fit_with_early_stopping
from helpers.plots import plot_curves, plot_intervals

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
    "METRICS",
    "Evaluation",
    "Split",
    "bootstrap_ci",
    "evaluate_ranking",
    "genre_popularity_scorer",
    "item_cold_start_split",
    "learning_curve",
    "lightfm_scorer",
    "popularity_scorer",
    "random_scorer",
    "random_split",
    "temporal_split",
    "Features",
    "check_feature_shapes",
    "item_features",
    "stack_features",
    "user_features",
    "similar_features",
    "training_tags",
    "without_identity",
    "plot_learning_curve",
    "EarlyStoppingResult",
    "fit_with_early_stopping",
    "plot_curves",
    "plot_intervals",
]
