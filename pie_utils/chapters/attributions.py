"""Chapter 10: does pruning move the attributions of PIEs more than those of other points,
beyond what extra training moves?

``attributed_points`` picks the test points (every PIE of each attributed cell, selected on
seed half A, plus a random sample), ``attribute_models`` runs integrated gradients for every
attributed model of half B, ``convergence_table`` checks the integration, ``attribution_shifts``
gives each pruned model's and the extra-training control's shift against dense s,
``shown_examples`` and ``example_panels`` make the figure of a few texts, and
``attribution_effect`` judges the claim. Per attributed seed s and point: the shift of pruned
s's integrated-gradient attributions of the logit margin against dense s's, and the same for dense 4E s against dense s (the extra-training
control). The claim (``attribution_shift``) is on the interaction: how much more PIEs move than
the sampled non-PIEs under pruning, minus the same under extra training, with a two-way
bootstrap over the attributed seeds and the points.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import softmax

from pie_utils.attributions import attribution_shift, token_attributions
from pie_utils.claims import Claim
from pie_utils.effects import bootstrap_table
from pie_utils.errors import ParameterError
from pie_utils.models import word_tokenize
from pie_utils.pies import find_pies
from pie_utils.pruning import DENSE
from pie_utils.stats import bootstrap

EXTRA = "dense 4E"  # the extra-training control among the attributed models: dense s trained 4E epochs
CONVERGED = 0.05  # the largest median |convergence delta| / median |F(input) - F(baseline)| accepted
SHOWN_WORDS = (4, 18)  # the lengths of the texts the example figure shows: short enough to read


def attributed_points(main, cells, sparsity: float, half_a, sample_points: int, seed: int = 0):
    """The test points attributed: ``sample_points`` drawn at random (generator ``seed``) and
    every PIE of each of ``cells`` at ``sparsity``, selected on the seed positions ``half_a``.

    Returns ``points`` (sorted test positions), ``in_sample`` (bool ``[point]``: drawn at
    random) and ``pies`` (method → bool ``[example]`` over the whole test split).
    """
    dense = main.predictions(DENSE, 0.0)[half_a]
    classes = main.dataset.num_classes
    pies = {method: find_pies(dense, main.predictions(method, sparsity)[half_a], classes) for method in cells}
    examples = dense.shape[1]
    sampled = np.zeros(examples, dtype=bool)
    sampled[np.random.default_rng(seed).choice(examples, min(sample_points, examples), replace=False)] = True
    points = np.flatnonzero(sampled | np.logical_or.reduce(list(pies.values())))
    return points, sampled[points], pies


def attribute_models(main, extra_training, positions, cells, sparsity: float, points, steps: int):
    """Integrated gradients of the gold class's margin for each attributed seed position: the
    dense model, its 4E continuation (``EXTRA``) and each cell's pruned model.

    Returns ``{(method, position): TokenAttributions}`` (values ``[point, token]``) and the
    seconds spent ``{"rebuild": ..., "attribute": ...}``.
    """
    encoded, gold = main.prepared.encoded["test"].take(points), main.labels()[points]
    attributions, seconds = {}, {"rebuild": 0.0, "attribute": 0.0}
    for position in positions:
        seed = main.study.seed_range[position]
        for method, level in [(DENSE, 0.0), (EXTRA, 0.0)] + [(m, sparsity) for m in cells]:
            started = time.perf_counter()
            model = extra_training.model(DENSE, 0.0, seed) if method == EXTRA else main.model(method, level, seed)
            built = time.perf_counter()
            attributions[method, position] = token_attributions(model, encoded, gold, steps, margin=True)
            seconds["rebuild"] += built - started
            seconds["attribute"] += time.perf_counter() - built
    return attributions, seconds


def convergence_table(attributions, seed_range) -> pd.DataFrame:
    """Per attributed model: the median and 95th percentile over points of captum's |convergence
    delta|, the median |F(input) − F(baseline)| and their ratio (``relative``)."""
    table = pd.DataFrame(
        [
            {
                "model": method,
                "seed": int(seed_range[position]),
                "median_abs_delta": np.median(np.abs(result.delta)),
                "p95_abs_delta": np.percentile(np.abs(result.delta), 95),
                "median_abs_change": np.median(np.abs(result.output_change)),
            }
            for (method, position), result in attributions.items()
        ]
    )
    table["relative"] = table.median_abs_delta / table.median_abs_change
    return table


def attribution_shifts(attributions, positions, cells):
    """Each cell's shift against dense s (method → ``[seed, point]``) and the extra-training
    control's (``[seed, point]``: dense 4E s against dense s), 1 − cosine of the token vectors."""

    def against_dense(method):
        return np.stack(
            [attribution_shift(attributions[DENSE, p].values, attributions[method, p].values) for p in positions]
        )

    return {method: against_dense(method) for method in cells}, against_dense(EXTRA)


