"""Uncertainty, tests and a computed verdict for each claim of the paper.

Every chapter attaches the same three things to a claim: a bootstrap interval over seeds and
examples, a p-value (rank or permutation test) adjusted across the chapter's table with
Holm's method, and a verdict computed by a rule that the chapter prints before its results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from pie_utils.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, VERDICTS
from pie_utils.errors import ParameterError

ALTERNATIVES = ("two-sided", "less", "greater")


# --- uncertainty -------------------------------------------------------------------------------


def bootstrap(
    populations: Sequence[np.ndarray],
    statistic: Callable[..., float],
    n_resamples: int = 1000,
    seed: int = 0,
    resample_examples: bool = True,
) -> np.ndarray:
    """Two-level bootstrap of ``statistic`` over seeds and examples; returns ``[resample]`` float64.

    Each array in ``populations`` has axes ``[seed, example, ...]`` (any trailing axes, e.g.
    ``class``, are kept whole), or is 1-D ``[example]`` with no seed axis. In each resample:

    - the seed axis of EACH array is drawn with replacement independently (populations of
      different seeds, e.g. dense and pruned models, are not paired by seed number);
    - the example axis is drawn with replacement with ONE set of indices shared by all arrays,
      so a comparison of the same examples stays paired;
    - 1-D arrays have only their examples drawn; with ``resample_examples=False`` examples
      keep their order and only seeds are drawn (a 1-D array is then passed unchanged).

    ``statistic(*resampled_arrays)`` is called once per resample and must return a number.
    All arrays must share the number of examples. Draws come from
    ``numpy.random.default_rng(seed)``, so the same call gives the same samples.
    """
    populations = [np.asarray(array) for array in populations]
    if not populations:
        raise ParameterError("populations", "an empty sequence", "one or more arrays")
    for array in populations:
        if array.ndim == 0 or 0 in array.shape[:2]:
            raise ParameterError(
                "populations",
                f"an array of shape {array.shape}",
                "[seed, example, ...] or [example] arrays with at least one seed and example",
            )
    n_examples = {_n_examples(array) for array in populations}
    if len(n_examples) != 1:
        raise ParameterError(
            "populations",
            f"example counts {[_n_examples(a) for a in populations]}",
            "the same number of examples in every array",
        )
    if not callable(statistic):
        raise ParameterError("statistic", statistic, "a callable returning a float")
    _check_positive_int("n_resamples", n_resamples)
    (n_examples,) = n_examples

    rng = np.random.default_rng(seed)
    all_examples = np.arange(n_examples)
    samples = np.empty(n_resamples, dtype=np.float64)
    for r in range(n_resamples):
        examples = rng.integers(0, n_examples, n_examples) if resample_examples else all_examples
        resampled = []
        for array in populations:
            if array.ndim == 1:
                resampled.append(array[examples])
            else:
                seeds = rng.integers(0, array.shape[0], array.shape[0])
                resampled.append(array[np.ix_(seeds, examples)])
        samples[r] = float(statistic(*resampled))
    return samples


def bootstrap_p_value(samples: np.ndarray, null: float = 0.0) -> float:
    """Two-sided bootstrap p-value of ``null``: twice the smaller tail of ``samples[resample]``
    at or beyond ``null``, capped at 1 (NaNs ignored; NaN when no sample is finite)."""
    finite = np.asarray(samples, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return float("nan")
    tail = min(np.mean(finite <= null), np.mean(finite >= null))
    return float(min(1.0, 2.0 * tail))


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval ``(low, high)`` of ``samples[resample]``.

    NaN samples (a statistic undefined in some resamples) are ignored; if every sample is
    NaN the interval is ``(nan, nan)``, which every verdict reads as inconclusive.
    """
    if not 0.0 < level < 1.0:
        raise ParameterError("level", level, "a float in (0, 1)")
    samples = np.asarray(samples, dtype=np.float64).ravel()
    if samples.size == 0:
        raise ParameterError("samples", "an empty array", "one or more bootstrap samples")
    finite = samples[~np.isnan(samples)]
    if finite.size == 0:
        return (math.nan, math.nan)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return (float(low), float(high))


# --- tests -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankTest:
    """A Mann–Whitney U test of ``x`` against ``y`` with its effect size.

    ``u`` is the U statistic of ``x`` (pairs with x > y, ties counting half); ``effect`` is the
    rank-biserial correlation P(X > Y) − P(X < Y) = 2·u/(n_x·n_y) − 1, in [−1, 1], positive
    when ``x`` tends to be larger.
    """

    u: float
    p_value: float
    effect: float
    n_x: int
    n_y: int
    median_x: float
    median_y: float


@dataclass(frozen=True)
class PermutationResult:
    """A permutation test of the difference of means ``mean(x) − mean(y)``."""

    difference: float
    p_value: float


