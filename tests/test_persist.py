"""Tests for helpers.persist: a pickle-free round trip with checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from lightfm import LightFM

from helpers.data import IdMapping
from helpers.persist import load_model, save_model


@pytest.fixture
def trained():
    likes = sp.random(6, 5, density=0.5, format="coo", random_state=0)
    likes.data[:] = 1
    features = sp.hstack([sp.identity(5), sp.csr_matrix(np.eye(5)[:, :2])], format="csr", dtype=np.float32)
    model = LightFM(no_components=3, loss="bpr", learning_rate=0.07, random_state=0)
    model.fit(likes, item_features=features, epochs=3)
    mapping = IdMapping(pd.Index([f"u{i}" for i in range(6)]), pd.Index([10, 20, 30, 40, 50]))
    labels = {"item": [f"item:{i}" for i in mapping.items] + ["genre:a", "genre:b"]}
    return model, mapping, features, labels, likes


def test_round_trip_gives_identical_scores_and_mapping(tmp_path, trained):
    model, mapping, features, labels, _ = trained
    save_model(tmp_path / "m", model, mapping, feature_labels=labels, metadata={"threshold": 4.0})
    loaded = load_model(tmp_path / "m")
    users, items = np.repeat(np.arange(6), 5).astype(np.int32), np.tile(np.arange(5), 6).astype(np.int32)
    np.testing.assert_array_equal(
        loaded.model.predict(users, items, item_features=features), model.predict(users, items, item_features=features)
    )
    assert loaded.mapping.users.tolist() == mapping.users.tolist()
    assert loaded.mapping.items.tolist() == mapping.items.tolist()
    assert loaded.feature_labels["item"].tolist() == labels["item"]
    assert loaded.metadata == {"threshold": 4.0}
    assert loaded.model.loss == "bpr" and loaded.model.learning_rate == 0.07


def test_loaded_model_can_keep_training(tmp_path, trained):
    model, mapping, features, labels, likes = trained
    save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    loaded = load_model(tmp_path / "m").model
    before = loaded.item_embeddings.copy()
    loaded.fit_partial(likes, item_features=features, epochs=1)
    assert not np.array_equal(before, loaded.item_embeddings)


def test_npz_holds_no_pickled_objects(tmp_path, trained):
    model, mapping, _, labels, _ = trained
    npz, _ = save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    with np.load(npz, allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)


def test_existing_files_are_never_overwritten(tmp_path, trained):
    model, mapping, _, labels, _ = trained
    save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    with pytest.raises(FileExistsError, match="m.npz already exists"):
        save_model(tmp_path / "m", model, mapping, feature_labels=labels)


def test_labels_of_the_wrong_length_raise(tmp_path, trained):
    model, mapping, *_ = trained
    with pytest.raises(ValueError, match="3 item feature labels but the model has 7 item features"):
        save_model(tmp_path / "m", model, mapping, feature_labels={"item": ["a", "b", "c"]})


def test_hybrid_model_without_labels_is_refused(tmp_path, trained):
    model, mapping, *_ = trained
    with pytest.raises(ValueError, match="mapping has 5 items but the model has 7 item features"):
        save_model(tmp_path / "m", model, mapping)


def test_unfitted_model_is_refused(tmp_path, trained):
    _, mapping, *_ = trained
    with pytest.raises(ValueError, match="not fitted"):
        save_model(tmp_path / "m", LightFM(), mapping)


def test_tampered_shape_fails_clearly(tmp_path, trained):
    model, mapping, _, labels, _ = trained
    npz, header = save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    arrays = dict(np.load(npz))
    arrays["item_embeddings"] = arrays["item_embeddings"][:-1]
    np.savez(npz, **arrays)
    with pytest.raises(ValueError, match=r"item_embeddings has shape \[6, 3\] in m.npz; m.json says \[7, 3\]"):
        load_model(tmp_path / "m")


def test_other_lightfm_version_fails_clearly(tmp_path, trained):
    model, mapping, _, labels, _ = trained
    _, header = save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    content = json.loads(header.read_text())
    content["lightfm_version"] = "0.9.0"
    header.write_text(json.dumps(content))
    with pytest.raises(ValueError, match="saved with lightfm 0.9.0"):
        load_model(tmp_path / "m")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz not found"):
        load_model(tmp_path / "nothing")


def test_continued_training_matches_the_original(tmp_path, trained):
    model, mapping, features, labels, likes = trained
    save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    loaded = load_model(tmp_path / "m").model
    model.fit_partial(likes, item_features=features, epochs=2)
    loaded.fit_partial(likes, item_features=features, epochs=2)
    np.testing.assert_array_equal(loaded.item_embeddings, model.item_embeddings)
    np.testing.assert_array_equal(loaded.user_biases, model.user_biases)


def test_invalid_json_fails_clearly(tmp_path, trained):
    model, mapping, _, labels, _ = trained
    _, header = save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    header.write_text("{not json")
    with pytest.raises(ValueError, match="m.json is not valid JSON"):
        load_model(tmp_path / "m")


def test_npz_from_another_save_is_detected(tmp_path, trained):
    model, mapping, _, labels, _ = trained
    npz, _ = save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    arrays = dict(np.load(npz))
    arrays["item_biases"] = arrays["item_biases"] + 1  # same shapes and dtypes, different values
    np.savez_compressed(npz, **arrays)
    with pytest.raises(ValueError, match="m.npz does not match m.json"):
        load_model(tmp_path / "m")


def test_wrong_dtype_fails_clearly(tmp_path, trained):
    model, mapping, _, labels, _ = trained
    npz, _ = save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    arrays = dict(np.load(npz))
    arrays["user_embeddings"] = arrays["user_embeddings"].astype(np.float64)
    np.savez_compressed(npz, **arrays)
    with pytest.raises(ValueError, match="user_embeddings has dtype float64 in m.npz; LightFM needs float32"):
        load_model(tmp_path / "m")


def test_mapping_that_does_not_fit_the_model_fails_clearly(tmp_path, trained):
    model, mapping, _, labels, _ = trained
    npz, header = save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    arrays = dict(np.load(npz))
    arrays["mapping_users"] = arrays["mapping_users"][:4]
    np.savez_compressed(npz, **arrays)
    content = json.loads(header.read_text())
    content["shapes"]["mapping_users"] = [4]
    header.write_text(json.dumps(content))
    with pytest.raises(ValueError, match="the mapping has 4 users but the model has 6 user features"):
        load_model(tmp_path / "m")


def test_files_without_the_optional_fields_still_load(tmp_path, trained):
    """Files saved before the checksum and generator state were recorded load as before."""
    model, mapping, _, labels, _ = trained
    npz, header = save_model(tmp_path / "m", model, mapping, feature_labels=labels)
    content = json.loads(header.read_text())
    del content["npz_sha256"], content["random_state"], content["shapes"]["random_state_keys"]
    header.write_text(json.dumps(content))
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.model.item_embeddings, model.item_embeddings)
