"""Save and load a LightFM model with its id mapping and feature labels, without pickle.

``pickle.load`` runs whatever code the file tells it to, so a pickled model from someone else is
a program you are about to execute. Here a model is two plain files: ``<name>.npz`` (arrays only,
read with ``allow_pickle=False``) and ``<name>.json`` (hyperparameters, versions, shapes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import lightfm
import numpy as np
import pandas as pd
from lightfm import LightFM

from helpers.data import IdMapping

__all__ = ["FORMAT_VERSION", "SavedModel", "load_model", "save_model"]

FORMAT_VERSION = 1
_HYPERPARAMETERS = (
    "no_components", "k", "n", "learning_schedule", "loss", "learning_rate", "rho", "epsilon",
    "item_alpha", "user_alpha", "max_sampled",
)
_STATE = tuple(
    f"{side}_{part}"
    for side in ("user", "item")
    for part in ("embeddings", "embedding_gradients", "embedding_momentum", "biases", "bias_gradients", "bias_momentum")
)


@dataclass(frozen=True)
class SavedModel:
    """What :func:`load_model` returns: the model, its id mapping and its feature labels."""

    model: LightFM
    mapping: IdMapping
    feature_labels: dict[str, pd.Index] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)


def _id_array(index: pd.Index) -> np.ndarray:
    values = index.to_numpy()
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    return values.astype(str)  # fixed-width unicode: stored without pickle


def save_model(
    path: str | Path,
    model: LightFM,
    mapping: IdMapping,
    *,
    feature_labels: dict[str, pd.Index | list[str]] | None = None,
    metadata: dict | None = None,
) -> tuple[Path, Path]:
    """Write ``<path>.npz`` and ``<path>.json``; refuses to overwrite existing files.

    Parameters
    ----------
    path : str or Path
        File name without extension.
    model : LightFM
        A fitted model (its optimiser state is saved too, so ``fit_partial`` can continue).
    mapping : IdMapping
        The ids behind the model's rows and columns.
    feature_labels : dict, optional
        ``{"user": labels, "item": labels}`` of the feature matrices the model was trained with;
        their lengths must equal the model's feature counts.
    metadata : dict, optional
        JSON-serialisable notes (data set, threshold, metrics...).

    Returns
    -------
    (npz path, json path)

    Raises
    ------
    FileExistsError
        If either file exists (nothing is overwritten silently).
    ValueError
        If the model is not fitted or labels/mapping do not match its shapes.

    Examples
    --------
    >>> import tempfile, scipy.sparse as sp
    >>> model = LightFM(no_components=2, random_state=0).fit(sp.identity(3, format="coo"), epochs=1)
    >>> folder = tempfile.mkdtemp()
    >>> paths = save_model(f"{folder}/tiny", model, IdMapping(pd.Index([7, 8, 9]), pd.Index([1, 2, 3])))
    >>> [p.suffix for p in paths]
    ['.npz', '.json']
    """
    base = Path(path)
    npz_path, json_path = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
    for target in (npz_path, json_path):
        if target.exists():
            raise FileExistsError(f"{target.name} already exists; choose another name or delete it first")
    if getattr(model, "item_embeddings", None) is None:
        raise ValueError("the model is not fitted: nothing to save")
    labels = {side: pd.Index(values) for side, values in (feature_labels or {}).items()}
    n_user_features, n_item_features = len(model.user_biases), len(model.item_biases)
    for side, expected in (("user", n_user_features), ("item", n_item_features)):
        if side in labels and len(labels[side]) != expected:
            raise ValueError(f"{len(labels[side]):,} {side} feature labels but the model has {expected:,} {side} features")
    if labels.get("user") is None and len(mapping.users) != n_user_features:
        raise ValueError(
            f"the mapping has {len(mapping.users):,} users but the model has {n_user_features:,} user features; "
            "pass feature_labels={'user': ...} when the model was trained with user features"
        )
    if labels.get("item") is None and len(mapping.items) != n_item_features:
        raise ValueError(
            f"the mapping has {len(mapping.items):,} items but the model has {n_item_features:,} item features; "
            "pass feature_labels={'item': ...} when the model was trained with item features"
        )
    arrays = {name: getattr(model, name) for name in _STATE}
    arrays["mapping_users"] = _id_array(mapping.users)
    arrays["mapping_items"] = _id_array(mapping.items)
    for side, values in labels.items():
        arrays[f"labels_{side}"] = values.to_numpy().astype(str)
    header = {
        "format_version": FORMAT_VERSION,
        "lightfm_version": lightfm.__version__,
        "hyperparameters": {name: getattr(model, name) for name in _HYPERPARAMETERS},
        "shapes": {name: list(value.shape) for name, value in arrays.items()},
        "metadata": metadata or {},
    }
    json_text = json.dumps(header, indent=2, sort_keys=True)  # fails before writing if metadata is not JSON
    np.savez_compressed(npz_path, **arrays)
    json_path.write_text(json_text + "\n")
    return npz_path, json_path


def load_model(path: str | Path) -> SavedModel:
    """Read a model written by :func:`save_model`, checking versions and every array's shape.

    Parameters
    ----------
    path : str or Path
        File name without extension (``<path>.npz`` and ``<path>.json`` must exist).

    Returns
    -------
    SavedModel

    Raises
    ------
    FileNotFoundError
        A file is missing.
    ValueError
        Unknown format version, a different LightFM major.minor version, a missing array, or an
        array whose shape differs from the JSON header or from the others.

    Examples
    --------
    >>> import tempfile, scipy.sparse as sp
    >>> model = LightFM(no_components=2, random_state=0).fit(sp.identity(3, format="coo"), epochs=1)
    >>> folder = tempfile.mkdtemp()
    >>> _ = save_model(f"{folder}/tiny", model, IdMapping(pd.Index([7, 8, 9]), pd.Index([1, 2, 3])))
    >>> loaded = load_model(f"{folder}/tiny")
    >>> bool(np.array_equal(loaded.model.item_embeddings, model.item_embeddings))
    True
    """
    base = Path(path)
    npz_path, json_path = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
    for target in (npz_path, json_path):
        if not target.is_file():
            raise FileNotFoundError(f"{target.name} not found; save_model writes both .npz and .json")
    header = json.loads(json_path.read_text())
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{json_path.name} has format_version {header.get('format_version')!r}; expected {FORMAT_VERSION}")
    saved, running = header.get("lightfm_version", "?"), lightfm.__version__
    if saved.split(".")[:2] != running.split(".")[:2]:
        raise ValueError(f"the model was saved with lightfm {saved}; this environment has {running}")
    with np.load(npz_path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for name, shape in header["shapes"].items():
        if name not in arrays:
            raise ValueError(f"{npz_path.name} lacks the array {name!r} listed in {json_path.name}")
        if list(arrays[name].shape) != shape:
            raise ValueError(f"{name} has shape {list(arrays[name].shape)} in {npz_path.name}; {json_path.name} says {shape}")
    params = header["hyperparameters"]
    d = params["no_components"]
    for side in ("user", "item"):
        n = len(arrays[f"{side}_biases"])
        for part in ("embeddings", "embedding_gradients", "embedding_momentum"):
            if arrays[f"{side}_{part}"].shape != (n, d):
                raise ValueError(f"{side}_{part} has shape {arrays[f'{side}_{part}'].shape}; expected {(n, d)}")
    model = LightFM(**params)
    for name in _STATE:
        setattr(model, name, np.ascontiguousarray(arrays[name]))
    mapping = IdMapping(pd.Index(arrays["mapping_users"]), pd.Index(arrays["mapping_items"]))
    labels = {side: pd.Index(arrays[f"labels_{side}"]) for side in ("user", "item") if f"labels_{side}" in arrays}
    return SavedModel(model=model, mapping=mapping, feature_labels=labels, metadata=header["metadata"])
