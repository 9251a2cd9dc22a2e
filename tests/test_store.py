"""The results store alone: keys, atomic writes, stacking, version refusal, checkpoints, the log.

Damage on disk and a full disk mid-grid are tested through ``train_study`` end to end in
``tests/test_reliability_store.py``.
"""

import errno
import os
import warnings

import numpy as np
import pytest

from pie_utils import store as store_module
from pie_utils.store import ResultsStore, StoreVersionError, StoreWriteError, run_key

SPEC = {"dataset": {"name": "toy"}, "method": "IMP-FT", "sparsity": 0.9, "seed": 3}


def _arrays(offset: float = 0.0) -> dict[str, np.ndarray]:
    return {"test_logits": np.arange(6, dtype=np.float32).reshape(3, 2) + offset}


def _write(store: ResultsStore, spec=SPEC, offset=0.0) -> str:
    key = run_key(spec)
    assert store.write(
        key, spec, _arrays(offset), {"test_accuracy": 0.5}, {"wall_time_s": 1.0, "realised_sparsity": {"overall": 0.9}}
    )
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


def test_a_full_disk_on_the_training_log_is_reported_naming_the_log(tmp_path, monkeypatch):
    class NoSpaceOs:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def write(descriptor, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "os", NoSpaceOs())
    with pytest.raises(
        StoreWriteError, match=rf"writing the training log {tmp_path}/training\.log; nothing was stored"
    ):
        ResultsStore(tmp_path).log("start", "0" * 64, "dense sparsity=0 seed=0")
