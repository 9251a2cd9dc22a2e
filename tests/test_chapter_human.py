"""Chapter 7's bookkeeping on small tables whose answers can be read off."""

import numpy as np
import pandas as pd
import pytest

from pie_utils.chapters.human import measure_on_splits, proxy_correlations
from pie_utils.errors import ParameterError


class _Splits:
    """Stands in for a trained study: only the split sizes matter here."""

    def labels(self, split):
        return np.zeros({"validation": 3, "test": 2}[split], int)


def test_human_measures_land_on_their_points_and_unrated_points_stay_nan():
    points = pd.DataFrame(
        {"split": ["validation", "test", "validation"], "position": [2, 0, 0], "rater_spread": [1.5, 0.5, 2.0]}
    )
    values = measure_on_splits(_Splits(), points, "rater_spread")
    np.testing.assert_array_equal(values, [2.0, np.nan, 1.5, 0.5, np.nan])
    with pytest.raises(ParameterError, match="measure"):
        measure_on_splits(_Splits(), points, "stars")


def test_proxy_correlations_are_spearman_with_an_interval_and_skip_empty_proxies():
    x = np.arange(20.0)
    proxies = pd.DataFrame({"same_order": x, "reversed": -x, "readability": np.full(20, np.nan)})
    human = pd.DataFrame({"rater_spread": x**2})  # monotone in x: rho = 1 and -1
    table = proxy_correlations(proxies, human, n_resamples=50).set_index("proxy")
    assert table.rho.to_dict() == pytest.approx({"same_order": 1.0, "reversed": -1.0})
    assert "readability" not in table.index
    assert (table.low <= table.rho + 1e-12).all() and (table.rho <= table.high + 1e-12).all()
    with pytest.raises(ParameterError, match="human"):
        proxy_correlations(proxies, human.iloc[:5])
