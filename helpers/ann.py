"""Approximate nearest-neighbour retrieval over a LightFM model's item vectors, with faiss.

Exact top-k scores every item for every query (:func:`helpers.recommend.top_k_items`): its cost
grows with users x items. An HNSW graph index (Malkov & Yashunin, 2018) computes only part of them,
at the price of sometimes missing one of the true top k; :func:`recall_at_k` measures how often.
The part is not small on a short catalog and shrinks slowly as the catalog grows: with ``m=32`` and
efSearch 64, faiss counted (``faiss.cvar.hnsw_stats.ndis``) about 500 inner products per query on
notebook 07's 844 items, 1,400 on 8,440 and 2,100 on 84,432 (59 %, 16 % and 2.5 % of the catalog;
the last in its exercise 5).

Two indexes:

- ``metric="inner_product"``: maximum inner product search for recommendations. Each item vector is
  ``[embedding, item bias]`` and each user query ``[embedding, 1]``, so the inner product is the
  model's score minus the user bias, which shifts a user's whole row equally and cannot change the
  ranking (it is added back to the returned scores, which then equal ``model.predict`` up to float32
  rounding: the sums run in another order, so they differ by a few units of 1e-6).
- ``metric="cosine"``: similar items; vectors are scaled to unit length, so inner product = cosine.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import scipy.sparse as sp

from helpers.recommend import _check_k, _check_users_and_exclude, _unit_rows, item_side

__all__ = ["ItemIndex", "ann_similar_items", "ann_top_k", "build_item_index", "recall_at_k"]

_METRICS = ("inner_product", "cosine")


@dataclass
class ItemIndex:
    """A faiss index over a model's items and how it was built (see :func:`build_item_index`)."""

    index: faiss.Index
    metric: str
    n_items: int
    exact: bool

    @property
    def ef_search(self) -> int | None:
        """Candidates an HNSW search keeps (higher: better recall, slower); None for an exact index."""
        return None if self.exact else int(self.index.hnsw.efSearch)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if self.exact:
            raise ValueError("an exact index has no ef_search")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"ef_search={value!r}; expected a whole number ≥ 1")
        self.index.hnsw.efSearch = int(value)


def build_item_index(
    model,
    item_features: sp.spmatrix | None = None,
    *,
    metric: str = "inner_product",
    exact: bool = False,
    m: int = 32,
    ef_construction: int = 200,
    ef_search: int = 128,
    num_threads: int = 1,
) -> ItemIndex:
    """Index a fitted model's item vectors for fast top-k retrieval.

    Parameters
    ----------
    model : lightfm.LightFM
        A fitted model.
    item_features : sparse matrix, optional
        The item features the model was trained with.
    metric : {"inner_product", "cosine"}, default "inner_product"
        ``"inner_product"`` for user recommendations (:func:`ann_top_k`), ``"cosine"`` for similar
        items (:func:`ann_similar_items`).
    exact : bool, default False
        True builds a flat (brute-force) index instead of HNSW: the reference, recall 1.
    m : int, default 32
        HNSW links per node (memory grows with it; recall too).
    ef_construction, ef_search : int, default 200 and 128
        Candidate-list sizes while building and while searching; raise them for recall.
    num_threads : int, default 1
        OpenMP threads faiss uses from now on (it is a process-wide setting). With one thread the
        HNSW graph, and so every result, is the same on every run.

    Returns
    -------
    ItemIndex

    Raises
    ------
    ValueError
        An unknown metric or a size parameter below 1.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=4, random_state=0).fit(sp.random(30, 50, density=0.2, format="coo", random_state=0), epochs=2)
    >>> index = build_item_index(model)
    >>> index.index.ntotal, index.index.d, index.ef_search
    (50, 5, 128)
    """
    if metric not in _METRICS:
        raise ValueError(f"metric={metric!r}; expected one of {_METRICS}")
    for name, value in (("m", m), ("ef_construction", ef_construction), ("ef_search", ef_search),
                        ("num_threads", num_threads)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}={value!r}; expected a whole number ≥ 1")
    faiss.omp_set_num_threads(int(num_threads))
    if metric == "inner_product":
        vectors = item_side(model, item_features)
    else:
        vectors = _unit_rows(model.get_item_representations(item_features)[1])
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if exact:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, int(m), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(ef_construction)
        index.hnsw.efSearch = int(ef_search)
    index.add(vectors)
    return ItemIndex(index=index, metric=metric, n_items=len(vectors), exact=exact)


