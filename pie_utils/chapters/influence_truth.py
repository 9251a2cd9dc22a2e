"""Chapter 6: does EL2N rank training points by their influence? Checked against exact
leave-one-out on a convex stand-in (a logistic head on a dense BiLSTM's features), and by
retraining whole dense BiLSTMs without a group of points.

- ``stand_in``: EL2N (chapter 4's, from the dense models of half A), the test PIEs of any cell,
  and the standardised head features of a dense model of half B.
- ``leave_one_out_targets``: the head's penalty chosen on validation loss, its fit, and the
  three targets of each sampled training point (self, test and PIE influence).
- ``proxy_scores``: EL2N and TracIn (captum) for the same points and targets.
- ``proxy_table``: Spearman's ρ per (proxy, target) with bootstrap intervals and verdicts, and
  the overlap of the top deciles.
- ``group_retraining``: the leave-group-out check (top EL2N decile against a random decile).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.preprocessing import StandardScaler

from pie_utils.claims import Claim
from pie_utils.effects import bootstrap_cells
from pie_utils.errors import ParameterError
from pie_utils.influence import per_example_loss
from pie_utils.influence_truth import fit_logistic, head_features, head_loss, leave_one_out, tracin_scores
from pie_utils.leave_group_out import RANDOM, TOP_EL2N, group_studies, half_a_el2n, train_groups
from pie_utils.paired import paired_inference, smallest_p_value
from pie_utils.pies import find_pies
from pie_utils.pruning import DENSE
from pie_utils.stats import bootstrap
from pie_utils.studies import TrainedStudy

PENALTIES = [1e-3, 1e-2, 1e-1, 1.0, 10.0]  # the grid of C the head's penalty is chosen from
TARGETS = ("self-influence", "test influence", "PIE influence")


@dataclass
class StandIn:
    """The chapter's inputs: ``el2n`` [train example], ``pies`` [test example] bool, the
    standardised head ``features`` per split ([example, feature]), and the dense seed whose
    model gave them (``feature_seed``)."""

    el2n: np.ndarray
    pies: np.ndarray
    features: dict[str, np.ndarray]
    feature_seed: int


def stand_in(main: TrainedStudy, el2n_epoch: int) -> StandIn:
    """EL2N exactly as chapter 4 takes it (the dense models of half A after ``el2n_epoch``
    epochs), the test PIEs of any (method, sparsity) cell from every seed (a target here, not a
    selection), and features from a dense model of half B, which took no part in EL2N."""
    n_classes = main.dataset.num_classes
    _, half_b = main.seed_halves()
    el2n = half_a_el2n(main, el2n_epoch)
    dense = main.predictions(DENSE, 0.0)
    pies = np.zeros(len(main.labels("test")), dtype=bool)
    for method in main.study.methods:
        for sparsity in main.study.sparsities:
            pies |= find_pies(dense, main.predictions(method, sparsity), n_classes)
    if not pies.any():
        raise ParameterError(
            "methods, sparsities", f"{list(main.study.cells)}", "a grid with test PIEs in some cell (the PIE target)"
        )
    feature_seed = main.study.seed_range[half_b[0]]
    model = main.model(DENSE, 0.0, feature_seed)
    raw = {split: head_features(model, main.prepared.encoded[split]) for split in ("train", "validation", "test")}
    scaler = StandardScaler().fit(raw["train"])  # constant (dead ReLU) features stay 0
    return StandIn(el2n, pies, {split: scaler.transform(values) for split, values in raw.items()}, feature_seed)


@dataclass
class LeaveOneOut:
    """The head's penalty ``c`` (chosen among ``PENALTIES`` by ``validation_loss``), its ``fit``,
    the sampled training ``points``, the exact refits (``loo``) and each target [point]."""

    c: float
    validation_loss: list[float]
    fit: object
    points: np.ndarray
    loo: object
    targets: dict[str, np.ndarray]


def leave_one_out_targets(main: TrainedStudy, inputs: StandIn, loo_points: int) -> LeaveOneOut:
    """Exact leave-one-out on the logistic head over a seeded sample of ``loo_points`` training
    points: each point's change of its own loss, of the summed test loss and of the PIEs' loss."""
    features, labels, gold = inputs.features, main.labels("train"), main.labels("test")
    validation_loss = [
        head_loss(fit_logistic(features["train"], labels, c), features["validation"], main.labels("validation")).mean()
        for c in PENALTIES
    ]
    c = PENALTIES[int(np.argmin(validation_loss))]
    fit = fit_logistic(features["train"], labels, c)
    points = np.sort(np.random.default_rng(0).choice(len(labels), min(loo_points, len(labels)), replace=False))
    loo = leave_one_out(fit, features["train"], labels, points, features["test"], gold)
    targets = dict(
        zip(TARGETS, (loo.self_change, loo.test_change.sum(axis=1), loo.test_change[:, inputs.pies].sum(axis=1)))
    )
    return LeaveOneOut(c, validation_loss, fit, points, loo, targets)


def proxy_scores(main: TrainedStudy, inputs: StandIn, truth: LeaveOneOut) -> tuple[dict, float]:
    """Each proxy's score of the sampled points per target (proxy → target → [point]): EL2N's
    is one score for all three; TracIn's self-influence and its summed test and PIE influence.
    Returns them and TracIn's seconds."""
    features = inputs.features
    started = time.perf_counter()
    tracin_self, tracin_test = tracin_scores(
        features["train"], main.labels("train"), truth.points, features["test"], main.labels("test"), truth.c
    )
    seconds = time.perf_counter() - started
    tracin = (tracin_self, tracin_test.sum(axis=1), tracin_test[:, inputs.pies].sum(axis=1))
    return {"EL2N": {t: inputs.el2n[truth.points] for t in TARGETS}, "TracIn": dict(zip(TARGETS, tracin))}, seconds


