"""Estimates beside their intervals: hand-checked cases, then arbitrary finite tables (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from pie_utils.errors import ParameterError
from pie_utils.intervals import OUTSIDE_MARK, interval_text, outside, outside_note, outside_rows

NUMBER = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
MAYBE_NAN = st.one_of(NUMBER, st.just(math.nan))
TABLES = data_frames(
    [
        column("estimate", elements=MAYBE_NAN, dtype=float),
        column("low", elements=MAYBE_NAN, dtype=float),
        column("high", elements=MAYBE_NAN, dtype=float),
        column("cell", elements=st.sampled_from("abc")),
    ],
    index=range_indexes(min_size=0, max_size=12),
)


def test_outside_on_cases_checked_by_hand():
    # the chapter-9 case of the crash: +0.058 above [-0.077, +0.050]; the ends themselves are inside
    assert outside([0.058, 0.0, -0.077, 0.080, 0.1], [-0.077] * 5, [0.050, 0.05, 0.05, 0.080, 0.2]).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]
    assert outside(1.0, 2.0, 0.0).item() is False  # ends given the wrong way round: the range between them
    assert outside(math.nan, 0.0, 1.0).item() is False and outside(5.0, math.nan, 1.0).item() is False


def test_interval_text_marks_what_lies_outside():
    assert interval_text(0.712, 0.65, 0.771) == "0.712 [0.650, 0.771]"
    assert interval_text(0.058, -0.077, 0.05, "+.3f") == f"+0.058{OUTSIDE_MARK} [-0.077, +0.050]"
    assert interval_text(0.5, math.nan, 0.6) == "0.500" and interval_text(math.nan, 0.0, 1.0) == "–"


def test_outside_note_counts_and_names_rows():
    table = pd.DataFrame(
        {
            "method": ["IMP-FT", "MP-AI", "MP-AI"],
            "sparsity": [0.5, 0.9, 0.5],
            "effect": [0.2, 0.058, math.nan],
            "low": [0.1, -0.077, 0.0],
            "high": [0.3, 0.05, 1.0],
        }
    )
    note = outside_note(table, "effect", "effects", label=["method", "sparsity"])
    assert note.startswith("1 of 2 effects lie outside") and "MP-AI 0.9" in note and "IMP-FT" not in note
    assert outside_note(table.iloc[:1], "effect", "effects") == "All 1 effects with an interval lie inside it."
    with pytest.raises(ParameterError, match="high"):
        outside_rows(table, "effect", high="upper")


@given(TABLES)
def test_outside_rows_are_exactly_the_finite_rows_beyond_an_end(table):
    rows = outside_rows(table, "estimate")
    for _, row in table.iterrows():
        values = np.array([row.estimate, row.low, row.high])
        beyond = bool(
            np.isfinite(values).all() and not min(row.low, row.high) <= row.estimate <= max(row.low, row.high)
        )
        assert (row.name in rows.index) == beyond
    note = outside_note(table, "estimate", "estimates", label="cell")
    assert note.startswith("All" if rows.empty else f"{len(rows)} of ")


@given(NUMBER, NUMBER, NUMBER)
def test_interval_text_shows_all_three_numbers_and_marks_only_outside(value, low, high):
    text = interval_text(value, low, high, ".2f")
    assert text.startswith(format(value, ".2f")) and text.endswith(f"[{low:.2f}, {high:.2f}]")
    assert (OUTSIDE_MARK in text) == bool(outside(value, low, high))
