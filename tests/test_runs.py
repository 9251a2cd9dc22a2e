"""A run's home: keys of a study's runs, and populations read back from the store as arrays."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pie_utils.config import validate_study
from pie_utils.pruning import DENSE
from pie_utils.runs import open_store, population, population_array, prepare_data, study_key, study_runs, study_table
from pie_utils.training import train_study


@pytest.fixture(scope="module")
def one_seed(tmp_path_factory, tiny_grid):
    """Seed 0 of the tiny grid, dense and MP-AI 50 %, trained into a fresh store."""
    study = validate_study(
        {**tiny_grid, "seeds": 1, "methods": ["MP-AI"], "store": str(tmp_path_factory.mktemp("runs") / "store")}
    )
    train_study(study, progress=False)
    return study, prepare_data(study)


def test_study_runs_list_dense_first_then_every_cell_and_seed():
    study = validate_study(
        {
            "dataset": "rotten-tomatoes",
            "arch": "bilstm",
            "methods": ["IMP-FT", "MP-AI"],
            "sparsities": [0.5, 0.9],
            "seeds": 2,
            "first_seed": 3,
        }
    )
    runs = study_runs(study)
    assert runs[:2] == [(DENSE, 0.0, 3), (DENSE, 0.0, 4)] and len(runs) == 2 + 2 * 2 * 2
    assert runs[2:4] == [("IMP-FT", 0.5, 3), ("IMP-FT", 0.5, 4)]


def test_keys_differ_by_method_sparsity_and_seed_and_match_the_table(one_seed):
    study, prepared = one_seed
    keys = {run: study_key(study, prepared, *run) for run in study_runs(study)}
    assert len(set(keys.values())) == len(keys) == 2
    table = study_table(study, prepared, open_store(study))
    assert table.stored.all() and dict(zip(zip(table.method, table.sparsity, table.seed), table.key)) == keys


def test_a_population_reads_back_as_seed_example_class_arrays(one_seed):
    study, prepared = one_seed
    logits, thresholds = population(study, prepared, open_store(study), "MP-AI", 0.5)
    assert logits.shape == (1, 40, 2) and thresholds.tolist() == [0.5]
    stored = open_store(study).read(study_key(study, prepared, "MP-AI", 0.5, 0)).arrays["test_logits"]
    np.testing.assert_array_equal(logits[0], stored)
    early = population_array(study, prepared, open_store(study), DENSE, 0.0, "train_logits_epoch1")
    assert early.shape == (1, 120, 2)


def test_a_population_with_missing_seeds_names_them(one_seed):
    study, prepared = one_seed
    wider = dataclasses.replace(study, seeds=3)  # seeds 1 and 2 were never trained
    with pytest.raises(KeyError, match=r"seeds \[1, 2\] are not in"):
        population(wider, prepared, open_store(wider), DENSE, 0.0)
