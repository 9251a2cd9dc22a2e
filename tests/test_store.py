"""The results store: keys, atomic writes, verification on read, version refusal."""

import json
import warnings

import numpy as np
import pytest

from pie_utils import store as store_module
from pie_utils.store import CorruptRunWarning, ResultsStore, StoreVersionError, run_key

SPEC = {"dataset": {"name": "toy"}, "method": "IMP-FT", "sparsity": 0.9, "seed": 3}


def _arrays(offset: float = 0.0) -> dict[str, np.ndarray]:
    return {"test_logits": np.arange(6, dtype=np.float32).reshape(3, 2) + offset}


def _write(store: ResultsStore, spec=SPEC, offset=0.0) -> str:
    key = run_key(spec)
    assert store.write(key, spec, _arrays(offset), {"test_accuracy": 0.5}, {"wall_time_s": 1.0,
                       "realised_sparsity": {"overall": 0.9}})
    return key


def test_key_depends_on_every_spec_field_and_not_on_order():
    assert run_key(SPEC) == run_key(dict(reversed(list(SPEC.items()))))
    assert run_key(SPEC) != run_key({**SPEC, "seed": 4})
    assert run_key(SPEC) != run_key({**SPEC, "dataset": {"name": "other"}})


def test_round_trip_returns_the_arrays_and_metrics(tmp_path):
    store = ResultsStore(tmp_path)
    key = _write(store)
    run = store.read(key)
    np.testing.assert_array_equal(run.arrays["test_logits"], _arrays()["test_logits"])
    assert run.metrics == {"test_accuracy": 0.5}
    assert run.spec == SPEC
    assert set(run.arrays) == {"test_logits"}
    assert list((tmp_path / "tmp").iterdir()) == []  # nothing half-written left behind


def test_second_writer_of_the_same_run_is_refused_quietly(tmp_path):
    store = ResultsStore(tmp_path)
    key = _write(store)
    assert not store.write(key, SPEC, _arrays(offset=100.0), {}, {})
    np.testing.assert_array_equal(store.read(key).arrays["test_logits"], _arrays()["test_logits"])


def test_stack_gives_seed_example_class(tmp_path):
    store = ResultsStore(tmp_path)
    keys = [_write(store, {**SPEC, "seed": s}, offset=s) for s in range(4)]
    stacked = store.stack(keys, "test_logits")
    assert stacked.shape == (4, 3, 2)
    assert stacked[2, 0, 1] == 1.0 + 2


def _damage_truncate(folder, other):
    data = (folder / "arrays.npz").read_bytes()
    (folder / "arrays.npz").write_bytes(data[: len(data) // 2])


def _damage_zero_length(folder, other):
    (folder / "arrays.npz").write_bytes(b"")


def _damage_random_bytes(folder, other):
    (folder / "arrays.npz").write_bytes(np.random.default_rng(0).bytes(500))


def _damage_missing_meta(folder, other):
    (folder / "meta.json").unlink()


def _damage_garbled_meta(folder, other):
    (folder / "meta.json").write_text("{not json")


def _damage_other_runs_files(folder, other):
    # a valid run copied under the wrong key: both files agree with each other, not with the key
    for name in ("arrays.npz", "meta.json"):
        (folder / name).write_bytes((other / name).read_bytes())


def _damage_other_runs_arrays_with_fixed_checksum(folder, other):
    # arrays of another run, and a meta.json edited to carry their checksum: the key inside
    # arrays.npz still tells them apart
    (folder / "arrays.npz").write_bytes((other / "arrays.npz").read_bytes())
    meta = json.loads((folder / "meta.json").read_text())
    meta["arrays_sha256"] = json.loads((other / "meta.json").read_text())["arrays_sha256"]
    (folder / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("damage", [
    _damage_truncate, _damage_zero_length, _damage_random_bytes, _damage_missing_meta,
    _damage_garbled_meta, _damage_other_runs_files, _damage_other_runs_arrays_with_fixed_checksum,
])
def test_damaged_run_is_reported_with_its_file_and_treated_as_missing(tmp_path, damage):
    store = ResultsStore(tmp_path)
    key = _write(store)
    other = store.run_dir(_write(store, {**SPEC, "seed": 99}, offset=5.0))
    damage(store.run_dir(key), other)
    with pytest.warns(CorruptRunWarning, match=key):
        assert store.read(key) is None
    assert not store.run_dir(key).exists()
    assert len(list((tmp_path / "corrupt").iterdir())) == 1
    _write(store)  # recomputing it works
    assert store.has(key)


def test_runs_from_other_library_versions_are_refused_unless_accepted(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    key = _write(store)
    other = {**store_module.library_versions(), "torch": "0.0.1"}
    monkeypatch.setattr(store_module, "library_versions", lambda: other)
    with pytest.raises(StoreVersionError, match="accept_other_versions"):
        store.read(key)
    assert ResultsStore(tmp_path, accept_other_versions=True).read(key) is not None


def test_checkpoint_round_trip_and_wrong_key_is_recomputed(tmp_path):
    import torch

    store = ResultsStore(tmp_path)
    store.save_checkpoint("a", {"weights": torch.arange(3.0)})
    assert torch.equal(store.load_checkpoint("a")["weights"], torch.arange(3.0))
    store.checkpoint_path("b").write_bytes(store.checkpoint_path("a").read_bytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert store.load_checkpoint("b") is None
    assert any("checkpoints/b.pt" in str(w.message) for w in caught)
    assert not store.checkpoint_path("b").exists()


def test_a_full_disk_leaves_no_half_written_run_and_says_so(tmp_path, monkeypatch):
    import errno

    from pie_utils.store import StoreWriteError

    store = ResultsStore(tmp_path)
    kept = _write(store, {**SPEC, "seed": 1})
    calls = []

    def full_disk(path, data):
        calls.append(path.name)
        if path.name == "meta.json":  # arrays.npz fits, meta.json does not
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(path, data)

    original = store_module._write_synced
    monkeypatch.setattr(store_module, "_write_synced", full_disk)
    with pytest.raises(StoreWriteError, match=r"no space left.*nothing was stored"):
        store.write(run_key(SPEC), SPEC, _arrays(), {}, {})
    assert calls == ["arrays.npz", "meta.json"]
    assert not store.run_dir(run_key(SPEC)).exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert store.has(kept)
