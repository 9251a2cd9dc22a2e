"""Per-seed statistics of a pruning effect and of its controls, and the tidy tables that judge them.

A chapter reduces each population to one number per seed (``[seed]``), for the treated
population and for each control, all paired by seed; this module turns those into contrasts,
inference, power at the claim's Δ and the verdict:

- ``matched_epoch``: the epoch of a dense trajectory whose mean accuracy is closest to a target
  (the accuracy-matched control);
- ``effect_table``: one row per control (treated − control per seed, its interval, p-value,
  power at Δ and verdict) and one row for the claim over every control (intersection–union);
- ``cell_table``: one effect per cell (e.g. method × sparsity) with simultaneous Bonferroni
  intervals, Holm-adjusted p-values, and the primary cell marked.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from pie_utils.claims import NOT_SUPPORTED, POWER_GOAL, Claim
from pie_utils.errors import ParameterError
from pie_utils.paired import (
    PairedResult,
    decide,
    decide_against_controls,
    design_power,
    paired_inference,
    seeds_for_claim,
)
from pie_utils.stats import holm

ALL_CONTROLS = "every control"
EFFECT_COLUMNS = (
    "control", "estimate", "low", "high", "p_value", "seeds", "sd", "power", "seeds_needed", "verdict", "decided_by"
)  # fmt: skip


def matched_epoch(accuracy_by_epoch: np.ndarray, target: float) -> int:
    """The 1-based epoch whose accuracy (``[epoch]``, mean over seeds) is closest to ``target``,
    in either direction; the earlier epoch on a tie."""
    accuracy_by_epoch = np.asarray(accuracy_by_epoch, float)
    if accuracy_by_epoch.ndim != 1 or len(accuracy_by_epoch) == 0:
        raise ParameterError("accuracy_by_epoch", f"shape {accuracy_by_epoch.shape}", "[epoch] accuracies, one or more")
    return int(np.argmin(np.abs(accuracy_by_epoch - target))) + 1


def effect_table(
    claim: Claim, treated: np.ndarray, controls: Mapping[str, np.ndarray], alpha: float = 0.05
) -> pd.DataFrame:
    """Judge ``claim`` from per-seed statistics: ``treated[seed]`` and ``controls[name][seed]``
    (the names of ``claim.controls``; for a claim without controls, give ``{}`` and ``treated``
    is the contrast itself).

    Returns one row per control (the contrast treated − control) and, for a claim with
    controls, a last row ``ALL_CONTROLS`` whose verdict is the intersection–union one and whose
    estimate and interval are those of the control that decides it (``decided_by``): among the
    controls the effect does not exceed (when the verdict is "not supported"), else among all,
    the one with the smallest estimate; its power is the weakest comparison's.
    ``power`` is the design's prospective power at Δ given the contrasts' seed-to-seed sd.
    """
    treated = np.asarray(treated, float)
    if set(controls) != set(claim.controls):
        raise ParameterError("controls", sorted(controls), f"the controls of {claim.id}: {list(claim.controls)}")
    contrasts = {name: treated - np.asarray(controls[name], float) for name in claim.controls} or {"none": treated}
    rows, results, powers = [], {}, {}
    for name, contrast in contrasts.items():
        row, results[name], powers[name] = _judged(name, contrast, claim, alpha)
        rows.append(row)
    if claim.controls:
        overall = decide_against_controls(results, claim, powers, alpha)
        against = [r["control"] for r in rows if r["verdict"] == NOT_SUPPORTED] if overall == NOT_SUPPORTED else []
        deciding = min(against or claim.controls, key=lambda name: results[name].estimate)
        rows.append(
            {
                **rows[list(claim.controls).index(deciding)],
                "control": ALL_CONTROLS,
                "verdict": overall,
                "decided_by": deciding,
                "power": min(powers.values()),
                "seeds_needed": max(row["seeds_needed"] for row in rows),  # every comparison must be powered
            }
        )
    return pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))


def cell_table(
    claim: Claim, cells: Mapping[tuple, np.ndarray], primary: tuple, names: tuple[str, ...], alpha: float = 0.05
) -> pd.DataFrame:
    """One row per cell: the mean of its per-seed contrasts ``cells[cell][seed]``, with an
    interval simultaneous over the secondary cells (Bonferroni: level 1 − α/m), Holm-adjusted
    p-values, power at Δ and the verdict; the ``primary`` cell gets the plain level 1 − α and
    carries the claim's verdict. ``names`` label the parts of a cell key (e.g. method, sparsity).
    """
    levels = _bonferroni(cells, primary, alpha)
    rows = []
    for cell, contrast in cells.items():
        level_alpha = levels[cell]
        row = _judged("none", contrast, claim, level_alpha)[0]
        rows.append({**dict(zip(names, cell)), "primary": cell == primary, **row})
    table = pd.DataFrame(rows).drop(columns="control")
    is_secondary = ~table.primary
    table["p_holm"] = table.p_value
    if is_secondary.any():
        table.loc[is_secondary, "p_holm"] = holm(table.loc[is_secondary, "p_value"].to_numpy())
    return table


def _bonferroni(cells: Mapping[tuple, object], primary: tuple, alpha: float) -> dict[tuple, float]:
    """Each cell's error rate: α for the pre-specified ``primary`` cell, α/m for each of the m others."""
    if primary not in cells:
        raise ParameterError("primary", primary, sorted(cells, key=str))
    secondary = max(1, len(cells) - 1)
    return {cell: alpha if cell == primary else alpha / secondary for cell in cells}


