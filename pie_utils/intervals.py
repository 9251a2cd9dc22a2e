"""Estimates beside their intervals: which lie outside, and how a table or a chapter says so.

A percentile interval from a resampling need not contain the estimate it surrounds. Over few
seeds the seed bootstrap is biased for majority-vote statistics (a resample of 5 seeds with
replacement holds about 3 distinct voters, so modal labels disagree more), and its interval
can sit beside the observed value. Such a case is a finding about the interval, so figures draw
what the numbers are, tables mark it, and chapters report it; nothing assumes it away.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.errors import ParameterError

OUTSIDE_MARK = "†"  # appended in tables to an estimate that lies outside its own interval


def outside(value, low, high) -> np.ndarray:
    """Whether each estimate lies outside its interval: ``bool[n]`` (or a 0-d array for scalars).

    The interval is the closed range between ``low`` and ``high`` whichever is larger; a NaN
    anywhere in a row (no estimate, or no interval) reads as not outside, since nothing is
    claimed there.
    """
    value, low, high = (np.asarray(v, dtype=np.float64) for v in (value, low, high))
    with np.errstate(invalid="ignore"):
        return (value < np.minimum(low, high)) | (value > np.maximum(low, high))


def interval_text(value: float, low: float, high: float, spec: str = ".3f") -> str:
    """``"0.712 [0.650, 0.771]"``: the estimate and its interval in ``spec``, ``"–"`` for NaN.

    An estimate outside its interval carries ``OUTSIDE_MARK``; a missing interval prints as
    the estimate alone.
    """
    if not np.isfinite(value):
        return "–"
    text = format(value, spec)
    if not (np.isfinite(low) and np.isfinite(high)):
        return text
    mark = OUTSIDE_MARK if outside(value, low, high) else ""
    return f"{text}{mark} [{format(low, spec)}, {format(high, spec)}]"


def outside_rows(table: pd.DataFrame, value: str, low: str = "low", high: str = "high") -> pd.DataFrame:
    """The rows of ``table`` whose ``value`` lies outside ``[low, high]`` (same columns)."""
    for parameter, column in (("value", value), ("low", low), ("high", high)):
        if column not in table.columns:
            raise ParameterError(parameter, column, [str(c) for c in table.columns])
    return table[outside(table[value], table[low], table[high])]


def outside_note(
    table: pd.DataFrame,
    value: str,
    what: str,
    label: str | list[str] | None = None,
    low: str = "low",
    high: str = "high",
) -> str:
    """One sentence for a chapter: how many of the table's ``what`` lie outside their intervals.

    Names the rows by their ``label`` column(s) when given (values joined by spaces, numbers
    in ``g`` format; at most five rows, then a count), and says what such a row means: the
    resampling behind that interval is biased there, so the interval is no guide to the
    estimate's uncertainty.
    """
    rows = outside_rows(table, value, low, high)
    finite = int(
        (
            np.isfinite(table[value].to_numpy(dtype=np.float64))
            & np.isfinite(table[low].to_numpy(dtype=np.float64))
            & np.isfinite(table[high].to_numpy(dtype=np.float64))
        ).sum()
    )
    if rows.empty:
        return f"All {finite} {what} with an interval lie inside it."
    named = ""
    if label is not None:
        columns = [label] if isinstance(label, str) else list(label)
        names = [
            " ".join(format(v, "g") if isinstance(v, float) else str(v) for v in row)
            for row in rows[columns].itertuples(index=False)
        ]
        named = ": " + ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"{len(rows)} of {finite} {what} lie outside their own interval (marked {OUTSIDE_MARK} in "
        f"tables, a red ring in figures){named}. There the resampling that made the interval is "
        "biased, so the interval does not describe that estimate's uncertainty."
    )
