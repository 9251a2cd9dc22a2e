"""A trained study read back from the store as one PIE summary table (what ``run`` prints)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.config import Study
from pie_utils.metrics import macro_f1
from pie_utils.pies import find_pies, modal_labels, predictions_from_logits
from pie_utils.pruning import DENSE
from pie_utils.runs import PreparedData, open_store, population, prepare_data


def pie_summary(study: Study, split: str = "test", prepared: PreparedData | None = None) -> pd.DataFrame:
    """One row per (method, sparsity): population metrics and the PIEs against dense.

    Columns: method, sparsity, seeds, dense_metric / pruned_metric (mean over models, with
    std), pies (count), pie_share, pies_without_ties (PIEs where neither population's vote
    tied), dense_ties / pruned_ties (points whose modal label is a tie), and the accuracy
    of both populations' modal labels on the PIEs.
    """
    prepared = prepared or prepare_data(study)
    store = open_store(study)
    dataset = prepared.dataset
    gold = dataset.split(split).labels
    dense_logits, dense_thresholds = population(study, prepared, store, DENSE, 0.0, split)
    dense = predictions_from_logits(dense_logits, dataset.multilabel, dense_thresholds)
    dense_modal = modal_labels(dense, dataset.num_classes)
    rows = []
    for method in study.methods:
        for sparsity in study.sparsities:
            logits, thresholds = population(study, prepared, store, method, sparsity, split)
            pruned = predictions_from_logits(logits, dataset.multilabel, thresholds)
            pruned_modal = modal_labels(pruned, dataset.num_classes)
            pies = find_pies(dense, pruned, dataset.num_classes)
            rows.append(
                {
                    "method": method,
                    "sparsity": sparsity,
                    "seeds": study.seeds,
                    "dense_metric": _per_model_metric(dense, gold).mean(),
                    "dense_metric_std": _per_model_metric(dense, gold).std(ddof=1) if study.seeds > 1 else np.nan,
                    "pruned_metric": _per_model_metric(pruned, gold).mean(),
                    "pruned_metric_std": _per_model_metric(pruned, gold).std(ddof=1) if study.seeds > 1 else np.nan,
                    "pies": int(pies.sum()),
                    "pie_share": float(pies.mean()),
                    "pies_without_ties": int(find_pies(dense, pruned, dataset.num_classes, exclude_ties=True).sum()),
                    "dense_ties": dense_modal.n_ties,
                    "pruned_ties": pruned_modal.n_ties,
                    "dense_modal_on_pies": _modal_accuracy(dense_modal.labels, gold, pies),
                    "pruned_modal_on_pies": _modal_accuracy(pruned_modal.labels, gold, pies),
                }
            )
    return pd.DataFrame(rows)


def _per_model_metric(predictions: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """``[seed]`` accuracy (single-label) or macro-F1 (multilabel) of each model."""
    if predictions.ndim == 3:
        return np.array([macro_f1(model, gold) for model in predictions])
    return (predictions == gold[None]).mean(axis=1)


def _modal_accuracy(modal: np.ndarray, gold: np.ndarray, mask: np.ndarray) -> float:
    """Accuracy (or macro-F1) of modal labels on the points in ``mask``; NaN when it is empty."""
    if not mask.any():
        return float("nan")
    if modal.ndim == 2:
        return macro_f1(modal[mask], gold[mask])
    return float((modal[mask] == gold[mask]).mean())
