"""Tests for helpers.features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from lightfm import LightFM
from lightfm.data import Dataset

from helpers.data import IdMapping, UnknownIdError, build_interactions
from helpers.features import (
    Features,
    check_feature_shapes,
    item_features,
    similar_features,
    stack_features,
    training_tags,
    user_features,
    without_identity,
)


@pytest.fixture
def movies() -> pd.DataFrame:
    return pd.DataFrame({
        "movieId": [1, 2, 3, 4],
        "title": ["A (1995)", "B (1999)", "C (2004)", "D"],
        "genres": [["Comedy"], ["Action", "Sci-Fi"], [], ["Comedy", "Drama"]],
        "year": pd.array([1995, 1999, 2004, pd.NA], dtype="Int16"),
    })


@pytest.fixture
def ratings() -> pd.DataFrame:
    return pd.DataFrame({
        "userId": [10, 10, 10, 20, 20, 30],
        "movieId": [1, 2, 4, 2, 3, 1],
        "rating": [5.0, 4.0, 2.0, 4.5, 4.0, 1.0],
    })


@pytest.fixture
def tags() -> pd.DataFrame:
    return pd.DataFrame({
        "userId": [10, 20, 10, 20, 10],
        "movieId": [1, 1, 2, 4, 3],
        "tag": ["Funny", "funny ", "space", "funny", "one-off"],
    })


def test_rows_follow_the_mapping_order_not_the_movies_order(movies):
    mapping = IdMapping(pd.Index([10]), pd.Index([4, 1, 2]))
    feats = item_features(movies, mapping, identity=False, normalize=False)
    assert list(feats.labels) == ["genre:Action", "genre:Comedy", "genre:Drama", "genre:Sci-Fi"]
    np.testing.assert_array_equal(feats.matrix.toarray(), [[0, 1, 1, 0], [0, 1, 0, 0], [1, 0, 0, 1]])


def test_genres_match_lightfm_dataset_normalized(movies):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2, 3, 4]))
    ours = item_features(movies, mapping, identity=True, genres=True)
    dataset = Dataset(item_identity_features=True)
    dataset.fit([10], [1, 2, 3, 4], item_features=[f"genre:{g}" for g in ["Action", "Comedy", "Drama", "Sci-Fi"]])
    theirs = dataset.build_item_features(
        (row.movieId, [f"genre:{g}" for g in row.genres]) for row in movies.itertuples()
    )
    _, _, _, feature_map = dataset.mapping()
    order = [feature_map[label] if label.startswith("genre:") else feature_map[int(label.split(":")[1])]
             for label in ours.labels]
    np.testing.assert_allclose(ours.matrix.toarray(), theirs.toarray()[:, order], rtol=1e-6)


def test_rows_sum_to_one_when_normalized_and_empty_rows_stay_empty(movies):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2, 3, 4]))
    feats = item_features(movies, mapping, identity=False, genres=True)
    np.testing.assert_allclose(np.asarray(feats.matrix.sum(axis=1)).ravel(), [1, 1, 0, 1], rtol=1e-6)


def test_decade_labels_and_missing_year(movies):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2, 3, 4]))
    feats = item_features(movies, mapping, identity=False, genres=False, decade=True, normalize=False)
    assert list(feats.labels) == ["decade:1990s", "decade:2000s"]
    np.testing.assert_array_equal(feats.matrix.toarray(), [[1, 0], [1, 0], [0, 1], [0, 0]])


def test_tags_are_lowercased_capped_and_filtered_by_document_frequency(movies, tags):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2, 3, 4]))
    feats = item_features(movies, mapping, identity=False, genres=False, tags=tags, min_tag_movies=1,
                          max_tags=2, normalize=False)
    assert list(feats.labels) == ["tag:funny", "tag:one-off"] or list(feats.labels) == ["tag:funny", "tag:space"]
    assert feats.of(0)["tag:funny"] == 1.0  # applied twice, binary weight
    only_common = item_features(movies, mapping, identity=False, genres=False, tags=tags, min_tag_movies=2)
    assert list(only_common.labels) == ["tag:funny"]


def test_tfidf_weights_match_hand_computation(movies, tags):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2, 3, 4]))
    feats = item_features(movies, mapping, identity=False, genres=False, tags=tags, min_tag_movies=1,
                          tfidf=True, normalize=False)
    # "funny" is on movies 1 (twice) and 4 (once): idf = log(4 / 2); "space" only on movie 2: log(4 / 1).
    assert feats.of(0)["tag:funny"] == pytest.approx(2 * np.log(2))
    assert feats.of(3)["tag:funny"] == pytest.approx(np.log(2))
    assert feats.of(1)["tag:space"] == pytest.approx(np.log(4))


def test_item_missing_from_movies_is_named(movies):
    with pytest.raises(UnknownIdError, match=r"movieId \[99\]"):
        item_features(movies, IdMapping(pd.Index([10]), pd.Index([1, 99])))


def test_no_feature_selected_raises(movies):
    with pytest.raises(ValueError, match="no feature selected"):
        item_features(movies, IdMapping(pd.Index([10]), pd.Index([1])), identity=False, genres=False)


def test_user_genre_profile_uses_only_the_ratings_given(ratings, movies):
    mapping = IdMapping.from_frame(ratings, items=movies["movieId"])
    feats = user_features(ratings, movies, mapping, identity=False, activity_bins=0, normalize=False)
    user_10 = feats.of(0)
    # likes of user 10: movie 1 (Comedy), movie 2 (Action, Sci-Fi); movie 4 is rated 2.0, not a like.
    assert user_10.to_dict() == pytest.approx({"likes:Action": 0.5, "likes:Comedy": 0.5, "likes:Sci-Fi": 0.5})
    assert feats.of(2).empty  # user 30 liked nothing
    train_only = user_features(ratings[ratings["userId"] != 20], movies, mapping, identity=False, activity_bins=0)
    assert train_only.of(1).empty  # user 20 has no training ratings: no profile leaks in


def test_user_activity_bins_rank_users_by_rating_count(ratings, movies):
    mapping = IdMapping.from_frame(ratings, items=movies["movieId"])
    feats = user_features(ratings, movies, mapping, identity=False, genres=False, activity_bins=3)
    assert [feats.of(row).index[0] for row in range(3)] == ["activity:3of3", "activity:2of3", "activity:1of3"]


def test_stack_rejects_different_row_counts():
    a = Features(sp.csr_matrix((2, 1), dtype=np.float32), pd.Index(["a"]))
    b = Features(sp.csr_matrix((3, 1), dtype=np.float32), pd.Index(["b"]))
    with pytest.raises(ValueError, match=r"different row counts \[2, 3\]"):
        stack_features(a, b)


def test_index_of_unknown_label_is_named(movies):
    feats = item_features(movies, IdMapping(pd.Index([10]), pd.Index([1, 2])), identity=False)
    assert feats.labels[feats.index_of(["genre:Comedy"])[0]] == "genre:Comedy"
    with pytest.raises(UnknownIdError, match="genre:Horror"):
        feats.index_of(["genre:Horror"])


def test_shape_mismatch_is_caught_before_lightfm(ratings, movies):
    built = build_interactions(ratings)  # mapping of the 4 rated items
    catalog = IdMapping(pd.Index([10, 20, 30]), pd.Index([1, 2, 3, 4, 5]))
    with pytest.raises(ValueError, match="item_features has 5 rows but the interactions have 4 items"):
        check_feature_shapes(built.matrix, item_features=sp.csr_matrix((5, 2)))
    with pytest.raises(ValueError, match="user_features has 2 rows but the interactions have 3 users"):
        check_feature_shapes(built.matrix, user_features=sp.csr_matrix((2, 2)))
    assert catalog.shape[1] != built.shape[1]


def test_model_trained_with_other_features_is_caught(ratings, movies):
    mapping = IdMapping.from_frame(ratings, items=movies["movieId"])
    built = build_interactions(ratings, mapping, threshold=4)
    feats = item_features(movies, mapping)
    model = LightFM(no_components=2, random_state=0).fit(built.matrix, item_features=feats.matrix, epochs=1)
    check_feature_shapes(built.matrix, item_features=feats, model=model)
    with pytest.raises(ValueError, match=r"trained with \d+ item features but item_features is None"):
        check_feature_shapes(built.matrix, model=model)


def test_matrices_are_csr_float32_and_lightfm_accepts_them(ratings, movies, tags):
    mapping = IdMapping.from_frame(ratings, items=movies["movieId"])
    built = build_interactions(ratings, mapping, threshold=4)
    items = item_features(movies, mapping, decade=True, tags=tags, min_tag_movies=1)
    users = user_features(ratings, movies, mapping)
    for feats in (items, users):
        assert sp.isspmatrix_csr(feats.matrix) and feats.matrix.dtype == np.float32
    model = LightFM(no_components=2, random_state=0)
    model.fit(built.matrix, user_features=users.matrix, item_features=items.matrix, epochs=2)
    scores = model.predict(np.zeros(4, np.int32), np.arange(4, dtype=np.int32),
                           user_features=users.matrix, item_features=items.matrix)
    assert np.isfinite(scores).all()


def test_of_lists_features_in_column_order_after_normalising(movies, tags):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2, 3, 4]))
    feats = item_features(movies, mapping, decade=True, tags=tags, min_tag_movies=1)
    for row in range(4):
        shown = feats.of(row)
        assert list(feats.index_of(shown.index)) == sorted(feats.index_of(shown.index))
    assert feats.matrix.has_sorted_indices


def test_training_tags_drop_test_pairs_and_movies_without_training_ratings():
    tags = pd.DataFrame({
        "userId": [1, 2, 3, 1],
        "movieId": [10, 10, 10, 20],
        "tag": ["kept", "test pair", "no rating by user 3 but movie in train", "movie only in test"],
    })
    train = pd.DataFrame({"userId": [1, 2], "movieId": [10, 30]})
    test = pd.DataFrame({"userId": [2, 1], "movieId": [10, 20]})
    kept = training_tags(tags, train, test)
    assert kept["tag"].tolist() == ["kept", "no rating by user 3 but movie in train"]
    assert kept.index.tolist() == [0, 2]
    assert training_tags(tags, train)["tag"].tolist() == ["kept", "test pair", "no rating by user 3 but movie in train"]


def test_training_tags_missing_column_is_named():
    with pytest.raises(ValueError, match="lacks column"):
        training_tags(pd.DataFrame({"movieId": [1], "tag": ["x"]}), pd.DataFrame({"userId": [1], "movieId": [1]}))


def test_without_identity_equals_building_those_rows_without_identity(movies, tags):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2, 3, 4]))
    hybrid = item_features(movies, mapping, decade=True, tags=tags, min_tag_movies=1)
    metadata = item_features(movies, mapping, identity=False, decade=True, tags=tags, min_tag_movies=1)
    changed = without_identity(hybrid, [0, 3])
    assert changed.shape == hybrid.shape and changed.labels.equals(hybrid.labels)
    dense, reference = changed.matrix.toarray(), metadata.matrix.toarray()
    n_identity = 4  # the identity block comes first
    for row in (0, 3):
        np.testing.assert_allclose(dense[row, :n_identity], 0)
        np.testing.assert_allclose(dense[row, n_identity:], reference[row], rtol=1e-6)
    for row in (1, 2):
        np.testing.assert_allclose(dense[row], hybrid.matrix.toarray()[row])


def test_without_identity_all_rows_and_unnormalised(movies):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2, 3, 4]))
    raw = item_features(movies, mapping, normalize=False)
    stripped = without_identity(raw, normalize=False)
    np.testing.assert_array_equal(stripped.matrix.toarray()[:, 4:], raw.matrix.toarray()[:, 4:])
    assert stripped.matrix[:, :4].nnz == 0
    assert stripped.of(2).empty  # movie 3 has no genre: nothing is left, and no division by zero


def test_without_identity_rejects_matrices_without_identity_and_bad_rows(movies):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2]))
    with pytest.raises(ValueError, match="no feature label starts with"):
        without_identity(item_features(movies, mapping, identity=False))
    with pytest.raises(IndexError, match=r"row \[5\] outside 0..1"):
        without_identity(item_features(movies, mapping), [5])


def test_without_identity_keeps_lightfm_predictions_finite(ratings, movies):
    mapping = IdMapping.from_frame(ratings, items=movies["movieId"])
    built = build_interactions(ratings, mapping, threshold=4)
    feats = item_features(movies, mapping)
    model = LightFM(no_components=2, random_state=0).fit(built.matrix, item_features=feats.matrix, epochs=1)
    stripped = without_identity(feats, [3])
    check_feature_shapes(built.matrix, item_features=stripped, model=model)
    scores = model.predict(np.zeros(4, np.int32), np.arange(4, dtype=np.int32), item_features=stripped.matrix)
    assert np.isfinite(scores).all()


def test_similar_features_matches_brute_force_cosine():
    rng = np.random.default_rng(0)
    n_features = 12
    labels = pd.Index([f"genre:{i}" for i in range(4)] + [f"tag:{i}" for i in range(8)])
    presence = sp.csr_matrix((rng.random((20, n_features)) < 0.3).astype(np.float32))
    feats = Features(presence, labels)
    emb = rng.normal(size=(n_features, 5))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    cosine = unit @ unit.T
    for query in range(n_features):
        got = similar_features(emb, feats, labels[query], n=3)
        others = [j for j in np.argsort(-cosine[query], kind="stable") if j != query][:3]
        assert got["feature"].tolist() == labels[others].tolist()
        np.testing.assert_allclose(got["similarity"], cosine[query, others])
        np.testing.assert_array_equal(got["rows"], presence.getnnz(axis=0)[others])
    assert got.index.tolist() == [1, 2, 3]


def test_similar_features_prefix_min_count_and_short_lists():
    feats = Features(
        sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, 1]], np.float32)),
        pd.Index(["genre:A", "tag:rare", "tag:common", "genre:B"]),
    )
    emb = np.array([[1.0, 0.0], [1.0, 0.01], [0.5, 0.5], [0.0, 0.0]])
    assert similar_features(emb, feats, "genre:A", prefix="tag:")["feature"].tolist() == ["tag:rare", "tag:common"]
    assert similar_features(emb, feats, "genre:A", prefix="tag:", min_count=2)["feature"].tolist() == ["tag:common"]
    zero = similar_features(emb, feats, "genre:A", prefix="genre:")
    assert zero["feature"].tolist() == ["genre:B"] and zero["similarity"].tolist() == [0.0]


def test_similar_features_rejects_bad_inputs():
    feats = Features(sp.csr_matrix(np.eye(2, dtype=np.float32)), pd.Index(["genre:A", "tag:b"]))
    with pytest.raises(ValueError, match=r"shape \(3, 2\) but features has 2 labels"):
        similar_features(np.ones((3, 2)), feats, "genre:A")
    with pytest.raises(UnknownIdError, match="genre:Z"):
        similar_features(np.ones((2, 2)), feats, "genre:Z")
    with pytest.raises(ValueError, match="n=0"):
        similar_features(np.ones((2, 2)), feats, "genre:A", n=0)
    with pytest.raises(ValueError, match="no feature besides"):
        similar_features(np.ones((2, 2)), feats, "genre:A", prefix="decade:")


def test_fallback_marks_only_items_without_metadata(movies):
    mapping = IdMapping(pd.Index([10]), pd.Index([1, 2, 3, 4]))
    feats = item_features(movies, mapping, identity=True, fallback="meta:unknown", normalize=False)
    assert feats.labels[-1] == "meta:unknown"
    np.testing.assert_array_equal(feats.matrix[:, -1].toarray().ravel(), [0, 0, 1, 0])  # movie 3 has no genre
    with_decade = item_features(movies, mapping, identity=False, decade=True, fallback="meta:unknown")
    np.testing.assert_array_equal(with_decade.matrix[:, -1].toarray().ravel(), [0, 0, 0, 0])  # 3 has a decade
    np.testing.assert_allclose(np.asarray(feats.matrix.sum(axis=1)).ravel(), [2, 3, 2, 3])


def test_fallback_must_be_a_label(movies):
    with pytest.raises(ValueError, match="fallback=''"):
        item_features(movies, IdMapping(pd.Index([10]), pd.Index([1])), fallback="")
