"""Chapter 7: do people disagree more about the snippets pruning changes than about those its
controls change?

The main study's texts are matched to Hutto & Gilbert's rated snippets (``pie_utils.human``).
Per seed s, the mean of a human measure over the rated held-out points (validation and test)
where model s disagrees with the modal label of the dense models without s, for pruned s and for
each control (``human_disagreement`` in the register); unrated points take no part. Which of
chapter 5's proxies track human disagreement at all is a secondary, descriptive table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from pie_utils.chapters.hardness import mean_on_disagreement
from pie_utils.claims import Claim
from pie_utils.controls import Controls
from pie_utils.effects import controlled_cells
from pie_utils.errors import ParameterError
from pie_utils.human import MEASURE_DESCRIPTIONS, human_measures, match_texts, read_ratings
from pie_utils.pruning import DENSE
from pie_utils.stats import bootstrap, percentile_interval
from pie_utils.studies import TrainedStudy

SPLITS = ("train", "validation", "test")
HELD_OUT = ("validation", "test")
PRIMARY_MEASURE = "sign_disagreement"  # the register's: the share of raters against the gold label


def rated_points(trained: TrainedStudy, ratings: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Match every split's texts to the rated snippets: a match table (one row per split and one
    for all: texts, counts per ``MATCH_KINDS``, matched, match_rate) and one row per matched
    point (split, position, gold, mean_rating and the human measures)."""
    ratings = read_ratings() if ratings is None else ratings
    tables, points = [], []
    for split in SPLITS:
        texts = trained.texts(split)
        match = match_texts(texts, list(ratings.text))
        tables.append({"split": split, "texts": len(texts), **match.counts()})
        positions = np.flatnonzero(match.matched)
        gold = trained.labels(split)[positions]
        chosen = ratings.iloc[match.index[positions]]
        points.append(
            human_measures(chosen.ratings.tolist(), gold).assign(
                split=split, position=positions, gold=gold, mean_rating=chosen["mean"].to_numpy()
            )
        )
    table = pd.DataFrame(tables)
    table.loc[len(table)] = {"split": "all", **table.drop(columns="split").sum()}
    table["matched"] = table[["exact", "compact", "fuzzy"]].sum(axis=1)
    table["match_rate"] = table.matched / table.texts
    return table, pd.concat(points, ignore_index=True)


def measure_on_splits(trained: TrainedStudy, points: pd.DataFrame, measure: str, splits=HELD_OUT) -> np.ndarray:
    """``[example]`` over ``splits`` joined in order: the human measure of each rated point, NaN
    for a point nobody rated."""
    if measure not in MEASURE_DESCRIPTIONS:
        raise ParameterError("measure", measure, tuple(MEASURE_DESCRIPTIONS))
    joined = []
    for split in splits:
        values = np.full(len(trained.labels(split)), np.nan)
        rows = points[points.split == split]
        values[rows.position.to_numpy()] = rows[measure].to_numpy(float)
        joined.append(values)
    return np.concatenate(joined)


def held_out_populations(
    trained: TrainedStudy, controls: Controls, method: str, sparsity: float, splits=HELD_OUT
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Dense and pruned predictions ``[seed, example]`` over ``splits`` joined, and each
    control's (the accuracy-matched epoch chosen on each split for the pruned accuracy there)."""
    dense = np.concatenate([trained.predictions(DENSE, 0.0, s) for s in splits], axis=1)
    pruned_by_split = {s: trained.predictions(method, sparsity, s) for s in splits}
    per_split = {
        s: controls.predictions(s, target=float((pruned_by_split[s] == trained.labels(s)).mean())) for s in splits
    }
    joined = {name: np.concatenate([per_split[s][name] for s in splits], axis=1) for name in per_split[splits[0]]}
    return dense, np.concatenate(list(pruned_by_split.values()), axis=1), joined


def human_cells(
    claim: Claim, trained: TrainedStudy, controls: Controls, points: pd.DataFrame, alpha: float = 0.05
) -> pd.DataFrame:
    """One row per human measure (``PRIMARY_MEASURE`` first, the others secondary): the mean of
    the measure on the rated held-out points pruned s changes minus those each control changes,
    in ``claim``'s primary cell, against the control that decides it (``effects.effect_table``)."""
    dense, pruned, candidates = held_out_populations(trained, controls, claim.primary_method, claim.primary_sparsity)
    classes = trained.dataset.num_classes
    measures = [PRIMARY_MEASURE, *(m for m in MEASURE_DESCRIPTIONS if m != PRIMARY_MEASURE)]
    cells = {}
    for measure in measures:
        values = measure_on_splits(trained, points, measure)
        cells[(measure,)] = (
            mean_on_disagreement(pruned, dense, classes, values),
            {name: mean_on_disagreement(candidates[name], dense, classes, values) for name in claim.controls},
        )
    return controlled_cells(claim, cells, (PRIMARY_MEASURE,), names=("measure",), alpha=alpha)


def proxy_correlations(proxies: pd.DataFrame, human: pd.DataFrame, n_resamples: int = 1000) -> pd.DataFrame:
    """Spearman's ρ between every proxy (columns of ``proxies``) and every human measure (columns
    of ``human``), one row per rated point in both, with a 95 % percentile bootstrap over points."""
    if len(proxies) != len(human):
        raise ParameterError("human", f"{len(human)} rows", f"one per row of proxies ({len(proxies)})")

    def rho(x, y):
        return stats.spearmanr(x, y, nan_policy="omit").statistic

    rows = []
    for measure in human.columns:
        for proxy in proxies.columns:
            x, y = proxies[proxy].to_numpy(float), human[measure].to_numpy(float)
            if np.isfinite(x).sum() < 3:
                continue  # a proxy this corpus cannot give
            low, high = percentile_interval(bootstrap([x, y], rho, n_resamples=n_resamples))
            rows.append({"proxy": proxy, "measure": measure, "rho": rho(x, y), "low": low, "high": high})
    return pd.DataFrame(rows)
