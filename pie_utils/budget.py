"""What a study costs to train, counted from its grid: epochs per seed (the Reproduce page's
GPU estimate multiplies them by tokens per epoch and FLOPs per token).

A study's seed trains its dense run (E epochs) and, per sparsity, each method's run: an AI
method trains E epochs from pruned initial weights; an FT or WR method with ``rounds`` r
branches from the dense checkpoint and trains r·E more. The original strategy retrains the
dense prefix of every branching run (E + r·E each). Counted from each method's ``Schedule``,
never from its name, so a new method is counted as it trains.
"""

from __future__ import annotations

from dataclasses import dataclass

from pie_utils.config import Study
from pie_utils.pruning import get_method


@dataclass(frozen=True)
class EpochCount:
    """Epochs one seed of a study trains, in multiples of E (``ours``: branching runs continue
    the dense checkpoint; ``original``: every run trains from scratch)."""

    ours: int
    original: int


def epochs_per_seed(study: Study) -> EpochCount:
    """Epochs per seed of ``study``'s grid (dense plus every method × sparsity), in units of E."""
    ours = original = 1  # the dense run
    for method, _ in study.cells:
        schedule = get_method(method).schedule
        trained = schedule.rounds if schedule.branches_from_dense else 1
        ours += trained
        original += trained + schedule.branches_from_dense  # the dense prefix, retrained
    return EpochCount(ours, original)
