"""The register's A/A check on hand-made populations."""

from types import SimpleNamespace

import numpy as np

from pie_utils.chapters.calibration import a_a_seeds, a_a_table


class Population:
    def __init__(self, predictions):
        self._predictions, self.dataset = predictions, SimpleNamespace(num_classes=2)

    def predictions(self, method, sparsity, split="test"):
        return self._predictions


def test_subsets_take_two_thirds_of_the_seeds_but_at_least_six_and_at_most_all():
    assert [a_a_seeds(s) for s in (4, 6, 9, 10, 30)] == [4, 6, 6, 7, 20]


def test_the_table_counts_rejections_and_says_when_the_test_cannot_reach_alpha():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 2, 300)
    dense = np.where(rng.random((10, 300)) < 0.1, 1 - truth, truth)
    noisier = np.where(rng.random((10, 300)) < 0.3, 1 - truth, truth)
    row = a_a_table(Population(dense), Population(noisier), draws=5, alpha=0.05).iloc[0]
    assert (row.seeds, row.seeds_per_subset, row.rejected, row.rate) == (10, 7, 5, 1.0) and row.can_reach_alpha
    small = a_a_table(Population(dense[:4]), Population(noisier[:4]), draws=5, alpha=0.05).iloc[0]
    assert small.seeds_per_subset == 4 and not small.can_reach_alpha and small.rejected == 0