def _judged(name: str, contrast: np.ndarray, claim: Claim, alpha: float) -> tuple[dict, PairedResult, float]:
    """One contrast ``[seed]`` judged: its table row, its inference and its power at Δ."""
    contrast = np.asarray(contrast, float)
    result = paired_inference(contrast, level=1 - alpha)
    sd = float(np.std(contrast, ddof=1))
    power = design_power(claim, sd, len(contrast), alpha) if sd > 0 else 1.0
    needed = seeds_for_claim(claim, sd, alpha) if sd > 0 else len(contrast)
    return _row(name, result, sd, power, decide(result, claim, power, alpha), needed), result, power


def _row(name: str, result: PairedResult, sd: float, power: float, verdict: str, needed: float = np.nan) -> dict:
    return {
        "control": name,
        "estimate": result.estimate,
        "low": result.low,
        "high": result.high,
        "p_value": result.p_value,
        "seeds": result.seeds,
        "sd": sd,
        "power": power,
        "seeds_needed": np.nan if needed is None else needed,  # None: more than 1,000
        "verdict": verdict,
        "decided_by": "",
    }


def controlled_cells(
    claim: Claim,
    cells: Mapping[tuple, tuple[np.ndarray, Mapping[str, np.ndarray]]],
    primary: tuple,
    names: tuple[str, ...],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """One row per cell: its effect over every control (the ``ALL_CONTROLS`` row of
    ``effect_table``), from ``cells[cell] = (treated[seed], {control: [seed]})``. The ``primary``
    cell is judged at level α, every other cell at α/m (Bonferroni over the m secondary cells);
    ``decided_by`` names the control whose numbers the row shows (``effect_table``)."""
    levels = _bonferroni(cells, primary, alpha)
    rows = []
    for cell, (treated, controls) in cells.items():
        level_alpha = levels[cell]
        table = effect_table(claim, treated, controls, level_alpha)
        overall = table.iloc[-1]
        rows.append({**dict(zip(names, cell)), "primary": cell == primary, **overall.to_dict()})
    return pd.DataFrame(rows).drop(columns="control")


def in_words(row) -> str:
    """One row of an effect table as prose: the estimate, its interval and the power at Δ, or,
    for a row that measured nothing, its ``reason``."""
    if not np.isfinite(row.get("estimate", np.nan)):
        return f"not measured: {row.get('reason', 'no estimate')}"
    words = f"{row['estimate']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}], power at Δ {row['power']:.2f}"
    needed = row.get("seeds_needed", np.nan)
    if row["power"] < POWER_GOAL and np.isfinite(needed):
        words += f" (80 % power needs about {needed:.0f} seeds)"
    return words


def bootstrap_result(estimate: float, samples: np.ndarray, reference: float = 0.0, level: float = 0.95) -> PairedResult:
    """A percentile-bootstrap inference in the shape ``decide`` reads: ``estimate``, the
    ``level`` interval of ``samples`` and the two-sided bootstrap p-value against ``reference``.
    ``seeds`` holds the number of resamples and ``smallest_p`` 1 / that number, the resolution
    of the p-value."""
    samples = np.asarray(samples, float)
    samples = samples[np.isfinite(samples)]
    if len(samples) < 2:
        raise ParameterError("samples", f"{len(samples)} finite", "2 or more finite bootstrap samples")
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    above = float(np.mean(samples > reference))
    return PairedResult(
        estimate=float(estimate),
        low=float(low),
        high=float(high),
        p_value=min(1.0, 2 * min(above, 1 - above) + 1 / len(samples)),
        seeds=len(samples),
        smallest_p=1 / len(samples),
        level=level,
    )


def normal_power(delta: float, standard_error: float, alpha: float = 0.05) -> float:
    """The chance that an interval of half-width z·``standard_error`` excludes the reference when
    the true effect is Δ away from it (normal approximation; for bootstrap designs, with the
    standard error the bootstrap measured, never the observed effect)."""
    if not standard_error > 0:
        return 1.0
    return float(stats.norm.sf(stats.norm.ppf(1 - alpha / 2) - abs(delta) / standard_error))


def bootstrap_table(claim: Claim, estimate: float, samples: np.ndarray, alpha: float = 0.05) -> pd.DataFrame:
    """``claim``'s one-row table from a bootstrap: estimate, interval, p-value, power at Δ and verdict."""
    result = bootstrap_result(estimate, samples, claim.reference, 1 - alpha)
    sd = float(np.nanstd(samples, ddof=1))
    power = normal_power(claim.delta, sd, alpha)
    row = _row("none", result, sd, power, decide(result, claim, power, alpha))
    row["seeds"] = np.nan  # the result counts resamples there, not seeds (``bootstrap_result``)
    return pd.DataFrame([row], columns=list(EFFECT_COLUMNS))


def bootstrap_cells(
    claim: Claim,
    cells: Mapping[tuple, tuple[float, np.ndarray]],
    primary: tuple,
    names: tuple[str, ...],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """``bootstrap_table`` for every cell of ``cells[cell] = (estimate, samples)``: the ``primary``
    cell at level α, every other at α/m (Bonferroni over the m secondary cells); ``primary``
    marks the row that carries the claim's verdict."""
    levels = _bonferroni(cells, primary, alpha)
    rows = []
    for cell, (estimate, samples) in cells.items():
        level_alpha = levels[cell]
        row = bootstrap_table(claim, estimate, samples, level_alpha).iloc[0].to_dict()
        rows.append({**dict(zip(names, cell)), "primary": cell == primary, **row})
    return pd.DataFrame(rows).drop(columns="control")
