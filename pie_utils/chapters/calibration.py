"""The claims register's A/A check: does the paired sign-flip test keep its error rate on real runs?

The main study's dense models and their seed-noise retrains (same initial weights, another data
order and dropout) are exchangeable seed by seed, so any difference the test finds between them
is a false positive. ``a_a_table`` runs the chapters' paired contrast on random seed subsets of
the two stored populations and reports the share of subsets the test rejects at α.
"""

from __future__ import annotations

import pandas as pd

from pie_utils.paired import a_a_p_values, smallest_p_value
from pie_utils.pruning import DENSE


def a_a_seeds(seeds: int) -> int:
    """Seeds per A/A subset: two thirds of the population, at least 6 (the fewest with which a
    two-sided sign-flip test can reach 5 %), and never more than it has."""
    return min(seeds, max(6, round(2 * seeds / 3)))


def a_a_table(main, seed_noise, draws: int, alpha: float, split: str = "test") -> pd.DataFrame:
    """One row: seeds, seeds per subset, subsets drawn, whether the test can reach ``alpha`` at
    that size, how many subsets it rejected and their share, beside ``alpha``.

    ``main`` and ``seed_noise``: ``TrainedStudy`` objects of the same seeds and data.
    """
    first, second = main.predictions(DENSE, 0.0, split), seed_noise.predictions(DENSE, 0.0, split)
    size = a_a_seeds(len(first))
    p_values = a_a_p_values(first, second, main.dataset.num_classes, size, draws)
    rejected = int((p_values <= alpha).sum())
    return pd.DataFrame(
        [
            {
                "populations": "dense against its seed-noise retrains",
                "split": split,
                "seeds": len(first),
                "seeds_per_subset": size,
                "subsets": draws,
                "can_reach_alpha": smallest_p_value(size) <= alpha,
                "rejected": rejected,
                "rate": rejected / draws,
                "alpha": alpha,
            }
        ]
    )
