"""The trainer's stacked path (``runs_per_step`` > 1) against its sequential one, on real data.

A tiny Rotten Tomatoes BiLSTM study (60 snippets, one seed, one epoch a round) is trained twice,
once run by run and once with the pruned runs of each schedule stacked, and the two populations
are compared run by run: the same masks, the same predictions, logits and histories within
rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pie_utils.config import validate_study
from pie_utils.errors import NonFiniteLossError, ParameterError
from pie_utils.pool import train_studies
from pie_utils.runs import prepare_data, study_key, study_runs
from pie_utils.stacked_training import check_stack, pending_stacks
from pie_utils.store import ResultsStore
from pie_utils.training import PopulationTrainer, train_study

METHODS = ["IMP-FT", "IIBP-FT", "MP-AI", "RP-AI", "IMP-WR"]  # FT and AI stacks of two, WR alone
TOLERANCE = 1e-5  # one stacked step's bound (test_stacking); measured here: 6.0e-8 after 4 rounds


def _study(store, runs_per_step: int, **overrides):
    return validate_study(
        {
            "dataset": "rotten-tomatoes",
            "arch": "bilstm",
            "methods": METHODS,
            "sparsities": [0.5],
            "seeds": 1,
            "epochs": 1,
            "batch_size": 32,
            "threads": 1,
            "device": "cpu",
            "store": str(store),
            "subset": {"n_train": 60, "n_validation": 20, "n_test": 20, "seed": 0},
            "runs_per_step": runs_per_step,
            **overrides,
        }
    )


@pytest.fixture(scope="module")
def populations(tmp_path_factory):
    """(sequential study, its store), (stacked study, its store), both trained."""
    trained = []
    for runs_per_step in (1, 2):
        root = tmp_path_factory.mktemp(f"runs_per_step_{runs_per_step}")
        study = _study(root, runs_per_step)
        train_study(study, progress=False)
        trained.append((study, ResultsStore(root)))
    return trained


def test_only_a_stacked_pruned_run_has_another_key(tmp_path):
    sequential, stacked = _study(tmp_path, 1), _study(tmp_path, 2)
    prepared = prepare_data(sequential, encode=False)
    for method, sparsity, seed in study_runs(sequential):
        same = study_key(sequential, prepared, method, sparsity, seed) == study_key(
            stacked, prepared, method, sparsity, seed
        )
        assert same == (method == "dense"), method


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_a_bad_runs_per_step_is_refused_by_name(tmp_path, value):
    with pytest.raises(ParameterError, match="runs_per_step"):
        _study(tmp_path, value)


def test_stacks_are_cut_by_schedule_and_size():
    runs = [(m, 0.5, 0) for m in METHODS]
    assert pending_stacks(runs, 2) == [
        [("IMP-FT", 0.5, 0), ("IIBP-FT", 0.5, 0)],
        [("MP-AI", 0.5, 0), ("RP-AI", 0.5, 0)],
        [("IMP-WR", 0.5, 0)],
    ]
    assert pending_stacks(runs, 1) == [[run] for run in runs]


@pytest.mark.parametrize(
    "runs",
    [[], [("dense", 0.0, 0)], [("IMP-FT", 0.5, 0), ("IMP-FT", 0.5, 1)], [("IMP-FT", 0.5, 0), ("IMP-WR", 0.5, 0)]],
)
def test_a_stack_of_no_runs_a_dense_run_two_seeds_or_two_schedules_is_refused(runs):
    with pytest.raises(ParameterError, match="runs"):
        check_stack(runs)


def test_the_stacked_population_matches_the_sequential_one_run_by_run(populations):
    (sequential, seq_store), (stacked, stack_store) = populations
    prepared = prepare_data(sequential, encode=False)
    for method, sparsity, seed in study_runs(sequential):
        one = seq_store.read(study_key(sequential, prepared, method, sparsity, seed))
        other = stack_store.read(study_key(stacked, prepared, method, sparsity, seed))
        assert one.meta["realised_sparsity"] == other.meta["realised_sparsity"], method  # the same masks
        for name in ("validation_logits", "test_logits"):
            np.testing.assert_allclose(other.arrays[name], one.arrays[name], atol=TOLERANCE, err_msg=method)
            assert (other.arrays[name].argmax(1) == one.arrays[name].argmax(1)).all(), method
        assert [e["epoch"] for e in other.meta["history"]] == [e["epoch"] for e in one.meta["history"]]
        for mine, theirs in zip(other.meta["history"], one.meta["history"]):
            assert mine.get("round") == theirs.get("round")
            assert mine["train_loss"] == pytest.approx(theirs["train_loss"], abs=TOLERANCE)
            assert mine["validation_loss"] == pytest.approx(theirs["validation_loss"], abs=TOLERANCE)


def test_each_stacked_run_names_its_stack_and_takes_its_share_of_the_wall_time(populations):
    _, (stacked, store) = populations
    prepared = prepare_data(stacked, encode=False)
    key = {m: study_key(stacked, prepared, m, 0.5, 0) for m in METHODS}
    ft, ai, wr = (store.read(key[m]).meta for m in ("IMP-FT", "MP-AI", "IMP-WR"))
    assert ft["stack"]["runs"] == [key["IMP-FT"], key["IIBP-FT"]]
    assert ai["stack"]["runs"] == [key["MP-AI"], key["RP-AI"]]
    assert wr["stack"]["runs"] == [key["IMP-WR"]]
    assert ft["wall_time_s"] == pytest.approx(ft["stack"]["wall_time_s"] / 2)
    assert ft["branched_from"] == study_key(stacked, prepared, "dense", 0.0, 0) and "branched_from" not in ai


def test_the_pool_stacks_a_seeds_runs_and_ends_with_the_same_store(populations, tmp_path):
    _, (stacked, trained) = populations
    pooled = _study(tmp_path, 2)
    report = train_studies([pooled], workers=1, progress=False)
    assert report.after == report.runs == len(study_runs(pooled)) and not report.failed
    prepared = prepare_data(pooled, encode=False)
    pool_store = ResultsStore(tmp_path)
    for method, sparsity, seed in study_runs(pooled):
        key = study_key(pooled, prepared, method, sparsity, seed)
        # the same stacks as train_seed's, so the same arithmetic: bit for bit
        np.testing.assert_array_equal(
            pool_store.read(key).arrays["test_logits"], trained.read(key).arrays["test_logits"]
        )
        if method != "dense":
            assert len(pool_store.read(key).meta["stack"]["runs"]) == (1 if method == "IMP-WR" else 2)


def test_a_diverging_stack_stores_none_of_its_runs(tmp_path):
    study = _study(tmp_path, 2, methods=["MP-AI", "RP-AI"], learning_rate=1e30)
    prepared, store = prepare_data(study), ResultsStore(tmp_path)
    trainer = PopulationTrainer(study, prepared, store, torch.device("cpu"))
    with pytest.raises(NonFiniteLossError, match="MP-AI sparsity=0.5, RP-AI sparsity=0.5 seed 0 .a stack of 2"):
        trainer.train_stack([("MP-AI", 0.5, 0), ("RP-AI", 0.5, 0)])  # AI runs: no dense run first
    assert not any(store.has(study_key(study, prepared, m, 0.5, 0)) for m in ("MP-AI", "RP-AI"))


def test_a_stacked_multilabel_population_matches_the_sequential_one(tmp_path):
    """Reuters' hub-format fixture (multilabel: a sigmoid per topic, binary cross-entropy, a
    threshold tuned per run): its AI runs stacked give the sequential runs' logits and thresholds."""
    fixture = Path(__file__).parent / "fixtures" / "data" / "reuters"
    stores = []
    for runs_per_step in (1, 2):
        study = _study(
            tmp_path / str(runs_per_step),
            runs_per_step,
            dataset="reuters",
            data_path=str(fixture),
            methods=["MP-AI", "RP-AI"],
            batch_size=4,
            subset=None,
        )
        train_study(study, progress=False)
        stores.append((study, ResultsStore(tmp_path / str(runs_per_step))))
    (sequential, seq_store), (stacked, stack_store) = stores
    prepared = prepare_data(sequential, encode=False)
    assert prepared.dataset.multilabel
    for method in ("MP-AI", "RP-AI"):
        one = seq_store.read(study_key(sequential, prepared, method, 0.5, 0))
        other = stack_store.read(study_key(stacked, prepared, method, 0.5, 0))
        assert other.meta["stack"]["runs"] != [] and "stack" not in one.meta
        np.testing.assert_allclose(other.arrays["test_logits"], one.arrays["test_logits"], atol=TOLERANCE)
        assert other.metrics["threshold"] == one.metrics["threshold"], method
