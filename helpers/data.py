"""Load MovieLens from disk and turn ratings into LightFM interaction matrices.

Everything here is offline: the course ships ``ml-latest-small`` in ``data/`` and the loader
also reads a MovieLens download you point it at (ml-latest, ml-25m, ml-32m or ml-100k).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "DEFAULT_DATA_DIR",
    "ChecksumError",
    "IdMapping",
    "Interactions",
    "MovieLens",
    "UnknownIdError",
    "UnknownTitleError",
    "build_interactions",
    "find_movies",
    "load_movielens",
    "lookup_movies",
    "movielens_dir",
    "verify_checksums",
]

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "ml-latest-small"

# ml-100k ships u.genre, but these are its genres in column order should that file be missing.
_ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
_YEAR_AT_END = re.compile(r"\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$")
_DUPLICATE_POLICIES = ("raise", "first", "last", "max")


class ChecksumError(ValueError):
    """A data file is missing or its SHA-256 differs from ``SHA256SUMS``."""


class UnknownIdError(ValueError):
    """An external user or item id is not part of an :class:`IdMapping`."""


@dataclass(frozen=True)
class MovieLens:
    """The three MovieLens tables, typed.

    Attributes
    ----------
    ratings : DataFrame
        ``userId`` (int32), ``movieId`` (int32), ``rating`` (float32), ``timestamp`` (UTC datetime).
    movies : DataFrame
        ``movieId`` (int32), ``title`` (str), ``genres`` (list of str, empty when none is listed),
        ``year`` (nullable Int16, parsed from the title or the release date).
    tags : DataFrame
        ``userId``, ``movieId``, ``tag`` (str), ``timestamp``; empty for ml-100k, which has no tags.
    name : str
        The folder the data came from, e.g. ``"ml-latest-small"``.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    tags: pd.DataFrame
    name: str

    def __repr__(self) -> str:
        return (
            f"MovieLens({self.name!r}: {len(self.ratings):,} ratings, "
            f"{self.ratings['userId'].nunique():,} users, {len(self.movies):,} movies, "
            f"{len(self.tags):,} tags)"
        )


def verify_checksums(path: str | Path) -> list[str]:
    """Check every file listed in ``path/SHA256SUMS`` against its SHA-256.

    Parameters
    ----------
    path : str or Path
        A folder holding a ``SHA256SUMS`` file in ``sha256sum`` format.

    Returns
    -------
    list of str
        The names of the files that were verified.

    Raises
    ------
    ChecksumError
        If a listed file is missing or its digest differs.
    FileNotFoundError
        If ``path/SHA256SUMS`` does not exist.

    Examples
    --------
    >>> verify_checksums(DEFAULT_DATA_DIR)
    ['links.csv', 'movies.csv', 'ratings.csv', 'tags.csv', 'README.txt']
    """
    folder = Path(path)
    sums_file = folder / "SHA256SUMS"
    verified = []
    for line_no, line in enumerate(sums_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise ChecksumError(
                f"{sums_file.name} line {line_no} is {line!r}; expected '<sha256>  <file name>'"
            )
        expected, name = parts[0].lower(), parts[1].strip().lstrip("*")
        target = folder / name
        if not target.is_file():
            raise ChecksumError(f"{name} is listed in {sums_file.name} but missing from {folder.name}/")
        digest = hashlib.sha256()
        with target.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise ChecksumError(
                f"{name} does not match {sums_file.name}: sha256 is {digest.hexdigest()}, "
                f"expected {expected}. The file was changed or truncated; copy it again."
            )
        verified.append(name)
    return verified


def load_movielens(path: str | Path | None = None, *, verify: bool = True) -> MovieLens:
    """Load a MovieLens data set from disk into typed DataFrames.

    Reads the CSV layout of ml-latest, ml-latest-small, ml-25m and ml-32m (``ratings.csv``,
    ``movies.csv``, ``tags.csv``) and the ml-100k layout (``u.data``, ``u.item``).

    Parameters
    ----------
    path : str or Path, optional
        The unzipped MovieLens folder. Defaults to the ``ml-latest-small`` copy shipped in ``data/``.
    verify : bool, default True
        Check ``SHA256SUMS`` first when the folder has one.

    Returns
    -------
    MovieLens
        ``ratings``, ``movies`` and ``tags`` frames (see :class:`MovieLens` for the columns).

    Raises
    ------
    FileNotFoundError
        If the folder or one of the files the layout needs is missing.
    ChecksumError
        If ``verify`` is on and a file differs from ``SHA256SUMS``.

    Examples
    --------
    >>> ml = load_movielens()
    >>> ml.ratings.shape
    (100836, 4)
    >>> ml.movies.loc[0, "genres"]
    ['Adventure', 'Animation', 'Children', 'Comedy', 'Fantasy']
    """
    folder = DEFAULT_DATA_DIR if path is None else Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"MovieLens folder {str(folder)!r} does not exist; expected an unzipped MovieLens "
            "download (see data/README.md)"
        )
    if verify and (folder / "SHA256SUMS").is_file():
        verify_checksums(folder)
    if (folder / "ratings.csv").is_file():
        ratings, movies, tags = _read_csv_layout(folder)
    elif (folder / "u.data").is_file():
        ratings, movies, tags = _read_100k_layout(folder)
    else:
        raise FileNotFoundError(
            f"{folder.name}/ holds neither ratings.csv (ml-latest, ml-25m, ml-32m layout) "
            "nor u.data (ml-100k layout)"
        )
    return MovieLens(ratings=ratings, movies=movies, tags=tags, name=folder.name)


