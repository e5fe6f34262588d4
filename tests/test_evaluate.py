"""Tests for helpers.evaluate: splits, ranking metrics, baselines, bootstrap and the learning curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from lightfm import LightFM
from lightfm.cross_validation import random_train_test_split

from lightfm.evaluation import auc_score, precision_at_k, recall_at_k, reciprocal_rank

from helpers.data import IdMapping
from helpers.evaluate import (
    _precision_at_k,
    bootstrap_ci,
    evaluate_ranking,
    fit_with_early_stopping,
    genre_popularity_scorer,
    item_cold_start_split,
    learning_curve,
    lightfm_scorer,
    popularity_scorer,
    random_scorer,
    random_split,
    temporal_split,
)

SEED = 7
N_USERS, N_ITEMS = 25, 40


# ---------------------------------------------------------------- small data made here


def split_likes(seed: int = SEED) -> tuple[sp.coo_matrix, sp.coo_matrix]:
    """A random 0/1 likes matrix split 80/20 into disjoint train and test."""
    likes = sp.random(N_USERS, N_ITEMS, density=0.3, format="coo", dtype=np.float32, random_state=seed)
    likes.data[:] = 1.0
    return random_train_test_split(likes, test_percentage=0.2, random_state=np.random.RandomState(seed))


def tiny_model() -> LightFM:
    return LightFM(no_components=5, loss="warp", random_state=SEED)


def brute_force_precision(model: LightFM, positives: sp.spmatrix, exclude: sp.spmatrix | None, k: int) -> float:
    """Mean precision@k over users with positives: score every item, drop excluded ones, take the top k."""
    positives = positives.tocsr()
    exclude = None if exclude is None else exclude.tocsr()
    n_users, n_items = positives.shape
    per_user = []
    for user in range(n_users):
        relevant = set(positives[user].indices)
        if not relevant:
            continue
        scores = model.predict(np.full(n_items, user, dtype=np.int32), np.arange(n_items, dtype=np.int32))
        if exclude is not None:
            scores[exclude[user].indices] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        per_user.append(len(relevant.intersection(top.tolist())) / k)
    return float(np.mean(per_user))


# ---------------------------------------------------------------- behaviour


def test_matches_brute_force_reference_every_epoch():
    train, test = split_likes()
    k, epochs = 5, 3
    curve = learning_curve(tiny_model(), train, test, epochs=epochs, k=k)

    reference = tiny_model()
    # LightFM sums in float32, so allow 1e-6: one hit more or less moves the mean by at least 1/(k*users) = 0.008.
    for epoch in range(epochs):
        reference.fit_partial(train, epochs=1, num_threads=1)
        row = curve.iloc[epoch]
        assert row["epoch"] == epoch + 1
        assert row["train_precision"] == pytest.approx(brute_force_precision(reference, train, None, k), abs=1e-6)
        assert row["test_precision"] == pytest.approx(brute_force_precision(reference, test, train, k), abs=1e-6)


def test_final_model_equals_fit_with_same_epochs():
    train, test = split_likes()
    curved = tiny_model()
    learning_curve(curved, train, test, epochs=4)
    fitted = tiny_model().fit(train, epochs=4, num_threads=1)
    np.testing.assert_array_equal(curved.item_embeddings, fitted.item_embeddings)
    np.testing.assert_array_equal(curved.user_embeddings, fitted.user_embeddings)


def test_columns_and_user_counts():
    train, test = split_likes()
    curve = learning_curve(tiny_model(), train, test, epochs=2, k=3)
    assert curve.columns.tolist() == ["epoch", "train_precision", "test_precision", "train_users", "test_users"]
    assert curve["epoch"].tolist() == [1, 2]
    assert (curve["test_users"] == (test.tocsr().getnnz(axis=1) > 0).sum()).all()
    assert (curve["train_users"] == (train.tocsr().getnnz(axis=1) > 0).sum()).all()
    assert curve[["train_precision", "test_precision"]].apply(lambda c: c.between(0, 1)).all().all()


def test_accepts_read_only_arrays_from_pandas():
    train, test = split_likes()
    frame = pd.DataFrame({"row": train.row, "col": train.col})
    rows, cols = frame["row"].to_numpy(), frame["col"].to_numpy()
    assert not rows.flags.writeable  # pandas 3 copy-on-write hands out read-only views
    read_only = sp.coo_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=train.shape)
    curve = learning_curve(tiny_model(), read_only, test, epochs=1)
    assert len(curve) == 1


def test_does_not_modify_the_inputs():
    train, test = split_likes()
    train_csr = train.tocsr()
    train_csr.data[0] = 0.0  # an explicit zero the helper drops from its own copy only
    before = train_csr.copy()
    learning_curve(tiny_model(), train_csr, test, epochs=1)
    assert train_csr.nnz == before.nnz
    np.testing.assert_array_equal(train_csr.data, before.data)


def test_shape_mismatch_names_both_shapes():
    train, test = split_likes()
    smaller = sp.coo_matrix(test.tocsr()[:, : N_ITEMS - 1])
    with pytest.raises(ValueError, match=rf"\({N_USERS}, {N_ITEMS}\).*\({N_USERS}, {N_ITEMS - 1}\)"):
        learning_curve(tiny_model(), train, smaller, epochs=1)


def test_overlapping_pairs_raise_with_their_count():
    train, test = split_likes()
    leaky_test = (test + sp.coo_matrix((np.ones(3, np.float32), (train.row[:3], train.col[:3])), shape=train.shape))
    with pytest.raises(ValueError, match=r"share 3 \(user, item\) pair\(s\).*inflates test scores"):
        learning_curve(tiny_model(), train, leaky_test, epochs=1)


@pytest.mark.parametrize("epochs", [0, -1, 2.5, True])
def test_epochs_must_be_a_positive_integer(epochs):
    train, test = split_likes()
    with pytest.raises(ValueError, match=r"epochs=.*expected an integer >= 1"):
        learning_curve(tiny_model(), train, test, epochs=epochs)


@pytest.mark.parametrize("k", [0, N_ITEMS + 1])
def test_k_must_be_between_one_and_the_number_of_items(k):
    train, test = split_likes()
    with pytest.raises(ValueError, match=rf"k={k}"):
        learning_curve(tiny_model(), train, test, epochs=1, k=k)


def test_dense_input_raises_type_error():
    train, test = split_likes()
    with pytest.raises(TypeError, match="test must be a scipy sparse matrix; got ndarray"):
        learning_curve(tiny_model(), train, test.toarray(), epochs=1)


def test_empty_test_raises():
    train, _ = split_likes()
    with pytest.raises(ValueError, match="test has no interactions"):
        learning_curve(tiny_model(), train, sp.coo_matrix(train.shape, dtype=np.float32), epochs=1)


# ---------------------------------------------------------------- splits


def rating_rows(seed: int = 0, n_users: int = 30, n_items: int = 50, n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pairs = pd.DataFrame({"userId": rng.integers(1, n_users + 1, n * 2), "movieId": rng.integers(1, n_items + 1, n * 2)})
    pairs = pairs.drop_duplicates().head(n).reset_index(drop=True)
    pairs["rating"] = rng.choice(np.arange(1, 11) / 2, len(pairs))
    pairs["timestamp"] = pd.to_datetime(rng.integers(0, 10**6, len(pairs)), unit="s", utc=True)
    return pairs


@pytest.mark.parametrize("splitter", [random_split, temporal_split, item_cold_start_split])
def test_splits_share_shape_are_disjoint_and_cover_every_row(splitter):
    ratings = rating_rows()
    split = splitter(ratings, test_fraction=0.25)
    assert split.train.shape == split.test.shape
    assert split.train.matrix.tocsr().multiply(split.test.matrix.tocsr()).nnz == 0
    assert len(split.train_frame) + len(split.test_frame) == len(ratings)
    assert not split.train_frame.index.intersection(split.test_frame.index).size
    positives = (ratings["rating"] >= 4).sum()
    assert split.train.matrix.nnz + split.test.matrix.nnz == positives


@pytest.mark.parametrize("splitter", [random_split, item_cold_start_split])
def test_seeded_splits_repeat_and_differ_by_seed(splitter):
    ratings = rating_rows()
    first = splitter(ratings, seed=1).test_frame.index
    assert first.equals(splitter(ratings, seed=1).test_frame.index)
    assert not first.equals(splitter(ratings, seed=2).test_frame.index)


def test_random_split_moves_the_requested_share_of_rows():
    ratings = rating_rows()
    split = random_split(ratings, test_fraction=0.2, threshold=None)
    assert len(split.test_frame) == len(ratings) - int(0.8 * len(ratings))
    assert split.test.matrix.nnz == len(split.test_frame)


def test_temporal_split_tests_each_users_newest_ratings():
    ratings = rating_rows()
    split = temporal_split(ratings, test_fraction=0.3)
    for user, rows in ratings.groupby("userId"):
        n_test = int(np.floor(len(rows) * 0.3))
        newest = rows.sort_values(["timestamp", "movieId"]).tail(n_test).index if n_test else pd.Index([])
        assert set(split.test_frame.index[split.test_frame["userId"] == user]) == set(newest), user


def test_item_cold_start_split_holds_out_whole_items():
    ratings = rating_rows()
    split = item_cold_start_split(ratings, test_fraction=0.2, seed=3)
    held_out = set(split.test_frame["movieId"])
    assert not held_out & set(split.train_frame["movieId"])
    assert len(held_out) == round(ratings["movieId"].nunique() * 0.2)
    train_items = set(split.train.mapping.item_id(np.unique(split.train.matrix.col)))
    assert not held_out & train_items


def test_split_keeps_a_given_catalog_mapping():
    ratings = rating_rows()
    mapping = IdMapping.from_frame(ratings, items=np.arange(1, 80))
    assert temporal_split(ratings, mapping).train.shape == (ratings["userId"].nunique(), 79)


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1])
def test_bad_test_fraction_is_named(fraction):
    with pytest.raises(ValueError, match=f"test_fraction={fraction!r}; expected a number strictly between 0 and 1"):
        random_split(rating_rows(), test_fraction=fraction)


# ---------------------------------------------------------------- ranking metrics


def tie_rank_of(n_items: int, seed: int = 0) -> np.ndarray:
    """Each item's place in the documented tie order: numpy.random.default_rng(seed).permutation."""
    rank = np.empty(n_items, dtype=np.int64)
    rank[np.random.default_rng(seed).permutation(n_items)] = np.arange(n_items)
    return rank


