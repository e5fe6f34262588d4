"""Serve a trained LightFM model: top-k lists, campaign targets, similar items, new users, explanations.

Also a "recent window" recommender, a chunked CSV export of every user's list, and the targeting
curve that sizes a campaign on held-out data.

Everything is batched: scores are computed for a chunk of users at a time (one matrix product on
precomputed representations), so no ``users x items`` or ``items x items`` matrix is ever built.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.special
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from helpers.data import IdMapping, UnknownIdError, _preview, lookup_movies

__all__ = [
    "RecentPicks",
    "batch_size_for",
    "block_top_k",
    "explain",
    "export_top_k_csv",
    "fold_in_user",
    "item_side",
    "iter_top_k",
    "naive_average_user",
    "recommend",
    "recommend_from_recent",
    "score_user_vector",
    "similar_items",
    "targeting_curve",
    "targeting_scores",
    "top_k_items",
    "top_users_for_item",
]


_NO_HISTORY_POLICIES = ("popular", "model", "raise")


def batch_size_for(n_items: int, memory_mb: float = 8.0) -> int:
    """Users per batch so one float32 score block stays within ``memory_mb`` MiB (2**20 bytes).

    This sizes the score block only. Ranking it (``np.argpartition`` in :func:`block_top_k`)
    allocates an int64 index array of the same shape, twice the block's bytes, so one batch costs
    about ``3 * memory_mb`` MiB at its peak, and :func:`iter_top_k` ranks ``num_threads`` batches at
    once (two by default): at most about 48 MiB with the default 8, plus the item vectors.

    The default is a memory budget, not a tuned optimum: the work is the same whatever the block
    size, memory stays at tens of MB whatever the number of users, and each batch can reuse the
    memory the previous one freed (glibc's malloc keeps freed blocks below its dynamic mmap
    threshold, at most 32 MiB on 64-bit Linux), where blocks of hundreds of MB are mapped and
    page-faulted afresh.

    Examples
    --------
    >>> batch_size_for(20_000, memory_mb=80)
    1048
    """
    if n_items < 1 or memory_mb <= 0:
        raise ValueError(f"n_items={n_items}, memory_mb={memory_mb}; expected both > 0")
    return max(1, int(memory_mb * 2**20 // (n_items * 4)))


def _check_k(k: int, n: int, what: str) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k={k!r}; expected a whole number ≥ 1")
    if k > n:
        raise ValueError(f"k={k} is larger than the {n:,} {what}")


def _top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    # Partitioning at n - k keeps the k largest at the end without a negated copy of the block.
    n = scores.shape[1]
    part = np.argpartition(scores, n - k, axis=1)[:, n - k :]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)


def iter_top_k(
    model,
    users: np.ndarray,
    k: int = 10,
    *,
    exclude: sp.spmatrix | None = None,
    user_features: sp.spmatrix | None = None,
    item_features: sp.spmatrix | None = None,
    batch_size: int | None = None,
    num_threads: int = 2,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(users, items, scores)`` for successive batches of users; see :func:`top_k_items`.

    Blocks are independent, so ``num_threads`` of them run at once (numpy releases the GIL while it
    partitions) and the results, yielded in order, are identical at any thread count. With more
    than one thread, BLAS is limited to one thread in this process until the generator finishes.
    """
    if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)) or num_threads < 1:
        raise ValueError(f"num_threads={num_threads!r}; expected a whole number ≥ 1")
    user_bias, user_repr = model.get_user_representations(user_features)
    side = item_side(model, item_features)
    n_items = len(side)
    _check_k(k, n_items, "items in the catalog")
    users, exclude = _check_users_and_exclude(users, exclude, len(user_bias), n_items)
    batch_size = batch_size or batch_size_for(n_items)

    def score(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        batch = users[start : start + batch_size]
        seen = exclude[batch] if exclude is not None else None
        return (batch, *block_top_k(user_repr[batch], user_bias[batch], side, k, exclude=seen))

    starts = range(0, len(users), batch_size)
    if num_threads == 1:
        yield from map(score, starts)
        return
    # A bounded window of blocks in flight keeps memory at a few blocks and lets a caller stop early.
    # BLAS is held to one thread meanwhile: our threads already use the cores, and letting each
    # product spawn its own BLAS threads oversubscribes them (measured 2x slower).
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(num_threads) as pool:
        pending: deque = deque()
        for start in starts:
            pending.append(pool.submit(score, start))
            if len(pending) >= 2 * num_threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _check_users_and_exclude(
    users: np.ndarray, exclude: sp.spmatrix | None, n_users: int, n_items: int
) -> tuple[np.ndarray, sp.csr_matrix | None]:
    """Users as a 1-d int64 array inside the model, and ``exclude`` as CSR of the model's shape."""
    users = np.asarray(users, dtype=np.int64)
    if users.ndim != 1:
        raise ValueError(f"users has shape {users.shape}; expected a 1-d array of user indices")
    if users.size and (users.min() < 0 or users.max() >= n_users):
        raise IndexError(f"user indices must lie in 0..{n_users - 1}; got {users.min()}..{users.max()}")
    if exclude is not None:
        if exclude.shape != (n_users, n_items):
            raise ValueError(f"exclude has shape {exclude.shape}; expected (users, items) = {(n_users, n_items)}")
        exclude = sp.csr_matrix(exclude)
    return users, exclude


def item_side(model, item_features: sp.spmatrix | None = None) -> np.ndarray:
    """Item embeddings with the item bias as one more column (float32): the item half of every score.

    A user side of ``[embedding, 1]`` times its transpose gives each score without the user bias,
    in one matrix product.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=3, random_state=0).fit(sp.identity(5, format="coo"), epochs=1)
    >>> item_side(model).shape, item_side(model).dtype
    ((5, 4), dtype('float32'))
    """
    item_bias, item_repr = model.get_item_representations(item_features)
    return np.hstack([item_repr, item_bias[:, None]]).astype(np.float32)


def block_top_k(
    user_repr: np.ndarray,
    user_bias: np.ndarray,
    items_side: np.ndarray,
    k: int,
    *,
    exclude: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one block of users from arrays alone: the unit of work of :func:`iter_top_k` and of
    :mod:`helpers.distributed`'s workers, so both give bit-identical results for the same blocks.

    The item bias rides along as one more factor (:func:`item_side`), so the product includes it
    and the score block is written once; the user bias shifts a whole row equally, so it cannot
    change the ranking and is added to the ``k`` kept scores only (they then equal ``model.predict``
    up to float32 rounding: the sums run in another order, a few 1e-6 apart).

    Parameters
    ----------
    user_repr : ndarray, shape (n, d)
        The block's user representations.
    user_bias : ndarray, shape (n,)
    items_side : ndarray, shape (n_items, d + 1)
        From :func:`item_side`.
    k : int
    exclude : csr_matrix, optional
        ``n x n_items``, the block's rows of the items never to recommend.

    Returns
    -------
    items : ndarray of int32, shape (n, k)
    scores : ndarray of float32, shape (n, k)

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=3, random_state=0).fit(sp.identity(5, format="coo"), epochs=1)
    >>> bias, vectors = model.get_user_representations()
    >>> block_top_k(vectors[:2], bias[:2], item_side(model), k=3)[0].shape
    (2, 3)
    """
    user_side = np.hstack([user_repr, np.ones((len(user_repr), 1), dtype=user_repr.dtype)])
    scores = user_side @ items_side.T
    if exclude is not None:
        scores[np.repeat(np.arange(len(user_repr)), np.diff(exclude.indptr)), exclude.indices] = -np.inf
    items, top_scores = _top_k_rows(scores, k)
    top_scores += user_bias[:, None]
    return items.astype(np.int32), top_scores


def top_k_items(
    model,
    users: np.ndarray,
    k: int = 10,
    *,
    exclude: sp.spmatrix | None = None,
    user_features: sp.spmatrix | None = None,
    item_features: sp.spmatrix | None = None,
    batch_size: int | None = None,
    num_threads: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items for each user (internal indices), best first, in user batches.

    Parameters
    ----------
    model : lightfm.LightFM
        A fitted model.
    users : array of int
        Internal user indices (``mapping.user_index(...)``); ``np.arange(n_users)`` for everyone.
    k : int, default 10
        List length, 1 to the catalog size.
    exclude : sparse matrix, optional
        ``users x items``; nonzero cells are never recommended (pass the training interactions so
        nobody is shown what they already have). Slots a user cannot fill score ``-inf``.
    user_features, item_features : sparse matrix, optional
        The feature matrices the model was trained with.
    batch_size : int, optional
        Users per batch; by default as many as fit an 8 MiB score block (:func:`batch_size_for`).
    num_threads : int, default 2
        Blocks scored at once; the result does not depend on it.

    Returns
    -------
    items : ndarray of int32, shape (len(users), k)
    scores : ndarray of float32, shape (len(users), k)
        Equal to ``model.predict`` for those pairs up to float32 rounding (the terms are summed in
        another order, so the two can differ by a few 1e-6).

    Raises
    ------
    ValueError
        ``k`` out of range or ``exclude`` of the wrong shape.
    IndexError
        A user index outside the model.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=2, random_state=0).fit(sp.identity(4, format="coo"), epochs=1)
    >>> items, scores = top_k_items(model, np.arange(4), k=2, exclude=sp.identity(4, format="csr"))
    >>> items.shape, bool((items != np.arange(4)[:, None]).all())
    ((4, 2), True)
    """
    users = np.asarray(users)
    chunks = list(iter_top_k(model, users, k, exclude=exclude, user_features=user_features,
                             item_features=item_features, batch_size=batch_size,
                             num_threads=num_threads))
    if not chunks:
        return np.empty((0, k), np.int32), np.empty((0, k), np.float32)
    return np.vstack([c[1] for c in chunks]), np.vstack([c[2] for c in chunks])


def recommend(
    model,
    user_ids,
    mapping: IdMapping,
    movies: pd.DataFrame,
    k: int = 10,
    *,
    exclude: sp.spmatrix | None = None,
    user_features: sp.spmatrix | None = None,
    item_features: sp.spmatrix | None = None,
    no_history: str | None = None,
) -> pd.DataFrame:
    """Top-k movies for MovieLens users, as titles, genres, years and scores.

    Parameters
    ----------
    model : lightfm.LightFM
    user_ids : int or sequence of int
        External ``userId`` values; unknown ids raise :class:`~helpers.data.UnknownIdError`.
    mapping : IdMapping
    movies : DataFrame
        ``MovieLens.movies``.
    k : int, default 10
    exclude, user_features, item_features
        As in :func:`top_k_items`. A user who has seen all but a few items gets fewer rows.
    no_history : {"popular", "model", "raise"}, optional
        What to do for a user whose row of ``exclude`` is empty: a user the model never saw a
        positive for (pass the training interactions as ``exclude``). Their embedding never
        received a gradient, so the model's score for them is the item biases plus noise from an
        untrained random vector.

        - ``"popular"``: rank by the item biases alone, the model's learned popularity (the score
          of a user vector of zeros and zero bias, the point :func:`fold_in_user` starts from;
          it needs at least one like); the ``score`` column then holds the item bias.
        - ``"model"``: score them like everyone else (right when ``user_features`` describe them).
        - ``"raise"``: raise :class:`ValueError` naming those users.

        Default: ``"popular"`` without ``user_features``, ``"model"`` with them. Without
        ``exclude`` the history is unknown and every user is scored by the model.

    Returns
    -------
    DataFrame
        ``userId``, ``rank`` (1 = best), ``movieId``, ``title``, ``genres``, ``year``, ``score``.

    Raises
    ------
    UnknownIdError
        A user id the mapping does not know.
    ValueError
        ``k`` out of range, an unknown ``no_history`` policy, or users without history under
        ``no_history="raise"``.

    Examples
    --------
    >>> from helpers.data import load_movielens, build_interactions
    >>> from lightfm import LightFM
    >>> ml = load_movielens()
    >>> likes = build_interactions(ml.ratings, threshold=4)
    >>> model = LightFM(random_state=0).fit(likes.matrix, epochs=1)
    >>> recommend(model, [1], likes.mapping, ml.movies, k=3, exclude=likes.matrix).columns.tolist()
    ['userId', 'rank', 'movieId', 'title', 'genres', 'year', 'score']

    userId 442 rated movies but never gave 4 stars: no likes, so they get the popular list.

    >>> no_likes = recommend(model, [442], likes.mapping, ml.movies, k=3, exclude=likes.matrix)
    >>> bool((no_likes["score"].to_numpy() == np.sort(model.item_biases)[::-1][:3].round(3)).all())
    True
    """
    policy = no_history or ("model" if user_features is not None else "popular")
    if policy not in _NO_HISTORY_POLICIES:
        raise ValueError(f"no_history={no_history!r}; expected one of {_NO_HISTORY_POLICIES}")
    user_ids = np.atleast_1d(np.asarray(user_ids))
    rows = mapping.user_index(user_ids)
    items, scores = top_k_items(model, rows, k, exclude=exclude, user_features=user_features,
                                item_features=item_features)
    if exclude is not None and policy != "model":
        empty = sp.csr_matrix(exclude)[rows].getnnz(axis=1) == 0
        if empty.any() and policy == "raise":
            raise ValueError(
                f"userId {_preview(pd.unique(user_ids[empty]).tolist())} has no history in `exclude`: the model "
                "learned nothing about them; pass no_history='popular', or fold in a few likes (fold_in_user)"
            )
        if empty.any():
            item_bias, _ = model.get_item_representations(item_features)
            popular, popular_scores = _top_k_rows(item_bias[None, :].astype(np.float32), k)
            items[empty], scores[empty] = popular[0], popular_scores[0]
    keep = np.isfinite(scores).ravel()
    out = lookup_movies(movies, mapping.item_id(items.ravel()[keep]))
    out.insert(0, "rank", np.tile(np.arange(1, k + 1), len(rows))[keep])
    out.insert(0, "userId", np.repeat(user_ids, k)[keep])
    out["score"] = scores.ravel()[keep].round(3)
    return out


def top_users_for_item(
    model,
    item: int,
    k: int = 100,
    *,
    exclude: sp.spmatrix | None = None,
    user_features: sp.spmatrix | None = None,
    item_features: sp.spmatrix | None = None,
    by: str = "score",
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` users to target with one item: a campaign target list.

    Parameters
    ----------
    model : lightfm.LightFM
    item : int
        Internal item index.
    k : int, default 100
        List length, 1 to the number of users; fewer users come back when fewer are eligible.
    exclude : sparse matrix, optional
        ``users x items``; users with a nonzero in the item's column (they already have it) are left out.
    user_features, item_features : sparse matrix, optional
    by : {"score", "rank"}, default "score"
        ``"score"``: the users with the highest model score for the item (``model.predict`` up to
        float32 rounding).
        ``"rank"``: the users in whose *own* list the item ranks highest (see
        :func:`targeting_scores`: raw scores of different users are not on one scale).

    Returns
    -------
    users : ndarray of int32, best first (internal indices)
    values : ndarray
        The scores (float32, ``by="score"``) or the item's 0-based rank in each user's own list
        (int64, ``by="rank"``; 0 = it would be their first recommendation).

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=2, random_state=0).fit(sp.identity(4, format="coo"), epochs=1)
    >>> users, scores = top_users_for_item(model, 0, k=2, exclude=sp.identity(4, format="csr"))
    >>> 0 in users
    False
    >>> users, ranks = top_users_for_item(model, 0, k=3, exclude=sp.identity(4, format="csr"), by="rank")
    >>> bool((ranks >= 0).all() and (np.diff(ranks) >= 0).all())
    True
    """
    _, item_repr = model.get_item_representations(item_features)
    if not 0 <= item < len(item_repr):
        raise IndexError(f"item index {item} outside 0..{len(item_repr) - 1}")
    priority = targeting_scores(model, [item], by=by, exclude=exclude, user_features=user_features,
                                item_features=item_features)[:, 0]
    _check_k(k, len(priority), "users")
    users, top = _top_k_rows(priority[None, :], k)
    keep = np.isfinite(top[0])
    values = top[0][keep]
    return users[0][keep].astype(np.int32), (values if by == "score" else (-values).astype(np.int64))


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def similar_items(
    model,
    items: np.ndarray | int,
    k: int = 10,
    *,
    item_features: sp.spmatrix | None = None,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Items whose learned representations point the same way (cosine), excluding the item itself.

    Uses ``get_item_representations(item_features)``, so feature embeddings count. Query items are
    processed in batches: an ``items x items`` similarity matrix is never built.

    Parameters
    ----------
    model : lightfm.LightFM
    items : int or array of int
        Internal item indices to query.
    k : int, default 10
    item_features : sparse matrix, optional
    batch_size : int, default 1024
        Query items per batch.

    Returns
    -------
    neighbours : ndarray of int32, shape (n_queries, k)
    cosine : ndarray of float32, shape (n_queries, k)

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=3, random_state=0).fit(sp.identity(5, format="coo"), epochs=1)
    >>> neighbours, cosine = similar_items(model, 2, k=3)
    >>> 2 in neighbours[0], bool((cosine <= 1.0001).all())
    (False, True)
    """
    _, item_repr = model.get_item_representations(item_features)
    unit = _unit_rows(item_repr.astype(np.float32))
    queries = np.atleast_1d(np.asarray(items))
    if queries.size and (queries.min() < 0 or queries.max() >= len(unit)):
        raise IndexError(f"item indices must lie in 0..{len(unit) - 1}")
    _check_k(k, len(unit) - 1, "other items")
    out_items, out_scores = [], []
    for start in range(0, len(queries), batch_size):
        batch = queries[start : start + batch_size]
        cosine = unit[batch] @ unit.T
        cosine[np.arange(len(batch)), batch] = -np.inf
        top, top_scores = _top_k_rows(cosine, k)
        out_items.append(top.astype(np.int32))
        out_scores.append(top_scores)
    return np.vstack(out_items), np.vstack(out_scores)


def explain(
    model,
    item: int,
    liked: np.ndarray,
    n: int = 3,
    *,
    item_features: sp.spmatrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The user's liked items closest (cosine) to a recommended item: "because you liked ...".

    Parameters
    ----------
    model : lightfm.LightFM
    item : int
        Internal index of the recommended item.
    liked : array of int
        Internal indices of the items the user liked.
    n : int, default 3
        How many reasons; fewer when the user liked fewer items.
    item_features : sparse matrix, optional

    Returns
    -------
    items : ndarray of int32, closest first
    cosine : ndarray of float32

    Raises
    ------
    ValueError
        If ``liked`` is empty.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=3, random_state=0).fit(sp.identity(5, format="coo"), epochs=1)
    >>> reasons, _ = explain(model, 0, np.array([1, 2, 3]), n=2)
    >>> len(reasons)
    2
    """
    liked = np.unique(np.asarray(liked))
    if not liked.size:
        raise ValueError("the user has no liked items to explain a recommendation with")
    _, item_repr = model.get_item_representations(item_features)
    unit = _unit_rows(item_repr[np.r_[item, liked]].astype(np.float32))
    cosine = unit[1:] @ unit[0]
    order = np.argsort(-cosine, kind="stable")[: max(1, n)]
    return liked[order].astype(np.int32), cosine[order]


def naive_average_user(
    model,
    liked: np.ndarray,
    *,
    item_features: sp.spmatrix | None = None,
) -> np.ndarray:
    """A new user's vector as the plain mean of the liked items' embeddings.

    The quick recipe many tutorials use, kept here to compare with :func:`fold_in_user`: it ignores
    the scale LightFM's dot products live at and, scored without item biases, it ignores popularity.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=3, random_state=0).fit(sp.identity(5, format="coo"), epochs=1)
    >>> naive_average_user(model, np.array([0, 1])).shape
    (3,)
    """
    liked = np.asarray(liked)
    if not liked.size:
        raise ValueError("naive averaging needs at least one liked item")
    _, item_repr = model.get_item_representations(item_features)
    return item_repr[liked].mean(axis=0)


def fold_in_user(
    model,
    liked: np.ndarray,
    *,
    item_features: sp.spmatrix | None = None,
    l2: float = 0.3,
    max_iter: int = 200,
) -> np.ndarray:
    """Fit a new user's vector from a few liked items, with every item parameter frozen.

    Minimises the BPR objective (Rendle et al., 2009) over *all* (liked, not-liked) pairs plus an
    L2 penalty,

    ``sum_{i in liked} mean_{j not liked} -log sigmoid(s_i - s_j) + l2 * |q|^2``,
    ``s_i = q . p_i + b_i``,

    a convex problem solved to convergence (full batch, L-BFGS from ``q = 0``), so the result is
    deterministic. This is not the loss a WARP model was trained with: WARP draws random items (at
    most ``max_sampled``) until one that is not a like scores within a margin of 1 of the liked
    item (a drawn like is skipped but counts as a draw), weights the step by the log of the rank
    the number of draws implies, ``weight * log(floor((n_items - 1) / draws))`` capped at 10,
    takes Adagrad steps, has no L2 penalty by default (``item_alpha`` and ``user_alpha`` are 0)
    and learns a user bias. Item biases enter the scores, so the folded-in user inherits the
    popularity the model learned; a user bias adds the same constant to every item's score and
    changes no ranking, so fold-in has none (it is 0).

    Parameters
    ----------
    model : lightfm.LightFM
        A fitted model (its item embeddings and biases are read, never changed).
    liked : array of int
        Internal indices of the items the new user liked (at least one).
    item_features : sparse matrix, optional
    l2 : float, default 0.3
        Penalty on the vector's squared length; larger keeps the user closer to "popular items".
        0.3 had the best mean precision@10 of 0.03, 0.1, 0.3 and 1 at 5 revealed likes on the
        *validation* users of notebook 06 (ml-latest-small, held-out users, 3 seeds, 30-factor
        WARP), but every other value was within noise of it (all three paired intervals include
        zero); the users that notebook reports were not used. Tune it on your own validation users.
    max_iter : int, default 200

    Returns
    -------
    ndarray
        The user vector, to score with :func:`score_user_vector`.

    Raises
    ------
    ValueError
        No liked item, an index outside the catalog, or ``l2`` < 0.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=3, random_state=0).fit(sp.identity(5, format="coo"), epochs=1)
    >>> fold_in_user(model, np.array([0, 1])).shape
    (3,)
    """
    item_bias, item_repr = model.get_item_representations(item_features)
    liked = np.unique(np.asarray(liked, dtype=np.int64))
    n_items = len(item_bias)
    if not liked.size:
        raise ValueError("fold-in needs at least one liked item")
    if liked.min() < 0 or liked.max() >= n_items:
        raise ValueError(f"liked item indices must lie in 0..{n_items - 1}")
    if l2 < 0:
        raise ValueError(f"l2={l2}; expected ≥ 0")
    vectors = item_repr.astype(np.float64)
    bias = item_bias.astype(np.float64)
    others = np.ones(n_items, dtype=bool)
    others[liked] = False
    positives, negatives = vectors[liked], vectors[others]

    def objective(q: np.ndarray) -> tuple[float, np.ndarray]:
        pos = positives @ q + bias[liked]
        neg = negatives @ q + bias[others]
        diff = pos[:, None] - neg[None, :]  # liked x not-liked, small: a handful of rows
        loss = np.logaddexp(0.0, -diff).mean(axis=1).sum() + l2 * q @ q
        weight = -scipy.special.expit(-diff) / diff.shape[1]
        grad = weight.sum(axis=1) @ positives - weight.sum(axis=0) @ negatives + 2 * l2 * q
        return float(loss), grad

    start = np.zeros(vectors.shape[1])
    result = scipy.optimize.minimize(objective, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return result.x.astype(np.float32)


def score_user_vector(
    model,
    vector: np.ndarray,
    *,
    use_item_bias: bool = True,
    item_features: sp.spmatrix | None = None,
) -> np.ndarray:
    """Scores of every item for a user vector that is not in the model (a new user).

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=3, random_state=0).fit(sp.identity(5, format="coo"), epochs=1)
    >>> score_user_vector(model, np.zeros(3)).shape
    (5,)
    """
    item_bias, item_repr = model.get_item_representations(item_features)
    vector = np.asarray(vector, dtype=np.float32)
    if vector.shape != (item_repr.shape[1],):
        raise ValueError(f"vector has shape {vector.shape}; expected ({item_repr.shape[1]},)")
    scores = item_repr @ vector
    return scores + item_bias if use_item_bias else scores


# ------------------------------------------------------------------------- recent window


@dataclass(frozen=True)
class RecentPicks:
    """What :func:`recommend_from_recent` returns.

    Attributes
    ----------
    recent : DataFrame
        The likes the picks were computed from, newest first: ``movieId``, ``title``, ``genres``,
        ``year``, ``rating``, ``timestamp``.
    picks : DataFrame
        ``rank``, ``movieId``, ``title``, ``genres``, ``year``, ``score``, then ``because`` (the
        title of the recent like closest to the pick, by cosine of item representations) and
        ``similarity`` (that cosine).
    """

    recent: pd.DataFrame
    picks: pd.DataFrame


def recommend_from_recent(
    model,
    ratings: pd.DataFrame,
    user_id,
    mapping: IdMapping,
    movies: pd.DataFrame,
    k: int = 10,
    *,
    window: pd.Timedelta | None = None,
    last_n: int | None = None,
    now: pd.Timestamp | None = None,
    threshold: float | None = 4.0,
    exclude: sp.spmatrix | None = None,
    item_features: sp.spmatrix | None = None,
    l2: float = 0.3,
) -> RecentPicks:
    """"Because you recently watched": picks from the likes in a recent window of one user's history.

    The user's likes inside the window are folded in (:func:`fold_in_user`) as if they were a new
    user's only likes, so the list follows what they liked lately rather than their whole history.
    Each pick names the recent like it is closest to (cosine of item representations).

    Parameters
    ----------
    model : lightfm.LightFM
        A fitted model; its item parameters are read, never changed.
    ratings : DataFrame
        ``userId``, ``movieId``, ``rating``, ``timestamp`` rows: the history the product knows
        (the *training* rows when you evaluate).
    user_id : int
        External ``userId``; the user needs rows in ``ratings`` but not in the model.
    mapping : IdMapping
        The model's ids.
    movies : DataFrame
        ``MovieLens.movies``.
    k : int, default 10
        List length; fewer rows when fewer unseen items remain.
    window : Timedelta, optional
        Use the likes with ``now - window < timestamp <= now``.
    last_n : int, optional
        Use the ``last_n`` most recent likes up to ``now`` instead (ties in time broken by
        ``movieId``). Give exactly one of ``window`` and ``last_n``.
    now : Timestamp, optional
        The end of the window; defaults to the user's latest row in ``ratings``.
    threshold : float or None, default 4.0
        A row is a like when ``rating >= threshold``; ``None`` counts every row.
    exclude : sparse matrix, optional
        ``users x items``; the user's nonzero cells are never picked (when the user is in
        ``mapping``). Every movie the user rated in ``ratings``, liked or not, is always excluded:
        to compare these picks with :func:`recommend`'s, give ``recommend`` the same exclusion
        (every rated movie, not only the likes), or the two lists compete for different movies.
    item_features : sparse matrix, optional
        The item features the model was trained with.
    l2 : float, default 0.3
        Passed to :func:`fold_in_user`; the same default as there. It was not tuned for recent
        windows (fold-in's value was chosen for new users, not for a user's last likes); choose it
        on validation users of your own before you rely on it.

    Returns
    -------
    RecentPicks
        ``recent`` (the likes used) and ``picks`` (the list with its reasons).

    Raises
    ------
    UnknownIdError
        ``user_id`` has no rows in ``ratings``, or a recent like is a movie the model does not know.
    ValueError
        Not exactly one of ``window`` / ``last_n``, a non-positive window or ``last_n``, a missing
        column, ``k`` out of range, or no like inside the window (the message gives the date of
        the last like).

    Examples
    --------
    >>> from helpers.data import load_movielens, build_interactions
    >>> from lightfm import LightFM
    >>> ml = load_movielens()
    >>> likes = build_interactions(ml.ratings, threshold=4)
    >>> model = LightFM(no_components=8, random_state=0).fit(likes.matrix, epochs=2)
    >>> recent = recommend_from_recent(model, ml.ratings, 1, likes.mapping, ml.movies, k=3, last_n=5)
    >>> len(recent.recent), recent.picks.columns.tolist()[-2:]
    (5, ['because', 'similarity'])
    >>> bool(recent.picks["because"].isin(recent.recent["title"]).all())
    True
    """
    if (window is None) == (last_n is None):
        raise ValueError("give exactly one of window= (a pd.Timedelta) and last_n= (a number of likes)")
    if window is not None and pd.Timedelta(window) <= pd.Timedelta(0):
        raise ValueError(f"window={window!r}; expected a positive pd.Timedelta")
    if last_n is not None and (isinstance(last_n, bool) or not isinstance(last_n, (int, np.integer)) or last_n < 1):
        raise ValueError(f"last_n={last_n!r}; expected a whole number >= 1")
    missing = [c for c in ("userId", "movieId", "rating", "timestamp") if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings lacks column(s) {missing}; it has {list(ratings.columns)}")
    history = ratings[ratings["userId"] == user_id]
    if history.empty:
        raise UnknownIdError(f"userId {user_id!r} has no rows in ratings: no history to take a recent window from")
    end = history["timestamp"].max() if now is None else pd.Timestamp(now)
    liked = history[history["timestamp"] <= end]
    if threshold is not None:
        liked = liked[liked["rating"] >= threshold]
    liked = liked.sort_values(["timestamp", "movieId"], ascending=False, kind="stable")
    recent = liked[liked["timestamp"] > end - pd.Timedelta(window)] if window is not None else liked.head(last_n)
    if recent.empty:
        last_like = f"their last like was on {liked['timestamp'].max():%Y-%m-%d}" if len(liked) else "they have no like at all"
        span = pd.Timedelta(window)
        span_text = f"{span.days} days" if span == pd.Timedelta(days=span.days) else str(span)
        raise ValueError(
            f"userId {user_id!r} has no like in the {span_text} up to {end:%Y-%m-%d}; {last_like}. "
            "Widen the window or pass last_n="
        )
    recent_items = mapping.item_index(recent["movieId"].to_numpy())
    item_bias, item_repr = model.get_item_representations(item_features)
    _check_k(k, len(item_bias), "items in the catalog")
    scores = score_user_vector(model, fold_in_user(model, recent_items, item_features=item_features, l2=l2),
                               item_features=item_features).astype(np.float32)
    seen = mapping.items.get_indexer(history["movieId"].to_numpy())
    scores[seen[seen >= 0]] = -np.inf
    if exclude is not None and user_id in mapping.users:
        scores[sp.csr_matrix(exclude)[mapping.user_index([user_id])[0]].indices] = -np.inf
    top, top_scores = _top_k_rows(scores[None, :], k)
    keep = np.isfinite(top_scores[0])
    top, top_scores = top[0][keep], top_scores[0][keep]

    # The reason for each pick: the recent like whose representation points the same way.
    unique_recent = np.unique(recent_items)
    cosine = _unit_rows(item_repr[top].astype(np.float32)) @ _unit_rows(item_repr[unique_recent].astype(np.float32)).T
    closest = np.argmax(cosine, axis=1)
    picks = lookup_movies(movies, mapping.item_id(top))
    picks.insert(0, "rank", np.arange(1, len(top) + 1))
    picks["score"] = top_scores.round(3)
    picks["because"] = lookup_movies(movies, mapping.item_id(unique_recent[closest]))["title"].to_numpy()
    picks["similarity"] = cosine[np.arange(len(top)), closest].round(3)
    shown = lookup_movies(movies, recent["movieId"].to_numpy())
    shown["rating"] = recent["rating"].to_numpy()
    shown["timestamp"] = recent["timestamp"].to_numpy()
    return RecentPicks(recent=shown, picks=picks)


# ------------------------------------------------------------------------------- export


def export_top_k_csv(
    model,
    path: str | Path,
    mapping: IdMapping,
    k: int = 10,
    *,
    exclude: sp.spmatrix | None = None,
    user_ids=None,
    user_features: sp.spmatrix | None = None,
    item_features: sp.spmatrix | None = None,
    batch_size: int | None = None,
    float_format: str = "%.4f",
) -> int:
    """Write the top-k list of every user to a new CSV file, one batch of users at a time.

    Memory stays at one batch of scores and its argpartition indices (about 3x the scores) per
    thread of :func:`iter_top_k` (two by default), however many users there are: each batch is
    appended to the file as soon as it is ranked. The file must not exist yet; if anything fails
    halfway, the partial file is removed, so a file that exists is complete.

    Parameters
    ----------
    model : lightfm.LightFM
    path : str or Path
        The CSV file to create (its folder must exist).
    mapping : IdMapping
        Turns internal indices into ``userId`` and ``movieId``.
    k : int, default 10
    exclude : sparse matrix, optional
        ``users x items``; nonzero cells are never exported (pass the training interactions).
        Slots a user cannot fill are left out, so a user can have fewer than ``k`` rows.
    user_ids : sequence of int, optional
        External user ids to export; all users of ``mapping`` by default.
    user_features, item_features : sparse matrix, optional
    batch_size : int, optional
        Users per batch (:func:`batch_size_for` by default).
    float_format : str, default "%.4f"
        Format of the ``score`` column.

    Returns
    -------
    int
        Rows written (without the header).

    Raises
    ------
    FileExistsError
        If ``path`` exists: an export never overwrites.
    UnknownIdError, ValueError, IndexError
        As :func:`recommend` and :func:`top_k_items`.

    Examples
    --------
    >>> import tempfile
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=2, random_state=0).fit(sp.identity(4, format="coo"), epochs=1)
    >>> mapping = IdMapping(pd.Index([10, 20, 30, 40]), pd.Index([1, 2, 3, 4]))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     rows = export_top_k_csv(model, Path(folder) / "top2.csv", mapping, k=2, batch_size=3)
    ...     header = (Path(folder) / "top2.csv").read_text().splitlines()[0]
    >>> rows, header
    (8, 'userId,rank,movieId,score')
    """
    target = Path(path)
    if target.exists():
        raise FileExistsError(f"{target.name} already exists; an export never overwrites: choose a new name or delete it")
    rows = np.arange(len(mapping.users)) if user_ids is None else mapping.user_index(np.atleast_1d(np.asarray(user_ids)))
    batches = iter_top_k(model, rows, k, exclude=exclude, user_features=user_features,
                         item_features=item_features, batch_size=batch_size)
    first = next(batches, None)  # bad k, shapes or indices raise here, before any file exists
    written = 0
    try:
        with target.open("x", newline="") as handle:  # "x": create, and fail if someone created it meanwhile
            handle.write("userId,rank,movieId,score\n")
            for batch, items, scores in itertools.chain([] if first is None else [first], batches):
                keep = np.isfinite(scores).ravel()
                chunk = pd.DataFrame({
                    "userId": np.repeat(mapping.user_id(batch), k)[keep],
                    "rank": np.tile(np.arange(1, k + 1), len(batch))[keep],
                    "movieId": mapping.item_id(items.ravel()[keep]),
                    "score": scores.ravel()[keep],
                })
                chunk.to_csv(handle, header=False, index=False, float_format=float_format)
                written += len(chunk)
    except FileExistsError:
        raise
    except BaseException:
        target.unlink(missing_ok=True)  # never leave a half-written export behind
        raise
    return written


# ----------------------------------------------------------------------------- campaigns


def targeting_scores(
    model,
    items: np.ndarray,
    *,
    by: str = "rank",
    exclude: sp.spmatrix | None = None,
    user_features: sp.spmatrix | None = None,
    item_features: sp.spmatrix | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """How strongly to target each user with each item: higher means earlier in the campaign list.

    Raw LightFM scores rank the items of *one* user; across users they are not on one scale (the
    user bias and the length of the user's vector shift all of a user's scores, and ranking losses
    such as WARP never compare two users). ``by="rank"`` makes users comparable: it uses the
    position the item takes in the user's own list of not-excluded items.

    Parameters
    ----------
    model : lightfm.LightFM
    items : array of int
        Internal indices of the items to target.
    by : {"rank", "score"}, default "rank"
        ``"rank"``: minus the item's 0-based rank in the user's own list (0 = their first
        recommendation, so ``-0`` is the best value). ``"score"``: the model score itself.
    exclude : sparse matrix, optional
        ``users x items``; excluded items take no place in a user's list, and a user who already
        has the item gets ``-inf`` for it (never targeted).
    user_features, item_features : sparse matrix, optional
    batch_size : int, optional
        Users per batch for ``by="rank"`` (:func:`batch_size_for` by default): only one batch of
        ``users x items`` scores exists at a time.

    Returns
    -------
    ndarray of float32, shape (n_users, len(items))

    Raises
    ------
    ValueError
        Unknown ``by``, no items, or ``exclude`` of the wrong shape.
    IndexError
        An item index outside the model.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=2, random_state=0).fit(sp.identity(4, format="coo"), epochs=1)
    >>> ranks = -targeting_scores(model, [0, 3], by="rank")
    >>> ranks.shape, bool(((ranks >= 0) & (ranks <= 3)).all())
    ((4, 2), True)
    """
    if by not in ("rank", "score"):
        raise ValueError(f"by={by!r}; expected 'rank' or 'score'")
    user_bias, user_repr = model.get_user_representations(user_features)
    item_bias, item_repr = model.get_item_representations(item_features)
    n_users, n_items = len(user_bias), len(item_bias)
    items = np.atleast_1d(np.asarray(items, dtype=np.int64))
    if not items.size:
        raise ValueError("items is empty; give at least one item index")
    if items.min() < 0 or items.max() >= n_items:
        raise IndexError(f"item indices must lie in 0..{n_items - 1}")
    if exclude is not None:
        if exclude.shape != (n_users, n_items):
            raise ValueError(f"exclude has shape {exclude.shape}; expected (users, items) = {(n_users, n_items)}")
        exclude = sp.csr_matrix(exclude)
    if by == "score":
        out = (user_repr @ item_repr[items].T + item_bias[items] + user_bias[:, None]).astype(np.float32)
        if exclude is not None:
            out[exclude[:, items].toarray() != 0] = -np.inf
        return out
    out = np.empty((n_users, len(items)), dtype=np.float32)
    batch_size = batch_size or batch_size_for(n_items)
    for start in range(0, n_users, batch_size):
        batch = np.arange(start, min(start + batch_size, n_users))
        scores = user_repr[batch] @ item_repr.T + item_bias
        if exclude is not None:
            block = exclude[batch]
            scores[np.repeat(np.arange(len(batch)), np.diff(block.indptr)), block.indices] = -np.inf
        wanted = scores[:, items]
        ordered = np.sort(scores, axis=1)
        for row in range(len(batch)):  # items scoring strictly higher = the rank
            out[start + row] = -(n_items - np.searchsorted(ordered[row], wanted[row], side="right"))
        out[start : start + len(batch)][~np.isfinite(wanted)] = -np.inf
    return out


def targeting_curve(
    priority: np.ndarray,
    items: np.ndarray,
    test: sp.spmatrix,
    *,
    exclude: sp.spmatrix | None = None,
    max_users: int | None = None,
) -> pd.DataFrame:
    """Expected hits of a campaign against its list size, measured on held-out interactions.

    For each item (a column of ``priority``), the eligible users are sorted by priority, highest
    first (ties: lower user index first), and a *hit* is a targeted user who has the item in
    ``test``. The curve averages, over the items, the cumulative hits of the first ``n`` users for
    every ``n``, beside what ``n`` eligible users picked at random would give. Use it to choose a
    list size and to compare targeting rules; model scores alone say nothing about hit rates.

    Parameters
    ----------
    priority : ndarray, shape (n_users, len(items))
        Higher = target earlier: :func:`targeting_scores`, or any rule (e.g. user activity)
        broadcast to that shape. ``-inf`` or NaN marks a user as not eligible.
    items : array of int
        Internal indices of the items, one per column of ``priority``.
    test : sparse matrix
        ``users x items`` held-out positives, disjoint from what the model was trained on.
    exclude : sparse matrix, optional
        ``users x items``; users who already have an item are not eligible for its campaign.
    max_users : int, optional
        Longest list size on the curve; all users by default.

    Returns
    -------
    DataFrame
        One row per list size ``n`` (1 .. max_users): ``list_size``, ``hits`` (mean cumulative
        hits), ``random_hits`` (mean expected hits of ``n`` random eligible users), ``recall``
        (mean share of each item's held-out positives reached; items without any are left out of
        this mean) and ``hit_rate`` (``hits / list_size``).

    Raises
    ------
    ValueError
        No items, shapes that do not match, or ``max_users`` out of range.

    Examples
    --------
    >>> test = sp.csr_matrix(np.array([[1, 0], [0, 0], [1, 1]]))
    >>> priority = np.array([[3.0, 1.0], [2.0, 2.0], [1.0, 3.0]])
    >>> targeting_curve(priority, [0, 1], test)[["list_size", "hits", "random_hits"]].round(2)
       list_size  hits  random_hits
    0          1   1.0          0.5
    1          2   1.0          1.0
    2          3   1.5          1.5
    """
    priority = np.asarray(priority, dtype=np.float64)
    items = np.atleast_1d(np.asarray(items, dtype=np.int64))
    if not items.size:
        raise ValueError("items is empty; give at least one item index")
    if priority.ndim != 2 or priority.shape[1] != len(items):
        raise ValueError(f"priority has shape {priority.shape}; expected (users, {len(items)}), one column per item")
    n_users = priority.shape[0]
    for name, matrix in (("test", test), ("exclude", exclude)):
        if matrix is not None and matrix.shape[0] != n_users:
            raise ValueError(f"{name} has {matrix.shape[0]} rows but priority has {n_users} users")
        if matrix is not None and (items.min() < 0 or items.max() >= matrix.shape[1]):
            raise IndexError(f"item indices must lie in 0..{matrix.shape[1] - 1} (the columns of {name})")
    max_users = n_users if max_users is None else max_users
    _check_k(max_users, n_users, "users")
    test_cols = sp.csc_matrix(test)
    excluded = sp.csc_matrix(exclude) if exclude is not None else None
    sizes = np.arange(1, max_users + 1)
    hits, random_hits, recalls = np.zeros(max_users), np.zeros(max_users), []
    for column, item in enumerate(items):
        eligible = np.isfinite(priority[:, column])
        if excluded is not None:
            eligible[excluded[:, item].nonzero()[0]] = False
        positive = np.zeros(n_users, dtype=bool)
        positive[test_cols[:, item].nonzero()[0]] = True
        positive &= eligible
        candidates = np.flatnonzero(eligible)
        order = candidates[np.argsort(-priority[candidates, column], kind="stable")]
        found = np.cumsum(positive[order])[:max_users]
        found = np.pad(found, (0, max_users - len(found)), mode="edge") if len(found) else np.zeros(max_users)
        hits += found
        random_hits += np.minimum(sizes, len(candidates)) * positive.sum() / max(len(candidates), 1)
        if positive.any():
            recalls.append(found / positive.sum())
    curve = pd.DataFrame({
        "list_size": sizes,
        "hits": hits / len(items),
        "random_hits": random_hits / len(items),
        "recall": np.mean(recalls, axis=0) if recalls else np.zeros(max_users),
    })
    curve["hit_rate"] = curve["hits"] / curve["list_size"]
    return curve