MOVIELENS_DIR_VARIABLE = "MOVIELENS_DIR"


def movielens_dir(default: str | Path | None = None) -> Path | None:
    """The MovieLens folder named by the ``MOVIELENS_DIR`` environment variable, else ``default``.

    Lets one notebook run on a real download (``MOVIELENS_DIR=/data/ml-32m jupyter lab``) without
    editing it; nothing else in the course reads the variable.

    Parameters
    ----------
    default : str or Path, optional
        Returned (as a Path, or None) when the variable is unset or empty.

    Returns
    -------
    Path or None

    Raises
    ------
    FileNotFoundError
        If the variable names a folder that does not exist.

    Examples
    --------
    >>> import os
    >>> _ = os.environ.pop("MOVIELENS_DIR", None)  # unset for this example
    >>> movielens_dir() is None, movielens_dir(DEFAULT_DATA_DIR).name
    (True, 'ml-latest-small')
    """
    value = os.environ.get(MOVIELENS_DIR_VARIABLE, "").strip()
    if not value:
        return None if default is None else Path(default)
    folder = Path(value).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{MOVIELENS_DIR_VARIABLE}={value!r} is not a folder; expected an unzipped MovieLens "
            "download such as ml-32m (see data/README.md), or unset the variable"
        )
    return folder


def _require_file(folder: Path, name: str) -> Path:
    target = folder / name
    if not target.is_file():
        raise FileNotFoundError(f"{name} is missing from {folder.name}/; the MovieLens layout needs it")
    return target