def ann_top_k(
    index: ItemIndex,
    model,
    users: np.ndarray,
    k: int = 10,
    *,
    user_features: sp.spmatrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k items per user from an ``"inner_product"`` index, best first.

    Nothing is excluded: to drop items a user already has, ask for ``k`` plus the most any of
    them has and filter (the exact :func:`helpers.recommend.top_k_items` takes ``exclude``).

    Parameters
    ----------
    index : ItemIndex
        Built with ``metric="inner_product"`` from the same model.
    model : lightfm.LightFM
    users : array of int
        Internal user indices.
    k : int, default 10
    user_features : sparse matrix, optional

    Returns
    -------
    items : ndarray of int32, shape (len(users), k)
    scores : ndarray of float32, shape (len(users), k)
        Including the user bias: ``model.predict`` for those pairs up to float32 rounding (faiss sums
        in another order; differences of a few units of 1e-6).

    Raises
    ------
    ValueError
        A cosine index, or ``k`` out of range.
    IndexError
        A user index outside the model.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=4, random_state=0).fit(sp.random(30, 50, density=0.2, format="coo", random_state=0), epochs=2)
    >>> items, scores = ann_top_k(build_item_index(model), model, np.arange(3), k=5)
    >>> items.shape, bool(np.allclose(scores[0], model.predict(0, items[0]), atol=1e-4))
    ((3, 5), True)
    """
    if index.metric != "inner_product":
        raise ValueError(f"ann_top_k needs an 'inner_product' index; this one is {index.metric!r}")
    _check_k(k, index.n_items, "items the index can return")
    user_bias, user_repr = model.get_user_representations(user_features)
    users, _ = _check_users_and_exclude(users, None, len(user_bias), index.n_items)
    queries = np.hstack([user_repr[users], np.ones((len(users), 1), dtype=user_repr.dtype)])
    scores, items = index.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return items.astype(np.int32), (scores + user_bias[users, None]).astype(np.float32)


def ann_similar_items(index: ItemIndex, model, items: np.ndarray | int, k: int = 10, *,
                      item_features: sp.spmatrix | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Approximate most-similar items (cosine) from a ``"cosine"`` index, the item itself left out.

    The approximate twin of :func:`helpers.recommend.similar_items`.

    Parameters
    ----------
    index : ItemIndex
        Built with ``metric="cosine"`` from the same model (and ``item_features``).
    model : lightfm.LightFM
    items : int or array of int
        Internal item indices to query.
    k : int, default 10
        Neighbours per item, at most ``n_items - 1``.
    item_features : sparse matrix, optional

    Returns
    -------
    neighbours : ndarray of int32, shape (n_queries, k)
    cosine : ndarray of float32, shape (n_queries, k)

    Raises
    ------
    ValueError
        An inner-product index, or ``k`` out of range.
    IndexError
        An item index outside the index.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> model = LightFM(no_components=4, random_state=0).fit(sp.random(30, 50, density=0.2, format="coo", random_state=0), epochs=2)
    >>> neighbours, cosine = ann_similar_items(build_item_index(model, metric="cosine"), model, [7], k=3)
    >>> neighbours.shape, 7 in neighbours
    ((1, 3), False)
    """
    if index.metric != "cosine":
        raise ValueError(f"ann_similar_items needs a 'cosine' index; this one is {index.metric!r}")
    _check_k(k, index.n_items - 1, "items the index can return")
    queries = np.atleast_1d(np.asarray(items, dtype=np.int64))
    if queries.size and (queries.min() < 0 or queries.max() >= index.n_items):
        raise IndexError(f"item indices must lie in 0..{index.n_items - 1}")
    _, item_repr = model.get_item_representations(item_features)
    unit = np.ascontiguousarray(_unit_rows(item_repr[queries]), dtype=np.float32)
    # One extra neighbour, because the query item finds itself; drop it wherever it appears.
    cosine, found = index.index.search(unit, k + 1)
    keep = found != queries[:, None]
    rows = [found[i][keep[i]][:k] for i in range(len(queries))]
    sims = [cosine[i][keep[i]][:k] for i in range(len(queries))]
    return np.array(rows, dtype=np.int32).reshape(len(queries), k), np.array(sims, dtype=np.float32).reshape(len(queries), k)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row of ``exact`` (the true top k) that ``approx`` also found.

    Order is ignored: recall@10 = 0.95 means that on average 9.5 of the 10 true best items were
    retrieved.

    Parameters
    ----------
    approx, exact : array of int, shape (n_queries, k)

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Shapes that differ or are not two-dimensional, or no queries.

    Examples
    --------
    >>> recall_at_k(np.array([[1, 2], [3, 9]]), np.array([[2, 1], [3, 4]]))
    0.75
    """
    approx, exact = np.asarray(approx), np.asarray(exact)
    if approx.ndim != 2 or approx.shape != exact.shape:
        raise ValueError(f"approx has shape {approx.shape} and exact {exact.shape}; expected equal (queries, k)")
    if approx.shape[0] == 0 or approx.shape[1] == 0:
        raise ValueError("no queries to compare; expected at least one row and one column")
    # k x k comparisons per row: cheap for list lengths like 10, and no Python loop over users.
    hits = (exact[:, :, None] == approx[:, None, :]).any(axis=2).sum()
    return float(hits / exact.size)
