"""Figures the notebooks draw more than once.

Importing this module changes nothing in matplotlib: pyplot is only imported when a function
has to create a figure, and every style choice is made on the Axes it draws on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_learning_curve"]

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