def _read_csv_layout(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ratings = pd.read_csv(
        _require_file(folder, "ratings.csv"),
        dtype={"userId": np.int32, "movieId": np.int32, "rating": np.float32, "timestamp": np.int64},
    )
    ratings["timestamp"] = pd.to_datetime(ratings["timestamp"], unit="s", utc=True)

    movies = pd.read_csv(_require_file(folder, "movies.csv"), dtype={"movieId": np.int32, "title": str, "genres": str})
    movies["year"] = _year_from_title(movies["title"])
    movies["genres"] = [
        [] if g == "(no genres listed)" else g.split("|") for g in movies["genres"].fillna("(no genres listed)")
    ]
    movies = movies[["movieId", "title", "genres", "year"]]

    tags_file = folder / "tags.csv"
    if tags_file.is_file():
        tags = pd.read_csv(tags_file, dtype={"userId": np.int32, "movieId": np.int32, "tag": str, "timestamp": np.int64})
        tags["timestamp"] = pd.to_datetime(tags["timestamp"], unit="s", utc=True)
    else:
        tags = _empty_tags()
    return ratings, movies, tags


def _read_100k_layout(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    ratings = pd.read_csv(
        _require_file(folder, "u.data"),
        sep="\t",
        names=["userId", "movieId", "rating", "timestamp"],
        dtype={"userId": np.int32, "movieId": np.int32, "rating": np.float32, "timestamp": np.int64},
    )
    ratings["timestamp"] = pd.to_datetime(ratings["timestamp"], unit="s", utc=True)

    genre_file = folder / "u.genre"
    if genre_file.is_file():
        genre_table = pd.read_csv(genre_file, sep="|", names=["genre", "position"], encoding="latin-1")
        genre_names = genre_table.dropna().sort_values("position")["genre"].tolist()
    else:
        genre_names = _ML100K_GENRES
    columns = ["movieId", "title", "release_date", "video_release_date", "url", *genre_names]
    items = pd.read_csv(
        _require_file(folder, "u.item"), sep="|", names=columns, encoding="latin-1",
        dtype={"movieId": np.int32, "title": str, "release_date": str},
    )
    flags = items[genre_names].to_numpy(dtype=bool)
    names = np.array(genre_names, dtype=object)
    genres = [[g for g in names[row] if g != "unknown"] for row in flags]
    year = _year_from_title(items["title"]).fillna(
        pd.to_datetime(items["release_date"], format="%d-%b-%Y", errors="coerce").dt.year.astype("Int16")
    )
    movies = pd.DataFrame({"movieId": items["movieId"], "title": items["title"], "genres": genres, "year": year})
    return ratings, movies, _empty_tags()


def _empty_tags() -> pd.DataFrame:
    return pd.DataFrame({
        "userId": pd.Series(dtype=np.int32),
        "movieId": pd.Series(dtype=np.int32),
        "tag": pd.Series(dtype=str),
        "timestamp": pd.Series(dtype="datetime64[us, UTC]"),
    })


def _year_from_title(titles: pd.Series) -> pd.Series:
    return titles.str.extract(_YEAR_AT_END, expand=False).astype("Int16")


def lookup_movies(movies: pd.DataFrame, movie_ids: Sequence[int] | np.ndarray | pd.Series) -> pd.DataFrame:
    """Titles, genres and years for movie ids, in the order given.

    Parameters
    ----------
    movies : DataFrame
        ``MovieLens.movies``.
    movie_ids : sequence of int
        External ``movieId`` values.

    Returns
    -------
    DataFrame
        One row per id: ``movieId``, ``title``, ``genres`` (joined with ", ") and ``year``.

    Raises
    ------
    UnknownIdError
        If an id is not in ``movies``.

    Examples
    --------
    >>> lookup_movies(load_movielens().movies, [1])["title"].tolist()
    ['Toy Story (1995)']
    """
    wanted = pd.Index(np.asarray(movie_ids))
    catalog = movies.set_index("movieId")
    positions = catalog.index.get_indexer(wanted)
    if (positions < 0).any():
        missing = wanted[positions < 0].unique().tolist()
        raise UnknownIdError(f"movieId {_preview(missing)} not in the movies table ({len(catalog):,} movies)")
    found = catalog.iloc[positions]
    return pd.DataFrame({
        "movieId": wanted.to_numpy(),
        "title": found["title"].to_numpy(),
        "genres": [", ".join(g) if len(g) else "(none)" for g in found["genres"]],
        "year": found["year"].to_numpy(),
    })


def _preview(values: Sequence, limit: int = 5) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:limit])
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return f"[{shown}]{more}"


