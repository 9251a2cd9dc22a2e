"""Unit tests of pie_utils.stats (bootstrap, percentile interval, Holm) on small synthetic samples
whose answers can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pie_utils.errors import ParameterError
from pie_utils.stats import bootstrap, holm, percentile_interval

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


# --- permutation test --------------------------------------------------------------------------


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
