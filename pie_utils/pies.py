"""Modal labels of populations, PIEs, and effectiveness on PIEs vs the rest.

A PIE (pruning-identified exemplar) is a point where the modal label of the dense population
differs from the modal label of the pruned population; the gold label plays no part. Every
function takes arrays only, so it works on any split, the training split included.

Shapes: single-label predictions are ``[seed, example]`` class indices; multilabel ones are
``[seed, example, class]`` bool. The number of axes tells the two apart everywhere.

Tie rule (single-label): the class with the most votes wins; among tied classes the LOWEST
class index wins. The two prior codebases differ here (one takes the lowest, one the highest),
so ties are counted and can be excluded (``find_pies(..., exclude_ties=True)``).
Multilabel: a label is on when MORE than half of the population predicts it; exactly half is
off and counts as a tie on that class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pie_utils.errors import ParameterError
from pie_utils.metrics import macro_f1, sigmoid

POPULATIONS = ("dense", "pruned")
SUBSETS = ("all", "pie", "non_pie")
AGGREGATIONS = ("modal", "mean_over_models")


def predictions_from_logits(
    logits: np.ndarray, multilabel: bool = False, thresholds: np.ndarray | float | None = None
) -> np.ndarray:
    """Per-model predictions from ``logits[seed, example, class]``.

    Single-label: argmax → ``[seed, example]`` int64. Multilabel: sigmoid(logit) > threshold
    of each model (``thresholds[seed]`` or one float; default 0.5) → ``[seed, example, class]``
    bool, computed exactly as ``pie_utils.metrics`` scores a run.
    """
    logits = np.asarray(logits)
    if logits.ndim != 3:
        raise ParameterError("logits", f"shape {logits.shape}", "a [seed, example, class] array")
    if not multilabel:
        return logits.argmax(axis=2)
    n_seeds = logits.shape[0]
    thresholds = np.asarray(0.5 if thresholds is None else thresholds, dtype=float)
    if thresholds.ndim == 0:
        thresholds = np.full(n_seeds, float(thresholds))
    if thresholds.shape != (n_seeds,):
        raise ParameterError("thresholds", f"shape {thresholds.shape}", f"one float or [seed] = ({n_seeds},)")
    with np.errstate(over="ignore"):  # exp overflow of a very negative logit gives sigmoid 0, as it should
        return sigmoid(logits) > thresholds[:, None, None]


@dataclass(frozen=True)
class ModalResult:
    """Modal labels of a population.

    Attributes:
        labels: ``[example]`` int (single-label) or ``[example, class]`` bool (multilabel).
        ties: ``[example]`` bool: the top vote tied (single-label), or some class had exactly
            half the votes (multilabel).
        votes: ``[example, class]`` int: how many models predict each class.
    """

    labels: np.ndarray
    ties: np.ndarray
    votes: np.ndarray

    @property
    def n_ties(self) -> int:
        """How many points tie."""
        return int(self.ties.sum())


def vote_counts(predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Votes ``[example, class]``: how many models predict each class.

    ``predictions``: ``[seed, example]`` class indices, or ``[seed, example, class]`` bool.
    """
    predictions = np.asarray(predictions)
    if predictions.ndim not in (2, 3) or predictions.shape[0] == 0:
        raise ParameterError(
            "predictions",
            f"shape {predictions.shape}",
            "[seed, example] class indices or [seed, example, class] bool, with at least one seed",
        )
    if predictions.ndim == 3:
        if predictions.shape[2] != num_classes:
            raise ParameterError("predictions", f"{predictions.shape[2]} classes", f"num_classes = {num_classes}")
        return predictions.astype(bool).sum(axis=0).astype(np.int64)
    if predictions.size and (predictions.min() < 0 or predictions.max() >= num_classes):
        raise ParameterError(
            "predictions", f"values {predictions.min()} … {predictions.max()}", f"class indices 0 … {num_classes - 1}"
        )
    n_examples = predictions.shape[1]
    counts = np.zeros((n_examples, num_classes), dtype=np.int64)
    for model_predictions in predictions:
        counts[np.arange(n_examples), model_predictions] += 1
    return counts


def modal_labels(predictions: np.ndarray, num_classes: int) -> ModalResult:
    """Modal labels of ``predictions[seed, example]`` (or ``[seed, example, class]`` bool).

    Single-label: most votes; ties go to the lowest class index. Multilabel: a class is on
    when more than half of the models predict it (exactly half: off, and a tie).
    """
    votes = vote_counts(predictions, num_classes)
    n_seeds = np.asarray(predictions).shape[0]
    if np.asarray(predictions).ndim == 3:
        doubled = 2 * votes  # compare 2·votes with n_seeds: no fractions
        return ModalResult(labels=doubled > n_seeds, ties=(doubled == n_seeds).any(axis=1), votes=votes)
    labels = votes.argmax(axis=1)  # argmax returns the first, i.e. lowest, of tied classes
    ties = (votes == votes.max(axis=1, keepdims=True)).sum(axis=1) > 1
    return ModalResult(labels=labels, ties=ties, votes=votes)