def brute_force_metrics(
    scores: np.ndarray, test: sp.csr_matrix, train: sp.csr_matrix | None, k: int, tie_rank: np.ndarray | None = None
) -> pd.DataFrame:
    """Every metric by its textbook definition, one user at a time, with Python loops; candidates are
    ranked by score, equal scores by ``tie_rank`` (default: the tie order of seed 0)."""
    n_users, n_items = test.shape
    tie_rank = tie_rank_of(n_items) if tie_rank is None else tie_rank
    popularity = np.zeros(n_items) if train is None else np.asarray(train.getnnz(axis=0), dtype=float)
    rows = {}
    for user in range(n_users):
        relevant = set(test[user].indices)
        if not relevant:
            continue
        seen = set() if train is None else set(train[user].indices)
        candidates = [i for i in range(n_items) if i not in seen]
        ranking = sorted(candidates, key=lambda i: (-scores[user, i], tie_rank[i]))
        # A user with fewer than k candidates is shown excluded items (score -inf) after them.
        top = (ranking + sorted(seen, key=lambda i: tie_rank[i]))[:k]
        hits = [i in relevant for i in top]
        dcg = sum(1 / np.log2(pos + 2) for pos, hit in enumerate(hits) if hit)
        ideal = sum(1 / np.log2(pos + 2) for pos in range(min(k, len(relevant))))
        precisions = [sum(hits[: pos + 1]) / (pos + 1) for pos, hit in enumerate(hits) if hit]
        negatives = [i for i in candidates if i not in relevant]
        pairs = [(p, n) for p in relevant for n in negatives]
        auc = np.mean([ranking.index(p) < ranking.index(n) for p, n in pairs]) if negatives else 0.5
        first = min(ranking.index(i) for i in relevant)
        rows[user] = {
            "precision": sum(hits) / k,
            "recall": sum(hits) / len(relevant),
            "ndcg": dcg / ideal,
            "map": sum(precisions) / min(k, len(relevant)),
            "auc": auc,
            "reciprocal_rank": 1 / (first + 1),
            "novelty": np.mean(-np.log2(np.maximum(popularity[top], 1) / n_users)),
            "popularity": np.mean(popularity[top]),
            "top_k": top,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def random_case(seed: int, n_users: int = 12, n_items: int = 30):
    rng = np.random.default_rng(seed)
    likes = sp.random(n_users, n_items, density=0.3, format="coo", random_state=seed)
    likes.data[:] = 1
    train, test = random_train_test_split(likes, test_percentage=0.3, random_state=np.random.RandomState(seed))
    return rng.normal(size=(n_users, n_items)), train.tocsr(), test.tocsr()


def assert_matches_reference(evaluation, reference: pd.DataFrame) -> None:
    metrics = reference.columns.drop("top_k")
    pd.testing.assert_frame_equal(
        evaluation.per_user[metrics], reference[metrics].astype(float), check_names=False, check_index_type=False
    )
    np.testing.assert_array_equal(evaluation.top_k, np.vstack(reference["top_k"].to_numpy()))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_metrics_match_brute_force_on_random_cases(seed, k):
    scores, train, test = random_case(seed)
    ours = evaluate_ranking(lambda users: scores[users], test, train, k=k, batch_size=5)
    assert_matches_reference(ours, brute_force_metrics(scores, test, train, k))


def tied_blocks(seed: int, n_users: int, n_items: int) -> dict[str, np.ndarray]:
    """Score blocks with many ties, one per code path: small integers (float64 that float32 holds
    exactly), the same as float32 with negative zeros, and thirds (float64 that float32 cannot hold)."""
    integers = np.random.default_rng(seed).integers(-2, 3, size=(n_users, n_items)).astype(np.float64)
    with_negative_zeros = np.where(integers == 0, -0.0, integers).astype(np.float32)
    with_negative_zeros[::2] = np.abs(with_negative_zeros[::2])  # +0.0 in half the rows
    return {"integers": integers, "float32": with_negative_zeros, "thirds": integers / 3}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 3, 10, 20])
