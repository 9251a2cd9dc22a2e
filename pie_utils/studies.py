"""Named studies of a profile, as the notebooks use them: train what is missing, read it back.

A profile (``pie_utils/profiles.toml``) holds a main study ``run`` and further studies that
inherit it (``dense_long``, ``bert``, ...), plus an ``analysis`` table. ``train(profile, name)``
validates the study, trains only the runs the store lacks and returns a ``TrainedStudy`` that
hands out population arrays; a study whose runs are all stored costs a few seconds.

With ``PIE_UTILS_NO_TRAIN=1`` in the environment (what ``make book`` sets once
``python -m pie_utils train`` has trained the profile) ``train`` trains nothing: a study with
runs missing raises ``MissingRunsError`` naming them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from pie_utils.config import Study, overlay, profile_parameters, profiles, validate_analysis, validate_study
from pie_utils.errors import ParameterError
from pie_utils.evaluation import TransferEncoding, evaluate_transfer, load_model, transfer_encoding
from pie_utils.models import EncodedSplit
from pie_utils.pies import predictions_from_logits
from pie_utils.pruning import DENSE
from pie_utils.runs import (
    PreparedData,
    open_store,
    population,
    population_array,
    population_runs,
    prepare_data,
    study_table,
)
from pie_utils.store import ResultsStore
from pie_utils.training import train_study

MAIN_STUDY = "run"
# the studies that hold each control of a pruning effect (pie_utils.claims.CONTROLS), in every profile
CONTROL_STUDIES = {"seed_noise": "seed_noise", "extra_training": "dense_long"}
ANALYSIS_SECTION = "analysis"
ROOT_MARKER = "_toc.yml"  # the book's table of contents marks the project root
ROOT_ENV = "PIE_UTILS_ROOT"
NO_TRAIN_ENV = "PIE_UTILS_NO_TRAIN"  # "1": train() reads the store and names missing runs


class MissingRunsError(RuntimeError):
    """A study was read without training (``PIE_UTILS_NO_TRAIN=1``) and the store lacks runs."""


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


def with_studies(profile: str, *names: str) -> list[str]:
    """Those of ``names`` that ``profile`` defines, in the order given (a chapter reads the
    optional studies a profile has; e.g. `default` trains no R52)."""
    defined = set(study_names(profile))
    return [name for name in names if name in defined]


def load_study(profile: str, name: str = MAIN_STUDY, **overrides: Any) -> Study:
    """The validated ``Study`` called ``name`` in ``profile``, with ``overrides`` applied
    (``config.overlay``: another dataset or checkpoint drops the profile's revision of it).

    A relative ``store`` resolves against ``project_root()``.
    """
    if name not in study_names(profile):
        raise ParameterError("study", name, study_names(profile))
    study = validate_study(overlay(profile_parameters(profile, name), overrides))
    store = Path(study.store)
    return study if store.is_absolute() else replace(study, store=str(project_root() / store))


def analysis_parameters(profile: str, **overrides: Any) -> dict[str, Any]:
    """The profile's ``analysis`` table with ``overrides``, checked by ``validate_analysis``.

    A ``None`` override keeps the profile's value, so notebook parameters can default to None.
    Returns the settings as a dict (the chapters read ``settings["alpha"]``).
    """
    chosen = dict(_profile(profile).get(ANALYSIS_SECTION, {}))
    chosen.update({key: value for key, value in overrides.items() if value is not None or key not in chosen})
    return asdict(validate_analysis(chosen))


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
        return open_store(self.study)

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

    def encoded(self, split: str = "test") -> EncodedSplit:
        """The token ids the models read of a split, or of ``transfer`` (every example of the
        study's transfer dataset, at its own token budget)."""
        return self.transfer_encoding.encoded if split == "transfer" else self.prepared.encoded[split]

    def model(self, method: str, sparsity: float, seed: int) -> torch.nn.Module:
        """The trained model of one stored run, loaded from its kept weights, in eval mode.

        Raises ``MissingModelError`` when the run kept none (``keep_models=false``).
        """
        return load_model(self.study, self.prepared, self.store, method, sparsity, seed)

    @cached_property
    def transfer_encoding(self) -> TransferEncoding:
        """The study's transfer dataset encoded for its models (``transfer`` set)."""
        return transfer_encoding(self.prepared)

    def logits(self, method: str, sparsity: float, split: str = "test", array: str | None = None) -> np.ndarray:
        """Population logits ``[seed, example, class]``; ``array`` picks another stored array
        of the same shape (e.g. ``train_logits_epoch1`` of the dense runs). ``split="transfer"``:
        every example of the study's transfer dataset (stored evaluations, computed once)."""
        self._check_cell(method, sparsity)
        if split == "transfer" and array is None:
            population_runs(self.study, self.prepared, self.store, method, sparsity)  # names missing seeds
            return np.stack(
                [
                    evaluate_transfer(
                        self.study, self.prepared, self.store, method, sparsity, seed, self.transfer_encoding
                    )
                    for seed in self.study.seed_range
                ]
            )
        return population_array(self.study, self.prepared, self.store, method, sparsity, array or f"{split}_logits")

    def predictions(self, method: str, sparsity: float, split: str = "test") -> np.ndarray:
        """Per-model predictions ``[seed, example]`` (``[seed, example, class]`` multilabel)."""
        self._check_cell(method, sparsity)
        if split == "transfer":
            logits = self.logits(method, sparsity, split)
            thresholds = population(self.study, self.prepared, self.store, method, sparsity)[1]
        else:
            logits, thresholds = population(self.study, self.prepared, self.store, method, sparsity, split)
        return predictions_from_logits(logits, self.dataset.multilabel, thresholds)

    def _check_cell(self, method: str, sparsity: float) -> None:
        """Refuse a population the study does not hold (it would be read, or scored, ad hoc)."""
        if (method, sparsity) != (DENSE, 0.0) and (method, sparsity) not in self.study.cells:
            raise ParameterError(
                "method, sparsity", f"{method} at {sparsity:g}", [f"{m} at {s:g}" for m, s in self.study.cells]
            )


def train(profile: str, name: str = MAIN_STUDY, progress: bool = True, **overrides: Any) -> TrainedStudy:
    """Train whatever runs of study ``name`` the store lacks and return it ready to read.

    With ``PIE_UTILS_NO_TRAIN=1`` nothing is trained: ``MissingRunsError`` names any run the
    store lacks, and the command that trains them.
    """
    study = load_study(profile, name, **overrides)
    command = f"python -m pie_utils train --profile {profile} --study {name}"
    return train_or_read(study, f"study {name!r} ({profile})", command, progress, overridden=bool(overrides))


def train_or_read(
    study: Study,
    described: str,
    command: str,
    progress: bool = True,
    overridden: bool = False,
    read_only: bool = False,
) -> TrainedStudy:
    """``study`` with its missing runs trained, or read back: with ``read_only``, or with
    ``PIE_UTILS_NO_TRAIN=1``, nothing is trained and ``MissingRunsError`` names what is missing.

    ``described`` names the study and ``command`` trains it, in that error; ``overridden``: its
    parameters differ from its profile's (no command trains it).
    """
    prepared = prepare_data(study)
    if read_only or os.environ.get(NO_TRAIN_ENV) == "1":
        table = study_table(study, prepared, open_store(study))
        missing = table[~table["stored"]]
        if len(missing):
            listed = ", ".join(f"{r.method} {r.sparsity:g} seed {r.seed}" for r in missing.head(8).itertuples())
            if overridden:
                remedy = f"run it without {NO_TRAIN_ENV} (its parameters differ from the profile's)"
            elif open_store(study).manifest is not None:
                remedy = "they are not published yet (make train-published, then make published-store)"
            else:
                remedy = f"train them with `{command}`"
            raise MissingRunsError(
                f"{len(missing)} of {len(table)} runs of {described} are not in {shown_path(study.store)}: "
                f"{listed}{', ...' if len(missing) > 8 else ''}. Nothing was trained; {remedy}"
            )
    else:
        table = train_study(study, progress=progress, prepared=prepared)
    return TrainedStudy(study, prepared, table)


def shown_path(store: str) -> str:
    """A store path as a reader's messages show it: relative to the project where it lies inside."""
    path = Path(store)
    return str(path.relative_to(project_root())) if path.is_relative_to(project_root()) else store


def _profile(profile: str) -> dict[str, Any]:
    every = profiles()
    if profile not in every:
        raise ParameterError("profile", profile, sorted(every))
    return every[profile]
