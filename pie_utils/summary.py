"""Read a trained study back from the store: population logits and a PIE summary table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.config import Study
from pie_utils.metrics import macro_f1
from pie_utils.pies import find_pies, modal_labels, predictions_from_logits
from pie_utils.pruning import DENSE
from pie_utils.store import ResultsStore, run_key
from pie_utils.training import PreparedData, prepare_data, run_spec


def population(study: Study, prepared: PreparedData, store: ResultsStore, method: str,
               sparsity: float, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Logits ``[seed, example, class]`` of one population on ``split``, and thresholds ``[seed]``.

    Thresholds are each run's tuned multilabel threshold (0.5 for single-label data).
    """
    keys = [run_key(run_spec(study, prepared, method, sparsity, seed)) for seed in study.seed_range]
    runs = [store.read(key) for key in keys]
    missing = [seed for seed, run in zip(study.seed_range, runs) if run is None]
    if missing:
        raise KeyError(f"{method} sparsity={sparsity}: seeds {missing} are not in {store.root}; train the study first")
    logits = np.stack([run.arrays[f"{split}_logits"] for run in runs])
    thresholds = np.array([run.metrics.get("threshold", 0.5) for run in runs])
    return logits, thresholds


def pie_summary(study: Study, split: str = "test", prepared: PreparedData | None = None) -> pd.DataFrame:
    """One row per (method, sparsity): population metrics and the PIEs against dense.

    Columns: method, sparsity, seeds, dense_metric / pruned_metric (mean over models, with
    std), pies (count), pie_share, pies_without_ties (PIEs where neither population's vote
    tied), dense_ties / pruned_ties (points whose modal label is a tie), and the accuracy
    of both populations' modal labels on the PIEs.
    """
    prepared = prepared or prepare_data(study)
    store = ResultsStore(study.store, accept_other_versions=study.accept_other_versions)
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
            rows.append({
                "method": method, "sparsity": sparsity, "seeds": study.seeds,
                "dense_metric": _per_model_metric(dense, gold).mean(),
                "dense_metric_std": _per_model_metric(dense, gold).std(ddof=1) if study.seeds > 1 else np.nan,
                "pruned_metric": _per_model_metric(pruned, gold).mean(),
                "pruned_metric_std": _per_model_metric(pruned, gold).std(ddof=1) if study.seeds > 1 else np.nan,
                "pies": int(pies.sum()), "pie_share": float(pies.mean()),
                "pies_without_ties": int(find_pies(dense, pruned, dataset.num_classes, exclude_ties=True).sum()),
                "dense_ties": dense_modal.n_ties, "pruned_ties": pruned_modal.n_ties,
                "dense_modal_on_pies": _modal_accuracy(dense_modal.labels, gold, pies),
                "pruned_modal_on_pies": _modal_accuracy(pruned_modal.labels, gold, pies),
            })
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
