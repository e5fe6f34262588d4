"""Cold start: measure how a model serves users it has never seen, and serve one from typed titles.

A new user arrives with a handful of likes and no row in the model. :func:`new_user_curve` measures
how well each way of placing such a user (popularity, a naive average of the liked items, fold-in)
finds the rest of their likes, on users held out of training, as a curve over the number of likes
revealed. :func:`resolve_titles` and :func:`recommend_for_new_user` turn "a few titles and stars"
into an explained top-k. :func:`campaign_precision` measures the item side per movie: of the users a
targeting rule (:func:`helpers.recommend.targeting_scores`) would tell about a new movie, how many like it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from helpers.data import (
    IdMapping,
    UnknownIdError,
    UnknownTitleError,
    _check_columns,
    _preview,
    build_interactions,
    find_movies,
    lookup_movies,
)
from helpers.evaluate import _top_in_tie_order, bootstrap_ci, popularity_scorer
from helpers.recommend import explain, fold_in_user, naive_average_user, score_user_vector

__all__ = [
    "NEW_USER_METHODS",
    "NewUserContext",
    "NewUserCurve",
    "campaign_precision",
    "fold_in_method",
    "hold_out_users",
    "naive_average_method",
    "new_user_curve",
    "popularity_method",
    "recommend_for_new_user",
    "resolve_titles",
    "split_users",
]


# ------------------------------------------------------------------------------ new-user methods


@dataclass(frozen=True)
class NewUserContext:
    """What a new-user method may read: the fitted model and the training data of one seed.

    Attributes
    ----------
    model : lightfm.LightFM
        Fitted on ``train`` (the held-out users have empty rows).
    train : scipy.sparse.csr_matrix
        ``users x items`` training likes.
    item_features : sparse matrix or None
        The item features the model was trained with.
    item_bias, item_repr : ndarray
        ``model.get_item_representations(item_features)``, computed once per seed.
    """

    model: object
    train: sp.csr_matrix
    item_features: sp.spmatrix | None
    item_bias: np.ndarray
    item_repr: np.ndarray


NewUserMethod = Callable[[NewUserContext, np.ndarray], np.ndarray]
"""``method(context, revealed) -> scores``: ``revealed`` is ``users x n`` item indices, scores ``users x items``."""


def popularity_method() -> NewUserMethod:
    """Everyone gets the most-liked training items; the revealed likes are ignored.

    The scores are the plain counts of :func:`helpers.evaluate.popularity_scorer`, so many items
    tie; :func:`new_user_curve` breaks ties by the course's one rule (a fixed random order of the
    items, ``tie_seed``), as :func:`helpers.evaluate.evaluate_ranking` does for every scorer.

    Examples
    --------
    >>> method = popularity_method()
    >>> callable(method)
    True
    """

    def score(context: NewUserContext, revealed: np.ndarray) -> np.ndarray:
        return popularity_scorer(context.train)(np.arange(len(revealed)))

    return score


def naive_average_method(use_item_bias: bool = False) -> NewUserMethod:
    """The user vector is the mean of the revealed items' vectors (:func:`helpers.recommend.naive_average_user`).

    Vectorised over users: one ``users x n x components`` gather and one matrix product.

    Parameters
    ----------
    use_item_bias : bool, default False
        Add the learned item biases to the scores. Without them (the common recipe) the ranking
        ignores the popularity the model learned.

    Examples
    --------
    >>> callable(naive_average_method(use_item_bias=True))
    True
    """

    def score(context: NewUserContext, revealed: np.ndarray) -> np.ndarray:
        vectors = context.item_repr[revealed].mean(axis=1)
        scores = vectors @ context.item_repr.T
        return scores + context.item_bias if use_item_bias else scores

    return score


def fold_in_method(l2: float = 0.3, max_iter: int = 200) -> NewUserMethod:
    """The user vector is fitted to the revealed likes with items frozen (:func:`helpers.recommend.fold_in_user`).

    One small L-BFGS solve per user (the slow method: budget about 20–80 ms per user on
    ml-latest-small, more with more revealed likes). Scores include the item biases.

    Parameters
    ----------
    l2 : float, default 0.3
        Penalty on the user vector's squared length; the default is :func:`fold_in_user`'s, chosen
        on validation users in notebook 06.
    max_iter : int, default 200

    Examples
    --------
    >>> callable(fold_in_method(l2=1.0))
    True
    """
    if l2 < 0:
        raise ValueError(f"l2={l2}; expected ≥ 0")

    def score(context: NewUserContext, revealed: np.ndarray) -> np.ndarray:
        with _one_blas_thread():
            vectors = np.vstack([
                fold_in_user(context.model, row, item_features=context.item_features, l2=l2, max_iter=max_iter)
                for row in revealed
            ])
        return vectors @ context.item_repr.T + context.item_bias

    return score


def _one_blas_thread():
    """Many tiny solves run several times faster on one BLAS thread (no thread start-up per product)."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn, which LightFM requires
    except ImportError:  # pragma: no cover - the speed-up is optional
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