def find_pies(
    dense_predictions: np.ndarray, pruned_predictions: np.ndarray, num_classes: int, exclude_ties: bool = False
) -> np.ndarray:
    """``[example]`` bool: True where the dense and pruned modal labels differ (on any class).

    The populations may have different numbers of seeds but must cover the same examples.
    ``exclude_ties``: also require that neither population's vote tied on that point.
    """
    dense_predictions, pruned_predictions = np.asarray(dense_predictions), np.asarray(pruned_predictions)
    if dense_predictions.shape[1:] != pruned_predictions.shape[1:]:
        raise ParameterError(
            "pruned_predictions",
            f"shape {pruned_predictions.shape}",
            f"[seed, {', '.join(map(str, dense_predictions.shape[1:]))}] like dense_predictions",
        )
    dense = modal_labels(dense_predictions, num_classes)
    pruned = modal_labels(pruned_predictions, num_classes)
    differs = dense.labels != pruned.labels
    if differs.ndim == 2:
        differs = differs.any(axis=1)
    if exclude_ties:
        differs &= ~dense.ties & ~pruned.ties
    return differs


def _effectiveness(predicted: np.ndarray, gold: np.ndarray) -> float:
    """Accuracy (``[example]`` labels) or macro-F1 (``[example, class]``, zero_division=0); NaN when empty."""
    if len(gold) == 0:
        return float("nan")
    if predicted.ndim == 2:
        return macro_f1(predicted, gold)
    return float((predicted == gold).mean())


def accuracy_on_subsets(
    dense_predictions: np.ndarray,
    pruned_predictions: np.ndarray,
    gold: np.ndarray,
    pie_mask: np.ndarray,
    num_classes: int,
) -> pd.DataFrame:
    """Effectiveness of both populations on all points, on PIEs and on non-PIEs.

    ``gold``: ``[example]`` class indices or ``[example, class]`` multi-hot; ``pie_mask``:
    ``[example]`` bool. Returns a tidy DataFrame, 12 rows: population (dense, pruned) × subset
    (all, pie, non_pie) × aggregation (``modal``: the population's modal label scored;
    ``mean_over_models``: each model scored alone, then averaged), with columns ``metric``
    (``accuracy``, or ``macro_f1`` for multilabel, over all ``num_classes`` classes with
    zero_division=0), ``value`` and ``n_examples``. An empty subset gives NaN.

    To avoid circularity, pass PIEs selected on other seeds (``TrainedStudy.seed_halves``:
    select on the first half of the seeds, measure with the second).
    """
    gold, pie_mask = np.asarray(gold), np.asarray(pie_mask, dtype=bool)
    multilabel = np.asarray(dense_predictions).ndim == 3
    for name, predictions in (("dense_predictions", dense_predictions), ("pruned_predictions", pruned_predictions)):
        if np.asarray(predictions).shape[1:] != gold.shape:
            raise ParameterError(
                name, f"shape {np.asarray(predictions).shape}", f"[seed, {', '.join(map(str, gold.shape))}] like gold"
            )
    if pie_mask.shape != gold.shape[:1]:
        raise ParameterError("pie_mask", f"shape {pie_mask.shape}", f"[example] = ({len(gold)},)")
    subsets = {"all": np.ones_like(pie_mask), "pie": pie_mask, "non_pie": ~pie_mask}
    metric = "macro_f1" if multilabel else "accuracy"
    rows = []
    for population, predictions in zip(POPULATIONS, (dense_predictions, pruned_predictions)):
        predictions = np.asarray(predictions)
        modal = modal_labels(predictions, num_classes).labels
        for subset, mask in subsets.items():
            per_model = [_effectiveness(model[mask], gold[mask]) for model in predictions]
            n_examples = int(mask.sum())
            rows.append(
                {
                    "population": population,
                    "subset": subset,
                    "aggregation": "modal",
                    "metric": metric,
                    "value": _effectiveness(modal[mask], gold[mask]),
                    "n_examples": n_examples,
                }
            )
            rows.append(
                {
                    "population": population,
                    "subset": subset,
                    "aggregation": "mean_over_models",
                    "metric": metric,
                    "value": float(np.mean(per_model)),
                    "n_examples": n_examples,
                }
            )
    return pd.DataFrame(rows)
