"""One look for every figure of the book: seaborn style, method colours, interval error bars."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from pie_utils.pruning import METHODS

DENSE_COLOUR = "#333333"


def use_style() -> None:
    """The book's figure style: white grid, readable fonts, high-resolution PNGs."""
    sns.set_theme(style="whitegrid", context="notebook", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "figure.figsize": (7.5, 4.2),
                         "axes.titleweight": "bold"})


def method_palette(methods) -> dict[str, tuple]:
    """A fixed colour per pruning method (the same method keeps its colour in every chapter)."""
    colours = sns.color_palette("tab10", n_colors=len(METHODS))
    order = list(METHODS)
    return {m: colours[order.index(m) % len(colours)] if m in order else DENSE_COLOUR for m in methods}


def interval_plot(ax, table: pd.DataFrame, x: str, y: str, low: str, high: str, hue: str,
                  palette: dict | None = None, dodge: float = 0.0) -> None:
    """Points at ``y`` with error bars from ``low`` to ``high``, one line per ``hue`` level.

    ``table`` has one row per (hue, x); ``dodge`` shifts hue levels apart on a numeric x axis.
    """
    levels = list(dict.fromkeys(table[hue]))
    palette = palette or method_palette(levels)
    for i, level in enumerate(levels):
        rows = table[table[hue] == level].sort_values(x)
        shift = (i - (len(levels) - 1) / 2) * dodge
        xs = np.asarray(rows[x], dtype=float) + shift
        ax.errorbar(xs, rows[y], yerr=[rows[y] - rows[low], rows[high] - rows[y]], fmt="o-", capsize=3,
                    color=palette.get(level, DENSE_COLOUR), label=str(level), markersize=5, linewidth=1.2)
