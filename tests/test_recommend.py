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
    export_top_k_csv,
    fold_in_user,
    naive_average_user,
    recommend,
    recommend_from_recent,
    score_user_vector,
    similar_items,
    targeting_curve,
    targeting_scores,
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


# ------------------------------------------------------------------ shared catalog for id-level helpers


@pytest.fixture(scope="module")
def catalog():
    mapping = IdMapping(pd.Index(np.arange(100, 100 + N_USERS)), pd.Index(np.arange(1, N_ITEMS + 1)))
    movies = pd.DataFrame({"movieId": np.arange(1, N_ITEMS + 1), "title": [f"M{i}" for i in range(1, N_ITEMS + 1)],
                           "genres": [["Drama"]] * N_ITEMS, "year": pd.array([2000] * N_ITEMS, dtype="Int16")})
    return mapping, movies


# ------------------------------------------------------------------------------ users without history


def test_user_without_history_gets_the_item_bias_ranking(model, likes, catalog):
    mapping, movies = catalog
    history = likes.tolil()
    history[4, :] = 0
    history = history.tocsr()
    history.eliminate_zeros()
    out = recommend(model, [104, 105], mapping, movies, k=3, exclude=history)
    expected = np.argsort(-model.item_biases, kind="stable")[:3] + 1
    assert out.loc[out["userId"] == 104, "movieId"].tolist() == expected.tolist()
    np.testing.assert_allclose(out.loc[out["userId"] == 104, "score"], model.item_biases[expected - 1].round(3), atol=1e-6)
    modelled = recommend(model, [105], mapping, movies, k=3, exclude=history)
    assert out.loc[out["userId"] == 105, "movieId"].tolist() == modelled["movieId"].tolist()


def test_user_without_history_can_raise_or_be_scored_by_the_model(model, likes, catalog):
    mapping, movies = catalog
    history = sp.csr_matrix(likes.shape)
    with pytest.raises(ValueError, match=r"userId \[104\] has no history"):
        recommend(model, [104], mapping, movies, k=3, exclude=history, no_history="raise")
    scored = recommend(model, [104], mapping, movies, k=3, exclude=history, no_history="model")
    assert scored["movieId"].tolist() == (np.argsort(-predict_all(model, 4), kind="stable")[:3] + 1).tolist()
    with pytest.raises(ValueError, match="no_history='nobody'"):
        recommend(model, [104], mapping, movies, exclude=history, no_history="nobody")


# ------------------------------------------------------------------------------------ recent window


def _history(user: int, items: list[int], ratings: list[float], days: list[int]) -> pd.DataFrame:
    start = pd.Timestamp("2020-01-01", tz="UTC")
    return pd.DataFrame({"userId": user, "movieId": items, "rating": ratings,
                         "timestamp": [start + pd.Timedelta(days=d) for d in days]})


@pytest.fixture(scope="module")
def history():
    # userId 103: liked 1, 2 long ago; rated 3 low recently; liked 4, 5 in the last week.
    return pd.concat([_history(103, [1, 2, 3, 4, 5], [5, 4, 2, 4.5, 4], [0, 1, 95, 96, 100]),
                      _history(999, [6], [5], [0])], ignore_index=True)


def test_recent_window_folds_in_only_the_recent_likes(model, history, catalog):
    mapping, movies = catalog
    out = recommend_from_recent(model, history, 103, mapping, movies, k=4, window=pd.Timedelta(days=7))
    assert out.recent["movieId"].tolist() == [5, 4]  # newest first; the low rating is not a like
    l2 = recommend_from_recent.__kwdefaults__["l2"]  # its own default (test below: fold_in_user's)
    scores = score_user_vector(model, fold_in_user(model, np.array([3, 4]), l2=l2))  # items 4, 5 -> indices 3, 4
    scores[[0, 1, 2, 3, 4]] = -np.inf  # everything the user rated is excluded, liked or not
    expected = np.argsort(-scores, kind="stable")[:4] + 1
    assert out.picks["movieId"].tolist() == expected.tolist()
    np.testing.assert_allclose(out.picks["score"], scores[expected - 1].round(3), atol=1e-3)


