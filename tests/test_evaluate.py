"""Tests for helpers.evaluate: the per-epoch learning curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from lightfm import LightFM
from lightfm.cross_validation import random_train_test_split

from helpers.evaluate import learning_curve

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