@dataclass(frozen=True)
class IdMapping:
    """External ↔ internal ids for users and items.

    LightFM only knows rows and columns ``0..n-1``; MovieLens knows ``userId`` and ``movieId``.
    Internal index ``k`` is the position of an external id in ``users`` (or ``items``).

    Parameters
    ----------
    users, items : pandas.Index
        Unique external ids, in internal-index order.

    Examples
    --------
    >>> mapping = IdMapping(pd.Index([10, 20]), pd.Index([7, 3, 5]))
    >>> mapping.shape
    (2, 3)
    >>> mapping.item_index([5, 7]).tolist()
    [2, 0]
    >>> mapping.item_id([2, 0]).tolist()
    [5, 7]
    """

    users: pd.Index
    items: pd.Index

    def __post_init__(self) -> None:
        for label in ("users", "items"):
            index = pd.Index(getattr(self, label))
            if index.hasnans:
                raise ValueError(f"{label} ids contain NaN; every id must be a real value")
            if not index.is_unique:
                dupes = index[index.duplicated()].unique().tolist()
                raise ValueError(f"{label} ids must be unique; repeated: {_preview(dupes)}")
            object.__setattr__(self, label, index)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        user_col: str = "userId",
        item_col: str = "movieId",
        *,
        items: Sequence | pd.Index | None = None,
    ) -> IdMapping:
        """Sorted unique users and items of ``frame``.

        Parameters
        ----------
        frame : DataFrame
            Interactions with a user and an item column.
        user_col, item_col : str
            Column names.
        items : sequence, optional
            The full catalog (e.g. ``movies.movieId``) when it should include items nobody rated,
            as hybrid and cold-start models need. Must contain every item of ``frame``.

        Returns
        -------
        IdMapping

        Examples
        --------
        >>> IdMapping.from_frame(pd.DataFrame({"userId": [2, 1], "movieId": [9, 9]})).shape
        (2, 1)
        """
        _check_columns(frame, [user_col, item_col])
        _check_no_nan(frame, [user_col, item_col])
        users = pd.Index(np.sort(frame[user_col].unique()))
        rated = pd.Index(np.sort(frame[item_col].unique()))
        if items is None:
            return cls(users, rated)
        catalog = pd.Index(items)
        unknown = rated.difference(catalog)
        if len(unknown):
            raise UnknownIdError(f"{item_col} {_preview(unknown.tolist())} in frame but not in the items catalog")
        return cls(users, catalog)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_users, n_items)``, the shape of every interaction matrix built on this mapping."""
        return len(self.users), len(self.items)

    def user_index(self, ids: Sequence | np.ndarray | pd.Series) -> np.ndarray:
        """Internal row indices (int32) of external user ids; unknown ids raise :class:`UnknownIdError`."""
        return _positions(self.users, ids, "user")

    def item_index(self, ids: Sequence | np.ndarray | pd.Series) -> np.ndarray:
        """Internal column indices (int32) of external item ids; unknown ids raise :class:`UnknownIdError`."""
        return _positions(self.items, ids, "item")

    def user_id(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        """External user ids of internal row indices."""
        return _externals(self.users, index, "user")

    def item_id(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        """External item ids of internal column indices."""
        return _externals(self.items, index, "item")


def _positions(index: pd.Index, ids: Sequence | np.ndarray | pd.Series, label: str) -> np.ndarray:
    ids = np.asarray(ids)
    positions = index.get_indexer(ids)
    if (positions < 0).any():
        missing = pd.unique(ids[positions < 0]).tolist()
        raise UnknownIdError(
            f"{label} id {_preview(missing)} unknown to the mapping ({len(index):,} {label}s); "
            f"build the mapping from data that includes every {label} you will look up"
        )
    return positions.astype(np.int32)


def _externals(index: pd.Index, positions: Sequence[int] | np.ndarray, label: str) -> np.ndarray:
    positions = np.asarray(positions)
    if positions.size and (positions.min() < 0 or positions.max() >= len(index)):
        bad = positions[(positions < 0) | (positions >= len(index))]
        raise IndexError(f"internal {label} index {_preview(bad.tolist())} outside 0..{len(index) - 1}")
    return index.to_numpy()[positions]


@dataclass(frozen=True)
class Interactions:
    """What :func:`build_interactions` returns.

    Attributes
    ----------
    matrix : scipy.sparse.coo_matrix
        ``users x items``, float32, 1.0 where the user interacted; pass to ``LightFM.fit``.
    weights : scipy.sparse.coo_matrix or None
        Same pattern as ``matrix`` holding the weight column; pass as ``sample_weight``.
    mapping : IdMapping
        External ↔ internal ids for rows and columns.
    """

    matrix: sp.coo_matrix
    weights: sp.coo_matrix | None
    mapping: IdMapping

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_users, n_items)`` of ``matrix``, set by the mapping."""
        return self.mapping.shape


