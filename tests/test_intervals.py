"""Estimates beside their intervals: cases checked by hand."""

from __future__ import annotations

import math

from pie_utils.intervals import outside


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