@pytest.mark.parametrize("kind", ["integers", "float32", "thirds"])
def test_metrics_match_brute_force_with_many_ties(seed, k, kind):
    _, train, test = random_case(seed)
    scores = tied_blocks(seed, *test.shape)[kind]
    assert len(np.unique(scores)) <= 5  # most candidates share their score with others
    ours = evaluate_ranking(lambda users: scores[users], test, train, k=k, batch_size=5)
    assert_matches_reference(ours, brute_force_metrics(scores, test, train, k))


def test_tie_rule_is_the_same_whatever_the_score_scale_or_dtype():
    _, train, test = random_case(3, n_users=20, n_items=40)
    integers = tied_blocks(3, 20, 40)["integers"]
    runs = [evaluate_ranking(lambda u, b=block: b[u], test, train, k=5)
            for block in (integers, integers.astype(np.float32), integers / 3, 10 * integers + 7)]
    for other in runs[1:]:
        pd.testing.assert_frame_equal(runs[0].per_user, other.per_user)
        np.testing.assert_array_equal(runs[0].top_k, other.top_k)


def test_equal_scores_follow_the_seeded_tie_order():
    _, train, test = random_case(2)
    flat = evaluate_ranking(lambda u: np.zeros((len(u), 30)), test, None, k=30, tie_seed=5)
    expected = np.random.default_rng(5).permutation(30)
    assert (flat.top_k == expected).all()
    other = evaluate_ranking(lambda u: np.zeros((len(u), 30)), test, None, k=30, tie_seed=6)
    assert not np.array_equal(other.top_k[0], expected)


