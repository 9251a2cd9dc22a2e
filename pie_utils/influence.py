"""EL2N scores, per-example losses, and where PIEs fall among the EL2N percentile bins.

The paper's influence analysis (claim 3): rank training points by EL2N (Paul et al. 2021, the
mean over a dense population of ‖p − y‖₂ early in training), cut the ranking into 20 equal-count
bins, and ask per bin how many PIEs it holds and how much more loss the pruned population has
there than the dense one.

Shapes: ``logits[seed, example, class]``; ``labels[example]`` int class indices (single-label:
softmax, one-hot) or ``labels[example, class]`` bool / 0-1 (multilabel: sigmoid, multi-hot), as
in ``pie_utils.pies`` and ``pie_utils.metrics``: the number of label axes tells the two apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import log_softmax, softmax

from pie_utils.errors import ParameterError
from pie_utils.metrics import sigmoid


def _checked(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``logits`` as float64 and ``labels`` validated against them; ParameterError otherwise."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.ndim != 3 or 0 in logits.shape:
        raise ParameterError(
            "logits", f"shape {logits.shape}", "a [seed, example, class] array with at least one of each"
        )
    if not np.issubdtype(logits.dtype, np.number) or not np.isfinite(logits).all():
        raise ParameterError(
            "logits", f"dtype {logits.dtype} with non-finite or non-numeric values", "finite real numbers"
        )
    _, n_examples, n_classes = logits.shape
    if labels.ndim == 1:
        if labels.shape != (n_examples,) or not np.issubdtype(labels.dtype, np.integer):
            raise ParameterError(
                "labels",
                f"shape {labels.shape}, dtype {labels.dtype}",
                f"[example] = ({n_examples},) int class indices",
            )
        if labels.min() < 0 or labels.max() >= n_classes:
            raise ParameterError(
                "labels", f"values {labels.min()} … {labels.max()}", f"class indices 0 … {n_classes - 1}"
            )
    elif labels.ndim == 2:
        if labels.shape != (n_examples, n_classes) or not np.isin(labels, (0, 1)).all():
            raise ParameterError(
                "labels",
                f"shape {labels.shape}",
                f"[example, class] = ({n_examples}, {n_classes}) multi-hot of 0/1 or bool",
            )
    else:
        raise ParameterError("labels", f"shape {labels.shape}", "[example] class indices or [example, class] multi-hot")
    return logits.astype(np.float64), labels


def probabilities_and_targets(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted probabilities ``[seed, example, class]`` and targets ``[example, class]``, float64.

    Single-label ``labels[example]``: softmax over classes and one-hot targets. Multilabel
    ``labels[example, class]``: a sigmoid per class and multi-hot targets.
    """
    logits, labels = _checked(logits, labels)
    if labels.ndim == 2:
        with np.errstate(over="ignore"):  # exp overflow of a very negative logit gives 0, as it should
            return sigmoid(logits), labels.astype(np.float64)
    return softmax(logits, axis=2), np.eye(logits.shape[2])[labels]


