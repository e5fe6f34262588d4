"""Tests for helpers.coldstart: the new-user protocol, new-user serving and campaign precision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from lightfm import LightFM

from helpers.coldstart import (
    NEW_USER_METHODS,
    NewUserContext,
    campaign_precision,
    fold_in_method,
    hold_out_users,
    naive_average_method,
    new_user_curve,
    popularity_method,
    recommend_for_new_user,
    resolve_titles,
    split_users,
)
from helpers.data import IdMapping, UnknownIdError, UnknownTitleError, build_interactions
from helpers.evaluate import evaluate_ranking
from helpers.recommend import fold_in_user, naive_average_user, score_user_vector, targeting_curve, targeting_scores

# ---------------------------------------------------------------- small data made here


def planted_ratings(seed: int = 0) -> pd.DataFrame:
    """Two tastes: 45 users like items 20-39 (so those are popular), 25 users like items 0-19.

    A new user of the small group gains nothing from popularity; a method that reads their
    revealed likes must find the rest of their group's items.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(70):
        group = range(20, 40) if user < 45 else range(0, 20)
        for item in group:
            if rng.random() < 0.6:
                rows.append((user, item, 5.0))
        for item in rng.choice(40, size=3, replace=False):  # a few low ratings: seen, not liked
            rows.append((user, int(item), 1.0))
    frame = pd.DataFrame(rows, columns=["userId", "movieId", "rating"])
    return frame.drop_duplicates(["userId", "movieId"], keep="first").reset_index(drop=True)


def train_small(matrix, seed):
    return LightFM(no_components=4, loss="warp", random_state=seed).fit(matrix, epochs=30, num_threads=1)


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return planted_ratings()


@pytest.fixture(scope="module")
def small_model(planted):
    built = build_interactions(planted, threshold=4)
    return train_small(built.matrix, 0), built


def recording(log: list) -> callable:
    """A method that records what it was given and scores items by index (highest index first)."""

    def score(context: NewUserContext, revealed: np.ndarray) -> np.ndarray:
        log.append(revealed.copy())
        return np.tile(np.arange(context.item_repr.shape[0], dtype=float), (len(revealed), 1))

    return score


MOVIES = pd.DataFrame({
    "movieId": [1, 2, 3, 4, 5],
    "title": ["Matrix, The (1999)", "Matrix Reloaded, The (2003)", "Toy Story (1995)", "Alien (1979)",
              "Aliens (1986)"],
    "genres": [["Action", "Sci-Fi"], ["Action"], ["Animation"], ["Horror"], ["Action"]],
    "year": pd.array([1999, 2003, 1995, 1979, 1986], dtype="Int16"),
})


# ---------------------------------------------------------------- hold_out_users


def test_hold_out_users_only_draws_users_with_a_like():
    frame = pd.DataFrame({"userId": [1, 2, 3, 4, 5, 6], "rating": [5.0, 1.0, 4.0, 4.0, 2.0, 4.5]})
    held = hold_out_users(frame, 0.5, seed=3)
    assert set(held) <= {1, 3, 4, 6} and len(held) == 2
    assert held.tolist() == sorted(held.tolist())


def test_hold_out_users_is_deterministic_per_seed(planted):
    assert hold_out_users(planted, seed=1).tolist() == hold_out_users(planted, seed=1).tolist()
    assert hold_out_users(planted, seed=1).tolist() != hold_out_users(planted, seed=2).tolist()


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_hold_out_fraction_outside_open_interval_raises(planted, fraction):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        hold_out_users(planted, fraction)


def test_split_users_gives_two_disjoint_groups_of_every_user_with_a_like(planted):
    first, second = split_users(planted, 0.3, seed=5)
    with_a_like = np.unique(planted.loc[planted["rating"] >= 4, "userId"])
    assert np.intersect1d(first, second).size == 0
    assert np.union1d(first, second).tolist() == with_a_like.tolist()
    assert len(first) == round(0.3 * len(with_a_like))
    assert [g.tolist() for g in split_users(planted, 0.3, seed=5)] == [first.tolist(), second.tolist()]


# ---------------------------------------------------------------- new_user_curve: protocol


