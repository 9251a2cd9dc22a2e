"""Chapter 3: is BERT (here MiniLM) more prone to PIEs than a BiLSTM, at matched weakening?

Each architecture's pruning effect is its excess leave-one-out disagreement over its own
accuracy-matched control: dense seed s at the epoch of its training whose mean accuracy is
closest to the pruned population's (``pie_utils.controls.Trajectory`` over the study's own dense
runs). The claim compares the two excesses seed by seed, on the same data and cell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.chapters.effectiveness import excess_disagreement
from pie_utils.claims import Claim
from pie_utils.controls import Trajectory
from pie_utils.effects import effect_table
from pie_utils.errors import ParameterError
from pie_utils.paired import paired_inference
from pie_utils.pruning import DENSE
from pie_utils.studies import TrainedStudy


def matched_excess(trained: TrainedStudy, method: str, sparsity: float) -> tuple[np.ndarray, dict]:
    """``[seed]`` excess disagreement of the pruned population over its accuracy-matched dense
    control, and a summary row (accuracies, the matched epoch, the mean excess and its interval)."""
    dense, labels, classes = trained.predictions(DENSE, 0.0), trained.labels(), trained.dataset.num_classes
    pruned = trained.predictions(method, sparsity)
    pruned_accuracy = float((pruned == labels).mean())
    matched = Trajectory(trained).matched(pruned_accuracy)
    excess = excess_disagreement(pruned, dense, classes) - excess_disagreement(matched.predictions, dense, classes)
    inference = paired_inference(excess)
    return excess, {
        "arch": trained.study.arch,
        "seeds": len(excess),
        "dense_accuracy": float((dense == labels).mean()),
        "pruned_accuracy": pruned_accuracy,
        "matched_epoch": matched.epoch,
        "matched_accuracy": matched.accuracy,
        "excess": inference.estimate,
        "low": inference.low,
        "high": inference.high,
    }


def architecture_effect(
    claim: Claim, bert: TrainedStudy, bilstm: TrainedStudy, method: str, sparsity: float, alpha: float = 0.05
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``claim``'s effect table for MiniLM's matched excess minus the BiLSTM's, seed s against
    seed s, and the per-architecture summary. Both studies must share data, splits and seeds."""
    if bert.dataset.fingerprint() != bilstm.dataset.fingerprint():
        raise ParameterError("bilstm", bilstm.study.dataset, "the same data, subset and splits as the bert study")
    if bert.study.seed_range != bilstm.study.seed_range:
        raise ParameterError(
            "bilstm.seeds", list(bilstm.study.seed_range), f"the bert study's {list(bert.study.seed_range)}"
        )
    bert_excess, bert_row = matched_excess(bert, method, sparsity)
    bilstm_excess, bilstm_row = matched_excess(bilstm, method, sparsity)
    return effect_table(claim, bert_excess - bilstm_excess, {}, alpha), pd.DataFrame([bert_row, bilstm_row])