def test_ties_are_neither_penalised_nor_rewarded_on_average():
    # A scorer that ties everything is, averaged over tie orders, a random ranking: AUC 1/2 and
    # precision@k the share of test items among the candidates.
    _, train, test = random_case(4, n_users=30, n_items=50)
    runs = [evaluate_ranking(lambda u: np.ones((len(u), 50)), test, train, k=5, tie_seed=s).per_user
            for s in range(300)]
    auc = np.mean([run["auc"].mean() for run in runs])
    precision = np.mean([run["precision"].to_numpy() for run in runs], axis=0)
    n_candidates = 50 - train[runs[0].index].getnnz(axis=1)
    expected = test[runs[0].index].getnnz(axis=1) / n_candidates
    assert auc == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(precision, expected, atol=0.06)


def test_nan_scores_raise():
    _, train, test = random_case(1)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_ranking(lambda u: np.full((len(u), 30), np.nan), test, train)


@pytest.mark.parametrize("tie_seed", [1.5, "0", True])
def test_tie_seed_must_be_an_integer(tie_seed):
    _, train, test = random_case(1)
    with pytest.raises(ValueError, match="tie_seed="):
        evaluate_ranking(lambda u: np.zeros((len(u), 30)), test, train, tie_seed=tie_seed)


def test_metrics_match_lightfm_evaluation():
    # lightfm.evaluation counts ties against the item; the comparison holds on tie-free scores.
    scores, train, test = random_case(11, n_users=40, n_items=60)
    model = LightFM(no_components=4, random_state=0).fit(train, epochs=3, num_threads=1)
    block = lightfm_scorer(model)(np.arange(40))
    assert all(len(np.unique(row)) == len(row) for row in block)  # no ties
    ours = evaluate_ranking(lightfm_scorer(model), test, train, k=5).per_user
    kwargs = {"train_interactions": train, "num_threads": 1}
    np.testing.assert_allclose(ours["precision"], precision_at_k(model, test, k=5, **kwargs), rtol=1e-6)
    np.testing.assert_allclose(ours["recall"], recall_at_k(model, test, k=5, **kwargs), rtol=1e-6)
    np.testing.assert_allclose(ours["auc"], auc_score(model, test, **kwargs), rtol=1e-5)
    np.testing.assert_allclose(ours["reciprocal_rank"], reciprocal_rank(model, test, **kwargs), rtol=1e-6)