def spearman(proxy: np.ndarray, target: np.ndarray) -> float:
    """Spearman's ρ of two [point] arrays."""
    return spearmanr(proxy, target).statistic


def top_decile_overlap(proxy: np.ndarray, target: np.ndarray) -> float:
    """Share of the proxy's top 10 % of points that are in the target's top 10 % (chance: 10 %)."""
    k = max(1, len(proxy) // 10)
    return len(np.intersect1d(np.argsort(proxy)[-k:], np.argsort(target)[-k:])) / k


def proxy_table(claim: Claim, proxies: dict, targets: dict, n_resamples: int, alpha: float) -> pd.DataFrame:
    """One row per (proxy, target): ρ with its bootstrap interval over points and verdict (the
    claim judged on EL2N against test influence; the other five pairs secondary), and the
    top-decile overlap."""
    bootstrapped = {}
    for proxy_name, by_target in proxies.items():
        for target_name, target in targets.items():
            proxy = by_target[target_name]
            samples = bootstrap([proxy, target], spearman, n_resamples=n_resamples)
            bootstrapped[(proxy_name, target_name)] = (spearman(proxy, target), samples)
    table = bootstrap_cells(claim, bootstrapped, ("EL2N", "test influence"), ("proxy", "target"), alpha)
    table = table.rename(columns={"estimate": "rho"})
    table["top_overlap"] = [top_decile_overlap(proxies[p][t], targets[t]) for p, t in zip(table.proxy, table.target)]
    return table


@dataclass
class GroupRetraining:
    """The leave-group-out check: per group, test losses ``[seed, test example]``; the paired
    effect (top EL2N decile minus random decile, over seeds); the seed noise; a summary line."""

    losses: dict[str, np.ndarray]
    full_loss: np.ndarray
    positions: np.ndarray
    seeds: list[int]
    table: pd.DataFrame
    summary: str


def group_retraining(
    main: TrainedStudy, el2n_epoch: int, retrains: int, alpha: float, store: str | None = None, progress: bool = True
) -> GroupRetraining:
    """The leave-group-out studies (``pie_utils.leave_group_out``: dense BiLSTMs of the first
    ``retrains`` seeds of half B without the top EL2N decile, and without a random decile of the
    same size) trained, or read back in the no-train mode, and compared."""
    gold = main.labels("test")
    trained = train_groups(main, group_studies(main, el2n_epoch, retrains, store), progress)
    positions = main.seed_halves()[1][:retrains]
    seeds = list(trained[TOP_EL2N].study.seed_range)
    group_size = len(trained[TOP_EL2N].study.left_out)
    losses = {name: per_example_loss(group.logits(DENSE, 0.0), gold) for name, group in trained.items()}
    train_seconds = float(sum(group.table["wall_time_s"].sum() for group in trained.values()))
    full_loss = per_example_loss(main.logits(DENSE, 0.0), gold)  # every seed, trained on all points
    seed_sd = float(full_loss.mean(axis=1).std(ddof=1))
    paired = paired_inference(losses[TOP_EL2N].mean(axis=1) - losses[RANDOM].mean(axis=1))
    table = pd.DataFrame(
        [
            {
                "removed": name,
                "points": group_size,
                "retrains": len(seeds),
                "mean test loss": loss.mean(),
                "change vs same seeds on all points": loss.mean() - full_loss[positions].mean(),
                "change / seed sd": (loss.mean() - full_loss[positions].mean()) / seed_sd,
            }
            for name, loss in losses.items()
        ]
    )
    floor = smallest_p_value(len(seeds))
    reach = (
        ""
        if floor <= alpha
        else f"; with {len(seeds)} pairs no sign-flip p can fall below {floor:.3f}, so it cannot reach α = {alpha:g}"
    )
    summary = (
        f"{2 * len(seeds)} retrains ({train_seconds:.0f} s of training): removing "
        f"the top EL2N decile changed the mean test loss by {paired.estimate:+.4f} [{paired.low:+.4f}, "
        f"{paired.high:+.4f}] against removing a random decile (sign-flip p = {paired.p_value:.3f}{reach}), "
        f"with seed noise (sd) {seed_sd:.4f}"
    )
    return GroupRetraining(losses, full_loss, positions, seeds, table, summary)
