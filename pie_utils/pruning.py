"""The paper's pruning methods: a score (magnitude, impact, random) × a schedule (FT, WR, AI).

The three are tables: ``SCORES`` (each ``Score`` carries its function), ``SCHEDULES`` (each
``Schedule`` its rounds, rewind and whether it branches from the dense run) and ``METHODS``
(a name, a score, a schedule). The trainer reads those fields, so a new method is one entry.

Masks are computed by ``torch.nn.utils.prune`` method objects (``L1Unstructured.compute_mask``
on the chosen importance scores) and kept in a ``PruningState``. No forward hooks are
installed: the state zeroes pruned gradients before each optimiser step (``mask_gradients``)
and pruned weights after it (``apply``), which is faster than a hook on every forward pass,
leaves the model an ordinary module, and stops Adam's moments from reviving a pruned weight.

Which weights are prunable is the model's decision: every classifier of this project has
``prunable_parameters() -> [(module name, module, parameter name)]`` (weight matrices only: no
biases, embeddings, LayerNorm or final classifier). A tensor's key in the masks is
``"<module name>.<parameter name>"``, the same as in ``model.state_dict()``.

Sparsity is exact by construction (integer counts, not rates): a tensor of N prunable weights
pruned in ``rounds`` rounds to ``target`` keeps ``round(N · (1 − target)^(k/rounds))`` weights
after round k, and the last round prunes exactly ``round(N · target)``: within half a weight of
the target. Per-round rates therefore compound to the target, (1 − x)^3 = 1 − target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import prune

from pie_utils.errors import ParameterError

DENSE = "dense"  # the unpruned population's method name (sparsity 0)
ROUNDS = 3  # pruning rounds of the iterative schedules (FT, WR)
SCOPES = ("layer", "global")

LossFn = Callable[[nn.Module, object], torch.Tensor]


@dataclass(frozen=True)
class ScoreInputs:
    """What a score function may need besides the model: training ``batches`` with a summed
    ``loss_fn(model, batch)`` (impact), and a ``generator`` (random)."""

    batches: Iterable[object] | None = None
    loss_fn: LossFn | None = None
    generator: torch.Generator | None = None


@dataclass(frozen=True)
class Score:
    """A way to score weights (higher = keep).

    Attributes:
        name: ``magnitude``, ``impact`` or ``random``.
        compute: ``compute(model, ScoreInputs) -> {"<module>.<parameter>": scores}``, each
            shaped like its weight and non-negative (masks keep the largest ``|score|``, as
            ``L1Unstructured`` ranks by absolute value).
        needs_batches: the trainer must supply training batches and a loss (impact).
    """

    name: str
    compute: Callable[[nn.Module, ScoreInputs], dict[str, torch.Tensor]]
    needs_batches: bool = False


@dataclass(frozen=True)
class Schedule:
    """When a method prunes, and what its run starts from.

    Attributes:
        name: ``FT``, ``WR`` or ``AI``.
        rounds: pruning rounds; each is followed by E epochs of training.
        rewind: after each pruning the surviving weights return to their initial values and
            the optimiser starts afresh (WR); otherwise both carry on (FT).
        branches_from_dense: the run starts from the dense run's state after E epochs (its
            checkpoint: weights and Adam state) and trains epochs E..(rounds + 1)E − 1; otherwise
            it prunes the initial weights and trains epochs 0..E − 1 (AI).
    """

    name: str
    rounds: int
    rewind: bool
    branches_from_dense: bool


@dataclass(frozen=True)
class PruningMethod:
    """A paper method: its name, what scores the weights, and when pruning happens."""

    name: str
    score: Score
    schedule: Schedule


def magnitude_scores(model: nn.Module) -> dict[str, torch.Tensor]:
    """|w| per prunable tensor."""
    return {name: weight.detach().abs() for name, weight in prunable_weights(model).items()}


def _impact(model: nn.Module, inputs: ScoreInputs) -> dict[str, torch.Tensor]:
    if inputs.batches is None or inputs.loss_fn is None:
        raise ParameterError(
            "batches", inputs.batches, "training batches and a loss_fn(model, batch) for impact scores"
        )
    return impact_scores(model, inputs.batches, inputs.loss_fn)


def _random(model: nn.Module, inputs: ScoreInputs) -> dict[str, torch.Tensor]:
    if not isinstance(inputs.generator, torch.Generator):
        raise ParameterError("generator", inputs.generator, "a torch.Generator for random scores")
    return random_scores(model, inputs.generator)


SCORES: dict[str, Score] = {
    score.name: score
    for score in (
        Score("magnitude", lambda model, inputs: magnitude_scores(model)),
        Score("impact", _impact, needs_batches=True),
        Score("random", _random),
    )
}
SCHEDULES: dict[str, Schedule] = {
    schedule.name: schedule
    for schedule in (
        Schedule("FT", rounds=ROUNDS, rewind=False, branches_from_dense=True),
        Schedule("WR", rounds=ROUNDS, rewind=True, branches_from_dense=True),
        Schedule("AI", rounds=1, rewind=False, branches_from_dense=False),
    )
}
METHODS: dict[str, PruningMethod] = {
    name: PruningMethod(name, SCORES[score], SCHEDULES[schedule])
    for name, score, schedule in (
        ("IMP-FT", "magnitude", "FT"),
        ("IMP-WR", "magnitude", "WR"),
        ("MP-AI", "magnitude", "AI"),
        ("IIBP-FT", "impact", "FT"),
        ("IIBP-WR", "impact", "WR"),
        ("IBP-AI", "impact", "AI"),
        ("IRP-FT", "random", "FT"),
        ("RP-AI", "random", "AI"),
        ("IRP-WR", "random", "WR"),  # run and dropped by the paper: optional ninth
    )
}
PAPER_METHODS = ("IMP-FT", "IMP-WR", "MP-AI", "IIBP-FT", "IIBP-WR", "IBP-AI", "IRP-FT", "RP-AI")


def get_method(name: str) -> PruningMethod:
    """The method called ``name``; ``ParameterError`` naming the allowed ones otherwise."""
    if name not in METHODS:
        raise ParameterError("method", name, list(METHODS))
    return METHODS[name]


def _check_target(target: float) -> None:
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 <= target < 1:
        raise ParameterError("target", target, "a sparsity in [0, 1), e.g. 0.9 for 90 %")


def per_round_rate(target: float, rounds: int = ROUNDS) -> float:
    """Share x of the remaining weights pruned per round: (1 − x)^rounds = 1 − target."""
    _check_target(target)
    return 1.0 - (1.0 - target) ** (1.0 / rounds)


def _round_half_up(value: float) -> int:
    # round(…, 9) drops float noise such as 7.000000000000001 before rounding 0.5 up.
    return math.floor(round(value, 9) + 0.5)


def pruned_count_after_round(n_weights: int, target: float, round_index: int, rounds: int = ROUNDS) -> int:
    """Pruned weights of a tensor of ``n_weights`` after round ``round_index`` (1-based) of ``rounds``.

    ``n_weights − round(n_weights · (1 − target)^(round_index / rounds))`` before the last
    round, ``round(n_weights · target)`` after it; halves round up. Example: 1000 weights,
    target 0.9, 3 rounds → 536, 785, 900.
    """
    _check_target(target)
    if not 1 <= round_index <= rounds:
        raise ParameterError("round_index", round_index, f"1 … {rounds}")
    final = _round_half_up(n_weights * target)
    if round_index == rounds:
        return final
    kept = _round_half_up(n_weights * (1.0 - target) ** (round_index / rounds))
    return min(n_weights - kept, final)


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """``{"<module>.<parameter>": weight}`` for every tensor ``model.prunable_parameters()`` lists."""
    return {
        f"{module_name}.{parameter}": getattr(module, parameter)
        for module_name, module, parameter in model.prunable_parameters()
    }


def impact_scores(model: nn.Module, batches: Iterable[object], loss_fn: LossFn) -> dict[str, torch.Tensor]:
    """|w · ∂L/∂w| per prunable tensor (same shape as w), with ∂L/∂w summed over ALL ``batches``.

    ``loss_fn(model, batch)`` returns one batch's scalar loss; with a summed (not mean) loss
    the score equals that of all batches concatenated. Gradients come from
    ``torch.autograd.grad``, so no ``.grad`` of the model is created or changed, and weights
    are untouched. The model is scored in eval mode (no dropout, so scores do not depend on an
    RNG); cuDNN is off meanwhile because its RNN backward refuses eval mode.
    """
    weights = prunable_weights(model)
    names = list(weights)
    gradients = {name: torch.zeros_like(weight) for name, weight in weights.items()}
    was_training = model.training
    requires_grad = {name: weight.requires_grad for name, weight in weights.items()}
    n_batches = 0
    try:
        model.eval()
        for weight in weights.values():
            weight.requires_grad_(True)
        with torch.backends.cudnn.flags(enabled=False):
            for batch in batches:
                loss = loss_fn(model, batch)
                batch_gradients = torch.autograd.grad(loss, [weights[n] for n in names], allow_unused=True)
                for name, gradient in zip(names, batch_gradients):
                    if gradient is not None:  # None: the tensor took no part in this loss
                        gradients[name] += gradient
                n_batches += 1
    finally:
        model.train(was_training)
        for name, weight in weights.items():
            weight.requires_grad_(requires_grad[name])
    if n_batches == 0:
        raise ParameterError("batches", "no batches", "at least one batch of training examples for impact scores")
    return {name: (weights[name].detach() * gradients[name]).abs() for name in names}


def random_scores(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Uniform [0, 1) scores per prunable tensor, drawn from ``generator`` (never the global RNG).

    One full tensor is drawn per weight in ``prunable_parameters`` order, pruned or not, so the
    draws do not depend on earlier masks.
    """
    return {
        name: torch.rand(weight.shape, generator=generator, device=generator.device).to(weight.device)
        for name, weight in prunable_weights(model).items()
    }


