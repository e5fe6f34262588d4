"""Tests for helpers.ann: faiss indexes over LightFM item vectors, checked against exact search."""

import numpy as np
import pytest
import scipy.sparse as sp
from lightfm import LightFM

from helpers.ann import ann_similar_items, ann_top_k, build_item_index, recall_at_k
from helpers.recommend import similar_items, top_k_items


@pytest.fixture(scope="module")
def model():
    likes = sp.random(60, 120, density=0.1, format="coo", random_state=1)
    likes.data[:] = 1.0
    return LightFM(no_components=8, loss="warp", random_state=0).fit(likes, epochs=5, num_threads=1)


def test_exact_index_matches_top_k_items(model):
    users = np.arange(60)
    approx, scores = ann_top_k(build_item_index(model, exact=True), model, users, k=10)
    exact, exact_scores = top_k_items(model, users, k=10)
    assert recall_at_k(approx, exact) == 1.0
    np.testing.assert_allclose(scores, exact_scores, atol=1e-4)


def test_hnsw_with_exhaustive_search_has_recall_one(model):
    index = build_item_index(model, ef_search=120, ef_construction=200)
    approx, _ = ann_top_k(index, model, np.arange(60), k=10)
    exact, _ = top_k_items(model, np.arange(60), k=10)
    assert approx.shape == (60, 10) and approx.dtype == np.int32
    assert recall_at_k(approx, exact) == 1.0


def test_scores_include_user_bias_and_match_predict(model):
    biased = LightFM(no_components=8, random_state=0).fit(sp.random(60, 120, density=0.1, format="coo", random_state=2), epochs=1)
    biased.user_biases[:] = np.linspace(-3, 3, 60).astype(np.float32)  # LightFM keeps user biases at 0 without features
    items, scores = ann_top_k(build_item_index(biased, exact=True), biased, np.array([0, 59]), k=4)
    for row, user in enumerate([0, 59]):
        np.testing.assert_allclose(scores[row], biased.predict(user, items[row]), atol=1e-4)
    assert scores[1].min() > scores[0].max()  # +3 vs -3 dominates the small trained scores


def test_same_settings_give_same_results(model):
    first = ann_top_k(build_item_index(model, m=4, ef_search=8), model, np.arange(60), k=5)[0]
    second = ann_top_k(build_item_index(model, m=4, ef_search=8), model, np.arange(60), k=5)[0]
    np.testing.assert_array_equal(first, second)


def test_ann_similar_items_matches_exact_and_skips_self(model):
    index = build_item_index(model, metric="cosine", ef_search=120)
    approx, cosine = ann_similar_items(index, model, np.arange(120), k=5)
    exact, exact_cosine = similar_items(model, np.arange(120), k=5)
    assert not (approx == np.arange(120)[:, None]).any()
    assert recall_at_k(approx, exact) == 1.0
    np.testing.assert_allclose(cosine, exact_cosine, atol=1e-4)


@pytest.mark.parametrize("k", [0, -1, 2.5, True, 121])
def test_bad_k_raises(model, k):
    with pytest.raises(ValueError, match="k="):
        ann_top_k(build_item_index(model, exact=True), model, np.arange(3), k=k)


def test_wrong_index_kind_and_bad_arguments_raise(model):
    with pytest.raises(ValueError, match="needs an 'inner_product' index"):
        ann_top_k(build_item_index(model, metric="cosine"), model, np.arange(3))
    with pytest.raises(ValueError, match="needs a 'cosine' index"):
        ann_similar_items(build_item_index(model), model, [0])
    with pytest.raises(ValueError, match="metric='l2'"):
        build_item_index(model, metric="l2")
    with pytest.raises(ValueError, match="m=0"):
        build_item_index(model, m=0)
    with pytest.raises(IndexError, match="user indices"):
        ann_top_k(build_item_index(model), model, np.array([60]))


def test_ef_search_can_be_changed_on_hnsw_only(model):
    index = build_item_index(model, ef_search=16)
    index.ef_search = 64
    assert index.ef_search == 64
    with pytest.raises(ValueError, match="exact index"):
        build_item_index(model, exact=True).ef_search = 10


def test_recall_at_k_counts_overlap_and_checks_shapes():
    assert recall_at_k(np.array([[1, 2, 3]]), np.array([[3, 2, 1]])) == 1.0
    assert recall_at_k(np.array([[1, 2], [5, 6]]), np.array([[1, 3], [7, 8]])) == 0.25
    with pytest.raises(ValueError, match="expected equal"):
        recall_at_k(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="no queries"):
        recall_at_k(np.zeros((0, 3)), np.zeros((0, 3)))
