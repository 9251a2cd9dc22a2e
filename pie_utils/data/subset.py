"""Smaller, stratified copies of a dataset's splits, for quick runs and teaching."""

from __future__ import annotations

from collections import Counter

import numpy as np

from pie_utils.data.splitting import strata
from pie_utils.data.types import SPLIT_NAMES, Split, TextDataset
from pie_utils.errors import ParameterError


def subset(
    dataset: TextDataset,
    n_train: int | None = None,
    n_test: int | None = None,
    n_validation: int | None = None,
    seed: int = 0,
    *,
    keep_all_classes: bool = True,
) -> TextDataset:
    """Keep ``n_train`` / ``n_validation`` / ``n_test`` examples of each split (None = all).

    Sampling is stratified: each stratum (class; for a multilabel dataset the example's rarest
    class, see ``splitting.strata``) gets floor(n * share) examples plus one more for the strata
    with the largest remainders, so every stratum's count is within one example of its share of
    the original split. With ``keep_all_classes`` (the default) and n at least the number of
    strata, a stratum that would get none takes one example from the stratum furthest above its
    share (or, when none is above it, the one least below it): every class stays present, at
    the price of leaving the counts more than one example off their shares when n is too small
    for both (e.g. 16 examples of R8, whose smallest classes hold under 1 % of the data).
    Which examples are taken is drawn by ``numpy.random.default_rng([seed, split index])``, so
    one split's sample does not depend on the sizes asked of the others. Kept examples stay in
    their original order (sorted by id).

    Returns:
        A TextDataset with the same name, label names and max_length; its ``source`` records
        the call. Its fingerprint differs from the original's unless nothing was dropped.

    Raises:
        ParameterError: ``subset.n_<split>`` outside 1..len(split), or a negative seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError("subset.seed", seed, "an integer >= 0")
    sizes = {"train": n_train, "validation": n_validation, "test": n_test}
    for split_name, n in sizes.items():
        length = len(dataset.split(split_name))
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= length):
            raise ParameterError(f"subset.n_{split_name}", n, f"1..{length}")
    splits = {}
    for index, split_name in enumerate(SPLIT_NAMES):
        split, n = dataset.split(split_name), sizes[split_name]
        if n is None or n == len(split):
            splits[split_name] = split
            continue
        rng = np.random.default_rng([int(seed), index])
        splits[split_name] = split.take(stratified_sample(split, int(n), rng, keep_all_classes))
    asked = ", ".join(f"n_{k}={v}" for k, v in sizes.items() if v is not None) or "nothing"
    return TextDataset(
        name=dataset.name,
        label_names=dataset.label_names,
        multilabel=dataset.multilabel,
        max_length=dataset.max_length,
        source=f"{dataset.source}; subset({asked}, seed={seed})",
        **splits,
    )


def stratum_of_examples(split: Split) -> list[int]:
    """The stratum of each example of ``split``: its class, or its rarest class (multilabel)."""
    if split.labels.ndim == 1:
        return [int(v) for v in split.labels]
    return strata([tuple(np.flatnonzero(row).tolist()) for row in split.labels])


def stratum_quotas(counts: dict[int, int], n: int, rng: np.random.Generator, keep_all: bool = True) -> dict[int, int]:
    """How many of ``n`` examples each stratum gets: floor of its share plus one for the largest
    remainders (ties drawn by ``rng``); with ``keep_all`` and n >= number of strata, empty
    strata then take one example each from the strata with the most to spare."""
    total = sum(counts.values())
    keys = sorted(counts)
    share = {k: n * counts[k] / total for k in keys}
    quota = {k: int(np.floor(share[k])) for k in keys}
    tie_break = dict(zip(keys, rng.permutation(len(keys))))
    by_remainder = sorted(keys, key=lambda k: (-(share[k] - quota[k]), tie_break[k]))
    for k in by_remainder[: n - sum(quota.values())]:
        quota[k] += 1
    if keep_all and n >= len(keys):
        for k in sorted((k for k in keys if quota[k] == 0), key=lambda k: (-share[k], k)):
            donors = [d for d in keys if quota[d] >= 2]
            donor = max(donors, key=lambda d: (quota[d] - share[d], -d))
            quota[donor] -= 1
            quota[k] += 1
    return quota


def stratified_sample(split: Split, n: int, rng: np.random.Generator, keep_all_classes: bool = True) -> np.ndarray:
    """Sorted positions of ``n`` examples of ``split``, stratified (see ``subset``)."""
    groups: dict[int, list[int]] = {}
    for position, stratum in enumerate(stratum_of_examples(split)):
        groups.setdefault(stratum, []).append(position)
    quota = stratum_quotas(Counter({k: len(v) for k, v in groups.items()}), n, rng, keep_all_classes)
    chosen = []
    for stratum in sorted(groups):
        members = np.asarray(groups[stratum], dtype=np.int64)
        chosen.append(rng.choice(members, size=quota[stratum], replace=False))
    return np.sort(np.concatenate(chosen))
