"""Unit tests of pie_utils.pies on hand-made vote matrices (rows are seeds, columns examples)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pie_utils.errors import ParameterError
from pie_utils.pies import (
    accuracy_on_subsets,
    find_pies,
    modal_labels,
    predictions_from_logits,
)


def test_predictions_from_logits():
    logits = np.array(
        [[[0.1, 2.0, -1.0], [3.0, 0.0, 3.0]], [[-5.0, -6.0, -4.0], [0.0, 0.2, 0.1]]]
    )  # [seed=2, example=2, class=3]
    assert np.array_equal(predictions_from_logits(logits), [[1, 0], [2, 1]])  # tie 3.0/3.0 → first
    # sigmoid > 0.5 ⇔ logit > 0; seed 1 with threshold 0.55 also needs logit > 0.2007
    expected = np.array([[[True, True, False], [True, False, True]], [[False, False, False], [False, False, False]]])
    assert np.array_equal(predictions_from_logits(logits, multilabel=True, thresholds=[0.5, 0.55]), expected)
    assert predictions_from_logits(logits, multilabel=True)[1, 1].tolist() == [False, True, True]
    assert predictions_from_logits(np.full((1, 1, 2), -1000.0), multilabel=True, thresholds=0.0).tolist() == [
        [[False, False]]
    ]
    with pytest.raises(ParameterError):
        predictions_from_logits(logits, multilabel=True, thresholds=[0.5, 0.5, 0.5])


def test_single_label_ties_go_to_the_lowest_class():
    predictions = np.array([[0, 2, 1, 0], [1, 2, 2, 0], [1, 1, 2, 0], [0, 2, 1, 1]])  # 4 seeds × 4 examples, 3 classes
    result = modal_labels(predictions, num_classes=3)
    # votes: ex0 {0:2, 1:2} tie → 0; ex1 {2:3, 1:1} → 2; ex2 {1:2, 2:2} tie → 1; ex3 {0:3} → 0
    assert result.labels.tolist() == [0, 2, 1, 0]
    assert result.ties.tolist() == [True, False, True, False]
    assert result.n_ties == 2
    assert result.votes.tolist() == [[2, 2, 0], [0, 1, 3], [0, 2, 2], [3, 1, 0]]


def test_multilabel_exactly_half_is_off_and_a_tie():
    predictions = np.array(
        [  # 4 seeds × 2 examples × 3 classes
            [[1, 1, 0], [0, 0, 1]],
            [[1, 1, 0], [0, 0, 1]],
            [[1, 0, 1], [0, 0, 1]],
            [[0, 0, 0], [1, 0, 1]],
        ],
        dtype=bool,
    )
    result = modal_labels(predictions, num_classes=3)
    # ex0 votes 3/2/1 of 4: class 0 on, class 1 exactly half → off (tie), class 2 off
    # ex1 votes 1/0/4: only class 2 on, no tie
    assert result.labels.tolist() == [[True, False, False], [False, False, True]]
    assert result.ties.tolist() == [True, False]
    assert result.n_ties == 1


def test_identical_populations_have_no_pies():
    rng = np.random.default_rng(0)
    predictions = rng.integers(0, 3, size=(7, 50))
    assert not find_pies(predictions, predictions.copy(), 3).any()
    multi = rng.random((6, 20, 4)) > 0.5
    assert not find_pies(multi, multi.copy(), 4).any()


def test_seed_order_does_not_matter():
    rng = np.random.default_rng(1)
    dense, pruned = rng.integers(0, 4, size=(9, 200)), rng.integers(0, 4, size=(9, 200))
    order = rng.permutation(9)
    assert np.array_equal(modal_labels(dense, 4).labels, modal_labels(dense[order], 4).labels)
    assert np.array_equal(find_pies(dense, pruned, 4), find_pies(dense[order], pruned[rng.permutation(9)], 4))
    multi_dense, multi_pruned = rng.random((8, 30, 5)) > 0.4, rng.random((8, 30, 5)) > 0.6
    assert np.array_equal(
        find_pies(multi_dense, multi_pruned, 5), find_pies(multi_dense[rng.permutation(8)], multi_pruned[::-1], 5)
    )


def test_worked_example_by_eye():
    dense = np.array([[0, 1, 1, 2, 0], [0, 1, 2, 2, 1], [0, 1, 1, 2, 1]])  # modal 0 1 1 2 1
    pruned = np.array([[0, 2, 1, 0, 1], [0, 2, 1, 0, 0], [1, 1, 1, 0, 0]])  # modal 0 2 1 0 0
    assert find_pies(dense, pruned, 3).tolist() == [False, True, False, True, True]
    # different population sizes are fine; gold labels play no part
    assert find_pies(dense, pruned[:2], 3).tolist() == [False, True, False, True, True]


def test_exclude_ties():
    dense = np.array([[0, 1, 1], [1, 1, 1]])  # ex0 ties (→ 0)
    pruned = np.array([[2, 0, 2], [2, 0, 1]])  # ex2 ties between 1 and 2 (→ 1)
    assert find_pies(dense, pruned, 3).tolist() == [True, True, False]
    assert find_pies(dense, pruned, 3, exclude_ties=True).tolist() == [False, True, False]


def test_multilabel_pie_differs_on_any_class():
    dense = np.array([[[1, 0], [1, 1], [0, 0]]] * 3, dtype=bool)
    pruned = np.array([[[1, 0], [1, 0], [0, 0]]] * 3, dtype=bool)
    assert find_pies(dense, pruned, 2).tolist() == [False, True, False]


def _row(table: pd.DataFrame, population: str, subset: str, aggregation: str) -> pd.Series:
    rows = table[(table.population == population) & (table.subset == subset) & (table.aggregation == aggregation)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_accuracy_table_by_hand():
    gold = np.array([0, 1, 2])
    dense = np.array([[0, 1, 2], [0, 1, 1], [1, 1, 2]])  # modal 0 1 2 (all right); per model 3/3, 2/3, 2/3
    pruned = np.array([[0, 2, 1], [0, 2, 2], [1, 0, 1]])  # modal 0 2 1 (1 of 3 right); per model 1/3, 2/3, 0
    pies = find_pies(dense, pruned, 3)
    assert pies.tolist() == [False, True, True]
    table = accuracy_on_subsets(dense, pruned, gold, pies, 3)
    assert len(table) == 12 and set(table.metric) == {"accuracy"}
    expected = {
        ("dense", "all", "modal"): (1.0, 3),
        ("dense", "pie", "modal"): (1.0, 2),
        ("dense", "non_pie", "modal"): (1.0, 1),
        ("dense", "all", "mean_over_models"): (7 / 9, 3),
        ("dense", "pie", "mean_over_models"): ((1 + 1 / 2 + 1) / 3, 2),  # examples 1 and 2
        ("dense", "non_pie", "mean_over_models"): (2 / 3, 1),  # example 0
        ("pruned", "all", "modal"): (1 / 3, 3),
        ("pruned", "pie", "modal"): (0.0, 2),
        ("pruned", "non_pie", "modal"): (1.0, 1),
        ("pruned", "all", "mean_over_models"): ((1 / 3 + 2 / 3 + 0) / 3, 3),
        ("pruned", "pie", "mean_over_models"): ((0 + 1 / 2 + 0) / 3, 2),
        ("pruned", "non_pie", "mean_over_models"): (2 / 3, 1),
    }
    for key, (value, n) in expected.items():
        row = _row(table, *key)
        assert row.value == pytest.approx(value), key
        assert row.n_examples == n, key


def test_empty_pie_set_gives_nan_rows():
    predictions = np.array([[0, 1], [0, 1]])
    pies = find_pies(predictions, predictions, 2)
    table = accuracy_on_subsets(predictions, predictions, np.array([0, 0]), pies, 2)
    pie_rows = table[table.subset == "pie"]
    assert len(pie_rows) == 4 and pie_rows.value.isna().all() and (pie_rows.n_examples == 0).all()
    assert _row(table, "dense", "all", "modal").value == 0.5
    assert not table[table.subset != "pie"].value.isna().any()


def test_multilabel_table_uses_macro_f1():
    gold = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    dense = np.array([[[1, 0], [0, 1], [1, 1]]] * 3, dtype=bool)  # perfect: macro-F1 1
    pruned = np.array([[[1, 0], [0, 0], [1, 0]]] * 3, dtype=bool)  # class 0 perfect; class 1: tp 0 fn 2 → F1 0
    pies = find_pies(dense, pruned, 2)
    assert pies.tolist() == [False, True, True]
    table = accuracy_on_subsets(dense, pruned, gold, pies, 2)
    assert set(table.metric) == {"macro_f1"}
    assert _row(table, "dense", "all", "modal").value == 1.0
    assert _row(table, "pruned", "all", "modal").value == pytest.approx(0.5)
    assert _row(table, "pruned", "all", "mean_over_models").value == pytest.approx(0.5)
    # non-PIE example 0 has no class-1 gold or prediction: that class counts 0 (zero_division=0)
    assert _row(table, "pruned", "non_pie", "modal").value == pytest.approx(0.5)


def test_bad_predictions_are_refused():
    with pytest.raises(ParameterError):
        modal_labels(np.array([[0, 3]]), num_classes=3)
    with pytest.raises(ParameterError):
        find_pies(np.zeros((2, 4), dtype=int), np.zeros((2, 5), dtype=int), 2)
    with pytest.raises(ParameterError):
        accuracy_on_subsets(
            np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int), np.zeros(3, dtype=int), np.zeros(4, dtype=bool), 2
        )
