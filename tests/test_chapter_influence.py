"""Chapter 4's statistics on arrays whose answers can be worked by hand."""

import numpy as np
import pytest

from pie_utils.chapters.influence import loss_ratio_by_bin, top_el2n_masks
from pie_utils.errors import ParameterError
from pie_utils.influence import per_example_loss


def _logits(margins):
    """[seed, example, 2] logits with the gold class 0 ahead by ``margins[seed][example]``."""
    margins = np.asarray(margins, float)
    return np.stack([margins, np.zeros_like(margins)], axis=2)


def test_the_top_el2n_points_of_seed_s_are_chosen_without_seed_s():
    labels = np.zeros(4, int)
    early = _logits([[5, -10, 0, 5], [5, 5, 0, 5], [5, 5, 0, 5]])
    # without seed 0 the least certain point is example 2 (p = 0.5 in both other seeds); without
    # seed 1 or 2, example 1 (EL2N 1.414 in seed 0 and 0.009 elsewhere: mean 0.712 > 0.707)
    masks = top_el2n_masks(early, labels, fraction=0.25)
    assert masks.tolist() == [[False, False, True, False], [False, True, False, False], [False, True, False, False]]
    with pytest.raises(ParameterError, match="fraction"):
        top_el2n_masks(early, labels, fraction=1.0)


def test_the_loss_ratio_is_paired_by_seed_within_each_bin():
    labels = np.zeros(4, int)
    early = _logits([[4, 3, 0, -1]] * 3)  # EL2N rises along the examples: bins {0, 1} and {2, 3}
    dense = _logits([[2, 2, 1, 1]] * 3)
    pruned = _logits([[2, 2, 0, 0], [2, 2, 1, 1], [2, 2, 0.5, 0.5]])
    table = loss_ratio_by_bin(early, dense, pruned, labels, n_bins=2)
    assert table.loss_ratio.iloc[0] == pytest.approx(1.0) and table.low.iloc[0] == pytest.approx(1.0)
    dense_loss, pruned_loss = per_example_loss(dense, labels), per_example_loss(pruned, labels)
    ratios = pruned_loss[:, 2:].mean(axis=1) / dense_loss[:, 2:].mean(axis=1)
    assert table.loss_ratio.iloc[1] == pytest.approx(ratios.mean()) and ratios[1] == pytest.approx(1.0)
    assert table.low.iloc[1] < table.loss_ratio.iloc[1] < table.high.iloc[1]