def test_fold_in_beats_popularity_on_planted_tastes(planted):
    curve = new_user_curve(planted, train_small, reveal=(3,), seeds=(0, 1), holdout_fraction=0.3, k=5)
    means = curve.per_user.groupby("method")["precision"].mean()
    assert means["fold-in"] > means["popularity"] + 0.15
    assert means["naive average + item bias"] > means["popularity"]


def test_users_with_too_few_likes_are_skipped_and_counted(planted):
    curve = new_user_curve(planted, train_small, methods={"rec": recording([])}, reveal=(1, 11), seeds=(0,))
    likes = planted[planted["rating"] >= 4].groupby("userId").size()
    held = hold_out_users(planted, 0.2, seed=0)
    for n in (1, 11):
        row = curve.users.set_index("reveal").loc[n]
        expected_skipped = int((likes.reindex(held) <= n).sum())
        assert row["skipped"] == expected_skipped
        assert row["evaluated"] + row["skipped"] == row["held_out"] == len(held)
        evaluated = curve.per_user.loc[curve.per_user["reveal"] == n, "userId"]
        assert (likes.reindex(evaluated) > n).all()
    assert curve.users.set_index("reveal").loc[11, "skipped"] > 0


@pytest.mark.parametrize("reveal", [(0,), (3, -1), (2.5,), (True,)])
def test_reveal_below_one_or_not_whole_raises(planted, reveal):
    with pytest.raises(ValueError, match="reveal="):
        new_user_curve(planted, train_small, reveal=reveal, seeds=(0,))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reveal": ()}, "reveal is empty"),
        ({"seeds": ()}, "seeds is empty"),
        ({"methods": {}}, "methods is empty"),
        ({"holdout_fraction": 1.0}, "strictly between 0 and 1"),
        ({"k": 0}, "k=0"),
        ({"max_users": 0}, "max_users=0"),
    ],
)
def test_bad_arguments_raise_before_training(planted, kwargs, message):
    def never(matrix, seed):
        raise AssertionError("trained despite bad arguments")

    with pytest.raises(ValueError, match=message):
        new_user_curve(planted, never, **kwargs)


def test_nobody_left_to_evaluate_raises(planted):
    with pytest.raises(ValueError, match="nothing to evaluate"):
        new_user_curve(planted, train_small, reveal=(40,), seeds=(0,))


def training_recorder(seen: dict):
    """A train_model that keeps each seed's training matrix in ``seen``."""

    def spy(matrix, seed):
        seen[seed] = matrix.tocsr()
        return train_small(matrix, seed)

    return spy


def test_held_out_users_are_absent_from_training(planted):
    seen = {}
    spy = training_recorder(seen)
    mapping = IdMapping.from_frame(planted)
    new_user_curve(planted, spy, reveal=(2,), seeds=(0, 1), mapping=mapping, max_users=3)
    for seed, matrix in seen.items():
        held = mapping.user_index(hold_out_users(planted, 0.2, seed=seed))
        assert matrix[held].nnz == 0
        others = np.setdiff1d(np.arange(matrix.shape[0]), held)
        assert (matrix[others].getnnz(axis=1) > 0).all()


def test_precision_matches_brute_force_and_reveals_are_nested(planted):
    log = []
    mapping = IdMapping.from_frame(planted)
    curve = new_user_curve(planted, train_small, methods={"rec": recording(log)}, reveal=(1, 4), seeds=(0,),
                           mapping=mapping, k=3)
    likes = planted[planted["rating"] >= 4]
    first, second = (curve.per_user[curve.per_user["reveal"] == n] for n in (1, 4))
    assert first["userId"].tolist() == second["userId"].tolist()  # nobody has <= 4 likes here
    for revealed, frame in zip(log, (first, second)):
        for row, (user, precision, recall, hidden) in zip(revealed, frame[["userId", "precision", "recall", "hidden"]].to_numpy()):
            liked = mapping.item_index(likes.loc[likes["userId"] == user, "movieId"].to_numpy())
            assert set(row) <= set(liked) and len(set(row)) == len(row)
            rest = np.setdiff1d(liked, row)
            order = [i for i in np.arange(mapping.shape[1])[::-1] if i not in row][:3]  # index scores, best first
            assert precision == pytest.approx(np.isin(order, rest).sum() / 3)
            assert recall == pytest.approx(np.isin(order, rest).sum() / len(rest))
            assert hidden == len(rest)
    np.testing.assert_array_equal(log[1][:, :1], log[0])


