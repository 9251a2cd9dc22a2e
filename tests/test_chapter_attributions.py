"""Chapter 10's interaction on shifts whose answer can be worked by hand."""

import numpy as np
import pytest

from pie_utils.chapters.attributions import attributed_points, attribution_effect, interaction, shift_frame
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


class _Population:
    """Predictions ``[seed, example]`` per cell, as ``TrainedStudy.predictions`` gives them."""

    def __init__(self, cells):
        self.cells, self.dataset = cells, type("Dataset", (), {"num_classes": 2})()

    def predictions(self, method, sparsity, split="test"):
        return self.cells[method]


def test_the_attributed_points_are_every_pie_of_half_a_plus_the_random_sample():
    dense = np.zeros((4, 10), int)
    pruned = dense.copy()
    pruned[:2, 3] = 1  # half A (seeds 0, 1) flips point 3: a PIE
    pruned[2:, 7] = 1  # half B flips point 7: not selected on half A
    main = _Population({"dense": dense, "IMP-FT": pruned})
    points, in_sample, pies = attributed_points(main, ["IMP-FT"], 0.9, np.array([0, 1]), sample_points=0)
    assert points.tolist() == [3] and not in_sample.any() and pies["IMP-FT"].tolist() == [i == 3 for i in range(10)]
    points, in_sample, _ = attributed_points(main, ["IMP-FT"], 0.9, np.array([0, 1]), sample_points=10)
    assert points.tolist() == list(range(10)) and in_sample.all()


def test_the_shift_frame_keeps_pies_and_sampled_points_under_both_comparisons():
    shifts = {"IMP-FT": np.array([[0.4, 0.2, 0.9], [0.6, 0.0, 0.9]])}  # [seed, point]
    control = np.array([[0.1, 0.1, 0.9], [0.1, 0.1, 0.9]])
    pies = {"IMP-FT": np.array([False, True, False, False])}  # over the test split; points 1, 2, 3
    frame = shift_frame(shifts, control, pies, np.array([1, 2, 3]), np.array([False, True, False]), 0.9)
    # point 3 is neither a PIE nor sampled: left out; the PIE at point 1, the sampled point 2
    assert frame.comparison.tolist() == ["IMP-FT 90% vs dense"] * 2 + ["dense 4E vs dense"] * 2
    assert frame.points.tolist() == ["PIE", "non-PIE"] * 2
    assert frame["shift"].round(3).tolist() == [0.5, 0.1, 0.1, 0.1]
