"""Tests for helpers.plots: the learning-curve figure."""

from __future__ import annotations

import importlib

import matplotlib

matplotlib.use("Agg")  # no display in tests

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

import helpers.plots  # noqa: E402
from helpers.plots import plot_learning_curve  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def small_curve() -> pd.DataFrame:
    return pd.DataFrame({
        "epoch": [1, 2, 3, 4],
        "train_precision": [0.20, 0.30, 0.40, 0.45],
        "test_precision": [0.10, 0.13, 0.12, 0.11],
        "test_users": [50, 50, 50, 50],
    })


def test_returns_axes_with_labelled_axes():
    ax = plot_learning_curve(small_curve(), metric_label="precision@5")
    assert isinstance(ax, Axes)
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "precision@5"


def test_draws_one_line_per_series_with_a_legend():
    ax = plot_learning_curve(small_curve())
    assert len(ax.get_lines()) == 2
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels[:2] == ["train", "test (train items excluded)"]
    train_line, test_line = ax.get_lines()
    assert train_line.get_ydata().tolist() == [0.20, 0.30, 0.40, 0.45]
    assert test_line.get_xdata().tolist() == [1, 2, 3, 4]


def test_marks_the_best_test_epoch():
    ax = plot_learning_curve(small_curve())
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "best test (epoch 2)" in labels


def test_draws_on_the_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    returned = plot_learning_curve(small_curve(), ax=right)
    assert returned is right
    assert len(right.get_lines()) == 2
    assert len(left.get_lines()) == 0
    assert len(fig.axes) == 2


def test_missing_column_names_what_is_expected():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['test_precision'\]"):
        plot_learning_curve(small_curve().drop(columns="test_precision"))


def test_empty_curve_raises():
    with pytest.raises(ValueError, match="no rows"):
        plot_learning_curve(small_curve().iloc[:0])


def test_import_leaves_global_matplotlib_state_alone():
    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    importlib.reload(helpers.plots)
    assert dict(matplotlib.rcParams) == before
    assert matplotlib.get_backend() == backend
