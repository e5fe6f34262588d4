"""Score every user's top-k list on a Dask cluster: the same numbers as :func:`helpers.recommend.top_k_items`.

Batch scoring is embarrassingly parallel once the model is trained: every user's list needs the
user's vector and *all* item vectors, and nothing else. So the driver computes the representations
once, ships the item side to every worker (``client.scatter(..., broadcast=True)``), and sends each
worker a partition of users; each partition is ranked with the exact block computation of
:func:`helpers.recommend.iter_top_k`, on one BLAS thread, and, optionally, written to its own file.

The client can be a :class:`distributed.LocalCluster` on one machine or a real cluster
(``Client("tcp://scheduler:8786")``): the code is the same. On one machine, start the cluster with
``host="127.0.0.1"`` (and ``protocol="tcp://"`` for thread workers, ``processes=False``) so that it
listens on loopback only and never probes an outside address to choose its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from helpers.data import IdMapping
from helpers.recommend import _check_k, _check_users_and_exclude, batch_size_for, block_top_k, item_side

__all__ = ["DistributedTopK", "score_all_users_dask", "score_partition", "user_partitions"]


@dataclass
class DistributedTopK:
    """What :func:`score_all_users_dask` returns: the lists of all users, in the order asked for.

    Attributes
    ----------
    users : ndarray of int64, shape (n,)
        Internal user indices.
    items : ndarray of int32, shape (n, k)
        Internal item indices, best first.
    scores : ndarray of float32, shape (n, k)
        ``model.predict`` for those pairs up to float32 rounding (the sums run in another order, so
        they differ by a few units of 1e-6); ``-inf`` marks a slot the user cannot fill.
    paths : list of Path
        The partition files written, in partition order (empty without ``output_dir``).
    """

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    paths: list[Path] = field(default_factory=list)


def score_partition(
    user_repr: np.ndarray,
    user_bias: np.ndarray,
    items_side: np.ndarray,
    k: int,
    *,
    exclude: sp.spmatrix | None = None,
    batch_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k of one partition of users, from arrays only (what a worker runs; no model needed).

    The same blocks as :func:`helpers.recommend.iter_top_k`, and the same BLAS thread count: BLAS is
    held to one thread while the blocks are scored, as ``top_k_items`` does with its default two
    threads (the same product run on two BLAS threads can differ in its last bit). So with the
    same ``batch_size`` and partitions that start at multiples of it, the result is bit-identical to
    :func:`helpers.recommend.top_k_items` (``num_threads`` ≥ 2, or BLAS already at one thread).

    Parameters
    ----------
    user_repr : ndarray, shape (n, d)
        The partition's rows of ``model.get_user_representations(...)[1]``.
    user_bias : ndarray, shape (n,)
        The partition's user biases.
    items_side : ndarray of float32, shape (n_items, d + 1)
        :func:`helpers.recommend.item_side` of the model.
    k : int
        List length, 1 to ``n_items``.
    exclude : sparse matrix, optional
        ``n x n_items``: the partition's rows of the matrix of items never to recommend.
    batch_size : int, optional
        Users per score block (:func:`helpers.recommend.batch_size_for` by default).

    Returns
    -------
    items : ndarray of int32, shape (n, k)
    scores : ndarray of float32, shape (n, k)

    Raises
    ------
    ValueError
        Shapes that do not fit together, or ``k`` out of range.

    Examples
    --------
    >>> from lightfm import LightFM
    >>> from helpers.recommend import top_k_items
    >>> model = LightFM(no_components=3, random_state=0).fit(sp.identity(6, format="coo"), epochs=1)
    >>> bias, repr_ = model.get_user_representations()
    >>> items, scores = score_partition(repr_[2:4], bias[2:4], item_side(model), k=2)
    >>> bool((items == top_k_items(model, [2, 3], k=2)[0]).all())
    True
    """
    n_items = items_side.shape[0]
    _check_k(k, n_items, "items in the catalog")
    if user_repr.ndim != 2 or user_repr.shape[1] + 1 != items_side.shape[1]:
        raise ValueError(f"user_repr has shape {user_repr.shape} and items_side {items_side.shape}; "
                         "expected (n, d) and (n_items, d + 1)")
    if len(user_bias) != len(user_repr):
        raise ValueError(f"user_bias has {len(user_bias)} values for {len(user_repr)} users")
    if exclude is not None:
        if exclude.shape != (len(user_repr), n_items):
            raise ValueError(f"exclude has shape {exclude.shape}; expected {(len(user_repr), n_items)}")
        exclude = sp.csr_matrix(exclude)
    batch_size = batch_size or batch_size_for(n_items)
    items = np.empty((len(user_repr), k), dtype=np.int32)
    scores = np.empty((len(user_repr), k), dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, len(user_repr), batch_size):
            rows = slice(start, start + batch_size)
            seen = exclude[rows] if exclude is not None else None
            items[rows], scores[rows] = block_top_k(user_repr[rows], user_bias[rows], items_side, k, exclude=seen)
    return items, scores


