"""Resampling and multiplicity: a two-level bootstrap over seeds and examples, its percentile
interval, and Holm's adjustment.

Verdicts are not made here: ``pie_utils.claims`` states each claim's rule, ``pie_utils.paired``
draws paired inference over whole seeds and decides, and ``pie_utils.effects`` builds the tables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from pie_utils.errors import ParameterError

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


# --- helpers -----------------------------------------------------------------------------------


def _n_examples(array: np.ndarray) -> int:
    return array.shape[0] if array.ndim == 1 else array.shape[1]


def _check_positive_int(parameter: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(parameter, value, "an integer ≥ 1")