def test_same_seeds_give_identical_results(planted):
    a = new_user_curve(planted, train_small, reveal=(2, 5), seeds=(4,), max_users=6)
    b = new_user_curve(planted, train_small, reveal=(2, 5), seeds=(4,), max_users=6)
    pd.testing.assert_frame_equal(a.per_user, b.per_user)


def test_max_users_limits_evaluation_not_the_holdout(planted):
    curve = new_user_curve(planted, train_small, reveal=(2,), seeds=(0,), max_users=4)
    assert curve.per_user.groupby("method")["userId"].nunique().eq(4).all()
    assert curve.users["held_out"].iloc[0] == len(hold_out_users(planted, 0.2, seed=0))


def test_users_restricts_evaluation_to_the_group_but_not_the_holdout(planted):
    seen = {}
    spy = training_recorder(seen)
    mapping = IdMapping.from_frame(planted)
    first, second = split_users(planted, 0.5, seed=1)
    curves = [new_user_curve(planted, spy, methods={"rec": recording([])}, reveal=(2,), seeds=(0, 3),
                             mapping=mapping, users=group, holdout_fraction=0.4) for group in (first, second)]
    for seed in (0, 3):
        held = hold_out_users(planted, 0.4, seed=seed)
        assert seen[seed][mapping.user_index(held)].nnz == 0  # every held-out user is out of training
        evaluated = [set(c.per_user.loc[c.per_user["seed"] == seed, "userId"]) for c in curves]
        assert evaluated[0] == set(held) & set(first) and evaluated[1] == set(held) & set(second)


def test_ties_follow_the_tie_order_of_evaluate_ranking(planted):
    """Equal scores rank in the one fixed random order that evaluate_ranking uses for every scorer."""
    mapping = IdMapping.from_frame(planted)
    flat = {"flat": lambda context, revealed: np.zeros((len(revealed), context.item_repr.shape[0]))}
    curve = new_user_curve(planted, train_small, methods=flat, reveal=(1,), seeds=(0,), mapping=mapping, k=5)
    held = hold_out_users(planted, 0.2, seed=0)
    rng = np.random.default_rng((0, 1))  # the curve's shuffles, as new_user_curve draws them
    likes = planted[planted["rating"] >= 4]
    for user in held:
        liked = mapping.item_index(likes.loc[likes["userId"] == user, "movieId"].to_numpy())
        shuffled = rng.permutation(np.unique(liked))
        revealed, hidden = shuffled[:1], shuffled[1:]
        test = sp.csr_matrix((np.ones(len(hidden)), (np.zeros(len(hidden), int), hidden)), shape=(1, mapping.shape[1]))
        train = sp.csr_matrix((np.ones(1), (np.zeros(1, int), revealed)), shape=(1, mapping.shape[1]))
        expected = evaluate_ranking(lambda users: np.zeros((len(users), mapping.shape[1])), test, train, k=5)
        got = curve.per_user.loc[curve.per_user["userId"] == user, "precision"].item()
        assert got == pytest.approx(expected.per_user["precision"].item())


def test_fold_in_defaults_are_fold_in_users(small_model):
    """Every helper that folds in a user uses fold_in_user's penalty unless told otherwise."""
    import inspect

    default = inspect.signature(fold_in_user).parameters["l2"].default
    assert inspect.signature(fold_in_method).parameters["l2"].default == default
    assert inspect.signature(recommend_for_new_user).parameters["l2"].default == default
    model, built = small_model
    context, revealed = context_of(model, built), np.array([[0, 1, 2]])
    np.testing.assert_array_equal(fold_in_method()(context, revealed), fold_in_method(l2=default)(context, revealed))


def test_method_returning_wrong_shape_raises(planted):
    with pytest.raises(ValueError, match="returned scores of shape"):
        new_user_curve(planted, train_small, methods={"bad": lambda context, revealed: np.zeros(3)},
                       reveal=(1,), seeds=(0,))


