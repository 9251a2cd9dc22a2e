"""Run stacking: R training runs of one architecture trained in one optimiser step.

``StackedModels`` stacks the trainable parameters of R models into tensors with a leading run
dimension R and computes the R forward passes at once with ``torch.vmap`` over
``torch.func.functional_call`` (the BiLSTM's LSTMs as one wide LSTM), so one device does the work of R small runs with no per-run
Python loop. Per-run pruning masks (``"<module>.<parameter>"`` → bool, True = kept, as in
``PruningState.masks``) are stacked the same way.

What equals R sequential runs, and what does not:

- The loss is the sum of the R runs' mean losses, so each run's gradient is its own. Gradients
  of pruned weights are zeroed, each run's gradient norm is clipped on its own, and pruned
  weights are zeroed after the step, in the trainer's order (``pie_utils.training``).
- Adam (with or without weight decay, fused or not) is elementwise given the shared step count,
  so one Adam over the stacked tensors is R separate Adams; per-run Adam states (e.g. a dense
  checkpoint's) are stacked with ``load_optimizer_states``.
- The numbers agree to rounding, not bit for bit: a batched matmul, a reduction over a run's
  slice and the BiLSTM's wide LSTM below sum in other orders than the sequential kernels. Adam
  carries that into the weights where a gradient is below its eps (1e-8): measured, at most
  6e-6 apart after 1 to 20 steps (``tests/test_stacking.py``, CPU).
- Dropout: under vmap each run draws its own masks (``randomness="different"``), but not the
  draws a sequential run of its seed would make, so with dropout on the runs are other
  samples of the same training, not the same numbers. The BiLSTM has no dropout; MiniLM does.
- A non-finite loss does not stop the step (asking would sync with the device every step):
  ``nonfinite`` [R] records it on the device, for the caller to check once per epoch and to
  discard the stack, as the sequential trainer stores nothing for such a run. (In MiniLM's
  stack the other runs stay finite; in the BiLSTM's, non-finite states spread through the wide
  LSTM's zero blocks.)

Architectures. The runs read one batch ``input_ids`` [B, T]: a stack holds runs of one seed,
which visit the same batches. MiniLM/BERT is stacked as it is, its forward under vmap; on the
CPU vmap loops over the runs inside attention (its flash kernel has no batching rule there),
which is slower only. CUDA's attention kernels (flash, memory-efficient, cuDNN) have batching
rules, so there the R runs' attention is one call per layer (``tests/test_stacking.py`` checks
the dispatcher for them). ``nn.LSTM`` has no vmap batching rule (``aten::lstm``, the op it
calls on every device, nor cuDNN's), so the BiLSTM's LSTMs of one layer and direction run as one LSTM R times as wide
(``pie_utils.wide_lstm``: one fused kernel per layer and direction, R times the recurrent
arithmetic), inside the model's own read-out; its head runs under vmap. Frozen parameters
(the BiLSTM's word vectors) are shared by the runs, not stacked.

The trainer (``pie_utils.stacked_training``, with ``runs_per_step`` above 1) stacks the runs
of one seed and schedule: epoch e of every run of seed s visits the same batches, so e.g. all
FT runs of seed s (every method and sparsity, from the dense checkpoint's weights and Adam
state, pruned after the same epochs) take one batch (``input_ids`` [B, T]) and differ in
weights and masks only. WR runs stack apart from FT runs, since their Adam restarts each round
and one stacked Adam has one step count. ``group_runs`` cuts those runs into steps of at most
``runs_per_step``; each group trains as one ``StackedModels`` (a new one after each pruning),
and ``unstack`` and ``optimizer_states`` hand back R ordinary state_dicts to evaluate and
store. Checked on the CPU only; the GPU's speed-up is not measured here.
"""

from __future__ import annotations

import contextlib
import copy
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from pie_utils.errors import ParameterError
from pie_utils.models import BiLSTMClassifier
from pie_utils.models.bilstm import real_lengths
from pie_utils.pruning import prunable_weights
from pie_utils.wide_lstm import wide_sequence_vectors

RANDOMNESS = ("different", "same", "error")  # torch.vmap's choices for random ops such as dropout
Run = TypeVar("Run")


def group_runs(runs: Sequence[Run], runs_per_step: int) -> list[list[Run]]:
    """``runs`` in order, cut into groups of at most ``runs_per_step`` (the last may be smaller)."""
    if isinstance(runs_per_step, bool) or not isinstance(runs_per_step, numbers.Integral) or runs_per_step < 1:
        raise ParameterError("runs_per_step", runs_per_step, "a whole number >= 1 (runs stacked into one step)")
    runs = list(runs)
    return [runs[start : start + runs_per_step] for start in range(0, len(runs), runs_per_step)]


