"""The appendix on training: each study's dense validation curve and the epochs it trains.

Every stored run keeps its per-epoch history (training loss, validation loss and metric). The
epochs E of each configuration were chosen on the validation split by
``pie_utils.metrics.plateau_epoch``; these tables let a reader see that choice again on the
very runs a profile trained, including the main configuration's 4E continuation
(``dense_long``), which shows what training past E does.
"""

from __future__ import annotations

import pandas as pd

from pie_utils.metrics import PLATEAU_TOLERANCE, plateau_epoch
from pie_utils.pruning import DENSE
from pie_utils.runs import study_key


def dense_history(trained) -> pd.DataFrame:
    """One row per (seed, epoch) of a ``TrainedStudy``'s dense runs: ``seed``, ``epoch`` and
    every field the run's history records (``train_loss``, ``validation_loss``, the validation
    metric, ...)."""
    rows = []
    for seed in trained.study.seed_range:
        run = trained.store.read(study_key(trained.study, trained.prepared, DENSE, 0.0, seed))
        rows += [{"seed": seed, **entry} for entry in run.meta["history"]]
    return pd.DataFrame(rows)


def validation_metric(history: pd.DataFrame) -> str:
    """The history's validation metric column (accuracy, or macro-F1 for multilabel data)."""
    names = [c for c in history.columns if c.startswith("validation_") and c != "validation_loss"]
    return names[0]


def plateau_row(label: str, history: pd.DataFrame, epochs_used: int) -> dict:
    """How the epochs a study uses compare with the plateau of its own dense curves: the epochs
    trained, the E used, the plateau epoch (first within ``PLATEAU_TOLERANCE`` of the best mean),
    the best mean validation metric and the mean at E."""
    metric = validation_metric(history)
    curves = history.pivot(index="seed", columns="epoch", values=metric).to_numpy()  # [seed, epoch]
    mean = curves.mean(axis=0)
    return {
        "study": label,
        "seeds": len(curves),
        "epochs_trained": curves.shape[1],
        "epochs_used": epochs_used,
        "plateau_epoch": plateau_epoch(curves),
        "best_mean": float(mean.max()),
        "mean_at_used": float(mean[min(epochs_used, len(mean)) - 1]),
        "tolerance": PLATEAU_TOLERANCE,
        "metric": metric.removeprefix("validation_"),
    }


def curve(history: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of the validation metric, by epoch."""
    metric = validation_metric(history)
    grouped = history.groupby("epoch")[metric]
    return pd.DataFrame({"mean": grouped.mean(), "sd": grouped.std(ddof=1).fillna(0.0)}).reset_index()
