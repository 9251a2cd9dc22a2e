"""Inference over seeds that keeps the design's pairing: whole seeds, paired contrasts, exact tests.

Seed s of every population of a study shares its initial weights and data order with dense
seed s, so seeds are the unit of replication and a comparison of two populations is paired by
seed. This module turns populations into one number per seed and draws inference from those:

- ``leave_one_out_disagreement(model, reference)``: per seed s, the share of examples where
  model s disagrees with the modal label of the reference population *without seed s*;
- ``paired_contrasts(treated, control, reference)``: per seed s, that disagreement for the
  treated model s minus the control model s, both against the same leave-s-out modal label, so
  both sides of every contrast meet the same S − 1 voters (give an even S: S − 1 odd voters
  cannot tie between two classes; ``tied_points`` counts the ties that remain);
- ``a_a_p_values``: the sign-flip test on random seed subsets of two exchangeable real
  populations, whose share of rejections estimates its type I error on real runs;
- ``paired_inference(contrasts)``: the mean contrast with its Student-t interval and an exact
  sign-flip p-value (every one of the 2^S sign patterns up to ``EXACT_SEEDS``, a seeded Monte
  Carlo beyond), and whether the design can reach the test level at all: with S seeds the
  smallest attainable sign-flip p-value is 2^−S one-sided, 2^(1−S) two-sided;
- ``prospective_power`` and ``seeds_for_power``: the power of that design to detect an effect
  Δ given the seed-to-seed standard deviation of the contrasts (from a pilot), before training;
- ``design_power`` and ``seeds_for_claim``: the same for a claim of the register, whatever its kind;
- ``decide``: the verdict from the interval of the primary estimand, by the claim's rule
  (``pie_utils.claims``), and ``decide_against_controls`` over every control of a pruning effect.

The simulation tests in ``tests/test_paired.py`` check the calibration (rejections under the
null within the binomial 99 % interval), the interval's coverage and the power function.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from pie_utils.claims import INCONCLUSIVE, NOT_SUPPORTED, POWER_GOAL, SUPPORTED, UNDERPOWERED, Claim
from pie_utils.errors import ParameterError
from pie_utils.pies import modal_labels

ALTERNATIVES = ("two-sided", "greater", "less")
EXACT_SEEDS = 16  # up to 2^16 sign patterns enumerated; beyond, Monte Carlo
MONTE_CARLO_PATTERNS = 20_000


def leave_one_out_disagreement(
    model: np.ndarray, reference: np.ndarray, num_classes: int, points: np.ndarray | None = None
) -> np.ndarray:
    """``[seed]``: for each seed s, the share of ``points`` where ``model[s]`` disagrees with the
    modal label of ``reference`` without its seed s.

    ``model`` and ``reference`` are predictions ``[seed, example]`` of two populations trained
    on the same seeds (they may be the same population: then it is a model against its peers).
    ``points``: bool ``[example]`` (the same points for every seed), or ``[seed, example]`` (seed
    s counts on row s, e.g. points chosen without seed s); default every point.
    """
    model, reference = _paired_predictions(model, reference)
    points = np.ones(model.shape[1], bool) if points is None else np.asarray(points, bool)
    rows = np.broadcast_to(points, model.shape) if points.shape == (model.shape[1],) else points
    if rows.shape != model.shape or not rows.any(axis=1).all():
        raise ParameterError(
            "points", f"shape {points.shape}", f"a bool [example] or [seed, example] mask of {model.shape}, none empty"
        )
    rates = []
    for s in range(len(model)):
        consensus = modal_labels(np.delete(reference, s, axis=0), num_classes).labels
        rates.append(float(np.mean(model[s, rows[s]] != consensus[rows[s]])))
    return np.array(rates)


def paired_contrasts(treated: np.ndarray, control: np.ndarray, reference: np.ndarray, num_classes: int) -> np.ndarray:
    """``[seed]`` contrasts: leave-one-out disagreement of ``treated[s]`` minus that of
    ``control[s]``, both against the modal label of ``reference`` without seed s.

    E.g. treated = a pruned population, control = the dense one, reference = the dense one:
    how much more pruned model s departs from its dense peers than dense model s does.
    """
    return leave_one_out_disagreement(treated, reference, num_classes) - leave_one_out_disagreement(
        control, reference, num_classes
    )


def a_a_p_values(
    first: np.ndarray, second: np.ndarray, num_classes: int, seeds_per_draw: int, draws: int, seed: int = 0
) -> np.ndarray:
    """``[draw]`` two-sided sign-flip p-values of an A/A comparison on real runs: paired
    contrasts of ``second`` against ``first`` (predictions ``[seed, example]`` of two populations
    that are exchangeable seed by seed, e.g. dense models and their seed-noise retrains), with
    ``first`` as the reference, on ``draws`` random subsets of ``seeds_per_draw`` seeds.

    Each subset is a complete A/A data set of that many seeds, so the share of p-values at or
    below α estimates the test's type I error; subsets overlap, so the draws are not
    independent tests of it.
    """
    first, second = _paired_predictions(first, second)
    if not 2 <= seeds_per_draw <= len(first):
        raise ParameterError("seeds_per_draw", seeds_per_draw, f"2 … {len(first)} (the populations' seeds)")
    rng = np.random.default_rng(seed)
    p_values = []
    for _ in range(draws):
        chosen = np.sort(rng.choice(len(first), seeds_per_draw, replace=False))
        contrasts = paired_contrasts(second[chosen], first[chosen], first[chosen], num_classes)
        p_values.append(sign_flip_p_value(contrasts))
    return np.array(p_values)


def tied_points(reference: np.ndarray, num_classes: int) -> int:
    """How many (seed, example) leave-one-out modal labels of ``reference[seed, example]`` tie
    (decided by the lowest class index; none for two classes and an even seed count)."""
    reference = np.asarray(reference)
    return int(
        sum(modal_labels(np.delete(reference, s, axis=0), num_classes).ties.sum() for s in range(len(reference)))
    )


@dataclass(frozen=True)
class PairedResult:
    """Inference on the mean of per-seed contrasts.

    Attributes:
        estimate: the mean contrast.
        low, high: its Student-t interval at ``level``.
        p_value: the sign-flip p-value against a mean of zero (exact up to ``EXACT_SEEDS``).
        seeds: the number of contrasts.
        smallest_p: the smallest p-value the sign-flip test can give with this many seeds.
        level: the interval's confidence level.
    """

    estimate: float
    low: float
    high: float
    p_value: float
    seeds: int
    smallest_p: float
    level: float

    def can_reach(self, alpha: float) -> bool:
        """Whether any outcome of this design could give p <= ``alpha``."""
        return self.smallest_p <= alpha


def smallest_p_value(seeds: int, alternative: str = "two-sided") -> float:
    """The smallest sign-flip p-value with ``seeds`` contrasts: every sign agreeing."""
    _check_alternative(alternative)
    return min(1.0, (2.0 if alternative == "two-sided" else 1.0) / 2**seeds)


def sign_flip_p_value(contrasts: np.ndarray, alternative: str = "two-sided", seed: int = 0) -> float:
    """p-value of the mean of ``contrasts[seed]`` under sign flips (symmetric about zero under
    the null): the share of sign patterns whose mean is at least as extreme, the observed one
    included. Exact up to ``EXACT_SEEDS`` contrasts, else ``MONTE_CARLO_PATTERNS`` seeded draws."""
    contrasts = _contrasts(contrasts)
    _check_alternative(alternative)
    n = len(contrasts)
    if n <= EXACT_SEEDS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        rng = np.random.default_rng(seed)
        signs = np.vstack([np.ones(n), rng.choice((1.0, -1.0), size=(MONTE_CARLO_PATTERNS - 1, n))])
    means = signs @ contrasts / n
    observed = contrasts.mean()
    tolerance = 1e-12 * max(1.0, abs(observed))  # sums in another order must still count as equal
    if alternative == "greater":
        extreme = means >= observed - tolerance
    elif alternative == "less":
        extreme = means <= observed + tolerance
    else:
        extreme = np.abs(means) >= abs(observed) - tolerance
    return float(extreme.mean())


def paired_inference(contrasts: np.ndarray, level: float = 0.95, alternative: str = "two-sided") -> PairedResult:
    """Point, interval and p-value of the mean of ``contrasts[seed]`` together.

    The interval is Student's t (two-sided at ``level``); the p-value is the sign-flip test's.
    """
    contrasts = _contrasts(contrasts)
    if not 0 < level < 1:
        raise ParameterError("level", level, "a number in (0, 1)")
    n = len(contrasts)
    mean = float(contrasts.mean())
    half = stats.t.ppf(0.5 + level / 2, n - 1) * contrasts.std(ddof=1) / math.sqrt(n)
    return PairedResult(
        estimate=mean,
        low=mean - half,
        high=mean + half,
        p_value=sign_flip_p_value(contrasts, alternative),
        seeds=n,
        smallest_p=smallest_p_value(n, alternative),
        level=level,
    )


def prospective_power(delta: float, sd: float, seeds: int, alpha: float = 0.05, alternative: str = "greater") -> float:
    """Power of the paired t-test on ``seeds`` contrasts of standard deviation ``sd`` to detect a
    mean of ``delta`` at level ``alpha`` (noncentral t). 0 when the sign-flip test cannot
    reach ``alpha`` with that many seeds. Prospective: ``delta`` is the smallest effect that
    matters, fixed before the runs, never the observed one."""
    _check_alternative(alternative)
    if seeds < 2:
        raise ParameterError("seeds", seeds, "an integer >= 2")
    if not sd > 0:
        raise ParameterError("sd", sd, "a number > 0 (the contrasts' seed-to-seed standard deviation)")
    if smallest_p_value(seeds, alternative) > alpha:
        return 0.0
    df, shift = seeds - 1, abs(delta) * math.sqrt(seeds) / sd
    if alternative == "two-sided":
        critical = stats.t.ppf(1 - alpha / 2, df)
        return _tail(critical, df, shift) + float(np.nan_to_num(stats.nct.cdf(-critical, df, shift)))
    return _tail(stats.t.ppf(1 - alpha, df), df, shift)


def _tail(critical: float, df: int, shift: float) -> float:
    """P(T > critical) for a noncentral t; scipy gives NaN far in the tail (a shift of about 10
    and up), where the answer is 1 to machine precision when the shift lies beyond ``critical``."""
    upper = float(stats.nct.sf(critical, df, shift))
    return upper if np.isfinite(upper) else float(shift > critical)


def seeds_for_power(
    delta: float,
    sd: float,
    alpha: float = 0.05,
    power: float = POWER_GOAL,
    alternative: str = "greater",
    most: int = 1000,
) -> int | None:
    """The fewest seeds whose ``prospective_power`` reaches ``power``; None if more than ``most``."""
    for seeds in range(2, most + 1):
        if prospective_power(delta, sd, seeds, alpha, alternative) >= power:
            return seeds
    return None


def design_power(claim: Claim, sd: float, seeds: int, alpha: float = 0.05) -> float:
    """Prospective power at Δ of ``claim``'s paired design with ``seeds`` contrasts of standard
    deviation ``sd``: the chance that its verdict is "supported" when the true effect is Δ
    (superiority), or 0 (non-inferiority, equivalence), under the t approximation. 0 when the
    exact sign-flip test cannot reach ``alpha`` with that many seeds."""
    if claim.kind == "superiority":
        return prospective_power(claim.delta, sd, seeds, alpha, "two-sided")
    one_sided = prospective_power(claim.delta, sd, seeds, alpha / 2, "greater")
    if claim.kind == "non-inferiority":
        return one_sided
    return max(0.0, 2 * one_sided - 1)  # equivalence: both one-sided tests must reject


def seeds_for_claim(claim: Claim, sd: float, alpha: float = 0.05, most: int = 1000) -> int | None:
    """The fewest seeds whose ``design_power`` for ``claim`` reaches ``POWER_GOAL``; None if
    more than ``most``."""
    for seeds in range(2, most + 1):
        if design_power(claim, sd, seeds, alpha) >= POWER_GOAL:
            return seeds
    return None


def decide(result: PairedResult, claim: Claim, power: float, alpha: float = 0.05) -> str:
    """The verdict on ``claim`` from the interval of its estimand, by ``claim.rule``.

    ``result`` is the estimand's inference (its interval at level 1 − ``alpha``); ``power`` the
    design's prospective power at Δ (``design_power``), which only decides between
    "inconclusive at this scale" and "underpowered at this scale". A design whose exact
    sign-flip test cannot reach ``alpha`` at all (5 seeds or fewer, two-sided) decides nothing
    in either direction: it is underpowered. A superiority claim is supported only when that
    test agrees (p ≤ ``alpha``).
    """
    if not result.can_reach(alpha):
        return UNDERPOWERED
    low, high = sorted((claim.sign * (result.low - claim.reference), claim.sign * (result.high - claim.reference)))
    delta = claim.delta
    if claim.kind == "superiority":
        if high < 0 or (-delta < low and high < delta):
            return NOT_SUPPORTED
        if low > 0 and result.p_value <= alpha:
            return SUPPORTED
    elif claim.kind == "non-inferiority":
        if low > -delta:
            return SUPPORTED
        if high < -delta:
            return NOT_SUPPORTED
    else:
        if -delta < low and high < delta:
            return SUPPORTED
        if low > delta or high < -delta:
            return NOT_SUPPORTED
    return UNDERPOWERED if power < POWER_GOAL else INCONCLUSIVE


def decide_against_controls(
    results: dict[str, PairedResult], claim: Claim, powers: dict[str, float], alpha: float = 0.05
) -> str:
    """The intersection–union verdict over a pruning effect's controls: ``results[control]`` is
    the inference on (treated − control) per seed (``intersection_verdict`` of the verdicts)."""
    if set(results) != set(claim.controls) or set(powers) != set(claim.controls):
        raise ParameterError(
            "results", sorted(results), f"one result and one power per control of {claim.id}: {claim.controls}"
        )
    verdicts = [decide(results[c], claim, powers[c], alpha) for c in claim.controls]
    return intersection_verdict(verdicts, [powers[c] for c in claim.controls])


def intersection_verdict(verdicts: Sequence[str], powers: Sequence[float]) -> str:
    """The verdict on a claim that needs every one of ``verdicts`` (an intersection–union test):
    supported when all are; not supported when any is not; otherwise undecided, and
    "underpowered at this scale" when the weakest comparison's power at Δ (``powers``) is below
    the goal, since the joint design's power is at most that."""
    if not verdicts or len(verdicts) != len(powers):
        raise ParameterError("verdicts", list(verdicts), "one or more verdicts, one power each")
    if all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    if NOT_SUPPORTED in verdicts:
        return NOT_SUPPORTED
    return UNDERPOWERED if min(powers) < POWER_GOAL else INCONCLUSIVE


def _paired_predictions(model: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model, reference = np.asarray(model), np.asarray(reference)
    if model.ndim != 2 or model.shape != reference.shape:
        raise ParameterError(
            "model", f"shape {model.shape}", f"[seed, example] predictions shaped like reference {reference.shape}"
        )
    if len(model) < 3:
        raise ParameterError("model", f"{len(model)} seeds", "3 or more seeds (a leave-one-out modal label needs 2)")
    return model, reference


def _contrasts(contrasts: np.ndarray) -> np.ndarray:
    contrasts = np.asarray(contrasts, dtype=float)
    if contrasts.ndim != 1 or len(contrasts) < 2 or not np.isfinite(contrasts).all():
        raise ParameterError("contrasts", f"shape {contrasts.shape}", "[seed] finite numbers, 2 or more")
    return contrasts


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ParameterError("alternative", alternative, ALTERNATIVES)
