"""Split interactions, rank the catalog and measure LightFM models and baselines honestly.

* Splits (:func:`random_split`, :func:`temporal_split`, :func:`item_cold_start_split`) return
  train and test positives on one mapping: same shape, disjoint, seeded.
* :func:`evaluate_ranking` scores any *scorer* (a LightFM model through :func:`lightfm_scorer`, or a
  baseline) in user batches, never a whole users x items matrix, with training items excluded.
* :func:`bootstrap_ci` puts an interval around any per-user metric.
* :func:`learning_curve` trains one epoch at a time and records precision@k on train and test.

Two classic mistakes are guarded everywhere: the test ranking excludes the items a user already
has in train (otherwise known items fill the top of the list), and train and test must not share
a (user, item) pair (otherwise the model is graded on pairs it trained on).
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from lightfm.cross_validation import random_train_test_split
from lightfm.evaluation import precision_at_k

from helpers.data import IdMapping, Interactions, _check_columns, build_interactions

__all__ = [
    "METRICS",
    "EarlyStoppingResult",
    "Evaluation",
    "Split",
    "bootstrap_ci",
    "evaluate_ranking",
    "fit_with_early_stopping",
    "genre_popularity_scorer",
    "item_cold_start_split",
    "learning_curve",
    "lightfm_scorer",
    "popularity_scorer",
    "random_scorer",
    "random_split",
    "temporal_split",
]


def learning_curve(
    model,
    train: sp.spmatrix | sp.sparray,
    test: sp.spmatrix | sp.sparray,
    *,
    epochs: int,
    k: int = 10,
    item_features: sp.spmatrix | sp.sparray | None = None,
    user_features: sp.spmatrix | sp.sparray | None = None,
    num_threads: int = 1,
    eval_threads: int = 2,
) -> pd.DataFrame:
    """Train ``model`` one epoch at a time and record precision@k on train and test after each.

    Training calls ``model.fit_partial(train, epochs=1)`` ``epochs`` times, which follows exactly
    the same path as ``model.fit(train, epochs=epochs)`` on a fresh model with the same
    ``random_state``: the last row describes the model that ``fit`` would have produced.

    Train precision ranks every item; test precision ranks every item the user does *not* have in
    ``train`` (``lightfm.evaluation.precision_at_k(..., train_interactions=train)``), which is how
    a deployed recommender behaves: it never re-recommends what the user already has.
    ``lightfm.evaluation`` counts ties against the item, unlike :func:`evaluate_ranking`'s tie
    rule; the two agree whenever a user's scores have no ties (as with identity features only).

    Parameters
    ----------
    model : lightfm.LightFM
        The model to train, in place. A fresh model gives a curve from scratch; an already
        fitted model continues from where it is (epoch 1 is then its next epoch).
    train, test : scipy sparse matrix
        ``users x items`` interactions with the same shape and no (user, item) pair in common,
        e.g. from ``lightfm.cross_validation.random_train_test_split``.
    epochs : int
        Number of epochs to train and evaluate, at least 1.
    k : int, default 10
        Length of the ranked list, between 1 and the number of items.
    item_features, user_features : scipy sparse matrix, optional
        Feature matrices, passed unchanged to ``fit_partial`` and to the evaluation.
    num_threads : int, default 1
        Training threads. Keep 1 when results must be reproducible: LightFM's multi-threaded
        training is not.
    eval_threads : int, default 2
        Evaluation threads; evaluation is deterministic at any thread count.

    Returns
    -------
    DataFrame
        One row per epoch: ``epoch`` (1, 2, …), ``train_precision`` and ``test_precision``
        (mean precision@k over the users with at least one interaction in that matrix), and
        ``train_users`` and ``test_users`` (how many users each mean is over).

    Raises
    ------
    TypeError
        If ``train`` or ``test`` is not a scipy sparse matrix, or ``model`` has no ``fit_partial``.
    ValueError
        If the shapes differ, train and test share (user, item) pairs, test is empty,
        ``epochs`` or ``k`` is not a positive integer (or ``k`` exceeds the number of items),
        or a thread count is below 1.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> from lightfm.cross_validation import random_train_test_split
    >>> likes = sp.random(30, 40, density=0.3, format="coo", dtype=np.float32, random_state=0)
    >>> likes.data[:] = 1.0
    >>> train, test = random_train_test_split(likes, random_state=np.random.RandomState(0))
    >>> curve = learning_curve(LightFM(no_components=4, random_state=0), train, test, epochs=3, k=5)
    >>> curve.columns.tolist()
    ['epoch', 'train_precision', 'test_precision', 'train_users', 'test_users']
    >>> curve["epoch"].tolist()
    [1, 2, 3]
    """
    if not callable(getattr(model, "fit_partial", None)):
        raise TypeError(f"model must be a LightFM model with fit_partial; got {type(model).__name__}")
    for label, matrix in (("train", train), ("test", test)):
        if not sp.issparse(matrix):
            raise TypeError(f"{label} must be a scipy sparse matrix; got {type(matrix).__name__}")
    _check_same_shape(train, test)
    _check_positive_int(epochs, "epochs")
    _check_positive_int(k, "k")
    if k > train.shape[1]:
        raise ValueError(f"k={k} is larger than the number of items ({train.shape[1]}); expected k <= {train.shape[1]}")
    _check_positive_int(num_threads, "num_threads")
    _check_positive_int(eval_threads, "eval_threads")

    train_csr, test_csr, train_coo = _prepare_pair(train, test, "test")
    train_users = int((train_csr.getnnz(axis=1) > 0).sum())
    test_users = int((test_csr.getnnz(axis=1) > 0).sum())
    features = {"item_features": item_features, "user_features": user_features}

    rows = []
    for epoch in range(1, epochs + 1):
        model.fit_partial(train_coo, epochs=1, num_threads=num_threads, **features)
        train_precision = precision_at_k(model, train_csr, k=k, num_threads=eval_threads, **features)
        test_precision = precision_at_k(
            model, test_csr, train_interactions=train_csr, k=k, num_threads=eval_threads,
            check_intersections=False, **features,
        )
        rows.append((epoch, float(train_precision.mean()), float(test_precision.mean())))

    curve = pd.DataFrame(rows, columns=["epoch", "train_precision", "test_precision"])
    curve["train_users"] = train_users
    curve["test_users"] = test_users
    return curve


def _prepare_pair(
    train: sp.spmatrix, held_out: sp.spmatrix, label: str
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.coo_matrix]:
    """CSR float32 copies (converted once, not per epoch), checked non-empty and disjoint, and the
    COO copy of train to fit on."""
    train_csr = sp.csr_matrix(train, dtype=np.float32, copy=True)
    held_csr = sp.csr_matrix(held_out, dtype=np.float32, copy=True)
    train_csr.eliminate_zeros()
    held_csr.eliminate_zeros()
    if held_csr.nnz == 0:
        raise ValueError(f"{label} has no interactions; expected at least one (user, item) pair to score")
    _check_disjoint(train_csr, held_csr)
    # A copy keeps the entry order (so training matches model.fit on the same matrix) and gives
    # LightFM writable buffers even when the caller's arrays are read-only pandas 3 views.
    return train_csr, held_csr, sp.coo_matrix(train, copy=True)


def _check_same_shape(train: sp.spmatrix, test: sp.spmatrix) -> None:
    if train.shape != test.shape:
        raise ValueError(
            f"train has shape {train.shape} but test has shape {test.shape}; both must be "
            "users x items on one id mapping (build test with the train mapping)"
        )


def _check_disjoint(train: sp.spmatrix, test: sp.spmatrix) -> None:
    overlap = (train != 0).multiply(test != 0).tocoo()
    if overlap.nnz:
        raise ValueError(
            f"train and test share {overlap.nnz:,} (user, item) pair(s), e.g. (row {overlap.row[0]}, "
            f"column {overlap.col[0]}); an overlap inflates test scores because the model is graded "
            "on pairs it trained on. Expected disjoint matrices (remove those pairs from test)."
        )


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name}={value!r}; expected an integer >= 1")
    if value < 1:
        raise ValueError(f"{name}={value}; expected an integer >= 1")


# ---------------------------------------------------------------------------------------- splits


@dataclass(frozen=True)
class Split:
    """Train and test interactions on one mapping, plus the rating rows behind each.

    Attributes
    ----------
    train, test : Interactions
        Positives (``rating >= threshold``) of each side; same shape, no (user, item) pair in common.
    train_frame, test_frame : DataFrame
        All rating rows of each side, before the threshold (build user features from
        ``train_frame`` only).
    """

    train: Interactions
    test: Interactions
    train_frame: pd.DataFrame
    test_frame: pd.DataFrame


def random_split(
    ratings: pd.DataFrame,
    mapping: IdMapping | None = None,
    *,
    test_fraction: float = 0.2,
    threshold: float | None = 4.0,
    seed: int = 0,
) -> Split:
    """Put a random ``test_fraction`` of the rating rows in test, with LightFM's own splitter.

    The rows are shuffled and cut by ``lightfm.cross_validation.random_train_test_split``
    (it carries each row's position through the shuffle), so this is LightFM's split, with the
    rating rows of each side kept for features.

    Parameters
    ----------
    ratings : DataFrame
        ``userId``, ``movieId``, ``rating`` rows, one per (user, item) pair.
    mapping : IdMapping, optional
        Defaults to every user and item of ``ratings``.
    test_fraction : float, default 0.2
        Share of rows in test, strictly between 0 and 1.
    threshold : float or None, default 4.0
        Ratings at or above it are positives on both sides; ``None`` keeps every row.
    seed : int, default 0

    Returns
    -------
    Split

    Examples
    --------
    >>> from helpers.data import load_movielens
    >>> split = random_split(load_movielens().ratings, seed=1)
    >>> split.train.shape == split.test.shape
    True
    """
    _check_fraction(test_fraction)
    mapping = mapping or IdMapping.from_frame(ratings)
    rows = mapping.user_index(ratings["userId"].to_numpy())
    cols = mapping.item_index(ratings["movieId"].to_numpy())
    # float64 holds row positions exactly (up to 2**53 rows) through LightFM's shuffle.
    carrier = sp.coo_matrix((np.arange(1, len(ratings) + 1, dtype=np.float64), (rows, cols)), shape=mapping.shape)
    _, test = random_train_test_split(carrier, test_fraction, random_state=np.random.RandomState(seed))
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[test.data.astype(np.int64) - 1] = True
    return _split_by_mask(ratings, mapping, in_test, threshold)


def temporal_split(
    ratings: pd.DataFrame,
    mapping: IdMapping | None = None,
    *,
    test_fraction: float = 0.2,
    threshold: float | None = 4.0,
    time_col: str = "timestamp",
) -> Split:
    """Per user, put the most recent ``test_fraction`` of their ratings in test.

    Each user contributes ``floor(n_ratings * test_fraction)`` rows to test (so a user with
    fewer than ``1 / test_fraction`` ratings stays wholly in train). Ties in time are broken by
    ``movieId`` so the split is deterministic. This is the honest split for a product: the model
    is graded on what each user did *after* the data it learned from.

    Parameters
    ----------
    ratings : DataFrame
        ``userId``, ``movieId``, ``rating`` and ``time_col``.
    mapping : IdMapping, optional
        Defaults to every user and item of ``ratings``.
    test_fraction : float, default 0.2
    threshold : float or None, default 4.0
    time_col : str, default "timestamp"

    Returns
    -------
    Split

    Examples
    --------
    >>> from helpers.data import load_movielens
    >>> split = temporal_split(load_movielens().ratings)
    >>> (split.test_frame.groupby("userId")["timestamp"].min()
    ...  >= split.train_frame.groupby("userId")["timestamp"].max()).all()
    np.True_
    """
    _check_fraction(test_fraction)
    _check_columns(ratings, ["userId", "movieId", time_col])
    order = np.lexsort((ratings["movieId"].to_numpy(), ratings[time_col].to_numpy(), ratings["userId"].to_numpy()))
    users_sorted = ratings["userId"].to_numpy()[order]
    newest_first = pd.Series(users_sorted).groupby(users_sorted).cumcount(ascending=False).to_numpy()
    per_user = pd.Series(users_sorted).groupby(users_sorted).transform("size").to_numpy()
    in_test = np.zeros(len(ratings), dtype=bool)
    in_test[order] = newest_first < np.floor(per_user * test_fraction)
    return _split_by_mask(ratings, mapping or IdMapping.from_frame(ratings), in_test, threshold)


def item_cold_start_split(
    ratings: pd.DataFrame,
    mapping: IdMapping | None = None,
    *,
    test_fraction: float = 0.2,
    threshold: float | None = 4.0,
    seed: int = 0,
) -> Split:
    """Hold out a random ``test_fraction`` of the rated items with *all* their ratings.

    The test items never appear in train: only features can tell the model anything about them.
    Pass a mapping built with the full catalog (``IdMapping.from_frame(ratings, items=...)``) so
    the item feature matrix covers them.

    Parameters
    ----------
    ratings : DataFrame
        ``userId``, ``movieId``, ``rating`` rows.
    mapping : IdMapping, optional
        Defaults to every user and item of ``ratings``.
    test_fraction : float, default 0.2
        Share of the rated items held out.
    threshold : float or None, default 4.0
    seed : int, default 0

    Returns
    -------
    Split

    Examples
    --------
    >>> from helpers.data import load_movielens
    >>> split = item_cold_start_split(load_movielens().ratings, seed=1)
    >>> set(split.train_frame["movieId"]) & set(split.test_frame["movieId"])
    set()
    """
    _check_fraction(test_fraction)
    rated = np.sort(ratings["movieId"].unique())
    rng = np.random.default_rng(seed)
    held_out = rng.choice(rated, size=int(round(len(rated) * test_fraction)), replace=False)
    in_test = ratings["movieId"].isin(held_out).to_numpy()
    return _split_by_mask(ratings, mapping or IdMapping.from_frame(ratings), in_test, threshold)


def _split_by_mask(ratings: pd.DataFrame, mapping: IdMapping, in_test: np.ndarray, threshold: float | None) -> Split:
    train_frame, test_frame = ratings[~in_test], ratings[in_test]
    if train_frame.empty or test_frame.empty:
        raise ValueError(f"split left {len(train_frame)} train and {len(test_frame)} test rows; both must be non-empty")
    return Split(
        train=_positives(train_frame, mapping, threshold),
        test=_positives(test_frame, mapping, threshold),
        train_frame=train_frame,
        test_frame=test_frame,
    )


def _positives(frame: pd.DataFrame, mapping: IdMapping, threshold: float | None) -> Interactions:
    if threshold is not None and not (frame["rating"] >= threshold).any():
        return Interactions(sp.coo_matrix(mapping.shape, dtype=np.float32), None, mapping)
    return build_interactions(frame, mapping, threshold=threshold)


def _check_fraction(value: float) -> None:
    if not 0 < value < 1:
        raise ValueError(f"test_fraction={value!r}; expected a number strictly between 0 and 1")


# ---------------------------------------------------------------------------------------- scorers

Scorer = Callable[[np.ndarray], np.ndarray]
"""Anything that maps an array of internal user indices to a ``len(users) x n_items`` score block."""


def lightfm_scorer(model, *, user_features: sp.spmatrix | None = None, item_features: sp.spmatrix | None = None) -> Scorer:
    """Scores of a fitted LightFM model, per user batch: equal to ``model.predict`` up to float32
    rounding.

    Representations (feature embeddings summed, biases included) are computed once; each batch is
    one matrix product, so no ``users x items`` matrix is ever built whole. The product sums in a
    different order than LightFM's own loop, so a score can differ from ``model.predict``'s by
    float32 rounding (up to about 5e-6 on the course's MovieLens models).

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=2, random_state=0).fit(sp.identity(3, format="coo"), epochs=1)
    >>> lightfm_scorer(model)(np.array([0, 2])).shape
    (2, 3)
    """
    user_bias, user_repr = model.get_user_representations(user_features)
    item_bias, item_repr = model.get_item_representations(item_features)

    def score(users: np.ndarray) -> np.ndarray:
        block = user_repr[users] @ item_repr.T
        block += item_bias  # in place: no second users x items temporary
        block += user_bias[users, None]
        return block

    return score


def popularity_scorer(train: sp.spmatrix) -> Scorer:
    """Everyone gets the items with the most training interactions first.

    The scores are the plain counts, so many items tie (every item liked twice scores 2);
    :func:`evaluate_ranking` breaks ties by its one rule, the same as for any other scorer.

    Parameters
    ----------
    train : sparse matrix
        ``users x items`` training interactions.

    Returns
    -------
    Scorer

    Examples
    --------
    >>> popularity_scorer(sp.csr_matrix([[1, 0, 1], [0, 0, 1]]))(np.array([0])).tolist()
    [[1.0, 0.0, 2.0]]
    """
    counts = np.asarray(train.getnnz(axis=0), dtype=np.float64)

    def score(users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(counts, (len(users), len(counts))).copy()

    return score


def random_scorer(n_items: int, *, seed: int = 0) -> Scorer:
    """Uniform random scores: the floor every model must clear.

    Examples
    --------
    >>> random_scorer(4, seed=1)(np.array([0, 1])).shape
    (2, 4)
    """
    rng = np.random.default_rng(seed)

    def score(users: np.ndarray) -> np.ndarray:
        return rng.random((len(users), n_items))

    return score


def genre_popularity_scorer(train: sp.spmatrix, item_genres: sp.spmatrix) -> Scorer:
    """Popularity of an item's genres: a baseline for cold items, which have no interactions.

    For user ``u`` and genre ``g`` let ``global[g]`` be the genre's share of all training
    interactions (interactions on items of genre ``g``, divided by the sum of these counts over
    all genres, so an item with several genres counts once in each) and ``own[u, g]`` the same
    share computed on the user's interactions only (0 for a user with none). An item scores the
    mean of ``own[u, g] + global[g]`` over its genres (0 for an item with no genre). Adding the
    global share lets a user with no history still get a ranking, and orders the genres a user
    never chose by their global popularity. Items with the same genres get the same
    score: :func:`evaluate_ranking` breaks those ties by its one rule.

    Parameters
    ----------
    train : sparse matrix
        ``users x items`` training interactions.
    item_genres : sparse matrix
        ``items x genres`` 0/1 matrix (e.g. ``item_features(..., identity=False)``).

    Returns
    -------
    Scorer

    Raises
    ------
    ValueError
        If ``item_genres`` does not have one row per item of ``train``.

    Examples
    --------
    >>> train = sp.csr_matrix([[1, 0, 0], [1, 0, 0]])
    >>> genres = sp.csr_matrix([[1, 0], [1, 0], [0, 1]])
    >>> genre_popularity_scorer(train, genres)(np.array([0])).tolist()  # genre 0: own 1 + global 1
    [[2.0, 2.0, 0.0]]
    """
    if train.shape[1] != item_genres.shape[0]:
        raise ValueError(f"item_genres has {item_genres.shape[0]} rows but train has {train.shape[1]} items")
    train = sp.csr_matrix(train, dtype=np.float64)
    genres = (sp.csr_matrix(item_genres, dtype=np.float64) > 0).astype(np.float64)
    user_genre = train @ genres  # interactions per user per genre
    global_share = np.asarray(user_genre.sum(axis=0)).ravel()
    global_share = global_share / max(global_share.sum(), 1.0)
    n_genres = np.asarray(genres.sum(axis=1)).ravel()

    def score(users: np.ndarray) -> np.ndarray:
        block = np.asarray(user_genre[users].todense())
        share = block / np.maximum(block.sum(axis=1, keepdims=True), 1.0) + global_share
        return np.asarray(genres @ share.T).T / np.maximum(n_genres, 1)

    return score


# ---------------------------------------------------------------------------------------- metrics

METRICS = ("precision", "recall", "ndcg", "map", "auc", "reciprocal_rank")


@dataclass(frozen=True)
class Evaluation:
    """Per-user ranking metrics and the top-k list each user was shown.

    Attributes
    ----------
    per_user : DataFrame
        One row per evaluated user (index: internal user index), a column per metric, plus
        ``novelty`` and ``popularity`` of the user's top-k list.
    top_k : ndarray
        ``n_evaluated_users x k`` internal item indices, best first, in the ranking every metric
        uses (ties broken by the fixed tie order). A user with fewer than ``k`` candidates gets
        excluded items (scored ``-inf``, in tie order) after them.
    n_items : int
        Catalog size, for coverage.
    """

    per_user: pd.DataFrame
    top_k: np.ndarray
    n_items: int

    @property
    def coverage(self) -> float:
        """Share of the catalog that appears in at least one user's top-k."""
        return len(np.unique(self.top_k)) / self.n_items

    def summary(self) -> pd.Series:
        """Mean of every per-user column, plus ``coverage`` and the number of users."""
        means = self.per_user.mean()
        means["coverage"] = self.coverage
        means["users"] = len(self.per_user)
        return means


def evaluate_ranking(
    scorer: Scorer,
    test: sp.spmatrix,
    train: sp.spmatrix | None,
    *,
    k: int = 10,
    batch_size: int = 512,
    candidates: np.ndarray | None = None,
    tie_seed: int = 0,
) -> Evaluation:
    """Rank the catalog for every user with test positives and score the ranking.

    Items in ``train`` are excluded from each user's ranking (pass ``train=None`` only to see how
    much including them distorts the numbers).

    **Ties.** Every user's candidates are ranked by score, highest first; candidates with equal
    scores are ordered by one fixed random order of the catalog (a permutation seeded by
    ``tie_seed``), the same for every scorer and every user. So a coarse scorer (popularity
    counts, a model whose items share feature rows) is graded as a product that shows tied items
    in an arbitrary order would be: on average over tie orders, neither penalised nor rewarded for
    its ties (one fixed order can still favour or hurt it by chance; vary ``tie_seed`` to see how
    much). Every metric and ``top_k`` use this one ranking. ``lightfm.evaluation`` instead counts
    ties against the item (``prediction >= predictions[i]`` in ``predict_ranks``); the two agree
    whenever a user's scores have no ties (usually the case for a LightFM model on identity
    features only).

    Metrics at ``k``: precision (hits / k), recall (hits / test items), NDCG (binary gains, ideal
    DCG over ``min(k, test items)``), MAP (average precision at the hits, over
    ``min(k, test items)``); over the full ranking: AUC (the share of (test item, candidate that is
    not a test item) pairs in which the test item ranks higher; ``lightfm.evaluation.auc_score``
    when there are no ties) and reciprocal rank of the first hit. ``novelty`` is the mean self-information
    ``-log2(share of users with the item in train)`` of the top-k; ``popularity`` their mean number
    of training interactions.

    Parameters
    ----------
    scorer : callable
        Maps internal user indices to a score block (:func:`lightfm_scorer`, a baseline, ...).
    test : sparse matrix
        ``users x items`` test positives.
    train : sparse matrix or None
        Training interactions, same shape, disjoint from ``test``; their items are excluded from
        each user's ranking. Required, so the exclusion cannot be forgotten: pass ``None``
        explicitly only to measure how much leaving training items in distorts the numbers.
    k : int, default 10
    batch_size : int, default 512
        Users scored at once; memory is about ``batch_size x n_items x 16`` bytes (a score copy
        and a ranking key per item).
    candidates : array of int, optional
        Internal indices of the only items to rank (e.g. the new items of a cold-start split:
        "which new movie should this user see?"). Every test item must be a candidate. Default:
        the whole catalog.
    tie_seed : int, default 0
        Seeds the order that breaks ties (see above). Change it to see how much a coarse scorer's
        numbers depend on the one arbitrary order; leave it to compare scorers.

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        Shapes differ, train and test overlap, ``k`` or ``batch_size`` out of range, no user has a
        test positive, or the scorer returns a block of the wrong shape or with NaN.

    Examples
    --------
    >>> train = sp.csr_matrix([[1, 0, 0, 0], [0, 1, 0, 0]])
    >>> test = sp.csr_matrix([[0, 1, 0, 0], [1, 0, 0, 0]])
    >>> evaluate_ranking(popularity_scorer(train), test, train, k=1).per_user["precision"].tolist()
    [1.0, 1.0]

    Equal scores follow the fixed tie order, whatever the scorer:

    >>> flat = evaluate_ranking(lambda users: np.zeros((len(users), 4)), test, None, k=4)
    >>> flat.top_k.tolist()
    [[2, 0, 1, 3], [2, 0, 1, 3]]
    """
    test = sp.csr_matrix(test)
    n_users, n_items = test.shape
    if train is not None:
        train = sp.csr_matrix(train)
        _check_same_shape(train, test)
        _check_disjoint(train, test)
    _check_positive_int(k, "k")
    _check_positive_int(batch_size, "batch_size")
    if k > n_items:
        raise ValueError(f"k={k} is larger than the catalog ({n_items} items)")
    outside = np.zeros(n_items, dtype=bool)
    if candidates is not None:
        candidates = np.asarray(candidates)
        if candidates.ndim != 1 or not len(candidates) or candidates.min() < 0 or candidates.max() >= n_items:
            raise ValueError(f"candidates must be a non-empty 1-d array of item indices in 0..{n_items - 1}")
        outside[:] = True
        outside[candidates] = False
        if outside[test.indices].any():
            raise ValueError(
                f"{int(outside[test.indices].sum()):,} test interaction(s) are on items outside candidates; "
                "every test item must be a candidate"
            )
        if len(candidates) < k:
            raise ValueError(f"k={k} is larger than the {len(candidates)} candidates")
    users = np.flatnonzero(test.getnnz(axis=1) > 0)
    if not len(users):
        raise ValueError("no user has a test interaction; nothing to evaluate")

    popularity = (
        np.asarray(train.getnnz(axis=0), dtype=np.float64) if train is not None else np.zeros(n_items)
    )
    self_information = -np.log2(np.maximum(popularity, 1.0) / n_users)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))

    columns = {name: [] for name in (*METRICS, "novelty", "popularity")}
    top_lists = []
    tie_order, tie_rank = _tie_order(n_items, tie_seed)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = _score_block(scorer, batch, n_items)
        scores[:, outside] = -np.inf
        n_excluded = np.full(len(batch), outside.sum(), dtype=np.int64)
        if train is not None:
            block = train[batch]
            owners = np.repeat(np.arange(len(batch)), np.diff(block.indptr))
            scores[owners, block.indices] = -np.inf
            n_excluded += np.bincount(owners[~outside[block.indices]], minlength=len(batch))
        keys = _ranking_keys(scores, tie_rank)
        del scores
        ranks, owner = _test_ranks(keys, test[batch])  # sorts keys: a row is the user's ranking
        top_lists.append(tie_order[keys[:, :k] & 0xFFFFFFFF])

        n_test = np.diff(test[batch].indptr)
        hit = ranks < k
        hits = np.bincount(owner, weights=hit, minlength=len(batch))
        columns["precision"].append(hits / k)
        columns["recall"].append(hits / n_test)
        dcg = np.bincount(owner[hit], weights=discounts[ranks[hit]], minlength=len(batch))
        ideal = np.cumsum(discounts)[np.minimum(n_test, k) - 1]
        columns["ndcg"].append(dcg / ideal)
        # Ranks arrive sorted within each user, so a hit's position among the hits is its running count.
        position = np.arange(len(ranks)) - np.r_[0, np.cumsum(n_test)][owner]
        precision_at_hit = (position + 1) / (ranks + 1)
        ap = np.bincount(owner[hit], weights=precision_at_hit[hit], minlength=len(batch))
        columns["map"].append(ap / np.minimum(n_test, k))
        negatives = n_items - n_test - n_excluded
        wrong_order = (ranks - position) / negatives[owner]  # negatives ranked above the test item
        columns["auc"].append(np.where(negatives > 0, np.bincount(owner, weights=1 - wrong_order, minlength=len(batch)) / n_test, 0.5))
        first = np.full(len(batch), np.inf)
        np.minimum.at(first, owner, ranks)
        columns["reciprocal_rank"].append(1.0 / (first + 1))
        columns["novelty"].append(self_information[top_lists[-1]].mean(axis=1))
        columns["popularity"].append(popularity[top_lists[-1]].mean(axis=1))

    per_user = pd.DataFrame({name: np.concatenate(values) for name, values in columns.items()}, index=users)
    per_user.index.name = "user"
    return Evaluation(per_user=per_user, top_k=np.vstack(top_lists), n_items=n_items)


