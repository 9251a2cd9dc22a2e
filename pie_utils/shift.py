"""PIEs under distribution shift: the same populations scored in and out of distribution.

A study with a transfer dataset gives every model logits for its own test split (in
distribution, "id") and for every example of another corpus (out of distribution, "ood"). To
bootstrap both domains with ONE draw of seeds (the same models are scored in both), the two
domains are pooled along the example axis with a mask ``ood[example]`` (``pool_domains``), and
every measure is computed within its domain. ``stats.bootstrap`` then resamples the pooled
examples; a domain's size varies binomially across resamples, which changes a within-domain
share or accuracy (a ratio) only to second order, so it matches a bootstrap stratified by
domain to first order.

Populations (single-label only): predictions ``[seed, example]`` class indices of dense seed
half A (``dense_a``), dense half B (``dense_b``) and the pruned runs of the same halves
(``pruned_a``, ``pruned_b``). A pruned run of seed s shares its initial weights and data order
with dense run s, so the comparisons below never pair a population with its own seeds:

- PIEs: the modal label of ``dense_a`` differs from that of ``pruned_b``;
- null: the modal label of ``dense_a`` differs from that of ``dense_b`` (PIE-like disagreement
  that needs no pruning, between populations of the same sizes);
- accuracy on PIEs and non-PIEs: measured by ``pruned_a`` and ``dense_b``, which took no part
  in selecting the PIEs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from pie_utils.errors import ParameterError
from pie_utils.pies import find_pies
from pie_utils.stats import bootstrap, percentile_interval

DOMAINS = ("id", "ood")
POPULATION_NAMES = ("dense_a", "dense_b", "pruned_a", "pruned_b")


def pool_domains(
    in_domain: Sequence[np.ndarray], out_domain: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray]:
    """Concatenate ``in_domain[i]`` and ``out_domain[i]`` along the example axis, for every i.

    Arrays are ``[seed, example, ...]`` or 1-D ``[example]``; a pair must agree on every axis
    but the example one. Returns the pooled arrays and ``ood[example]`` bool, True for the
    examples that came from ``out_domain``.
    """
    if len(in_domain) != len(out_domain) or not in_domain:
        raise ParameterError(
            "out_domain", f"{len(out_domain)} arrays", f"as many arrays as in_domain ({len(in_domain)}), at least one"
        )
    pooled, sizes = [], set()
    for inside, outside in zip(in_domain, out_domain):
        inside, outside = np.asarray(inside), np.asarray(outside)
        axis = 0 if inside.ndim == 1 else 1
        if (
            inside.ndim != outside.ndim
            or np.delete(inside.shape, axis).tolist() != np.delete(outside.shape, axis).tolist()
        ):
            raise ParameterError(
                "out_domain",
                f"an array of shape {outside.shape}",
                f"the shape of its in-domain partner {inside.shape} on every axis but the example axis",
            )
        sizes.add((inside.shape[axis], outside.shape[axis]))
        pooled.append(np.concatenate([inside, outside], axis=axis))
    if len(sizes) != 1:
        raise ParameterError(
            "in_domain", f"example counts {sorted(sizes)}", "the same (in, out) example counts in every pair"
        )
    ((n_in, n_out),) = sizes
    return pooled, np.arange(n_in + n_out) >= n_in


def domain_measures(
    dense_a: np.ndarray,
    dense_b: np.ndarray,
    pruned_a: np.ndarray,
    pruned_b: np.ndarray,
    gold: np.ndarray,
    ood: np.ndarray,
    num_classes: int,
) -> dict[str, float]:
    """Accuracy and PIE measures in each domain, and how they change from id to ood.

    Arguments: the four populations ``[seed, example]`` (see the module docstring), ``gold``
    ``[example]`` class indices and ``ood`` ``[example]`` bool. For each domain d in
    ``DOMAINS`` the result holds (shares and accuracies in [0, 1]; NaN for an accuracy over
    no examples; differences in [−1, 1], the effect in [−2, 2]):

    - ``dense_accuracy_d``, ``pruned_accuracy_d``: mean accuracy of the models of both halves;
    - ``pie_share_d``: share of the domain's examples that are PIEs (dense A vs pruned B);
    - ``null_share_d``: share where dense A and dense B disagree;
    - ``excess_d``: ``pie_share_d − null_share_d``;
    - ``pruned_accuracy_pies_d``, ``pruned_accuracy_non_pies_d``: mean accuracy of the pruned
      half A on the domain's PIEs and non-PIEs; ``dense_accuracy_pies_d`` and
      ``dense_accuracy_non_pies_d`` the same for dense half B.

    and the changes ``pie_increase`` (ood − id of the PIE share), ``null_increase`` and
    ``effect`` = ``excess_ood − excess_id``: how much more pruning adds to disagreement out of
    distribution than in it, beyond what dense models alone add.
    """
    populations = dict(zip(POPULATION_NAMES, (np.asarray(p) for p in (dense_a, dense_b, pruned_a, pruned_b))))
    gold, ood = np.asarray(gold), np.asarray(ood)
    _check_inputs(populations, gold, ood)
    pies = find_pies(populations["dense_a"], populations["pruned_b"], num_classes)
    disagree = find_pies(populations["dense_a"], populations["dense_b"], num_classes)
    correct = {name: population == gold[None, :] for name, population in populations.items()}
    dense_correct = np.concatenate([correct["dense_a"], correct["dense_b"]])
    pruned_correct = np.concatenate([correct["pruned_a"], correct["pruned_b"]])
    result: dict[str, float] = {}
    for domain, mask in zip(DOMAINS, (~ood, ood)):
        result[f"dense_accuracy_{domain}"] = _accuracy(dense_correct, mask)
        result[f"pruned_accuracy_{domain}"] = _accuracy(pruned_correct, mask)
        result[f"pie_share_{domain}"] = float(pies[mask].mean())
        result[f"null_share_{domain}"] = float(disagree[mask].mean())
        result[f"excess_{domain}"] = result[f"pie_share_{domain}"] - result[f"null_share_{domain}"]
        for subset, chosen in (("pies", mask & pies), ("non_pies", mask & ~pies)):
            result[f"pruned_accuracy_{subset}_{domain}"] = _accuracy(correct["pruned_a"], chosen)
            result[f"dense_accuracy_{subset}_{domain}"] = _accuracy(correct["dense_b"], chosen)
    result["pie_increase"] = result["pie_share_ood"] - result["pie_share_id"]
    result["null_increase"] = result["null_share_ood"] - result["null_share_id"]
    result["effect"] = result["excess_ood"] - result["excess_id"]
    return result


def bootstrap_measures(
    populations: Sequence[np.ndarray],
    measures: Callable[..., Mapping[str, float]],
    n_resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Every measure of ``measures(*resampled)`` over the same ``stats.bootstrap`` resamples.

    ``populations`` and the resampling are those of ``stats.bootstrap`` (seeds of each array
    drawn independently, examples shared by all arrays). Returns a DataFrame ``[resample,
    measure]`` with ``n_resamples`` rows, one column per key of the mapping, so measures of
    one resample stay joint (a difference of two columns is a bootstrap of the difference).
    """
    draws: list[Mapping[str, float]] = []

    def record(*resampled: np.ndarray) -> float:
        draws.append(measures(*resampled))
        return 0.0  # bootstrap wants a number; the measures are kept in draws

    bootstrap(populations, record, n_resamples=n_resamples, seed=seed)
    return pd.DataFrame(draws)


