"""One look for every figure of the book: seaborn style, method colours, interval error bars.

Interval helpers draw the interval from its two ends and the estimate where it is, so an
estimate outside its own interval (a biased resampling, see ``pie_utils.intervals``) is shown
with a red ring instead of breaking the figure; NaN intervals draw the estimate alone.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy.stats import rankdata

from pie_utils.intervals import outside
from pie_utils.pruning import METHODS

DENSE_COLOUR = "#333333"
OUTSIDE_COLOUR = "#d62728"
OUTSIDE_LABEL = "estimate outside its interval"


def use_style() -> None:
    """The book's figure style: white grid, readable fonts, high-resolution PNGs."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    plt.rcParams.update(
        {"figure.dpi": 110, "savefig.dpi": 150, "figure.figsize": (7.5, 4.2), "axes.titleweight": "bold"}
    )


def method_palette(methods) -> dict[str, tuple]:
    """A fixed colour per pruning method (the same method keeps its colour in every chapter)."""
    colours = sns.color_palette("tab10", n_colors=len(METHODS))
    order = list(METHODS)
    return {m: colours[order.index(m) % len(colours)] if m in order else DENSE_COLOUR for m in methods}


def interval_points(
    ax,
    x,
    value,
    low,
    high,
    *,
    color,
    marker: str | None = "o",
    filled: bool = True,
    label: str | None = None,
    line: bool = False,
    horizontal: bool = False,
    capsize: float = 3,
    markersize: float = 5,
) -> int:
    """Estimates at ``(x, value)`` with bars from ``low`` to ``high``; returns how many lie outside.

    All four are 1-D of one length (``n`` points; ``x`` is the position on the category or
    numeric axis, ``value`` the estimate). With ``horizontal`` the estimates run along x (for
    horizontal bars); ``marker=None`` draws no point (a bar shows the estimate). ``line`` joins
    the points in order. Bars are drawn only where both ends are finite; an estimate outside
    its interval gets a red ring, labelled once per axes.
    """
    x, value, low, high = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, value, low, high))
    bottom, top = np.minimum(low, high), np.maximum(low, high)
    has_bar = np.isfinite(bottom) & np.isfinite(top)
    middle, half = (bottom + top) / 2, (top - bottom) / 2
    where = (middle[has_bar], x[has_bar]) if horizontal else (x[has_bar], middle[has_bar])
    error = {"xerr" if horizontal else "yerr": half[has_bar]}
    if has_bar.any():
        ax.errorbar(*where, **error, fmt="none", ecolor=color, capsize=capsize, linewidth=1.2)
    if marker is not None:
        points = (value, x) if horizontal else (x, value)
        ax.plot(
            *points,
            marker=marker,
            linestyle="-" if line else "none",
            color=color,
            label=label,
            markerfacecolor=color if filled else "white",
            markersize=markersize,
            linewidth=1.2,
        )
    off = outside(value, low, high)
    if off.any():
        labelled = OUTSIDE_LABEL in ax.get_legend_handles_labels()[1]
        ring = (value[off], x[off]) if horizontal else (x[off], value[off])
        ax.plot(
            *ring,
            marker="o",
            linestyle="none",
            markerfacecolor="none",
            markeredgecolor=OUTSIDE_COLOUR,
            markeredgewidth=1.5,
            markersize=markersize + 6,
            label=None if labelled else OUTSIDE_LABEL,
        )
    return int(off.sum())


def interval_bars(ax, labels, value, low, high, colours) -> int:
    """Horizontal bars of ``value`` per label with interval whiskers; returns how many lie outside.

    ``labels``, ``value``, ``low``, ``high`` and ``colours`` are 1-D of one length, bars in that
    order from the bottom.
    """
    labels = [str(label) for label in labels]
    positions = np.arange(len(labels), dtype=np.float64)
    ax.barh(positions, np.asarray(value, dtype=np.float64), color=list(colours))
    ax.set_yticks(positions, labels)
    return interval_points(ax, positions, value, low, high, color="black", marker=None, horizontal=True)


def interval_plot(
    ax,
    table: pd.DataFrame,
    x: str,
    y: str,
    low: str,
    high: str,
    hue: str,
    palette: dict | None = None,
    dodge: float = 0.0,
) -> int:
    """Points at ``y`` with error bars from ``low`` to ``high``, one line per ``hue`` level.

    ``table`` has one row per (hue, x); ``dodge`` shifts hue levels apart on a numeric x axis.
    Returns how many estimates lie outside their interval (drawn with a red ring).
    """
    levels = list(dict.fromkeys(table[hue]))
    palette = palette or method_palette(levels)
    outside_count = 0
    for i, level in enumerate(levels):
        rows = table[table[hue] == level].sort_values(x)
        shift = (i - (len(levels) - 1) / 2) * dodge
        outside_count += interval_points(
            ax,
            np.asarray(rows[x], dtype=float) + shift,
            rows[y],
            rows[low],
            rows[high],
            color=palette.get(level, DENSE_COLOUR),
            label=str(level),
            line=True,
        )
    return outside_count


