"""Chapter 4: do PIEs hold many of the most influential training points (EL2N)?

On the training split, per seed s: EL2N from the dense models *without* seed s (after
``el2n_epoch``), its top decile, and the leave-one-out disagreement of pruned s with the dense
models without s on those points, against each control's (``influence`` in the register). The
paper's view, per EL2N percentile bin, is kept as a secondary table: the ratio of pruned to
dense loss, seed by seed, with its interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.chapters.effectiveness import excess_disagreement
from pie_utils.claims import Claim
from pie_utils.controls import Controls
from pie_utils.errors import ParameterError
from pie_utils.influence import el2n_scores, per_example_loss, percentile_bins
from pie_utils.paired import paired_inference
from pie_utils.pruning import DENSE
from pie_utils.studies import TrainedStudy

TOP_FRACTION = 0.1  # the top EL2N decile


def top_el2n_masks(early_logits: np.ndarray, labels: np.ndarray, fraction: float = TOP_FRACTION) -> np.ndarray:
    """``[seed, example]`` bool: row s marks the top ``fraction`` of points by EL2N computed from
    ``early_logits[seed, example, class]`` of every seed but s (so seed s never scores its own
    selection); at least one point per row."""
    early_logits = np.asarray(early_logits)
    if early_logits.ndim != 3 or len(early_logits) < 2:
        raise ParameterError("early_logits", f"shape {early_logits.shape}", "[seed, example, class], 2 or more seeds")
    if not 0 < fraction < 1:
        raise ParameterError("fraction", fraction, "a number in (0, 1)")
    n = early_logits.shape[1]
    count = max(1, int(round(fraction * n)))
    masks = np.zeros((len(early_logits), n), bool)
    for s in range(len(early_logits)):
        scores = el2n_scores(np.delete(early_logits, s, axis=0), labels)
        masks[s, np.argsort(-scores, kind="stable")[:count]] = True
    return masks


def influence_inputs(
    claim: Claim, trained: TrainedStudy, controls: Controls, method: str, sparsity: float, el2n_epoch: int = 1
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-seed disagreement on the top EL2N decile of the training split, of one pruned
    population and of each control ``claim`` names: ``(treated[seed], {control: [seed]})``."""
    labels, classes = trained.labels("train"), trained.dataset.num_classes
    early = trained.logits(DENSE, 0.0, split="train", array=f"train_logits_epoch{el2n_epoch}")
    masks = top_el2n_masks(early, labels)
    dense, pruned = trained.predictions(DENSE, 0.0, "train"), trained.predictions(method, sparsity, "train")
    candidates = controls.predictions("train", target=float((pruned == labels).mean()))
    treated = excess_disagreement(pruned, dense, classes, masks)
    return treated, {name: excess_disagreement(candidates[name], dense, classes, masks) for name in claim.controls}


def loss_ratio_by_bin(
    early_logits: np.ndarray, dense_logits: np.ndarray, pruned_logits: np.ndarray, labels: np.ndarray, n_bins: int = 20
) -> pd.DataFrame:
    """The paper's per-bin view, paired by seed: for each seed s, bins of EL2N from the other
    seeds, and in each bin the mean loss of pruned s over that of dense s. One row per bin (lowest
    EL2N first) with the mean ratio over seeds and its t interval.

    All logits are ``[seed, example, class]`` on the same points; ``labels`` ``[example]``.
    """
    dense_loss, pruned_loss = per_example_loss(dense_logits, labels), per_example_loss(pruned_logits, labels)
    ratios = np.full((len(dense_loss), n_bins), np.nan)
    for s in range(len(dense_loss)):
        bins = percentile_bins(el2n_scores(np.delete(early_logits, s, axis=0), labels), n_bins)
        for b in range(n_bins):
            ratios[s, b] = pruned_loss[s, bins == b].mean() / dense_loss[s, bins == b].mean()
    rows = []
    for b in range(n_bins):
        result = paired_inference(ratios[:, b])
        rows.append({"bin": b + 1, "loss_ratio": result.estimate, "low": result.low, "high": result.high})
    return pd.DataFrame(rows)


def bins_of(trained: TrainedStudy, method: str, sparsity: float, el2n_epoch: int = 1, n_bins: int = 20) -> pd.DataFrame:
    """``loss_ratio_by_bin`` for one pruned population of ``trained``, on the training split."""
    labels = trained.labels("train")
    early = trained.logits(DENSE, 0.0, split="train", array=f"train_logits_epoch{el2n_epoch}")
    return loss_ratio_by_bin(
        early,
        trained.logits(DENSE, 0.0, split="train"),
        trained.logits(method, sparsity, split="train"),
        labels,
        n_bins,
    ).assign(method=method, sparsity=sparsity)
