"""Chapters 1 and 2: mean accuracy, the PIEs' share of the loss, and disagreement beyond controls.

Pure functions (per-seed statistics from ``[seed, example]`` arrays):

- ``accuracy_changes``: per seed s, the metric of pruned s minus that of dense s;
- ``loss_concentration``: per seed s, the accuracy drop (dense s − pruned s) on the PIEs of the
  populations without seed s, minus the drop on the other points;
- ``excess_disagreement``: per seed s, the leave-one-out disagreement of a model with the dense
  population without seed s.

Entry points (from trained studies to the chapters' tables): ``effectiveness_cells`` and
``paper_changes``; ``concentration_inputs`` and ``disagreement_inputs`` give one cell's per-seed
statistics for the treated population and its controls, which ``effect_of`` judges for one cell
and ``every_cell`` for all.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pie_utils.claims import Claim
from pie_utils.controls import Controls
from pie_utils.effects import cell_table, controlled_cells, effect_table
from pie_utils.errors import ParameterError
from pie_utils.paired import leave_one_out_disagreement
from pie_utils.pies import find_pies, modal_labels
from pie_utils.pruning import DENSE
from pie_utils.studies import TrainedStudy

PAPER_DATASETS = {"rotten-tomatoes": "IMDB", "movie-reviews": "IMDB", "reuters-r8": "Reuters", "reuters-r52": "Reuters"}
PAPER_ARCHS = {"bilstm": "BiLSTM", "bert": "BERT"}


def accuracy_changes(dense_metric: np.ndarray, pruned_metric: np.ndarray) -> np.ndarray:
    """``[seed]``: pruned metric minus dense metric, seed by seed (both ``[seed]``)."""
    dense_metric, pruned_metric = np.asarray(dense_metric, float), np.asarray(pruned_metric, float)
    if dense_metric.shape != pruned_metric.shape or dense_metric.ndim != 1:
        raise ParameterError("pruned_metric", f"shape {pruned_metric.shape}", f"[seed] like dense {dense_metric.shape}")
    return pruned_metric - dense_metric


def loss_concentration(dense: np.ndarray, other: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``[seed]``: per seed s, the accuracy drop of ``other[s]`` against ``dense[s]`` on the PIEs of
    the two populations without seed s, minus its drop on the other points.

    ``dense``, ``other``: predictions ``[seed, example]`` paired by seed (``other`` a pruned
    population or a control); with an even seed count each side has S − 1 (odd) voters. A seed
    whose selection finds no PIE, or only PIEs, contributes 0.
    """
    dense, other, labels = np.asarray(dense), np.asarray(other), np.asarray(labels)
    if dense.shape != other.shape or dense.ndim != 2 or labels.shape != dense.shape[1:]:
        raise ParameterError(
            "other", f"shape {other.shape}", f"[seed, example] like dense {dense.shape}, labels [example]"
        )
    contrasts = []
    for s in range(len(dense)):
        pies = find_pies(np.delete(dense, s, axis=0), np.delete(other, s, axis=0), num_classes)
        drop = (dense[s] == labels).astype(float) - (other[s] == labels)
        contrasts.append(float(drop[pies].mean() - drop[~pies].mean()) if 0 < pies.sum() < len(pies) else 0.0)
    return np.array(contrasts)


def pie_counts(trained: TrainedStudy, split: str = "test") -> pd.DataFrame:
    """One row per (method, sparsity) of ``trained``: PIEs between the whole dense and pruned
    populations on ``split``, with ties going to the lowest class (``pies``) and with tied points
    left out (``pies_without_ties``), and how many points each population's vote ties on."""
    dense, classes = trained.predictions(DENSE, 0.0, split), trained.dataset.num_classes
    rows = []
    for method in trained.study.methods:
        for sparsity in trained.study.sparsities:
            pruned = trained.predictions(method, sparsity, split)
            rows.append(
                {
                    "method": method,
                    "sparsity": sparsity,
                    "points": dense.shape[1],
                    "pies": int(find_pies(dense, pruned, classes).sum()),
                    "pies_without_ties": int(find_pies(dense, pruned, classes, exclude_ties=True).sum()),
                    "dense_ties": modal_labels(dense, classes).n_ties,
                    "pruned_ties": modal_labels(pruned, classes).n_ties,
                }
            )
    return pd.DataFrame(rows)


def excess_disagreement(model: np.ndarray, dense: np.ndarray, num_classes: int, points=None) -> np.ndarray:
    """``[seed]``: the share of ``points`` where ``model[s]`` disagrees with the modal label of
    ``dense`` without seed s (``pie_utils.paired.leave_one_out_disagreement``)."""
    return leave_one_out_disagreement(model, dense, num_classes, points)