def per_example_loss(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Loss of every model on every example, ``[seed, example]`` float64.

    Single-label: cross-entropy −log softmax(logits)[gold], from ``log_softmax``. Multilabel:
    binary cross-entropy averaged over classes, log(1 + eˣ) − y·x via ``logaddexp``. Both stay
    finite for any finite logit, where going through probabilities would give log(0).
    """
    logits, labels = _checked(logits, labels)
    if labels.ndim == 2:
        return (np.logaddexp(0.0, logits) - labels * logits).mean(axis=2)
    n_examples = logits.shape[1]
    return -log_softmax(logits, axis=2)[:, np.arange(n_examples), labels]


def el2n_scores(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """EL2N of every example, ``[example]`` float64: the mean over seeds of ‖p − y‖₂.

    ``p`` is softmax(logits) and ``y`` the one-hot label (sigmoid and multi-hot for multilabel).
    Single-label scores lie in [0, √2]: 0 when every model puts probability 1 on the gold label.
    Pass logits taken early in training (the store's ``train_logits_epoch1``), as Paul et al.
    """
    probabilities, targets = probabilities_and_targets(logits, labels)
    return np.linalg.norm(probabilities - targets, axis=2).mean(axis=0)


def _check_vector(name: str, values: np.ndarray, length: int | None = None) -> np.ndarray:
    values = np.asarray(values)
    wanted = "a non-empty [example] array of finite numbers" + ("" if length is None else f" of length {length}")
    if (
        values.ndim != 1
        or len(values) == 0
        or (length is not None and len(values) != length)
        or not np.issubdtype(values.dtype, np.number)
        or not np.isfinite(values).all()
    ):
        raise ParameterError(name, f"shape {values.shape}, dtype {values.dtype}", wanted)
    return values


def _check_n_bins(n_bins: int, n_examples: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or not 1 <= n_bins <= n_examples:
        raise ParameterError("n_bins", n_bins, f"an integer from 1 to the number of examples ({n_examples})")


def percentile_bins(scores: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Equal-count bins of ``scores[example]`` by rank: ``[example]`` int in 0 … n_bins − 1.

    Bin 0 holds the lowest scores. The point of rank r (0-based) goes to bin
    ⌊r · n_bins / n_examples⌋, so bin sizes differ by at most one; tied scores are ranked by
    position (a stable sort), so a run of ties may straddle two bins.
    """
    scores = _check_vector("scores", scores)
    _check_n_bins(n_bins, len(scores))
    order = np.argsort(scores, kind="stable")
    bins = np.empty(len(scores), dtype=np.int64)
    bins[order] = np.arange(len(scores)) * n_bins // len(scores)
    return bins


def influence_by_bin(
    el2n: np.ndarray, pie_mask: np.ndarray, dense_loss: np.ndarray, pruned_loss: np.ndarray, n_bins: int = 20
) -> pd.DataFrame:
    """Per EL2N percentile bin: how many PIEs it holds and the pruned-to-dense loss ratio.

    Args:
        el2n: ``[example]`` EL2N scores (``el2n_scores``).
        pie_mask: ``[example]`` bool, True for PIEs (``pie_utils.pies.find_pies``).
        dense_loss, pruned_loss: ``[example]`` losses of each population, e.g.
            ``per_example_loss(logits, labels).mean(axis=0)``.
        n_bins: number of equal-count bins (the paper: 20).

    Returns:
        One row per bin, lowest EL2N first: ``bin``, ``el2n_low`` and ``el2n_high`` (the
        smallest and largest score in it), ``n`` (points), ``pies``, ``pie_rate`` (pies / n),
        ``pie_share`` (pies / all PIEs; NaN when there are none) and ``loss_ratio`` (mean pruned
        loss / mean dense loss in the bin; NaN where the dense mean is 0). ``df.attrs`` holds
        the nulls: ``overall_pie_rate`` (every bin's pie_rate if PIEs ignored EL2N) and
        ``uniform_share`` = 1 / n_bins (every bin's pie_share under the same null).
    """
    el2n = _check_vector("el2n", el2n)
    n_examples = len(el2n)
    pie_mask = np.asarray(pie_mask)
    if pie_mask.shape != (n_examples,) or pie_mask.dtype != bool:
        # bool only: an index array of PIE positions would otherwise pass as a 0/1 mask
        raise ParameterError(
            "pie_mask", f"shape {pie_mask.shape}, dtype {pie_mask.dtype}", f"[example] = ({n_examples},) bool"
        )
    dense_loss = _check_vector("dense_loss", dense_loss, n_examples)
    pruned_loss = _check_vector("pruned_loss", pruned_loss, n_examples)
    _check_n_bins(n_bins, n_examples)

    points = pd.DataFrame(
        {
            "bin": percentile_bins(el2n, n_bins),
            "el2n": el2n,
            "pie": pie_mask,
            "dense": dense_loss,
            "pruned": pruned_loss,
        }
    )
    table = points.groupby("bin").agg(
        el2n_low=("el2n", "min"),
        el2n_high=("el2n", "max"),
        n=("pie", "size"),
        pies=("pie", "sum"),
        dense=("dense", "mean"),
        pruned=("pruned", "mean"),
    )
    table = table.reset_index()
    total_pies = int(pie_mask.sum())
    table["pie_rate"] = table.pies / table.n
    table["pie_share"] = table.pies / total_pies if total_pies else np.nan
    table["loss_ratio"] = (table.pruned / table.dense).where(table.dense > 0)
    table = table.drop(columns=["dense", "pruned"])
    table.attrs["overall_pie_rate"] = total_pies / n_examples
    table.attrs["uniform_share"] = 1 / n_bins
    return table
