"""Tests for helpers.data: loading MovieLens layouts and building interaction matrices."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from lightfm import LightFM
from lightfm.data import Dataset

from helpers.data import (
    DEFAULT_DATA_DIR,
    ChecksumError,
    IdMapping,
    UnknownIdError,
    UnknownTitleError,
    build_interactions,
    find_movies,
    load_movielens,
    lookup_movies,
    movielens_dir,
    verify_checksums,
)

# ---------------------------------------------------------------- small data made here


def write_csv_layout(folder: Path, with_sums: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,10,4.0,964982703\n1,20,2.5,964982704\n2,10,5.0,964982705\n"
    )
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n"
        '10,"Heat (1995)",Action|Crime|Thriller\n'
        "20,Babylon 5,(no genres listed)\n"
        "30,The OA (2016–2019),Drama\n"
    )
    (folder / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,10,heist,964982800\n")
    if with_sums:
        lines = [
            f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}"
            for name in ("ratings.csv", "movies.csv", "tags.csv")
        ]
        (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return folder


def write_100k_layout(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n")
    genres = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
              "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
              "Thriller", "War", "Western"]
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(genres)) + "\n")
    flags_242 = ["0"] * 19
    flags_242[genres.index("Comedy")] = "1"
    flags_302 = ["0"] * 19
    flags_302[genres.index("Crime")] = flags_302[genres.index("Film-Noir")] = "1"
    rows = [
        "242|Kolya (1996)|24-Jan-1997||http://x|" + "|".join(flags_242),
        "302|L.A. Confidential (1997)|01-Jan-1997||http://y|" + "|".join(flags_302),
    ]
    (folder / "u.item").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    return folder


@pytest.fixture
def ratings() -> pd.DataFrame:
    return pd.DataFrame({
        "userId": [7, 7, 3, 3, 9, 9],
        "movieId": [100, 200, 100, 300, 300, 200],
        "rating": [5.0, 3.0, 4.0, 4.5, 1.0, 4.0],
        "timestamp": [1, 2, 3, 4, 5, 6],
    })


# ---------------------------------------------------------------- loading


def test_shipped_data_has_documented_size():
    ml = load_movielens()
    assert ml.name == "ml-latest-small"
    assert len(ml.ratings) == 100_836
    assert ml.ratings["userId"].nunique() == 610
    assert len(ml.movies) == 9_742
    assert len(ml.tags) == 3_683


def test_shipped_checksums_verify():
    assert set(verify_checksums(DEFAULT_DATA_DIR)) == {"links.csv", "movies.csv", "ratings.csv", "tags.csv", "README.txt"}


def test_csv_layout_is_typed(tmp_path):
    ml = load_movielens(write_csv_layout(tmp_path / "ml-tiny"))
    assert ml.ratings["userId"].dtype == np.int32
    assert ml.ratings["rating"].dtype == np.float32
    assert isinstance(ml.ratings["timestamp"].dtype, pd.DatetimeTZDtype)
    assert ml.ratings["timestamp"].iloc[0] == pd.Timestamp(964982703, unit="s", tz="UTC")
    assert ml.movies["genres"].tolist() == [["Action", "Crime", "Thriller"], [], ["Drama"]]
    assert ml.movies["year"].tolist() == [1995, pd.NA, 2016]
    assert ml.tags["tag"].tolist() == ["heist"]


def test_100k_layout_reads_data_and_genre_flags(tmp_path):
    ml = load_movielens(write_100k_layout(tmp_path / "ml-100k"))
    assert ml.name == "ml-100k"
    assert ml.ratings[["userId", "movieId"]].values.tolist() == [[196, 242], [186, 302], [196, 302]]
    assert ml.ratings["rating"].tolist() == [3.0, 3.0, 5.0]
    assert ml.movies["genres"].tolist() == [["Comedy"], ["Crime", "Film-Noir"]]
    assert ml.movies["year"].tolist() == [1996, 1997]
    assert ml.tags.empty and list(ml.tags.columns) == ["userId", "movieId", "tag", "timestamp"]


def test_checksum_mismatch_names_the_file(tmp_path):
    folder = write_csv_layout(tmp_path / "ml-tiny")
    with (folder / "ratings.csv").open("a") as handle:
        handle.write("2,20,1.0,964982706\n")
    with pytest.raises(ChecksumError, match="ratings.csv does not match SHA256SUMS"):
        load_movielens(folder)


def test_file_listed_in_checksums_but_missing_is_named(tmp_path):
    folder = write_csv_layout(tmp_path / "ml-tiny")
    (folder / "tags.csv").unlink()
    with pytest.raises(ChecksumError, match="tags.csv is listed in SHA256SUMS but missing"):
        load_movielens(folder)


def test_verify_false_skips_checksums(tmp_path):
    folder = write_csv_layout(tmp_path / "ml-tiny")
    (folder / "SHA256SUMS").write_text("0" * 64 + "  ratings.csv\n")
    assert len(load_movielens(folder, verify=False).ratings) == 3


def test_missing_movies_file_is_named(tmp_path):
    folder = write_csv_layout(tmp_path / "ml-tiny", with_sums=False)
    (folder / "movies.csv").unlink()
    with pytest.raises(FileNotFoundError, match="movies.csv is missing"):
        load_movielens(folder)


def test_folder_without_known_layout_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither ratings.csv .* nor u.data"):
        load_movielens(tmp_path)


def test_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_movielens(tmp_path / "nope")


def test_shipped_copy_is_unchanged_from_shared_source():
    source = DEFAULT_DATA_DIR.parents[2] / "shared" / "data" / "ml-latest-small"
    if not source.is_dir():
        pytest.skip("../shared is not beside this checkout")
    for name in ("README.txt", "SHA256SUMS", "links.csv", "movies.csv", "ratings.csv", "tags.csv"):
        assert (DEFAULT_DATA_DIR / name).read_bytes() == (source / name).read_bytes(), name


def test_lookup_movies_keeps_order_and_rejects_unknown(tmp_path):
    movies = load_movielens(write_csv_layout(tmp_path / "ml-tiny")).movies
    found = lookup_movies(movies, [20, 10])
    assert found["title"].tolist() == ["Babylon 5", "Heat (1995)"]
    assert found["genres"].tolist() == ["(none)", "Action, Crime, Thriller"]
    with pytest.raises(UnknownIdError, match=r"movieId \[99\]"):
        lookup_movies(movies, [10, 99])


# ---------------------------------------------------------------- id mapping


def test_mapping_round_trips_ids():
    mapping = IdMapping(pd.Index([10, 20, 30]), pd.Index([7, 3]))
    assert mapping.user_index([30, 10]).tolist() == [2, 0]
    assert mapping.user_id(mapping.user_index([30, 10])).tolist() == [30, 10]
    assert mapping.item_id([1, 0]).tolist() == [3, 7]


def test_unknown_id_in_mapping_lookup_is_named():
    mapping = IdMapping(pd.Index([10, 20]), pd.Index([7]))
    with pytest.raises(UnknownIdError, match=r"user id \[99\]"):
        mapping.user_index([10, 99])


def test_internal_index_out_of_range_raises():
    mapping = IdMapping(pd.Index([10, 20]), pd.Index([7]))
    with pytest.raises(IndexError, match="outside 0..1"):
        mapping.user_id([2])


def test_mapping_rejects_repeated_ids():
    with pytest.raises(ValueError, match=r"users ids must be unique; repeated: \[10\]"):
        IdMapping(pd.Index([10, 10]), pd.Index([1]))


def test_mapping_from_frame_with_catalog_keeps_unrated_items(ratings):
    mapping = IdMapping.from_frame(ratings, items=[100, 200, 300, 400])
    assert mapping.shape == (3, 4)
    with pytest.raises(UnknownIdError, match=r"movieId \[300\]"):
        IdMapping.from_frame(ratings, items=[100, 200])


# ---------------------------------------------------------------- interactions


ID_KINDS = {
    "compact ints": lambda ids: ids,
    "huge ints": lambda ids: ids * 10**12,
    "negative ints": lambda ids: -ids,
    "strings": lambda ids: ids.astype(str),
}


@pytest.mark.parametrize("kind", ID_KINDS)
def test_matches_lightfm_dataset(ratings, kind):
    ratings = ratings.assign(userId=ID_KINDS[kind](ratings["userId"]), movieId=ID_KINDS[kind](ratings["movieId"]))
    ours = build_interactions(ratings, threshold=4, weight_col="rating")
    assert list(ours.mapping.users) == sorted(ratings["userId"].unique())
    positives = ratings[ratings["rating"] >= 4]
    dataset = Dataset()
    dataset.fit(ours.mapping.users, ours.mapping.items)
    theirs, their_weights = dataset.build_interactions(
        (u, i, w) for u, i, w in positives[["userId", "movieId", "rating"]].itertuples(index=False)
    )
    assert ours.matrix.shape == theirs.shape
    assert (ours.matrix.tocsr() != theirs.tocsr()).nnz == 0
    assert (ours.weights.tocsr() != their_weights.tocsr()).nnz == 0
    user_map, _, item_map, _ = dataset.mapping()
    assert [user_map[u] for u in ours.mapping.users] == list(range(ours.shape[0]))
    assert [item_map[i] for i in ours.mapping.items] == list(range(ours.shape[1]))


def test_matches_brute_force_on_random_frames():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 60))
        pairs = pd.DataFrame({"userId": rng.integers(0, 8, n), "movieId": rng.integers(0, 12, n)}).drop_duplicates()
        pairs["rating"] = rng.choice(np.arange(1, 11) / 2, len(pairs))
        built = build_interactions(pairs, threshold=3.0)
        expected = np.zeros(built.shape)
        for user, item, rating in pairs.itertuples(index=False):
            if rating >= 3.0:
                expected[built.mapping.user_index([user])[0], built.mapping.item_index([item])[0]] = 1
        np.testing.assert_array_equal(built.matrix.toarray(), expected)


def test_shared_mapping_gives_train_and_test_one_shape(ratings):
    mapping = IdMapping.from_frame(ratings)
    train = build_interactions(ratings.iloc[:4], mapping)
    test = build_interactions(ratings.iloc[4:], mapping)
    assert train.shape == test.shape == (3, 3)
    assert train.matrix.multiply(test.matrix).nnz == 0


def test_matrices_are_writable_and_lightfm_fits_them(ratings):
    built = build_interactions(ratings, threshold=4, weight_col="rating")
    for matrix in (built.matrix, built.weights):
        assert matrix.row.flags.writeable and matrix.col.flags.writeable and matrix.data.flags.writeable
        assert matrix.row.dtype == np.int32 and matrix.data.dtype == np.float32
    model = LightFM(no_components=2, random_state=0)
    model.fit(built.matrix, sample_weight=built.weights, epochs=1, num_threads=1)
    assert np.isfinite(model.predict(np.array([0, 1], dtype=np.int32), np.array([0, 1], dtype=np.int32))).all()


def test_no_threshold_keeps_every_rating_as_interaction(ratings):
    built = build_interactions(ratings)
    assert built.matrix.nnz == len(ratings)
    assert built.weights is None


def test_implicit_frame_without_rating_column():
    clicks = pd.DataFrame({"userId": ["a", "b"], "movieId": ["x", "x"]})
    built = build_interactions(clicks, rating_col=None)
    assert built.matrix.toarray().tolist() == [[1.0], [1.0]]
    assert built.mapping.users.tolist() == ["a", "b"]


@pytest.mark.parametrize("column", ["userId", "movieId", "rating"])
def test_missing_column_is_named(ratings, column):
    with pytest.raises(ValueError, match=f"lacks column.*'{column}'"):
        build_interactions(ratings.drop(columns=column))


@pytest.mark.parametrize("column", ["userId", "movieId", "rating"])
def test_nan_is_named_with_its_row(ratings, column):
    broken = ratings.astype({column: "float64"})
    broken.loc[2, column] = np.nan
    with pytest.raises(ValueError, match=f"{column} has 1 NaN value.*row 2"):
        build_interactions(broken)


def test_rating_outside_scale_is_named(ratings):
    broken = ratings.copy()
    broken.loc[0, "rating"] = 7.0
    with pytest.raises(ValueError, match=r"rating \[7.0\] outside the rating scale \[0.5, 5\]"):
        build_interactions(broken)
    assert build_interactions(broken, rating_scale=(1, 10)).matrix.nnz == len(broken)


def test_threshold_above_scale_raises(ratings):
    with pytest.raises(ValueError, match="above the top of the rating scale"):
        build_interactions(ratings, threshold=6)


def test_threshold_above_every_rating_raises_empty(ratings):
    with pytest.raises(ValueError, match="threshold=5 leaves no interactions: the highest rating is 4.5"):
        build_interactions(ratings[ratings["rating"] < 5], threshold=5)


def test_unknown_id_against_mapping_is_named(ratings):
    mapping = IdMapping.from_frame(ratings.iloc[:2])
    with pytest.raises(UnknownIdError, match=r"user id \[3, 9\]"):
        build_interactions(ratings, mapping)


def test_duplicates_raise_by_default_and_name_the_pair(ratings):
    doubled = pd.concat([ratings, ratings.iloc[[1]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"1 \(user, item\) pair\(s\) appear more than once, e\.g\. \[\(7, 200\)\]"):
        build_interactions(doubled)


def test_duplicates_are_never_double_counted(ratings):
    again = ratings.iloc[[0]].assign(rating=2.0)
    doubled = pd.concat([ratings, again], ignore_index=True)  # user 7 rated 100 first 5.0, then 2.0
    for policy, expected in [("first", 1.0), ("last", 0.0), ("max", 1.0)]:
        built = build_interactions(doubled, threshold=4, duplicates=policy)
        dense = built.matrix.toarray()
        assert dense.max() == 1.0
        assert dense[built.mapping.user_index([7])[0], built.mapping.item_index([100])[0]] == expected, policy


def test_max_keeps_the_highest_rating_row_weight(ratings):
    doubled = pd.concat([ratings.iloc[[0]].assign(rating=2.0), ratings], ignore_index=True)
    built = build_interactions(doubled, weight_col="rating", duplicates="max")
    cell = built.weights.tocsr()[built.mapping.user_index([7])[0], built.mapping.item_index([100])[0]]
    assert cell == 5.0
    assert built.matrix.nnz == len(ratings)


def test_unknown_duplicates_policy_raises(ratings):
    with pytest.raises(ValueError, match="duplicates='sum'; expected one of"):
        build_interactions(ratings, duplicates="sum")


def test_non_positive_weights_raise(ratings):
    ratings = ratings.assign(plays=[1, 2, 0, 1, 1, 1])
    with pytest.raises(ValueError, match=r"plays weights must be finite and > 0; found \[0\.0\]"):
        build_interactions(ratings, weight_col="plays")


def test_threshold_without_rating_column_raises(ratings):
    with pytest.raises(ValueError, match="threshold needs a rating column"):
        build_interactions(ratings, rating_col=None, threshold=4)


def test_not_a_dataframe_raises():
    with pytest.raises(TypeError, match="expected a pandas DataFrame, got dict"):
        build_interactions({"userId": [1], "movieId": [1]})


def test_shipped_data_builds_expected_positive_count():
    ml = load_movielens()
    built = build_interactions(ml.ratings, threshold=4)
    assert built.matrix.nnz == int((ml.ratings["rating"] >= 4).sum())
    assert built.shape[0] == 610
    assert isinstance(built.matrix, sp.coo_matrix)


# ---------------------------------------------------------------- find_movies (title search)


@pytest.fixture
def titles() -> pd.DataFrame:
    return pd.DataFrame({
        "movieId": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        "title": [
            "Matrix, The (1999)", "Matrix Reloaded, The (2003)", "Toy Story (1995)", "Alien (1979)",
            "Aliens (1986)", "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
            "Seven (a.k.a. Se7en) (1995)", "Godzilla (1998)", "Godzilla (2014)",
        ],
        "genres": [["Sci-Fi"], ["Sci-Fi"], ["Animation"], ["Horror"], ["Action"], ["Comedy"], ["Thriller"],
                   ["Action"], ["Action"]],
        "year": pd.array([1999, 2003, 1995, 1979, 1986, 2001, 1995, 1998, 2014], dtype="Int16"),
    })


@pytest.mark.parametrize("query", ["The Matrix", "the matrix", "MATRIX", "Matrix, The (1999)", "matrix (1999)",
                                   "  The   Matrix! "])
def test_find_movies_ignores_case_year_article_and_punctuation(titles, query):
    found = find_movies(titles, query)
    assert found["movieId"].iloc[0] == 1 and found["match"].iloc[0] == "exact"


def test_find_movies_ignores_accents_and_reads_alternative_titles(titles):
    assert find_movies(titles, "Amélie")["movieId"].tolist() == [6]
    assert find_movies(titles, "Fabuleux destin d'Amelie Poulain")["movieId"].tolist() == [6]
    assert find_movies(titles, "se7en")["movieId"].tolist() == [7]


def test_find_movies_ranks_exact_then_starts_with_then_contains(titles):
    found = find_movies(titles, "matrix")
    assert found["movieId"].tolist() == [1, 2]
    assert found["match"].tolist() == ["exact", "starts with"]
    assert find_movies(titles, "reloaded")["match"].tolist() == ["contains"]


def test_find_movies_matches_whole_words_only(titles):
    assert find_movies(titles, "Alien")["movieId"].tolist() == [4]


def test_find_movies_puts_the_year_asked_for_first(titles):
    assert find_movies(titles, "matrix (2003)")["movieId"].tolist() == [2, 1]
    assert find_movies(titles, "Godzilla (2014)")["movieId"].tolist() == [9, 8]


def test_find_movies_breaks_ties_by_popularity_then_earliest_year(titles):
    assert find_movies(titles, "godzilla")["movieId"].tolist() == [8, 9]
    popularity = pd.Series({9: 50, 8: 10})
    assert find_movies(titles, "godzilla", popularity=popularity)["movieId"].tolist() == [9, 8]


def test_find_movies_returns_lookup_columns_and_respects_limit(titles):
    found = find_movies(titles, "godzilla", limit=1)
    assert found.columns.tolist() == ["movieId", "title", "genres", "year", "match"]
    assert len(found) == 1


def test_find_movies_unknown_title_names_it_and_suggests_close_titles(titles):
    with pytest.raises(UnknownTitleError, match=r"no movie title matches 'Toy Stroy'; did you mean 'Toy Story \(1995\)'\?") as caught:
        find_movies(titles, "Toy Stroy")
    assert caught.value.suggestions == ["Toy Story (1995)"]
    assert caught.value.query == "Toy Stroy"
    assert isinstance(caught.value, UnknownIdError)


def test_find_movies_far_from_everything_says_so(titles):
    with pytest.raises(UnknownTitleError, match="no title is close either") as caught:
        find_movies(titles, "Zzyzx Road")
    assert caught.value.suggestions == []


@pytest.mark.parametrize("query", ["", "   ", "(1999)", "!!"])
def test_find_movies_empty_query_raises(titles, query):
    with pytest.raises(ValueError, match="no letter or digit"):
        find_movies(titles, query)


@pytest.mark.parametrize(("query", "limit"), [(42, 10), ("matrix", 0), ("matrix", True)])
def test_find_movies_bad_arguments_raise(titles, query, limit):
    with pytest.raises(ValueError):
        find_movies(titles, query, limit=limit)


def test_find_movies_finds_shipped_titles():
    movies = load_movielens().movies
    assert find_movies(movies, "Star Wars (1977)")["title"].iloc[0] == "Star Wars: Episode IV - A New Hope (1977)"
    assert find_movies(movies, "La Haine")["title"].iloc[0] == "Hate (Haine, La) (1995)"


# ---------------------------------------------------------------- movielens_dir


def test_movielens_dir_without_variable_returns_default(monkeypatch):
    monkeypatch.delenv("MOVIELENS_DIR", raising=False)
    assert movielens_dir() is None
    assert movielens_dir(DEFAULT_DATA_DIR) == DEFAULT_DATA_DIR


def test_movielens_dir_reads_variable_and_loader_accepts_it(monkeypatch, tmp_path):
    folder = write_csv_layout(tmp_path / "ml-32m", with_sums=False)
    monkeypatch.setenv("MOVIELENS_DIR", str(folder))
    assert movielens_dir(DEFAULT_DATA_DIR) == folder
    assert load_movielens(movielens_dir()).name == "ml-32m"


def test_movielens_dir_missing_folder_names_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("MOVIELENS_DIR", str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="MOVIELENS_DIR="):
        movielens_dir()
