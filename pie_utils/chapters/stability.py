"""Chapter 8: how many seeds make a PIE score that other seeds reproduce?

Per test point, the vote shift of a population pair: the share of dense models that vote for the
dense modal label minus the share of pruned models that do (0: pruning moves no vote; 1: every
vote). Split the seeds into two disjoint halves at random: the correlation of the two halves'
shifts over points is the split-half reliability of a half-size population, and the
Spearman–Brown formula projects it to larger populations (claim ``seed_stability``). Beside it,
the Jaccard similarity of the PIE sets of two disjoint populations of k seeds, for growing k.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.claims import Claim
from pie_utils.effects import bootstrap_table
from pie_utils.errors import ParameterError
from pie_utils.pies import modal_labels
from pie_utils.pruning import DENSE
from pie_utils.stability import chance_jaccard, disjoint_subsets, jaccard, modal_disagreements
from pie_utils.studies import TrainedStudy

PROJECTED_SEEDS = (30, 60)  # seeds per side the reliability is projected to


def vote_shift(dense: np.ndarray, pruned: np.ndarray, num_classes: int) -> np.ndarray:
    """``[example]``: share of ``dense`` models voting for the dense modal label minus the share of
    ``pruned`` models voting for it (both ``[seed, example]``)."""
    modal = modal_labels(dense, num_classes).labels
    return (np.asarray(dense) == modal).mean(axis=0) - (np.asarray(pruned) == modal).mean(axis=0)


def spearman_brown(reliability: np.ndarray | float, factor: float) -> np.ndarray | float:
    """The reliability of a score averaged over ``factor`` times as many seeds: f·r / (1 + (f − 1)·r)."""
    reliability = np.asarray(reliability, float)
    return factor * reliability / (1 + (factor - 1) * reliability)


def split_half(
    dense: np.ndarray, pruned: np.ndarray, num_classes: int, draws: int, n_resamples: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split-half correlations of ``vote_shift``: ``[draw]`` over ``draws`` random disjoint
    half-splits of the seeds on every point, and ``[resample]`` for ``n_resamples`` bootstrap
    resamples of the points, each with one random half-split (NaN where a half's shifts are constant)."""
    dense, pruned = np.asarray(dense), np.asarray(pruned)
    if len(dense) < 4 or dense.shape != pruned.shape:
        raise ParameterError(
            "dense", f"shape {dense.shape}", f"[seed, example] with 4 or more seeds, like pruned {pruned.shape}"
        )
    half = len(dense) // 2
    first, second = disjoint_subsets(len(dense), half, max(draws, n_resamples), seed)

    def correlation(d, p, a, b, points):
        x, y = (
            vote_shift(d[a][:, points], p[a][:, points], num_classes),
            vote_shift(d[b][:, points], p[b][:, points], num_classes),
        )
        return float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else np.nan

    every = np.arange(dense.shape[1])
    per_draw = np.array([correlation(dense, pruned, first[i], second[i], every) for i in range(draws)])
    rng = np.random.default_rng([seed, 1])
    resampled = np.array(
        [
            correlation(dense, pruned, first[i], second[i], rng.integers(0, dense.shape[1], dense.shape[1]))
            for i in range(n_resamples)
        ]
    )
    return per_draw, resampled


def reliability_rows(per_draw: np.ndarray, resampled: np.ndarray, half: int, projected=PROJECTED_SEEDS) -> pd.DataFrame:
    """One row per population size (``half`` seeds per side as measured, then each of
    ``projected``): the mean reliability over draws and the 95 % percentile interval of the
    resamples, each projected by Spearman–Brown."""
    rows = []
    for seeds in (half, *projected):
        factor = seeds / half
        samples = spearman_brown(resampled, factor)
        low, high = np.nanquantile(samples, [0.025, 0.975]) if np.isfinite(samples).any() else (np.nan, np.nan)
        rows.append(
            {
                "seeds per side": seeds,
                "measured": seeds == half,
                "reliability": float(spearman_brown(np.nanmean(per_draw), factor)),
                "low": low,
                "high": high,
            }
        )
    return pd.DataFrame(rows)


def jaccard_curve(dense: np.ndarray, pruned: np.ndarray, num_classes: int, draws: int, seed: int = 0) -> pd.DataFrame:
    """One row per population size k = 1 … S/2: the mean Jaccard of the PIE sets of two disjoint
    k-seed population pairs (dense and pruned subsets of the same seeds) over ``draws`` random
    pairs, its 2.5–97.5 % range over draws, the chance level for sets of those sizes, and the mean PIE count."""
    rows = []
    n_seeds, n_examples = len(dense), np.asarray(dense).shape[1]
    for k in range(1, n_seeds // 2 + 1):
        first, second = disjoint_subsets(n_seeds, k, draws, seed=seed + k)
        pies_first = modal_disagreements(dense, pruned, first, first, num_classes)
        pies_second = modal_disagreements(dense, pruned, second, second, num_classes)
        similarity = jaccard(pies_first, pies_second)
        sizes = zip(pies_first.sum(axis=1), pies_second.sum(axis=1))
        rows.append(
            {
                "k": k,
                "jaccard": float(np.nanmean(similarity)),
                "low": float(np.nanquantile(similarity, 0.025)) if np.isfinite(similarity).any() else np.nan,
                "high": float(np.nanquantile(similarity, 0.975)) if np.isfinite(similarity).any() else np.nan,
                "chance": float(np.nanmean([chance_jaccard(int(a), int(b), n_examples) for a, b in sizes])),
                "pies": float((pies_first.sum(axis=1) + pies_second.sum(axis=1)).mean() / 2),
            }
        )
    return pd.DataFrame(rows)


def stability_effect(
    claim: Claim, trained: TrainedStudy, method: str, sparsity: float, draws: int, n_resamples: int, alpha: float = 0.05
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``claim``'s verdict table for one cell (the reliability projected to ``PROJECTED_SEEDS[0]``
    seeds per side, against the claim's reference, by a bootstrap over points) and that cell's
    ``reliability_rows``."""
    dense, classes = trained.predictions(DENSE, 0.0), trained.dataset.num_classes
    per_draw, resampled = split_half(dense, trained.predictions(method, sparsity), classes, draws, n_resamples)
    half = len(dense) // 2
    factor = PROJECTED_SEEDS[0] / half
    projected = spearman_brown(np.nanmean(per_draw), factor)
    table = bootstrap_table(claim, float(projected), spearman_brown(resampled, factor), alpha)
    return table, reliability_rows(per_draw, resampled, half).assign(method=method, sparsity=sparsity)