def user_partitions(n_users: int, partition_size: int, batch_size: int) -> list[np.ndarray]:
    """Split ``0..n_users-1`` into consecutive partitions whose sizes are multiples of ``batch_size``.

    Rounding the partition size up to whole score blocks keeps every block the same as on one
    machine (that is what makes the results bit-identical) and wastes no partly filled block.

    Examples
    --------
    >>> [len(p) for p in user_partitions(10, partition_size=4, batch_size=3)]
    [6, 4]
    """
    if n_users < 0 or partition_size < 1 or batch_size < 1:
        raise ValueError(f"n_users={n_users}, partition_size={partition_size}, batch_size={batch_size}; "
                         "expected n_users ≥ 0 and sizes ≥ 1")
    size = -(-partition_size // batch_size) * batch_size
    return [np.arange(start, min(start + size, n_users)) for start in range(0, n_users, size)]


def _score_and_write(user_repr, user_bias, items_side, k, exclude, batch_size, users, path, user_ids, item_ids,
                     float_format):
    items, scores = score_partition(user_repr, user_bias, items_side, k, exclude=exclude, batch_size=batch_size)
    if path is not None:
        keep = np.isfinite(scores).ravel()
        frame = pd.DataFrame({
            "userId": np.repeat(users if user_ids is None else user_ids, k)[keep],
            "rank": np.tile(np.arange(1, k + 1), len(users))[keep],
            "movieId": (items.ravel() if item_ids is None else item_ids[items.ravel()])[keep],
            "score": scores.ravel()[keep],
        })
        frame.to_csv(path, index=False, float_format=float_format)
    return items, scores


def score_all_users_dask(
    client,
    model,
    k: int = 10,
    *,
    users: np.ndarray | None = None,
    exclude: sp.spmatrix | None = None,
    user_features: sp.spmatrix | None = None,
    item_features: sp.spmatrix | None = None,
    partition_size: int = 50_000,
    batch_size: int | None = None,
    output_dir: str | Path | None = None,
    mapping: IdMapping | None = None,
    float_format: str = "%.9g",
) -> DistributedTopK:
    """Every user's top-k list, one Dask task per partition of users, optionally written to disk.

    The driver computes the user and item representations once; the item side (:func:`item_side`)
    is sent to every worker once with ``client.scatter(..., broadcast=True)``; each task gets its
    partition's user rows (and rows of ``exclude``), ranks them with :func:`score_partition` and
    writes ``part-00000.csv``, ``part-00001.csv``, ... when ``output_dir`` is given.

    Parameters
    ----------
    client : distributed.Client
        Connected to a ``LocalCluster`` or to a real scheduler.
    model : lightfm.LightFM
        A fitted model.
    k : int, default 10
    users : array of int, optional
        Internal user indices, all users by default; results come back in this order.
    exclude : sparse matrix, optional
        ``users x items`` (all users of the model); nonzero cells are never recommended.
    user_features, item_features : sparse matrix, optional
        The feature matrices the model was trained with.
    partition_size : int, default 50_000
        Users per task, rounded up to a multiple of ``batch_size``. Aim for tasks of seconds, and
        several per worker.
    batch_size : int, optional
        Users per score block inside a task (:func:`helpers.recommend.batch_size_for` by default,
        the same default as :func:`helpers.recommend.top_k_items`).
    output_dir : str or Path, optional
        A folder that does not exist or is empty (it is never overwritten). On a real cluster it
        must be storage every worker can write to (a shared file system or an object store).
    mapping : IdMapping, optional
        Write external ``userId`` / ``movieId`` to the files instead of internal indices.
    float_format : str, default "%.9g"
        Format of the ``score`` column: nine significant digits round-trip a float32 exactly.

    Returns
    -------
    DistributedTopK
        ``users``, ``items``, ``scores`` (equal to :func:`helpers.recommend.top_k_items` with the
        same ``batch_size``) and the ``paths`` written. Unfillable slots score ``-inf`` in the
        arrays and are left out of the files.

    Raises
    ------
    FileExistsError
        ``output_dir`` exists and is not empty.
    ValueError, IndexError
        ``k``, ``exclude`` or ``users`` out of range.

    Examples
    --------
    >>> from distributed import Client, LocalCluster
    >>> from lightfm import LightFM
    >>> from helpers.recommend import top_k_items
    >>> model = LightFM(no_components=3, random_state=0).fit(sp.identity(8, format="coo"), epochs=1)
    >>> with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
    ...                   host="127.0.0.1", dashboard_address=None, silence_logs=50) as cluster, \\
    ...         Client(cluster) as client:
    ...     result = score_all_users_dask(client, model, k=3, partition_size=3, batch_size=3)
    >>> items, scores = top_k_items(model, np.arange(8), k=3, batch_size=3)
    >>> bool((result.items == items).all()), bool(np.array_equal(result.scores, scores))
    (True, True)
    """
    user_bias, user_repr = model.get_user_representations(user_features)
    items_side = item_side(model, item_features)
    n_users, n_items = len(user_bias), len(items_side)
    _check_k(k, n_items, "items in the catalog")
    everyone = np.arange(n_users) if users is None else users
    users, exclude = _check_users_and_exclude(everyone, exclude, n_users, n_items)
    batch_size = batch_size or batch_size_for(n_items)
    folder = None
    if output_dir is not None:
        folder = Path(output_dir)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise FileExistsError(f"{folder.name!r} exists and is not an empty folder; pick a new output_dir "
                                  "(results are never overwritten)")
        folder.mkdir(parents=True, exist_ok=True)
    if mapping is not None and mapping.shape != (n_users, n_items):
        raise ValueError(f"mapping has shape {mapping.shape} but the model {(n_users, n_items)}")
    item_ids = None if mapping is None else np.asarray(mapping.items)

    # One copy per worker, not one per task. hash=False: a fresh key, so a previous call's copy
    # being released cannot take this call's data with it.
    shared = client.scatter(items_side, broadcast=True, hash=False)
    futures, paths = [], []
    # Thread workers (processes=False) share this process's BLAS, whose thread count is one setting
    # for the whole process, and threadpoolctl lets one thread at a time change it: the driver holds
    # it at one while the tasks run, so no task's product runs on more BLAS threads than another's.
    # Worker processes start with OPENBLAS_NUM_THREADS=1 (Dask's default), and score_partition holds
    # BLAS at one thread itself too.
    with threadpool_limits(limits=1, user_api="blas"):
        for number, positions in enumerate(user_partitions(len(users), partition_size, batch_size)):
            part = users[positions]
            path = None if folder is None else folder / f"part-{number:05d}.csv"
            futures.append(client.submit(
                _score_and_write, user_repr[part], user_bias[part], shared, k,
                None if exclude is None else exclude[part], batch_size, part, path,
                None if mapping is None else np.asarray(mapping.users)[part], item_ids, float_format, pure=False,
            ))
            paths.append(path)
        parts = client.gather(futures)
    client.cancel([shared, *futures])  # free the workers' memory now, not at garbage collection
    if not parts:
        return DistributedTopK(users, np.empty((0, k), np.int32), np.empty((0, k), np.float32), [])
    return DistributedTopK(users, np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts]),
                           [p for p in paths if p is not None])