def mann_whitney(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided") -> RankTest:
    """Mann–Whitney U test of 1-D samples ``x[item]`` and ``y[item]`` (NaNs dropped first).

    ``alternative="greater"`` tests whether ``x`` tends to be larger than ``y``. The p-value is
    scipy's (exact for small samples without ties, else the normal approximation).
    """
    _check_alternative(alternative)
    x = _finite_sample("x", x)
    y = _finite_sample("y", y)
    result = stats.mannwhitneyu(x, y, alternative=alternative)
    u = float(result.statistic)
    return RankTest(
        u=u,
        p_value=float(result.pvalue),
        effect=2.0 * u / (x.size * y.size) - 1.0,
        n_x=int(x.size),
        n_y=int(y.size),
        median_x=float(np.median(x)),
        median_y=float(np.median(y)),
    )


def rank_biserial(x: np.ndarray, y: np.ndarray) -> float:
    """The rank-biserial correlation of ``x`` against ``y`` (``mann_whitney(x, y).effect``),
    from mid-ranks alone: 2 · (mean rank of x − mean rank of y) / (n_x + n_y). Cheap enough to
    bootstrap; NaN when either side is empty."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size == 0 or y.size == 0:
        return float("nan")
    ranks = stats.rankdata(np.concatenate([x, y]))
    return float(2.0 * (ranks[: x.size].mean() - ranks[x.size :].mean()) / (x.size + y.size))


def permutation_test(
    x: np.ndarray,
    y: np.ndarray,
    n_resamples: int = 10000,
    seed: int = 0,
    alternative: str = "two-sided",
) -> PermutationResult:
    """Permutation test of ``mean(x) − mean(y)`` for independent 1-D samples (NaNs dropped).

    Items are reassigned between the two groups; when ``n_resamples`` is at least the number
    of distinct reassignments scipy enumerates them all and the p-value is exact.
    """
    _check_alternative(alternative)
    _check_positive_int("n_resamples", n_resamples)
    x = _finite_sample("x", x)
    y = _finite_sample("y", y)
    result = stats.permutation_test(
        (x, y),
        _difference_of_means,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=np.random.default_rng(seed),
    )
    return PermutationResult(difference=float(result.statistic), p_value=float(result.pvalue))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, same shape as ``p_values``.

    With the m non-NaN p-values sorted ascending, the k-th (k = 0 … m−1) is multiplied by
    m − k; a running maximum keeps the order and values are capped at 1. NaN stays NaN and
    does not count toward m.
    """
    p = np.asarray(p_values, dtype=np.float64)
    present = ~np.isnan(p)
    if np.any((p[present] < 0.0) | (p[present] > 1.0)):
        raise ParameterError("p_values", f"values {np.nanmin(p)} … {np.nanmax(p)}", "p-values in [0, 1] or NaN")
    flat = p[present]
    order = np.argsort(flat, kind="stable")
    m = flat.size
    scaled = (m - np.arange(m)) * flat[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted_flat = np.empty(m)
    adjusted_flat[order] = adjusted_sorted
    adjusted = np.full(p.shape, np.nan)
    adjusted[present] = adjusted_flat
    return adjusted


# --- verdicts ----------------------------------------------------------------------------------


def verdict(
    adjusted_p: float,
    interval: tuple[float, float],
    direction: int,
    alpha: float = 0.05,
    negligible: float = 0.0,
) -> str:
    """One of ``VERDICTS`` for an effect with an adjusted p-value and an interval ``(low, high)``.

    The rule (``verdict_rule`` states it in words):

    - "not supported" when the whole interval lies inside [−negligible, +negligible] (a
      negligible effect; this wins even if the effect is significant), or wholly on the side
      of zero opposite to ``direction``;
    - "supported" when ``adjusted_p < alpha`` and the whole interval lies on the claimed side
      of zero (``direction=+1``: low > 0; ``direction=−1``: high < 0);
    - otherwise "inconclusive at this scale" (also for a NaN interval).

    A NaN ``adjusted_p`` can never be supported.
    """
    _check_rule(direction=direction, alpha=alpha, negligible=negligible)
    if not 0.0 <= adjusted_p <= 1.0 and not math.isnan(adjusted_p):
        raise ParameterError("adjusted_p", adjusted_p, "a p-value in [0, 1] or NaN")
    low, high = (float(v) for v in interval)
    if low > high:
        raise ParameterError("interval", interval, "(low, high) with low ≤ high")
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    # Signed so that "claimed side" is always positive: claimed_low > 0 means the claim's side.
    claimed_low, claimed_high = (low, high) if direction == 1 else (-high, -low)
    if -negligible <= low and high <= negligible:
        return NOT_SUPPORTED
    if claimed_high < 0.0:
        return NOT_SUPPORTED
    if adjusted_p < alpha and claimed_low > 0.0:
        return SUPPORTED
    return INCONCLUSIVE


def verdict_rule(alpha: float = 0.05, negligible: float = 0.0, what: str = "the effect") -> str:
    """The rule of ``verdict`` in plain English with its numbers, for a chapter to print first."""
    _check_rule(direction=1, alpha=alpha, negligible=negligible)
    if negligible == 0.0:
        band = "or is exactly zero"
    else:
        band = (
            f"or lies inside [−{negligible:g}, +{negligible:g}] (a negligible effect, even when the p-value is small)"
        )
    return (
        f"A claim is supported when its Holm-adjusted p-value is below {alpha:g} and the whole "
        f"interval of {what} lies on the claimed side of zero. "
        f"It is not supported when that interval lies wholly on the opposite side of zero {band}; "
        f"otherwise it is inconclusive at this scale."
    )


def apply_verdicts(
    table: pd.DataFrame,
    p_column: str = "p_value",
    low: str = "low",
    high: str = "high",
    direction: int = +1,
    alpha: float = 0.05,
    negligible: float = 0.0,
) -> pd.DataFrame:
    """A copy of ``table`` (one row per cell of a claim) with ``p_holm`` and ``verdict`` added.

    ``p_holm`` is Holm's adjustment of ``table[p_column]`` across all rows; ``verdict`` applies
    ``verdict`` to ``p_holm`` and the interval ``(table[low], table[high])`` of each row.
    """
    for parameter, column in (("p_column", p_column), ("low", low), ("high", high)):
        if column not in table.columns:
            raise ParameterError(parameter, column, [str(c) for c in table.columns])
    _check_rule(direction=direction, alpha=alpha, negligible=negligible)
    result = table.copy()
    result["p_holm"] = holm(result[p_column].to_numpy(dtype=np.float64))
    result["verdict"] = [
        verdict(p, (lo, hi), direction, alpha=alpha, negligible=negligible)
        for p, lo, hi in zip(result["p_holm"], result[low], result[high])
    ]
    return result


def equivalence_verdict(interval: tuple[float, float], margin: float) -> str:
    """Verdict for a claim of NO large effect ("accuracy is kept", "regardless of frequency").

    Supported when the whole ``interval`` lies inside [−margin, +margin]; not supported when it
    lies wholly outside that band (on either side); otherwise inconclusive at this scale.
    """
    low, high = (float(v) for v in interval)
    if not margin > 0:
        raise ParameterError("margin", margin, "a number > 0")
    if np.isnan(low) or np.isnan(high):
        return INCONCLUSIVE
    if low > high:
        raise ParameterError("interval", interval, "(low, high) with low <= high")
    if -margin <= low and high <= margin:
        return SUPPORTED
    if high < -margin or low > margin:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def equivalence_rule(margin: float, what: str = "the effect") -> str:
    """The rule of ``equivalence_verdict`` as one plain English sentence, numbers filled in."""
    return (
        f"The claim of no large effect is supported when the whole confidence interval of {what} lies "
        f"within ±{margin:g}, not supported when it lies wholly outside that band, and otherwise "
        f"inconclusive at this scale."
    )


def overall_verdict(verdicts: Sequence[str]) -> str:
    """One verdict for a claim from the verdicts of its cells (see ``overall_rule``)."""
    verdicts = list(verdicts)
    if not verdicts:
        raise ParameterError("verdicts", "an empty sequence", "one or more of " + ", ".join(VERDICTS))
    unknown = sorted({v for v in verdicts if v not in VERDICTS}, key=str)
    if unknown:
        raise ParameterError("verdicts", unknown, VERDICTS)
    half = len(verdicts) / 2.0
    if verdicts.count(SUPPORTED) > half:
        return SUPPORTED
    if verdicts.count(NOT_SUPPORTED) > half:
        return NOT_SUPPORTED
    return INCONCLUSIVE


def overall_rule() -> str:
    """The rule of ``overall_verdict`` in one plain English sentence."""
    return (
        "Over all cells of a claim, the claim is supported when more than half of its cells are "
        "supported, not supported when more than half are not supported, "
        "and otherwise inconclusive at this scale."
    )


# --- helpers -----------------------------------------------------------------------------------


def _n_examples(array: np.ndarray) -> int:
    return array.shape[0] if array.ndim == 1 else array.shape[1]


def _difference_of_means(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _finite_sample(parameter: str, values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ParameterError(parameter, f"shape {values.shape}", "a 1-D sample")
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ParameterError(parameter, "no values after dropping NaNs", "one or more non-NaN values")
    return values


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ParameterError("alternative", alternative, ALTERNATIVES)


def _check_positive_int(parameter: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(parameter, value, "an integer ≥ 1")


def _check_rule(direction: int, alpha: float, negligible: float) -> None:
    if direction not in (-1, 1) or isinstance(direction, bool):
        raise ParameterError("direction", direction, (-1, +1))
    if not 0.0 < alpha < 1.0:
        raise ParameterError("alpha", alpha, "a float in (0, 1)")
    if not (negligible >= 0.0 and math.isfinite(negligible)):
        raise ParameterError("negligible", negligible, "a finite float ≥ 0")