def test_recent_window_l2_default_is_fold_in_users():
    # The recent row folds in with fold-in's validated penalty unless the caller chooses another.
    assert recommend_from_recent.__kwdefaults__["l2"] == fold_in_user.__kwdefaults__["l2"]


def test_last_n_takes_the_most_recent_likes(model, history, catalog):
    mapping, movies = catalog
    out = recommend_from_recent(model, history, 103, mapping, movies, k=2, last_n=3)
    assert out.recent["movieId"].tolist() == [5, 4, 2]


def test_each_pick_names_the_closest_recent_like(model, history, catalog):
    mapping, movies = catalog
    out = recommend_from_recent(model, history, 103, mapping, movies, k=5, last_n=3)
    vectors = model.item_embeddings / np.linalg.norm(model.item_embeddings, axis=1, keepdims=True)
    for _, pick in out.picks.iterrows():
        cosine = {m: float(vectors[m - 1] @ vectors[pick["movieId"] - 1]) for m in (5, 4, 2)}
        best = max(cosine, key=cosine.get)
        assert pick["because"] == f"M{best}"
        assert pick["similarity"] == pytest.approx(cosine[best], abs=1e-3)


def test_recent_window_respects_exclude_and_now(model, history, catalog):
    mapping, movies = catalog
    exclude = sp.csr_matrix((np.ones(2), ([3, 3], [5, 6])), shape=(N_USERS, N_ITEMS))  # userId 103 has items 6, 7
    out = recommend_from_recent(model, history, 103, mapping, movies, k=N_ITEMS, window=pd.Timedelta(days=7),
                                exclude=exclude)
    assert not set(out.picks["movieId"]) & {1, 2, 3, 4, 5, 6, 7}
    assert len(out.picks) == N_ITEMS - 7  # slots nobody can fill are dropped
    earlier = recommend_from_recent(model, history, 103, mapping, movies, k=2, window=pd.Timedelta(days=7),
                                    now=pd.Timestamp("2020-01-03", tz="UTC"))
    assert earlier.recent["movieId"].tolist() == [2, 1]


def test_recent_window_without_likes_explains_itself(model, history, catalog):
    mapping, movies = catalog
    with pytest.raises(ValueError, match="no like in the 2 days up to 2020-04-11; their last like was on 2020-04-06"):
        recommend_from_recent(model, history, 103, mapping, movies, window=pd.Timedelta(days=2),
                              now=pd.Timestamp("2020-04-10", tz="UTC") + pd.Timedelta(days=1), threshold=4.5)


@pytest.mark.parametrize("kwargs", [{}, {"window": pd.Timedelta(days=1), "last_n": 2}, {"last_n": 0},
                                    {"window": pd.Timedelta(0)}])
def test_recent_window_needs_exactly_one_valid_span(model, history, catalog, kwargs):
    mapping, movies = catalog
    with pytest.raises(ValueError):
        recommend_from_recent(model, history, 103, mapping, movies, **kwargs)


def test_recent_window_unknown_user_or_movie_raises(model, history, catalog):
    mapping, movies = catalog
    with pytest.raises(UnknownIdError, match="userId 5 has no rows"):
        recommend_from_recent(model, history, 5, mapping, movies, last_n=2)
    stray = pd.concat([history, _history(103, [77], [5], [101])], ignore_index=True)
    with pytest.raises(UnknownIdError, match=r"item id \[77\]"):
        recommend_from_recent(model, stray, 103, mapping, movies, last_n=2)


def test_recent_window_names_missing_columns(model, history, catalog):
    mapping, movies = catalog
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['timestamp'\]"):
        recommend_from_recent(model, history.drop(columns="timestamp"), 103, mapping, movies, last_n=2)


def test_recent_window_works_for_a_user_the_model_never_saw(model, history, catalog):
    mapping, movies = catalog
    out = recommend_from_recent(model, history, 999, mapping, movies, k=3, last_n=1, exclude=sp.csr_matrix((N_USERS, N_ITEMS)))
    assert 6 not in out.picks["movieId"].tolist() and (out.picks["because"] == "M6").all()


