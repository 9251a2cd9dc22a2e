"""Unit tests of pie_utils.shift on tiny hand-made populations (rows are seeds, columns examples)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pie_utils.errors import ParameterError
from pie_utils.shift import DOMAINS, bootstrap_measures, domain_measures, interval_table, pool_domains
from pie_utils.stats import bootstrap

# Six points: the first three in distribution, the last three out of it.
OOD = np.array([False, False, False, True, True, True])
GOLD = np.array([0, 1, 1, 0, 1, 0])
DENSE_A = np.array([[0, 1, 1, 0, 1, 0], [0, 1, 1, 0, 1, 0]])  # modal: 0 1 1 | 0 1 0 (all right)
DENSE_B = np.array([[0, 1, 1, 0, 1, 1], [0, 1, 1, 0, 1, 1]])  # modal: 0 1 1 | 0 1 1 → disagrees with A on point 5
PRUNED_A = np.array([[0, 1, 0, 1, 1, 0], [1, 1, 0, 1, 0, 0]])  # pruned half A, only measures
PRUNED_B = np.array([[0, 1, 0, 1, 0, 1], [0, 1, 0, 1, 0, 1]])  # modal: 0 1 0 | 1 0 1 → PIEs at points 2, 3, 4, 5


def measures():
    return domain_measures(DENSE_A, DENSE_B, PRUNED_A, PRUNED_B, GOLD, OOD, num_classes=2)


def test_shares_and_effect_by_hand():
    m = measures()
    # PIEs: point 2 in distribution (1 of 3); points 3, 4, 5 out of it (3 of 3)
    assert m["pie_share_id"] == pytest.approx(1 / 3) and m["pie_share_ood"] == pytest.approx(1.0)
    # null: dense A and B disagree only at point 5 (0 of 3 in, 1 of 3 out)
    assert m["null_share_id"] == 0.0 and m["null_share_ood"] == pytest.approx(1 / 3)
    assert m["excess_id"] == pytest.approx(1 / 3) and m["excess_ood"] == pytest.approx(2 / 3)
    assert m["pie_increase"] == pytest.approx(2 / 3) and m["null_increase"] == pytest.approx(1 / 3)
    # (1 − 1/3) − (1/3 − 0)
    assert m["effect"] == pytest.approx(1 / 3)


def test_accuracies_by_hand():
    m = measures()
    # dense, four models per domain: A is always right; B is wrong at point 5 in both seeds → 10 of 12 out of distribution
    assert m["dense_accuracy_id"] == 1.0 and m["dense_accuracy_ood"] == pytest.approx(10 / 12)
    # pruned, four models on points 0–2: A right on 0 1 | 1 1 (2nd seed wrong at 0); B right on 0 1 | 0 1
    # → right: seeds (A1: 0,1) (A2: 1) (B1: 0,1) (B2: 0,1) = 7 of 12
    assert m["pruned_accuracy_id"] == pytest.approx(7 / 12)
    # points 3–5, gold 0 1 0: A1 1 1 0 → 2; A2 1 0 0 → 1; B1 1 0 1 → 0; B2 → 0: 3 of 12
    assert m["pruned_accuracy_ood"] == pytest.approx(3 / 12)
    # PIE in distribution is point 2 (gold 1): pruned A predicts 0, 0; dense B predicts 1, 1
    assert m["pruned_accuracy_pies_id"] == 0.0 and m["dense_accuracy_pies_id"] == 1.0
    # non-PIEs in distribution, points 0 and 1: pruned A right 3 of 4, dense B 4 of 4
    assert m["pruned_accuracy_non_pies_id"] == pytest.approx(3 / 4) and m["dense_accuracy_non_pies_id"] == 1.0
    # out of distribution every point is a PIE: pruned A right 3 of 6, dense B right 4 of 6
    assert m["pruned_accuracy_pies_ood"] == pytest.approx(3 / 6) and m["dense_accuracy_pies_ood"] == pytest.approx(
        4 / 6
    )
    assert np.isnan(m["pruned_accuracy_non_pies_ood"]) and np.isnan(m["dense_accuracy_non_pies_ood"])


def test_measures_cover_both_domains():
    keys = set(measures())
    for domain in DOMAINS:
        assert {f"pie_share_{domain}", f"null_share_{domain}", f"excess_{domain}"} <= keys
    assert {"effect", "pie_increase", "null_increase"} <= keys


def test_same_populations_give_no_pies_and_no_effect():
    m = domain_measures(DENSE_A, DENSE_A, DENSE_A, DENSE_A, GOLD, OOD, num_classes=2)
    assert m["pie_share_id"] == m["pie_share_ood"] == m["null_share_ood"] == m["effect"] == 0.0


def test_pool_domains():
    inside = np.arange(6).reshape(2, 3)
    outside = np.arange(10).reshape(2, 5) + 100
    (pooled, labels), ood = pool_domains([inside, np.zeros(3)], [outside, np.ones(5)])
    assert pooled.shape == (2, 8) and pooled[1, 3] == 105 and pooled[0, 2] == 2
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]
    assert ood.dtype == bool and ood.tolist() == [False] * 3 + [True] * 5


def test_pool_domains_rejects_mismatched_arrays():
    with pytest.raises(ParameterError, match="out_domain"):
        pool_domains([np.zeros((2, 3))], [np.zeros((3, 5))])  # another seed count
    with pytest.raises(ParameterError, match="in_domain"):
        pool_domains([np.zeros((2, 3)), np.zeros(4)], [np.zeros((2, 5)), np.zeros(5)])  # 3 vs 4 in-domain points
    with pytest.raises(ParameterError, match="out_domain"):
        pool_domains([np.zeros(3)], [])


@pytest.mark.parametrize(
    "change, parameter",
    [
        ({"ood": OOD.astype(int)}, "ood"),
        ({"ood": np.zeros(6, dtype=bool)}, "ood"),
        ({"gold": GOLD[:5]}, "dense_a"),
        ({"pruned_b": PRUNED_B[:, None, :]}, "pruned_b"),
        ({"gold": np.eye(2, dtype=bool)[GOLD]}, "gold"),
    ],
)
def test_bad_input_names_the_parameter(change, parameter):
    arguments = {
        "dense_a": DENSE_A,
        "dense_b": DENSE_B,
        "pruned_a": PRUNED_A,
        "pruned_b": PRUNED_B,
        "gold": GOLD,
        "ood": OOD,
        **change,
    }
    with pytest.raises(ParameterError, match=parameter):
        domain_measures(**arguments, num_classes=2)


def test_bootstrap_measures_uses_the_resamples_of_stats_bootstrap():
    arrays = [DENSE_A, DENSE_B, PRUNED_A, PRUNED_B, GOLD, OOD]

    def safe(*a):  # a resample can leave a domain empty with six points; score those as NaN
        return domain_measures(*a, num_classes=2) if 0 < a[-1].sum() < len(a[-1]) else {"pie_share_ood": np.nan}

    samples = bootstrap_measures(arrays, safe, n_resamples=50, seed=3)
    expected = bootstrap(arrays, lambda *a: safe(*a)["pie_share_ood"], n_resamples=50, seed=3)
    assert samples.shape[0] == 50
    np.testing.assert_array_equal(samples["pie_share_ood"].to_numpy(), expected)


def test_interval_table():
    samples = pd.DataFrame({"a": np.arange(101.0), "b": np.full(101, 2.0)})
    table = interval_table({"a": 50.0, "b": 2.0}, samples)
    assert table.measure.tolist() == ["a", "b"]
    assert table.iloc[0][["value", "low", "high"]].tolist() == pytest.approx([50.0, 2.5, 97.5])
    assert table.iloc[1][["low", "high"]].tolist() == [2.0, 2.0]
    with pytest.raises(ParameterError, match="samples"):
        interval_table({"c": 1.0}, samples)
