"""Item and user feature matrices for hybrid LightFM models, with readable feature labels.

LightFM represents a user or an item as the sum of the embeddings of its features, weighted by the
feature matrix row. Each builder here returns a :class:`Features`: a CSR matrix whose rows follow an
:class:`~helpers.data.IdMapping` and whose columns carry labels such as ``"genre:Sci-Fi"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from helpers.data import IdMapping, UnknownIdError, _check_columns, _preview

__all__ = [
    "Features",
    "check_feature_shapes",
    "item_features",
    "similar_features",
    "stack_features",
    "training_tags",
    "user_features",
    "without_identity",
]


@dataclass(frozen=True)
class Features:
    """A feature matrix and the label of each column.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        ``entities x features``, float32, rows in mapping order.
    labels : pandas.Index
        ``labels[j]`` names column ``j``, e.g. ``"genre:Comedy"``, ``"tag:space"``, ``"item:260"``.
    """

    matrix: sp.csr_matrix
    labels: pd.Index

    def __post_init__(self) -> None:
        if self.matrix.shape[1] != len(self.labels):
            raise ValueError(f"matrix has {self.matrix.shape[1]} columns but {len(self.labels)} labels")
        if not pd.Index(self.labels).is_unique:
            raise ValueError("feature labels must be unique")

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def index_of(self, labels: Sequence[str]) -> np.ndarray:
        """Column indices of feature labels; unknown labels raise :class:`~helpers.data.UnknownIdError`."""
        positions = self.labels.get_indexer(list(labels))
        if (positions < 0).any():
            missing = [label for label, p in zip(labels, positions) if p < 0]
            raise UnknownIdError(f"feature {_preview(missing)} not among the {len(self.labels):,} feature labels")
        return positions

    def of(self, row: int) -> pd.Series:
        """The non-zero features of one row (internal index) as ``label -> weight``."""
        if not 0 <= row < self.matrix.shape[0]:
            raise IndexError(f"row {row} outside 0..{self.matrix.shape[0] - 1}")
        start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
        order = np.argsort(self.matrix.indices[start:end], kind="stable")  # column order, whatever the storage order
        columns = self.matrix.indices[start:end][order]
        return pd.Series(self.matrix.data[start:end][order], index=self.labels[columns])


def item_features(
    movies: pd.DataFrame,
    mapping: IdMapping,
    *,
    identity: bool = True,
    genres: bool = True,
    decade: bool = False,
    tags: pd.DataFrame | None = None,
    max_tags: int = 300,
    min_tag_movies: int = 2,
    tfidf: bool = False,
    normalize: bool = True,
    fallback: str | None = None,
) -> Features:
    """Item features from genres, release decade and user tags, rows in ``mapping.items`` order.

    Parameters
    ----------
    movies : DataFrame
        ``MovieLens.movies``; must hold every item of ``mapping``.
    mapping : IdMapping
        The interaction mapping the model trains on.
    identity : bool, default True
        Add one feature per item (``item:<id>``). With it, a warm item keeps a free embedding of
        its own; without it (features only), items with equal features are indistinguishable but
        brand-new items are scored exactly like old ones.
    genres : bool, default True
        One feature per genre (``genre:<name>``).
    decade : bool, default False
        One feature per release decade (``decade:1990s``); items with no year get none.
    tags : DataFrame, optional
        ``MovieLens.tags``, filtered to what training may see first (:func:`training_tags`), or
        test-period tags leak.
        Tags are lower-cased keywords; the ``max_tags`` used on the most movies (at least
        ``min_tag_movies``) form the vocabulary, like a capped CountVectorizer.
    max_tags, min_tag_movies : int
        Vocabulary cap and minimum document frequency for tags.
    tfidf : bool, default False
        Weight tags by tf-idf (times applied x log(n_items / movies with the tag)) instead of 1.
    normalize : bool, default True
        Scale every row to sum to 1, as ``lightfm.data.Dataset`` does, so an item with many
        features does not get a larger representation (and learning step) than one with few.
    fallback : str, optional
        Label of one extra feature (e.g. ``"meta:unknown"``) given to every item that has no
        genre, decade or tag feature. Without it such an item's metadata row is empty: in a
        features-only model its vector and bias are zero, so it scores the user bias alone and
        can outrank every item whose bias was learned negative.

    Returns
    -------
    Features

    Raises
    ------
    ValueError
        If no feature kind is selected, ``max_tags``/``min_tag_movies`` are below 1, or
        ``fallback`` is an empty string.
    UnknownIdError
        If an item of ``mapping`` is missing from ``movies``.

    Examples
    --------
    >>> from helpers.data import load_movielens, build_interactions
    >>> ml = load_movielens()
    >>> built = build_interactions(ml.ratings, threshold=4)
    >>> feats = item_features(ml.movies, built.mapping, identity=False)
    >>> feats.shape[0] == built.shape[1], feats.labels[0]
    (True, 'genre:Action')
    """
    if not (identity or genres or decade or tags is not None):
        raise ValueError("no feature selected: set identity, genres, decade or pass tags")
    if max_tags < 1 or min_tag_movies < 1:
        raise ValueError(f"max_tags={max_tags}, min_tag_movies={min_tag_movies}; expected both ≥ 1")
    if fallback is not None and (not isinstance(fallback, str) or not fallback):
        raise ValueError(f"fallback={fallback!r}; expected a non-empty feature label such as 'meta:unknown'")
    _check_columns(movies, ["movieId", "genres", "year"])
    catalog = movies.set_index("movieId")
    positions = catalog.index.get_indexer(mapping.items)
    if (positions < 0).any():
        raise UnknownIdError(
            f"movieId {_preview(mapping.items[positions < 0].tolist())} in the mapping but not in movies"
        )
    aligned = catalog.iloc[positions].reset_index(drop=True)  # index = internal item position
    n_items = len(mapping.items)
    blocks: list[Features] = []
    if identity:
        blocks.append(_identity(mapping.items, "item"))
    if genres:
        blocks.append(_one_hot(aligned["genres"].explode(), n_items, "genre"))
    if decade:
        decades = (aligned["year"] // 10 * 10).astype("Int64")
        labels = decades.map(lambda d: f"{d}s", na_action="ignore")
        blocks.append(_one_hot(labels, n_items, "decade"))
    if tags is not None:
        blocks.append(_tag_block(tags, mapping, max_tags, min_tag_movies, tfidf))
    if fallback is not None:
        metadata = [block.matrix for block in blocks[1 if identity else 0 :]]
        described = np.zeros(n_items, dtype=bool)
        for matrix in metadata:
            described |= matrix.getnnz(axis=1) > 0
        flag = sp.csr_matrix((~described).astype(np.float32)[:, None])
        blocks.append(Features(flag, pd.Index([fallback])))
    return _finish(stack_features(*blocks), normalize)


def user_features(
    ratings: pd.DataFrame,
    movies: pd.DataFrame,
    mapping: IdMapping,
    *,
    threshold: float = 4.0,
    identity: bool = True,
    genres: bool = True,
    activity_bins: int = 3,
    normalize: bool = True,
) -> Features:
    """User features built only from the ratings you pass (pass the training ratings).

    Parameters
    ----------
    ratings : DataFrame
        Training ratings with ``userId``, ``movieId``, ``rating``. Features must not see the test
        period: a user's taste measured on test ratings is leakage.
    movies : DataFrame
        ``MovieLens.movies``, for genres.
    mapping : IdMapping
        The interaction mapping; users of the mapping with no training ratings get only their
        identity feature (or an empty row).
    threshold : float, default 4.0
        Ratings at or above it count as likes for the genre profile.
    identity : bool, default True
        One feature per user (``user:<id>``).
    genres : bool, default True
        ``likes:<genre>`` weighted by the share of the user's likes in that genre.
    activity_bins : int, default 3
        Quantile bins of the number of ratings (``activity:1of3`` is the least active third);
        0 turns the feature off.
    normalize : bool, default True
        Scale every row to sum to 1.

    Returns
    -------
    Features

    Raises
    ------
    ValueError
        If no feature kind is selected or ``activity_bins`` is negative.
    UnknownIdError
        If ``ratings`` holds a user or item the mapping does not know.

    Examples
    --------
    >>> from helpers.data import load_movielens, build_interactions
    >>> ml = load_movielens()
    >>> built = build_interactions(ml.ratings, threshold=4)
    >>> user_features(ml.ratings, ml.movies, built.mapping).shape[0]
    610
    """
    if activity_bins < 0:
        raise ValueError(f"activity_bins={activity_bins}; expected ≥ 0")
    if not (identity or genres or activity_bins):
        raise ValueError("no feature selected: set identity, genres or activity_bins")
    _check_columns(ratings, ["userId", "movieId", "rating"])
    rows = mapping.user_index(ratings["userId"].to_numpy())
    mapping.item_index(ratings["movieId"].to_numpy())
    n_users = len(mapping.users)
    blocks: list[Features] = []
    if identity:
        blocks.append(_identity(mapping.users, "user"))
    if genres:
        liked = ratings.loc[ratings["rating"].to_numpy() >= threshold, ["movieId"]].assign(
            row=rows[ratings["rating"].to_numpy() >= threshold]
        )
        likes_per_user = liked.groupby("row").size()
        liked = liked.merge(movies[["movieId", "genres"]], on="movieId", how="left").explode("genres").dropna()
        shares = liked.groupby(["row", "genres"]).size() / likes_per_user
        shares = shares.rename("weight").reset_index()
        labels = pd.Index(sorted(shares["genres"].unique()))
        matrix = sp.csr_matrix(
            (shares["weight"].to_numpy(np.float32),
             (shares["row"].to_numpy(np.int32), labels.get_indexer(shares["genres"]).astype(np.int32))),
            shape=(n_users, len(labels)),
        )
        blocks.append(Features(matrix, pd.Index([f"likes:{g}" for g in labels])))
    if activity_bins:
        counts = np.bincount(rows, minlength=n_users)
        active = counts > 0
        bins = pd.Series(pd.NA, index=range(n_users), dtype="object")
        ranks = pd.Series(counts[active]).rank(method="first")
        bins[active] = [f"{b + 1}of{activity_bins}" for b in pd.qcut(ranks, activity_bins, labels=False)]
        blocks.append(_one_hot(bins.dropna(), n_users, "activity"))
    return _finish(stack_features(*blocks), normalize)


def stack_features(*blocks: Features) -> Features:
    """Put feature blocks side by side (same rows, concatenated columns and labels).

    Examples
    --------
    >>> a = Features(sp.csr_matrix(np.eye(2, dtype=np.float32)), pd.Index(["x:1", "x:2"]))
    >>> stack_features(a, Features(sp.csr_matrix(np.ones((2, 1), np.float32)), pd.Index(["y"]))).shape
    (2, 3)
    """
    if not blocks:
        raise ValueError("stack_features needs at least one block")
    rows = {block.shape[0] for block in blocks}
    if len(rows) != 1:
        raise ValueError(f"blocks have different row counts {sorted(rows)}; they must describe the same entities")
    matrix = sp.hstack([block.matrix for block in blocks], format="csr", dtype=np.float32)
    return Features(matrix, pd.Index(np.concatenate([np.asarray(block.labels) for block in blocks])))


def check_feature_shapes(
    interactions: sp.spmatrix,
    *,
    user_features: sp.spmatrix | Features | None = None,
    item_features: sp.spmatrix | Features | None = None,
    model: object | None = None,
) -> None:
    """Raise a clear error before LightFM does when feature matrices do not fit the interactions.

    LightFM's own message ("Incorrect number of features in item_features") names neither the
    matrix nor the numbers; this one does.

    Parameters
    ----------
    interactions : sparse matrix
        ``users x items``.
    user_features, item_features : sparse matrix or Features, optional
        What you will pass to ``fit``/``predict``.
    model : LightFM, optional
        A fitted model: its number of feature embeddings must equal the feature columns.

    Raises
    ------
    ValueError
        Naming the mismatched matrix and both numbers.

    Examples
    --------
    >>> check_feature_shapes(sp.csr_matrix((2, 3)), item_features=sp.identity(3, format="csr"))
    """
    n_users, n_items = interactions.shape
    for name, features, rows, side, attr in (
        ("user_features", user_features, n_users, "users", "user_embeddings"),
        ("item_features", item_features, n_items, "items", "item_embeddings"),
    ):
        if features is None:
            columns = rows  # LightFM uses an identity matrix
        else:
            matrix = features.matrix if isinstance(features, Features) else features
            if matrix.shape[0] != rows:
                raise ValueError(
                    f"{name} has {matrix.shape[0]:,} rows but the interactions have {rows:,} {side}; "
                    "build both from the same IdMapping"
                )
            columns = matrix.shape[1]
        embeddings = getattr(model, attr, None)
        if embeddings is not None and embeddings.shape[0] != columns:
            raise ValueError(
                f"the model was trained with {embeddings.shape[0]:,} {side[:-1]} features but {name} "
                f"{'is None (identity: ' + str(columns) + ')' if features is None else f'has {columns:,} columns'}; "
                f"pass the same {name} to fit, predict and evaluation"
            )


def training_tags(
    tags: pd.DataFrame,
    train_ratings: pd.DataFrame,
    test_ratings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The user tags a model may learn from: tags on movies rated in training, minus test pairs.

    MovieLens tags are typed by users, so they are interactions in disguise. Two kinds leak:

    * a tag on a movie with no training rating describes a movie the model must know nothing
      about (in an item cold-start split a new movie has no user tags yet);
    * a tag whose ``(userId, movieId)`` pair is a test rating tells the model about that very
      test interaction.

    Both are dropped. For a split by time, also filter ``tags`` to timestamps before the cut.

    Parameters
    ----------
    tags : DataFrame
        ``MovieLens.tags``: ``userId``, ``movieId``, ``tag``.
    train_ratings : DataFrame
        The training rating rows (``Split.train_frame``): ``userId``, ``movieId``.
    test_ratings : DataFrame, optional
        The test rating rows (``Split.test_frame``); their (user, movie) pairs are dropped.

    Returns
    -------
    DataFrame
        The kept rows of ``tags``, with their original index.

    Raises
    ------
    ValueError
        If a frame lacks a needed column.

    Examples
    --------
    >>> tags = pd.DataFrame({"userId": [1, 2, 1], "movieId": [10, 10, 20], "tag": ["a", "b", "c"]})
    >>> train = pd.DataFrame({"userId": [1, 2], "movieId": [10, 30]})
    >>> test = pd.DataFrame({"userId": [2], "movieId": [10]})
    >>> training_tags(tags, train, test)["tag"].tolist()  # "b" is a test pair, movie 20 is not in train
    ['a']
    """
    _check_columns(tags, ["userId", "movieId", "tag"])
    _check_columns(train_ratings, ["userId", "movieId"])
    keep = np.array(tags["movieId"].isin(train_ratings["movieId"]), dtype=bool)  # writable copy
    if test_ratings is not None:
        _check_columns(test_ratings, ["userId", "movieId"])
        test_pairs = pd.MultiIndex.from_frame(test_ratings[["userId", "movieId"]])
        keep &= ~pd.MultiIndex.from_frame(tags[["userId", "movieId"]]).isin(test_pairs)
    return tags[keep]