# ------------------------------------------------------------------------------------------- export


def test_export_writes_every_users_list_once_with_one_header(tmp_path, model, likes, catalog):
    mapping, _ = catalog
    target = tmp_path / "top.csv"
    written = export_top_k_csv(model, target, mapping, k=3, exclude=likes, batch_size=4)
    lines = target.read_text().splitlines()
    assert lines.count("userId,rank,movieId,score") == 1 and written == len(lines) - 1 == N_USERS * 3
    exported = pd.read_csv(target)
    items, scores = top_k_items(model, np.arange(N_USERS), k=3, exclude=likes)
    np.testing.assert_array_equal(exported["movieId"].to_numpy(), mapping.item_id(items.ravel()))
    np.testing.assert_array_equal(exported["userId"].to_numpy(), np.repeat(mapping.users, 3))
    np.testing.assert_allclose(exported["score"], scores.ravel(), atol=1e-4)


def test_export_never_overwrites(tmp_path, model, catalog):
    mapping, _ = catalog
    target = tmp_path / "top.csv"
    target.write_text("precious\n")
    with pytest.raises(FileExistsError, match="top.csv already exists"):
        export_top_k_csv(model, target, mapping, k=2)
    assert target.read_text() == "precious\n"


def test_export_drops_unfillable_slots_and_exports_a_subset(tmp_path, model, catalog):
    mapping, _ = catalog
    seen_all_but_one = sp.csr_matrix(np.r_[np.ones(N_ITEMS - 1), 0][None, :].repeat(N_USERS, axis=0))
    written = export_top_k_csv(model, tmp_path / "top.csv", mapping, k=3, exclude=seen_all_but_one, user_ids=[101, 107])
    exported = pd.read_csv(tmp_path / "top.csv")
    assert written == 2 and exported["movieId"].tolist() == [N_ITEMS, N_ITEMS]
    assert exported["userId"].tolist() == [101, 107]


def test_failed_export_leaves_no_file(tmp_path, model, catalog):
    mapping, _ = catalog
    with pytest.raises(ValueError, match="k="):
        export_top_k_csv(model, tmp_path / "top.csv", mapping, k=0)
    with pytest.raises(UnknownIdError):
        export_top_k_csv(model, tmp_path / "top.csv", mapping, k=2, user_ids=[1])
    assert not (tmp_path / "top.csv").exists()


# --------------------------------------------------------------------------------- targeting


def _brute_force_ranks(model, likes) -> np.ndarray:
    """Rank (0 = first) of every item in every user's own list, excluded items removed; -1 if excluded."""
    ranks = np.full((N_USERS, N_ITEMS), -1)
    for user in range(N_USERS):
        scores = predict_all(model, user)
        seen = likes[user].indices
        for item in np.setdiff1d(np.arange(N_ITEMS), seen):
            others = np.setdiff1d(np.arange(N_ITEMS), np.r_[seen, item])
            ranks[user, item] = int((scores[others] > scores[item]).sum())
    return ranks


def test_targeting_by_rank_is_the_items_place_in_each_users_list(model, likes):
    items = np.array([0, 6, 14])
    priority = targeting_scores(model, items, by="rank", exclude=likes, batch_size=7)
    expected = _brute_force_ranks(model, likes)[:, items]
    np.testing.assert_array_equal(np.isinf(priority), expected < 0)
    np.testing.assert_array_equal(-priority[expected >= 0], expected[expected >= 0])


def test_targeting_by_score_is_predict(model, likes):
    priority = targeting_scores(model, [3], by="score", exclude=likes)[:, 0]
    brute = np.array([predict_all(model, u)[3] for u in range(N_USERS)])
    brute[likes[:, 3].nonzero()[0]] = -np.inf
    np.testing.assert_allclose(priority, brute, rtol=1e-5, atol=1e-5)


def test_top_users_by_rank_puts_first_whoever_ranks_the_item_highest(model, likes):
    users, ranks = top_users_for_item(model, 6, k=N_USERS, exclude=likes, by="rank")
    brute = _brute_force_ranks(model, likes)[:, 6]
    eligible = np.flatnonzero(brute >= 0)
    assert len(users) == len(eligible) and set(users) == set(eligible)
    np.testing.assert_array_equal(ranks, brute[users])
    assert (np.diff(ranks) >= 0).all()


