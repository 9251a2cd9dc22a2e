"""Estimates beside their intervals: which lie outside (figures ring them).

A percentile interval from a resampling need not contain the estimate it surrounds. Over few
seeds the seed bootstrap is biased for majority-vote statistics (a resample of 5 seeds with
replacement holds about 3 distinct voters, so modal labels disagree more), and its interval
can sit beside the observed value. Such a case is a finding about the interval, so figures draw
what the numbers are, tables mark it, and chapters report it; nothing assumes it away.
"""

from __future__ import annotations

import numpy as np


def outside(value, low, high) -> np.ndarray:
    """Whether each estimate lies outside its interval: ``bool[n]`` (or a 0-d array for scalars).

    The interval is the closed range between ``low`` and ``high`` whichever is larger; a NaN
    anywhere in a row (no estimate, or no interval) reads as not outside, since nothing is
    claimed there.
    """
    value, low, high = (np.asarray(v, dtype=np.float64) for v in (value, low, high))
    with np.errstate(invalid="ignore"):
        return (value < np.minimum(low, high)) | (value > np.maximum(low, high))
