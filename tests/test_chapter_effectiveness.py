"""Chapters 1 and 2's statistics on arrays small enough to work by hand."""

import numpy as np
import pandas as pd
import pytest

from pie_utils.chapters.effectiveness import accuracy_changes, excess_disagreement, loss_concentration, paper_changes
from pie_utils.chapters.frequency import frequency_slopes
from pie_utils.errors import ParameterError


def test_accuracy_changes_are_paired_seed_by_seed():
    np.testing.assert_allclose(accuracy_changes([0.70, 0.72, 0.68], [0.69, 0.70, 0.69]), [-0.01, -0.02, 0.01])
    with pytest.raises(ParameterError, match="pruned_metric"):
        accuracy_changes([0.7, 0.7], [0.7])


def test_loss_concentration_selects_pies_without_the_seed_it_scores():
    labels = np.array([0, 0, 1, 1])
    dense = np.tile(labels, (4, 1))  # every dense model right everywhere
    other = np.array([[1, 0, 1, 1], [1, 0, 1, 1], [1, 0, 1, 0], [0, 0, 1, 1]])
    # seed 0: the other 3 rows vote class 1 on example 0 only, so PIEs = {0}; its drop is 1 there
    #         and 0 elsewhere: 1. Seed 1: the same. Seed 2: PIEs = {0}; drop [1, 0, 0, 1]: 1 - 1/3.
    # seed 3: PIEs = {0}, but model 3 is right everywhere: 0 - 0.
    np.testing.assert_allclose(loss_concentration(dense, other, labels, 2), [1, 1, 2 / 3, 0])


def test_loss_concentration_is_zero_for_a_seed_whose_selection_finds_no_pie():
    labels = np.array([0, 1, 1])
    dense = np.tile(labels, (4, 1))
    np.testing.assert_allclose(loss_concentration(dense, dense.copy(), labels, 2), np.zeros(4))


def test_excess_disagreement_counts_against_the_dense_peers_without_the_seed():
    dense = np.array([[0, 1], [0, 1], [0, 1], [1, 1]])
    pruned = np.array([[1, 1], [0, 1], [0, 0], [0, 1]])
    np.testing.assert_allclose(excess_disagreement(pruned, dense, 2), [0.5, 0, 0.5, 0])


def test_the_paper_change_is_taken_from_the_closest_dataset_and_same_cell():
    paper = pd.DataFrame(
        {
            "dataset": ["IMDB", "IMDB", "Reuters", "Reuters"],
            "architecture": ["BiLSTM", "BiLSTM", "BiLSTM", "BiLSTM"],
            "method": ["IMP-FT", "IMP-FT", "MP-AI", "MP-AI"],
            "sparsity_percent": [0, 50, 0, 70],
            "mean": [0.879, 0.889, 0.731, 0.701],
        }
    )
    cells = pd.DataFrame(
        {
            "dataset": ["rotten-tomatoes", "reuters-r8", "rotten-tomatoes"],
            "arch": ["bilstm", "bilstm", "bert"],
            "method": ["IMP-FT", "MP-AI", "IMP-FT"],
            "sparsity": [0.5, 0.7, 0.5],
        }
    )
    changes = paper_changes(cells, paper)
    assert changes.iloc[0] == pytest.approx(0.010) and changes.iloc[1] == pytest.approx(-0.030)
    assert np.isnan(changes.iloc[2])  # the paper's BERT rows are not in this small table


def test_frequency_slopes_fit_the_recall_drop_against_log_frequency_per_seed():
    labels = np.array([0, 0, 1, 1, 2, 2])
    dense = np.tile(labels, (2, 1))  # right everywhere: recall 1 for every class
    # seed 0 loses half of class 0 (drop 0.5) and all of class 2 (drop 1); seed 1 loses nothing
    pruned = np.array([[1, 0, 1, 1, 0, 0], labels])
    counts = np.array([100, 10, 1])  # ln frequencies: ln(100/111), ln(10/111), ln(1/111)
    slopes, table = frequency_slopes(dense, pruned, labels, counts)
    x = np.log(counts / counts.sum())
    assert slopes[0] == pytest.approx(np.polyfit(x, [0.5, 0.0, 1.0], 1)[0]) and slopes[1] == 0
    np.testing.assert_allclose(table["drop"], [0.25, 0.0, 0.5])
    assert table["class"].tolist() == [0, 1, 2]


def test_frequency_slopes_skip_classes_no_dense_model_predicts():
    labels = np.array([0, 1, 2, 3])
    dense = np.array([[0, 1, 2, 0], [0, 1, 2, 2]])  # nobody predicts class 3
    _, table = frequency_slopes(dense, dense, labels, np.array([5, 4, 3, 2]))
    assert table["class"].tolist() == [0, 1, 2]
    with pytest.raises(ParameterError, match="dense"):
        frequency_slopes(np.zeros((2, 4), int), np.zeros((2, 4), int), labels, np.array([5, 4, 3, 2]))