# ---------------------------------------------------------------- methods against the recommend helpers


def context_of(model, built) -> NewUserContext:
    bias, repr_ = model.get_item_representations()
    return NewUserContext(model, built.matrix.tocsr(), None, bias, repr_)


def test_naive_methods_match_naive_average_user(small_model):
    model, built = small_model
    revealed = np.array([[0, 1, 2], [25, 30, 31]])
    for use_bias in (False, True):
        scores = naive_average_method(use_item_bias=use_bias)(context_of(model, built), revealed)
        for row, items in zip(scores, revealed):
            expected = score_user_vector(model, naive_average_user(model, items), use_item_bias=use_bias)
            np.testing.assert_allclose(row, expected, rtol=1e-5, atol=1e-5)


def test_fold_in_method_matches_fold_in_user(small_model):
    model, built = small_model
    revealed = np.array([[0, 1], [25, 30]])
    scores = fold_in_method(l2=0.5)(context_of(model, built), revealed)
    for row, items in zip(scores, revealed):
        np.testing.assert_allclose(row, score_user_vector(model, fold_in_user(model, items, l2=0.5)), rtol=1e-5, atol=1e-5)


def test_popularity_method_ignores_reveals_and_ranks_by_likes(small_model):
    model, built = small_model
    scores = popularity_method()(context_of(model, built), np.array([[0], [39]]))
    np.testing.assert_array_equal(scores[0], scores[1])
    counts = built.matrix.tocsc().getnnz(axis=0)
    assert counts[np.argmax(scores[0])] == counts.max()


def test_fold_in_method_rejects_negative_l2():
    with pytest.raises(ValueError, match="l2=-1"):
        fold_in_method(l2=-1)


def test_default_methods_are_the_four_compared():
    assert list(NEW_USER_METHODS) == ["popularity", "naive average", "naive average + item bias", "fold-in"]


# ---------------------------------------------------------------- NewUserCurve summaries


@pytest.fixture(scope="module")
def curve(planted):
    return new_user_curve(planted, train_small, reveal=(1, 3), seeds=(0, 1), max_users=8)


def test_summary_has_mean_inside_interval_per_method_and_reveal(curve):
    table = curve.summary(n_resamples=200)
    assert len(table) == 4 * 2
    assert ((table["low"] <= table["mean"]) & (table["mean"] <= table["high"])).all()
    expected = curve.per_user.groupby(["method", "reveal"])["precision"].mean()
    np.testing.assert_allclose(table["mean"].sort_index(), expected.sort_index())


def test_compare_is_paired_on_seed_and_user(curve):
    result = curve.compare("fold-in", "popularity", reveal=3, n_resamples=200)
    frame = curve.per_user[curve.per_user["reveal"] == 3]
    a = frame[frame["method"] == "fold-in"]["precision"].mean()
    b = frame[frame["method"] == "popularity"]["precision"].mean()
    assert result["ratio"] == pytest.approx(a / b)
    assert result["difference"] == pytest.approx(a - b)
    assert result["users"] == len(frame) / 4


def test_by_seed_has_one_row_per_seed(curve):
    table = curve.by_seed(reveal=3)
    assert table.index.tolist() == [0, 1]
    assert list(table.columns) == list(NEW_USER_METHODS)


def test_unknown_method_metric_or_reveal_raises(curve):
    with pytest.raises(ValueError, match="method 'magic' not measured"):
        curve.compare("magic", "popularity", reveal=3)
    with pytest.raises(ValueError, match="metric='ndcg'"):
        curve.summary("ndcg")
    with pytest.raises(ValueError, match="reveal=7 was not measured"):
        curve.by_seed(reveal=7)


# ---------------------------------------------------------------- resolve_titles


def test_resolve_titles_keeps_order_and_ratings():
    out = resolve_titles(MOVIES, {"toy story": 4.5, "the matrix (1999)": 5})
    assert out["movieId"].tolist() == [3, 1]
    assert out["rating"].tolist() == [4.5, 5.0]
    assert out["query"].tolist() == ["toy story", "the matrix (1999)"]