def test_lightfm_scorer_equals_predict():
    _, train, _ = random_case(2)
    model = LightFM(no_components=3, random_state=0).fit(train, epochs=2, num_threads=1)
    users = np.array([0, 5, 7])
    items = np.arange(train.shape[1], dtype=np.int32)
    expected = np.vstack([model.predict(np.full(len(items), u, dtype=np.int32), items) for u in users])
    np.testing.assert_allclose(lightfm_scorer(model)(users), expected, rtol=1e-5, atol=1e-5)


def test_batch_size_does_not_change_results():
    scores, train, test = random_case(4, n_users=30)
    one = evaluate_ranking(lambda u: scores[u], test, train, k=4, batch_size=1)
    many = evaluate_ranking(lambda u: scores[u], test, train, k=4, batch_size=512)
    pd.testing.assert_frame_equal(one.per_user, many.per_user)
    np.testing.assert_array_equal(one.top_k, many.top_k)


def test_top_k_excludes_training_items_and_coverage_counts_distinct_items():
    scores, train, test = random_case(5)
    evaluation = evaluate_ranking(lambda u: scores[u], test, train, k=3)
    for user, top in zip(evaluation.per_user.index, evaluation.top_k):
        assert not set(top) & set(train[user].indices)
        assert list(top) == list(np.argsort(-np.where(np.isin(np.arange(30), train[user].indices), -np.inf, scores[user]))[:3])
    assert evaluation.coverage == len(np.unique(evaluation.top_k)) / 30


