"""Figures the notebooks draw more than once.

Importing this module changes nothing in matplotlib: pyplot is only imported when a function
has to create a figure, and every style choice is made on the Axes it draws on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_curves", "plot_intervals", "plot_learning_curve"]

_CURVE_COLUMNS = ("epoch", "train_precision", "test_precision")


def plot_learning_curve(
    curve: pd.DataFrame,
    ax: Axes | None = None,
    metric_label: str = "precision@10",
    *,
    mark_best: bool = True,
) -> Axes:
    """Draw train and test precision per epoch, as returned by :func:`helpers.learning_curve`.

    Parameters
    ----------
    curve : DataFrame
        Columns ``epoch``, ``train_precision`` and ``test_precision``, one row per epoch.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is created when omitted.
    metric_label : str, default "precision@10"
        Name of the metric, used for the y-axis label (match the ``k`` of the curve).
    mark_best : bool, default True
        Mark the epoch with the highest test precision with a dot (a marker, not an extra line).

    Returns
    -------
    matplotlib Axes
        The axes drawn on: one line for train, one for test, labelled axes and a legend.

    Raises
    ------
    TypeError
        If ``curve`` is not a DataFrame.
    ValueError
        If ``curve`` lacks one of the columns above or has no rows.

    Examples
    --------
    >>> curve = pd.DataFrame({"epoch": [1, 2, 3], "train_precision": [0.2, 0.3, 0.4],
    ...                       "test_precision": [0.10, 0.12, 0.11]})
    >>> ax = plot_learning_curve(curve)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('epoch', 'precision@10')
    """
    if not isinstance(curve, pd.DataFrame):
        raise TypeError(f"curve must be a DataFrame from helpers.learning_curve; got {type(curve).__name__}")
    missing = [c for c in _CURVE_COLUMNS if c not in curve.columns]
    if missing:
        raise ValueError(f"curve lacks column(s) {missing}; expected {list(_CURVE_COLUMNS)}, it has {list(curve.columns)}")
    if curve.empty:
        raise ValueError("curve has no rows; expected one row per epoch")

    from matplotlib.ticker import MaxNLocator

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4))

    epochs = curve["epoch"].to_numpy()
    ax.plot(epochs, curve["train_precision"].to_numpy(), marker="o", markersize=3, label="train")
    ax.plot(epochs, curve["test_precision"].to_numpy(), marker="o", markersize=3,
            label="test (train items excluded)")
    if mark_best:
        best = int(curve["test_precision"].to_numpy().argmax())
        ax.scatter([epochs[best]], [curve["test_precision"].iloc[best]], s=80, facecolors="none",
                   edgecolors="black", zorder=3, label=f"best test (epoch {epochs[best]})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric_label)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return ax


_INTERVAL_COLUMNS = ("mean", "low", "high")


def plot_intervals(
    table: pd.DataFrame,
    ax: Axes | None = None,
    metric_label: str = "precision@10",
    *,
    annotate: bool = True,
) -> Axes:
    """Draw one mean with its confidence interval per row, as a dot and a horizontal bar.

    Made for the ``(mean, low, high)`` of :func:`helpers.bootstrap_ci`: the first row of
    ``table`` is drawn at the top, and two intervals that do not overlap are visibly apart.

    Parameters
    ----------
    table : DataFrame
        Index: one label per model (or setting); columns ``mean``, ``low`` and ``high``.
        A ``users`` column, when present, is added to the labels as ``(n = ...)``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is created when omitted.
    metric_label : str, default "precision@10"
        Name of the metric, for the x-axis label.
    annotate : bool, default True
        Write ``mean [low, high]`` to the right of each interval (3 decimals).

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    TypeError
        If ``table`` is not a DataFrame.
    ValueError
        If a column is missing, the table is empty, a value is not finite, or a row has
        ``low > mean`` or ``mean > high``.

    Examples
    --------
    >>> table = pd.DataFrame({"mean": [0.06, 0.05], "low": [0.05, 0.04], "high": [0.07, 0.06]},
    ...                      index=["WARP", "popularity"])
    >>> ax = plot_intervals(table)
    >>> ax.get_xlabel(), [t.get_text() for t in ax.get_yticklabels()]
    ('precision@10 (95% interval)', ['WARP', 'popularity'])
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a DataFrame with mean, low and high columns; got {type(table).__name__}")
    missing = [c for c in _INTERVAL_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; expected {list(_INTERVAL_COLUMNS)}, it has {list(table.columns)}")
    if table.empty:
        raise ValueError("table has no rows; expected one row per model")
    values = table[list(_INTERVAL_COLUMNS)].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        raise ValueError("table holds NaN or infinite values; expected finite means and bounds")
    bad = (values[:, 1] > values[:, 0]) | (values[:, 0] > values[:, 2])
    if bad.any():
        raise ValueError(f"rows {list(table.index[bad])} do not satisfy low <= mean <= high")

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 0.6 * len(table) + 1.2))

    mean, low, high = values.T
    positions = np.arange(len(table))[::-1]  # first row on top
    ax.errorbar(mean, positions, xerr=[mean - low, high - mean], fmt="o", color="tab:blue",
                ecolor="tab:blue", elinewidth=2, capsize=4)
    labels = [str(label) for label in table.index]
    if "users" in table.columns:
        labels = [f"{label} (n = {int(n)})" for label, n in zip(labels, table["users"])]
    ax.set_yticks(positions, labels)
    ax.set_ylim(-0.6, len(table) - 0.4)
    ax.set_xlabel(f"{metric_label} (95% interval)")
    ax.grid(axis="x", alpha=0.3)
    if annotate:
        span = high.max() - low.min() or 1.0
        for y, (m, lo, hi) in zip(positions, values):
            ax.annotate(f"{m:.3f} [{lo:.3f}, {hi:.3f}]", (hi, y), xytext=(6, 0), textcoords="offset points",
                        va="center", fontsize=9)
        ax.set_xlim(min(0.0, low.min()), high.max() + 0.45 * span)
    return ax


