"""Chapter 5: are the points pruning changes longer and more complex than those its controls change?

Per seed s, the mean of a standardised measure over the test points where model s disagrees with
the modal label of the dense models without s: for pruned s and for each control (claims
``hardness_length`` and ``hardness_complexity``). Complexity measures are taken within length
quintiles (each text's value minus the mean of its length quintile), so that a longer text does
not count as a more complex one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.claims import Claim
from pie_utils.controls import Controls
from pie_utils.effects import controlled_cells
from pie_utils.errors import ParameterError
from pie_utils.pies import modal_labels
from pie_utils.pruning import DENSE
from pie_utils.studies import TrainedStudy

LENGTH = "length_words"
LENGTH_STRATA = 5


def standardised(values: np.ndarray) -> np.ndarray:
    """``values[example]`` in standard deviations from their mean (NaN stays NaN)."""
    values = np.asarray(values, float)
    sd = np.nanstd(values, ddof=1)
    if not sd > 0:
        raise ParameterError("values", f"sd {sd}", "a measure that varies over the points")
    return (values - np.nanmean(values)) / sd


def within_length(values: np.ndarray, lengths: np.ndarray, strata: int = LENGTH_STRATA) -> np.ndarray:
    """``values[example]`` minus the mean of their length stratum (``strata`` quantile groups of
    ``lengths``; equal lengths stay in one group, so there may be fewer), then standardised: what
    is left once length is held fixed."""
    values = np.asarray(values, float)
    groups = pd.qcut(np.asarray(lengths, float), strata, labels=False, duplicates="drop")
    residual = values - pd.Series(values).groupby(groups).transform("mean").to_numpy()
    return standardised(residual)


def mean_on_disagreement(model: np.ndarray, dense: np.ndarray, num_classes: int, values: np.ndarray) -> np.ndarray:
    """``[seed]``: the mean of ``values[example]`` over the points where ``model[s]`` differs from
    the modal label of ``dense`` without seed s (NaN values left out); 0, the split's mean of a
    standardised measure, for a model that disagrees nowhere."""
    model, dense, values = np.asarray(model), np.asarray(dense), np.asarray(values, float)
    means = []
    for s in range(len(model)):
        differs = (model[s] != modal_labels(np.delete(dense, s, axis=0), num_classes).labels) & np.isfinite(values)
        means.append(float(values[differs].mean()) if differs.any() else 0.0)
    return np.array(means)


def measure_values(features: pd.DataFrame, measure: str) -> np.ndarray:
    """The measure as the claims use it: length standardised, every other measure within length strata."""
    if measure not in features:
        raise ParameterError("measure", measure, list(features.columns))
    if measure == LENGTH:
        return standardised(features[LENGTH])
    return within_length(features[measure], features[LENGTH])


def measure_cells(
    claim: Claim,
    trained: TrainedStudy,
    controls: Controls,
    features: pd.DataFrame,
    measures: list[str],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per measure of ``measures`` (columns of ``features``: the test split, one row per
    point, ``LENGTH`` among them): the per-seed mean of the measure on pruned s's disagreement
    points minus each control's, in ``claim``'s primary cell, against the deciding control. The
    first measure is the claim's primary one, every other one secondary
    (``pie_utils.effects.controlled_cells``); a measure the corpus cannot give (all NaN, e.g.
    readability without sentence punctuation) is left out."""
    dense, labels, classes = trained.predictions(DENSE, 0.0), trained.labels(), trained.dataset.num_classes
    pruned = trained.predictions(claim.primary_method, claim.primary_sparsity)
    candidates = controls.predictions("test", target=float((pruned == labels).mean()))
    cells = {}
    for measure in measures:
        if features[measure].notna().sum() < 2 or features[measure].nunique() < 2:
            continue  # a measure this corpus cannot give (readability without punctuation)
        values = measure_values(features, measure)
        treated = mean_on_disagreement(pruned, dense, classes, values)
        cells[(measure,)] = (
            treated,
            {name: mean_on_disagreement(candidates[name], dense, classes, values) for name in claim.controls},
        )
    return controlled_cells(claim, cells, (measures[0],), names=("measure",), alpha=alpha)