def test_novelty_and_popularity_of_lists():
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]))
    test = sp.csr_matrix(np.array([[0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]))
    evaluation = evaluate_ranking(popularity_scorer(train), test, train, k=1)
    top = evaluation.top_k[:, 0]
    counts = np.array([3, 1, 0, 0])
    np.testing.assert_allclose(evaluation.per_user["popularity"], counts[top])
    np.testing.assert_allclose(evaluation.per_user["novelty"], -np.log2(np.maximum(counts[top], 1) / 4))


def test_excluding_training_items_matters():
    scores, train, test = random_case(6)
    scores = scores + 5 * train.toarray()  # the model loves what it was trained on
    honest = evaluate_ranking(lambda u: scores[u], test, train, k=3).summary()["precision"]
    naive = evaluate_ranking(lambda u: scores[u], test, None, k=3).summary()["precision"]
    assert naive < honest


@pytest.mark.parametrize("tied", [False, True])
def test_candidates_restrict_the_ranking_like_removing_the_other_items(tied):
    scores, train, test = random_case(9)
    scores = np.round(scores) if tied else scores
    keep = np.unique(np.r_[test.indices, np.arange(0, 30, 3)])
    restricted = evaluate_ranking(lambda u: scores[u], test, train, k=3, candidates=keep)
    sub = np.ix_(np.arange(scores.shape[0]), keep)
    # The candidates keep their places in the catalog's tie order.
    reference = brute_force_metrics(scores[sub], test[:, keep], train[:, keep], 3, tie_rank=tie_rank_of(30)[keep])
    metrics = ["precision", "recall", "ndcg", "map", "auc", "reciprocal_rank"]
    pd.testing.assert_frame_equal(restricted.per_user[metrics], reference[metrics].astype(float),
                                  check_names=False, check_index_type=False)
    np.testing.assert_array_equal(restricted.top_k, keep[np.vstack(reference["top_k"].to_numpy())])


def test_test_item_outside_candidates_raises():
    _, train, test = random_case(1)
    with pytest.raises(ValueError, match="outside candidates"):
        evaluate_ranking(lambda u: np.zeros((len(u), 30)), test, train, candidates=np.array([0, 1, 2]))


def test_overlapping_train_and_test_raise():
    _, train, test = random_case(1)
    with pytest.raises(ValueError, match="train and test share"):
        evaluate_ranking(lambda u: np.zeros((len(u), 30)), test, train + test)


def test_k_larger_than_catalog_raises():
    _, train, test = random_case(1)
    with pytest.raises(ValueError, match="k=31 is larger than the catalog"):
        evaluate_ranking(lambda u: np.zeros((len(u), 30)), test, train, k=31)


def test_scorer_with_wrong_shape_raises():
    _, train, test = random_case(1)
    with pytest.raises(ValueError, match="scorer returned shape"):
        evaluate_ranking(lambda u: np.zeros((len(u), 29)), test, train)


# ---------------------------------------------------------------- baselines


def test_popularity_scores_are_the_plain_training_counts():
    train = sp.csr_matrix(np.array([[1, 1, 0, 1], [0, 1, 0, 1], [0, 1, 0, 0]]))
    np.testing.assert_array_equal(popularity_scorer(train)(np.array([0, 2])), [[1, 3, 0, 2]] * 2)


def test_popularity_ties_are_broken_by_the_evaluators_rule():
    # Items 1-3 all have one like; the served order among them is the tie order.
    train = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [1, 0, 0, 1, 0]]))
    test = sp.csr_matrix(np.array([[0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1]]))
    top = evaluate_ranking(popularity_scorer(train), test, None, k=4, tie_seed=3).top_k[0]
    tie_rank = tie_rank_of(5, seed=3)
    assert top[0] == 0 and list(top[1:]) == sorted([1, 2, 3], key=lambda i: tie_rank[i])


def test_random_scorer_repeats_with_its_seed():
    np.testing.assert_array_equal(random_scorer(5, seed=2)(np.arange(3)), random_scorer(5, seed=2)(np.arange(3)))


def test_genre_popularity_prefers_the_users_genres_for_cold_items():
    # items 0-1 comedy, 2-3 horror; user 0 only liked comedy, user 1 only horror; items 1 and 3 are cold.
    train = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 1, 0]]))
    genres = sp.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]]))
    scores = genre_popularity_scorer(train, genres)(np.array([0, 1]))
    assert scores[0, 1] > scores[0, 3] and scores[1, 3] > scores[1, 1]


def test_genre_popularity_is_the_mean_of_own_plus_global_genre_share():
    # Genres: item 0 comedy, item 1 horror, item 2 comedy + horror, item 3 none.
    train = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]))
    genres = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 1], [0, 0]]))
    global_share = np.array([2, 1]) / 3  # comedy has 2 of the 3 (interaction, genre) pairs
    own = np.array([[1, 0], [1 / 2, 1 / 2], [0, 0]])  # user 2 has no history
    share = own + global_share
    expected = np.column_stack([share[:, 0], share[:, 1], share.mean(axis=1), np.zeros(3)])
    np.testing.assert_allclose(genre_popularity_scorer(train, genres)(np.arange(3)), expected)


