"""Out-of-distribution scoring is an evaluation of stored runs, equal to training with it."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from pie_utils.config import SubsetSpec, validate_study
from pie_utils.evaluation import (
    MissingModelError,
    evaluate_study,
    evaluate_transfer,
    evaluation_key,
    load_model,
    split_logits,
    transfer_encoding,
)
from pie_utils.models import build_encoder, encode_dataset
from pie_utils.pruning import DENSE
from pie_utils.runs import prepare_data, study_key
from pie_utils.store import EVALUATIONS, ResultsStore
from pie_utils.training import PopulationTrainer, train_study

SMALL = {
    "dataset": "rotten-tomatoes",
    "arch": "bilstm",
    "seeds": 1,
    "epochs": 1,
    "batch_size": 32,
    "threads": 1,
    "methods": ["MP-AI"],
    "sparsities": [0.9],
    "subset": {"n_train": 300, "n_validation": 60, "n_test": 80, "seed": 0},
}


REVIEWS = {"n_train": 160, "n_validation": 20, "n_test": 20, "seed": 0}  # of 1,200 / 150 / 150


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    """One seed, dense and MP-AI 90 %, trained with 200 of the movie reviews as the transfer set."""
    study = validate_study(
        {
            **SMALL,
            "store": str(tmp_path_factory.mktemp("store")),
            "transfer": "movie-reviews",
            "transfer_subset": REVIEWS,
        }
    )
    train_study(study, progress=False)
    prepared = prepare_data(study)
    return study, prepared, transfer_encoding(prepared)


def test_a_transfer_set_changes_neither_the_runs_nor_their_keys(shifted):
    study, prepared, _ = shifted
    plain = replace(study, transfer=None)
    for method, sparsity in ((DENSE, 0.0), ("MP-AI", 0.9)):
        assert study_key(study, prepared, method, sparsity, 0) == study_key(
            plain, prepare_data(plain), method, sparsity, 0
        )


def test_a_transfer_subset_is_stratified_per_split_and_changes_only_the_evaluations_keys(shifted):
    study, prepared, transfer = shifted
    sizes = [len(transfer.dataset.split(name)) for name in ("train", "validation", "test")]
    assert sizes == [160, 20, 20] and len(transfer.encoded.offsets) - 1 == 200  # 200 reviews encoded
    for name in ("train", "validation", "test"):  # the two classes within one review of half each
        assert abs(2 * transfer.dataset.split(name).labels.sum() - len(transfer.dataset.split(name))) <= 1
    whole = replace(study, transfer_subset=SubsetSpec())
    whole_prepared = prepare_data(whole, encode=False)
    assert study_key(study, prepared, DENSE, 0.0, 0) == study_key(whole, whole_prepared, DENSE, 0.0, 0)
    run = study_key(study, prepared, DENSE, 0.0, 0)
    assert evaluation_key(run, transfer) != evaluation_key(run, transfer_encoding(whole_prepared, encode=False))


def test_scoring_a_stored_run_equals_the_old_combined_run(shifted, tmp_path):
    """The old way trained each run with the transfer texts in its vocabulary and scored them in
    the same pass. Trained that way here (into another store), its transfer logits equal those of
    the stored run's kept model scored afterwards, exactly: no training input differs."""
    study, prepared, transfer = shifted
    pooled = prepared.transfer.pooled()
    combined_encoder = build_encoder(prepared.model_spec, prepared.dataset, extra_texts=pooled.texts)
    combined = replace(prepared, encoder=combined_encoder, encoded=encode_dataset(combined_encoder, prepared.dataset))
    trainer = PopulationTrainer(study, combined, ResultsStore(tmp_path), torch.device("cpu"))
    trainer.train_seed(0)
    for method, sparsity in ((DENSE, 0.0), ("MP-AI", 0.9)):
        old = load_model(study, combined, trainer.store, method, sparsity, 0)
        old_logits = split_logits(
            old,
            combined_encoder.encode(pooled, prepared.transfer.max_length),
            2,
            study.training.eval_batch_size,  # as evaluate_transfer batches: only the vocabulary's timing differs
            torch.device("cpu"),
        )
        new_logits = evaluate_transfer(study, prepared, ResultsStore(study.store), method, sparsity, 0, transfer)
        assert new_logits.shape == (len(pooled), 2)
        np.testing.assert_array_equal(new_logits, old_logits)


def test_an_evaluation_is_stored_once_under_its_own_key(shifted):
    study, prepared, transfer = shifted
    store = ResultsStore(study.store)
    run = study_key(study, prepared, DENSE, 0.0, 0)
    first = evaluate_transfer(study, prepared, store, DENSE, 0.0, 0, transfer)
    record = store.read(evaluation_key(run, transfer), kind=EVALUATIONS)
    assert record.meta["run_key"] == run and record.spec["examples"] == len(first)
    np.testing.assert_array_equal(evaluate_transfer(study, prepared, store, DENSE, 0.0, 0, transfer), first)


def test_evaluate_study_reports_accuracy_on_every_transfer_example(shifted):
    study, prepared, transfer = shifted
    table = evaluate_study(study)
    assert list(table.method) == [DENSE, "MP-AI"] and (table.seeds == 1).all()
    gold = transfer.dataset.pooled().labels
    logits = evaluate_transfer(study, prepared, ResultsStore(study.store), "MP-AI", 0.9, 0, transfer)
    assert table["mean"].iloc[1] == pytest.approx(float((logits.argmax(1) == gold).mean()))


def test_a_run_without_a_kept_model_is_named(shifted, tmp_path):
    study, prepared, transfer = shifted
    empty = replace(study, store=str(tmp_path))
    with pytest.raises(MissingModelError, match=r"MP-AI sparsity=0.9 seed=0 .* is not in"):
        evaluate_transfer(empty, prepared, ResultsStore(tmp_path), "MP-AI", 0.9, 0, transfer)