def effectiveness_cells(
    claim: Claim, studies: Mapping[str, TrainedStudy], main: str = "run", alpha: float = 0.05
) -> pd.DataFrame:
    """One row per (study, method, sparsity): the paired change in mean test metric, pruned minus
    dense, with the primary cell (``main``'s ``claim.primary_method`` at ``claim.primary_sparsity``)
    at level 1 − α and every other cell simultaneous (``pie_utils.effects.cell_table``)."""
    cells, facts = {}, {}
    for name, trained in studies.items():
        metric = _test_metric(trained)
        dense = _per_seed(trained, DENSE, 0.0, metric)
        for method in trained.study.methods:
            for sparsity in trained.study.sparsities:
                pruned = _per_seed(trained, method, sparsity, metric)
                cells[(name, method, sparsity)] = accuracy_changes(dense, pruned)
                facts[(name, method, sparsity)] = {
                    "dataset": trained.study.dataset,
                    "arch": trained.study.arch,
                    "metric": metric.removeprefix("test_"),
                    "dense": float(dense.mean()),
                    "pruned": float(pruned.mean()),
                }
    primary = (main, claim.primary_method, claim.primary_sparsity)
    table = cell_table(claim, cells, primary, names=("study", "method", "sparsity"), alpha=alpha)
    return pd.concat([pd.DataFrame([facts[key] for key in cells]), table], axis=1)


def paper_changes(cells: pd.DataFrame, paper: pd.DataFrame) -> pd.Series:
    """The paper's change in mean metric (pruned − dense, 30 seeds) for each row of ``cells``: same
    architecture, method and sparsity, on the paper's closest dataset (``PAPER_DATASETS``); NaN
    where the paper has none. ``paper`` is ``book/data/paper_effectiveness.csv``."""
    means = paper.set_index(["dataset", "architecture", "method", "sparsity_percent"])["mean"]

    def change(row) -> float:
        key = (PAPER_DATASETS.get(row.dataset), PAPER_ARCHS.get(row.arch), row.method)
        pruned, dense = (*key, round(100 * row.sparsity)), (*key, 0)
        return float(means[pruned] - means[dense]) if pruned in means.index and dense in means.index else np.nan

    return cells.apply(change, axis=1)


def concentration_inputs(
    claim: Claim, trained: TrainedStudy, controls: Controls, method: str, sparsity: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-seed loss concentration on PIEs (``loss_concentration``) of one pruned population and
    of each control ``claim`` names, on the test split: ``(treated[seed], {control: [seed]})``."""
    return _inputs(claim, trained, controls, method, sparsity, loss_concentration)


def disagreement_inputs(
    claim: Claim, trained: TrainedStudy, controls: Controls, method: str, sparsity: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-seed leave-one-out disagreement with the dense peers (``excess_disagreement``) of one
    pruned population and of each control ``claim`` names, on the test split."""
    return _inputs(claim, trained, controls, method, sparsity, _disagreement)


def effect_of(claim: Claim, inputs: tuple[np.ndarray, dict[str, np.ndarray]], alpha: float = 0.05) -> pd.DataFrame:
    """``pie_utils.effects.effect_table`` of one cell's ``(treated, controls)``."""
    return effect_table(claim, *inputs, alpha)


def every_cell(claim: Claim, trained: TrainedStudy, controls: Controls, inputs, alpha: float = 0.05) -> pd.DataFrame:
    """``pie_utils.effects.controlled_cells`` over every (method, sparsity) of ``trained``, with
    ``inputs`` one of ``concentration_inputs`` and ``disagreement_inputs``; the primary cell is
    ``claim``'s."""
    cells = {cell: inputs(claim, trained, controls, *cell) for cell in trained.study.cells}
    primary = (claim.primary_method, claim.primary_sparsity)
    return controlled_cells(claim, cells, primary, names=("method", "sparsity"), alpha=alpha)


def _inputs(claim, trained, controls, method, sparsity, statistic):
    dense, labels, classes = trained.predictions(DENSE, 0.0), trained.labels(), trained.dataset.num_classes
    pruned = trained.predictions(method, sparsity)
    candidates = controls.predictions("test", target=float((pruned == labels).mean()))
    treated = statistic(dense, pruned, labels, classes)
    return treated, {name: statistic(dense, candidates[name], labels, classes) for name in claim.controls}


def _disagreement(dense, other, labels, classes):  # loss_concentration's argument order
    return excess_disagreement(other, dense, classes)


def _test_metric(trained: TrainedStudy) -> str:
    return "test_macro_f1" if trained.dataset.multilabel else "test_accuracy"


def _per_seed(trained: TrainedStudy, method: str, sparsity: float, metric: str) -> np.ndarray:
    """``[seed]`` metric of one population, in seed order."""
    rows = trained.table[(trained.table.method == method) & np.isclose(trained.table.sparsity, sparsity)]
    return rows.sort_values("seed")[metric].to_numpy(float)
