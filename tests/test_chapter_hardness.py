"""Chapter 5's statistics on arrays whose answers can be worked by hand."""

import numpy as np
import pandas as pd
import pytest

from pie_utils.chapters.hardness import mean_on_disagreement, measure_values, standardised, within_length
from pie_utils.errors import ParameterError


def test_standardised_is_in_sample_standard_deviations():
    np.testing.assert_allclose(standardised([1.0, 2.0, 3.0]), [-1.0, 0.0, 1.0])
    with pytest.raises(ParameterError, match="values"):
        standardised([2.0, 2.0, 2.0])


def test_within_length_removes_what_length_explains():
    lengths = np.repeat([1, 2, 3, 4, 5], 2)
    values = lengths + np.tile([0.1, -0.1], 5)  # all of it length, but for +-0.1 in every stratum
    expected = np.tile([0.1, -0.1], 5) / (0.1 * np.sqrt(10 / 9))
    np.testing.assert_allclose(within_length(values, lengths), expected)


def test_the_mean_is_taken_on_the_points_model_s_changes_against_the_others():
    dense = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 1]])  # every leave-one-out vote: (0, 0, 1)
    model = np.array([[1, 0, 1], [1, 1, 1], [0, 0, 1]])
    values = np.array([2.0, -1.0, 5.0])
    # seed 0 changes point 0 (2.0); seed 1 points 0 and 1 (mean 0.5); seed 2 nothing: 0
    np.testing.assert_allclose(mean_on_disagreement(model, dense, 2, values), [2.0, 0.5, 0.0])


def test_length_is_standardised_and_other_measures_are_held_at_length():
    features = pd.DataFrame({"length_words": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5], "word_rarity": np.arange(10.0)})
    np.testing.assert_allclose(measure_values(features, "length_words"), standardised(features.length_words))
    np.testing.assert_allclose(
        measure_values(features, "word_rarity"), within_length(features.word_rarity, features.length_words)
    )
    with pytest.raises(ParameterError, match="measure"):
        measure_values(features, "syntax_depth")