def plot_curves(
    curves: Mapping[str, pd.DataFrame],
    ax: Axes | None = None,
    y: str = "valid_precision",
    *,
    x: str = "epoch",
    ylabel: str = "validation precision@10",
    mark_best: bool = True,
) -> Axes:
    """Draw several per-epoch curves on one axes, one line per name, with each line's best point.

    Made for the ``history`` of :func:`helpers.fit_with_early_stopping`, one per model or setting.

    Parameters
    ----------
    curves : mapping of str to DataFrame
        Legend label → a frame with columns ``x`` and ``y``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is created when omitted.
    y : str, default "valid_precision"
        Column drawn on the y-axis.
    x : str, default "epoch"
        Column drawn on the x-axis.
    ylabel : str, default "validation precision@10"
    mark_best : bool, default True
        Circle each line's highest point (first one on ties).

    Returns
    -------
    matplotlib Axes

    Raises
    ------
    TypeError
        If ``curves`` is not a mapping of DataFrames.
    ValueError
        If ``curves`` is empty, or a frame is empty or lacks ``x`` or ``y``.

    Examples
    --------
    >>> a = pd.DataFrame({"epoch": [1, 2, 3], "valid_precision": [0.02, 0.04, 0.03]})
    >>> ax = plot_curves({"warp": a, "bpr": a * [1, 0.5]})
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['warp', 'bpr']
    """
    if not isinstance(curves, Mapping):
        raise TypeError(f"curves must be a mapping of label -> DataFrame; got {type(curves).__name__}")
    if not curves:
        raise ValueError("curves is empty; expected at least one label -> DataFrame")
    for label, frame in curves.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"curves[{label!r}] must be a DataFrame; got {type(frame).__name__}")
        missing = [c for c in (x, y) if c not in frame.columns]
        if missing:
            raise ValueError(f"curves[{label!r}] lacks column(s) {missing}; it has {list(frame.columns)}")
        if frame.empty:
            raise ValueError(f"curves[{label!r}] has no rows")

    from matplotlib.ticker import MaxNLocator

    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(7, 4))

    for label, frame in curves.items():
        xs, ys = frame[x].to_numpy(), frame[y].to_numpy(dtype=float)
        (line,) = ax.plot(xs, ys, marker="o", markersize=3, label=str(label))
        if mark_best:
            best = int(np.nanargmax(ys))
            ax.scatter([xs[best]], [ys[best]], s=70, facecolors="none", edgecolors=line.get_color(), linewidths=1.5, zorder=3)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return ax