def _template(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the meta device: functional calls supply every tensor."""
    return copy.deepcopy(model).to("meta")


def _children(params: Mapping[str, torch.Tensor], module: str) -> dict[str, torch.Tensor]:
    """The entries of ``params`` under ``module``, named as in that module."""
    return {name.removeprefix(f"{module}."): p for name, p in params.items() if name.startswith(f"{module}.")}


def _layout(model: nn.Module) -> list[tuple[str, torch.Size, bool]]:
    """Name, shape and whether it trains, of every parameter and buffer of ``model``."""
    return [(name, t.shape, t.requires_grad) for name, t in (*model.named_parameters(), *model.named_buffers())]


class StackedModels:
    """R models of identical architecture, trained as one: stacked weights, one Adam, one step.

    Args:
        models: R ≥ 1 models of one architecture (``build_model``), on one device; their
            frozen parameters and buffers must be equal (they are shared, not stacked). The
            models themselves are not changed; ``unstack`` returns the trained weights.
        masks: None (all dense) or R entries, each None (dense) or ``{"<module>.<parameter>":
            tensor}`` of 0/1 or bool shaped like that prunable weight (``PruningState.masks``);
            a name left out is dense. Applied to the weights at once.
        learning_rate, grad_clip, adam_options: the trainer's ``torch.optim.Adam(lr=...,
            **adam_options)`` and ``clip_grad_norm_`` maximum, per run.
        multilabel: binary cross-entropy per label instead of cross-entropy.
        randomness: vmap's ``randomness`` for dropout in training mode (``RANDOMNESS``).

    The stacked model starts in the mode of ``models[0]``; ``train()``/``eval()`` switch it.
    """

    def __init__(
        self,
        models: Sequence[nn.Module],
        masks: Sequence[Mapping[str, torch.Tensor] | None] | None = None,
        *,
        learning_rate: float,
        grad_clip: float,
        adam_options: Mapping[str, Any] | None = None,
        multilabel: bool = False,
        randomness: str = "different",
    ):
        models = list(models)
        if not models or len({type(m) for m in models}) != 1:
            raise ParameterError("models", f"{len(models)} models", "one or more models of one class")
        if randomness not in RANDOMNESS:
            raise ParameterError("randomness", randomness, RANDOMNESS)
        masks = [None] * len(models) if masks is None else list(masks)
        if len(masks) != len(models):
            raise ParameterError("masks", f"{len(masks)} entries", f"None or one entry per model ({len(models)})")
        named = [dict(m.named_parameters()) for m in models]
        trainable = [name for name, p in named[0].items() if p.requires_grad]
        self.shared = {name: p.detach() for name, p in named[0].items() if not p.requires_grad}
        self.shared.update({name: b.detach() for name, b in models[0].named_buffers()})
        for model, parameters in zip(models[1:], named[1:]):
            others = {**parameters, **dict(model.named_buffers())}
            if _layout(model) != _layout(models[0]) or any(
                not torch.equal(others[name], tensor) for name, tensor in self.shared.items()
            ):
                raise ParameterError("models", type(model).__name__, "models of one layout whose frozen tensors agree")
        self.runs, self.multilabel, self.randomness, self.grad_clip = len(models), multilabel, randomness, grad_clip
        self.masks = self._stack_masks(models[0], masks)
        self._template = _template(models[0])
        self._keys = list(models[0].state_dict())
        # own stacking, not stack_module_state: frozen word vectors stay one shared copy without grad
        self.params = {name: torch.stack([n[name].detach() for n in named]).requires_grad_() for name in trainable}
        self.optimizer = torch.optim.Adam(self.params.values(), lr=learning_rate, **(adam_options or {}))
        self.nonfinite = torch.zeros(self.runs, dtype=torch.bool, device=self.params[trainable[0]].device)
        self.train(models[0].training)
        self._apply_masks()

    def _stack_masks(self, model: nn.Module, masks: list) -> dict[str, torch.Tensor]:
        """``{name: bool [R, *weight.shape]}`` for the prunable weights some run prunes."""
        weights = prunable_weights(model)
        for run_masks in masks:
            for name, mask in (run_masks or {}).items():
                if name not in weights or mask.shape != weights[name].shape:
                    raise ParameterError("masks", name, "prunable weights of the model, each shaped like its weight")
        stacked = {}
        for name, weight in weights.items():
            if any(run_masks and name in run_masks and not bool(run_masks[name].bool().all()) for run_masks in masks):
                ones = torch.ones_like(weight, dtype=torch.bool)
                stacked[name] = torch.stack(
                    [(run_masks or {}).get(name, ones).bool().to(ones.device) for run_masks in masks]
                )
        return stacked

    def train(self, mode: bool = True) -> StackedModels:
        """Training (dropout on) or evaluation mode for every run, as ``nn.Module.train``."""
        self._template.train(mode)
        return self

    def eval(self) -> StackedModels:
        return self.train(False)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits [R, B, C] of every run on one batch, ``input_ids``/``attention_mask`` [B, T],
        shared by the runs (as the trainer's stacks of one seed are)."""
        if input_ids.dim() != 2:
            raise ParameterError("input_ids", f"shape {tuple(input_ids.shape)}", "[B, T], one batch shared by the runs")
        if isinstance(self._template, BiLSTMClassifier):
            return self._bilstm_logits(input_ids, attention_mask)

        def one_run(params, input_ids, attention_mask):
            return functional_call(self._template, (params, self.shared), (input_ids, attention_mask))

        return torch.vmap(one_run, in_dims=(0, None, None), randomness=self.randomness)(
            self.params, input_ids, attention_mask
        )

    def _bilstm_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The BiLSTM's logits [R, B, C]: its LSTMs as one wide LSTM (``pie_utils.wide_lstm``),
        its head per run under vmap (a batched matmul per layer)."""
        vectors = F.embedding(input_ids, self.shared["embedding.weight"])  # frozen: shared by the runs
        sequence = wide_sequence_vectors(self._template, self.params, vectors, real_lengths(attention_mask))
        head, classifier = self._template.head, self._template.classifier

        def one_run(params, vectors):
            hidden = functional_call(head, _children(params, "head"), (vectors,))
            return functional_call(classifier, _children(params, "classifier"), (hidden,))

        return torch.vmap(one_run)(self.params, sequence)

    def step(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        autocast: contextlib.AbstractContextManager | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimiser step of every run on its batch; no host sync.

        ``labels``: [B] (class ids; multilabel [B, C] of 0/1) shared, or with a leading R.
        ``autocast``: the context the forward pass runs in (the trainer's bf16 autocast), not the backward.
        Returns ``(loss, correct)``, both [R] detached on the device: each run's mean loss
        before the step and its count of correct predictions (multilabel: the mean share of
        correct label decisions, summed over examples), as the trainer's running figures.
        """
        with autocast or contextlib.nullcontext():
            logits = self.logits(input_ids, attention_mask).float()
        runs, batch = logits.shape[:2]
        labels = labels.expand(runs, *labels.shape[-(2 if self.multilabel else 1) :])
        if self.multilabel:
            losses = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none").mean(dim=(1, 2))
            correct = ((logits > 0) == labels.bool()).float().mean(dim=2).sum(dim=1)
        else:
            flat = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
            losses = flat.view(runs, batch).mean(dim=1)
            correct = (logits.argmax(dim=2) == labels).sum(dim=1)
        self.nonfinite |= ~torch.isfinite(losses)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # runs share no weights: each gradient is its own run's
        with torch.no_grad():
            for name, mask in self.masks.items():
                self.params[name].grad.mul_(mask)
            self._clip_gradients()
        self.optimizer.step()
        self._apply_masks()
        return losses.detach(), correct.detach()

    @torch.no_grad()
    def _clip_gradients(self) -> None:
        """``clip_grad_norm_`` per run: each run's 2-norm over all its gradients, scaled to
        at most ``grad_clip`` (the same 1e-6 guard)."""
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads], dim=1).norm(dim=1)  # [R]
        scale = (self.grad_clip / (norms + 1e-6)).clamp(max=1.0)
        for grad in grads:
            grad.mul_(scale.view(-1, *[1] * (grad.dim() - 1)))

    @torch.no_grad()
    def _apply_masks(self) -> None:
        for name, mask in self.masks.items():
            self.params[name].mul_(mask)

    def unstack(self) -> list[dict[str, torch.Tensor]]:
        """R ordinary state_dicts (the models' keys and order, detached copies), run by run."""
        return [
            {
                key: (self.params[key][run] if key in self.params else self.shared[key]).detach().clone()
                for key in self._keys
            }
            for run in range(self.runs)
        ]

    def load_optimizer_states(self, states: Sequence[Mapping[str, Any]]) -> None:
        """Continue from R per-run Adam ``state_dict()``s (of the models' trainable parameters,
        in ``parameters()`` order, as the trainer's optimiser holds them); they must share a
        step count, as one stacked Adam has one."""
        if len(states) != self.runs:
            raise ParameterError("states", f"{len(states)} states", f"one per run ({self.runs})")
        stacked = self.optimizer.state_dict()
        for index in range(len(self.params)):
            per_run = [state["state"][index] for state in states]
            steps = {float(s["step"]) for s in per_run}
            if len(steps) != 1:
                raise ParameterError("states", f"Adam steps {sorted(steps)}", "one step count shared by the runs")
            stacked["state"][index] = {
                key: value.clone() if key == "step" else torch.stack([s[key] for s in per_run])
                for key, value in per_run[0].items()
            }
        self.optimizer.load_state_dict(stacked)

    def optimizer_states(self) -> list[dict[str, Any]]:
        """R per-run Adam ``state_dict()``s, as ``load_optimizer_states`` takes them (e.g. to
        store each run's checkpoint)."""
        stacked = self.optimizer.state_dict()
        return [
            {
                "state": {
                    index: {key: value.clone() if key == "step" else value[run].clone() for key, value in state.items()}
                    for index, state in stacked["state"].items()
                },
                "param_groups": copy.deepcopy(stacked["param_groups"]),
            }
            for run in range(self.runs)
        ]