def without_identity(
    features: Features,
    rows: Sequence[int] | np.ndarray | None = None,
    *,
    prefixes: Sequence[str] = ("item:", "user:"),
    normalize: bool = True,
) -> Features:
    """Zero the identity features of some rows, keeping every column so the matrix still fits the model.

    A new item's identity embedding was never learned from a like; at prediction time it is
    better described by its metadata alone. The columns stay (the model was trained with them);
    only the weights of ``rows`` change.

    Parameters
    ----------
    features : Features
        The matrix the model was trained with.
    rows : array of int, optional
        Internal indices of the rows to change (e.g. the new items); all rows when omitted.
    prefixes : sequence of str, default ("item:", "user:")
        Label prefixes that mark identity features.
    normalize : bool, default True
        Rescale the changed rows to sum to 1. For a matrix built with ``normalize=True`` the result
        equals building those rows without identity; pass False for unnormalised matrices.

    Returns
    -------
    Features
        Same shape and labels.

    Raises
    ------
    ValueError
        If no label starts with one of ``prefixes``.
    IndexError
        If a row is outside the matrix.

    Examples
    --------
    >>> feats = Features(sp.csr_matrix(np.array([[0.5, 0, 0.5], [0, 0.5, 0.5]], np.float32)),
    ...                  pd.Index(["item:1", "item:2", "genre:Drama"]))
    >>> without_identity(feats, [1]).matrix.toarray()
    array([[0.5, 0. , 0.5],
           [0. , 0. , 1. ]], dtype=float32)
    """
    identity = np.asarray(features.labels.str.startswith(tuple(prefixes)), dtype=bool)
    if not identity.any():
        raise ValueError(f"no feature label starts with {list(prefixes)}; nothing to remove")
    n_rows = features.shape[0]
    chosen = np.ones(n_rows, dtype=bool)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= n_rows):
            bad = rows[(rows < 0) | (rows >= n_rows)]
            raise IndexError(f"row {_preview(bad.tolist())} outside 0..{n_rows - 1}")
        chosen[:] = False
        chosen[rows] = True
    matrix = sp.csr_matrix(features.matrix, dtype=np.float32, copy=True)
    owner = np.repeat(np.arange(n_rows), np.diff(matrix.indptr))
    matrix.data[identity[matrix.indices] & chosen[owner]] = 0.0
    matrix.eliminate_zeros()
    if normalize:
        sums = np.asarray(matrix.sum(axis=1)).ravel()
        scale = np.ones(n_rows, dtype=np.float64)
        changed = chosen & (sums > 0)
        scale[changed] = 1.0 / sums[changed]
        matrix = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix, dtype=np.float32)
        matrix.sort_indices()
    matrix.data = np.require(matrix.data, np.float32, ["W"])
    return Features(matrix, features.labels)