def test_resolve_titles_names_every_unknown_title():
    with pytest.raises(UnknownTitleError) as caught:
        resolve_titles(MOVIES, {"Toy Stroy": 4, "Matrix": 5, "Zzyzx Road": 3})
    message = str(caught.value)
    assert "no movie title matches 'Toy Stroy'" in message and "no movie title matches 'Zzyzx Road'" in message
    assert "'Matrix'" not in message
    assert caught.value.query == "Toy Stroy, Zzyzx Road"
    assert "Toy Story (1995)" in caught.value.suggestions


def test_resolve_titles_rejects_two_titles_for_one_movie():
    with pytest.raises(ValueError, match="all resolve to 'Matrix, The \\(1999\\)'"):
        resolve_titles(MOVIES, {"The Matrix": 5, "matrix (1999)": 4})


@pytest.mark.parametrize("ratings", [{}, {"Toy Story": "five"}, {"Toy Story": float("nan")}, ["Toy Story"]])
def test_resolve_titles_rejects_empty_or_non_numeric(ratings):
    with pytest.raises(ValueError):
        resolve_titles(MOVIES, ratings)


# ---------------------------------------------------------------- recommend_for_new_user


@pytest.fixture(scope="module")
def catalogue(planted):
    return pd.DataFrame({"movieId": np.arange(40), "title": [f"Movie {i} (2000)" for i in range(40)],
                         "genres": [["Drama"]] * 40, "year": pd.array([2000] * 40, dtype="Int16")})


def test_recommendations_skip_liked_and_seen_and_follow_fold_in(small_model, catalogue):
    model, built = small_model
    out = recommend_for_new_user(model, built.mapping, catalogue, [0, 1, 2], seen=[3, 4], k=5)
    assert len(out) == 5 and out["rank"].tolist() == [1, 2, 3, 4, 5]
    assert not set(out["movieId"]) & {0, 1, 2, 3, 4}
    scores = score_user_vector(model, fold_in_user(model, built.mapping.item_index([0, 1, 2]))).astype(float)
    scores[built.mapping.item_index([0, 1, 2, 3, 4])] = -np.inf
    expected = built.mapping.item_id(np.argsort(-scores, kind="stable")[:5])
    assert out["movieId"].tolist() == expected.tolist()
    assert out["because"].str.contains(r"Movie [012] \(2000\) \(").all()


def test_recommendations_order_equal_scores_by_the_tie_order_of_evaluate_ranking(small_model, catalogue):
    """Items that all score the same are listed in evaluate_ranking's tie order, not by index."""
    import copy

    model, built = small_model
    flat = copy.deepcopy(model)  # every item the same vector and bias: every score ties
    flat.item_embeddings[:] = flat.item_embeddings[0]
    flat.item_biases[:] = flat.item_biases[0]
    n_items = built.mapping.shape[1]
    for tie_seed in (0, 5):
        out = recommend_for_new_user(flat, built.mapping, catalogue, [0], k=6, tie_seed=tie_seed)
        flat_scores = lambda users: np.zeros((len(users), n_items))
        liked = sp.csr_matrix((np.ones(1), ([0], built.mapping.item_index([0]))), shape=(1, n_items))
        some_test_item = sp.csr_matrix((np.ones(1), ([0], [n_items - 1])), shape=(1, n_items))
        expected = evaluate_ranking(flat_scores, some_test_item, liked, k=6, tie_seed=tie_seed).top_k[0]
        assert out["movieId"].tolist() == built.mapping.item_id(expected).tolist()
        assert out["movieId"].tolist() != sorted(out["movieId"])  # not simply by index


def test_planted_new_user_gets_their_group(small_model, catalogue):
    model, built = small_model
    out = recommend_for_new_user(model, built.mapping, catalogue, [0, 1, 2, 3], k=5)
    assert (out["movieId"] < 20).sum() >= 4  # the small group's items, not the popular ones