NEW_USER_METHODS: dict[str, Callable[[], NewUserMethod]] = {
    "popularity": popularity_method,
    "naive average": naive_average_method,
    "naive average + item bias": lambda: naive_average_method(use_item_bias=True),
    "fold-in": fold_in_method,
}
"""Name → factory of the four methods :func:`new_user_curve` compares by default."""


# ------------------------------------------------------------------------------ the protocol


def hold_out_users(
    ratings: pd.DataFrame,
    fraction: float = 0.2,
    *,
    seed: int = 0,
    threshold: float = 4.0,
) -> np.ndarray:
    """A random share of the users who have at least one like, to leave out of training entirely.

    :func:`new_user_curve` holds out exactly these users for a given seed, so a notebook can
    rebuild one seed's training set and model to look inside.

    Parameters
    ----------
    ratings : DataFrame
        ``userId`` and ``rating``.
    fraction : float, default 0.2
        Share of the users with a like, strictly between 0 and 1 (at least one user is held out,
        at least one stays).
    seed : int, default 0
    threshold : float, default 4.0
        A rating ≥ threshold is a like.

    Returns
    -------
    ndarray
        Sorted ``userId`` values.

    Raises
    ------
    ValueError
        A fraction outside (0, 1), or fewer than two users with a like.

    Examples
    --------
    >>> frame = pd.DataFrame({"userId": [1, 2, 3, 4, 5], "rating": [5.0, 4.0, 4.5, 2.0, 4.0]})
    >>> hold_out_users(frame, 0.5, seed=0).tolist()
    [3, 5]
    """
    _check_columns(ratings, ["userId", "rating"])
    if not 0 < fraction < 1:
        raise ValueError(f"fraction={fraction!r}; expected a number strictly between 0 and 1")
    candidates = np.sort(ratings.loc[ratings["rating"].to_numpy() >= threshold, "userId"].unique())
    if len(candidates) < 2:
        raise ValueError(f"{len(candidates)} user(s) have a like (rating >= {threshold}); need at least 2")
    n_held = min(max(1, int(round(fraction * len(candidates)))), len(candidates) - 1)
    return np.sort(np.random.default_rng(seed).choice(candidates, size=n_held, replace=False))