def similar_features(
    embeddings: np.ndarray,
    features: Features,
    label: str,
    n: int = 10,
    *,
    prefix: str | None = None,
    min_count: int = 1,
) -> pd.DataFrame:
    """The features whose learned embeddings point most nearly the same way as ``label``'s.

    Cosine similarity between one feature embedding and the others: one matrix-vector product,
    no features x features matrix. Features used by few rows keep embeddings close to their
    random start, so ``min_count`` lets you skip them.

    Parameters
    ----------
    embeddings : ndarray
        ``features x components``, row ``j`` for ``features.labels[j]``: ``model.item_embeddings``
        (or ``model.user_embeddings``) of a model trained with ``features.matrix``.
    features : Features
        The features the model was trained with.
    label : str
        The query feature, e.g. ``"genre:Sci-Fi"``.
    n : int, default 10
        How many neighbours to return (fewer when fewer candidates exist).
    prefix : str, optional
        Only consider features whose label starts with it, e.g. ``"tag:"``.
    min_count : int, default 1
        Only consider features present in at least this many rows of ``features.matrix``.

    Returns
    -------
    DataFrame
        ``feature``, ``similarity`` (cosine, -1..1; 0 for an all-zero embedding) and ``rows``
        (how many rows have the feature), best first, indexed by rank 1..n.

    Raises
    ------
    ValueError
        If the embeddings do not have one row per feature, ``n`` or ``min_count`` is below 1, or
        no candidate is left.
    UnknownIdError
        If ``label`` is not a feature label.

    Examples
    --------
    >>> feats = Features(sp.csr_matrix(np.eye(3, dtype=np.float32)), pd.Index(["genre:A", "genre:B", "tag:c"]))
    >>> emb = np.array([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    >>> similar_features(emb, feats, "genre:A", n=2)["feature"].tolist()
    ['tag:c', 'genre:B']
    """
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(features.labels):
        raise ValueError(
            f"embeddings have shape {embeddings.shape} but features has {len(features.labels):,} labels; "
            "pass the embeddings of the model trained with this feature matrix"
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r}; expected an integer >= 1")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count={min_count!r}; expected an integer >= 1")
    query = int(features.index_of([label])[0])
    counts = features.matrix.getnnz(axis=0)
    candidate = counts >= min_count
    candidate[query] = False
    if prefix is not None:
        candidate &= np.asarray(features.labels.str.startswith(prefix), dtype=bool)
    columns = np.flatnonzero(candidate)
    if not len(columns):
        raise ValueError(f"no feature besides {label!r} matches prefix={prefix!r} and min_count={min_count}")
    vectors = embeddings[columns]
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(embeddings[query])
    similarity = np.divide(vectors @ embeddings[query], norms, out=np.zeros(len(columns)), where=norms > 0)
    best = np.argsort(-similarity, kind="stable")[:n]
    return pd.DataFrame(
        {"feature": features.labels[columns[best]], "similarity": similarity[best], "rows": counts[columns[best]]},
        index=pd.RangeIndex(1, len(best) + 1, name="rank"),
    )


