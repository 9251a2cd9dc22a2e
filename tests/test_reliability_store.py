"""Reliability through ``train_study`` end to end: damaged files, NaN losses, a full disk.

One tiny grid (BiLSTM, 120 Rotten Tomatoes training examples, dense + IMP-FT + MP-AI at 50 %,
2 seeds) is trained once into a pristine store; each case damages a copy of it (or trains a
fresh store under a fault) and checks what is reported, what is recomputed, and that every run
ends bitwise equal to the pristine one. ``tests/test_store.py`` covers the store alone, and
``tests/test_resume.py`` processes killed mid-run.
"""

import dataclasses
import errno
import io
import json
import shutil
import warnings
from collections import Counter

import numpy as np
import pytest

import pie_utils.store as store_module
from pie_utils import cli
from pie_utils.config import validate_study
from pie_utils.runs import prepare_data
from pie_utils.store import CorruptRunWarning, ResultsStore, StoreWriteError
from pie_utils.training import NonFiniteLossError, PopulationTrainer, train_study

CLI_GRID = [
    "run",
    "--dataset",
    "rotten-tomatoes",
    "--arch",
    "bilstm",
    "--seeds",
    "1",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--threads",
    "1",
    "--subset",
    "train=120,validation=40,test=40",
    "--device",
    "cpu",
    "--no-progress",
]


@dataclasses.dataclass
class Pristine:
    study: object
    prepared: object
    root: object
    keys: dict  # (method, seed) → key
    arrays: dict  # key → name → array, metric:name → value
    parameters: dict  # what the study was validated from (without its store)

    def copy(self, destination):
        shutil.copytree(self.root, destination)
        return dataclasses.replace(self.study, store=str(destination))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, tiny_grid):
    root = tmp_path_factory.mktemp("pristine") / "store"
    study = validate_study({**tiny_grid, "store": str(root)})
    prepared = prepare_data(study)
    table = train_study(study, progress=False, prepared=prepared)
    assert table.stored.all() and len(table) == 6
    keys = {(row.method, row.seed): row.key for row in table.itertuples()}
    return Pristine(study, prepared, root, keys, _everything(root), tiny_grid)


def _everything(root) -> dict:
    store = ResultsStore(root)
    out = {}
    for key in store.keys():
        run = store.read(key)
        out[key] = {**run.arrays, **{f"metric:{k}": np.asarray(v) for k, v in run.metrics.items()}}
    return out


def _finishes(root) -> Counter:
    lines = (root / "training.log").read_text().splitlines() if (root / "training.log").exists() else []
    return Counter(line.split()[3] for line in lines if line.split()[2] == "finish")


def _train_recording_warnings(study, prepared):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_study(study, progress=False, prepared=prepared)
    return [str(w.message) for w in caught if issubclass(w.category, CorruptRunWarning)]


def _assert_equal_to_pristine(root, pristine):
    got = _everything(root)
    assert sorted(got) == sorted(pristine.arrays)
    for key, arrays in pristine.arrays.items():
        assert sorted(got[key]) == sorted(arrays)
        for name, values in arrays.items():
            np.testing.assert_array_equal(got[key][name], values, err_msg=f"{key} {name}")


def _assert_clean(root):
    assert not (root / "tmp").exists() or list((root / "tmp").iterdir()) == []
    assert list((root / "checkpoints").glob(".*")) == []


# ---- damage: each returns the files it damaged; runs are (method, seed) --------------------------


def _run_file(root, pristine, run, name):
    return root / "runs" / pristine.keys[run] / name


def _flip_one_bit(path, at=None):
    data = bytearray(path.read_bytes())
    position = len(data) // 2 if at is None else at
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def damage_arrays_bit_flip(root, p):
    path = _run_file(root, p, ("MP-AI", 1), "arrays.npz")
    _flip_one_bit(path)
    return [path], {("MP-AI", 1)}


def damage_arrays_truncated(root, p):
    path = _run_file(root, p, ("IMP-FT", 0), "arrays.npz")
    path.write_bytes(path.read_bytes()[:1000])
    return [path], {("IMP-FT", 0)}


def damage_meta_zero_length(root, p):
    path = _run_file(root, p, ("dense", 1), "meta.json")
    path.write_bytes(b"")
    return [path], {("dense", 1)}