def test_liked_movie_unknown_to_the_model_raises_with_its_title(small_model, catalogue):
    model, built = small_model
    extended = pd.concat([catalogue, pd.DataFrame({"movieId": [99], "title": ["Brand New (2024)"], "genres": [["Drama"]],
                                                   "year": pd.array([2024], dtype="Int16")})], ignore_index=True)
    with pytest.raises(UnknownIdError, match=r"movieId \[99\] \(Brand New \(2024\)\) has no column"):
        recommend_for_new_user(model, built.mapping, extended, [0, 99])


def test_no_liked_movie_raises(small_model, catalogue):
    model, built = small_model
    with pytest.raises(ValueError, match="liked is empty"):
        recommend_for_new_user(model, built.mapping, catalogue, [])


# ---------------------------------------------------------------- campaign_precision


@pytest.fixture(scope="module")
def campaign_data():
    likes = sp.random(25, 12, density=0.3, format="csr", random_state=2)
    likes.data[:] = 1
    train, test = sp.triu(likes, format="csr"), sp.tril(likes, k=-1, format="csr")
    model = LightFM(no_components=3, random_state=0).fit(train.tocoo(), epochs=3, num_threads=1)
    return model, train, test


def test_campaign_precision_counts_the_first_k_eligible_users(campaign_data):
    model, train, test = campaign_data
    items = np.arange(12)
    priority = targeting_scores(model, items, by="rank", exclude=train)
    table = campaign_precision(priority, items, test, k=6, exclude=train)
    for column, item in enumerate(items):
        eligible = np.flatnonzero(np.isfinite(priority[:, column]) & (train[:, item].toarray().ravel() == 0))
        chosen = eligible[np.argsort(-priority[eligible, column], kind="stable")][:6]
        likers = np.intersect1d(test[:, item].nonzero()[0], eligible)
        assert table.loc[item, "hits"] == np.isin(chosen, likers).sum()
        assert table.loc[item, "eligible"] == len(eligible) and table.loc[item, "likers"] == len(likers)
        assert table.loc[item, "precision"] == pytest.approx(np.isin(chosen, likers).sum() / 6)
        assert table.loc[item, "base_rate"] == pytest.approx(len(likers) / len(eligible))
        if len(likers):
            assert table.loc[item, "lift"] == pytest.approx(table.loc[item, "precision"] / table.loc[item, "base_rate"])
        else:
            assert np.isnan(table.loc[item, "lift"])


@pytest.mark.parametrize("by", ["rank", "score"])
def test_campaign_precision_agrees_with_targeting_curve(campaign_data, by):
    model, train, test = campaign_data
    items = np.arange(12)
    priority = targeting_scores(model, items, by=by, exclude=train)
    table = campaign_precision(priority, items, test, k=5, exclude=train)
    curve = targeting_curve(priority, items, test, exclude=train)
    assert table["hits"].mean() == pytest.approx(curve.loc[4, "hits"])
    assert (table["base_rate"] * 5).mean() == pytest.approx(curve.loc[4, "random_hits"])


def test_campaign_precision_without_exclude_uses_every_finite_priority():
    test = sp.csr_matrix(np.array([[1], [1], [0], [1]]))
    priority = np.array([[1.0], [-np.inf], [3.0], [2.0]])
    table = campaign_precision(priority, [0], test, k=2)
    assert table.loc[0, ["eligible", "likers", "hits"]].tolist() == [3, 2, 1]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"items": [12]}, ValueError, "priority has shape"),
        ({"k": 26}, ValueError, "larger than the 25 users"),
        ({"k": 0}, ValueError, "k=0"),
        ({"priority": np.zeros((3, 2))}, ValueError, "priority has shape"),
        ({"exclude": sp.csr_matrix((3, 12))}, ValueError, "exclude has shape"),
    ],
)
def test_campaign_precision_bad_arguments_raise(campaign_data, kwargs, error, message):
    _, _, test = campaign_data
    arguments = {"priority": np.zeros((25, 2)), "items": [0, 1], "k": 5} | kwargs
    with pytest.raises(error, match=message):
        campaign_precision(arguments.pop("priority"), arguments.pop("items"), test, **arguments)


def test_campaign_precision_item_outside_test_raises(campaign_data):
    _, _, test = campaign_data
    with pytest.raises(IndexError, match="0..11"):
        campaign_precision(np.zeros((25, 1)), [12], test)