def shift_frame(shifts, control_shift, pies, points, in_sample, sparsity: float) -> pd.DataFrame:
    """Long table for the figure: per cell, the mean shift over seeds of every PIE and sampled
    point under that cell's pruned models and under extra training."""
    frames = []
    for method, shift in shifts.items():
        is_pie = pies[method][points]
        keep = is_pie | in_sample
        for name, values in {f"{method} {sparsity:.0%} vs dense": shift, "dense 4E vs dense": control_shift}.items():
            frames.append(
                pd.DataFrame(
                    {
                        "cell": f"PIEs of {method} {sparsity:.0%}",
                        "comparison": name,
                        "shift": values.mean(axis=0)[keep],
                        "points": np.where(is_pie[keep], "PIE", "non-PIE"),
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def shown_examples(lengths, pie_any, in_sample, shown_pies: int, shown_others: int, seed: int = 1) -> list[int]:
    """Rows of the attributed points to show: up to ``shown_pies`` PIEs, then up to
    ``shown_others`` points of the random sample that are no PIE, each of ``SHOWN_WORDS`` words,
    drawn by a generator seeded with ``seed``. ``lengths``, ``pie_any`` (a PIE of any attributed
    cell) and ``in_sample``: ``[attributed point]``. Raises ``ValueError`` when none fits."""
    rng = np.random.default_rng(seed)
    short = (lengths >= SHOWN_WORDS[0]) & (lengths <= SHOWN_WORDS[1])
    chosen = [
        *rng.permutation(np.flatnonzero(short & pie_any))[:shown_pies],
        *rng.permutation(np.flatnonzero(short & ~pie_any & in_sample))[:shown_others],
    ]
    if not chosen:
        raise ValueError(f"no attributed test point of {SHOWN_WORDS[0]} to {SHOWN_WORDS[1]} words to show")
    return chosen


@dataclass(frozen=True)
class ExamplePanel:
    """One shown text: its ``words``, ``grid`` ``[model, word]`` of attributions with each row
    divided by its largest magnitude (the shift ignores scale), one label per model (its name
    and its probability of the gold class) and a title (PIE or not, gold class, shifts)."""

    words: list[str]
    grid: np.ndarray
    labels: list[str]
    title: str


def example_panels(main, attributions, cells, sparsity: float, pies, shifts, points, rows, position: int):
    """The ``ExamplePanel`` of each of ``rows`` (``shown_examples``) for the models of seed
    ``position``: dense, then each attributed cell at ``sparsity``."""
    gold, texts = main.labels(), main.texts()
    models = [(DENSE, 0.0)] + [(method, sparsity) for method in cells]
    probability = {
        method: softmax(main.logits(method, level)[position], axis=1)[np.arange(len(gold)), gold]
        for method, level in models
    }
    names = {method: "dense" if method == DENSE else f"{method} {level:.0%}" for method, level in models}
    panels = []
    for row in rows:
        point = points[row]
        grid = np.stack([attributions[method, position].row(row) for method, _ in models])
        words = word_tokenize(texts[point])[: main.prepared.encoder.max_length]
        if len(words) != grid.shape[1]:
            raise ValueError(f"test point {point}: {len(words)} words but {grid.shape[1]} attributions")
        pie_of = [method for method in cells if pies[method][point]]
        status = "PIE of " + ", ".join(pie_of) if pie_of else "non-PIE"
        moved = ", ".join(f"{method} {shifts[method][0, row]:.2f}" for method in cells)
        panels.append(
            ExamplePanel(
                words=words,
                grid=grid / np.maximum(np.abs(grid).max(axis=1, keepdims=True), 1e-12),
                labels=[f"{names[method]}  p={probability[method][point]:.2f}" for method, _ in models],
                title=f"{status} · gold: {main.dataset.label_names[gold[point]]} · shift {moved}",
            )
        )
    return panels


def interaction(shifts: np.ndarray, is_pie: np.ndarray, in_sample: np.ndarray) -> float:
    """From ``shifts[seed, point, 2]`` (pruned, control): the mean over seeds of the pruned
    shift on PIEs minus on sampled non-PIEs, minus the same for the control (NaN shifts, points
    with no attribution direction, left out)."""
    shifts, is_pie, in_sample = np.asarray(shifts, float), np.asarray(is_pie, bool), np.asarray(in_sample, bool)
    others = ~is_pie & in_sample
    if not is_pie.any() or not others.any():
        return np.nan
    gap = np.nanmean(shifts[:, is_pie], axis=1) - np.nanmean(shifts[:, others], axis=1)  # [seed, 2]
    return float(np.nanmean(gap[:, 0] - gap[:, 1]))


def attribution_effect(
    claim: Claim,
    pruned_shift: np.ndarray,
    control_shift: np.ndarray,
    is_pie: np.ndarray,
    in_sample: np.ndarray,
    n_resamples: int = 1000,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """``claim``'s table for the interaction of ``pruned_shift`` and ``control_shift`` (both
    ``[seed, point]``, seed s against seed s), with a bootstrap that draws the attributed seeds
    (one draw for both shifts, so they stay paired) and the points."""
    pruned_shift, control_shift = np.asarray(pruned_shift, float), np.asarray(control_shift, float)
    if pruned_shift.shape != control_shift.shape or pruned_shift.ndim != 2:
        raise ParameterError(
            "control_shift", f"shape {control_shift.shape}", f"[seed, point] like {pruned_shift.shape}"
        )
    stacked = np.stack([pruned_shift, control_shift], axis=2)
    samples = bootstrap([stacked, is_pie, in_sample], interaction, n_resamples=n_resamples)
    return bootstrap_table(claim, interaction(stacked, is_pie, in_sample), samples, alpha)