def damage_meta_deleted(root, p):
    path = _run_file(root, p, ("MP-AI", 0), "meta.json")
    path.unlink()
    return [path], {("MP-AI", 0)}


def damage_meta_metric_edited(root, p):
    # still valid JSON with the right key: only meta.json's own checksum can tell
    path = _run_file(root, p, ("MP-AI", 0), "meta.json")
    meta = json.loads(path.read_text())
    meta["metrics"]["test_accuracy"] = 1.0
    path.write_text(json.dumps(meta, indent=1))
    return [path], {("MP-AI", 0)}


def damage_meta_digit_flipped(root, p):
    path = _run_file(root, p, ("IMP-FT", 1), "meta.json")
    text = path.read_text()
    at = text.index('"wall_time_s": ') + len('"wall_time_s": ')  # a digit: still valid JSON after the flip
    path.write_text(text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1 :])
    return [path], {("IMP-FT", 1)}


def damage_another_runs_files(root, p):
    # dense seed 1's files under dense seed 0's key: consistent with each other, not with the key
    target = root / "runs" / p.keys[("dense", 0)]
    for name in ("arrays.npz", "meta.json"):
        shutil.copyfile(root / "runs" / p.keys[("dense", 1)] / name, target / name)
    return [target / "meta.json"], {("dense", 0)}


def damage_another_runs_arrays_with_its_checksum(root, p):
    target, other = (root / "runs" / p.keys[run] for run in (("MP-AI", 0), ("MP-AI", 1)))
    shutil.copyfile(other / "arrays.npz", target / "arrays.npz")
    meta = json.loads((target / "meta.json").read_text())
    meta["arrays_sha256"] = json.loads((other / "meta.json").read_text())["arrays_sha256"]
    meta[store_module.META_DIGEST_FIELD] = store_module._meta_digest(meta)  # a careful forger
    (target / "meta.json").write_text(json.dumps(meta))
    return [target / "arrays.npz"], {("MP-AI", 0)}


def damage_run_folder_emptied(root, p):
    folder = root / "runs" / p.keys[("dense", 1)]
    for path in folder.iterdir():
        path.unlink()
    return [folder / "meta.json"], {("dense", 1)}


def _drop_run(root, p, run):
    shutil.rmtree(root / "runs" / p.keys[run])


def damage_checkpoint_truncated(root, p):
    # the checkpoint is read only when an FT run of its seed needs training: drop that run too
    path = root / "checkpoints" / f"{p.keys[('dense', 0)]}.pt"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
    _drop_run(root, p, ("IMP-FT", 0))
    return [path], {("IMP-FT", 0), ("dense", 0)}


def damage_checkpoint_of_another_seed(root, p):
    path = root / "checkpoints" / f"{p.keys[('dense', 1)]}.pt"
    shutil.copyfile(root / "checkpoints" / f"{p.keys[('dense', 0)]}.pt", path)
    _drop_run(root, p, ("IMP-FT", 1))
    return [path], {("IMP-FT", 1), ("dense", 1)}


def damage_checkpoint_random_bytes_and_its_branch_flipped(root, p):
    path = root / "checkpoints" / f"{p.keys[('dense', 0)]}.pt"
    path.write_bytes(np.random.default_rng(7).bytes(path.stat().st_size))
    arrays = _run_file(root, p, ("IMP-FT", 0), "arrays.npz")
    _flip_one_bit(arrays, at=100)
    return [arrays, path], {("IMP-FT", 0), ("dense", 0)}


