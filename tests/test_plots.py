"""Tests for helpers.plots: the learning-curve, interval and multi-curve figures."""

from __future__ import annotations

import importlib

import matplotlib

matplotlib.use("Agg")  # no display in tests

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

import helpers.plots  # noqa: E402
from helpers.plots import plot_curves, plot_intervals, plot_learning_curve  # noqa: E402


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


# ---------------------------------------------------------------- plot_intervals


def interval_table() -> pd.DataFrame:
    return pd.DataFrame(
        {"mean": [0.069, 0.048, 0.001], "low": [0.060, 0.041, 0.000], "high": [0.078, 0.057, 0.002],
         "users": [591, 591, 591]},
        index=["WARP", "popularity", "random"],
    )


def test_intervals_first_row_on_top_with_user_counts():
    ax = plot_intervals(interval_table())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    positions = list(ax.get_yticks())
    assert labels == ["WARP (n = 591)", "popularity (n = 591)", "random (n = 591)"]
    assert positions[0] > positions[1] > positions[2]
    assert ax.get_xlabel() == "precision@10 (95% interval)"


def test_intervals_draw_each_bar_from_low_to_high():
    ax = plot_intervals(interval_table())
    segments = ax.collections[0].get_segments()  # the horizontal error bars, one per row
    spans = sorted((round(float(s[0][0]), 3), round(float(s[1][0]), 3)) for s in segments)
    assert spans == [(0.0, 0.002), (0.041, 0.057), (0.06, 0.078)]


def test_intervals_annotate_mean_and_bounds():
    texts = [t.get_text() for t in plot_intervals(interval_table()).texts]
    assert "0.069 [0.060, 0.078]" in texts
    assert not plot_intervals(interval_table(), annotate=False).texts


def test_intervals_draw_on_the_given_axes():
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_intervals(interval_table(), ax=right, metric_label="recall@10") is right
    assert right.get_xlabel() == "recall@10 (95% interval)"
    assert not left.collections


@pytest.mark.parametrize(
    "table, error, message",
    [
        (interval_table().drop(columns="low"), ValueError, r"lacks column\(s\) \['low'\]"),
        (interval_table().iloc[:0], ValueError, "no rows"),
        (interval_table().assign(low=[0.07, 0.04, 0.0]), ValueError, r"\['WARP'\] do not satisfy low <= mean <= high"),
        (interval_table().assign(mean=[float("nan"), 0.05, 0.001]), ValueError, "NaN"),
        ({"mean": [1]}, TypeError, "must be a DataFrame"),
    ],
)
def test_intervals_reject_bad_tables(table, error, message):
    with pytest.raises(error, match=message):
        plot_intervals(table)


# ---------------------------------------------------------------- plot_curves


def histories() -> dict[str, pd.DataFrame]:
    return {
        "warp": pd.DataFrame({"epoch": [1, 2, 3], "valid_precision": [0.03, 0.06, 0.05]}),
        "bpr": pd.DataFrame({"epoch": [1, 2, 3], "valid_precision": [0.02, 0.03, 0.04]}),
    }


def test_curves_one_line_per_label_in_order():
    ax = plot_curves(histories())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["warp", "bpr"]
    assert [line.get_ydata().tolist() for line in ax.get_lines()] == [[0.03, 0.06, 0.05], [0.02, 0.03, 0.04]]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "validation precision@10")


def test_curves_mark_each_best_point():
    ax = plot_curves(histories())
    marked = sorted(tuple(map(float, c.get_offsets()[0])) for c in ax.collections)
    assert marked == [(2.0, 0.06), (3.0, 0.04)]
    assert not plot_curves(histories(), mark_best=False).collections


def test_curves_other_columns_and_given_axes():
    fig, ax = plt.subplots()
    frames = {"a": pd.DataFrame({"step": [1, 2], "loss": [0.5, 0.4]})}
    assert plot_curves(frames, ax=ax, y="loss", x="step", ylabel="loss") is ax
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", "loss")


@pytest.mark.parametrize(
    "curves, error, message",
    [
        ({}, ValueError, "empty"),
        ([pd.DataFrame()], TypeError, "mapping"),
        ({"a": [1, 2]}, TypeError, r"curves\['a'\] must be a DataFrame"),
        ({"a": pd.DataFrame({"epoch": [1]})}, ValueError, r"curves\['a'\] lacks column\(s\) \['valid_precision'\]"),
        ({"a": pd.DataFrame({"epoch": [], "valid_precision": []})}, ValueError, "no rows"),
    ],
)
def test_curves_reject_bad_input(curves, error, message):
    with pytest.raises(error, match=message):
        plot_curves(curves)
