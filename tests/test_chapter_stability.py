"""Chapter 8's statistics on arrays whose answers can be worked by hand."""

import numpy as np
import pytest

from pie_utils.chapters.stability import reliability_rows, spearman_brown, split_half, vote_shift
from pie_utils.errors import ParameterError


def test_vote_shift_is_the_share_of_votes_pruning_moves_off_the_dense_modal_label():
    dense = np.array([[0, 0], [0, 1], [0, 1]])  # modal labels 0 (3 of 3) and 1 (2 of 3)
    pruned = np.array([[1, 1], [0, 1], [0, 0]])  # 2 of 3 vote 0 on the first, 2 of 3 vote 1 on the second
    np.testing.assert_allclose(vote_shift(dense, pruned, 2), [1 - 2 / 3, 0.0])


def test_spearman_brown_projects_a_reliability_to_more_seeds():
    assert spearman_brown(0.5, 2) == pytest.approx(2 / 3)
    assert spearman_brown(0.5, 6) == pytest.approx(3 / 3.5)
    assert spearman_brown(0.3, 1) == pytest.approx(0.3)


def test_a_shift_every_seed_shares_is_perfectly_reliable():
    dense = np.zeros((6, 10), int)
    pruned = np.zeros((6, 10), int)
    pruned[:, :4] = 1  # every pruned seed moves the same 4 points
    per_draw, resampled = split_half(dense, pruned, 2, draws=5, n_resamples=20)
    np.testing.assert_allclose(per_draw, 1.0)
    assert np.nanmin(resampled) == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="dense"):
        split_half(dense[:3], pruned[:3], 2, draws=2)


def test_reliability_rows_project_the_measured_half():
    table = reliability_rows(np.array([0.5, 0.5, 0.5]), np.array([0.4, 0.6]), half=5, projected=(30,))
    assert table["seeds per side"].tolist() == [5, 30] and table.measured.tolist() == [True, False]
    assert table.reliability.tolist() == pytest.approx([0.5, 3 / 3.5])
    low, high = spearman_brown(0.4, 6), spearman_brown(0.6, 6)  # the resamples projected, then their quantile
    assert table.low.iloc[1] == pytest.approx(low + 0.025 * (high - low))
