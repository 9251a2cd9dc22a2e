"""A run merged back without its model gets it again by training, checked against what it stored."""

from dataclasses import replace

import numpy as np
import pytest

from pie_utils.config import validate_study
from pie_utils.devices import check_device
from pie_utils.evaluation import evaluate_transfer, evaluation_key, load_model, transfer_encoding
from pie_utils.pool import train_studies
from pie_utils.pruning import DENSE
from pie_utils.restoring import RestoreError, restore_model
from pie_utils.runs import prepare_data
from pie_utils.store import EVALUATIONS, MODEL_FILE, RUNS, ResultsStore
from pie_utils.training import PopulationTrainer, train_study
from pie_utils.training_log import read_events

SMALL = {
    "dataset": "rotten-tomatoes",
    "arch": "bilstm",
    "seeds": 1,
    "epochs": 1,
    "batch_size": 32,
    "threads": 1,
    "methods": ["IMP-FT", "MP-AI"],
    "sparsities": [0.7],
    "subset": {"n_train": 300, "n_validation": 60, "n_test": 80, "seed": 0},
    "transfer": "movie-reviews",
    "transfer_subset": {"n_train": 40, "n_validation": 10, "n_test": 10, "seed": 0},
}
RUNS_OF_SEED_0 = ((DENSE, 0.0), ("IMP-FT", 0.7), ("MP-AI", 0.7))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One seed of dense, IMP-FT 70 % (branching from dense) and MP-AI 70 %, with their models."""
    study = validate_study({**SMALL, "store": str(tmp_path_factory.mktemp("trained"))})
    train_study(study, progress=False)
    return study, prepare_data(study)


def merged_back(study, prepared, folder, change=None) -> PopulationTrainer:
    """A trainer on a copy of the study's store as a published store leaves it when merged back:
    each run's arrays (``change``d where given) and meta, but no model and no checkpoint."""
    source, target = ResultsStore(study.store), ResultsStore(folder)
    for key in source.keys(RUNS):
        run = source.read(key)
        meta = {name: value for name, value in run.meta.items() if not name.endswith("sha256")}
        arrays = change(key, dict(run.arrays)) if change else run.arrays
        target.write(key, run.spec, arrays, run.metrics, meta)
    copy = replace(study, store=str(folder))
    return PopulationTrainer(copy, prepared, target, check_device(copy))


def test_a_restored_model_is_the_trained_one_and_the_dense_checkpoint_comes_back(trained, tmp_path):
    study, prepared = trained
    trainer = merged_back(study, prepared, tmp_path)
    for method, sparsity in RUNS_OF_SEED_0:
        assert trainer.store.read_model(trainer.key(method, sparsity, 0)) is None
        assert restore_model(trainer, method, sparsity, 0)
    assert trainer.store.checkpoint_path(trainer.key(DENSE, 0.0, 0)).is_file()  # IMP-FT branches from it
    for method, sparsity in RUNS_OF_SEED_0:
        before = load_model(study, prepared, ResultsStore(study.store), method, sparsity, 0)
        after = load_model(trainer.study, prepared, trainer.store, method, sparsity, 0)
        np.testing.assert_array_equal(trainer.logits(after, "test"), trainer.logits(before, "test"))
    restores = [e.event for e in read_events(tmp_path / "training.log") if e.description.startswith("restore")]
    assert restores == ["start", "finish"] * 3  # on the log as training, so `store pause` stops it


def test_a_run_that_kept_its_model_is_left_alone(trained):
    study, prepared = trained
    store = ResultsStore(study.store)
    trainer = PopulationTrainer(study, prepared, store, check_device(study))
    meta = store.read(trainer.key(DENSE, 0.0, 0)).meta
    assert not restore_model(trainer, DENSE, 0.0, 0)
    assert store.read(trainer.key(DENSE, 0.0, 0)).meta == meta


def test_a_retrained_run_that_predicts_otherwise_is_refused_and_nothing_is_added(trained, tmp_path):
    study, prepared = trained

    def flip_example_3(key, arrays):
        arrays["test_logits"] = arrays["test_logits"].copy()
        arrays["test_logits"][3] = arrays["test_logits"][3][::-1]  # the other class, by the same margin
        return arrays

    trainer = merged_back(study, prepared, tmp_path, change=flip_example_3)
    with pytest.raises(RestoreError, match=r"MP-AI .* test_logits predicts another class on 1 of 80 examples"):
        restore_model(trainer, "MP-AI", 0.7, 0)
    key = trainer.key("MP-AI", 0.7, 0)
    assert trainer.store.read_model(key) is None and not (trainer.store.run_dir(key) / MODEL_FILE).exists()
    assert [e.event for e in read_events(tmp_path / "training.log") if e.key == key] == ["start", "fail"]


def test_the_pool_scores_runs_merged_back_without_their_models(trained, tmp_path):
    study, prepared = trained
    trainer = merged_back(study, prepared, tmp_path)
    train_studies([trainer.study], workers=1, threads=1, progress=False)
    transfer = transfer_encoding(prepared)
    for method, sparsity in RUNS_OF_SEED_0:
        scored = trainer.store.read(evaluation_key(trainer.key(method, sparsity, 0), transfer), kind=EVALUATIONS)
        expected = evaluate_transfer(study, prepared, ResultsStore(study.store), method, sparsity, 0, transfer)
        np.testing.assert_array_equal(scored.arrays["logits"], expected)
