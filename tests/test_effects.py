"""Effects against controls and cells: small per-seed arrays whose answers can be worked by hand."""

import numpy as np
import pytest
from scipy import stats

from pie_utils.claims import claim
from pie_utils.effects import ALL_CONTROLS, cell_table, effect_table, in_words, matched_epoch
from pie_utils.errors import ParameterError
from pie_utils.paired import leave_one_out_disagreement


def test_matched_epoch_is_the_closest_in_either_direction_earliest_on_a_tie():
    accuracy = [0.60, 0.70, 0.75, 0.74]
    assert matched_epoch(accuracy, 0.745) == 3  # 0.75 and 0.74 both 0.005 away: the earlier
    assert matched_epoch(accuracy, 0.90) == 3  # above every epoch: the most accurate
    assert matched_epoch(accuracy, 0.50) == 1
    assert matched_epoch(accuracy, 0.71) == 2
    with pytest.raises(ParameterError, match="accuracy_by_epoch"):
        matched_epoch([], 0.7)


def test_leave_one_out_disagreement_on_a_subset_of_points():
    reference = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 1], [1, 0, 1]])  # leave-one-out vote: (1, 0, 1)
    model = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [1, 0, 1]])
    np.testing.assert_allclose(
        leave_one_out_disagreement(model, reference, 2, points=[True, True, False]), [0, 0.5, 0.5, 0]
    )
    with pytest.raises(ParameterError, match="points"):
        leave_one_out_disagreement(model, reference, 2, points=[False, False, False])


def test_an_effect_is_judged_against_each_control_and_over_all_of_them():
    excess = claim("pie_excess")  # delta 0.02, superiority, three controls
    treated = np.array([0.20, 0.22, 0.21, 0.23, 0.20, 0.22, 0.21, 0.23])
    controls = {
        "seed_noise": treated - np.array([0.10, 0.11, 0.09, 0.10, 0.12, 0.10, 0.11, 0.09]),  # far above
        "extra_training": treated - np.array([0.05, 0.06, 0.04, 0.05, 0.06, 0.05, 0.04, 0.06]),  # above
        "accuracy_matched": treated - np.array([0.001, -0.001, 0.002, 0.0, 0.001, -0.002, 0.0, 0.001]),  # negligible
    }
    table = effect_table(excess, treated, controls).set_index("control")
    assert table.loc["seed_noise", "estimate"] == pytest.approx(0.1025)
    contrast = treated - controls["extra_training"]
    half = stats.t.ppf(0.975, 7) * contrast.std(ddof=1) / np.sqrt(8)
    assert table.loc["extra_training", ["low", "high"]].tolist() == pytest.approx([0.05125 - half, 0.05125 + half])
    assert table.loc["seed_noise", "verdict"] == table.loc["extra_training", "verdict"] == "supported"
    assert table.loc["accuracy_matched", "verdict"] == "not supported"  # wholly inside +-0.02
    assert table.loc[ALL_CONTROLS, "verdict"] == "not supported"
    assert table.loc[ALL_CONTROLS, "estimate"] == table.loc["accuracy_matched", "estimate"]
    assert table.loc[ALL_CONTROLS, "decided_by"] == "accuracy_matched"  # the one it does not exceed
    assert (table.seeds == 8).all()


def test_an_effect_table_refuses_controls_the_claim_does_not_name():
    with pytest.raises(ParameterError, match="controls"):
        effect_table(claim("pie_excess"), np.zeros(6), {"seed_noise": np.zeros(6)})


def test_a_claim_without_controls_judges_the_contrast_itself():
    kept = claim("effectiveness")  # non-inferiority at -0.03
    table = effect_table(kept, np.array([-0.01, 0.0, -0.005, 0.004, -0.002, 0.001]), {})
    assert table.control.tolist() == ["none"] and table.verdict.item() == "supported"


def test_secondary_cells_get_simultaneous_intervals_and_holm_p_values():
    kept = claim("effectiveness")
    rng = np.random.default_rng(0)
    cells = {(m, s): rng.normal(-0.01, 0.01, 10) for m in ("IMP-FT", "MP-AI") for s in (0.5, 0.9)}
    table = cell_table(kept, cells, primary=("IMP-FT", 0.5), names=("method", "sparsity")).set_index(
        ["method", "sparsity"]
    )
    assert table.primary.sum() == 1 and table.loc[("IMP-FT", 0.5), "primary"]
    for cell, contrast in cells.items():
        level = 0.95 if cell == ("IMP-FT", 0.5) else 1 - 0.05 / 3  # Bonferroni over the 3 secondary cells
        half = stats.t.ppf(0.5 + level / 2, 9) * contrast.std(ddof=1) / np.sqrt(10)
        assert table.loc[cell, "high"] - table.loc[cell, "low"] == pytest.approx(2 * half)
    secondary = table[~table.primary]
    assert (secondary.p_holm >= secondary.p_value).all()
    assert table.loc[("IMP-FT", 0.5), "p_holm"] == table.loc[("IMP-FT", 0.5), "p_value"]
    with pytest.raises(ParameterError, match="primary"):
        cell_table(kept, cells, primary=("IMP-WR", 0.5), names=("method", "sparsity"))


def test_a_row_in_words_gives_its_numbers_or_why_it_measured_nothing():
    row = {"estimate": 0.0123, "low": -0.004, "high": 0.0286, "power": 0.456}
    assert in_words(row) == "+0.012 [-0.004, +0.029], power at Δ 0.46"
    assert in_words({"estimate": np.nan, "reason": "one class"}) == "not measured: one class"


def test_leave_one_out_disagreement_with_points_chosen_per_seed():
    reference = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 1], [1, 0, 1]])  # leave-one-out vote: (1, 0, 1)
    model = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 1], [1, 0, 1]])
    points = np.array([[True, False, False], [False, False, True], [False, True, True], [True, True, True]])
    # row 0: example 0 agrees; row 1: example 2 differs; row 2: 1 differs, 2 agrees; row 3: all agree
    np.testing.assert_allclose(leave_one_out_disagreement(model, reference, 2, points=points), [0, 1, 0.5, 0])


def test_each_row_says_how_many_seeds_would_give_80_percent_power():
    from pie_utils.paired import seeds_for_claim

    excess = claim("pie_excess")
    rng = np.random.default_rng(1)
    treated = rng.normal(0.05, 0.03, 6)
    controls = {name: treated - rng.normal(0.01, 0.03, 6) for name in excess.controls}
    table = effect_table(excess, treated, controls).set_index("control")
    for name in excess.controls:
        assert table.loc[name, "seeds_needed"] == seeds_for_claim(excess, table.loc[name, "sd"])
    assert table.loc[ALL_CONTROLS, "seeds_needed"] == table.loc[list(excess.controls), "seeds_needed"].max()
    row = table.loc[ALL_CONTROLS]
    assert f"needs about {row.seeds_needed:.0f} seeds" in in_words(row) or row.power >= 0.8
