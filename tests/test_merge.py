"""Merging per-node stores: the union of disjoint stores, identical records taken once, conflicts
and damage refused before anything is written, an interrupted merge finished by a rerun, the
command line and bad input.

Three small real stores are trained once for the module (``ci``'s main study, tiny): node A
holds seed 0 (dense and IMP-FT 50 %) and the dense run's evaluation on movie-reviews, node B
seed 1, and node C seed 0 again, trained apart from A (same arrays and models, other wall
times). Each test merges copies of them.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from pie_utils.cli import main
from pie_utils.errors import ParameterError
from pie_utils.merge import MergeError, merge_stores
from pie_utils.pool import train_studies
from pie_utils.store import ARRAYS_FILE, EVALUATIONS, META_FILE, MODEL_FILE, RUNS, ResultsStore
from pie_utils.studies import load_study

TINY = {
    "seeds": 1,
    "subset": {"n_train": 120, "n_validation": 40, "n_test": 40, "seed": 0},
    "epochs": 1,
    "threads": 1,
    "methods": ["IMP-FT"],
    "sparsities": [0.5],
}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory) -> dict[str, Path]:
    """Node name → its trained store (read-only for the tests: copy before changing one)."""
    root = tmp_path_factory.mktemp("nodes")
    plans = {
        "a": [{"first_seed": 0}, {"first_seed": 0, "methods": [], "sparsities": [], "transfer": "movie-reviews"}],
        "b": [{"first_seed": 1}],
        "c": [{"first_seed": 0}],
    }
    for name, studies in plans.items():
        store = str(root / name)
        train_studies(
            [load_study("ci", "run", store=store, **{**TINY, **s}) for s in studies], workers=1, progress=False
        )
    return {name: root / name for name in plans}


def records(root: Path) -> dict[tuple[str, str], Path]:
    """(kind, key) → record folder, of every record in the store at ``root``."""
    store = ResultsStore(root)
    return {(kind, key): store.run_dir(key, kind) for kind in (RUNS, EVALUATIONS) for key in store.keys(kind)}


def listing(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def copy(source: Path, tmp_path: Path, name: str) -> Path:
    return Path(shutil.copytree(source, tmp_path / name))


def test_disjoint_stores_merge_into_their_union_each_record_verified_and_bitwise_equal(nodes, tmp_path):
    target = tmp_path / "merged"
    report = merge_stores([nodes["a"], nodes["b"]], target)
    sources = {**records(nodes["a"]), **records(nodes["b"])}
    assert len(sources) == 5 and sum(kind == EVALUATIONS for kind, _ in sources) == 1
    assert set(records(target)) == set(sources) == set(report.copied) and not report.present
    assert [(c.records, c.copied, c.present) for c in report.sources.values()] == [(3, 3, 0), (2, 2, 0)]
    store = ResultsStore(target)
    for (kind, key), folder in sources.items():
        assert store.read(key, kind) is not None
        assert listing(store.run_dir(key, kind)) == listing(folder)  # arrays, meta.json and the model
    assert all((folder / MODEL_FILE).is_file() for (kind, _), folder in records(target).items() if kind == RUNS)
    assert not (target / "checkpoints").exists() and not (target / "locks").exists()
    log = (target / "training.log").read_text().splitlines()
    for node in ("a", "b"):
        assert set((nodes[node] / "training.log").read_text().splitlines()) <= set(log)
    assert sum(line.split()[2] == "merge" for line in log) == 5

    before = listing(target)
    again = merge_stores([nodes["a"], nodes["b"]], target)
    assert not again.copied and again.present == set(sources) and again.log_lines == 0
    assert listing(target) == before


def test_identical_records_of_two_nodes_are_taken_once_the_first_copy_kept(nodes, tmp_path):
    seed_0 = records(nodes["c"])
    assert all(
        listing(folder)[META_FILE] != listing(records(nodes["a"])[record])[META_FILE]
        for record, folder in seed_0.items()
    )
    target = tmp_path / "merged"
    report = merge_stores([nodes["a"], nodes["c"], nodes["b"]], target)
    assert len(report.copied) == 5 and report.present == set(seed_0)
    assert report.sources[nodes["c"].resolve()].present == 2 and report.sources[nodes["c"].resolve()].copied == 0
    for record in seed_0:  # A's copy, wall time included
        assert listing(records(target)[record]) == listing(records(nodes["a"])[record])

    into_a = copy(nodes["a"], tmp_path, "a")  # a target that already holds them
    assert not merge_stores([nodes["c"]], into_a).copied


def _rewrite(root: Path, kind: str, key: str, change) -> None:
    """Rewrite one record with ``change(files, meta)`` applied, hashes updated so that it verifies."""
    store = ResultsStore(root, accept_other_versions=True)  # so a changed versions field reads back
    files, meta = store.verified_files(key, kind)
    change(files, meta)
    shutil.rmtree(store.run_dir(key, kind))
    assert store.commit(key, files, meta, kind) and store.read(key, kind) is not None


def _other_logits(files: dict, meta: dict) -> None:
    with np.load(io.BytesIO(files[ARRAYS_FILE])) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["test_logits"] = arrays["test_logits"] + 1.0
    payload = io.BytesIO()
    np.savez(payload, **arrays)
    files[ARRAYS_FILE] = payload.getvalue()
    meta["arrays_sha256"] = hashlib.sha256(files[ARRAYS_FILE]).hexdigest()


@pytest.mark.parametrize(
    "change, differs",
    [
        (_other_logits, ARRAYS_FILE),
        (lambda files, meta: meta["history"][0].update(train_loss=0.0), f"{META_FILE} (history)"),
        (lambda files, meta: meta.update(versions={"torch": "0.0"}, device="cuda:1"), None),  # provenance
    ],
    ids=["arrays", "history", "provenance"],
)
def test_a_record_that_differs_from_another_of_its_key_is_a_conflict_unless_only_in_provenance(
    nodes, tmp_path, change, differs
):
    other = copy(nodes["c"], tmp_path, "c")
    key = ResultsStore(other).keys(RUNS)[-1]
    _rewrite(other, RUNS, key, change)
    target = copy(nodes["b"], tmp_path, "target")
    before = listing(target)
    if differs is None:
        assert (RUNS, key) in merge_stores([nodes["a"], other], target).present
        return
    with pytest.raises(MergeError, match="nothing was written") as refused:
        merge_stores([nodes["a"], other], target)
    assert f"runs {key}: {differs} differs between source {nodes['a'].resolve()} and source {other}" in str(
        refused.value
    )
    assert listing(target) == before


@pytest.mark.parametrize("name", [ARRAYS_FILE, MODEL_FILE])
def test_a_tampered_file_is_refused_naming_it_and_nothing_is_written(nodes, tmp_path, name):
    tampered = copy(nodes["a"], tmp_path, "a")
    key = ResultsStore(tampered).keys(RUNS)[0]
    path = ResultsStore(tampered).run_dir(key) / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    target = tmp_path / "merged"
    with pytest.raises(MergeError) as refused:
        merge_stores([nodes["b"], tampered], target)
    assert f"runs {key} of source {tampered} is damaged: {path}: sha256 does not match" in str(refused.value)
    assert not target.exists() and path.read_bytes() == bytes(data)  # nothing moved aside either


def test_an_interrupted_merge_leaves_a_valid_target_and_a_rerun_finishes_it(nodes, tmp_path, monkeypatch):
    commit, done = ResultsStore.commit, []

    def stopped_after_two(store, *arguments):
        if len(done) == 2:
            raise KeyboardInterrupt  # the process is stopped between two records
        done.append(arguments[0])
        return commit(store, *arguments)

    monkeypatch.setattr(ResultsStore, "commit", stopped_after_two)
    target = tmp_path / "merged"
    with pytest.raises(KeyboardInterrupt):
        merge_stores([nodes["a"], nodes["b"]], target)
    store = ResultsStore(target)
    assert sorted(key for _, key in records(target)) == sorted(done)
    assert all(store.read(key, kind) is not None for kind, key in records(target))
    monkeypatch.undo()
    report = merge_stores([nodes["a"], nodes["b"]], target)
    assert len(report.copied) == 3 and len(report.present) == 2
    assert {record: listing(folder) for record, folder in records(target).items()} == {
        record: listing(folder) for node in ("a", "b") for record, folder in records(nodes[node]).items()
    }


def test_the_command_line_merges_with_a_dry_run_first_and_exits_1_on_a_conflict(nodes, tmp_path, capsys):
    target = tmp_path / "merged"
    merge = ["store", "merge", "--source", str(nodes["a"]), str(nodes["b"]), "--target", str(target)]
    assert main([*merge, "--dry-run"]) == 0
    assert "would copy 5 records, 0 already present" in capsys.readouterr().out and not target.exists()
    assert main(merge) == 0
    assert f"{target}: copied 5 records, 0 already present" in capsys.readouterr().out
    assert len(records(target)) == 5

    other = copy(nodes["c"], tmp_path, "c")
    key = ResultsStore(other).keys(RUNS)[0]
    _rewrite(other, RUNS, key, _other_logits)
    before = listing(target)
    assert main(["store", "merge", "--source", str(other), "--target", str(target)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: merge into") and f"runs {key}: {ARRAYS_FILE} differs" in error
    assert listing(target) == before
    assert main(["store", "merge", "--source", str(other), str(other), "--target", str(target)]) == 2
    assert "invalid source=" in capsys.readouterr().err


@pytest.mark.parametrize(
    "sources, target, parameter",
    [
        (lambda n, t: [t / "absent"], lambda n, t: t / "merged", "source"),
        (lambda n, t: [n["a"], t], lambda n, t: t / "merged", "source"),  # a folder that is no store
        (lambda n, t: [n["a"], n["b"], n["a"]], lambda n, t: t / "merged", "source"),
        (lambda n, t: [n["a"], n["b"]], lambda n, t: n["b"] / "merged", "target"),
        (lambda n, t: [n["a"], n["b"]], lambda n, t: n["a"], "target"),
        (lambda n, t: [n["a"]], lambda n, t: Path(__file__).parent, "target"),  # neither empty nor a store
        (lambda n, t: [], lambda n, t: t / "merged", "source"),
    ],
    ids=["absent", "not-a-store", "twice", "inside-a-source", "a-source", "not-a-store-target", "none"],
)
def test_bad_input_is_refused_naming_the_parameter_before_any_work(nodes, tmp_path, sources, target, parameter):
    chosen = target(nodes, tmp_path)
    before = listing(nodes["a"]), listing(nodes["b"])
    with pytest.raises(ParameterError, match=f"invalid {parameter}=.*; allowed: ") as refused:
        merge_stores(sources(nodes, tmp_path), chosen)
    assert refused.value.parameter == parameter
    assert (listing(nodes["a"]), listing(nodes["b"])) == before and not (tmp_path / "merged").exists()