DAMAGE = [
    damage_arrays_bit_flip,
    damage_arrays_truncated,
    damage_meta_zero_length,
    damage_meta_deleted,
    damage_meta_metric_edited,
    damage_meta_digit_flipped,
    damage_another_runs_files,
    damage_another_runs_arrays_with_its_checksum,
    damage_run_folder_emptied,
    damage_checkpoint_truncated,
    damage_checkpoint_of_another_seed,
    damage_checkpoint_random_bytes_and_its_branch_flipped,
]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda d: d.__name__[len("damage_") :])
def test_damage_is_reported_by_file_recomputed_once_and_bitwise_equal(damage, pristine, tmp_path):
    root = tmp_path / "store"
    study = pristine.copy(root)
    before = _finishes(root)
    damaged_files, retrained = damage(root, pristine)

    reports = _train_recording_warnings(study, pristine.prepared)

    assert len(reports) == len(damaged_files)  # one report per damaged file, nothing else
    for path in damaged_files:
        assert sum(str(path) in report for report in reports) == 1, (path, reports)
    after = _finishes(root)
    retrained_keys = {pristine.keys[run] for run in retrained}
    assert after - before == Counter(retrained_keys)  # the damaged run (and a lost checkpoint's dense) once
    _assert_equal_to_pristine(root, pristine)
    runs_moved_aside = len(list((root / "corrupt").iterdir())) if (root / "corrupt").exists() else 0
    assert runs_moved_aside == sum(path.parent.parent.name == "runs" for path in damaged_files)
    _assert_clean(root)
    # and the repaired store reads back clean: a second pass reports nothing and trains nothing
    assert _train_recording_warnings(study, pristine.prepared) == [] and _finishes(root) == after


def test_a_half_written_run_left_in_tmp_is_never_read_as_finished(pristine, tmp_path):
    root = tmp_path / "store"
    study = pristine.copy(root)
    key = pristine.keys[("MP-AI", 0)]
    scratch = root / "tmp" / f"{key}.0123456789abcdef"
    shutil.copytree(root / "runs" / key, scratch)  # as a process killed mid-write leaves it
    (scratch / "meta.json").unlink()
    shutil.rmtree(root / "runs" / key)
    assert ResultsStore(root).read(key) is None
    train_study(study, progress=False, prepared=pristine.prepared)
    assert _finishes(root)[key] == 2
    _assert_equal_to_pristine(root, pristine)


# ---- NaN ------------------------------------------------------------------------------------------


def _small(pristine, root, **overrides):
    """One MP-AI seed of the pristine grid's configuration, stored under ``root``."""
    return validate_study({**pristine.parameters, "seeds": 1, "methods": ["MP-AI"], "store": str(root), **overrides})


def test_a_huge_learning_rate_stops_with_the_run_named_and_nothing_stored(pristine, tmp_path):
    root = tmp_path / "store"
    with pytest.raises(
        NonFiniteLossError,
        match=r"loss became nan in epoch 1 of rotten-tomatoes/bilstm dense "
        r"sparsity=0\.0 seed=0 \(lr=1e\+30\); nothing was stored",
    ):
        train_study(_small(pristine, root, learning_rate=1e30), progress=False, prepared=pristine.prepared)
    assert ResultsStore(root).keys() == [] and not (root / "runs").exists()
    assert not (root / "checkpoints").exists()
    _assert_clean(root)


def test_a_learning_rate_whose_first_adam_step_overflows_float32_is_refused_as_a_parameter(pristine, tmp_path):
    from pie_utils.errors import ParameterError

    with pytest.raises(ParameterError, match=r"learning_rate=1e\+38; allowed: a number in \(0, 3\.4e\+37\)"):
        train_study(
            _small(pristine, tmp_path / "store", learning_rate=1e38), progress=False, prepared=pristine.prepared
        )
    assert not (tmp_path / "store").exists()


def test_a_nan_in_a_pruned_run_keeps_the_finished_dense_run_and_stores_nothing_of_its_own(
    pristine, tmp_path, monkeypatch
):
    root = tmp_path / "store"
    calls = []
    real = PopulationTrainer._batch_loss

    def nan_on_sixth_step(self, model, positions, count_correct=False):  # dense has steps 1-4, MP-AI 5-8
        calls.append(1)
        loss, correct = real(self, model, positions, count_correct=True)
        loss = loss * float("nan") if len(calls) == 6 else loss
        return (loss, correct) if count_correct else loss

    monkeypatch.setattr(PopulationTrainer, "_batch_loss", nan_on_sixth_step)
    with pytest.raises(NonFiniteLossError, match=r"MP-AI sparsity=0\.5 seed=0 \(lr=0\.001\); nothing was stored"):
        train_study(_small(pristine, root, learning_rate=1e-3), progress=False, prepared=pristine.prepared)
    store = ResultsStore(root)
    assert len(store.keys()) == 1 and store.read(store.keys()[0]).spec["method"] == "dense"
    assert _finishes(root) == Counter({store.keys()[0]: 1})
    _assert_clean(root)


