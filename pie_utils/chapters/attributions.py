"""Chapter 10: does pruning move the attributions of PIEs more than those of other points,
beyond what extra training moves?

Per attributed seed s and point: the shift of pruned s's integrated-gradient attributions of the
logit margin against dense s's, and the same for dense 4E s against dense s (the extra-training
control). The claim (``attribution_shift``) is on the interaction: how much more PIEs move than
the sampled non-PIEs under pruning, minus the same under extra training, with a two-way
bootstrap over the attributed seeds and the points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.claims import Claim
from pie_utils.effects import bootstrap_table
from pie_utils.errors import ParameterError
from pie_utils.stats import bootstrap

# the pruned models attributed at the claim's primary sparsity: IMP-FT, the paper's iterative
# method (the primary cell), and MP-AI, pruning at initialisation; a published store keeps these
ATTRIBUTED_METHODS = ("IMP-FT", "MP-AI")


def interaction(shifts: np.ndarray, is_pie: np.ndarray, in_sample: np.ndarray) -> float:
    """From ``shifts[seed, point, 2]`` (pruned, control): the mean over seeds of the pruned
    shift on PIEs minus on sampled non-PIEs, minus the same for the control (NaN shifts, points
    with no attribution direction, left out)."""
    shifts, is_pie, in_sample = np.asarray(shifts, float), np.asarray(is_pie, bool), np.asarray(in_sample, bool)
    others = ~is_pie & in_sample
    if not is_pie.any() or not others.any():
        return np.nan
    gap = np.nanmean(shifts[:, is_pie], axis=1) - np.nanmean(shifts[:, others], axis=1)  # [seed, 2]
    return float(np.nanmean(gap[:, 0] - gap[:, 1]))


def attribution_effect(
    claim: Claim,
    pruned_shift: np.ndarray,
    control_shift: np.ndarray,
    is_pie: np.ndarray,
    in_sample: np.ndarray,
    n_resamples: int = 1000,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """``claim``'s table for the interaction of ``pruned_shift`` and ``control_shift`` (both
    ``[seed, point]``, seed s against seed s), with a bootstrap that draws the attributed seeds
    (one draw for both shifts, so they stay paired) and the points."""
    pruned_shift, control_shift = np.asarray(pruned_shift, float), np.asarray(control_shift, float)
    if pruned_shift.shape != control_shift.shape or pruned_shift.ndim != 2:
        raise ParameterError(
            "control_shift", f"shape {control_shift.shape}", f"[seed, point] like {pruned_shift.shape}"
        )
    stacked = np.stack([pruned_shift, control_shift], axis=2)
    samples = bootstrap([stacked, is_pie, in_sample], interaction, n_resamples=n_resamples)
    return bootstrap_table(claim, interaction(stacked, is_pie, in_sample), samples, alpha)
