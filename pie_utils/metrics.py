"""Per-run effectiveness: accuracy for single-label data, macro-F1 with a tuned threshold for
multilabel data (the threshold is chosen on the validation split, never on test)."""

from __future__ import annotations

import numpy as np

from pie_utils.data.types import TextDataset
from pie_utils.errors import ParameterError

THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)  # 0.00 … 0.99, as in the paper


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def macro_f1(predicted: np.ndarray, gold: np.ndarray) -> float:
    """Macro-F1 of multi-hot ``predicted`` vs ``gold`` ``[example, class]``.

    Classes with no gold and no predicted positives count as F1 = 0 (zero_division=0, as
    scikit-learn's default), so a constant empty prediction scores 0, not 1.
    """
    predicted = predicted.astype(bool)
    gold = gold.astype(bool)
    true_positive = (predicted & gold).sum(axis=0)
    denominator = predicted.sum(axis=0) + gold.sum(axis=0)
    per_class = np.divide(2 * true_positive, denominator, out=np.zeros(gold.shape[1]), where=denominator > 0)
    return float(per_class.mean())


def tune_threshold(logits: np.ndarray, gold: np.ndarray) -> float:
    """The threshold in 0.00…0.99 with the best macro-F1 of ``logits[example, class]``.

    Ties go to the lowest threshold.
    """
    probabilities = sigmoid(logits)
    scores = [macro_f1(probabilities > t, gold) for t in THRESHOLDS]
    return float(THRESHOLDS[int(np.argmax(scores))])


def score_logits(arrays: dict[str, np.ndarray], dataset: TextDataset) -> dict[str, float]:
    """Metrics of one run from its ``<split>_logits[example, class]`` arrays.

    Single-label: ``<split>_accuracy`` for validation and test (those present in
    ``arrays``). Multilabel: ``threshold`` (tuned on validation) and ``<split>_macro_f1``.
    """
    metrics: dict[str, float] = {}
    if dataset.multilabel:
        threshold = tune_threshold(arrays["validation_logits"], dataset.validation.labels)
        metrics["threshold"] = threshold
        for split in _present(arrays):
            predicted = sigmoid(arrays[f"{split}_logits"]) > threshold
            metrics[f"{split}_macro_f1"] = macro_f1(predicted, dataset.split(split).labels)
    else:
        for split in _present(arrays):
            predicted = arrays[f"{split}_logits"].argmax(axis=1)
            metrics[f"{split}_accuracy"] = float((predicted == dataset.split(split).labels).mean())
    return metrics


def _present(arrays: dict[str, np.ndarray]) -> list[str]:
    return [split for split in ("validation", "test") if f"{split}_logits" in arrays]


PLATEAU_TOLERANCE = 0.005  # half a point of validation metric


def plateau_epoch(curves: np.ndarray, tolerance: float = PLATEAU_TOLERANCE) -> int:
    """The epochs E chosen on validation: the first 1-based epoch whose mean validation metric
    over seeds (``curves[seed, epoch]``) is within ``tolerance`` of the best mean epoch."""
    curves = np.asarray(curves, float)
    if curves.ndim != 2 or 0 in curves.shape:
        raise ParameterError("curves", f"shape {curves.shape}", "[seed, epoch] validation metrics, one or more of each")
    mean = curves.mean(axis=0)
    return int(np.flatnonzero(mean >= mean.max() - tolerance)[0]) + 1