def _tie_order(n_items: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed random order that breaks ties: ``order[p]`` is the item at position ``p`` (``p = 0``
    wins every tie) and ``rank[item]`` its position."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"tie_seed={seed!r}; expected an integer")
    order = np.random.default_rng(seed).permutation(n_items)
    rank = np.empty(n_items, dtype=np.int64)
    rank[order] = np.arange(n_items)
    return order, rank


def _top_in_tie_order(scores: np.ndarray, k: int, tie_seed: int) -> np.ndarray:
    """Indices of the ``k`` highest scores along the last axis, best first, equal scores in the
    fixed tie order of :func:`_tie_order` (a stable sort of the items taken in that order)."""
    tie_order, _ = _tie_order(scores.shape[-1], tie_seed)
    return tie_order[np.argsort(-np.take(scores, tie_order, axis=-1), axis=-1, kind="stable")[..., :k]]


def _score_block(scorer: Scorer, batch: np.ndarray, n_items: int) -> np.ndarray:
    """The scorer's block for ``batch``, checked, as a private float32 or float64 copy."""
    raw = np.asarray(scorer(batch))
    # A private copy (the scorer's array is never modified); float32 scores, as LightFM's, stay
    # float32: every comparison gives the same answer as after a cast to float64, at half the memory.
    scores = raw.astype(np.float32 if raw.dtype == np.float32 else np.float64, copy=True)
    if scores.shape != (len(batch), n_items):
        raise ValueError(
            f"scorer returned shape {scores.shape}; expected {(len(batch), n_items)} (users x items of test). "
            "For a LightFM model trained with features, pass the same user_features/item_features to lightfm_scorer"
        )
    if np.isnan(scores).any():
        raise ValueError("scorer returned NaN scores; expected numbers (-inf for an item never to show)")
    return scores


def _ranking_keys(scores: np.ndarray, tie_rank: np.ndarray) -> np.ndarray:
    """One int64 per score, distinct within a row, in ranking order (smaller = shown first).

    The high 32 bits order the scores, highest first, equal scores equal; the low 32 bits are the
    item's place in the tie order. Exact: float32 scores (and float64 ones that float32 holds
    exactly, such as counts) keep their own bits, mapped to an integer of the same order; other
    float64 scores are replaced by their rank among the row's distinct values (a slower path).
    ``scores`` must be NaN-free; a float32 block is overwritten.
    """
    if scores.dtype == np.float32:
        narrow = scores
    else:
        narrow = scores.astype(np.float32)
        if not np.array_equal(narrow, scores):
            narrow = None
    if narrow is not None:
        narrow += np.float32(0.0)  # -0.0 becomes +0.0, so equal scores have equal bits
        high = narrow.view(np.int32)
        # IEEE-754 order as signed-integer order: flip the magnitude bits of negative numbers ...
        flip = high >> 31
        flip &= 0x7FFFFFFF
        high ^= flip
        np.invert(high, out=high)  # ... then reverse it: highest score first
    else:
        order = np.argsort(scores, axis=1)
        ordered = np.take_along_axis(scores, order, axis=1)
        distinct = np.zeros(ordered.shape, dtype=np.int32)
        distinct[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        dense = np.cumsum(distinct, axis=1, dtype=np.int32)  # 0 for each row's lowest value
        high = np.empty_like(dense)
        np.put_along_axis(high, order, -dense, axis=1)  # highest score first
    keys = high.astype(np.int64)
    keys <<= 32
    keys |= tie_rank
    return keys


def _test_ranks(keys: np.ndarray, test_block: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Rank (the number of candidates shown before it) of every test entry, sorted within each
    user, and its owner row; ``keys`` (each row's :func:`_ranking_keys`) is sorted in place."""
    indptr = test_block.indptr
    owner = np.repeat(np.arange(keys.shape[0]), np.diff(indptr))
    test_keys = keys[owner, test_block.indices]
    keys.sort(axis=1)  # each row is now the user's ranking, best first
    # Keys are distinct within a row and excluded items (-inf) sort last: a test item's rank is
    # the number of keys below its own, one binary search per test entry.
    ranks = np.empty(len(owner), dtype=np.int64)
    for row in np.flatnonzero(np.diff(indptr)):
        start, stop = indptr[row], indptr[row + 1]
        ranks[start:stop] = np.searchsorted(keys[row], test_keys[start:stop])
    order = np.lexsort((ranks, owner))
    return ranks[order], owner[order]


def _top_k_cut(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each row's top k ends, ties going to the lower column: ``(kth, last)`` such that the
    k best of row ``r`` are the columns ``c`` with ``scores[r, c] > kth[r]``, or equal to it and
    ``c <= last[r]``. Pass the columns in tie order to apply :func:`evaluate_ranking`'s rule.

    Everything above the k-th best score is in; of the items equal to it, the first columns fill
    the remaining places (only rows where such ties straddle the cut need that step).
    """
    n_items = scores.shape[1]
    kth = np.partition(scores, n_items - k, axis=1)[:, n_items - k]  # the k-th best score
    places = k - (scores > kth[:, None]).sum(axis=1)
    at_cut = scores == kth[:, None]
    n_at_cut = at_cut.sum(axis=1)
    last = np.full(len(scores), n_items - 1)
    crowded = np.flatnonzero(n_at_cut > places)
    if len(crowded):
        _, columns = np.nonzero(at_cut[crowded])  # row by row, columns ascending
        first = np.r_[0, np.cumsum(n_at_cut[crowded])[:-1]]
        last[crowded] = columns[first + places[crowded] - 1]
    return kth, last


def bootstrap_ci(
    values: np.ndarray | pd.Series,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean of per-user values and a percentile bootstrap interval over users.

    Parameters
    ----------
    values : array-like
        One value per user (e.g. ``evaluation.per_user["precision"]``).
    n_resamples : int, default 1000
    confidence : float, default 0.95
    seed : int, default 0

    Returns
    -------
    (mean, low, high)

    Examples
    --------
    >>> mean, low, high = bootstrap_ci(np.array([0.0, 1.0] * 50))
    >>> low < mean < high
    True
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not len(values):
        raise ValueError(f"values must be a non-empty 1-d array; got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values contain NaN or infinity")
    _check_positive_int(n_resamples, "n_resamples")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r}; expected a number strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 100):
        stop = min(start + 100, n_resamples)
        means[start:stop] = values[rng.integers(0, len(values), (stop - start, len(values)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


# ---------------------------------------------------------------------------------- early stopping


@dataclass(frozen=True)
class EarlyStoppingResult:
    """What :func:`fit_with_early_stopping` returns.

    Attributes
    ----------
    model : lightfm.LightFM
        A copy of the model as it was after ``best_epoch`` (the passed model itself is left at the
        last epoch trained).
    history : DataFrame
        One row per evaluation: ``epoch`` and ``valid_<metric>`` (mean over validation users).
    best_epoch : int
        The epoch with the highest validation score (the first one, on ties).
    best_score : float
        That score.
    stopped_early : bool
        True when training stopped before ``max_epochs`` because the score stopped improving.
    """

    model: object
    history: pd.DataFrame
    best_epoch: int
    best_score: float
    stopped_early: bool


def fit_with_early_stopping(
    model,
    train: sp.spmatrix | sp.sparray,
    valid: sp.spmatrix | sp.sparray,
    *,
    max_epochs: int,
    patience: int | None = 3,
    eval_every: int = 1,
    k: int = 10,
    metric: str = "precision",
    min_delta: float = 0.0,
    item_features: sp.spmatrix | sp.sparray | None = None,
    user_features: sp.spmatrix | sp.sparray | None = None,
    num_threads: int = 1,
) -> EarlyStoppingResult:
    """Train one epoch at a time, score a validation split, and stop when it stops improving.

    After every ``eval_every`` epochs (and after ``max_epochs``) the model ranks the catalog for
    each user with validation positives, their ``train`` items excluded, and the mean ``metric@k``
    is recorded. Training stops once ``patience`` evaluations in a row have not beaten the best
    score by more than ``min_delta``. Choose the epoch count (and any other setting) with this on
    a validation split carved from the training data, never on the test set you report.

    Precision is computed by an exact top-k shortcut (the same numbers as :func:`evaluate_ranking`,
    with its tie rule and ``tie_seed=0``, several times faster); other metrics go through
    :func:`evaluate_ranking`.

    Parameters
    ----------
    model : lightfm.LightFM
        Trained in place with ``fit_partial``; a fresh model starts from scratch.
    train, valid : scipy sparse matrix
        ``users x items`` training and validation positives, same shape, no pair in common.
    max_epochs : int
        Upper bound on the epochs trained.
    patience : int or None, default 3
        Evaluations without improvement before stopping; ``None`` trains all ``max_epochs``
        (a full validation curve).
    eval_every : int, default 1
        Epochs between evaluations.
    k : int, default 10
    metric : str, default "precision"
        One of :data:`METRICS`.
    min_delta : float, default 0.0
        An evaluation improves only when it beats the best score by more than this.
    item_features, user_features : scipy sparse matrix, optional
        Passed to ``fit_partial`` and used for scoring.
    num_threads : int, default 1
        Training threads; keep 1 for reproducible results.

    Returns
    -------
    EarlyStoppingResult
        ``model`` (a copy at the best epoch), ``history``, ``best_epoch``, ``best_score``,
        ``stopped_early``.

    Raises
    ------
    TypeError
        If ``model`` has no ``fit_partial`` or a matrix is not scipy sparse.
    ValueError
        Shapes differ, train and valid overlap, valid is empty, an unknown ``metric``, or a count
        (``max_epochs``, ``patience``, ``eval_every``, ``k``, ``num_threads``) out of range.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> from lightfm.cross_validation import random_train_test_split
    >>> likes = sp.random(30, 40, density=0.3, format="coo", dtype=np.float32, random_state=0)
    >>> likes.data[:] = 1.0
    >>> train, valid = random_train_test_split(likes, random_state=np.random.RandomState(0))
    >>> run = fit_with_early_stopping(LightFM(no_components=4, random_state=0), train, valid,
    ...                               max_epochs=30, patience=2, k=5)
    >>> run.history.columns.tolist()
    ['epoch', 'valid_precision']
    >>> 1 <= run.best_epoch <= len(run.history) <= 30  # one evaluation per epoch
    True
    """
    if not callable(getattr(model, "fit_partial", None)):
        raise TypeError(f"model must be a LightFM model with fit_partial; got {type(model).__name__}")
    for label, matrix in (("train", train), ("valid", valid)):
        if not sp.issparse(matrix):
            raise TypeError(f"{label} must be a scipy sparse matrix; got {type(matrix).__name__}")
    _check_same_shape(train, valid)
    _check_positive_int(max_epochs, "max_epochs")
    if patience is not None:
        _check_positive_int(patience, "patience")
    _check_positive_int(eval_every, "eval_every")
    _check_positive_int(k, "k")
    _check_positive_int(num_threads, "num_threads")
    if k > train.shape[1]:
        raise ValueError(f"k={k} is larger than the number of items ({train.shape[1]})")
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}; expected one of {METRICS}")
    if not np.isfinite(min_delta) or min_delta < 0:
        raise ValueError(f"min_delta={min_delta!r}; expected a finite number >= 0")

    train_csr, valid_csr, train_coo = _prepare_pair(train, valid, "valid")
    features = {"item_features": item_features, "user_features": user_features}

    def score() -> float:
        scorer = lightfm_scorer(model, **features)
        if metric == "precision":
            return float(_precision_at_k(scorer, valid_csr, train_csr, k).mean())
        return float(evaluate_ranking(scorer, valid_csr, train_csr, k=k).per_user[metric].mean())

    rows: list[tuple[int, float]] = []
    best_epoch, best_score, best_model, waited = 0, -np.inf, None, 0
    for epoch in range(1, max_epochs + 1):
        model.fit_partial(train_coo, epochs=1, num_threads=num_threads, **features)
        if epoch % eval_every and epoch != max_epochs:
            continue
        current = score()
        rows.append((epoch, current))
        if current > best_score + min_delta or best_model is None:
            best_epoch, best_score, best_model, waited = epoch, current, copy.deepcopy(model), 0
        else:
            waited += 1
            if patience is not None and waited >= patience:
                break
    history = pd.DataFrame(rows, columns=["epoch", f"valid_{metric}"])
    stopped_early = rows[-1][0] < max_epochs
    return EarlyStoppingResult(best_model, history, best_epoch, float(best_score), stopped_early)


def _precision_at_k(
    scorer: Scorer, test: sp.csr_matrix, train: sp.csr_matrix | None, k: int, batch_size: int = 1024,
    tie_seed: int = 0,
) -> np.ndarray:
    """Per-user precision@k of the users with test positives, as :func:`evaluate_ranking` computes it
    (same ranking, same tie rule), without sorting whole rows.

    One partition per row finds the k-th best score; the top k are the items above it and, of
    those equal to it, the first in tie order (:func:`_top_k_cut` on the columns in tie order).
    """
    n_items = test.shape[1]
    users = np.flatnonzero(test.getnnz(axis=1) > 0)
    tie_order, tie_rank = _tie_order(n_items, tie_seed)
    out = []
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = _score_block(scorer, batch, n_items)
        if train is not None:
            block = train[batch]
            scores[np.repeat(np.arange(len(batch)), np.diff(block.indptr)), block.indices] = -np.inf
        in_tie_order = np.take(scores, tie_order, axis=1)  # column p holds item tie_order[p]
        del scores
        block = test[batch]
        owner = np.repeat(np.arange(len(batch)), np.diff(block.indptr))
        kth, last = _top_k_cut(in_tie_order, k)
        column = tie_rank[block.indices]
        item_scores = in_tie_order[owner, column]
        hit = (item_scores > kth[owner]) | ((item_scores == kth[owner]) & (column <= last[owner]))
        out.append(np.bincount(owner, weights=hit, minlength=len(batch)) / k)
    return np.concatenate(out)
