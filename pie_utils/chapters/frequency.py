"""Chapter 2, class frequency: does pruning's damage depend on how frequent a class is?

Per seed s and class k, the recall drop dense s − pruned s; per seed, the least-squares slope of
those drops against the natural log of each class's training frequency, over the classes the
dense population predicts at least once (a class no dense model predicts has no recall to lose).
The claim (``class_frequency``) is an equivalence: the slope lies within ±Δ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.claims import Claim
from pie_utils.effects import EFFECT_COLUMNS, effect_table
from pie_utils.errors import ParameterError
from pie_utils.pruning import DENSE
from pie_utils.studies import TrainedStudy

MIN_CLASSES = 3  # a slope through two points has no residual to judge it by
NOT_MEASURED = "not measured"


def predicted_classes(dense: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """The classes that some dense model predicts and the test split holds, in index order."""
    return np.array([k for k in range(num_classes) if (dense == k).any() and (labels == k).any()], dtype=int)


def recall_by_class(predictions: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``[seed, class]``: recall of each model on each of ``classes`` (test points of that class)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    return np.stack([(predictions[:, labels == k] == k).mean(axis=1) for k in classes], axis=1)


def frequency_slopes(
    dense: np.ndarray, pruned: np.ndarray, labels: np.ndarray, train_counts: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """Per-seed slopes ``[seed]`` of the recall drop against ln(training frequency), and the
    per-class table they come from (class, training count, mean drop over seeds, its sd).

    ``dense``, ``pruned``: predictions ``[seed, example]`` paired by seed; ``labels``: gold
    ``[example]``; ``train_counts``: training examples per class ``[class]``.
    """
    dense, pruned, labels, train_counts = map(np.asarray, (dense, pruned, labels, train_counts))
    classes = predicted_classes(dense, labels, len(train_counts))
    if len(classes) < MIN_CLASSES:
        raise ParameterError(
            "dense", f"{len(classes)} predicted classes", f"{MIN_CLASSES} or more classes the dense models predict"
        )
    drops = recall_by_class(dense, labels, classes) - recall_by_class(pruned, labels, classes)  # [seed, class]
    log_frequency = np.log(train_counts[classes] / train_counts.sum())
    slopes = np.polyfit(log_frequency, drops.T, 1)[0]
    table = pd.DataFrame(
        {
            "class": classes,
            "train_count": train_counts[classes],
            "drop": drops.mean(axis=0),
            "sd": drops.std(axis=0, ddof=1),
        }
    )
    return slopes, table


def frequency_effect(
    claim: Claim, trained: TrainedStudy, method: str, sparsity: float, alpha: float = 0.05
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``claim``'s effect table for the slope in one cell of ``trained``, and the per-class drops.

    When the dense models predict fewer than ``MIN_CLASSES`` classes there is no slope to judge:
    the table's one row says ``NOT_MEASURED`` and why, and the per-class table is empty.
    """
    train_counts = np.bincount(trained.labels("train"), minlength=trained.dataset.num_classes)
    dense, labels = trained.predictions(DENSE, 0.0), trained.labels()
    found = len(predicted_classes(dense, labels, trained.dataset.num_classes))
    if found < MIN_CLASSES:
        reason = f"the dense models predict {found} of {trained.dataset.num_classes} classes"
        row = {**dict.fromkeys(EFFECT_COLUMNS, np.nan), "control": "none", "seeds": len(dense)}
        row |= {"verdict": NOT_MEASURED, "reason": reason}
        return pd.DataFrame([row]), pd.DataFrame(columns=["class", "train_count", "drop", "sd", "name"])
    slopes, per_class = frequency_slopes(dense, trained.predictions(method, sparsity), labels, train_counts)
    per_class["name"] = [trained.dataset.label_names[k] for k in per_class["class"]]
    return effect_table(claim, slopes, {}, alpha), per_class
