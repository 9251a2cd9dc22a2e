"""Leave-group-out retraining: dense runs of the main study trained again without a group of
training points, the top EL2N decile or a random decile of the same size (chapter 6).

These are *derived* studies: which points a group holds is a function of stored runs (EL2N of
the dense models of half A), so no profile can name them before those runs exist.
``group_studies(main, ...)`` builds them from a stored main study; ``python -m pie_utils
train`` trains them in a second phase, once the main study is stored
(``derived_studies``), so ``make book`` reads them back like any other study. Their runs are
on the seeds of half B, which took no part in choosing the groups.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pie_utils.config import Study
from pie_utils.errors import ParameterError
from pie_utils.influence import el2n_scores
from pie_utils.pruning import DENSE
from pie_utils.studies import (
    MAIN_STUDY,
    MissingRunsError,
    TrainedStudy,
    analysis_parameters,
    load_study,
    study_names,
    train_or_read,
)

TOP_EL2N = "top EL2N decile"
RANDOM = "random decile"
GROUP_STUDIES = {TOP_EL2N: "without_top_el2n", RANDOM: "without_random_decile"}  # group → its study's name
GROUP_FRACTION = 10  # each group holds 1/10 of the training split
RANDOM_GROUP_SEED = 0  # the random decile's draw: fixed, so its runs have one key


def half_a_el2n(main: TrainedStudy, el2n_epoch: int) -> np.ndarray:
    """EL2N ``[train example]`` from the dense models of half A after ``el2n_epoch`` epochs."""
    half_a, _ = main.seed_halves()
    early = main.logits(DENSE, 0.0, split="train", array=f"train_logits_epoch{el2n_epoch}")
    return el2n_scores(early[half_a], main.labels("train"))


def left_out_groups(el2n: np.ndarray) -> dict[str, tuple[int, ...]]:
    """The two groups of training positions, sorted: the top decile by ``el2n`` [train example]
    (ties broken by position) and a seeded random decile of the same size."""
    n_train = len(el2n)
    size = max(1, n_train // GROUP_FRACTION)
    top = np.argsort(el2n, kind="stable")[-size:]
    drawn = np.random.default_rng(RANDOM_GROUP_SEED).choice(n_train, size, replace=False)
    return {TOP_EL2N: tuple(sorted(int(p) for p in top)), RANDOM: tuple(sorted(int(p) for p in drawn))}


def group_studies(main: TrainedStudy, el2n_epoch: int, retrains: int, store: str | None = None) -> dict[str, Study]:
    """Per group, the dense study of ``main``'s configuration without it, on the first
    ``retrains`` seeds of half B (``store``: where; None: ``main``'s store). They store no
    per-epoch training-split logits: chapter 6 reads their test logits only.

    Raises ``ParameterError`` when ``retrains`` is not in 1..(seeds of half B).
    """
    _, half_b = main.seed_halves()
    if not 1 <= retrains <= len(half_b):
        raise ParameterError("group_retrains", retrains, f"0 (skipped) or 1..{len(half_b)} (the seeds of half B)")
    groups = left_out_groups(half_a_el2n(main, el2n_epoch))
    first = main.study.seed_range[half_b[0]]
    dense = replace(
        main.study,
        methods=(),
        sparsities=(),
        first_seed=first,
        seeds=retrains,
        store=store or main.study.store,
        training=replace(main.study.training, train_logit_epochs=()),
    )
    return {name: replace(dense, left_out=positions) for name, positions in groups.items()}


def train_groups(main: TrainedStudy, studies: dict[str, Study], progress: bool = True) -> dict[str, TrainedStudy]:
    """``main``'s group studies (``group_studies``) trained, or with ``PIE_UTILS_NO_TRAIN=1``
    read back, by group."""
    profile = main.study.profile
    # `train --profile` trains the profile's own groups only: not those of changed parameters
    overridden = main.study != load_study(profile, MAIN_STUDY) or any(
        study.store != main.study.store for study in studies.values()
    )
    return {
        name: train_or_read(
            study,
            f"the leave-group-out study without the {name} ({profile})",
            f"python -m pie_utils train --profile {profile}",
            progress,
            overridden,
        )
        for name, study in studies.items()
    }


def derived_studies(profile: str, store: str | None = None) -> dict[str, Study]:
    """The derived studies of ``profile`` by name (``GROUP_STUDIES``; none when its
    ``group_retrains`` is 0), built from its main study's stored dense runs in ``store`` (None:
    the profile's). Raises ``MissingRunsError`` when those runs are not all stored."""
    settings = analysis_parameters(profile)
    if settings["group_retrains"] == 0:
        return {}
    # the dense population alone: the groups need only half A's dense runs stored
    main_study = load_study(profile, MAIN_STUDY, methods=[], sparsities=[], **({"store": store} if store else {}))
    main = train_or_read(
        main_study,
        f"study {MAIN_STUDY!r} ({profile})",
        f"python -m pie_utils train --profile {profile}",
        read_only=True,
    )
    groups = group_studies(main, settings["el2n_epoch"], settings["group_retrains"])
    return {GROUP_STUDIES[group]: study for group, study in groups.items()}


def profile_studies(profile: str, derived_from: str | None = None) -> dict[str, Study]:
    """Every study of ``profile`` by name: its named studies, then its derived ones once the
    runs they derive from are stored in ``derived_from`` (None: the profile's store; before
    that they cannot be named)."""
    studies = {name: load_study(profile, name) for name in study_names(profile)}
    try:
        derived = derived_studies(profile, derived_from)
    except MissingRunsError:
        return studies
    store = studies[MAIN_STUDY].store  # where they belong, whichever store named them
    return studies | {name: replace(study, store=store) for name, study in derived.items()}
