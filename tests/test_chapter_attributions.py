"""Chapter 10's interaction on shifts whose answer can be worked by hand."""

import numpy as np
import pytest

from pie_utils.chapters.attributions import (
    attributed_points,
    attribution_effect,
    example_panels,
    interaction,
    shift_frame,
    shown_examples,
)
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


def test_the_shown_examples_are_short_pies_first_then_short_sampled_others():
    lengths = np.array([3, 5, 10, 20, 6, 8])  # words; 4 to 18 are shown
    pie_any = np.array([True, True, False, True, False, False])
    in_sample = np.array([True, True, True, True, False, True])
    rows = shown_examples(lengths, pie_any, in_sample, shown_pies=4, shown_others=2)
    # the PIEs of 3 and 20 words are too short or long; point 4 is neither a PIE nor sampled
    assert rows[0] == 1 and sorted(rows[1:]) == [2, 5]
    assert len(shown_examples(lengths, pie_any, in_sample, shown_pies=0, shown_others=1)) == 1
    with pytest.raises(ValueError, match="4 to 18 words"):
        shown_examples(lengths, pie_any, in_sample & ~pie_any & (lengths > 18), shown_pies=0, shown_others=2)


class _Attributed:
    def __init__(self, values):
        self.values = values

    def row(self, example):
        return self.values[example]


class _Texts:
    labels_ = np.array([1, 0])
    prepared = type("Prepared", (), {"encoder": type("Encoder", (), {"max_length": 64})()})()
    dataset = type("Dataset", (), {"label_names": ["neg", "pos"]})()

    def labels(self):
        return self.labels_

    def texts(self):
        return ["a fine film", "dull"]

    def logits(self, method, sparsity):
        both = np.log(np.array([[0.2, 0.8], [0.6, 0.4]]))  # [point, class]: p(gold) 0.8 and 0.6
        return np.stack([both if method == "dense" else both[:, ::-1]])  # [seed, point, class]


def test_an_example_panel_scales_each_model_row_and_names_its_gold_probability():
    attributions = {
        ("dense", 0): _Attributed([np.array([2.0, -1.0, 0.5])]),
        ("IMP-FT", 0): _Attributed([np.array([0.0, 0.3, -0.6])]),
    }
    pies = {"IMP-FT": np.array([True, False])}
    shifts = {"IMP-FT": np.array([[0.25]])}  # [seed, attributed point]
    (panel,) = example_panels(_Texts(), attributions, ["IMP-FT"], 0.9, pies, shifts, np.array([0]), [0], 0)
    assert panel.words == ["a", "fine", "film"]
    np.testing.assert_allclose(panel.grid, [[1.0, -0.5, 0.25], [0.0, 0.5, -1.0]])
    assert panel.labels == ["dense  p=0.80", "IMP-FT 90%  p=0.20"]
    assert panel.title == "PIE of IMP-FT · gold: pos · shift IMP-FT 0.25"
