"""Token attributions of a text classifier, and how far they move between two models.

- ``token_attributions``: layer integrated gradients (captum's ``LayerIntegratedGradients``)
  on the model's ``embedding`` layer, from a baseline of padding ids at every real position
  to the input, for one target class per example. A token's attribution is the sum over the
  embedding dimensions of (embedding − baseline embedding) × the averaged gradient; the
  attributions of an example sum to F(input) − F(baseline) of the target logit (or of its margin
  over the mean logit, ``margin=True``), up to captum's convergence delta. Examples are batched by length; padding positions get exactly zero.
- ``attribution_shift``: 1 − the cosine similarity of two models' per-token attribution
  vectors of the same example (0: same direction, 1: orthogonal, 2: opposite). Cosine ignores
  scale, so a pruned model whose logits are larger or smaller overall does not shift by that.

Models take ``(input_ids, attention_mask)`` LongTensors ``[batch, time]`` (right-padded) and
return logits ``[batch, class]``, and have an ``embedding`` module (``BiLSTMClassifier``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import LayerIntegratedGradients

from pie_utils.errors import ParameterError
from pie_utils.models.ragged import EncodedSplit


@dataclass(frozen=True)
class TokenAttributions:
    """Attributions of one model on the examples of an ``EncodedSplit``, in its order.

    Attributes:
        values: float64 ``[example, time]``: token t's attribution; ``time`` is the longest
            example; zero on padding (t ≥ ``lengths[example]``).
        lengths: int64 ``[example]`` real tokens per example.
        delta: float64 ``[example]`` captum's convergence delta: the sum of an example's
            attributions minus ``output_change`` (0 for exact integration).
        output_change: float64 ``[example]`` F(input) − F(baseline) of the target logit.
    """

    values: np.ndarray
    lengths: np.ndarray
    delta: np.ndarray
    output_change: np.ndarray

    def row(self, example: int) -> np.ndarray:
        """float64 ``[token]`` the attributions of one example's real tokens."""
        return self.values[example, : self.lengths[example]]


def token_attributions(
    model: torch.nn.Module,
    encoded: EncodedSplit,
    targets: np.ndarray,
    n_steps: int,
    batch_size: int = 32,
    margin: bool = False,
) -> TokenAttributions:
    """Integrated-gradient attributions of ``targets[example]`` (class indices) for every
    example of ``encoded``, through ``model.embedding``, with ``n_steps`` Gauss–Legendre steps.

    ``margin``: attribute the target's logit minus the mean of the example's logits (for two
    classes, half the margin of the target over the other class) instead of the raw logit, so
    that a shift common to every class's logit, which changes no prediction, moves no attribution.

    The baseline replaces every real token by ``encoded.pad_id`` and keeps the attention mask,
    so it has the input's length. Examples are sorted by length and run ``batch_size`` at a
    time (each batch padded to its longest example) on the model's device; the model is put in
    eval mode and its parameters do not accumulate gradients. Results do not depend on
    ``batch_size``.
    """
    n_examples = len(encoded)
    targets = np.asarray(targets)
    if targets.shape != (n_examples,) or not np.issubdtype(targets.dtype, np.integer):
        raise ParameterError(
            "targets",
            f"{targets.dtype} array of shape {targets.shape}",
            f"integer class indices of shape ({n_examples},)",
        )
    for name, value in (("n_steps", n_steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(name, value, "an integer >= 1")
    if not isinstance(getattr(model, "embedding", None), torch.nn.Module):
        raise ParameterError("model", type(model).__name__, "a classifier with an `embedding` module (the BiLSTM)")
    lengths = encoded.lengths
    values = np.zeros((n_examples, max(int(lengths.max(initial=0)), 1)))
    delta = np.zeros(n_examples)
    model.eval()
    device = next(model.parameters()).device
    if n_examples:
        with torch.no_grad():
            n_classes = model(*(tensor.to(device) for tensor in encoded.batch([0]))).shape[1]
        if targets.min() < 0 or targets.max() >= n_classes:
            raise ParameterError(
                "targets", f"values {targets.min()} … {targets.max()}", f"class indices 0 … {n_classes - 1}"
            )
    integrated = LayerIntegratedGradients(_centred(model) if margin else model, model.embedding)
    order = np.argsort(lengths, kind="stable")
    with _frozen(model):
        for start in range(0, n_examples, batch_size):
            positions = order[start : start + batch_size]
            input_ids, mask = (tensor.to(device) for tensor in encoded.batch(positions))
            attributions, batch_delta = integrated.attribute(
                input_ids,
                baselines=torch.full_like(input_ids, encoded.pad_id),
                additional_forward_args=(mask,),
                target=torch.as_tensor(targets[positions], device=device),
                n_steps=n_steps,
                return_convergence_delta=True,
            )
            # padding embeds as the baseline does, so its attribution is zero already; the mask makes it exact
            per_token = (attributions.sum(dim=2) * mask).detach().double().cpu().numpy()
            values[positions, : per_token.shape[1]] = per_token
            delta[positions] = batch_delta.detach().double().cpu().numpy()
    # captum's delta is sum(attributions) − (F(input) − F(baseline)): the change needs no further forward pass
    return TokenAttributions(values, lengths.astype(np.int64), delta, values.sum(axis=1) - delta)


def _centred(model: torch.nn.Module):
    """``model``'s forward with each example's logits centred on their mean."""

    def forward(input_ids, attention_mask):
        logits = model(input_ids, attention_mask)
        return logits - logits.mean(dim=1, keepdim=True)

    return forward


def attribution_shift(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``[example]`` 1 − cosine similarity of the rows of ``first`` and ``second``
    ``[example, time]`` (two models' ``TokenAttributions.values`` on the same examples).

    In [0, 2]: 0 when the rows point the same way (whatever their scale), 1 when orthogonal, 2
    when opposite; NaN where either row is all zero (no direction). Zero padding adds nothing.
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.ndim != 2 or first.shape != second.shape:
        raise ParameterError(
            "second", f"shape {second.shape}", f"the shape of first, {first.shape}, an [example, time] array"
        )
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = np.einsum("et,et->e", first, second) / norms
    return np.where(norms > 0, 1.0 - np.clip(cosine, -1.0, 1.0), np.nan)


@contextlib.contextmanager
def _frozen(model: torch.nn.Module) -> Iterator[None]:
    """Parameters stop requiring gradients (attributions need input gradients only), then are restored."""
    required = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    for parameter, _ in required:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in required:
            parameter.requires_grad_(flag)
