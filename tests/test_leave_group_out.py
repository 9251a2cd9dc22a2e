"""Leave-group-out retraining as a derived study: the groups, the `left_out` setting that trains
without them, and real BiLSTMs retrained on the seeds of half B, then read back without training."""

from dataclasses import replace

import numpy as np
import pytest

from pie_utils.config import validate_study
from pie_utils.errors import ParameterError
from pie_utils.influence import el2n_scores
from pie_utils.leave_group_out import RANDOM, TOP_EL2N, group_studies, half_a_el2n, left_out_groups, train_groups
from pie_utils.pruning import DENSE
from pie_utils.runs import prepare_data, study_key
from pie_utils.studies import NO_TRAIN_ENV, MissingRunsError, load_study, train

TINY = {"subset": {"n_train": 40, "n_validation": 20, "n_test": 20, "seed": 0}, "methods": [], "sparsities": []}


@pytest.fixture(scope="module")
def main(tmp_path_factory):
    """A real dense BiLSTM population of 3 seeds on 40 snippets: half A is seeds 0 and 1, half B seed 2."""
    store = tmp_path_factory.mktemp("store")
    return train("ci", progress=False, seeds=3, epochs=1, store=str(store), **TINY)


def test_the_top_group_is_the_highest_el2n_decile_and_the_random_one_is_seeded():
    el2n = np.array([5.0, 1.0, 9.0, 3.0, 8.0, 2.0, 0.0, 7.0, 4.0, 6.0] * 2)  # 20 points: deciles of 2
    el2n[[2, 12]] = [9.5, 9.0]  # the two largest; next come 8.0 at positions 4 and 14
    groups = left_out_groups(el2n)
    assert groups[TOP_EL2N] == (2, 12)
    assert len(groups[RANDOM]) == 2 and len(set(groups[RANDOM])) == 2 and max(groups[RANDOM]) < 20
    assert left_out_groups(el2n)[RANDOM] == groups[RANDOM]  # the same draw every time: one key


def test_left_out_is_checked_before_any_data_is_read():
    for bad, allowed in [([3, -1], "integers >= 0"), ([2, 2], "distinct"), ([True], "integers >= 0"), (5, "a list")]:
        with pytest.raises(ParameterError, match=f"left_out.*{allowed}"):
            validate_study({"dataset": "rotten-tomatoes", "arch": "bilstm", "seeds": 1, "left_out": bad})
    assert validate_study(
        {"dataset": "rotten-tomatoes", "arch": "bilstm", "seeds": 1, "left_out": [7, 3]}
    ).left_out == (3, 7)


def test_a_left_out_study_trains_on_the_other_points_with_the_full_vocabulary():
    full = load_study("ci", **TINY, seeds=1)
    without = replace(full, left_out=(0, 5))
    full_data, reduced = prepare_data(full, encode=False), prepare_data(without, encode=False)
    assert reduced.dataset.train.ids == tuple(i for p, i in enumerate(full_data.dataset.train.ids) if p not in (0, 5))
    assert reduced.dataset.test.ids == full_data.dataset.test.ids
    assert reduced.encoder.fingerprint == full_data.encoder.fingerprint  # words of the left-out points keep their rows
    assert study_key(without, reduced, DENSE, 0.0, 0) != study_key(full, full_data, DENSE, 0.0, 0)
    with pytest.raises(ParameterError, match=r"left_out.*0\.\.39"):
        prepare_data(replace(full, left_out=(40,)), encode=False)


def test_the_groups_come_from_half_a_and_train_on_the_seeds_of_half_b(main):
    el2n = half_a_el2n(main, 1)
    early = main.logits(DENSE, 0.0, split="train", array="train_logits_epoch1")
    np.testing.assert_array_equal(el2n, el2n_scores(early[:2], main.labels("train")))  # seeds 0 and 1 only
    studies = group_studies(main, el2n_epoch=1, retrains=1)
    assert studies[TOP_EL2N].left_out == tuple(sorted(np.argsort(el2n, kind="stable")[-4:].tolist()))
    for study in studies.values():
        assert list(study.seed_range) == [2] and study.methods == () and len(study.left_out) == 4
    with pytest.raises(ParameterError, match="group_retrains.*1..1"):
        group_studies(main, el2n_epoch=1, retrains=2)


def test_group_runs_train_once_then_read_back_without_training(main, monkeypatch):
    studies = group_studies(main, el2n_epoch=1, retrains=1)
    log = main.store.root / "training.log"
    before = log.read_text().count(" finish ")
    trained = train_groups(main, studies, progress=False)
    assert log.read_text().count(" finish ") == before + 2  # one run per group
    for group in trained.values():
        run = group.store.read(group.table.key.iloc[0])
        assert run.arrays["train_logits"].shape == (36, 2)  # trained on 40 − 4 points
        assert run.meta["spec"]["seed"] == 2
    monkeypatch.setenv(NO_TRAIN_ENV, "1")
    again = train_groups(main, studies, progress=False)
    np.testing.assert_array_equal(again[TOP_EL2N].logits(DENSE, 0.0), trained[TOP_EL2N].logits(DENSE, 0.0))
    assert log.read_text().count(" finish ") == before + 2
    other = group_studies(main, el2n_epoch=1, retrains=1, store=str(main.store.root.parent / "elsewhere"))
    with pytest.raises(MissingRunsError, match="without the top EL2N decile.*parameters differ"):
        train_groups(main, other, progress=False)
