"""Tests of pie_utils.stability on cases small enough to check by hand."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from pie_utils.errors import ParameterError
from pie_utils.stability import (
    chance_jaccard,
    disjoint_subsets,
    distinct_pairs,
    example_weights,
    fit_saturation,
    jaccard,
    modal_disagreements,
    modal_ties,
    resampled_draw_means,
)


def mask(indices, n=6):
    out = np.zeros(n, dtype=bool)
    out[list(indices)] = True
    return out


def test_jaccard_of_index_sets_by_hand():
    assert jaccard(mask({0, 1, 2}), mask({1, 2, 3})) == pytest.approx(2 / 4)
    assert jaccard(mask({0}), mask({0})) == 1.0
    assert jaccard(mask({0}), mask({5})) == 0.0
    assert jaccard(mask(set()), mask({5})) == 0.0
    assert math.isnan(jaccard(mask(set()), mask(set())))


def test_jaccard_per_draw_and_with_example_weights():
    first = np.stack([mask({0, 1, 2}), mask({4})])
    second = np.stack([mask({1, 2, 3}), mask(set())])
    np.testing.assert_allclose(jaccard(first, second), [0.5, 0.0])
    # example 1 drawn three times, example 3 never: {0,1,1,1,2} vs {1,1,1,2} → 4 / 5
    weights = np.array([[1, 3, 1, 0, 1, 0], [1, 1, 1, 1, 1, 1]])
    np.testing.assert_allclose(jaccard(first, second, weights), [[4 / 5, 0.0], [0.5, 0.0]])


def test_jaccard_rejects_mismatched_input():
    with pytest.raises(ParameterError, match="second"):
        jaccard(mask({0}), mask({0}, n=5))
    with pytest.raises(ParameterError, match="weights"):
        jaccard(mask({0}), mask({0}), weights=np.ones((2, 5)))


def test_chance_jaccard_by_hand():
    # one of two items each: same item with probability 1/2 → J = 1, else 0
    assert chance_jaccard(1, 1, 2) == pytest.approx(0.5)
    # {x} vs a pair from three: x in the pair with probability 2/3 → J = 1/2, else 0
    assert chance_jaccard(1, 2, 3) == pytest.approx(1 / 3)
    # a full set contains the other: J = b / n exactly
    assert chance_jaccard(4, 1, 4) == pytest.approx(1 / 4)
    assert chance_jaccard(0, 3, 5) == 0.0
    assert math.isnan(chance_jaccard(0, 0, 5))
    with pytest.raises(ParameterError, match="size_second"):
        chance_jaccard(1, 6, 5)


def test_chance_jaccard_matches_enumeration():
    n, a, b = 5, 2, 3
    values = [
        len(set(x) & set(y)) / len(set(x) | set(y))
        for x in combinations(range(n), a)
        for y in combinations(range(n), b)
    ]
    assert chance_jaccard(a, b, n) == pytest.approx(np.mean(values))


def test_disjoint_subsets_are_disjoint_sorted_and_reproducible():
    first, second = disjoint_subsets(10, 5, 50, seed=3)
    assert first.shape == second.shape == (50, 5)
    for a, b in zip(first, second):
        assert not set(a) & set(b)
        assert list(a) == sorted(a) and list(b) == sorted(b)
    again = disjoint_subsets(10, 5, 50, seed=3)
    np.testing.assert_array_equal(first, again[0])
    assert len({tuple(a) for a in first}) > 1  # the draws differ


def test_disjoint_subsets_cover_every_split_of_four_seeds():
    first, second = disjoint_subsets(4, 2, 200, seed=0)
    splits = {frozenset([tuple(a), tuple(b)]) for a, b in zip(first, second)}
    assert len(splits) == distinct_pairs(4, 2) == 3


@pytest.mark.parametrize("n_seeds, k, n_draws, parameter", [(4, 3, 5, "k"), (4, 0, 5, "k"), (4, 1, 0, "n_draws")])
def test_disjoint_subsets_rejects_bad_sizes(n_seeds, k, n_draws, parameter):
    with pytest.raises(ParameterError, match=parameter):
        disjoint_subsets(n_seeds, k, n_draws)


def test_distinct_pairs_by_hand():
    assert distinct_pairs(2, 1) == 1
    assert distinct_pairs(4, 1) == 6  # C(4, 2) pairs of single seeds
    assert distinct_pairs(10, 5) == 126


def test_modal_disagreements_and_ties_by_hand():
    # 4 seeds × 3 examples, two classes
    dense = np.array([[0, 0, 1], [0, 1, 1], [0, 0, 1], [0, 1, 1]])
    pruned = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 0], [0, 1, 0]])
    subsets = np.array([[0, 1], [2, 3]])
    # seeds {0, 1}: dense modal [0, 0 (tie → lowest), 1], pruned modal [1, 0 (tie), 0 (tie)]
    # seeds {2, 3}: dense modal [0, 0 (tie), 1], pruned modal [0, 0 (tie), 0]
    np.testing.assert_array_equal(
        modal_disagreements(dense, pruned, subsets, subsets, 2), [[True, False, True], [False, False, True]]
    )
    np.testing.assert_array_equal(modal_ties(pruned, subsets, 2), [[False, True, True], [False, True, False]])
    # dense {0, 1} vs dense {2, 3}: identical modal labels
    np.testing.assert_array_equal(modal_disagreements(dense, dense, subsets[:1], subsets[1:], 2), [[False] * 3])


def test_example_weights_count_draws():
    weights = example_weights(7, 5, seed=1)
    assert weights.shape == (5, 7) and (weights.sum(axis=1) == 7).all() and (weights >= 0).all()
    with pytest.raises(ParameterError, match="n_resamples"):
        example_weights(7, 0)


def test_resampled_draw_means():
    per_draw = np.array([[0.2, 0.2, 0.2], [0.0, np.nan, 1.0], [np.nan, np.nan, np.nan]])
    means = resampled_draw_means(per_draw, seed=0)
    assert means[0] == pytest.approx(0.2)  # every sample of a constant row
    assert 0.0 <= means[1] <= 1.0
    assert math.isnan(means[2])


def test_fit_saturation_recovers_a_power_law():
    k = np.array([1, 2, 4, 8])
    fit = fit_saturation(k, 1 - 0.5 / k)  # 1 − J = 0.5 · k^−1
    assert fit.scale == pytest.approx(0.5) and fit.rate == pytest.approx(1.0) and fit.points == 4
    assert fit.k_for(0.9) == pytest.approx(5.0)  # 0.5 / k = 0.1
    assert fit.k_for(0.4) == 1.0  # already reached at k = 1
    assert fit.predict(10) == pytest.approx(0.95)


def test_fit_saturation_never_reaches_a_falling_trend():
    fit = fit_saturation(np.array([1, 2]), np.array([0.4, 0.3]))
    assert fit.rate < 0 and fit.k_for(0.5) == math.inf


def test_fit_saturation_needs_two_sizes():
    with pytest.raises(ParameterError, match="similarity"):
        fit_saturation(np.array([1, 2]), np.array([0.3, np.nan]))