def importance_scores(
    model: nn.Module,
    score: str,
    batches: Iterable[object] | None = None,
    loss_fn: LossFn | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Scores (higher = keep) per prunable tensor for ``score`` in ``SCORES``, shaped like each weight."""
    if score not in SCORES:
        raise ParameterError("score", score, list(SCORES))
    return SCORES[score].compute(model, ScoreInputs(batches, loss_fn, generator))


def shrink_mask(mask: torch.Tensor, scores: torch.Tensor, pruned_total: int) -> torch.Tensor:
    """``mask`` (bool, True = kept) with its lowest-scored kept entries pruned until ``pruned_total`` are.

    As torch's ``PruningContainer`` does for iterative pruning, ``L1Unstructured`` only sees
    the entries still kept and an int ``amount`` counts among them, so a pruned weight stays
    pruned and the count is exact. Returns a new mask shaped like ``mask``.
    """
    to_prune = pruned_total - int((~mask).sum())
    if to_prune <= 0:
        return mask.clone()
    flat = mask.flatten().clone()
    kept = flat.nonzero().squeeze(1)
    kept_scores = scores.flatten()[kept].float()
    partial = prune.L1Unstructured(amount=to_prune).compute_mask(
        kept_scores, default_mask=torch.ones_like(kept_scores, dtype=torch.bool)
    )
    flat[kept] = partial
    return flat.view_as(mask)


class PruningState:
    """Boolean masks (True = kept) for a model's prunable tensors.

    Attributes:
        masks: ``"<module>.<parameter>"`` → bool tensor shaped like (and on the device of) the weight.
    """

    def __init__(self, masks: dict[str, torch.Tensor]):
        self.masks = {name: mask.bool() for name, mask in masks.items()}
        self._refresh()

    def _refresh(self) -> None:
        # Tensors with a pruned entry; found once per mask change, so apply() does not
        # synchronise with the GPU on every step to ask mask.all().
        self._pruned_names = [name for name, mask in self.masks.items() if not bool(mask.all())]

    @classmethod
    def empty(cls, model: nn.Module) -> PruningState:
        """All-kept masks for every prunable tensor of ``model`` (the dense state)."""
        return cls(
            {name: torch.ones_like(weight, dtype=torch.bool) for name, weight in prunable_weights(model).items()}
        )

    def prune_round(
        self,
        model: nn.Module,
        score: str,
        target: float,
        round_index: int = 1,
        rounds: int = ROUNDS,
        scope: str = "layer",
        batches: Iterable[object] | None = None,
        loss_fn: LossFn | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        """Shrink the masks to round ``round_index`` of ``rounds`` towards ``target``, then apply them.

        ``score``: magnitude, impact (needs ``batches`` and ``loss_fn``) or random (needs
        ``generator``). ``scope``: ``layer`` (the paper's: each tensor reaches the count on its
        own) or ``global`` (one threshold over all prunable weights; the total count is exact,
        tensors differ). AI is ``round_index=1, rounds=1``.
        """
        _check_target(target)
        if scope not in SCOPES:
            raise ParameterError("scope", scope, SCOPES)
        if score not in SCORES:
            raise ParameterError("score", score, list(SCORES))
        pruned_count_after_round(0, target, round_index, rounds)  # validates round_index
        scores = importance_scores(model, score, batches, loss_fn, generator)
        if set(scores) != set(self.masks):
            raise ValueError(f"masks {sorted(self.masks)} do not match the model's prunable tensors {sorted(scores)}")
        if scope == "layer":
            for name, tensor_scores in scores.items():
                total = pruned_count_after_round(tensor_scores.numel(), target, round_index, rounds)
                self.masks[name] = shrink_mask(self.masks[name], tensor_scores, total)
        else:
            self._shrink_globally(scores, target, round_index, rounds)
        self._refresh()
        self.apply(model)

    def _shrink_globally(self, scores: dict[str, torch.Tensor], target: float, round_index: int, rounds: int) -> None:
        names = list(scores)
        device = self.masks[names[0]].device
        flat_scores = torch.cat([scores[n].flatten().float().to(device) for n in names])
        flat_mask = torch.cat([self.masks[n].flatten().to(device) for n in names])
        total = pruned_count_after_round(flat_scores.numel(), target, round_index, rounds)
        flat_mask = shrink_mask(flat_mask, flat_scores, total)
        for name, piece in zip(names, flat_mask.split([self.masks[n].numel() for n in names])):
            self.masks[name] = piece.view_as(self.masks[name]).to(self.masks[name].device)

    @torch.no_grad()
    def apply(self, model: nn.Module) -> None:
        """Zero every pruned weight in place (call after each optimiser step)."""
        weights = prunable_weights(model)
        for name in self._pruned_names:
            weights[name].mul_(self.masks[name])

    @torch.no_grad()
    def mask_gradients(self, model: nn.Module) -> None:
        """Zero the gradients of pruned weights in place (call between backward and the step)."""
        weights = prunable_weights(model)
        for name in self._pruned_names:
            if weights[name].grad is not None:
                weights[name].grad.mul_(self.masks[name])

    @torch.no_grad()
    def rewind(self, model: nn.Module, initial_state: dict[str, torch.Tensor]) -> None:
        """WR: load ``initial_state`` (a COPY of ``model.state_dict()`` taken before training,
        e.g. ``copy.deepcopy``) into ``model``, then zero the pruned weights.

        Every parameter and buffer returns to its initial value; the optimiser must be rebuilt.
        """
        model.load_state_dict(initial_state)
        self.apply(model)

    def realised_sparsity(self, model: nn.Module | None = None) -> dict[str, object]:
        """``{"overall": fraction, "per_tensor": {name: fraction}}`` of pruned prunable weights.

        Read from the masks (fraction False). With ``model``, also checks that every pruned
        weight is exactly zero there (RuntimeError otherwise: masks were not applied).
        """
        if model is not None:
            weights = prunable_weights(model)
            for name in self._pruned_names:
                if bool((weights[name].detach()[~self.masks[name]] != 0).any()):
                    raise RuntimeError(f"{name}: a pruned weight is not zero; masks were not applied")
        per_tensor = {name: int((~mask).sum()) / mask.numel() for name, mask in self.masks.items()}
        pruned = sum(int((~mask).sum()) for mask in self.masks.values())
        total = sum(mask.numel() for mask in self.masks.values())
        return {"overall": pruned / total if total else 0.0, "per_tensor": per_tensor}
