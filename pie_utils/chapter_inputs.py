"""What a reader gives a chapter as parameters, checked before the chapter reads or trains.

A chapter's parameters cell declares each parameter with a type (``seeds: "Optional[int]" =
None``): ``papermill --help-notebook`` lists them with their types, and the annotations tell the
gate which names are parameters. papermill injects a reader's values as plain assignments, without
annotations, so a plain value (text, number, list, ...) bound to a name the cell never annotated
is a parameter the chapter lacks, and is refused with the declared ones.

Beside ``profile`` and the analysis settings, chapters read their populations through
``ChapterInputs``:

- ``study``: the profile's study read as the main population (``python -m pie_utils profiles``);
- ``dataset`` (a name, or the path of a CSV / Parquet / JSONL file), ``data_path``, ``arch`` and
  ``seeds``: changed in every study the chapter reads, so each control still pairs with the main
  population seed by seed; a new dataset is read whole (the profile's subset was chosen for
  its own data) and without the profile's out-of-distribution transfer;
- ``methods`` and ``sparsities``: the main population's grid (a control is dense).

Each value passes the validation the CLI's does (``pie_utils.config.validate_study``) before
anything trains; runs the store lacks are trained through ``pie_utils.studies.train``, or named
by ``MissingRunsError`` in the no-train mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pie_utils.claims import claim
from pie_utils.config import profile_parameters
from pie_utils.controls import Controls, load_controls
from pie_utils.data import dataset_or_file
from pie_utils.errors import NotApplicableError, ParameterError
from pie_utils.provenance import store_statement
from pie_utils.studies import (
    CONTROL_STUDIES,
    MAIN_STUDY,
    TrainedStudy,
    load_study,
    study_names,
    train,
    with_studies,
)

DATA_PARAMETERS = ("dataset", "data_path", "arch", "seeds")
GRID_PARAMETERS = ("methods", "sparsities")
READ_PARAMETERS = ("profile", "study", *DATA_PARAMETERS, *GRID_PARAMETERS)
# values papermill can inject; IPython's own In/Out history is no parameter
_PLAIN = (str, int, float, bool, list, tuple, dict, type(None))
_SHELL_NAMES = frozenset({"In", "Out"})
# the control whose epochs scale with the main population's (4E of E)
_LONGER = "extra_training"
# set with a new dataset, not by the reader: shown through the dataset itself
_IMPLIED = ("subset", "transfer")


def refuse_unknown(namespace: Mapping[str, Any]) -> None:
    """Raise ``ParameterError`` for a plain value in ``namespace`` (a notebook's ``globals()``
    just after its parameters) whose name the parameters cell does not annotate."""
    declared = set(namespace.get("__annotations__", {}))
    for name, value in namespace.items():
        if name.startswith("_") or name in _SHELL_NAMES or name in declared or not isinstance(value, _PLAIN):
            continue
        raise ParameterError("parameter", name, sorted(declared))


@dataclass(frozen=True)
class ChapterInputs:
    """A chapter's validated choice of populations.

    Attributes:
        profile: the profile whose store and studies are read.
        study: the study read as the main population.
        data: overrides of every study read (dataset, data_path, subset, arch, seeds, transfer).
        grid: overrides of the main population alone (methods, sparsities).
    """

    profile: str
    study: str = MAIN_STUDY
    data: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, Any] = field(default_factory=dict)
    default_study: str = MAIN_STUDY

    @property
    def changed(self) -> dict[str, Any]:
        """What differs from the chapter run as the profile defines it (empty: nothing)."""
        study = {"study": self.study} if self.study != self.default_study else {}
        return study | self.data | self.grid

    def main(self, progress: bool = False) -> TrainedStudy:
        """The main population: ``study`` with every override, trained or read."""
        return train(self.profile, self.study, progress=progress, **self.data, **self.grid)

    def other(self, name: str, progress: bool = False) -> TrainedStudy:
        """Another study of the profile (e.g. ``bert``, ``bilstm_pair``) with the data overrides
        but its own architecture."""
        return train(self.profile, name, progress=progress, **{k: v for k, v in self.data.items() if k != "arch"})

    def statement(self) -> str:
        """Markdown: the store the chapter reads (``store_statement``) and, where a reader changed
        the profile's populations, what was changed."""
        changed = ", ".join(f"`{key}={value!r}`" for key, value in self.changed.items() if key not in _IMPLIED)
        if not changed:
            return store_statement(self.profile)
        return (
            f"{store_statement(self.profile)}\n\n**Changed from profile `{self.profile}`:** {changed}. "
            "The verdicts below judge these populations, not the profile's."
        )

    def controls(self, main: TrainedStudy, progress: bool = False) -> Controls:
        """The controls of ``main``, paired with it seed by seed: the profile's control studies,
        moved onto the chosen study's configuration when it is not the chapter's own."""
        return load_controls(self.profile, main, progress, {kind: self._control(kind) for kind in CONTROL_STUDIES})

    def _control(self, kind: str) -> dict[str, Any]:
        if self.study == MAIN_STUDY:
            return dict(self.data)
        # a control is the main configuration plus what its own table of the profile changes
        name = CONTROL_STUDIES[kind]
        own = profile_parameters(self.profile, name)
        chosen, base = profile_parameters(self.profile, self.study), profile_parameters(self.profile, MAIN_STUDY)
        defining = {key for key in own if own.get(key) != base.get(key)}
        moved = {key: value for key, value in chosen.items() if key not in defining and key != "profile"}
        if kind == _LONGER:
            moved["epochs"] = chosen.get("epochs", base["epochs"]) * own["epochs"] // base["epochs"]
        return moved | self.data