def build_interactions(
    frame: pd.DataFrame,
    mapping: IdMapping | None = None,
    *,
    user_col: str = "userId",
    item_col: str = "movieId",
    rating_col: str | None = "rating",
    threshold: float | None = None,
    weight_col: str | None = None,
    rating_scale: tuple[float, float] | None = (0.5, 5.0),
    duplicates: str = "raise",
) -> Interactions:
    """Build a LightFM interaction matrix (and optional weights) from a frame of interactions.

    Vectorized: ids are mapped with a hash index, never a Python loop per row.

    Parameters
    ----------
    frame : DataFrame
        One row per (user, item) event.
    mapping : IdMapping, optional
        Reuse an existing mapping so train and test matrices share one shape. Built from ``frame``
        (sorted ids) when omitted, from every row *before* ``threshold`` applies: an item rated
        only below the threshold keeps a column (it is never a positive, only a sampled negative),
        so the shape does not change with the threshold.
    user_col, item_col : str
        Id columns.
    rating_col : str or None, default "rating"
        Explicit rating column; validated against ``rating_scale``. ``None`` for implicit data.
    threshold : float, optional
        Keep only rows with ``rating >= threshold`` (explicit → implicit). Lower ratings are not
        negatives in LightFM: they are simply absent.
    weight_col : str, optional
        Column to return as ``weights`` (e.g. ``"rating"``); values must be finite and positive.
    rating_scale : (low, high) or None, default (0.5, 5.0)
        The allowed rating range; ``None`` skips the check.
    duplicates : {"raise", "first", "last", "max"}, default "raise"
        What to do when a (user, item) pair appears more than once, decided before ``threshold``
        is applied: raise, keep the first or last row in frame order (sort by time first to keep
        the oldest or newest), or keep the row with the highest rating. LightFM would otherwise
        train on every copy, so duplicates are never passed through.

    Returns
    -------
    Interactions
        ``matrix`` (coo, float32), ``weights`` (coo or None) and ``mapping``.

    Raises
    ------
    ValueError
        Missing columns, NaN ids or ratings, ratings outside ``rating_scale``, a threshold that
        leaves nothing, non-positive weights, an unknown ``duplicates`` policy, or duplicate pairs
        under ``duplicates="raise"``.
    UnknownIdError
        If ``mapping`` is given and ``frame`` holds an id it does not know.

    Examples
    --------
    >>> ratings = pd.DataFrame({"userId": [1, 1, 2], "movieId": [10, 20, 10], "rating": [5.0, 2.0, 4.0]})
    >>> built = build_interactions(ratings, threshold=4)
    >>> built.matrix.toarray()
    array([[1., 0.],
           [1., 0.]], dtype=float32)
    >>> test = build_interactions(ratings.tail(1), built.mapping)
    >>> test.shape == built.shape
    True
    """
    if duplicates not in _DUPLICATE_POLICIES:
        raise ValueError(f"duplicates={duplicates!r}; expected one of {_DUPLICATE_POLICIES}")
    needed = [user_col, item_col] + [c for c in (rating_col, weight_col) if c is not None]
    _check_columns(frame, needed)
    _check_no_nan(frame, needed)
    if threshold is not None and rating_col is None:
        raise ValueError("threshold needs a rating column; rating_col is None")
    if duplicates == "max" and rating_col is None:
        raise ValueError("duplicates='max' keeps the highest rating; rating_col is None")

    ratings = None
    if rating_col is not None:
        ratings = frame[rating_col].to_numpy(dtype=np.float64)
        _check_rating_scale(ratings, rating_col, rating_scale, threshold)

    if mapping is None:
        rows, users = _encode_sorted(frame[user_col])
        cols, items = _encode_sorted(frame[item_col])
        mapping = IdMapping(users, items)
    else:
        rows = mapping.user_index(frame[user_col].to_numpy())
        cols = mapping.item_index(frame[item_col].to_numpy())

    keep = _deduplicate(rows, cols, ratings, mapping.shape[1], duplicates, frame, user_col, item_col)
    if threshold is not None:
        positive = ratings >= threshold
        keep = positive if keep is None else keep & positive
        if not keep.any():
            raise ValueError(
                f"threshold={threshold} leaves no interactions: the highest {rating_col} is {ratings.max():g}"
            )

    weights_values = None
    if weight_col is not None:
        weights_values = frame[weight_col].to_numpy(dtype=np.float64)
        if not np.isfinite(weights_values).all() or (weights_values <= 0).any():
            bad = weights_values[~np.isfinite(weights_values) | (weights_values <= 0)]
            raise ValueError(f"{weight_col} weights must be finite and > 0; found {_preview(bad.tolist())}")

    if keep is not None:
        rows, cols = rows[keep], cols[keep]
        weights_values = None if weights_values is None else weights_values[keep]

    # LightFM's Cython fit rejects read-only buffers ("buffer source array is read-only"), which
    # pandas 3 hands out; np.require copies only when the codes are not already writable int32.
    rows = np.require(rows, dtype=np.int32, requirements=["C", "W", "O"])
    cols = np.require(cols, dtype=np.int32, requirements=["C", "W", "O"])
    matrix = sp.coo_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=mapping.shape)
    weights = None
    if weights_values is not None:
        weights = sp.coo_matrix(
            (np.array(weights_values, dtype=np.float32), (rows.copy(), cols.copy())), shape=mapping.shape
        )
    return Interactions(matrix=matrix, weights=weights, mapping=mapping)


