"""Train the pruned runs of one seed R at a time in one optimiser step (``Study.runs_per_step``).

Runs of seed s that follow one pruning schedule (``pie_utils.pruning.Schedule``: FT, WR or AI)
start from the same weights (the seed's initial ones, or its dense checkpoint with its Adam
state) and visit the same batches in every epoch, so they differ only in their masks: every
method and sparsity of that schedule can share each step. ``PopulationTrainer`` takes this
mixin; with ``runs_per_step`` R > 1 it trains such runs in stacks of up to R
(``pie_utils.stacking.StackedModels``: stacked weights, one Adam, ``torch.vmap``):

- each round prunes every run on its own unstacked model (scores, impact batches and random
  generators as in a sequential run), then stacks the models with their masks and per-run
  Adam states (WR: fresh ones after its rewind) and trains E epochs;
- after every epoch the stack is unstacked into the models, which compute the validation
  logits each run's history records, as a sequential run does;
- each run is stored as its own record, with ``stack`` in its metadata (the runs it trained
  with and the stack's wall time; ``wall_time_s`` is its share, so CPU-hours are not counted
  R times).

What a stacked run reproduces: the same function as the sequential run, in other rounding (a
batched matmul, the BiLSTM's LSTMs as one wide LSTM). Measured on the CPU for a BiLSTM
population of five methods over four rounds, its test logits are at most 6.0e-8 from the
sequential runs', the same for stacks of 2 and 5, every prediction equal
(``tests/test_stacked_training.py`` holds them to 1e-5, the bound of one step in
``tests/test_stacking.py``). A pruned run that trains alone in a stacked study (``train_run``,
e.g. a retry) trains as a stack of one. Its key records R (a dense run's does not: it trains
alone), so stacked and sequential runs never mix in a population.
Which runs share a stack depends on what was stored when it started, which may move a number
by rounding: stacked runs are reproducible to that tolerance, not bit for bit. Dropout (MiniLM)
draws per-run masks (``randomness="different"``), not the draws of a sequential run.

On a CPU the stacked BiLSTM is slower than sequential runs (its wide LSTM does R times the
recurrent arithmetic of one run); the setting is for GPUs, where one small run leaves the
device idle.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import torch

from pie_utils.errors import NonFiniteLossError, ParameterError
from pie_utils.evaluation import load_trained_weights
from pie_utils.pruning import DENSE, PruningState, get_method
from pie_utils.stacking import StackedModels, group_runs

Run = tuple[str, float, int]  # (method, sparsity, seed)


def stack_schedule(run: Run):
    """The schedule whose runs of one seed may share a stack with ``run`` (None: dense, which trains alone)."""
    method = run[0]
    return None if method == DENSE else get_method(method).schedule


def check_stack(runs: Sequence[Run]) -> None:
    """Refuse a stack that is empty, dense, of several seeds or of several schedules."""
    if not runs:
        raise ParameterError("runs", [], "one or more pruned runs of one seed and one schedule")
    if len({seed for _, _, seed in runs}) != 1 or len({stack_schedule(run) for run in runs}) != 1:
        raise ParameterError("runs", list(runs), "pruned runs of one seed and one schedule (FT, WR or AI)")
    if stack_schedule(runs[0]) is None:
        raise ParameterError("runs", list(runs), "pruned runs: a dense run trains alone")


class StackedTraining:
    """The stacked path of ``PopulationTrainer`` (whose helpers it calls: ``_prune``,
    ``_new_model``, ``dense_checkpoint``, ``logits``, ``_finish`` and the epoch's streams)."""

    def train_stack(self, runs: Sequence[Run]) -> None:
        """Train ``runs`` (pruned, one seed, one schedule) as one stack and store each; the
        caller holds their claims."""
        runs = list(runs)
        check_stack(runs)
        started = time.perf_counter()
        descriptions = [f"{m} sparsity={s:g} seed={sd} (stack of {len(runs)})" for m, s, sd in runs]
        for run, description in zip(runs, descriptions):
            self.store.log("start", self.key(*run), description)
        seed, schedule = runs[0][2], stack_schedule(runs[0])
        models = [self._new_model(seed) for _ in runs]
        prunings = [PruningState.empty(model) for model in models]
        initial_state = copy.deepcopy(models[0].state_dict()) if schedule.rewind else None
        optimizer_states, meta = None, {}
        if schedule.branches_from_dense:
            checkpoint = self.dense_checkpoint(seed)
            for model in models:
                load_trained_weights(model, checkpoint["model"])
            optimizer_states = [checkpoint["optimizer"]] * len(runs)
            meta["branched_from"] = self.key(DENSE, 0.0, seed)
        rounds = range(1, schedule.rounds + 1) if schedule.branches_from_dense else [1]
        histories, validations = [[] for _ in runs], [None] * len(runs)
        epochs = self.config.epochs
        for round_index in rounds:
            for model, pruning, (method, sparsity, _) in zip(models, prunings, runs):
                self._prune(model, pruning, method, sparsity, seed, round_index=round_index)
                if schedule.rewind:
                    pruning.rewind(model, initial_state)
            if schedule.rewind:
                optimizer_states = None  # WR rebuilds its optimiser after every pruning
            stack = self._stack(models, prunings, optimizer_states)
            first = round_index * epochs if schedule.branches_from_dense else 0
            in_round = {"round": round_index} if schedule.branches_from_dense else {}
            for epoch in range(first, first + epochs):
                records = self._train_stacked_epoch(stack, seed, epoch, runs)
                for index, (model, state) in enumerate(zip(models, stack.unstack())):
                    model.load_state_dict(state)
                    validations[index] = self.logits(model, "validation")
                    histories[index].append(
                        {**records[index], **in_round, **self._validation_record(validations[index])}
                    )
            optimizer_states = stack.optimizer_states()
        elapsed = time.perf_counter() - started
        # each run's wall_time_s is its share of the stack's, so CPU-hours are not counted R times
        meta.update(
            wall_time_s=elapsed / len(runs), stack={"runs": [self.key(*run) for run in runs], "wall_time_s": elapsed}
        )
        for index, run in enumerate(runs):
            self._finish(
                models[index],
                prunings[index],
                run,
                started,
                histories[index],
                {"validation": validations[index]},
                meta=meta,
            )
            self.store.log("finish", self.key(*run), descriptions[index])

    def _stack(self, models, prunings, optimizer_states) -> StackedModels:
        stack = StackedModels(
            models,
            [pruning.masks for pruning in prunings],
            learning_rate=self.config.learning_rate,
            grad_clip=self.config.grad_clip,
            adam_options=self.adam_options(),
            multilabel=self.multilabel,
        )
        if optimizer_states is not None:
            stack.load_optimizer_states(optimizer_states)
        return stack

    def _train_stacked_epoch(self, stack: StackedModels, seed: int, epoch: int, runs: Sequence[Run]) -> list[dict]:
        """One epoch of every run of ``stack``, on the batches and dropout stream a sequential
        run of ``seed`` draws; returns each run's history entry so far (``_train_epoch``'s)."""
        stack.train()
        order = self.epoch_batches(seed, epoch)
        loss_sum = torch.zeros(stack.runs, device=self.device)
        correct_sum, seen = torch.zeros(stack.runs, device=self.device), 0
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(self.dropout_seed(seed, epoch))
            for positions in order:
                input_ids, attention_mask = self.prepared.encoded["train"].batch(positions)
                labels = self.train_labels[torch.as_tensor(positions)].to(self.device)
                loss, correct = stack.step(
                    input_ids.to(self.device), attention_mask.to(self.device), labels, autocast=self._autocast()
                )
                loss_sum += loss * len(positions)
                correct_sum += correct
                seen += len(positions)
                self.count_step()
        if bool(stack.nonfinite.any()):  # once per epoch: no host sync per step
            failed = [f"{m} sparsity={s:g}" for (m, s, _), bad in zip(runs, stack.nonfinite.tolist()) if bad]
            raise NonFiniteLossError(
                f"loss became non-finite in epoch {epoch + 1} of {', '.join(failed)} seed {seed} (a stack of "
                f"{len(runs)}; lr={self.config.learning_rate}); nothing was stored for this stack"
            )
        losses, corrects = (loss_sum / seen).tolist(), (correct_sum / seen).tolist()
        return [
            {"epoch": epoch + 1, "train_loss": float(loss), "train_accuracy": float(correct)}
            for loss, correct in zip(losses, corrects)
        ]


def pending_stacks(runs: Sequence[Run], runs_per_step: int) -> list[list[Run]]:
    """``runs`` (pruned, of one seed) cut into stacks: by schedule, in the order given, at
    most ``runs_per_step`` each."""
    by_schedule: dict[object, list[Run]] = {}
    for run in runs:
        by_schedule.setdefault(stack_schedule(run), []).append(run)
    return [stack for group in by_schedule.values() for stack in group_runs(group, runs_per_step)]