def chapter_inputs(
    namespace: Mapping[str, Any],
    claims: Sequence[str] = (),
    default_study: str = MAIN_STUDY,
    datasets: Mapping[str, str] | None = None,
) -> ChapterInputs:
    """Check a chapter's parameters (its ``globals()``, before the chapter binds anything else)
    and return its choice of populations.

    ``claims``: the register's claims the chapter judges; the main population's grid must keep
    the primary cell (method and sparsity) of each that has one. Every value is validated by the study's gate, and the main study and
    its controls are loaded (not trained), so a bad value fails here, naming the parameter and
    what is allowed. ``datasets``: the only datasets the chapter can analyse, each with why
    (None: any); another raises ``NotApplicableError`` saying so.
    """
    refuse_unknown(namespace)
    profile = namespace.get("profile", "default")
    study = namespace.get("study") or default_study
    if study not in study_names(profile):
        raise ParameterError("study", study, study_names(profile))
    data = {key: namespace[key] for key in DATA_PARAMETERS if namespace.get(key) is not None}
    if "dataset" in data or "data_path" in data:
        dataset, data_path = dataset_or_file(
            data.get("dataset"), data.get("data_path"), lambda name, path: f"dataset={name!r}, data_path={path!r}"
        )
        data |= {"dataset": dataset, "data_path": data_path, "subset": {}, "transfer": None}
        data = {key: value for key, value in data.items() if value is not None or key == "transfer"}
    grid = {key: namespace[key] for key in GRID_PARAMETERS if namespace.get(key) is not None}
    inputs = ChapterInputs(profile, study, data, grid, default_study)
    main = load_study(profile, study, **data, **grid)
    if datasets is not None and main.dataset not in datasets:
        reasons = "; ".join(f"{name}: {why}" for name, why in datasets.items())
        raise NotApplicableError(
            f"this chapter analyses {', '.join(datasets)} only ({reasons}); study {study!r} of profile "
            f"{profile!r} reads {main.dataset}, so the chapter is skipped"
        )
    # a claim with a primary sparsity is judged in the main population; the others in studies of their own
    needs = [(claim(name).primary_method, claim(name).primary_sparsity) for name in claims]
    for method, sparsity in needs:
        if sparsity is not None and (method, sparsity) not in main.cells:
            raise ParameterError(
                "methods, sparsities",
                f"{list(main.methods)} at {list(main.sparsities)}",
                f"a grid that keeps {method} at {sparsity:g} (this chapter's verdict reads it)",
            )
    for kind, name in CONTROL_STUDIES.items():
        if with_studies(profile, name):
            load_study(profile, name, **inputs._control(kind))
    return inputs