def test_genre_popularity_shape_mismatch_raises():
    with pytest.raises(ValueError, match="item_genres has 3 rows but train has 4 items"):
        genre_popularity_scorer(sp.csr_matrix((2, 4)), sp.csr_matrix((3, 2)))


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_users():
    rng = np.random.default_rng(0)
    small = bootstrap_ci(rng.random(50), seed=1)
    large = bootstrap_ci(rng.random(5000), seed=1)
    assert small[1] < small[0] < small[2] and large[1] < large[0] < large[2]
    assert large[2] - large[1] < small[2] - small[1]


def test_bootstrap_matches_normal_approximation():
    values = np.random.default_rng(3).random(2000)
    mean, low, high = bootstrap_ci(values, n_resamples=2000, seed=0)
    half_width = 1.96 * values.std() / np.sqrt(len(values))
    assert high - low == pytest.approx(2 * half_width, rel=0.1)


def test_bootstrap_is_seeded():
    values = np.arange(10.0)
    assert bootstrap_ci(values, seed=4) == bootstrap_ci(values, seed=4)


@pytest.mark.parametrize("values, message", [([], "non-empty"), ([1.0, np.nan], "NaN"), ([[1.0]], "1-d")])
def test_bootstrap_rejects_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_ci(np.array(values))


# ---------------------------------------------------------------- early stopping


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 3, 10, 30])
def test_precision_shortcut_matches_evaluate_ranking_even_with_ties(seed, k):
    scores, train, test = random_case(seed)
    tied = np.round(scores)  # few distinct values: many ties at the k-th place
    blocks = [scores, tied, tied.astype(np.float32), *tied_blocks(seed, *scores.shape).values()]
    for block in blocks:
        for tie_seed in (0, 1):
            reference = evaluate_ranking(lambda u: block[u], test, train, k=k, tie_seed=tie_seed).per_user
            shortcut = _precision_at_k(lambda u: block[u], test, train, k, batch_size=5, tie_seed=tie_seed)
            np.testing.assert_array_equal(shortcut, reference["precision"].to_numpy())


def test_precision_shortcut_without_train_ranks_every_item():
    scores, train, test = random_case(3)
    reference = evaluate_ranking(lambda u: scores[u], test, None, k=4).per_user["precision"].to_numpy()
    np.testing.assert_array_equal(_precision_at_k(lambda u: scores[u], test, None, 4), reference)


