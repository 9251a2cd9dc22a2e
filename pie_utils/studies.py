"""Named studies of a profile, as the notebooks use them: train what is missing, read it back.

A profile (``pie_utils/profiles.toml``) holds a main study ``run`` and further studies that
inherit it (``dense_long``, ``bert``, ...), plus an ``analysis`` table. ``train(profile, name)``
validates the study, trains only the runs the store lacks and returns a ``TrainedStudy`` that
hands out population arrays; a study whose runs are all stored costs a few seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pie_utils.config import Study, profile_parameters, profiles, validate_study
from pie_utils.errors import ParameterError
from pie_utils.pies import predictions_from_logits
from pie_utils.store import ResultsStore
from pie_utils.summary import population
from pie_utils.training import PopulationTrainer, PreparedData, check_device, prepare_data, train_study

MAIN_STUDY = "run"
ANALYSIS_SECTION = "analysis"
ANALYSIS_DEFAULTS: dict[str, Any] = {"n_resamples": 1000, "alpha": 0.05, "el2n_epoch": 1, "n_bins": 20,
                                     "loo_points": 300, "stability_draws": 100, "attribution_seeds": 2,
                                     "attribution_steps": 24, "group_retrains": 0}
ROOT_MARKER = "_toc.yml"  # the book's table of contents marks the project root
ROOT_ENV = "PIE_UTILS_ROOT"


def project_root() -> Path:
    """Where relative store paths resolve: ``$PIE_UTILS_ROOT``, else the nearest folder at or
    above the working directory that holds ``_toc.yml``, else the working directory.

    So a notebook run from ``notebooks/`` and ``make book`` run from the root share one store.
    """
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV])
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / ROOT_MARKER).is_file():
            return folder
    return here


def study_names(profile: str) -> list[str]:
    """The studies of ``profile``: ``run`` first, then the others in file order."""
    tables = _profile(profile)
    return [MAIN_STUDY] + [name for name in tables if name not in (MAIN_STUDY, ANALYSIS_SECTION)]


def load_study(profile: str, name: str = MAIN_STUDY, **overrides: Any) -> Study:
    """The validated ``Study`` called ``name`` in ``profile``, with ``overrides`` applied.

    A relative ``store`` resolves against ``project_root()``.
    """
    if name not in study_names(profile):
        raise ParameterError("study", name, study_names(profile))
    study = validate_study({**profile_parameters(profile, name), **overrides})
    store = Path(study.store)
    return study if store.is_absolute() else replace(study, store=str(project_root() / store))


def analysis_parameters(profile: str, **overrides: Any) -> dict[str, Any]:
    """The profile's ``analysis`` table over ``ANALYSIS_DEFAULTS``, then ``overrides``.

    A ``None`` override keeps the profile's value, so notebook parameters can default to None.
    """
    chosen = {**ANALYSIS_DEFAULTS, **_profile(profile).get(ANALYSIS_SECTION, {})}
    for key, value in overrides.items():
        if key not in ANALYSIS_DEFAULTS:
            raise ParameterError("analysis parameter", key, sorted(ANALYSIS_DEFAULTS))
        if value is not None:
            chosen[key] = value
    for key in sorted(ANALYSIS_DEFAULTS.keys() - {"alpha"}):
        minimum = 0 if key == "group_retrains" else 1  # 0: the slow leave-group-out part is not run
        if isinstance(chosen[key], bool) or not isinstance(chosen[key], int) or chosen[key] < minimum:
            raise ParameterError(key, chosen[key], f"an integer >= {minimum}")
    if not 0 < chosen["alpha"] < 1:
        raise ParameterError("alpha", chosen["alpha"], "a number in (0, 1)")
    return chosen


@dataclass(frozen=True, eq=False)
class TrainedStudy:
    """A study whose runs are all in its store, with its data prepared once.

    Attributes:
        study: the validated study.
        prepared: its dataset (after subsetting), model spec and encodings.
        table: one row per run (method, sparsity, seed, key, metrics, wall time).
    """

    study: Study
    prepared: PreparedData
    table: pd.DataFrame

    @cached_property
    def store(self) -> ResultsStore:
        return ResultsStore(self.study.store, accept_other_versions=self.study.accept_other_versions)

    @property
    def dataset(self):
        return self.prepared.dataset

    def seed_halves(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions on the seed axis of the population arrays, split into a first half A (one
        more when the count is odd) and a second half B: one half selects PIEs, the other
        measures them, so no model grades its own selection."""
        positions = np.arange(self.study.seeds)
        middle = (len(positions) + 1) // 2
        return positions[:middle], positions[middle:]

    def labels(self, split: str = "test") -> np.ndarray:
        """Gold labels ``[example]`` (or ``[example, class]`` bool for multilabel data) of a
        split, or of ``transfer`` (the study's out-of-distribution set)."""
        return self.prepared.split(split).labels

    def texts(self, split: str = "test") -> list[str]:
        return list(self.prepared.split(split).texts)

    def model(self, method: str, sparsity: float, seed: int) -> torch.nn.Module:
        """The trained model of one stored run (``PopulationTrainer.rebuild``), in eval mode.

        Raises ``RuntimeError`` unless its test logits equal the stored run's to 1e-4, so a
        model that is not the one the chapters measured is never used.
        """
        device = check_device(self.study)
        torch.set_num_threads(self.study.training.threads)
        trainer = PopulationTrainer(self.study, self.prepared, self.store, device)
        model = trainer.rebuild(method, sparsity, seed)
        stored = self.store.read(trainer.key(method, sparsity, seed)).arrays["test_logits"]
        gap = float(np.abs(trainer.logits(model, "test") - stored).max())
        if gap > 1e-4:
            raise RuntimeError(f"{method} sparsity={sparsity} seed={seed}: the rebuilt model's test logits differ "
                               f"from the stored run's by up to {gap:.2g} (another thread count or library version?)")
        return model.eval()

    def logits(self, method: str, sparsity: float, split: str = "test", array: str | None = None) -> np.ndarray:
        """Population logits ``[seed, example, class]``; ``array`` picks another stored array
        of the same shape (e.g. ``train_logits_epoch1`` of the dense runs)."""
        if array is None:
            return population(self.study, self.prepared, self.store, method, sparsity, split)[0]
        runs = self.table[(self.table.method == method) & (self.table.sparsity == sparsity)]
        return np.stack([self.store.read(key).arrays[array] for key in runs.key])

    def predictions(self, method: str, sparsity: float, split: str = "test") -> np.ndarray:
        """Per-model predictions ``[seed, example]`` (``[seed, example, class]`` multilabel)."""
        logits, thresholds = population(self.study, self.prepared, self.store, method, sparsity, split)
        return predictions_from_logits(logits, self.dataset.multilabel, thresholds)


def train(profile: str, name: str = MAIN_STUDY, progress: bool = True, **overrides: Any) -> TrainedStudy:
    """Train whatever runs of study ``name`` the store lacks and return it ready to read."""
    study = load_study(profile, name, **overrides)
    prepared = prepare_data(study)
    table = train_study(study, progress=progress, prepared=prepared)
    return TrainedStudy(study, prepared, table)


def _profile(profile: str) -> dict[str, Any]:
    every = profiles()
    if profile not in every:
        raise ParameterError("profile", profile, sorted(every))
    return every[profile]