def test_non_finite_logits_are_refused_before_anything_is_written(pristine, tmp_path, monkeypatch):
    root = tmp_path / "store"
    real = PopulationTrainer.logits

    def infinite_test_logits(self, model, split):
        logits = real(self, model, split)
        if split == "test":
            logits[3, 1] = np.inf
        return logits

    monkeypatch.setattr(PopulationTrainer, "logits", infinite_test_logits)
    with pytest.raises(
        NonFiniteLossError, match=r"test_logits of dense sparsity=0\.0 seed=0 are not finite; nothing stored"
    ):
        train_study(_small(pristine, root), progress=False, prepared=pristine.prepared)
    assert ResultsStore(root).keys() == []
    _assert_clean(root)


def test_the_cli_reports_a_nan_loss_with_exit_code_1_and_stores_nothing(tmp_path, capsys):
    root = tmp_path / "store"
    assert cli.main([*CLI_GRID, "--learning-rate", "1e30", "--store", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: loss became nan in epoch 1 of rotten-tomatoes/bilstm dense sparsity=0.0 seed=0")
    assert not (root / "runs").exists()


# ---- full disk ----------------------------------------------------------------------------------


def test_a_full_disk_mid_grid_stores_nothing_half_written_and_a_rerun_completes_it(pristine, tmp_path, monkeypatch):
    root = tmp_path / "store"
    study = dataclasses.replace(pristine.study, store=str(root))
    doomed = pristine.keys[("MP-AI", 0)]  # the third run trained: dense 0 and IMP-FT 0 come first
    real = store_module._write_synced

    def full_disk(path, data):
        if path.parent.name.startswith(doomed) and path.name == "arrays.npz":
            with open(path, "wb") as handle:  # part of the file lands, then the disk is full
                handle.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(store_module, "_write_synced", full_disk)
    with pytest.raises(StoreWriteError) as refused:
        train_study(study, progress=False, prepared=pristine.prepared)
    assert str(refused.value).startswith(
        f"no space left on the device while writing run {doomed} under {root}; nothing was stored for it"
    )
    store = ResultsStore(root)
    assert store.keys() == sorted([pristine.keys[("dense", 0)], pristine.keys[("IMP-FT", 0)]])
    assert all(store.read(key) is not None for key in store.keys())
    _assert_clean(root)

    monkeypatch.setattr(store_module, "_write_synced", real)  # space freed
    before = _finishes(root)
    train_study(study, progress=False, prepared=pristine.prepared)
    assert _finishes(root) - before == Counter(
        {pristine.keys[run]: 1 for run in [("MP-AI", 0), ("dense", 1), ("IMP-FT", 1), ("MP-AI", 1)]}
    )
    _assert_equal_to_pristine(root, pristine)


class _FullFile(io.FileIO):
    """A file that takes 64 bytes, then reports a full disk."""

    def write(self, data):
        if self.tell() + len(data) > 64:
            raise OSError(errno.ENOSPC, "No space left on device", self.name)
        return super().write(data)


def test_a_full_disk_while_saving_a_dense_checkpoint_is_reported_and_leaves_no_scratch(pristine, tmp_path, monkeypatch):
    root = tmp_path / "store"
    monkeypatch.setattr(
        store_module,
        "open",
        lambda path, mode="r", *a, **k: (
            _FullFile(path, "w") if "checkpoints" in str(path) else open(path, mode, *a, **k)
        ),
        raising=False,
    )
    with pytest.raises(
        StoreWriteError,
        match=r"no space left on the device while writing the dense checkpoint "
        rf"{root}/checkpoints/[0-9a-f]{{64}}\.pt; nothing was stored",
    ):
        train_study(_small(pristine, root, methods=["IMP-FT"]), progress=False, prepared=pristine.prepared)
    assert list((root / "checkpoints").iterdir()) == []  # the scratch file is gone too
    assert ResultsStore(root).keys() == []
    _assert_clean(root)


def test_the_cli_reports_a_full_disk_with_exit_code_1_and_stores_nothing(tmp_path, monkeypatch, capsys):
    root = tmp_path / "store"

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store_module, "_write_synced", full_disk)
    assert cli.main([*CLI_GRID, "--store", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no space left on the device while writing run ")
    assert ResultsStore(root).keys() == []
    _assert_clean(root)
