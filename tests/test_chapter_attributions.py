"""Chapter 10's interaction on shifts whose answer can be worked by hand."""

import numpy as np
import pytest

from pie_utils.chapters.attributions import attribution_effect, interaction
from pie_utils.claims import claim
from pie_utils.errors import ParameterError


def test_the_interaction_is_the_pie_gap_under_pruning_minus_under_extra_training():
    is_pie = np.array([True, True, False, False, False])
    in_sample = np.array([False, False, True, True, False])  # the last point is neither: left out
    pruned = np.array([[0.5, 0.5, 0.1, 0.1, 9.0], [0.7, 0.5, 0.1, 0.3, 9.0]])  # gaps 0.4 and 0.4
    control = np.array([[0.2, 0.2, 0.1, 0.1, 9.0], [0.3, 0.1, 0.2, 0.0, 9.0]])  # gaps 0.1 and 0.1
    assert interaction(np.stack([pruned, control], axis=2), is_pie, in_sample) == pytest.approx(0.3)
    assert np.isnan(interaction(np.stack([pruned, control], axis=2), is_pie & False, in_sample))


def test_the_effect_table_bootstraps_seeds_and_points_together():
    rng = np.random.default_rng(0)
    is_pie = np.arange(60) < 20
    in_sample = ~is_pie
    pruned = rng.normal(0.2, 0.02, (4, 60)) + 0.3 * is_pie  # PIEs move 0.3 more under pruning
    control = rng.normal(0.2, 0.02, (4, 60))
    table = attribution_effect(claim("attribution_shift"), pruned, control, is_pie, in_sample, n_resamples=200)
    row = table.iloc[0]
    assert row.estimate == pytest.approx(0.3, abs=0.02) and row.low < 0.3 < row.high
    assert row.verdict == "supported"
    with pytest.raises(ParameterError, match="control_shift"):
        attribution_effect(claim("attribution_shift"), pruned, control[:2], is_pie, in_sample)
