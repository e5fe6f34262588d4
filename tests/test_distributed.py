"""Tests for helpers.distributed: Dask batch scoring equals the single-machine helper, bit for bit."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from distributed import Client, LocalCluster
from lightfm import LightFM
from threadpoolctl import threadpool_info, threadpool_limits

from helpers.data import IdMapping
from helpers.distributed import item_side, score_all_users_dask, score_partition, user_partitions
from helpers.recommend import top_k_items


@pytest.fixture(scope="module")
def client():
    # Loopback only: no outside address is probed, so the tests run (and stay quiet) offline.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as cluster, Client(cluster) as connected:
        yield connected


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    dense = (rng.random((23, 17)) < 0.3).astype(np.float32)
    interactions = sp.coo_matrix(dense)
    model = LightFM(no_components=4, loss="warp", random_state=0).fit(interactions, epochs=3, num_threads=1)
    return model, sp.csr_matrix(interactions)


def test_matches_top_k_items_bit_for_bit(client, fitted):
    model, train = fitted
    result = score_all_users_dask(client, model, k=5, exclude=train, partition_size=6, batch_size=3)
    items, scores = top_k_items(model, np.arange(23), k=5, exclude=train, batch_size=3)
    assert (result.items == items).all()
    assert np.array_equal(result.scores, scores)


def test_scores_match_predict_up_to_float32_rounding(client, fitted):
    model, _ = fitted
    result = score_all_users_dask(client, model, k=4, partition_size=10)
    users = np.repeat(result.users, 4).astype(np.int32)
    expected = model.predict(users, result.items.ravel().astype(np.int32)).reshape(-1, 4)
    np.testing.assert_allclose(result.scores, expected, rtol=1e-5, atol=1e-5)


def test_cluster_listens_on_loopback_only(client):
    addresses = [client.scheduler.address, *client.scheduler_info()["workers"]]
    assert all(address.startswith("tcp://127.0.0.1:") for address in addresses)


def test_subset_of_users_keeps_order(client, fitted):
    model, train = fitted
    users = np.array([7, 2, 19, 0])
    result = score_all_users_dask(client, model, k=3, users=users, exclude=train, partition_size=2, batch_size=2)
    items, _ = top_k_items(model, users, k=3, exclude=train, batch_size=2)
    assert result.users.tolist() == users.tolist()
    assert (result.items == items).all()


def test_excluded_items_never_returned(client, fitted):
    model, train = fitted
    result = score_all_users_dask(client, model, k=5, exclude=train, partition_size=8)
    for user, row in zip(result.users, result.items):
        assert not set(row) & set(train[user].indices)


def test_writes_one_file_per_partition(client, fitted, tmp_path):
    model, train = fitted
    mapping = IdMapping(pd.Index(np.arange(23) + 100), pd.Index(np.arange(17) + 1000))
    result = score_all_users_dask(client, model, k=3, exclude=train, partition_size=10, batch_size=5,
                                  output_dir=tmp_path / "out", mapping=mapping)
    assert [p.name for p in result.paths] == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    frame = pd.concat([pd.read_csv(p) for p in result.paths], ignore_index=True)
    assert frame.columns.tolist() == ["userId", "rank", "movieId", "score"]
    assert frame["userId"].tolist() == np.repeat(np.arange(23) + 100, 3).tolist()
    assert frame["movieId"].tolist() == (result.items.ravel() + 1000).tolist()
    assert np.array_equal(frame["score"].to_numpy(np.float32), result.scores.ravel())


def test_refuses_non_empty_output_dir(client, fitted, tmp_path):
    model, _ = fitted
    (tmp_path / "old.csv").write_text("keep me")
    with pytest.raises(FileExistsError, match="never overwritten"):
        score_all_users_dask(client, model, k=3, output_dir=tmp_path)
    assert (tmp_path / "old.csv").read_text() == "keep me"


def test_bad_inputs_raise(client, fitted):
    model, _ = fitted
    with pytest.raises(ValueError, match="k=18"):
        score_all_users_dask(client, model, k=18)
    with pytest.raises(IndexError, match="0..22"):
        score_all_users_dask(client, model, k=2, users=[0, 23])
    with pytest.raises(ValueError, match="exclude has shape"):
        score_all_users_dask(client, model, k=2, exclude=sp.csr_matrix((3, 17)))


def test_empty_user_list(client, fitted):
    model, _ = fitted
    result = score_all_users_dask(client, model, k=2, users=np.array([], dtype=int))
    assert result.items.shape == (0, 2) and result.paths == []


def test_score_partition_checks_shapes(fitted):
    model, _ = fitted
    bias, repr_ = model.get_user_representations()
    with pytest.raises(ValueError, match="expected"):
        score_partition(repr_[:, :2], bias, item_side(model), k=2)
    with pytest.raises(ValueError, match="user_bias"):
        score_partition(repr_, bias[:3], item_side(model), k=2)


def test_user_partitions_cover_every_user_once():
    parts = user_partitions(25, partition_size=7, batch_size=4)
    assert np.concatenate(parts).tolist() == list(range(25))
    assert all(len(p) % 4 == 0 for p in parts[:-1])
    with pytest.raises(ValueError):
        user_partitions(5, partition_size=0, batch_size=1)


def _blas_threads():
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_score_partition_bit_identical_when_blas_has_two_threads():
    # 200 x 2,000 x 17 is above OpenBLAS's size threshold for threading, and on two BLAS threads its
    # last bits differ from one thread's; top_k_items (2 threads) holds BLAS to one thread itself.
    rng = np.random.default_rng(1)
    interactions = sp.coo_matrix((rng.random((200, 2_000)) < 0.02).astype(np.float32))
    model = LightFM(no_components=16, random_state=0).fit(interactions, epochs=1, num_threads=1)
    bias, repr_ = model.get_user_representations()
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == {2}
        _, scores = score_partition(repr_, bias, item_side(model), k=5, batch_size=200)
        _, reference = top_k_items(model, np.arange(200), k=5, batch_size=200)
        assert _blas_threads() == {2}  # both gave the limit back
    assert np.array_equal(scores, reference)



def test_thread_workers_bit_identical_when_blas_has_two_threads(client):
    # Thread workers share the driver's BLAS; threadpoolctl ignores a limit set by a worker thread
    # while another thread holds one, so the driver itself holds BLAS at one thread during the tasks.
    rng = np.random.default_rng(2)
    interactions = sp.coo_matrix((rng.random((400, 2_000)) < 0.02).astype(np.float32))
    model = LightFM(no_components=16, random_state=0).fit(interactions, epochs=1, num_threads=1)
    with threadpool_limits(limits=2, user_api="blas"):
        result = score_all_users_dask(client, model, k=5, partition_size=200, batch_size=200)
        _, reference = top_k_items(model, np.arange(400), k=5, batch_size=200)
        assert _blas_threads() == {2}
    assert np.array_equal(result.scores, reference)