def interval_table(point: Mapping[str, float], samples: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per measure: ``measure``, ``value`` (from ``point``) and the ``level`` percentile
    interval ``low``, ``high`` of ``samples[measure]`` (columns of ``bootstrap_measures``)."""
    missing = sorted(set(point) - set(samples.columns))
    if missing:
        raise ParameterError(
            "samples", f"no columns {missing}", f"a column for every measure of point: {sorted(point)}"
        )
    rows = []
    for name, value in point.items():
        low, high = percentile_interval(samples[name].to_numpy(), level)
        rows.append({"measure": name, "value": float(value), "low": low, "high": high})
    return pd.DataFrame(rows, columns=["measure", "value", "low", "high"])


def _accuracy(correct: np.ndarray, mask: np.ndarray) -> float:
    """Mean of ``correct[seed, example]`` over every seed and the examples in ``mask``."""
    return float(correct[:, mask].mean()) if mask.any() else float("nan")


def _check_inputs(populations: dict[str, np.ndarray], gold: np.ndarray, ood: np.ndarray) -> None:
    if gold.ndim != 1:
        raise ParameterError("gold", f"shape {gold.shape}", "[example] class indices (single-label data only)")
    for name, population in populations.items():
        if population.ndim != 2 or population.shape[1] != len(gold) or population.shape[0] == 0:
            raise ParameterError(
                name, f"shape {population.shape}", f"[seed, {len(gold)}] class indices with at least one seed"
            )
    if ood.dtype != bool or ood.shape != gold.shape:
        raise ParameterError(
            "ood", f"{ood.dtype} array of shape {ood.shape}", f"a bool [example] = ({len(gold)},) mask"
        )
    if ood.all() or not ood.any():
        raise ParameterError(
            "ood",
            f"{int(ood.sum())} of {len(ood)} examples out of distribution",
            "a mask with examples of both domains",
        )
