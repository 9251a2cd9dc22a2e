"""Unit tests of pie_utils.influence on tiny hand-made logits (rows are seeds, then examples)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pie_utils.errors import ParameterError
from pie_utils.influence import el2n_scores, influence_by_bin, per_example_loss, percentile_bins

LOG3 = math.log(3.0)  # logits [0, log 3] give softmax [1/4, 3/4] and sigmoids [1/2, 3/4]


def test_cross_entropy_is_minus_log_gold_probability():
    logits = np.array([[[0.0, LOG3], [0.0, LOG3], [1000.0, -1000.0]]])  # [seed=1, example=3, class=2]
    loss = per_example_loss(logits, np.array([1, 0, 1]))
    assert loss.shape == (1, 3) and loss.dtype == np.float64
    # −log(3/4), −log(1/4), and a finite 2000 where the probability underflows to 0
    assert loss[0].tolist() == pytest.approx([-math.log(0.75), math.log(4.0), 2000.0])


def test_multilabel_loss_is_mean_binary_cross_entropy():
    logits = np.array([[[0.0, LOG3], [-1000.0, 0.0]]])
    labels = np.array([[True, False], [True, True]])
    loss = per_example_loss(logits, labels)
    # example 0: class 0 on, σ=1/2 → log 2; class 1 off, σ=3/4 → −log(1/4) = log 4; mean 1.5·log 2
    # example 1: class 0 on at logit −1000 → 1000; class 1 on, σ=1/2 → log 2
    assert loss[0].tolist() == pytest.approx([1.5 * math.log(2.0), (1000.0 + math.log(2.0)) / 2])
    assert np.array_equal(per_example_loss(logits, labels.astype(np.uint8)), loss)


def test_el2n_by_hand():
    logits = np.array(
        [
            [[100.0, -100.0], [0.0, 0.0], [-100.0, 100.0], [0.0, 0.0]],
            [[100.0, -100.0], [0.0, 0.0], [-100.0, 100.0], [100.0, -100.0]],
        ]
    )  # [seed=2, example=4, class=2]
    scores = el2n_scores(logits, np.array([0, 1, 0, 0]))
    # gold certain → 0; uniform → √(½² + ½²) = √0.5; certain and wrong → √2; mean of √0.5 and 0
    assert scores.tolist() == pytest.approx([0.0, math.sqrt(0.5), math.sqrt(2.0), math.sqrt(0.5) / 2], abs=1e-12)


def test_multilabel_el2n_uses_sigmoids():
    logits = np.array([[[0.0, 0.0, 100.0], [0.0, LOG3, -100.0]]])
    labels = np.array([[1, 0, 1], [0, 1, 0]], dtype=bool)
    # example 0: |½−1|, |½−0|, 0 → √0.5; example 1: ½, ¼, 0 → √(5/16)
    assert el2n_scores(logits, labels).tolist() == pytest.approx([math.sqrt(0.5), math.sqrt(5 / 16)])


def test_percentile_bins_rank_and_split_ties_by_position():
    scores = np.array([5, 1, 3, 3, 2, 4, 0, 6, 7, 9])
    # ranks: 6 1 3 4 2 5 0 7 8 9 → bin = rank // 2; the two 3s (positions 2, 3) straddle bins 1 and 2
    assert percentile_bins(scores, 5).tolist() == [3, 0, 1, 2, 1, 2, 0, 3, 4, 4]
    assert np.bincount(percentile_bins(np.arange(7.0), 3)).tolist() == [3, 2, 2]
    assert percentile_bins(np.zeros(6), 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert sorted(np.bincount(percentile_bins(np.random.default_rng(0).random(1003)))) == [50] * 17 + [51] * 3


def test_influence_table_on_40_points():
    el2n = np.arange(40) * 0.01  # 4 bins of 10 in position order
    pies = np.zeros(40, dtype=bool)
    pies[[20, 22, 25, 29]] = True  # bin 2: 4 PIEs
    pies[[30, 31, 32, 33, 34, 35, 36, 38]] = True  # bin 3: 8 PIEs
    dense = np.ones(40)
    pruned = np.ones(40)
    pruned[20:30] = 2.0
    pruned[30:35], pruned[35:40] = 2.0, 4.0  # bin 3 mean 3
    order = np.random.default_rng(0).permutation(40)  # the table must not depend on point order
    table = influence_by_bin(el2n[order], pies[order], dense[order], pruned[order], n_bins=4)
    assert table.bin.tolist() == [0, 1, 2, 3]
    assert table.n.tolist() == [10] * 4 and table.pies.tolist() == [0, 0, 4, 8]
    assert table.el2n_low.tolist() == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert table.el2n_high.tolist() == pytest.approx([0.09, 0.19, 0.29, 0.39])
    assert table.pie_rate.tolist() == pytest.approx([0.0, 0.0, 0.4, 0.8])
    assert table.pie_share.tolist() == pytest.approx([0.0, 0.0, 1 / 3, 2 / 3])
    assert table.loss_ratio.tolist() == pytest.approx([1.0, 1.0, 2.0, 3.0])
    assert table.attrs == {"overall_pie_rate": pytest.approx(0.3), "uniform_share": 0.25}


def test_default_twenty_bins_and_no_pies():
    table = influence_by_bin(np.arange(40.0), np.zeros(40, dtype=bool), np.ones(40), np.ones(40))
    assert len(table) == 20 and (table.n == 2).all() and table.attrs["uniform_share"] == 0.05
    assert (table.pie_rate == 0).all() and table.pie_share.isna().all()
    zero_dense = influence_by_bin(
        np.arange(4.0), np.ones(4, dtype=bool), np.array([0, 0, 1, 1.0]), np.ones(4), n_bins=2
    )
    assert np.isnan(zero_dense.loss_ratio[0]) and zero_dense.loss_ratio[1] == 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: per_example_loss(np.zeros((2, 3)), np.zeros(3, dtype=int)),  # logits not 3-D
        lambda: per_example_loss(np.zeros((1, 3, 2)), np.array([0, 2, 1])),  # class 2 of 2
        lambda: per_example_loss(np.zeros((1, 3, 2)), np.array([0.0, 1.0, 1.0])),  # float class indices
        lambda: el2n_scores(np.zeros((1, 3, 2)), np.zeros((3, 3), dtype=bool)),  # multi-hot of 3 classes
        lambda: el2n_scores(np.full((1, 1, 2), np.nan), np.array([0])),  # a diverged run
        lambda: percentile_bins(np.arange(5.0), 6),  # more bins than points
        lambda: percentile_bins(np.arange(5.0), 0),
        lambda: percentile_bins(np.array([1.0, np.nan]), 1),
        lambda: influence_by_bin(np.arange(4.0), np.array([0, 1]), np.ones(4), np.ones(4), 2),  # indices, not a mask
        lambda: influence_by_bin(np.arange(4.0), np.zeros(4, dtype=bool), np.ones(3), np.ones(4), 2),
        lambda: influence_by_bin(np.arange(4.0), np.zeros(4, dtype=bool), np.ones(4), np.ones(4), True),
    ],
)
def test_bad_input_is_refused(call):
    with pytest.raises(ParameterError):
        call()
