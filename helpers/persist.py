"""Save and load a LightFM model with its id mapping and feature labels, without pickle.

``pickle.load`` runs whatever code the file tells it to, so a pickled model from someone else is
a program you are about to execute. Here a model is two plain files: ``<name>.npz`` (arrays only,
read with ``allow_pickle=False``) and ``<name>.json`` (hyperparameters, versions, shapes, the
random generator's position and the SHA-256 of the ``.npz``, so a mismatched pair is caught).
"""

from __future__ import annotations

import hashlib
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

    The ``.npz`` holds every parameter and optimiser array, the id mapping, the feature labels and
    the model's random generator state (so ``fit_partial`` after loading continues exactly as it
    would have). The ``.json`` holds hyperparameters, versions, every array's shape and the
    ``.npz``'s SHA-256.

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
    algorithm, keys, position, has_gauss, cached_gaussian = model.random_state.get_state()
    arrays["random_state_keys"] = keys  # where the generator is, so fit_partial continues identically
    arrays["mapping_users"] = _id_array(mapping.users)
    arrays["mapping_items"] = _id_array(mapping.items)
    for side, values in labels.items():
        arrays[f"labels_{side}"] = values.to_numpy().astype(str)
    header = {
        "format_version": FORMAT_VERSION,
        "lightfm_version": lightfm.__version__,
        "hyperparameters": {name: getattr(model, name) for name in _HYPERPARAMETERS},
        "shapes": {name: list(value.shape) for name, value in arrays.items()},
        "random_state": {"algorithm": algorithm, "pos": int(position), "has_gauss": int(has_gauss),
                         "cached_gaussian": float(cached_gaussian)},
        "metadata": metadata or {},
    }
    json.dumps(header)  # fails before anything is written if metadata is not JSON-serialisable
    np.savez_compressed(npz_path, **arrays)
    header["npz_sha256"] = _sha256(npz_path)
    json_path.write_text(json.dumps(header, indent=2, sort_keys=True) + "\n")
    return npz_path, json_path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        A JSON file that does not parse, an unknown format version, a different LightFM
        major.minor version, a missing array, an array whose shape or dtype differs from the JSON
        header or from the others, a mapping whose length differs from the model's, or an ``.npz``
        whose SHA-256 differs from the one recorded at saving (the files come from different
        saves, or one was changed).

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
    try:
        header = json.loads(json_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_path.name} is not valid JSON ({err}); was it written by save_model?") from None
    if not isinstance(header, dict) or not {"shapes", "hyperparameters"} <= header.keys():
        raise ValueError(f"{json_path.name} lacks 'shapes' or 'hyperparameters'; was it written by save_model?")
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
    missing = [name for name in (*_STATE, "mapping_users", "mapping_items") if name not in arrays]
    if missing:
        raise ValueError(f"{npz_path.name} lacks the array(s) {missing}; was it written by save_model?")
    params = header["hyperparameters"]
    d = params["no_components"]
    for name in _STATE:
        if arrays[name].dtype != np.float32:
            raise ValueError(f"{name} has dtype {arrays[name].dtype} in {npz_path.name}; LightFM needs float32")
    for side in ("user", "item"):
        n = len(arrays[f"{side}_biases"])
        for part in ("embeddings", "embedding_gradients", "embedding_momentum"):
            if arrays[f"{side}_{part}"].shape != (n, d):
                raise ValueError(f"{side}_{part} has shape {arrays[f'{side}_{part}'].shape}; expected {(n, d)}")
        for part in ("bias_gradients", "bias_momentum"):
            if arrays[f"{side}_{part}"].shape != (n,):
                raise ValueError(f"{side}_{part} has shape {arrays[f'{side}_{part}'].shape}; expected {(n,)}")
        ids = len(arrays[f"mapping_{side}s"])
        if f"labels_{side}" in arrays and len(arrays[f"labels_{side}"]) != n:
            raise ValueError(f"{len(arrays[f'labels_{side}']):,} {side} feature labels but the model has {n:,} {side} features")
        if f"labels_{side}" not in arrays and ids != n:
            raise ValueError(f"the mapping has {ids:,} {side}s but the model has {n:,} {side} features")
    recorded = header.get("npz_sha256")
    if recorded is not None and recorded != _sha256(npz_path):
        raise ValueError(
            f"{npz_path.name} does not match {json_path.name} (its SHA-256 differs from the one recorded at "
            "saving): the two files come from different saves, or the .npz was changed"
        )
    model = LightFM(**params)
    for name in _STATE:
        setattr(model, name, np.ascontiguousarray(arrays[name]))
    state = header.get("random_state")
    if state is not None and "random_state_keys" in arrays:
        model.random_state.set_state((state["algorithm"], arrays["random_state_keys"], state["pos"],
                                      state["has_gauss"], state["cached_gaussian"]))
    mapping = IdMapping(pd.Index(arrays["mapping_users"]), pd.Index(arrays["mapping_items"]))
    labels = {side: pd.Index(arrays[f"labels_{side}"]) for side in ("user", "item") if f"labels_{side}" in arrays}
    return SavedModel(model=model, mapping=mapping, feature_labels=labels, metadata=header["metadata"])
