"""Tests for helpers.recommend, against brute-force references built with model.predict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from lightfm import LightFM

from helpers.data import IdMapping, UnknownIdError
from helpers.recommend import (
    batch_size_for,
    explain,
    fold_in_user,
    naive_average_user,
    recommend,
    score_user_vector,
    similar_items,
    top_k_items,
    top_users_for_item,
)

N_USERS, N_ITEMS = 20, 15


@pytest.fixture(scope="module")
def likes() -> sp.csr_matrix:
    matrix = sp.random(N_USERS, N_ITEMS, density=0.25, format="csr", random_state=3)
    matrix.data[:] = 1
    return matrix


@pytest.fixture(scope="module")
def model(likes) -> LightFM:
    return LightFM(no_components=4, random_state=0).fit(likes.tocoo(), epochs=5, num_threads=1)


@pytest.fixture(scope="module")
def hybrid(likes):
    features = sp.hstack([sp.identity(N_ITEMS), sp.random(N_ITEMS, 3, density=0.5, random_state=1)], format="csr")
    features.data = features.data.astype(np.float32)
    fitted = LightFM(no_components=4, random_state=0).fit(likes.tocoo(), item_features=features, epochs=5)
    return fitted, features


def predict_all(model, user, item_features=None) -> np.ndarray:
    items = np.arange(N_ITEMS, dtype=np.int32)
    return model.predict(np.full(N_ITEMS, user, dtype=np.int32), items, item_features=item_features)


def test_top_k_matches_brute_force_predict(model, likes):
    items, scores = top_k_items(model, np.arange(N_USERS), k=4, exclude=likes, batch_size=3)
    for user in range(N_USERS):
        brute = predict_all(model, user)
        brute[likes[user].indices] = -np.inf
        expected = np.argsort(-brute, kind="stable")[:4]
        np.testing.assert_array_equal(items[user], expected)
        np.testing.assert_allclose(scores[user], brute[expected], rtol=1e-5, atol=1e-5)


def test_top_k_with_item_features_matches_predict(hybrid):
    fitted, features = hybrid
    items, scores = top_k_items(fitted, np.array([2]), k=3, item_features=features)
    brute = predict_all(fitted, 2, item_features=features)
    np.testing.assert_array_equal(items[0], np.argsort(-brute, kind="stable")[:3])


def test_batch_size_does_not_change_the_lists(model, likes):
    one = top_k_items(model, np.arange(N_USERS), k=5, exclude=likes, batch_size=1)
    all_at_once = top_k_items(model, np.arange(N_USERS), k=5, exclude=likes, batch_size=1000)
    np.testing.assert_array_equal(one[0], all_at_once[0])


@pytest.mark.parametrize("k", [0, -1, N_ITEMS + 1, 2.5])
def test_bad_k_raises(model, k):
    with pytest.raises(ValueError, match="k="):
        top_k_items(model, np.array([0]), k=k)


def test_unknown_user_index_raises(model):
    with pytest.raises(IndexError, match=f"0..{N_USERS - 1}"):
        top_k_items(model, np.array([N_USERS]), k=2)


def test_exclude_of_wrong_shape_raises(model):
    with pytest.raises(ValueError, match="exclude has shape"):
        top_k_items(model, np.array([0]), k=2, exclude=sp.csr_matrix((N_USERS, N_ITEMS + 1)))


def test_recommend_returns_titles_and_drops_unfillable_slots(model):
    mapping = IdMapping(pd.Index(np.arange(100, 100 + N_USERS)), pd.Index(np.arange(1, N_ITEMS + 1)))
    movies = pd.DataFrame({"movieId": np.arange(1, N_ITEMS + 1), "title": [f"M{i}" for i in range(1, N_ITEMS + 1)],
                           "genres": [["Drama"]] * N_ITEMS, "year": pd.array([2000] * N_ITEMS, dtype="Int16")})
    seen_all_but_two = sp.csr_matrix(np.r_[np.ones(N_ITEMS - 2), 0, 0][None, :].repeat(N_USERS, axis=0))
    out = recommend(model, [105], mapping, movies, k=5, exclude=seen_all_but_two)
    assert out["movieId"].tolist() == sorted([N_ITEMS - 1, N_ITEMS], key=lambda i: -predict_all(model, 5)[i - 1])
    assert out["rank"].tolist() == [1, 2] and set(out["userId"]) == {105}
    with pytest.raises(UnknownIdError, match=r"user id \[999\]"):
        recommend(model, [999], mapping, movies)


def test_top_users_for_item_matches_brute_force(model, likes):
    users, scores = top_users_for_item(model, 3, k=5, exclude=likes)
    brute = np.array([predict_all(model, u)[3] for u in range(N_USERS)])
    brute[likes[:, 3].nonzero()[0]] = -np.inf
    expected = np.argsort(-brute, kind="stable")[:5]
    np.testing.assert_array_equal(users, expected)
    np.testing.assert_allclose(scores, brute[expected], rtol=1e-5)


def test_similar_items_is_cosine_without_self(model):
    neighbours, cosine = similar_items(model, np.array([0, 7]), k=3, batch_size=1)
    vectors = model.item_embeddings / np.linalg.norm(model.item_embeddings, axis=1, keepdims=True)
    for row, item in enumerate([0, 7]):
        brute = vectors @ vectors[item]
        brute[item] = -np.inf
        np.testing.assert_array_equal(neighbours[row], np.argsort(-brute, kind="stable")[:3])
        np.testing.assert_allclose(cosine[row], brute[neighbours[row]], rtol=1e-5)


def test_explain_ranks_liked_items_by_cosine(model):
    reasons, cosine = explain(model, 0, np.array([5, 3, 9, 3]), n=2)
    vectors = model.item_embeddings / np.linalg.norm(model.item_embeddings, axis=1, keepdims=True)
    brute = {i: float(vectors[i] @ vectors[0]) for i in (3, 5, 9)}
    assert list(reasons) == sorted(brute, key=lambda i: -brute[i])[:2]
    with pytest.raises(ValueError, match="no liked items"):
        explain(model, 0, np.array([], dtype=int))


def test_fold_in_recovers_a_known_users_preferences(model, likes):
    user = int(np.argmax(likes.getnnz(axis=1)))
    liked = likes[user].indices
    vector = fold_in_user(model, liked, l2=0.01)
    scores = score_user_vector(model, vector)
    others = np.setdiff1d(np.arange(N_ITEMS), liked)
    assert scores[liked].mean() > scores[others].mean()


def test_fold_in_gradient_is_exact(model):
    """The analytic gradient the optimiser uses agrees with finite differences of the objective."""
    liked = np.array([1, 4])
    item_bias, item_repr = model.get_item_representations()
    others = np.setdiff1d(np.arange(N_ITEMS), liked)

    def objective(q):
        diff = (item_repr[liked] @ q + item_bias[liked])[:, None] - (item_repr[others] @ q + item_bias[others])[None, :]
        return np.logaddexp(0, -diff).mean(axis=1).sum() + 0.5 * q @ q

    q = fold_in_user(model, liked, l2=0.5).astype(np.float64)
    step = 1e-4
    numeric = np.array([(objective(q + step * e) - objective(q - step * e)) / (2 * step) for e in np.eye(len(q))])
    np.testing.assert_allclose(numeric, 0, atol=1e-3)  # the optimum has zero gradient


def test_fold_in_rejects_bad_input(model):
    with pytest.raises(ValueError, match="at least one liked item"):
        fold_in_user(model, np.array([], dtype=int))
    with pytest.raises(ValueError, match=f"0..{N_ITEMS - 1}"):
        fold_in_user(model, np.array([N_ITEMS]))


def test_naive_average_is_the_mean_embedding(model):
    np.testing.assert_allclose(naive_average_user(model, np.array([2, 6])), model.item_embeddings[[2, 6]].mean(axis=0))


def test_score_user_vector_with_and_without_bias(model):
    vector = model.user_embeddings[3]
    with_bias = score_user_vector(model, vector)
    np.testing.assert_allclose(with_bias + model.user_biases[3], predict_all(model, 3), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(score_user_vector(model, vector, use_item_bias=False), with_bias - model.item_biases, atol=1e-6)
    with pytest.raises(ValueError, match="expected \\(4,\\)"):
        score_user_vector(model, np.zeros(3))


def test_batch_size_for_respects_the_budget():
    assert batch_size_for(1000, memory_mb=1) == 262
    assert batch_size_for(10**9, memory_mb=1) == 1
    with pytest.raises(ValueError, match="expected both > 0"):
        batch_size_for(0)
