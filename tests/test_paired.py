"""Paired seed inference: small cases worked by hand, and simulations of its calibration,
coverage and power (500 data sets each, seeded)."""

import dataclasses

import numpy as np
import pytest
from scipy import stats

from pie_utils.claims import Claim, claim
from pie_utils.errors import ParameterError
from pie_utils.paired import (
    PairedResult,
    a_a_p_values,
    decide,
    decide_against_controls,
    design_power,
    leave_one_out_disagreement,
    paired_contrasts,
    paired_inference,
    prospective_power,
    seeds_for_claim,
    seeds_for_power,
    sign_flip_p_value,
    smallest_p_value,
    tied_points,
)

SIMULATIONS = 500
NULL_99 = stats.binom.interval(0.99, SIMULATIONS, 0.05)  # (13, 38): rejections of a calibrated test


def test_leave_one_out_disagreement_by_hand():
    reference = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 1], [1, 0, 1]])  # 4 seeds, 3 examples
    model = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [1, 0, 1]])
    # without any one seed, the 3 remaining reference rows vote (1, 0, 1) on every example
    # model rows against (1, 0, 1): agree; differ at 0 and 2; differ at 1; agree
    np.testing.assert_allclose(leave_one_out_disagreement(model, reference, 2), [0, 2 / 3, 1 / 3, 0])
    # reference rows against their peers' (1, 0, 1): (0,0,0) differs twice, (1,1,1) once, then none
    np.testing.assert_allclose(leave_one_out_disagreement(reference, reference, 2), [2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(paired_contrasts(model, reference, reference, 2), [-2 / 3, 1 / 3, 1 / 3, 0])
    assert tied_points(reference, 2) == 0  # 3 voters, 2 classes: no ties
    # 3 seeds leave 2 voters: they split on example 1 without seed 0, on examples 0 and 2
    # without seed 1, and on all three without seed 2
    assert tied_points(reference[:3], 2) == 1 + 2 + 3


def test_sign_flip_p_values_by_hand_and_what_a_design_cannot_reach():
    # signs of (1, 2, 3): only all-plus and all-minus reach |mean| >= 2, of 8 patterns
    assert sign_flip_p_value([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    assert sign_flip_p_value([1.0, 2.0, 3.0], "greater") == pytest.approx(1 / 8)
    assert sign_flip_p_value([1.0, 2.0, 3.0], "less") == pytest.approx(1.0)
    # 5 seed pairs cannot reach p < 0.05 two-sided (2/32 = 0.0625); 6 can
    assert smallest_p_value(5) == pytest.approx(0.0625) and not paired_inference(np.ones(5)).can_reach(0.05)
    assert paired_inference(np.arange(1.0, 7.0)).can_reach(0.05)


def test_the_interval_is_students_t_on_the_mean():
    contrasts = np.array([0.01, 0.03, 0.02, 0.04])
    result = paired_inference(contrasts)
    half = stats.t.ppf(0.975, 3) * contrasts.std(ddof=1) / 2
    assert (result.estimate, result.low, result.high) == pytest.approx((0.025, 0.025 - half, 0.025 + half))


def test_under_the_null_the_tests_reject_at_their_nominal_rate():
    """Contrasts symmetric about zero (10 seeds): the t interval excludes zero within the
    binomial 99 % interval of 5 % of 500 data sets; the exact sign-flip test (discrete, so
    conservative) rejects no more often than that interval's top."""
    rng = np.random.default_rng(1)
    data = rng.standard_t(df=5, size=(SIMULATIONS, 10))
    results = [paired_inference(row) for row in data]
    t_rejections = sum(not (r.low <= 0 <= r.high) for r in results)
    flip_rejections = sum(r.p_value <= 0.05 for r in results)
    assert NULL_99[0] <= t_rejections <= NULL_99[1]
    assert flip_rejections <= NULL_99[1]


def test_with_a_planted_effect_the_interval_covers_it_at_its_nominal_rate():
    rng = np.random.default_rng(2)
    data = 0.3 + rng.normal(0, 1, size=(SIMULATIONS, 12))
    covered = sum(r.low <= 0.3 <= r.high for r in map(paired_inference, data))
    low, high = stats.binom.interval(0.99, SIMULATIONS, 0.95)
    assert low <= covered <= high


def test_the_power_function_predicts_the_simulated_rejection_rate():
    """At the seeds the power function asks for, a one-sided test at 5 % rejects as often as it
    predicted, within 3 Monte-Carlo standard errors."""
    delta, sd = 0.03, 0.05
    seeds = seeds_for_power(delta, sd)
    predicted = prospective_power(delta, sd, seeds)
    assert predicted >= 0.8 > prospective_power(delta, sd, seeds - 1)
    rng = np.random.default_rng(3)
    data = delta + rng.normal(0, sd, size=(SIMULATIONS, seeds))
    rejected = np.mean([paired_inference(row, level=0.90).low > 0 for row in data])  # one-sided 5 %
    assert abs(rejected - predicted) <= 3 * np.sqrt(predicted * (1 - predicted) / SIMULATIONS)


def test_power_is_zero_where_the_exact_test_cannot_reach_alpha():
    assert prospective_power(1.0, 0.1, 4, alternative="greater") == 0.0  # 1/16 > 0.05
    assert prospective_power(1.0, 0.1, 5, alternative="greater") > 0.99  # 1/32 <= 0.05


def _claim(kind: str, sign: int = 1, reference: float = 0.0, controls=()) -> Claim:
    return dataclasses.replace(
        claim("pie_excess"), kind=kind, sign=sign, delta=0.01, reference=reference, controls=controls
    )


def _result(low: float, high: float, p_value: float = 0.01) -> PairedResult:
    return PairedResult(
        estimate=(low + high) / 2, low=low, high=high, p_value=p_value, seeds=10, smallest_p=0.002, level=0.95
    )


@pytest.mark.parametrize(
    "kind, low, high, p_value, power, verdict",
    [
        ("superiority", 0.02, 0.05, 0.01, 0.9, "supported"),
        ("superiority", 0.02, 0.05, 0.08, 0.9, "inconclusive at this scale"),  # the exact test disagrees
        ("superiority", -0.05, -0.02, 0.01, 0.9, "not supported"),
        ("superiority", -0.005, 0.008, 0.5, 0.9, "not supported"),  # wholly inside +-0.01: negligible
        ("superiority", 0.002, 0.008, 0.01, 0.9, "not supported"),  # above zero, but negligible
        ("superiority", -0.01, 0.05, 0.5, 0.9, "inconclusive at this scale"),
        ("superiority", -0.01, 0.05, 0.5, 0.5, "underpowered at this scale"),
        ("non-inferiority", -0.008, 0.02, 0.5, 0.9, "supported"),  # no loss beyond 0.01
        ("non-inferiority", -0.03, -0.015, 0.01, 0.9, "not supported"),  # a loss beyond 0.01
        ("non-inferiority", -0.03, 0.0, 0.5, 0.5, "underpowered at this scale"),
        ("equivalence", -0.008, 0.009, 0.5, 0.9, "supported"),
        ("equivalence", 0.015, 0.04, 0.01, 0.9, "not supported"),
        ("equivalence", -0.04, -0.015, 0.01, 0.9, "not supported"),
        ("equivalence", -0.005, 0.03, 0.5, 0.9, "inconclusive at this scale"),
    ],
)
def test_verdicts_follow_the_claims_rule(kind, low, high, p_value, power, verdict):
    assert decide(_result(low, high, p_value), _claim(kind), power) == verdict
    mirrored = _result(-high, -low, p_value)  # the same evidence for a claim of the other sign
    assert decide(mirrored, _claim(kind, sign=-1), power) == verdict
    shifted = _result(0.3 + low, 0.3 + high, p_value)  # against a reference value, e.g. rho = 0.3
    assert decide(shifted, _claim(kind, reference=0.3), power) == verdict


def test_a_design_whose_exact_test_cannot_reach_alpha_decides_nothing():
    for low, high in ((0.02, 0.05), (-0.05, -0.02), (-0.001, 0.001)):
        few = PairedResult((low + high) / 2, low, high, p_value=0.0625, seeds=5, smallest_p=0.0625, level=0.95)
        assert decide(few, _claim("superiority"), power=0.99) == "underpowered at this scale"
        assert decide(few, _claim("equivalence"), power=0.99) == "underpowered at this scale"


def test_a_pruning_effect_must_exceed_every_control():
    controls = ("seed_noise", "extra_training")
    effect = _claim("superiority", controls=controls)
    strong, weak, negligible = _result(0.02, 0.05), _result(-0.01, 0.05, 0.5), _result(0.001, 0.005)
    powers = {"seed_noise": 0.9, "extra_training": 0.9}
    assert decide_against_controls({"seed_noise": strong, "extra_training": strong}, effect, powers) == "supported"
    assert (
        decide_against_controls({"seed_noise": strong, "extra_training": weak}, effect, powers)
        == "inconclusive at this scale"
    )
    weak_power = {"seed_noise": 0.9, "extra_training": 0.4}
    assert (
        decide_against_controls({"seed_noise": strong, "extra_training": weak}, effect, weak_power)
        == "underpowered at this scale"
    )
    assert (
        decide_against_controls({"seed_noise": weak, "extra_training": negligible}, effect, powers) == "not supported"
    )
    with pytest.raises(ParameterError, match="results"):
        decide_against_controls({"seed_noise": strong}, effect, powers)


def test_design_power_by_kind_matches_the_t_approximation():
    sd, seeds = 0.02, 12
    shift = 0.01 * np.sqrt(seeds) / sd
    superiority = design_power(_claim("superiority"), sd, seeds)
    critical = stats.t.ppf(0.975, seeds - 1)
    assert superiority == pytest.approx(
        stats.nct.sf(critical, seeds - 1, shift) + stats.nct.cdf(-critical, seeds - 1, shift)
    )
    non_inferiority = design_power(_claim("non-inferiority"), sd, seeds)
    assert non_inferiority == pytest.approx(stats.nct.sf(critical, seeds - 1, shift))
    assert design_power(_claim("equivalence"), sd, seeds) == pytest.approx(max(0.0, 2 * non_inferiority - 1))
    assert design_power(_claim("superiority"), sd, 5) == 0.0  # 5 sign flips cannot reach 0.05 two-sided
    needed = seeds_for_claim(_claim("superiority"), sd)
    assert design_power(_claim("superiority"), sd, needed) >= 0.8 > design_power(_claim("superiority"), sd, needed - 1)


def test_bad_input_is_refused_naming_the_parameter():
    with pytest.raises(ParameterError, match="contrasts"):
        paired_inference([0.1])
    with pytest.raises(ParameterError, match="alternative"):
        sign_flip_p_value([1.0, 2.0], "bigger")
    with pytest.raises(ParameterError, match="model"):
        leave_one_out_disagreement(np.zeros((2, 5)), np.zeros((2, 5)), 2)


def test_power_far_in_the_tail_is_one_not_nan():
    # shift 0.02 * sqrt(10) / 0.0066 = 9.6: scipy's noncentral t returns NaN there
    assert prospective_power(0.02, 0.0066, 10, alternative="two-sided") == pytest.approx(1.0)
    assert prospective_power(0.02, 0.0066, 10, alternative="greater") == pytest.approx(1.0)


def test_the_a_a_check_rejects_a_planted_difference_and_never_two_copies_of_one_population():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, 400)
    first = np.where(rng.random((12, 400)) < 0.1, 1 - truth, truth)  # 10 % of points flipped per seed
    worse = np.where(rng.random((12, 400)) < 0.3, 1 - truth, truth)  # 30 %: far from every first model
    assert (a_a_p_values(first, first.copy(), 2, seeds_per_draw=8, draws=20) == 1.0).all()
    assert (a_a_p_values(first, worse, 2, seeds_per_draw=8, draws=20) <= 2 / 2**8).all()  # the smallest p at 8
    with pytest.raises(ParameterError, match="seeds_per_draw"):
        a_a_p_values(first, worse, 2, seeds_per_draw=13, draws=1)
