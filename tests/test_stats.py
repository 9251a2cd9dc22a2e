"""Unit tests of pie_utils.stats on small synthetic samples whose answers can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pie_utils.errors import ParameterError
from pie_utils.stats import (
    VERDICTS,
    PermutationResult,
    RankTest,
    apply_verdicts,
    bootstrap,
    bootstrap_p_value,
    equivalence_rule,
    equivalence_verdict,
    holm,
    mann_whitney,
    overall_rule,
    overall_verdict,
    percentile_interval,
    permutation_test,
    rank_biserial,
    verdict,
    verdict_rule,
)

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = VERDICTS[:3]


# --- holm --------------------------------------------------------------------------------------


def test_holm_by_hand():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → running max 0.06
    assert np.allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])


def test_holm_nan_does_not_count_and_caps_at_one():
    # m = 2 (the NaN is left out): 0.01·2 = 0.02, 0.04·1 = 0.04
    adjusted = holm([0.01, np.nan, 0.04])
    assert np.allclose(adjusted[[0, 2]], [0.02, 0.04])
    assert np.isnan(adjusted[1])
    # 0.5·2 = 1.0, 0.6·1 = 0.6 → running max 1.0 for both; 0.7·2 = 1.4 → capped at 1
    assert np.allclose(holm([0.6, 0.5]), [1.0, 1.0])
    assert np.allclose(holm([0.7, 0.9]), [1.0, 1.0])


def test_holm_keeps_shape_and_order():
    p = np.array([[0.001, 0.2], [0.02, 0.03]])
    adjusted = holm(p)
    assert adjusted.shape == (2, 2)
    # 0.001·4 = 0.004, 0.02·3 = 0.06, 0.03·2 = 0.06, 0.2·1 = 0.2
    assert np.allclose(adjusted, [[0.004, 0.2], [0.06, 0.06]])
    order = np.argsort(p, axis=None)
    assert np.all(np.diff(adjusted.ravel()[order]) >= 0)
    assert np.all(adjusted >= p)


def test_holm_refuses_values_outside_unit_interval():
    with pytest.raises(ParameterError, match="p_values"):
        holm([0.1, 1.2])


# --- rank test ---------------------------------------------------------------------------------


def test_rank_biserial_extremes():
    separated = mann_whitney([1, 2, 3], [4, 5, 6])
    assert separated.u == 0.0
    assert separated.effect == -1.0
    assert mann_whitney([4, 5, 6], [1, 2, 3]).effect == 1.0
    identical = mann_whitney([1, 2, 3], [1, 2, 3])
    assert identical.effect == 0.0
    assert identical.u == 4.5  # 3 ties count 1.5, and 3 pairs x > y


def test_rank_biserial_by_hand():
    # x = [1, 4, 6], y = [2, 4]; pairs (x, y):
    #   1: below 2 and 4                      → 0
    #   4: above 2, tie with 4                 → 1 + 0.5
    #   6: above both                          → 2
    # U = 3.5 of 6 pairs; P(X>Y) = 3/6, P(X<Y) = 2/6 → effect = 1/6 = 2·3.5/6 − 1
    result = mann_whitney([1, 4, 6], [2, 4])
    assert result.u == 3.5
    assert result.effect == pytest.approx(1 / 6)
    assert result.effect == pytest.approx(2 * result.u / (result.n_x * result.n_y) - 1)
    assert (result.n_x, result.n_y, result.median_x, result.median_y) == (3, 2, 4.0, 3.0)
    assert isinstance(result, RankTest)


def test_mann_whitney_alternatives_and_nan():
    x, y = [5.0, 6.0, 7.0, 8.0, np.nan], [1.0, 2.0, 3.0, 4.0]
    greater = mann_whitney(x, y, alternative="greater")
    less = mann_whitney(x, y, alternative="less")
    assert greater.n_x == 4
    # exact test, no ties: the observed split is the single most extreme of C(8, 4) = 70
    assert greater.p_value == pytest.approx(1 / 70)
    assert less.p_value == pytest.approx(1.0)
    assert mann_whitney(x, y).p_value == pytest.approx(2 / 70)


def test_mann_whitney_refuses_bad_input():
    with pytest.raises(ParameterError, match="y"):
        mann_whitney([1.0, 2.0], [np.nan, np.nan])
    with pytest.raises(ParameterError, match="alternative"):
        mann_whitney([1.0], [2.0], alternative="bigger")
    with pytest.raises(ParameterError, match="x"):
        mann_whitney(np.ones((2, 2)), [2.0])


# --- permutation test --------------------------------------------------------------------------


def test_permutation_test_exact_by_hand():
    # C(6, 3) = 20 ways to split {1..6} into two groups of 3; only {1,2,3} | {4,5,6} gives
    # a difference ≤ −3, and only its mirror gives ≥ +3 → one-sided p = 1/20, two-sided 2/20.
    result = permutation_test([1, 2, 3], [4, 5, 6])
    assert isinstance(result, PermutationResult)
    assert result.difference == -3.0
    assert result.p_value == pytest.approx(0.1)
    assert permutation_test([1, 2, 3], [4, 5, 6], alternative="less").p_value == pytest.approx(0.05)
    assert permutation_test([1, 2, 3], [4, 5, 6], alternative="greater").p_value == pytest.approx(1.0)


def test_permutation_test_refuses_bad_input():
    with pytest.raises(ParameterError, match="n_resamples"):
        permutation_test([1.0], [2.0], n_resamples=0)
    with pytest.raises(ParameterError, match="x"):
        permutation_test([np.nan], [2.0])


# --- bootstrap ---------------------------------------------------------------------------------


def test_bootstrap_of_a_constant_matrix_has_zero_width():
    constant = np.full((5, 20), 0.7)  # [seed, example]
    samples = bootstrap([constant], np.mean, n_resamples=200)
    assert samples.shape == (200,)
    assert samples.dtype == np.float64
    low, high = percentile_interval(samples)
    assert low == pytest.approx(0.7) and high == pytest.approx(0.7)


def test_bootstrap_mean_interval_covers_and_shrinks():
    rng = np.random.default_rng(1)
    widths = []
    for n in (100, 1600):
        sample = rng.normal(2.0, 1.0, n)  # 1-D [example]: only examples are resampled
        low, high = percentile_interval(bootstrap([sample], np.mean, n_resamples=1000, seed=3))
        assert low < 2.0 < high
        # normal theory: a 95 % interval of the mean is about 2·1.96/√n wide
        assert high - low == pytest.approx(2 * 1.96 / math.sqrt(n), rel=0.25)
        widths.append(high - low)
    assert widths[1] < widths[0] / 2  # 16× the examples → about a quarter of the width


def test_bootstrap_keeps_examples_paired():
    # Every seed row holds the same example values, so only example indices matter here.
    values = np.random.default_rng(0).normal(size=30)
    a = np.tile(values, (4, 1))  # [seed=4, example=30]
    b = a + 1.0
    samples = bootstrap([a, b], lambda a, b: np.mean(a - b), n_resamples=300)
    assert np.all(samples == -1.0)
    # the examples really are redrawn: the mean of a alone varies between resamples
    assert np.std(bootstrap([a, b], lambda a, b: np.mean(a), n_resamples=300)) > 0.05
    # an unpaired draw (independent example indices for b) would not give −1
    rng = np.random.default_rng(0)
    unpaired = [np.mean(a[:, rng.integers(0, 30, 30)] - b[:, rng.integers(0, 30, 30)]) for _ in range(50)]
    assert not np.allclose(unpaired, -1.0)


def test_bootstrap_draws_seeds_independently_per_array():
    seed_identity = np.repeat(np.arange(6.0)[:, None], 10, axis=1)  # value = seed number
    samples = bootstrap(
        [seed_identity, seed_identity.copy()],
        lambda a, b: np.mean(a) - np.mean(b),
        n_resamples=300,
        resample_examples=False,
    )
    # a shared seed draw would give exactly 0 every time
    assert np.std(samples) > 0.3
    # the example axis is untouched when resample_examples=False
    row = np.tile(np.arange(10.0), (3, 1))
    fixed = bootstrap([row], lambda a: a[0, 0] + a[0, -1], n_resamples=50, resample_examples=False)
    assert np.all(fixed == 9.0)


def test_bootstrap_mixes_1d_and_trailing_axes_and_is_reproducible():
    logits = np.zeros((3, 8, 2))  # [seed, example, class]
    labels = np.arange(8)  # [example]
    seen = []

    def statistic(logits, labels):
        seen.append((logits.shape, labels.shape))
        return float(labels.sum())

    first = bootstrap([logits, labels], statistic, n_resamples=20, seed=5)
    assert seen[0] == ((3, 8, 2), (8,))
    assert np.array_equal(first, bootstrap([logits, labels], statistic, n_resamples=20, seed=5))
    assert not np.array_equal(first, bootstrap([logits, labels], statistic, n_resamples=20, seed=6))


def test_bootstrap_refuses_bad_input():
    with pytest.raises(ParameterError, match="populations"):
        bootstrap([np.zeros((2, 5)), np.zeros((2, 6))], np.mean)
    with pytest.raises(ParameterError, match="populations"):
        bootstrap([np.zeros(5), np.zeros((3, 4))], np.mean)
    with pytest.raises(ParameterError, match="populations"):
        bootstrap([], np.mean)
    with pytest.raises(ParameterError, match="n_resamples"):
        bootstrap([np.zeros(5)], np.mean, n_resamples=0)


def test_percentile_interval_ignores_nan():
    samples = np.append(np.arange(101.0), [np.nan, np.nan])
    assert percentile_interval(samples, level=0.9) == pytest.approx((5.0, 95.0))
    low, high = percentile_interval(np.full(4, np.nan))
    assert math.isnan(low) and math.isnan(high)
    for level in (0.0, 1.0, 1.5):
        with pytest.raises(ParameterError, match="level"):
            percentile_interval(samples, level=level)


# --- verdicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "interval", "direction", "negligible", "expected"),
    [
        (0.01, (0.1, 0.3), +1, 0.0, SUPPORTED),
        (0.01, (-0.3, -0.1), -1, 0.0, SUPPORTED),
        (0.20, (0.1, 0.3), +1, 0.0, INCONCLUSIVE),  # right side, p not small enough
        (0.05, (0.1, 0.3), +1, 0.0, INCONCLUSIVE),  # p must be strictly below alpha
        (0.01, (0.0, 0.3), +1, 0.0, INCONCLUSIVE),  # low touches zero
        (0.01, (-0.1, 0.3), +1, 0.0, INCONCLUSIVE),  # straddles zero
        (0.01, (-0.3, -0.1), +1, 0.0, NOT_SUPPORTED),  # wholly on the opposite side
        (0.90, (0.1, 0.3), -1, 0.0, NOT_SUPPORTED),
        (0.40, (-0.01, 0.02), +1, 0.05, NOT_SUPPORTED),  # negligible
        (0.001, (0.01, 0.02), +1, 0.05, NOT_SUPPORTED),  # negligible even though significant
        (0.001, (0.01, 0.06), +1, 0.05, SUPPORTED),  # reaches past the band
        (0.40, (0.0, 0.0), +1, 0.0, NOT_SUPPORTED),  # exactly zero
        (0.01, (math.nan, math.nan), +1, 0.0, INCONCLUSIVE),
        (math.nan, (0.1, 0.3), +1, 0.0, INCONCLUSIVE),
    ],
)
def test_verdict_branches(p, interval, direction, negligible, expected):
    assert verdict(p, interval, direction, alpha=0.05, negligible=negligible) == expected


def test_verdict_refuses_bad_input():
    with pytest.raises(ParameterError, match="direction"):
        verdict(0.01, (0.1, 0.2), 0)
    with pytest.raises(ParameterError, match="alpha"):
        verdict(0.01, (0.1, 0.2), 1, alpha=1.0)
    with pytest.raises(ParameterError, match="negligible"):
        verdict(0.01, (0.1, 0.2), 1, negligible=-0.1)
    with pytest.raises(ParameterError, match="interval"):
        verdict(0.01, (0.3, 0.2), 1)
    with pytest.raises(ParameterError, match="adjusted_p"):
        verdict(1.5, (0.1, 0.2), 1)
    with pytest.raises(ParameterError, match="alpha"):
        verdict_rule(alpha=0.0)


def test_verdict_rule_states_the_numbers():
    rule = verdict_rule(alpha=0.01, negligible=0.02, what="the accuracy drop")
    assert "below 0.01" in rule
    assert "[−0.02, +0.02]" in rule
    assert "the accuracy drop" in rule
    assert "inconclusive at this scale" in rule
    assert "exactly zero" in verdict_rule()
    assert "below 0.05" in verdict_rule()


def test_apply_verdicts_adjusts_across_rows():
    table = pd.DataFrame(
        {
            "cell": ["a", "b", "c"],
            "p_value": [0.01, 0.02, 0.5],
            "low": [0.1, 0.05, -0.2],
            "high": [0.3, 0.2, 0.1],
        }
    )
    result = apply_verdicts(table, direction=+1, alpha=0.05)
    # Holm: 0.01·3 = 0.03, 0.02·2 = 0.04, 0.5·1 = 0.5
    assert np.allclose(result["p_holm"], [0.03, 0.04, 0.5])
    assert result["verdict"].tolist() == [SUPPORTED, SUPPORTED, INCONCLUSIVE]
    assert "verdict" not in table.columns  # a copy, the input is untouched
    # with alpha 0.035 the second cell (0.04) is no longer below alpha
    assert apply_verdicts(table, alpha=0.035)["verdict"].tolist() == [SUPPORTED, INCONCLUSIVE, INCONCLUSIVE]
    with pytest.raises(ParameterError, match="p_column"):
        apply_verdicts(table, p_column="p")
    with pytest.raises(ParameterError, match="direction"):
        apply_verdicts(table, direction=2)


def test_overall_verdict():
    assert overall_verdict([SUPPORTED, SUPPORTED, SUPPORTED, NOT_SUPPORTED]) == SUPPORTED  # 3 of 4
    assert overall_verdict([SUPPORTED, SUPPORTED, INCONCLUSIVE, NOT_SUPPORTED]) == INCONCLUSIVE  # 2 of 4: no majority
    assert overall_verdict([NOT_SUPPORTED, NOT_SUPPORTED, SUPPORTED]) == NOT_SUPPORTED  # 2 of 3
    assert overall_verdict([SUPPORTED, NOT_SUPPORTED]) == INCONCLUSIVE  # an even split decides nothing
    assert "more than half" in overall_rule()
    with pytest.raises(ParameterError, match="verdicts"):
        overall_verdict([SUPPORTED, "maybe"])
    with pytest.raises(ParameterError, match="verdicts"):
        overall_verdict([])


@pytest.mark.parametrize(
    "interval, expected",
    [
        ((-0.01, 0.015), SUPPORTED),  # wholly inside ±0.02
        ((0.03, 0.05), NOT_SUPPORTED),  # wholly above the band
        ((-0.09, -0.021), NOT_SUPPORTED),  # wholly below the band
        ((0.01, 0.04), INCONCLUSIVE),  # straddles the band's edge
        ((float("nan"), 0.0), INCONCLUSIVE),
    ],
)
def test_equivalence_verdict(interval, expected):
    assert equivalence_verdict(interval, margin=0.02) == expected


def test_equivalence_verdict_refuses_a_bad_margin():
    with pytest.raises(ParameterError, match="margin"):
        equivalence_verdict((0.0, 0.1), margin=0)
    assert "±0.02" in equivalence_rule(0.02)


def test_bootstrap_p_value_is_twice_the_smaller_tail():
    samples = np.array([-1.0, 0.5, 1.0, 2.0, 3.0])  # 1 of 5 at or below 0
    assert bootstrap_p_value(samples) == pytest.approx(0.4)
    assert bootstrap_p_value(np.array([1.0, 2.0, np.nan])) == 0.0
    assert bootstrap_p_value(np.array([-1.0, 1.0])) == 1.0
    assert np.isnan(bootstrap_p_value(np.array([np.nan])))


def test_rank_biserial_from_ranks_equals_the_mann_whitney_effect():
    x, y = np.array([1.0, 3.0, 3.0, 7.0]), np.array([2.0, 3.0, 5.0])
    # pairs x>y: 1>·: 0; 3>2: 1 (+ 3=3 half); 3>2: 1 (+ half); 7>2,3,5: 3 → U = 6; effect = 2·6/12 − 1 = 0
    assert rank_biserial(x, y) == pytest.approx(0.0)
    assert rank_biserial(x, y) == pytest.approx(mann_whitney(x, y).effect)
    assert rank_biserial([4.0, 5.0], [1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert np.isnan(rank_biserial([], [1.0]))