def split_users(
    ratings: pd.DataFrame,
    fraction: float = 0.5,
    *,
    seed: int = 0,
    threshold: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split the users who have a like into two disjoint groups, such as validation and test users.

    Choose settings with :func:`new_user_curve` on the first group (``users=first``) and report on
    the second (``users=second``): no held-out result of a user you report informed a choice. The
    split is made once, not per seed, so a user is in the same group whichever seed holds them
    out. (At a seed that does not hold a reported user out, their likes train the model, as every
    training user's do, including the model the first group is scored with.)

    Parameters
    ----------
    ratings : DataFrame
        ``userId`` and ``rating``.
    fraction : float, default 0.5
        Share of the users with a like in the first group, strictly between 0 and 1.
    seed : int, default 0
    threshold : float, default 4.0
        A rating ≥ threshold is a like.

    Returns
    -------
    tuple of two ndarrays
        Sorted ``userId`` values of the first and of the second group.

    Raises
    ------
    ValueError
        As :func:`hold_out_users`.

    Examples
    --------
    >>> frame = pd.DataFrame({"userId": [1, 2, 3, 4, 5], "rating": [5.0, 4.0, 4.5, 2.0, 4.0]})
    >>> [group.tolist() for group in split_users(frame, 0.5, seed=0)]
    [[3, 5], [1, 2]]
    """
    first = hold_out_users(ratings, fraction, seed=seed, threshold=threshold)
    candidates = np.unique(ratings.loc[ratings["rating"].to_numpy() >= threshold, "userId"])
    return first, np.setdiff1d(candidates, first)


@dataclass(frozen=True)
class NewUserCurve:
    """What :func:`new_user_curve` returns.

    Attributes
    ----------
    per_user : DataFrame
        One row per (seed, reveal, method, held-out user): ``seed``, ``reveal`` (likes shown),
        ``method``, ``userId``, ``precision`` (hidden likes in the top ``k``, divided by ``k``),
        ``recall`` (hidden likes in the top ``k`` divided by the number of hidden likes) and
        ``hidden`` (that number).
    users : DataFrame
        One row per (seed, reveal): ``held_out`` users, ``evaluated`` users and ``skipped`` users
        (those with ``reveal`` likes or fewer, who have nothing left to find).
    k : int
        List length used for precision and recall.
    """

    per_user: pd.DataFrame
    users: pd.DataFrame
    k: int

    def summary(self, metric: str = "precision", *, n_resamples: int = 1000, confidence: float = 0.95,
                seed: int = 0) -> pd.DataFrame:
        """Mean of ``metric`` and a bootstrap interval per (method, reveal), over every (seed, user) row.

        The interval resamples evaluated users, so it covers which users were held out, not the
        training randomness of each seed; compare :meth:`by_seed` for that.

        Returns
        -------
        DataFrame
            Indexed by ``method`` (in the order they were run) and ``reveal``: ``users`` (rows
            averaged), ``mean``, ``low``, ``high``.
        """
        self._check_metric(metric)
        rows = []
        for (method, reveal), group in self.per_user.groupby(["method", "reveal"], sort=False):
            mean, low, high = bootstrap_ci(group[metric].to_numpy(), n_resamples=n_resamples,
                                           confidence=confidence, seed=seed)
            rows.append({"method": method, "reveal": reveal, "users": len(group), "mean": mean, "low": low, "high": high})
        return pd.DataFrame(rows).set_index(["method", "reveal"])

    def by_seed(self, metric: str = "precision", reveal: int | None = None) -> pd.DataFrame:
        """Mean of ``metric`` per seed (rows) and method (columns), for one ``reveal`` or all."""
        self._check_metric(metric)
        frame = self.per_user if reveal is None else self.per_user[self.per_user["reveal"] == reveal]
        if frame.empty:
            raise ValueError(f"reveal={reveal!r} was not measured; measured: {sorted(self.per_user['reveal'].unique())}")
        methods = list(pd.unique(frame["method"]))
        return frame.pivot_table(index="seed", columns="method", values=metric, aggfunc="mean")[methods]

    def compare(self, method: str, baseline: str, reveal: int, metric: str = "precision", *,
                n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> pd.Series:
        """``method`` against ``baseline`` on the same (seed, user) rows: ratio and paired difference.

        Returns
        -------
        Series
            ``users``, ``method`` and ``baseline`` means, ``ratio`` (method / baseline), and the mean
            per-user ``difference`` with its bootstrap interval ``low``, ``high``.
        """
        self._check_metric(metric)
        frame = self.per_user[self.per_user["reveal"] == reveal]
        for name in (method, baseline):
            if name not in set(frame["method"]):
                raise ValueError(f"method {name!r} not measured at reveal={reveal}; "
                                 f"measured: {sorted(set(self.per_user['method']))}")
        table = frame.pivot_table(index=["seed", "userId"], columns="method", values=metric)
        difference = table[method] - table[baseline]
        mean, low, high = bootstrap_ci(difference.to_numpy(), n_resamples=n_resamples, confidence=confidence, seed=seed)
        ratio = table[method].mean() / table[baseline].mean() if table[baseline].mean() > 0 else np.inf
        return pd.Series({"users": len(table), "method": table[method].mean(), "baseline": table[baseline].mean(),
                          "ratio": ratio, "difference": mean, "low": low, "high": high})

    def _check_metric(self, metric: str) -> None:
        if metric not in ("precision", "recall"):
            raise ValueError(f"metric={metric!r}; expected 'precision' or 'recall'")


def new_user_curve(
    ratings: pd.DataFrame,
    train_model: Callable[[sp.coo_matrix, int], object],
    *,
    methods: Mapping[str, NewUserMethod] | None = None,
    reveal: Sequence[int] = (1, 3, 5, 10),
    seeds: Sequence[int] = (0, 1, 2),
    mapping: IdMapping | None = None,
    holdout_fraction: float = 0.2,
    threshold: float = 4.0,
    k: int = 10,
    max_users: int | None = None,
    users: Sequence | np.ndarray | None = None,
    item_features: sp.spmatrix | None = None,
    tie_seed: int = 0,
) -> NewUserCurve:
    """Measure new-user cold start on held-out users, as a curve over the number of revealed likes.

    For each seed: hold out a random ``holdout_fraction`` of the users who have a like (all their
    ratings), train a model on everyone else with ``train_model(train, seed)``, then for each
    held-out user shuffle their likes once, reveal the first ``n`` (for every ``n`` in
    ``reveal``, so the revealed sets are nested) and hide the rest. Each method turns the revealed
    likes into scores for the whole catalogue; revealed items are excluded and precision@k and
    recall@k are measured against the hidden likes. Users with ``n`` likes or fewer have nothing
    hidden: they are skipped at that ``n`` and counted in ``users``.

    Every method sees the same users, revealed likes and hidden likes (a paired comparison), and
    the whole run is deterministic for given seeds (train with ``num_threads=1``).

    Parameters
    ----------
    ratings : DataFrame
        ``userId``, ``movieId``, ``rating`` (every rating; the threshold is applied here).
    train_model : callable
        ``train_model(train_matrix, seed) -> fitted LightFM model``; the matrix is a ``coo_matrix``
        on ``mapping`` with the held-out users' rows empty.
    methods : mapping of str to method, optional
        Name → ``method(context, revealed) -> scores`` (see :class:`NewUserContext`). By default
        the four of :data:`NEW_USER_METHODS`: popularity, naive average (no bias), naive average +
        item bias and fold-in (``l2=0.3``, :func:`helpers.recommend.fold_in_user`'s default).
    reveal : sequence of int, default (1, 3, 5, 10)
        Numbers of likes to reveal, each ≥ 1.
    seeds : sequence of int, default (0, 1, 2)
        One held-out set, model and shuffle per seed.
    mapping : IdMapping, optional
        Built from ``ratings`` when omitted (every user and rated item).
    holdout_fraction : float, default 0.2
        Share of users held out per seed, in (0, 1).
    threshold : float, default 4.0
        A rating ≥ threshold is a like.
    k : int, default 10
        List length.
    max_users : int, optional
        Evaluate at most this many of each seed's held-out users (a random subset; all of them
        are still left out of training). Fold-in is the slow method: use this to bound run time.
    users : sequence of userId, optional
        Evaluate only the held-out users among these (e.g. the validation or the test group of
        :func:`split_users`); every held-out user is still left out of training. All held-out
        users by default.
    item_features : sparse matrix, optional
        Passed to the model's representations (hybrid models).
    tie_seed : int, default 0
        Equal scores are ranked by one fixed random order of the items seeded by this, the same
        for every method and user (the rule of :func:`helpers.evaluate.evaluate_ranking`).

    Returns
    -------
    NewUserCurve
        Per-user rows, user counts, and ``summary`` / ``by_seed`` / ``compare``.

    Raises
    ------
    ValueError
        A reveal below 1, no seed, no method, a fraction outside (0, 1), ``k`` or ``max_users``
        below 1, or no user left to evaluate.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> from helpers.synthetic import synthetic_ratings
    >>> frame = synthetic_ratings(60, 40, 900, seed=0)
    >>> def train(matrix, seed):
    ...     return LightFM(no_components=4, random_state=seed).fit(matrix, epochs=2, num_threads=1)
    >>> curve = new_user_curve(frame, train, reveal=(1, 2), seeds=(0,), threshold=3.0, k=5)
    >>> curve.summary(n_resamples=50).index.get_level_values("method").unique().tolist()
    ['popularity', 'naive average', 'naive average + item bias', 'fold-in']
    """
    _check_columns(ratings, ["userId", "movieId", "rating"])
    reveal = [_whole(n, "reveal") for n in reveal]
    if not reveal:
        raise ValueError("reveal is empty; expected numbers of likes such as (1, 3, 5, 10)")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; expected at least one seed")
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction={holdout_fraction!r}; expected a number strictly between 0 and 1")
    k = _whole(k, "k")
    if max_users is not None:
        max_users = _whole(max_users, "max_users")
    methods = {name: factory() for name, factory in NEW_USER_METHODS.items()} if methods is None else dict(methods)
    if not methods:
        raise ValueError("methods is empty; expected name -> method(context, revealed)")
    mapping = IdMapping.from_frame(ratings) if mapping is None else mapping
    likes = ratings.loc[ratings["rating"].to_numpy() >= threshold, ["userId", "movieId"]]
    items_of = {user: mapping.item_index(group.to_numpy()) for user, group in likes.groupby("userId")["movieId"]}

    rows, counts = [], []
    for seed in seeds:
        held = hold_out_users(ratings, holdout_fraction, seed=seed, threshold=threshold)
        rng = np.random.default_rng((seed, 1))  # shuffles, independent of the held-out draw
        pool = held if users is None else held[np.isin(held, users)]
        evaluated = pool if max_users is None or max_users >= len(pool) else np.sort(
            rng.choice(pool, size=max_users, replace=False))
        train = build_interactions(ratings[~ratings["userId"].isin(held)], mapping, threshold=threshold)
        model = train_model(train.matrix, seed)
        item_bias, item_repr = model.get_item_representations(item_features)
        context = NewUserContext(model, train.matrix.tocsr(), item_features, item_bias, item_repr)
        shuffled = [rng.permutation(np.unique(items_of[user])) for user in evaluated]
        for n in reveal:
            keep = np.array([len(items) > n for items in shuffled], dtype=bool)
            counts.append({"seed": seed, "reveal": n, "held_out": len(held), "evaluated": int(keep.sum()),
                           "skipped": int((~keep).sum())})
            if not keep.any():
                continue
            kept = evaluated[keep]
            revealed = np.vstack([items[:n] for items, ok in zip(shuffled, keep) if ok]).astype(np.int64)
            hidden = _rows_matrix([items[n:] for items, ok in zip(shuffled, keep) if ok], mapping.shape[1])
            for name, method in methods.items():
                scores = np.array(method(context, revealed), dtype=np.float64)
                if scores.shape != (len(kept), mapping.shape[1]):
                    raise ValueError(f"method {name!r} returned scores of shape {scores.shape}; "
                                     f"expected {(len(kept), mapping.shape[1])}")
                hits = _hits_at_k(scores, revealed, hidden, k, tie_seed)
                n_hidden = np.diff(hidden.indptr)
                rows.append(pd.DataFrame({"seed": seed, "reveal": n, "method": name, "userId": kept,
                                          "precision": hits / k, "recall": hits / n_hidden, "hidden": n_hidden}))
    if not rows:
        raise ValueError(f"no held-out user has more than {min(reveal)} likes; nothing to evaluate")
    per_user = pd.concat(rows, ignore_index=True)
    return NewUserCurve(per_user=per_user, users=pd.DataFrame(counts), k=k)


def _whole(value: object, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}={value!r}; expected a whole number ≥ 1")
    return int(value)


def _rows_matrix(rows: list[np.ndarray], n_columns: int) -> sp.csr_matrix:
    indptr = np.r_[0, np.cumsum([len(r) for r in rows])]
    indices = np.concatenate(rows) if rows else np.empty(0, np.int64)
    return sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(rows), n_columns))


def _hits_at_k(scores: np.ndarray, revealed: np.ndarray, hidden: sp.csr_matrix, k: int,
               tie_seed: int = 0) -> np.ndarray:
    """Hidden items among each row's top ``k``, with the revealed items excluded.

    Equal scores are ordered by the fixed random order of :func:`helpers.evaluate.evaluate_ranking`
    (``tie_seed``): a stable sort of the columns taken in that order.
    """
    scores[np.arange(len(scores))[:, None], revealed] = -np.inf
    k = min(k, scores.shape[1])
    top = _top_in_tie_order(scores, k, tie_seed)
    hidden_dense = hidden.toarray().astype(bool)
    return np.take_along_axis(hidden_dense, top, axis=1).sum(axis=1)


# ------------------------------------------------------------------------------ one new user


def resolve_titles(
    movies: pd.DataFrame,
    ratings: Mapping[str, float],
    *,
    popularity: pd.Series | None = None,
) -> pd.DataFrame:
    """Turn ``{typed title: stars}`` into catalogue movies with :func:`helpers.data.find_movies`.

    Each title resolves to its best match; check the ``title`` column to see which movie that was
    (``"Star Wars"`` resolves to one film of the series, not all of them).

    Parameters
    ----------
    movies : DataFrame
        ``MovieLens.movies``.
    ratings : mapping of str to float
        Typed title → rating, e.g. ``{"The Matrix": 5, "titanic (1997)": 2}``.
    popularity : Series, optional
        As in :func:`~helpers.data.find_movies`: breaks ties between equally good matches.

    Returns
    -------
    DataFrame
        ``query``, ``movieId``, ``title``, ``genres``, ``year``, ``match``, ``rating``; one row per
        entry, in the order given.

    Raises
    ------
    UnknownTitleError
        Naming *every* title that matched nothing, each with its close titles.
    ValueError
        If ``ratings`` is empty, a rating is not a finite number, or two titles resolve to the
        same movie.

    Examples
    --------
    >>> from helpers.data import load_movielens
    >>> resolve_titles(load_movielens().movies, {"toy story": 4.5})[["title", "rating"]].values.tolist()
    [['Toy Story (1995)', 4.5]]
    """
    if not isinstance(ratings, Mapping) or not ratings:
        raise ValueError("ratings must be a non-empty mapping of title -> stars, e.g. {'The Matrix': 5}")
    rows, unknown, problems, suggestions = [], [], [], []
    for query, stars in ratings.items():
        if isinstance(stars, bool) or not isinstance(stars, (int, float, np.integer, np.floating)) or not np.isfinite(stars):
            raise ValueError(f"rating of {query!r} is {stars!r}; expected a number of stars")
        try:
            best = find_movies(movies, query, limit=1, popularity=popularity).iloc[0]
        except UnknownTitleError as err:
            unknown.append(query)
            problems.append(str(err))
            suggestions.extend(err.suggestions)
            continue
        rows.append({"query": query, **best.to_dict(), "rating": float(stars)})
    if problems:
        raise UnknownTitleError("\n".join(problems), ", ".join(unknown), suggestions)
    out = pd.DataFrame(rows)
    repeated = out[out["movieId"].duplicated(keep=False)]
    if len(repeated):
        raise ValueError(f"titles {repeated['query'].tolist()} all resolve to {repeated['title'].iloc[0]!r}; "
                         "keep one of them")
    return out[["query", "movieId", "title", "genres", "year", "match", "rating"]]


def recommend_for_new_user(
    model,
    mapping: IdMapping,
    movies: pd.DataFrame,
    liked: Sequence[int] | np.ndarray,
    *,
    seen: Sequence[int] | np.ndarray = (),
    k: int = 10,
    l2: float = 0.3,
    reasons: int = 2,
    item_features: sp.spmatrix | None = None,
    tie_seed: int = 0,
) -> pd.DataFrame:
    """An explained top-k for someone who is not in the model, from the movies they liked.

    The user is folded in (:func:`helpers.recommend.fold_in_user`), every movie is scored, the
    ``liked`` and ``seen`` movies are left out, and each recommendation is explained by the liked
    movies closest to it (:func:`helpers.recommend.explain`). Equal scores are ordered by the fixed
    random order of :func:`helpers.evaluate.evaluate_ranking` (``tie_seed``), the rule
    :func:`new_user_curve` measures with.

    Parameters
    ----------
    model : lightfm.LightFM
    mapping : IdMapping
        The mapping the model was trained on.
    movies : DataFrame
        ``MovieLens.movies``.
    liked : sequence of int
        ``movieId`` values the user liked (at least one).
    seen : sequence of int, optional
        Other ``movieId`` values the user has seen (e.g. rated low): never recommended.
    k : int, default 10
    l2 : float, default 0.3
        Fold-in penalty (:func:`~helpers.recommend.fold_in_user`'s default).
    reasons : int, default 2
        Liked titles named per recommendation.
    item_features : sparse matrix, optional
    tie_seed : int, default 0
        Seeds the order of equal scores, as in :func:`helpers.evaluate.evaluate_ranking`.

    Returns
    -------
    DataFrame
        ``rank``, ``movieId``, ``title``, ``genres``, ``year``, ``score`` (rounded to 3 decimals)
        and ``because`` (the closest liked titles, with the cosine of each).

    Raises
    ------
    UnknownIdError
        If a liked movie has no column in ``mapping`` (the model never saw it, so it cannot
        describe a taste); the message names it.
    ValueError
        If ``liked`` is empty or ``k`` / ``reasons`` is below 1.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> from helpers.data import load_movielens, build_interactions
    >>> ml = load_movielens()
    >>> built = build_interactions(ml.ratings, threshold=4)
    >>> model = LightFM(random_state=0).fit(built.matrix, epochs=1)
    >>> recommend_for_new_user(model, built.mapping, ml.movies, [1], k=2).columns.tolist()
    ['rank', 'movieId', 'title', 'genres', 'year', 'score', 'because']
    """
    k, reasons = _whole(k, "k"), _whole(reasons, "reasons")
    liked = np.unique(np.asarray(liked))
    if not liked.size:
        raise ValueError("liked is empty: a new user needs at least one liked movie to be folded in")
    unknown = liked[mapping.items.get_indexer(liked) < 0]
    if unknown.size:
        titles = lookup_movies(movies, unknown)["title"].tolist() if np.isin(unknown, movies["movieId"]).all() else []
        raise UnknownIdError(
            f"movieId {_preview(unknown.tolist())} {('(' + ', '.join(titles) + ') ') if titles else ''}"
            "has no column in the model's mapping: nobody liked or rated it in the training data, so it "
            "cannot describe a taste. Leave it out, or use a hybrid model that knows it by its features."
        )
    liked_rows = mapping.item_index(liked)
    excluded = np.union1d(liked_rows, mapping.item_index(np.asarray(seen))) if len(seen) else liked_rows
    vector = fold_in_user(model, liked_rows, item_features=item_features, l2=l2)
    scores = score_user_vector(model, vector, item_features=item_features).astype(np.float64)
    scores[excluded] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    top = _top_in_tie_order(scores, k, tie_seed)  # equal scores: evaluate_ranking's order
    out = lookup_movies(movies, mapping.item_id(top))
    out.insert(0, "rank", np.arange(1, k + 1))
    out["score"] = scores[top].round(3)
    titles = pd.Series(movies["title"].to_numpy(), index=movies["movieId"].to_numpy())
    because = []
    for item in top:
        closest, cosine = explain(model, int(item), liked_rows, n=reasons, item_features=item_features)
        because.append("; ".join(f"{titles[m]} ({c:.2f})" for m, c in zip(mapping.item_id(closest), cosine)))
    out["because"] = because
    return out


# ------------------------------------------------------------------------------ new items


def campaign_precision(
    priority: np.ndarray,
    items: Sequence[int] | np.ndarray,
    test: sp.spmatrix,
    k: int = 20,
    *,
    exclude: sp.spmatrix | None = None,
) -> pd.DataFrame:
    """Per item: of the ``k`` users a rule would target first, how many like the item in ``test``.

    The per-item companion of :func:`helpers.recommend.targeting_curve` at one list size, so that
    a rule's mean can get an interval over items. Users are ordered exactly as there: highest
    priority first, ties by lower user index, users with ``-inf`` / NaN priority or an ``exclude``
    entry for the item are not eligible.

    Parameters
    ----------
    priority : ndarray, shape (n_users, len(items))
        Higher = target earlier: :func:`helpers.recommend.targeting_scores`, or any rule (e.g.
        user activity) broadcast to that shape.
    items : array of int
        Internal item index of each column of ``priority``.
    test : sparse matrix
        ``users x items`` held-out likes.
    k : int, default 20
        Users targeted per item (the campaign size).
    exclude : sparse matrix, optional
        ``users x items``; users who already have an item are not eligible for it.

    Returns
    -------
    DataFrame
        One row per item, indexed by item: ``eligible`` users, ``likers`` (eligible users who like
        it in ``test``), ``hits`` (likers among the first ``k``), ``precision`` (hits / k),
        ``base_rate`` (likers / eligible: the expected precision of ``k`` random eligible users)
        and ``lift`` (precision / base_rate; NaN when nobody likes the item).

    Raises
    ------
    ValueError
        Shapes that do not match, or ``k`` below 1 or above the number of users.
    IndexError
        An item index outside ``test``.

    Examples
    --------
    >>> test = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 0], [0, 1]]))
    >>> priority = np.array([[4.0, 1.0], [1.0, 3.0], [3.0, 2.0], [2.0, 4.0]])
    >>> campaign_precision(priority, [0, 1], test, k=2)[["hits", "precision", "base_rate"]].values.tolist()
    [[1.0, 0.5, 0.5], [2.0, 1.0, 0.5]]
    """
    priority = np.asarray(priority, dtype=np.float64)
    items = np.atleast_1d(np.asarray(items, dtype=np.int64))
    n_users = test.shape[0]
    if priority.ndim != 2 or priority.shape != (n_users, len(items)):
        raise ValueError(f"priority has shape {priority.shape}; expected (users, items) = {(n_users, len(items))}")
    if items.size and (items.min() < 0 or items.max() >= test.shape[1]):
        raise IndexError(f"item indices must lie in 0..{test.shape[1] - 1} (the columns of test)")
    if exclude is not None and exclude.shape != test.shape:
        raise ValueError(f"exclude has shape {exclude.shape}; expected {test.shape}")
    k = _whole(k, "k")
    if k > n_users:
        raise ValueError(f"k={k} is larger than the {n_users} users")
    eligible = np.isfinite(priority)
    if exclude is not None:
        eligible &= ~(sp.csc_matrix(exclude)[:, items] != 0).toarray()
    liked = (sp.csc_matrix(test)[:, items] != 0).toarray() & eligible
    ranked = np.where(eligible, priority, -np.inf)
    order = np.argsort(-ranked, axis=0, kind="stable")[:k]  # stable: ties go to the lower user index
    first = np.take_along_axis(eligible, order, axis=0)
    hits = (np.take_along_axis(liked, order, axis=0) & first).sum(axis=0).astype(float)
    n_eligible, likers = eligible.sum(axis=0), liked.sum(axis=0)
    base_rate = np.divide(likers, n_eligible, out=np.zeros(len(items)), where=n_eligible > 0)
    precision = hits / k
    lift = np.divide(precision, base_rate, out=np.full(len(items), np.nan), where=base_rate > 0)
    return pd.DataFrame({"eligible": n_eligible, "likers": likers, "hits": hits, "precision": precision,
                         "base_rate": base_rate, "lift": lift}, index=pd.Index(items, name="item"))
