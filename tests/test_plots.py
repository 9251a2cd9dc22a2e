"""The figure helpers draw any finite table: estimates outside intervals, NaN intervals, empty or
single cells (hypothesis), and they draw the interval from its ends, wherever the estimate is."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.pandas import column, data_frames, range_indexes  # noqa: E402

from pie_utils import plots  # noqa: E402
from pie_utils.intervals import outside  # noqa: E402

MAYBE_NAN = st.one_of(st.floats(min_value=-1e3, max_value=1e3, allow_nan=False), st.just(math.nan))
TABLES = data_frames(
    [
        column("x", elements=st.floats(0, 1, allow_nan=False), dtype=float),
        column("value", elements=MAYBE_NAN, dtype=float),
        column("low", elements=MAYBE_NAN, dtype=float),
        column("high", elements=MAYBE_NAN, dtype=float),
        column("method", elements=st.sampled_from(["IMP-FT", "MP-AI", "dense"])),
    ],
    index=range_indexes(min_size=0, max_size=10),
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _bar_ends(ax) -> list[tuple[float, float]]:
    """(low, high) of every vertical error bar drawn on ``ax``."""
    ends = []
    for container in ax.containers:
        for segments in container.lines[2]:
            ends += [(min(seg[:, 1]), max(seg[:, 1])) for seg in segments.get_segments()]
    return ends


def test_the_crash_case_draws_its_interval_and_rings_the_estimate():
    fig, ax = plt.subplots()
    # chapter 9 of the crash: an estimate above its own interval
    n = plots.interval_points(ax, [0, 1], [0.058, 0.02], [-0.077, -0.01], [0.05, 0.03], color="C0", label="effect")
    assert n == 1
    assert np.allclose(sorted(_bar_ends(ax)), [(-0.077, 0.05), (-0.01, 0.03)])
    labels = ax.get_legend_handles_labels()[1]
    assert labels.count(plots.OUTSIDE_LABEL) == 1 and "effect" in labels
    plots.interval_points(ax, [2], [9.0], [0.0], [1.0], color="C1")  # a second outlier: labelled once per axes
    assert ax.get_legend_handles_labels()[1].count(plots.OUTSIDE_LABEL) == 1


def test_nan_intervals_draw_the_estimate_alone():
    fig, ax = plt.subplots()
    assert plots.interval_points(ax, [0, 1], [0.3, 0.4], [math.nan, 0.2], [0.5, 0.6], color="C0") == 0
    assert np.allclose(_bar_ends(ax), [(0.2, 0.6)])
    points = ax.lines[-1].get_xydata()
    assert points.tolist() == [[0.0, 0.3], [1.0, 0.4]]


@settings(max_examples=60, deadline=None)
@given(TABLES)
def test_interval_plot_draws_any_table(table):
    fig, ax = plt.subplots()
    n = plots.interval_plot(ax, table, "x", "value", "low", "high", hue="method", dodge=0.01)
    assert n == int(outside(table.value, table.low, table.high).sum())
    finite = table[np.isfinite(table[["low", "high"]]).all(axis=1)]
    expected = np.column_stack([np.minimum(finite.low, finite.high), np.maximum(finite.low, finite.high)])
    drawn = np.reshape(_bar_ends(ax), (-1, 2))
    # one bar per finite interval, at its two ends (matched in any order, to float precision)
    unmatched = list(drawn)
    for ends in expected:
        match = next(i for i, bar in enumerate(unmatched) if np.allclose(bar, ends, rtol=1e-9, atol=1e-9))
        unmatched.pop(match)
    assert not unmatched
    fig.canvas.draw()
    plt.close(fig)


@settings(max_examples=60, deadline=None)
@given(TABLES)
def test_interval_bars_draw_any_table(table):
    fig, ax = plt.subplots()
    n = plots.interval_bars(ax, table.method, table.value, table.low, table.high, ["C0"] * len(table))
    assert n == int(outside(table.value, table.low, table.high).sum())
    assert len(ax.patches) == len(table)
    fig.canvas.draw()
    plt.close(fig)


def test_the_verdict_forest_colours_by_verdict_and_keeps_a_readable_scale():
    import pandas as pd

    table = pd.DataFrame(
        {
            "name": ["primary", "two seeds", "estimate"],
            "estimate": [0.01, 0.02, 0.0],
            "low": [0.005, -6.0, -0.01],
            "high": [0.015, 6.0, 0.01],
            "verdict": ["supported", "underpowered at this scale", "an estimate"],
        }
    )
    fig, ax = plt.subplots()
    plots.verdict_forest(ax, table, "name", delta=0.02)
    assert ax.get_xlim() == pytest.approx((-0.22, 0.22))  # 10 delta, not +-6
    ticks = [(t.get_text(), t.get_position()[1]) for t in ax.get_yticklabels()]
    assert ticks == [("primary", 2.0), ("two seeds", 1.0), ("estimate", 0.0)]  # the first row on top
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["supported", "underpowered at this scale", "an estimate"]
    plt.close(fig)


def test_the_proxy_rank_grid_puts_each_proxy_on_a_row_and_each_target_in_a_column():
    targets = {"self": np.array([3.0, 1.0, 2.0]), "test": np.array([1.0, 2.0, 3.0])}  # [left-out point]
    proxies = {
        name: {"self": np.array([1.0, 2.0, 3.0]), "test": np.array([1.0, 2.0, 3.0])} for name in ("EL2N", "TracIn")
    }
    table = pd.DataFrame(
        [(p, t, 0.5, 0.1, 0.9, "supported") for p in proxies for t in targets],
        columns=["proxy", "target", "rho", "low", "high", "verdict"],
    )
    fig = plots.proxy_rank_grid(proxies, targets, table)
    axes = fig.axes
    assert len(axes) == 4 and axes[1].get_title().startswith("EL2N vs LOO test\nρ = +0.50 [+0.10, +0.90]")
    assert axes[2].get_title().startswith("TracIn vs LOO self")
    # percentile ranks: proxy ranks 1/3, 2/3, 1 against the self target's 1, 1/3, 2/3
    np.testing.assert_allclose(axes[0].collections[0].get_offsets(), [[1 / 3, 1], [2 / 3, 1 / 3], [1, 2 / 3]])
    plt.close(fig)


def test_the_group_loss_boxes_summarise_each_training_set_by_its_seeds_mean_loss():
    losses = {"all points": np.array([[1.0, 3.0], [2.0, 2.0]]), "without top": np.array([[4.0, 6.0], [5.0, 5.0]])}
    fig = plots.group_loss_boxes(losses, [5, 6])
    (ax,) = fig.axes
    assert [label.get_text() for label in ax.get_xticklabels()] == ["all points", "without top"]
    means = [float(line.get_ydata()[0]) for line in ax.lines if line.get_marker() == "^"]  # showmeans' markers
    assert means == [2.0, 5.0] and "seeds [5, 6]" in ax.get_title()  # the per-seed means are 2, 2 and 5, 5
    plt.close(fig)