VERDICT_COLOURS = {
    "supported": "#1b9e77",
    "not supported": "#d95f02",
    "inconclusive at this scale": "#7570b3",
    "underpowered at this scale": "#999999",
}


def verdict_forest(ax, table, label: str, delta: float, reference: float = 0.0, kind: str = "superiority", paper=None):
    """A forest plot of ``table`` (one row per estimate: ``estimate``, ``low``, ``high``,
    ``verdict`` and the text column ``label``), top row first, coloured by verdict (grey for a
    ``verdict`` text that is none of ``VERDICT_COLOURS``, e.g. "estimate"), with the
    reference and the band that Δ draws around it (below it only for non-inferiority). The x
    axis reaches at most 10 Δ from the reference; wider intervals are cut at its edge.
    ``paper``: optional ``[row]`` values drawn as open diamonds (the paper's numbers)."""
    positions = np.arange(len(table))[::-1].astype(np.float64)
    for verdict in dict.fromkeys(table.verdict):  # a text that is no verdict (e.g. "estimate") is drawn grey
        rows = (table.verdict == verdict).to_numpy()
        interval_points(
            ax,
            positions[rows],
            table.estimate[rows],
            table.low[rows],
            table.high[rows],
            color=VERDICT_COLOURS.get(verdict, DENSE_COLOUR),
            label=verdict,
            horizontal=True,
        )
    if paper is not None:
        ax.plot(np.asarray(paper, float), positions, "D", mfc="none", color="black", markersize=5, label="paper")
    ax.axvline(reference, color="black", linewidth=0.8)
    edges = [reference - delta] if kind == "non-inferiority" else [reference - delta, reference + delta]
    for edge in edges:
        ax.axvline(edge, color="black", linewidth=0.8, linestyle=":")
    ax.set_yticks(positions, table[label].astype(str).tolist())
    # a few-seed interval can span hundreds of Δ: show the rows at a readable scale, cut at the edge
    reach = np.abs(np.concatenate([table.low, table.high, table.estimate]).astype(float) - reference)
    span = float(np.clip(np.nanmax(reach, initial=0.0), 2 * delta, 10 * delta))
    ax.set_xlim(reference - 1.1 * span, reference + 1.1 * span)
    ax.legend(fontsize=8, loc="best")


def attribution_heatmaps(panels) -> plt.Figure:
    """One heatmap per shown text (``pie_utils.chapters.attributions.ExamplePanel``: words
    across, models down, red towards the gold class, blue away), stacked in one figure."""
    models = len(panels[0].labels)
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, len(panels) * (0.3 * models + 1.1)))
    for ax, panel in zip(np.atleast_1d(axes), panels):
        sns.heatmap(
            panel.grid,
            cmap="RdBu_r",
            center=0,
            vmin=-1,
            vmax=1,
            cbar=False,
            xticklabels=panel.words,
            yticklabels=panel.labels,
            linewidths=0.5,
            ax=ax,
        )
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.tick_params(axis="y", labelrotation=0, labelsize=8)
        ax.set_title(panel.title, fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def proxy_rank_grid(proxies, targets, table) -> plt.Figure:
    """Chapter 6's grid: per proxy (a row) and leave-one-out target (a column), each point's
    percentile rank by the proxy against its rank by the target, the diagonal, and the cell's
    rank correlation with its interval and verdict from ``table`` (``proxy_table``).

    ``proxies``: proxy → target name → scores ``[point]``; ``targets``: target name → ``[point]``.
    """
    fig, axes = plt.subplots(len(proxies), len(targets), figsize=(11, 7.5), sharex=True, sharey=True, squeeze=False)
    for row_axes, (proxy_name, by_target) in zip(axes, proxies.items()):
        for ax, (target_name, target) in zip(row_axes, targets.items()):
            cell = table[(table.proxy == proxy_name) & (table.target == target_name)].iloc[0]
            x, y = rankdata(by_target[target_name]) / len(target), rankdata(target) / len(target)
            ax.scatter(x, y, s=12, alpha=0.6, color=DENSE_COLOUR if proxy_name == "EL2N" else "#1b9e77")
            ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--")
            ax.set_title(
                f"{proxy_name} vs LOO {target_name}\nρ = {cell.rho:+.2f} [{cell.low:+.2f}, {cell.high:+.2f}]\n"
                f"{cell.verdict}",
                fontsize=9,
            )
            ax.set_xlabel(f"{proxy_name} rank (percentile)")
            ax.set_ylabel("LOO rank (percentile)")
    fig.tight_layout()
    return fig


def group_loss_boxes(losses, seeds) -> plt.Figure:
    """Chapter 6's leave-group-out figure: per training set (``losses``: name → test loss
    ``[seed, example]``), a box of the seeds' mean test losses, its mean marked."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.boxplot([loss.mean(axis=1) for loss in losses.values()], tick_labels=list(losses), showmeans=True)
    ax.set_ylabel("mean test loss per seed")
    ax.set_title(f"Dense BiLSTMs of seeds {seeds}, retrained without each group", fontsize=10)
    fig.tight_layout()
    return fig