def _identity(ids: pd.Index, prefix: str) -> Features:
    n = len(ids)
    return Features(sp.identity(n, dtype=np.float32, format="csr"), pd.Index([f"{prefix}:{i}" for i in ids]))


def _one_hot(values: pd.Series, n_rows: int, prefix: str) -> Features:
    """``values`` is indexed by row position (repeats allowed for multi-valued features)."""
    values = values.dropna()
    labels = pd.Index(sorted(values.unique()))
    rows = values.index.to_numpy()
    matrix = sp.csr_matrix(
        (np.ones(len(values), np.float32), (rows.astype(np.int32), labels.get_indexer(values).astype(np.int32))),
        shape=(n_rows, len(labels)),
    )
    return Features(matrix, pd.Index([f"{prefix}:{label}" for label in labels]))


def _tag_block(tags: pd.DataFrame, mapping: IdMapping, max_tags: int, min_tag_movies: int, tfidf: bool) -> Features:
    _check_columns(tags, ["movieId", "tag"])
    words = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower())
    words = words[words["tag"].ne("") & words["movieId"].isin(mapping.items)]
    applied = words.groupby(["movieId", "tag"]).size().rename("times").reset_index()
    movies_per_tag = applied.groupby("tag").size()
    kept = movies_per_tag[movies_per_tag >= min_tag_movies]
    vocabulary = kept.sort_values(ascending=False, kind="stable").head(max_tags)
    vocabulary = pd.Index(sorted(vocabulary.index))
    applied = applied[applied["tag"].isin(vocabulary)]
    weight = applied["times"].to_numpy(np.float64)
    if tfidf:
        idf = np.log(len(mapping.items) / movies_per_tag.reindex(applied["tag"]).to_numpy())
        weight = weight * idf
    else:
        weight = np.ones(len(applied))
    matrix = sp.csr_matrix(
        (weight.astype(np.float32),
         (mapping.item_index(applied["movieId"].to_numpy()), vocabulary.get_indexer(applied["tag"]).astype(np.int32))),
        shape=(len(mapping.items), len(vocabulary)),
    )
    return Features(matrix, pd.Index([f"tag:{t}" for t in vocabulary]))


def _finish(features: Features, normalize: bool) -> Features:
    matrix = features.matrix.tocsr().astype(np.float32)
    matrix.sum_duplicates()
    matrix.sort_indices()
    if normalize:
        sums = np.asarray(matrix.sum(axis=1)).ravel()
        scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
        matrix = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix, dtype=np.float32)
        matrix.sort_indices()  # the product does not keep column order within rows
    matrix.data = np.require(matrix.data, np.float32, ["W"])
    return Features(matrix, features.labels)