def _encode_sorted(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes ``0..n-1`` of ``ids`` in sorted order of the unique ids, and those unique ids."""
    values = ids.to_numpy()
    if values.dtype.kind in "iu" and len(values):
        low, high = int(values.min()), int(values.max())
        # Compact non-negative integer ids (MovieLens' are) need no hashing: a presence table over
        # 0..max is a sort in O(n). Bounded so a stray huge id cannot allocate gigabytes.
        if low >= 0 and high < 4 * len(values) + 1_000_000:
            present = np.zeros(high + 1, dtype=bool)
            present[values] = True
            code_of = np.cumsum(present, dtype=np.int32) - 1
            return code_of[values], pd.Index(np.flatnonzero(present).astype(values.dtype))
    codes, uniques = pd.factorize(ids, sort=True)
    return codes, pd.Index(uniques)


def _check_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}; it has {list(frame.columns)}")


def _check_no_nan(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    for column in columns:
        nan_rows = frame.index[frame[column].isna().to_numpy()]
        if len(nan_rows):
            raise ValueError(
                f"{column} has {len(nan_rows)} NaN value(s), first at row {nan_rows[0]!r}; "
                "drop or fill them before building interactions"
            )


def _check_rating_scale(
    ratings: np.ndarray, rating_col: str, rating_scale: tuple[float, float] | None, threshold: float | None
) -> None:
    if rating_scale is None:
        return
    low, high = rating_scale
    outside = (ratings < low) | (ratings > high)
    if outside.any():
        raise ValueError(
            f"{rating_col} {_preview(np.unique(ratings[outside]).tolist())} outside the rating scale "
            f"[{low:g}, {high:g}]; pass rating_scale=(low, high) for another scale"
        )
    if threshold is not None and threshold > high:
        raise ValueError(
            f"threshold={threshold} is above the top of the rating scale ({high:g}): no rating can pass it"
        )


def _deduplicate(
    rows: np.ndarray,
    cols: np.ndarray,
    ratings: np.ndarray | None,
    n_items: int,
    policy: str,
    frame: pd.DataFrame,
    user_col: str,
    item_col: str,
) -> np.ndarray | None:
    """A boolean mask of rows to keep, or None when every (user, item) pair is unique."""
    keys = rows.astype(np.int64) * n_items + cols
    # numpy's sort is several times faster than hashing here, and duplicates are the rare case.
    sorted_keys = np.sort(keys)
    if not (sorted_keys[1:] == sorted_keys[:-1]).any():
        return None
    pair = pd.Series(keys)
    repeated = pair.duplicated(keep=False).to_numpy()
    if policy == "raise":
        first = frame.loc[repeated, [user_col, item_col]].drop_duplicates()
        examples = list(first.itertuples(index=False, name=None))
        raise ValueError(
            f"{len(first):,} (user, item) pair(s) appear more than once, e.g. {_preview(examples, 3)}; "
            "pass duplicates='first', 'last' or 'max' to choose which row counts"
        )
    if policy in ("first", "last"):
        return ~pair.duplicated(keep=policy).to_numpy()
    # "max": the highest rating per pair; ties keep the last row.
    order = np.lexsort((np.arange(len(pair)), ratings, pair.to_numpy()))
    last_of_pair = np.r_[pair.to_numpy()[order][1:] != pair.to_numpy()[order][:-1], True]
    keep = np.zeros(len(pair), dtype=bool)
    keep[order[last_of_pair]] = True
    return keep


# ---------------------------------------------------------------------------------- title search


class UnknownTitleError(UnknownIdError):
    """A movie title that matches nothing in the catalogue; ``suggestions`` holds close titles."""

    def __init__(self, message: str, query: str = "", suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.query = query
        self.suggestions = list(suggestions)


# Articles MovieLens moves to the end of a title ("Matrix, The", "Haine, La", "Avventura, L'").
_ARTICLES = ("the", "a", "an", "le", "la", "les", "l'", "el", "il", "lo", "los", "las", "der", "die", "das", "den", "det")
_TRAILING_ARTICLE = re.compile(r"^(.*\S),\s*(" + "|".join(re.escape(a) for a in _ARTICLES) + r")$", re.IGNORECASE)
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an|le|la|les|l|el|il|lo|los|las|der|die|das|den|det) (?=\S)")
_TRAILING_GROUP = re.compile(r"^(.*\S)\s*\(([^()]*)\)$")
_MATCH_KINDS = ("exact", "starts with", "contains")


def _title_key(text: str) -> str:
    """Lower case, no accents, no punctuation, no leading article: 'Amélie' and 'amelie' agree."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold().replace("&", " and ")
    text = " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())
    return _LEADING_ARTICLE.sub("", text)


def _front_article(name: str) -> str:
    """'Matrix, The' -> 'The Matrix'; "Avventura, L'" -> "L'Avventura"."""
    found = _TRAILING_ARTICLE.match(name.strip())
    if not found:
        return name.strip()
    body, article = found.groups()
    return f"{article}{body}" if article.endswith("'") else f"{article} {body}"


def _title_names(title: str) -> tuple[list[str], int | None]:
    """The names a title is known by (main title and every alias in parentheses) and its year."""
    title = str(title).strip()
    year_match = _YEAR_AT_END.search(title)
    year = int(year_match.group(1)) if year_match else None
    rest = title[: year_match.start()].strip() if year_match else title
    aliases = []
    while (group := _TRAILING_GROUP.match(rest)) is not None:
        rest, alias = group.group(1), group.group(2)
        aliases.append(re.sub(r"^a\.k\.a\.\s*", "", alias.strip(), flags=re.IGNORECASE))
    return [_front_article(name) for name in [rest, *reversed(aliases)] if name.strip()], year


def find_movies(
    movies: pd.DataFrame,
    query: str,
    *,
    limit: int = 10,
    popularity: pd.Series | None = None,
) -> pd.DataFrame:
    """Movies whose title matches ``query``, best match first, tolerant of how people type titles.

    Matching ignores case, accents, punctuation and a leading article, whether it is typed first
    ("The Matrix") or moved to the end as MovieLens does ("Matrix, The (1999)"); it also tries each
    alternative title MovieLens keeps in parentheses ("Seven (a.k.a. Se7en)", "Hate (Haine, La)").
    A year in the query, "(1977)", is optional; when given, movies from that year come first.

    Ranking: same year (when the query has one), then exact title, then titles that start with
    the query, then titles that contain it as whole words; ties by ``popularity`` (when given),
    then by earliest year, then alphabetically. A typo matches nothing on purpose: it raises
    with close titles to choose from instead of silently picking one.

    Parameters
    ----------
    movies : DataFrame
        ``MovieLens.movies`` (``movieId``, ``title``, ``genres``, ``year``).
    query : str
        A title as a person would type it, e.g. ``"the matrix"`` or ``"Star Wars (1977)"``.
    limit : int, default 10
        The most rows to return.
    popularity : Series, optional
        Higher first among equally good matches, indexed by ``movieId`` (e.g.
        ``ratings["movieId"].value_counts()``); movies missing from it count as 0.

    Returns
    -------
    DataFrame
        ``movieId``, ``title``, ``genres``, ``year`` (as :func:`lookup_movies`) and ``match``
        ("exact", "starts with" or "contains"), best first, at most ``limit`` rows.

    Raises
    ------
    UnknownTitleError
        If nothing matches; the message names the query and offers up to five close titles
        (``difflib``), also kept in ``error.suggestions``.
    ValueError
        If ``query`` is empty or has no letter or digit, or ``limit`` < 1.

    Examples
    --------
    >>> movies = load_movielens().movies
    >>> find_movies(movies, "the matrix", limit=2)[["title", "match"]].values.tolist()
    [['Matrix, The (1999)', 'exact'], ['Matrix Reloaded, The (2003)', 'starts with']]
    >>> find_movies(movies, "Amelie")["title"].iloc[0]
    "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"
    >>> find_movies(movies, "The Matirx")
    Traceback (most recent call last):
    ...
    helpers.data.UnknownTitleError: no movie title matches 'The Matirx'; did you mean 'Matrix, The (1999)', ...?
    """
    if not isinstance(query, str):
        raise ValueError(f"query={query!r}; expected a title as a string")
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"limit={limit!r}; expected a whole number ≥ 1")
    _check_columns(movies, ["movieId", "title", "genres", "year"])
    names, query_year = _title_names(query)
    wanted = _title_key(names[0]) if names else ""
    if not wanted:
        raise ValueError(f"query={query!r} has no letter or digit to search for; type (part of) a title")

    rows = []
    for position, title in enumerate(movies["title"].to_numpy()):
        title_names, year = _title_names(title)
        best = None
        for name in title_names:
            key = _title_key(name)
            if key == wanted:
                best = 0
                break
            if key.startswith(wanted + " "):
                best = 1 if best is None else min(best, 1)
            elif f" {wanted} " in f" {key} ":
                best = 2 if best is None else min(best, 2)
        if best is not None:
            rows.append((position, best, 0 if query_year is None or year == query_year else 1, year))
    if not rows:
        suggestions = _close_titles(movies, wanted, popularity)
        hint = ("did you mean " + ", ".join(repr(s) for s in suggestions) + "?") if suggestions else (
            "no title is close either: check the spelling or type a shorter part of the title")
        raise UnknownTitleError(f"no movie title matches {query!r}; {hint}", query, suggestions)

    found = pd.DataFrame(rows, columns=["position", "tier", "other_year", "year"])
    ids = movies["movieId"].to_numpy()[found["position"].to_numpy()]
    found["popularity"] = 0.0 if popularity is None else pd.Series(popularity).reindex(ids).fillna(0).to_numpy(float)
    found["year"] = found["year"].fillna(10_000)  # no year: after every dated movie
    found["title"] = movies["title"].to_numpy()[found["position"].to_numpy()]
    found = found.sort_values(["other_year", "tier", "popularity", "year", "title"],
                              ascending=[True, True, False, True, True], kind="stable").head(int(limit))
    out = lookup_movies(movies, ids[found.index.to_numpy()])
    out["match"] = [_MATCH_KINDS[t] for t in found["tier"]]
    return out


def _close_titles(movies: pd.DataFrame, wanted: str, popularity: pd.Series | None, n: int = 5) -> list[str]:
    """Up to ``n`` titles whose names (or their beginnings) are close to ``wanted`` (difflib ratio ≥ 0.75)."""
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(wanted)
    scored = []
    ids = movies["movieId"].to_numpy()
    weights = (np.zeros(len(ids)) if popularity is None
               else pd.Series(popularity).reindex(ids).fillna(0).to_numpy(float))
    for position, title in enumerate(movies["title"].to_numpy()):
        best, whole = 0.0, 0.0
        for name in _title_names(title)[0]:
            key = _title_key(name)
            for candidate in (key, key[: len(wanted)]):
                matcher.set_seq1(candidate)
                if matcher.real_quick_ratio() >= 0.75 and matcher.quick_ratio() >= 0.75:
                    ratio = matcher.ratio()
                    best = max(best, ratio)
                    whole = max(whole, ratio if candidate == key else 0.0)
        if best >= 0.75:  # closest beginning first, then closest whole title, then most popular
            scored.append((-round(best, 6), -round(whole, 6), -weights[position], title))
    return [entry[-1] for entry in sorted(scored)[:n]]
