"""How stable a PIE set is under the choice of seeds: Jaccard similarity of PIE sets from disjoint
populations, the Jaccard that chance alone gives, and a saturating fit of Jaccard against
population size.

A population of k seeds is a set of positions on the seed axis of the ``[seed, example]``
prediction arrays of ``pie_utils.studies.TrainedStudy``; dense seed s and pruned seed s stay
paired (the same position indexes both). PIEs follow ``pie_utils.pies.find_pies``, ties
included (the lowest class index wins a tied vote).

Shapes: membership masks of index sets are bool ``[..., example]``; seed subsets are int
``[draw, k]``; bootstrap weights are ``[resample, example]`` example multiplicities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from pie_utils.errors import ParameterError
from pie_utils.pies import find_pies, modal_labels


def jaccard(first: np.ndarray, second: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray | float:
    """Jaccard similarity |A ∩ B| / |A ∪ B| of index sets given as membership masks.

    ``first``, ``second``: bool ``[..., example]`` of one shape (e.g. ``[draw, example]``).
    ``weights``: None, or ``[resample, example]`` non-negative multiplicities of the examples
    (a bootstrap of examples): each example then counts as often as it was drawn.
    Returns ``[...]`` without weights (a float for 1-D masks), ``[resample, ...]`` with them.
    NaN where the union is empty (two empty sets: similarity undefined).
    """
    first, second = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
    if first.shape != second.shape or first.ndim == 0:
        raise ParameterError("second", f"shape {second.shape}", f"a mask of the shape of first, {first.shape}")
    if weights is None:
        intersection, union = (first & second).sum(axis=-1), (first | second).sum(axis=-1)
    else:
        weights = np.asarray(weights, dtype=float)
        if weights.ndim != 2 or weights.shape[1] != first.shape[-1] or (weights < 0).any():
            raise ParameterError(
                "weights", f"shape {weights.shape}", f"non-negative [resample, example] with {first.shape[-1]} examples"
            )
        intersection = np.tensordot(weights, (first & second).astype(float), axes=([1], [-1]))
        union = np.tensordot(weights, (first | second).astype(float), axes=([1], [-1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        result = np.where(union > 0, intersection / np.where(union > 0, union, 1), np.nan)
    return float(result) if result.ndim == 0 else result


def chance_jaccard(size_first: int, size_second: int, n_items: int) -> float:
    """Expected Jaccard of two independent, uniformly random subsets of ``range(n_items)`` with
    ``size_first`` and ``size_second`` members: the overlap is hypergeometric, so the exact mean
    is Σₓ P(overlap = x) · x / (a + b − x). NaN when both sizes are 0.
    """
    for name, size in (("size_first", size_first), ("size_second", size_second)):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 0 <= size <= n_items:
            raise ParameterError(name, size, f"an integer in 0 … n_items = {n_items}")
    if size_first == size_second == 0:
        return math.nan
    overlaps = np.arange(max(0, size_first + size_second - n_items), min(size_first, size_second) + 1)
    probabilities = stats.hypergeom.pmf(overlaps, n_items, size_first, size_second)
    return float(np.sum(probabilities * overlaps / (size_first + size_second - overlaps)))


def disjoint_subsets(n_seeds: int, k: int, n_draws: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_draws`` random pairs of disjoint k-subsets of ``range(n_seeds)``: ``(first, second)``,
    each int ``[draw, k]`` with sorted rows, ``first[d]`` and ``second[d]`` sharing no seed.

    Each draw is the first 2k entries of a permutation from ``numpy.random.default_rng(seed)``,
    so pairs are uniform over ordered disjoint pairs and may repeat when few exist.
    """
    for name, value, minimum in (("n_draws", n_draws, 1), ("k", k, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ParameterError(name, value, f"an integer >= {minimum}")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, (int, np.integer)) or 2 * k > n_seeds:
        raise ParameterError("k", k, f"1 … n_seeds // 2 = {n_seeds // 2} (two disjoint populations of k seeds)")
    rng = np.random.default_rng(seed)
    chosen = np.stack([rng.permutation(n_seeds)[: 2 * k] for _ in range(n_draws)])
    return np.sort(chosen[:, :k], axis=1), np.sort(chosen[:, k:], axis=1)


def distinct_pairs(n_seeds: int, k: int) -> int:
    """How many unordered pairs of disjoint k-subsets ``range(n_seeds)`` has: C(n, k)·C(n − k, k)/2."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= 2 * k <= n_seeds:
        raise ParameterError("k", k, f"1 … n_seeds // 2 = {n_seeds // 2}")
    return math.comb(n_seeds, k) * math.comb(n_seeds - k, k) // 2


def modal_disagreements(
    first: np.ndarray, second: np.ndarray, first_subsets: np.ndarray, second_subsets: np.ndarray, num_classes: int
) -> np.ndarray:
    """``[draw, example]`` bool: where the modal label of ``first[first_subsets[d]]`` differs from
    that of ``second[second_subsets[d]]`` (``find_pies`` per draw).

    ``first``, ``second``: predictions ``[seed, example]`` (or ``[seed, example, class]`` bool).
    PIEs of a population: (dense, pruned, S, S); a dense-vs-dense null: (dense, dense, S, T).
    """
    first_subsets, second_subsets = np.asarray(first_subsets), np.asarray(second_subsets)
    if first_subsets.ndim != 2 or first_subsets.shape[0] != second_subsets.shape[0]:
        raise ParameterError(
            "second_subsets",
            f"shape {second_subsets.shape}",
            f"[draw, k] with the {first_subsets.shape[0]} draws of first_subsets [draw, k]",
        )
    return np.stack([find_pies(first[a], second[b], num_classes) for a, b in zip(first_subsets, second_subsets)])


def modal_ties(predictions: np.ndarray, subsets: np.ndarray, num_classes: int) -> np.ndarray:
    """``[draw, example]`` bool: where the vote of ``predictions[subsets[d]]`` ties (``modal_labels``)."""
    return np.stack([modal_labels(predictions[s], num_classes).ties for s in np.asarray(subsets)])


def example_weights(n_examples: int, n_resamples: int, seed: int = 0) -> np.ndarray:
    """Bootstrap multiplicities ``[resample, example]`` int: ``n_examples`` draws with replacement
    per resample, counted (each row sums to ``n_examples``)."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ParameterError("n_resamples", n_resamples, "an integer >= 1")
    if isinstance(n_examples, bool) or not isinstance(n_examples, (int, np.integer)) or n_examples < 1:
        raise ParameterError("n_examples", n_examples, "an integer >= 1")
    return np.random.default_rng(seed).multinomial(n_examples, np.full(n_examples, 1.0 / n_examples), size=n_resamples)


def resampled_draw_means(per_draw: np.ndarray, seed: int = 0) -> np.ndarray:
    """``[resample]``: row r of ``per_draw[resample, draw]`` averaged over its own sample of draws
    taken with replacement (NaNs skipped; NaN when a row's sample is all NaN)."""
    per_draw = np.asarray(per_draw, dtype=float)
    if per_draw.ndim != 2 or 0 in per_draw.shape:
        raise ParameterError("per_draw", f"shape {per_draw.shape}", "a non-empty [resample, draw] array")
    n_resamples, n_draws = per_draw.shape
    chosen = np.random.default_rng(seed).integers(0, n_draws, (n_resamples, n_draws))
    sampled = np.take_along_axis(per_draw, chosen, axis=1)
    counted = (~np.isnan(sampled)).sum(axis=1)
    return np.where(counted > 0, np.nansum(sampled, axis=1) / np.maximum(counted, 1), np.nan)


@dataclass(frozen=True)
class SaturationFit:
    """``1 − J(k) = scale · k^(−rate)``: dissimilarity falling as a power of population size k,
    so J rises towards 1 (an infinite population has one modal label per point).

    Attributes: ``scale`` (1 − J at k = 1), ``rate`` (> 0 when J rises with k), ``points``
    (how many (k, J) pairs were fitted; 2 pairs fit exactly, with no check of the form).
    """

    scale: float
    rate: float
    points: int

    def predict(self, k: np.ndarray | float) -> np.ndarray | float:
        """Fitted J at population size(s) ``k``."""
        return 1.0 - self.scale * np.asarray(k, dtype=float) ** -self.rate

    def k_for(self, target: float) -> float:
        """The population size at which the fitted J reaches ``target``; inf when it never does."""
        if not 0.0 < target < 1.0:
            raise ParameterError("target", target, "a Jaccard in (0, 1)")
        if self.scale <= 1.0 - target:
            return 1.0
        if self.rate <= 0:
            return math.inf
        return float((self.scale / (1.0 - target)) ** (1.0 / self.rate))


def fit_saturation(k: np.ndarray, similarity: np.ndarray) -> SaturationFit:
    """Least-squares line through (log k, log(1 − J)) of ``k[point]`` and ``similarity[point]``.

    Needs at least two distinct k with J in [0, 1) (NaNs dropped); otherwise ParameterError.
    """
    k, similarity = np.asarray(k, dtype=float), np.asarray(similarity, dtype=float)
    usable = ~np.isnan(similarity) & (similarity < 1.0) & (k >= 1)
    if k.shape != similarity.shape or np.unique(k[usable]).size < 2:
        raise ParameterError("similarity", similarity, "Jaccard values in [0, 1) at two or more distinct k >= 1")
    line = stats.linregress(np.log(k[usable]), np.log1p(-similarity[usable]))
    return SaturationFit(scale=float(np.exp(line.intercept)), rate=float(-line.slope), points=int(usable.sum()))
