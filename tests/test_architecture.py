"""The imports of pie_utils run one way, in the layers the README draws, and a new pruning method
is one table entry plus its score function.

The import graph is read from the source (every ``import`` and ``from ... import``, including
those inside functions), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pie_utils"

# Lowest first. A module may import modules of its own layer or of layers below it, never above.
LAYERS = (
    ("foundation", {"pie_utils", "pie_utils.errors", "pie_utils.assets"}),
    ("data, models, pruning", {"pie_utils.data", "pie_utils.models", "pie_utils.pruning", "pie_utils.metrics"}),
    ("configuration", {"pie_utils.config"}),
    (
        "runs and their store",
        {
            "pie_utils.manifest",
            "pie_utils.store",
            "pie_utils.training_log",
            "pie_utils.runs",
            "pie_utils.devices",
            "pie_utils.evaluation",
        },
    ),
    (
        "analyses",
        {
            "pie_utils.budget",
            "pie_utils.claims",
            "pie_utils.effects",
            "pie_utils.pies",
            "pie_utils.stats",
            "pie_utils.paired",
            "pie_utils.intervals",
            "pie_utils.influence",
            "pie_utils.influence_truth",
            "pie_utils.hardness",
            "pie_utils.human",
            "pie_utils.stability",
            "pie_utils.attributions",
            "pie_utils.summary",
            "pie_utils.plots",
        },
    ),
    (
        "training",
        {
            "pie_utils.training",
            "pie_utils.stacked_training",
            "pie_utils.restoring",
            "pie_utils.pool",
            "pie_utils.cluster",
            "pie_utils.stacking",
            "pie_utils.wide_lstm",
        },
    ),
    (
        "studies and the command line",
        {
            "pie_utils.studies",
            "pie_utils.leave_group_out",
            "pie_utils.housekeeping",
            "pie_utils.provenance",
            "pie_utils.scales",
            "pie_utils.publication",
            "pie_utils.merge",
            "pie_utils.pausing",
            "pie_utils.verification",
            "pie_utils.prefetch",
            "pie_utils.cli",
            "pie_utils.__main__",
        },
    ),
    ("the chapters' computations", {"pie_utils.controls", "pie_utils.chapter_inputs", "pie_utils.chapters"}),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(name: str, source: str | None = None) -> set[str]:
    """The pie_utils modules ``name`` imports anywhere in its source (``from X import y``
    counts as X.y when X.y is a module, else as X)."""
    tree = ast.parse(MODULES[name].read_text() if source is None else source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imported_modules(name) for name in MODULES}


def layer_of(name: str) -> int:
    """Index in ``LAYERS`` of the module or of the package that holds it."""
    for index, (_, members) in enumerate(LAYERS):
        if any(name == member or name.startswith(member + ".") for member in members if member != "pie_utils"):
            return index
    if name == "pie_utils":
        return 0
    raise AssertionError(f"{name} belongs to no layer of LAYERS: add it where its imports put it")


def test_every_module_has_a_layer_and_imports_only_its_own_layer_or_lower():
    wrong = [
        (name, imported, LAYERS[layer_of(imported)][0])
        for name, imports in GRAPH.items()
        for imported in imports
        if layer_of(imported) > layer_of(name)
    ]
    assert not wrong, f"imports running back up the layers (module, imported, its layer): {wrong}"


def test_the_import_graph_has_no_cycles():
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for imported in sorted(GRAPH[name]):
            if state.get(imported) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(imported) :] + [imported]))
            if imported not in state:
                visit(imported, path + [imported])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def test_no_analysis_module_reaches_the_trainer_even_indirectly():
    trainer = {"pie_utils.training", "pie_utils.studies", "pie_utils.cli"}
    analyses = next(members for title, members in LAYERS if title == "analyses")
    for name in analyses:
        seen, frontier = set(), [name]
        while frontier:
            for imported in GRAPH[frontier.pop()] - seen:
                seen.add(imported)
                frontier.append(imported)
        assert not seen & trainer, (name, seen & trainer)


def test_the_checker_sees_imports_inside_functions_and_submodules_named_in_from_imports():
    source = "def f():\n    from pie_utils.training import train_study\nfrom pie_utils import plots\nimport numpy\n"
    assert imported_modules("pie_utils.pies", source) == {"pie_utils.training", "pie_utils.plots"}
    assert layer_of("pie_utils.training") > layer_of("pie_utils.pies")  # so that import would be refused


def test_a_new_pruning_method_is_one_entry_plus_its_score(tmp_path, monkeypatch):
    """A scratch method (prune the weights of largest magnitude first, fine-tuned) is added with
    one ``SCORES`` entry and one ``METHODS`` entry, as CONTRIBUTING.md says, and trains end to
    end through the unchanged trainer, config and store."""
    from pie_utils import pruning
    from pie_utils.config import validate_study
    from pie_utils.runs import prepare_data, study_key
    from pie_utils.store import ResultsStore
    from pie_utils.training import train_study

    largest_first = pruning.Score(
        "largest-first",
        lambda model, inputs: {  # non-negative, as scores must be: the smallest weight scores highest
            name: weight.detach().abs().max() - weight.detach().abs()
            for name, weight in pruning.prunable_weights(model).items()
        },
    )
    monkeypatch.setitem(pruning.SCORES, largest_first.name, largest_first)
    monkeypatch.setitem(
        pruning.METHODS, "LMP-FT", pruning.PruningMethod("LMP-FT", largest_first, pruning.SCHEDULES["FT"])
    )

    study = validate_study(
        {
            "dataset": "rotten-tomatoes",
            "arch": "bilstm",
            "methods": ["LMP-FT", "IMP-FT"],
            "sparsities": [0.5],
            "seeds": 1,
            "epochs": 1,
            "batch_size": 32,
            "threads": 1,
            "device": "cpu",
            "store": str(tmp_path),
            "subset": {"n_train": 60, "n_validation": 20, "n_test": 20, "seed": 0},
        }
    )
    table = train_study(study, progress=False)
    assert table.stored.all() and set(table.method) == {"dense", "LMP-FT", "IMP-FT"}
    prepared, store = prepare_data(study), ResultsStore(tmp_path)
    ours, magnitude = (store.read(study_key(study, prepared, m, 0.5, 0)) for m in ("LMP-FT", "IMP-FT"))
    assert ours.meta["realised_sparsity"]["overall"] == pytest.approx(0.5, abs=1e-3)
    assert not np.array_equal(ours.arrays["test_logits"], magnitude.arrays["test_logits"])  # its own score ran
