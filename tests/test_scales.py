"""A chapter's verdicts beside the shipped default-scale ones, and what a build records of them."""

import numpy as np
import pandas as pd

from pie_utils.scales import RECORD_ENV, SHIPPED, beside_default

ROW = pd.Series({"verdict": "supported", "estimate": 0.031, "low": 0.012, "high": 0.05, "power": 0.91, "seeds": 30})


def test_this_scale_sits_above_the_shipped_default_and_an_unshipped_claim_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PIE_UTILS_ROOT", str(tmp_path))
    (tmp_path / SHIPPED).parent.mkdir(parents=True)
    pd.DataFrame(
        [{"claim": "pie_excess", "profile": "default", "verdict": "underpowered at this scale", "estimate": 0.02}]
    ).to_csv(tmp_path / SHIPPED, index=False)
    rho = pd.Series({"verdict": "not supported", "rho": 0.229, "low": 0.186, "high": 0.267})
    table = beside_default("published", {"pie_excess": ROW, "el2n_influence": rho})
    assert table.scale.tolist() == ["published (this book)", "default (shipped)"] * 2
    assert table.verdict.tolist() == [
        "supported",
        "underpowered at this scale",
        "not supported",
        "not in the shipped table",
    ]
    assert table.estimate.iloc[0] == 0.031 and table.estimate.iloc[2] == 0.229  # a correlation's rho
    assert np.isnan(table.seeds_needed.iloc[0])  # a figure the row lacks


def test_a_build_records_one_row_per_claim_and_the_default_scale_shows_itself_alone(tmp_path, monkeypatch):
    record = tmp_path / "verdicts.csv"
    monkeypatch.setenv(RECORD_ENV, str(record))
    monkeypatch.setenv("PIE_UTILS_ROOT", str(tmp_path))
    beside_default("default", {"seed_stability": ROW})
    again = beside_default("default", {"seed_stability": ROW.replace("supported", "not supported")})
    assert again.scale.tolist() == ["default (this book)"]
    written = pd.read_csv(record)
    assert written.claim.tolist() == ["seed_stability"] and written.verdict.tolist() == ["not supported"]