def test_history_matches_evaluate_ranking_after_each_epoch():
    train, valid = split_likes()
    run = fit_with_early_stopping(tiny_model(), train, valid, max_epochs=4, patience=None, k=5)
    reference = tiny_model()
    expected = []
    for _ in range(4):
        reference.fit_partial(train, epochs=1, num_threads=1)
        expected.append(evaluate_ranking(lightfm_scorer(reference), valid, train, k=5).per_user["precision"].mean())
    assert run.history["epoch"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(run.history["valid_precision"], expected)


def test_returned_model_equals_a_fresh_fit_for_the_best_epoch():
    train, valid = split_likes()
    run = fit_with_early_stopping(tiny_model(), train, valid, max_epochs=8, patience=None, k=5)
    assert run.best_score == run.history["valid_precision"].max()
    assert run.best_epoch == run.history["epoch"][run.history["valid_precision"].idxmax()]
    fitted = tiny_model().fit(train, epochs=run.best_epoch, num_threads=1)
    np.testing.assert_array_equal(run.model.item_embeddings, fitted.item_embeddings)
    np.testing.assert_array_equal(run.model.user_biases, fitted.user_biases)


class ScheduledModel:
    """A stand-in for LightFM whose single test item ranks first after the epochs marked True."""

    def __init__(self, schedule: list[bool]):
        self.schedule, self.epoch = schedule, 0

    def fit_partial(self, interactions, epochs=1, num_threads=1, **features):
        self.epoch += epochs

    def get_user_representations(self, features=None):
        return np.zeros(1, np.float32), np.zeros((1, 1), np.float32)

    def get_item_representations(self, features=None):
        good = self.schedule[self.epoch - 1]
        return np.array([1.0 if good else -1.0, 0.0, 0.5], np.float32), np.zeros((3, 1), np.float32)


def scheduled_data() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    return sp.csr_matrix(np.array([[0, 1, 0]])), sp.csr_matrix(np.array([[1, 0, 0]]))


def test_stops_after_patience_evaluations_without_improvement():
    train, valid = scheduled_data()
    model = ScheduledModel([False, True, False, False, False, True, True])
    run = fit_with_early_stopping(model, train, valid, max_epochs=7, patience=3, k=1)
    assert run.history["valid_precision"].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert (run.best_epoch, run.best_score, run.stopped_early) == (2, 1.0, True)
    assert model.epoch == 5  # the passed model stops where training stopped
    assert run.model.epoch == 2  # the returned copy is the best epoch's


def test_patience_none_trains_every_epoch_and_keeps_the_first_best():
    train, valid = scheduled_data()
    run = fit_with_early_stopping(ScheduledModel([False, True, False, True]), train, valid, max_epochs=4, patience=None, k=1)
    assert len(run.history) == 4 and not run.stopped_early
    assert run.best_epoch == 2


def test_eval_every_evaluates_on_its_multiples_and_the_last_epoch():
    train, valid = scheduled_data()
    run = fit_with_early_stopping(ScheduledModel([True] * 5), train, valid, max_epochs=5, patience=None, eval_every=2, k=1)
    assert run.history["epoch"].tolist() == [2, 4, 5]


def test_min_delta_ignores_small_gains():
    train, valid = split_likes()
    run = fit_with_early_stopping(tiny_model(), train, valid, max_epochs=6, patience=1, k=5, min_delta=1.0)
    assert (run.best_epoch, len(run.history), run.stopped_early) == (1, 2, True)


def test_other_metrics_go_through_evaluate_ranking():
    train, valid = split_likes()
    run = fit_with_early_stopping(tiny_model(), train, valid, max_epochs=2, patience=None, k=5, metric="ndcg")
    reference = tiny_model().fit(train, epochs=2, num_threads=1)
    expected = evaluate_ranking(lightfm_scorer(reference), valid, train, k=5).per_user["ndcg"].mean()
    assert run.history.columns.tolist() == ["epoch", "valid_ndcg"]
    assert run.history["valid_ndcg"].iloc[-1] == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metric": "f1"}, r"metric='f1'; expected one of"),
        ({"patience": 0}, r"patience=0; expected an integer >= 1"),
        ({"eval_every": 0}, r"eval_every=0; expected an integer >= 1"),
        ({"max_epochs": 0}, r"max_epochs=0; expected an integer >= 1"),
        ({"min_delta": -0.1}, r"min_delta=-0.1; expected a finite number >= 0"),
        ({"k": N_ITEMS + 1}, rf"k={N_ITEMS + 1} is larger"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    train, valid = split_likes()
    with pytest.raises(ValueError, match=message):
        fit_with_early_stopping(tiny_model(), train, valid, **{"max_epochs": 2, **kwargs})


def test_early_stopping_refuses_overlapping_or_empty_validation():
    train, valid = split_likes()
    with pytest.raises(ValueError, match="train and valid share|train and test share"):
        fit_with_early_stopping(tiny_model(), train, train, max_epochs=1)
    with pytest.raises(ValueError, match="valid has no interactions"):
        fit_with_early_stopping(tiny_model(), train, sp.coo_matrix(train.shape), max_epochs=1)


def test_early_stopping_rejects_non_models_and_dense_matrices():
    train, valid = split_likes()
    with pytest.raises(TypeError, match="fit_partial"):
        fit_with_early_stopping(object(), train, valid, max_epochs=1)
    with pytest.raises(TypeError, match="valid must be a scipy sparse matrix"):
        fit_with_early_stopping(tiny_model(), train, valid.toarray(), max_epochs=1)


def test_runs_in_parallel_threads_equal_sequential_runs():
    # The notebooks train several single-threaded models side by side in threads; results must not change.
    from concurrent.futures import ThreadPoolExecutor

    train, valid = split_likes()
    losses = ["warp", "bpr", "warp-kos"]

    def run(loss):
        model = LightFM(no_components=5, loss=loss, random_state=SEED)
        return fit_with_early_stopping(model, train, valid, max_epochs=5, patience=None, k=5)

    sequential = [run(loss) for loss in losses]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(run, losses))
    for one, other in zip(sequential, parallel):
        pd.testing.assert_frame_equal(one.history, other.history)
        np.testing.assert_array_equal(one.model.item_embeddings, other.model.item_embeddings)