def test_targeting_scores_reject_bad_input(model, likes):
    with pytest.raises(ValueError, match="by='best'"):
        targeting_scores(model, [0], by="best")
    with pytest.raises(IndexError, match=f"0..{N_ITEMS - 1}"):
        targeting_scores(model, [N_ITEMS])
    with pytest.raises(ValueError, match="exclude has shape"):
        targeting_scores(model, [0], exclude=sp.csr_matrix((N_USERS, 2)))


def test_targeting_curve_matches_brute_force(model, likes):
    test = sp.random(N_USERS, N_ITEMS, density=0.2, format="csr", random_state=7)
    test = (test - test.multiply(likes)).tocsr()  # disjoint from the likes
    test.eliminate_zeros()
    items = np.array([1, 4, 9])
    priority = targeting_scores(model, items, by="score", exclude=likes)
    curve = targeting_curve(priority, items, test, exclude=likes)
    expected_hits, expected_random, recalls = [], [], []
    for item in items:
        eligible = np.flatnonzero(likes[:, item].toarray().ravel() == 0)
        users, _ = top_users_for_item(model, int(item), k=len(eligible), exclude=likes)
        positive = test[:, item].toarray().ravel() > 0
        found = np.cumsum(positive[users])
        found = np.r_[found, np.full(N_USERS - len(found), found[-1])]
        expected_hits.append(found)
        expected_random.append(np.minimum(np.arange(1, N_USERS + 1), len(eligible)) * positive.sum() / len(eligible))
        if positive.any():
            recalls.append(found / positive.sum())
    np.testing.assert_allclose(curve["hits"], np.mean(expected_hits, axis=0))
    np.testing.assert_allclose(curve["random_hits"], np.mean(expected_random, axis=0))
    np.testing.assert_allclose(curve["recall"], np.mean(recalls, axis=0))
    np.testing.assert_allclose(curve["hit_rate"], curve["hits"] / np.arange(1, N_USERS + 1))


def test_targeting_curve_accepts_any_rule_and_stops_at_max_users(likes):
    test = sp.csr_matrix((np.ones(2), ([2, 5], [0, 0])), shape=(N_USERS, N_ITEMS))
    activity = np.arange(N_USERS, dtype=float)[::-1][:, None]  # user 0 first, then 1, 2, ...
    curve = targeting_curve(activity, [0], test, max_users=6)
    assert curve["hits"].tolist() == [0, 0, 1, 1, 1, 2] and len(curve) == 6


def test_targeting_curve_rejects_bad_input(likes):
    with pytest.raises(ValueError, match="priority has shape"):
        targeting_curve(np.zeros((N_USERS, 2)), [0], likes)
    with pytest.raises(ValueError, match="test has 3 rows"):
        targeting_curve(np.zeros((N_USERS, 1)), [0], sp.csr_matrix((3, N_ITEMS)))
    with pytest.raises(IndexError, match=f"0..{N_ITEMS - 1}"):
        targeting_curve(np.zeros((N_USERS, 1)), [N_ITEMS], likes)
    with pytest.raises(ValueError, match="k=0"):
        targeting_curve(np.zeros((N_USERS, 1)), [0], likes, max_users=0)
    with pytest.raises(ValueError, match="items is empty"):
        targeting_curve(np.zeros((N_USERS, 0)), [], likes)


def test_thread_count_does_not_change_the_lists(model, likes):
    one = top_k_items(model, np.arange(N_USERS), k=4, exclude=likes, batch_size=2, num_threads=1)
    three = top_k_items(model, np.arange(N_USERS), k=4, exclude=likes, batch_size=2, num_threads=3)
    np.testing.assert_array_equal(one[0], three[0])
    np.testing.assert_array_equal(one[1], three[1])
    with pytest.raises(ValueError, match="num_threads=0"):
        top_k_items(model, np.arange(N_USERS), k=4, num_threads=0)
