"""Chapter 9: does pruning create more disagreement out of distribution than in distribution?

The main configuration's populations, trained on Rotten Tomatoes snippets, are scored on their
test split and on the movie reviews (the ``ood`` study: the same runs, evaluated on the transfer
set, or on its ``transfer_subset``). Per seed s and domain, the leave-one-out disagreement of model s with the dense models
without s; the claim (``out_of_distribution``) is that pruned s's rise from test split to transfer
set exceeds each control's rise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pie_utils.chapters.effectiveness import excess_disagreement
from pie_utils.claims import Claim
from pie_utils.controls import Controls
from pie_utils.paired import paired_inference
from pie_utils.pruning import DENSE
from pie_utils.studies import TrainedStudy

DOMAINS = {"test": "in distribution (test split)", "transfer": "out of distribution (transfer set)"}


def domain_table(trained: TrainedStudy) -> pd.DataFrame:
    """What each domain holds and how much of it the model reads: points, median tokens read,
    the token budget, the share cut at it, and the share of class 1."""
    rows = []
    for split, corpus, budget in (
        ("test", trained.study.dataset, trained.dataset.max_length),
        ("transfer", trained.study.transfer, trained.prepared.transfer.max_length),
    ):
        tokens = np.diff(trained.encoded(split).offsets)  # tokens the model reads, after the cut
        rows.append(
            {
                "domain": DOMAINS[split],
                "corpus": corpus,
                "points": len(tokens),
                "median tokens read": float(np.median(tokens)),
                "token budget": budget,
                "cut at the budget": float(np.mean(tokens >= budget)),
                "class 1": float(trained.labels(split).mean()),
            }
        )
    return pd.DataFrame(rows)


def disagreement_by_domain(
    trained: TrainedStudy, controls: Controls, method: str, sparsity: float, names: tuple[str, ...]
) -> dict[str, dict[str, np.ndarray]]:
    """``{population: {split: [seed]}}``: leave-one-out disagreement with the dense models without
    s, on the test split and on the transfer set, for the pruned population ("pruned") and each
    control of ``names`` (``seed_noise``, ``extra_training``: dense populations with transfer
    evaluations)."""
    classes = trained.dataset.num_classes
    dense = {split: trained.predictions(DENSE, 0.0, split) for split in DOMAINS}  # the reference, read once
    rates = {}
    for population in ("pruned", *names):
        rates[population] = {}
        for split in DOMAINS:
            model = (
                trained.predictions(method, sparsity, split)
                if population == "pruned"
                else getattr(controls, population).predictions(DENSE, 0.0, split)
            )
            rates[population][split] = excess_disagreement(model, dense[split], classes)
    return rates


def shift_inputs(
    claim: Claim, trained: TrainedStudy, controls: Controls, method: str, sparsity: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per seed, the rise of disagreement from test split to transfer set, of pruned s and of
    each control ``claim`` names: ``(treated[seed], {control: [seed]})``."""
    rates = disagreement_by_domain(trained, controls, method, sparsity, claim.controls)
    rise = {name: by_split["transfer"] - by_split["test"] for name, by_split in rates.items()}
    return rise["pruned"], {name: rise[name] for name in claim.controls}


def domain_summary(rates: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per (population, domain) of ``disagreement_by_domain``: mean disagreement over
    seeds with its 95 % t interval."""
    rows = []
    for population, by_split in rates.items():
        for split, values in by_split.items():
            result = paired_inference(values)
            rows.append(
                {
                    "population": population,
                    "domain": DOMAINS[split],
                    "estimate": result.estimate,
                    "low": result.low,
                    "high": result.high,
                }
            )
    return pd.DataFrame(rows)
