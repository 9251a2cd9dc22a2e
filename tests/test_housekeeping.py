"""Housekeeping of a results store: what the profiles refer to, the status, and gc.

The gc tests build a small store by hand (records written through ``ResultsStore.write``) and a
``References`` naming which of its keys are referenced, so they need no profile data; the last
test computes the real references of the ``ci`` profile.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import pie_utils
from pie_utils.assets import cache_dir
from pie_utils.errors import ParameterError
from pie_utils.evaluation import evaluation_key, transfer_encoding
from pie_utils.housekeeping import (
    DERIVED,
    References,
    StoreReferences,
    collect,
    garbage,
    referenced,
    status_report,
    store_status,
)
from pie_utils.leave_group_out import derived_studies
from pie_utils.pruning import DENSE
from pie_utils.runs import prepare_data, study_key, study_runs
from pie_utils.store import EVALUATIONS, FORMAT_VERSION, RUNS, ResultsStore
from pie_utils.studies import ROOT_ENV, load_study, train

TWO_HOURS_S = 2 * 3600
CORRUPT_NAME = "damaged.20240101T000000.abc123"


def _write(store: ResultsStore, key: str, kind: str = RUNS, model: bool = False) -> None:
    assert store.write(
        key,
        {"name": key},
        {"test_logits": np.arange(6, dtype=np.float32).reshape(3, 2)},
        {"test_accuracy": 0.5},
        {"wall_time_s": 1.0, **({"run_key": "kept-run"} if kind == EVALUATIONS else {})},
        model_state={"weight": torch.ones(4)} if model else None,
        kind=kind,
    )


def _folder_with_a_file(folder: Path, age_s: float = 0.0) -> Path:
    folder.mkdir(parents=True)
    (folder / "arrays.npz").write_bytes(b"x" * 100)
    stamp = time.time() - age_s
    for path in (folder / "arrays.npz", folder):
        os.utime(path, (stamp, stamp))
    return folder


def _bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.fixture
def store(tmp_path) -> ResultsStore:
    """A kept and an orphaned run (each with a model, a checkpoint and a lock), evaluation, a lock
    of a key with no record, a stale and a fresh tmp/ entry, a corrupt/ entry and the log."""
    store = ResultsStore(tmp_path / "store")
    for key in ("kept-run", "orphan-run"):
        _write(store, key, model=True)
        store.save_checkpoint(key, {"weights": torch.zeros(3)})
        with store.claim(key):  # leaves locks/<key>.lock behind, as training does
            pass
    _write(store, "kept-eval", kind=EVALUATIONS)
    _write(store, "orphan-eval", kind=EVALUATIONS)
    (store.root / "locks" / "orphan-lock.lock").touch()
    _folder_with_a_file(store.root / "tmp" / "stale.0123", age_s=TWO_HOURS_S)
    _folder_with_a_file(store.root / "tmp" / "fresh.4567")
    _folder_with_a_file(store.root / "corrupt" / CORRUPT_NAME)
    store.log("finished", "kept-run", "a test run")
    return store


@pytest.fixture
def refs(store) -> References:
    return References(
        {store.root: StoreReferences(frozenset({"kept-run"}), frozenset({"kept-eval"}), frozenset({"kept-run"}))}
    )


def _orphans(root: Path) -> list[Path]:
    return sorted(
        [
            root / "runs" / "orphan-run",
            root / "evaluations" / "orphan-eval",
            root / "checkpoints" / "orphan-run.pt",
            root / "locks" / "orphan-run.lock",
            root / "locks" / "orphan-lock.lock",
            root / "tmp" / "stale.0123",
            root / "corrupt" / CORRUPT_NAME,
        ]
    )


def _assert_referenced_intact(store: ResultsStore) -> None:
    assert store.read("kept-run").metrics == {"test_accuracy": 0.5}
    assert torch.equal(store.read_model("kept-run")["weight"], torch.ones(4))
    assert store.read("kept-eval", kind=EVALUATIONS).meta["run_key"] == "kept-run"
    assert torch.equal(store.load_checkpoint("kept-run")["weights"], torch.zeros(3))
    assert (store.root / "locks" / "kept-run.lock").is_file()
    assert (store.root / "tmp" / "fresh.4567").is_dir()
    assert (store.root / "training.log").is_file()


def test_garbage_lists_exactly_the_orphans(store, refs):
    assert garbage(store.root, refs) == _orphans(store.root)


def test_dry_run_removes_nothing_and_counts_the_orphans_bytes(store, refs):
    before = sorted(store.root.rglob("*"))
    paths, size = collect(store.root, refs)
    assert paths == _orphans(store.root)
    assert size == sum(_bytes(path) for path in _orphans(store.root))
    assert size > 0
    assert sorted(store.root.rglob("*")) == before


def test_collect_removes_the_orphans_and_keeps_what_is_referenced(store, refs):
    orphans = _orphans(store.root)
    expected_size = sum(_bytes(path) for path in orphans)
    paths, size = collect(store.root, refs, dry_run=False)
    assert (paths, size) == (orphans, expected_size)
    assert not any(path.exists() for path in orphans)
    _assert_referenced_intact(store)
    assert garbage(store.root, refs) == []  # and the claims it took left no lock behind


def test_a_held_claim_protects_an_orphan(store, refs):
    claim = store.claim("orphan-run")
    claim.acquire()  # a live process working on this key
    try:
        paths, _ = collect(store.root, refs, dry_run=False)
    finally:
        claim.release()
    held = [store.root / "runs" / "orphan-run", store.root / "checkpoints" / "orphan-run.pt"]
    held.append(store.root / "locks" / "orphan-run.lock")
    assert paths == [path for path in _orphans(store.root) if path not in held]
    assert all(path.exists() for path in held)
    assert store.read("orphan-run") is not None
    assert not (store.root / "evaluations" / "orphan-eval").exists()


def test_a_store_an_unavailable_profile_uses_is_refused(store, refs):
    unavailable = {"full": "1 of 7 studies cannot compute their keys; run: AssetError: no hub here"}
    for roots in (frozenset({store.root}), None):  # None: its stores are unknown, so every store is protected
        protected = References(refs.stores, unavailable, {"full": roots})
        with pytest.raises(ParameterError, match="profile full is unavailable here.*no hub here"):
            garbage(store.root, protected)
        with pytest.raises(ParameterError, match="store="):
            collect(store.root, protected, dry_run=False)
    assert all(path.exists() for path in _orphans(store.root))
    elsewhere = References(refs.stores, unavailable, {"full": frozenset({store.root.parent / "other"})})
    assert garbage(store.root, elsewhere) == _orphans(store.root)


def test_a_store_no_profile_refers_to_is_refused(store):
    with pytest.raises(ParameterError, match="a store a profile refers to"):
        garbage(store.root, References({store.root.parent / "other": StoreReferences(frozenset({"a"}))}))


def test_status_counts_and_sizes_each_kind(store, refs):
    status = store_status(store.root, refs)
    model = _bytes(store.root / "runs" / "kept-run" / "model.pt")
    table = status.table()
    assert table.loc["runs"].tolist() == [
        1,
        _bytes(store.root / "runs" / "kept-run"),
        1,
        _bytes(store.root / "runs" / "orphan-run"),
    ]
    assert table.loc["models"].tolist() == [1, model, 1, model]
    assert table.loc["evaluations", "orphaned"] == 1
    assert table.loc["checkpoints"].tolist()[::2] == [1, 1]
    assert table.loc["locks"].tolist()[::2] == [1, 2]
    assert table.loc["tmp"].tolist() == [1, 100, 1, 100]
    assert table.loc["corrupt"].tolist() == [0, 0, 1, 100]
    assert status.format_versions == {str(FORMAT_VERSION): 4}
    assert status.pie_utils_versions == {pie_utils.__version__: 4}
    paths, size = collect(store.root, refs)
    assert (status.orphaned_entries, status.orphaned_bytes) == (len(paths), size)  # models counted once, in runs
    report = status_report(store.root, refs)
    assert str(store.root) in report and f"{pie_utils.__version__} ×4" in report
    assert "refuses" not in report


def test_referenced_keys_of_the_ci_profile(tmp_path, monkeypatch):
    """With its store empty (a fresh clone) the ci profile refers to every key of its studies, and
    is unavailable only for its derived studies, whose groups need the main study's dense runs."""
    if not (cache_dir() / "assets").is_dir():
        pytest.skip(f"no asset cache at {cache_dir()}: the ci profile's data and GloVe vectors are needed")
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    refs = referenced(["ci"])
    assert refs.unavailable["ci"].startswith(f"its {DERIVED} cannot compute their keys: MissingRunsError")
    main = load_study("ci", "run")
    root = Path(main.store).resolve()
    assert list(refs.stores) == [root]
    assert root.parts[-3:] == ("results", "ci", "store")
    prepared = prepare_data(main, encode=False)
    runs = study_runs(main)
    keys = {run: study_key(main, prepared, *run) for run in runs}
    assert len(set(keys.values())) == 20
    assert sum(method == DENSE for method, _, _ in runs) == 4
    assert {(method, sparsity) for method, sparsity, _ in runs if method != DENSE} == {
        (method, sparsity) for method in ("IMP-FT", "MP-AI") for sparsity in (0.5, 0.9)
    }
    found = refs.of(root)
    assert set(keys.values()) <= found.runs
    assert {key for (method, _, _), key in keys.items() if method == DENSE} <= found.checkpoints
    evaluations = set()
    for name in ("ood", "seed_noise", "dense_long"):  # the ci studies with a transfer set
        study = load_study("ci", name)
        prepared = prepare_data(study, encode=False)
        transfer = transfer_encoding(prepared, encode=False)
        evaluations |= {evaluation_key(study_key(study, prepared, *run), transfer) for run in study_runs(study)}
    assert len(evaluations) == 16  # ood: 4 dense and 4 IMP-FT 90 %; 4 seed-noise and 4 dense 4E controls
    assert found.evaluations == evaluations
    assert not found.evaluations & found.runs


def test_a_derived_study_is_referenced_once_the_runs_it_derives_from_are_stored(tmp_path, monkeypatch):
    """The ci profile's dense population trained into an empty project: its leave-group-out runs
    (2 groups x the 2 seeds of half B) are referenced, so gc keeps them; nothing is unavailable."""
    if not (cache_dir() / "assets").is_dir():
        pytest.skip(f"no asset cache at {cache_dir()}: the ci profile's data and GloVe vectors are needed")
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    train("ci", progress=False, methods=[], sparsities=[])
    refs = referenced(["ci"])
    assert refs.unavailable == {}
    derived = list(derived_studies("ci").values())
    assert [(len(study.left_out), list(study.seed_range)) for study in derived] == [(100, [2, 3])] * 2
    found = refs.of(load_study("ci", "run").store)
    for study in derived:
        prepared = prepare_data(study, encode=False)
        assert {study_key(study, prepared, DENSE, 0.0, seed) for seed in study.seed_range} <= found.runs
