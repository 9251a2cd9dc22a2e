"""Train populations of dense and pruned classifiers, seed by seed, into the results store.

For each seed s the dense run trains E epochs from ``build_model(seed=s)``. Every pruned run of
seed s shares its initial weights and its data order: epoch e of any run of seed s visits the
training set in the order drawn from ``(s, e)`` and seeds dropout from ``(s, e)``, so the RNG
state after any epoch is a function of the seed and the epoch and needs no checkpointing.

- AI runs prune the initial weights once to the target, then train epochs 0..E−1.
- FT and WR runs branch from the dense run's checkpoint after E epochs (weights and Adam state,
  stored once per seed) instead of training those epochs again, then run three rounds of
  prune → train E epochs (epochs E..4E−1). WR rewinds the surviving weights to their initial
  values and rebuilds the optimiser after every pruning; FT keeps both.

The trainer reads these from each method's ``pie_utils.pruning.Schedule`` (rounds, rewind,
branches from dense) and ``Score`` (whether it needs training batches), never from its name.

A run already in the store is never trained again, so a killed study resumes where it stopped
(a run resumes whole; the dense checkpoint spares the shared first E epochs).

Fault injection, for the reliability tests only: ``PIE_UTILS_FAULT_AFTER_STEPS=N`` makes the
process SIGKILL itself right after its N-th optimiser step (counted over all runs it trains);
unset or 0, it costs one integer comparison per step.
"""

from __future__ import annotations

import copy
import os
import signal
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm  # plain text bars: notebooks run without ipywidgets

from pie_utils.config import Study, TrainingConfig
from pie_utils.devices import check_device
from pie_utils.errors import ParameterError
from pie_utils.executors import Executor, LocalExecutor
from pie_utils.metrics import score_logits
from pie_utils.models import build_model
from pie_utils.pruning import DENSE, PruningState, get_method
from pie_utils.runs import PreparedData, open_store, prepare_data, run_spec, study_key, study_runs, study_table
from pie_utils.store import ResultsStore, machine_description

FAULT_AFTER_STEPS_ENV = "PIE_UTILS_FAULT_AFTER_STEPS"  # tests only: SIGKILL after N optimiser steps
ADAM_BETA1 = 0.9  # torch.optim.Adam's default, which _optimizer uses
BUCKET_BATCHES = 50  # batches per length bucket: close lengths share a batch, order stays random


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite; the run named in the message stored nothing."""


def train_study(
    study: Study, progress: bool = True, prepared: PreparedData | None = None, executor: Executor | None = None
) -> pd.DataFrame:
    """Train every run of ``study`` that the store lacks; return the study's runs as a table.

    The table has one row per (method, sparsity, seed) with the run key, metrics, wall time
    and realised sparsity. Runs found in the store are read, not retrained. ``prepared``:
    the study's data from ``prepare_data``, when the caller has it already. ``executor``:
    where the seeds train, a ``pie_utils.executors`` ``LocalExecutor`` (the default: this
    process, one seed after another) or ``RayExecutor`` (one task per seed on a cluster).
    """
    largest_rate = torch.finfo(torch.float32).max * (1 - ADAM_BETA1)  # Adam's first step is lr / (1 − β1)
    if study.training.learning_rate >= largest_rate:  # else the optimiser step itself overflows
        raise ParameterError(
            "learning_rate",
            study.training.learning_rate,
            f"a number in (0, {largest_rate:.3g}) (Adam's first step, 10 x lr, must fit in float32)",
        )
    executor = executor or LocalExecutor()
    executor.check(study)
    prepared = prepared or prepare_data(study)
    executor.map_seeds(train_seeds, study, study.seed_range, prepared=prepared, progress=progress)
    return study_table(study, prepared, open_store(study))


def train_seeds(
    study: Study, seeds: Iterable[int], prepared: PreparedData | None = None, progress: bool = False
) -> None:
    """Train the missing runs of ``seeds`` of ``study`` in this process, one seed after another.

    What one executor task runs: it opens the study's store, prepares the data unless given
    them, and trains with the study's device and thread count, so any process that runs the
    same seeds writes the same arrays.
    """
    device = check_device(study)
    store = open_store(study)
    prepared = prepared or prepare_data(study)
    torch.set_num_threads(study.training.threads)
    trainer = PopulationTrainer(study, prepared, store, device, progress=progress)
    for seed in tqdm(seeds, desc=f"{study.dataset}/{study.arch} seeds", disable=not progress):
        trainer.train_seed(seed)


class PopulationTrainer:
    """Trains the runs of one study seed by seed, sharing each seed's dense prefix."""

    def __init__(
        self, study: Study, prepared: PreparedData, store: ResultsStore, device: torch.device, progress: bool = False
    ):
        self.study = study
        self.config: TrainingConfig = study.training
        self.prepared = prepared
        self.store = store
        self.device = device
        self.progress = progress
        # fault injection for the kill-and-resume tests: SIGKILL this process after N steps
        self._kill_after_steps = int(os.environ.get(FAULT_AFTER_STEPS_ENV, "0"))
        self._steps = 0
        self.multilabel = prepared.dataset.multilabel
        self.train_labels = torch.as_tensor(prepared.dataset.train.labels)

    # ---- one seed --------------------------------------------------------------------------

    def train_seed(self, seed: int) -> None:
        """Train whatever runs of ``seed`` are missing from the store.

        Each run is trained under its claim in the store and looked up again once claimed, so
        processes sharing a store train every run once.
        """
        pending = [
            (m, s)
            for m, s, sd in study_runs(self.study)
            if sd == seed and m != DENSE and not self.store.has(self.key(m, s, seed))
        ]
        dense_key = self.key(DENSE, 0.0, seed)
        needs_branch = any(get_method(m).schedule.branches_from_dense for m, _ in pending)
        with self.store.claim(dense_key):
            if not self.store.has(dense_key) or (needs_branch and self.store.load_checkpoint(dense_key) is None):
                self._logged(DENSE, 0.0, seed, self._train_dense, seed, dense_key)
        for method, sparsity in tqdm(pending, desc=f"seed {seed} pruned runs", leave=False, disable=not self.progress):
            with self.store.claim(self.key(method, sparsity, seed)):
                if self.store.has(self.key(method, sparsity, seed)):
                    continue  # another process trained it while this one waited
                if get_method(method).schedule.branches_from_dense:
                    self._logged(method, sparsity, seed, self._train_iterative, method, sparsity, seed, dense_key)
                else:
                    self._logged(method, sparsity, seed, self._train_at_initialisation, method, sparsity, seed)

    def _logged(self, method: str, sparsity: float, seed: int, train, *arguments) -> None:
        """Run ``train(*arguments)`` between a ``start`` and a ``finish`` line of the store's log."""
        key, description = self.key(method, sparsity, seed), f"{method} sparsity={sparsity:g} seed={seed}"
        self.store.log("start", key, description)
        train(*arguments)
        self.store.log("finish", key, description)

    def _train_dense(self, seed: int, key: str) -> None:
        started = time.perf_counter()
        model = self._new_model(seed)
        optimizer = self._optimizer(model)
        pruning = PruningState.empty(model)
        extra = {}
        for epoch in range(self.config.epochs):
            self._train_epoch(model, optimizer, pruning, seed, epoch, run=(DENSE, 0.0, seed))
            if epoch + 1 in self.config.train_logit_epochs:
                extra[f"train_logits_epoch{epoch + 1}"] = self.logits(model, "train")
        self.store.save_checkpoint(key, {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
        self._finish(model, pruning, (DENSE, 0.0, seed), started, extra)

    def validation_curve(self, seed: int, epochs: int) -> list[float]:
        """Validation metric after each of ``epochs`` dense epochs of ``seed``; stores nothing.

        For choosing hyperparameters on the validation split (``scripts/tune.py``).
        """
        model = self._new_model(seed)
        optimizer = self._optimizer(model)
        pruning = PruningState.empty(model)
        curve = []
        for epoch in range(epochs):
            self._train_epoch(model, optimizer, pruning, seed, epoch, run=(DENSE, 0.0, seed))
            metrics = score_logits({"validation_logits": self.logits(model, "validation")}, self.prepared.dataset)
            curve.append(metrics.get("validation_accuracy", metrics.get("validation_macro_f1")))
        return curve

    def _train_at_initialisation(self, method: str, sparsity: float, seed: int) -> None:
        started = time.perf_counter()
        model, pruning = self._at_initialisation_model(method, sparsity, seed)
        self._finish(model, pruning, (method, sparsity, seed), started)

    def _train_iterative(self, method: str, sparsity: float, seed: int, dense_key: str) -> None:
        started = time.perf_counter()
        model, pruning = self._iterative_model(method, sparsity, seed, self.store.load_checkpoint(dense_key))
        self._finish(model, pruning, (method, sparsity, seed), started)

    def rebuild(self, method: str, sparsity: float, seed: int) -> torch.nn.Module:
        """The trained model of a stored run, in eval mode, on the study's device.

        The store keeps logits, not models: a dense model is read from its checkpoint (the state
        after its E epochs); a pruned one is trained again, the same steps from the same
        checkpoint or initialisation, which gives the same weights at the same thread count.
        """
        if method != DENSE and not get_method(method).schedule.branches_from_dense:
            model, _ = self._at_initialisation_model(method, sparsity, seed)
            return model.eval()
        checkpoint = self.store.load_checkpoint(self.key(DENSE, 0.0, seed))
        if checkpoint is None:
            raise KeyError(f"seed {seed}: no dense checkpoint in {self.store.root}; train the study first")
        if method == DENSE:
            model = self._new_model(seed)
            model.load_state_dict(checkpoint["model"])
        else:
            model, _ = self._iterative_model(method, sparsity, seed, checkpoint)
        return model.eval()

    def _at_initialisation_model(self, method: str, sparsity: float, seed: int):
        model = self._new_model(seed)
        pruning = PruningState.empty(model)
        self._prune(model, pruning, method, sparsity, seed, round_index=1)
        optimizer = self._optimizer(model)
        for epoch in range(self.config.epochs):
            self._train_epoch(model, optimizer, pruning, seed, epoch, run=(method, sparsity, seed))
        return model, pruning

    def _iterative_model(self, method: str, sparsity: float, seed: int, checkpoint: dict[str, Any]):
        """A schedule that branches from dense (FT, WR): the dense ``checkpoint`` (weights and
        Adam state after E epochs), then its rounds of prune → (rewind) → train E epochs."""
        schedule = get_method(method).schedule
        rewind = schedule.rewind
        model = self._new_model(seed)
        initial_state = copy.deepcopy(model.state_dict()) if rewind else None
        model.load_state_dict(checkpoint["model"])
        optimizer = self._optimizer(model)
        optimizer.load_state_dict(checkpoint["optimizer"])
        pruning = PruningState.empty(model)
        epochs = self.config.epochs
        for round_index in range(1, schedule.rounds + 1):
            self._prune(model, pruning, method, sparsity, seed, round_index=round_index)
            if rewind:
                pruning.rewind(model, initial_state)
                optimizer = self._optimizer(model)
            for epoch in range(round_index * epochs, (round_index + 1) * epochs):
                self._train_epoch(model, optimizer, pruning, seed, epoch, run=(method, sparsity, seed))
        return model, pruning

    def _prune(self, model, pruning, method: str, sparsity: float, seed: int, round_index: int) -> None:
        """Round ``round_index`` of the method's schedule, scored as the method says."""
        method = get_method(method)
        batches = list(self._impact_batches(seed, round_index)) if method.score.needs_batches else None
        generator = torch.Generator().manual_seed(_derive_seed(seed, 7919, round_index))
        pruning.prune_round(
            model,
            score=method.score.name,
            target=sparsity,
            round_index=round_index,
            rounds=method.schedule.rounds,
            scope=self.config.scope,
            batches=batches,
            loss_fn=self._summed_batch_loss,
            generator=generator,
        )

    def _train_epoch(self, model, optimizer, pruning, seed: int, epoch: int, run: tuple) -> None:
        model.train()
        lengths = self.prepared.encoded["train"].lengths
        order = length_bucketed_batches(lengths, self.config.batch_size, np.random.default_rng([seed, epoch]))
        parameters = [p for p in model.parameters() if p.requires_grad]
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(_derive_seed(seed, 104729, epoch))
            method, sparsity, _ = run
            batches = tqdm(
                order,
                desc=f"{method} {sparsity:g} seed {seed} epoch {epoch + 1}",
                leave=False,
                disable=not self.progress,
            )
            for positions in batches:
                loss = self._batch_loss(model, positions)
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(
                        f"loss became {loss.item()} in epoch {epoch + 1} of {self.study.dataset}/"
                        f"{self.study.arch} {method} sparsity={sparsity} seed={seed} "
                        f"(lr={self.config.learning_rate}); nothing was stored for this run"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                pruning.mask_gradients(model)
                torch.nn.utils.clip_grad_norm_(parameters, self.config.grad_clip)
                optimizer.step()
                pruning.apply(model)
                self._steps += 1
                if self._steps == self._kill_after_steps:
                    os.kill(os.getpid(), signal.SIGKILL)

    def _batch_loss(self, model, positions: np.ndarray) -> torch.Tensor:
        """Mean loss of the training examples at ``positions`` (cross-entropy or BCE)."""
        input_ids, attention_mask = self.prepared.encoded["train"].batch(positions)
        labels = self.train_labels[torch.as_tensor(positions)].to(self.device)
        with self._autocast():
            logits = model(input_ids.to(self.device), attention_mask.to(self.device)).float()
        if self.multilabel:
            return F.binary_cross_entropy_with_logits(logits, labels.float())
        return F.cross_entropy(logits, labels)

    def _summed_batch_loss(self, model, positions: np.ndarray) -> torch.Tensor:
        """Summed (not mean) loss, so impact gradients weigh every sampled example equally."""
        return self._batch_loss(model, positions) * len(positions)

    def _impact_batches(self, seed: int, round_index: int) -> Iterator[np.ndarray]:
        """The training examples whose gradients score impact pruning, in batches."""
        n_train = len(self.prepared.dataset.train)
        count = min(self.config.impact_examples, n_train)
        rng = np.random.default_rng([seed, 15485863, round_index])
        chosen = np.sort(rng.choice(n_train, size=count, replace=False))
        for start in range(0, count, self.config.batch_size):
            yield chosen[start : start + self.config.batch_size]

    @torch.inference_mode()
    def logits(self, model, split: str) -> np.ndarray:
        """Logits ``[example, class]`` (float32) of ``split``, in the split's order."""
        model.eval()
        encoded = self.prepared.encoded[split]
        order = np.argsort(encoded.lengths, kind="stable")
        logits = np.empty((len(order), self.prepared.dataset.num_classes), dtype=np.float32)
        for start in range(0, len(order), self.config.eval_batch_size):
            positions = order[start : start + self.config.eval_batch_size]
            input_ids, attention_mask = encoded.batch(positions)
            with self._autocast():
                out = model(input_ids.to(self.device), attention_mask.to(self.device))
            logits[positions] = out.float().cpu().numpy()
        model.train()
        return logits

    def _finish(self, model, pruning, run: tuple, started: float, extra: dict | None = None) -> None:
        method, sparsity, seed = run
        arrays = {f"{split}_logits": self.logits(model, split) for split in self.prepared.splits}
        arrays.update(extra or {})
        for name, values in arrays.items():
            if not np.isfinite(values).all():
                raise NonFiniteLossError(
                    f"{name} of {method} sparsity={sparsity} seed={seed} are not finite; nothing stored"
                )
        metrics = score_logits(arrays, self.prepared.dataset)
        realised = pruning.realised_sparsity(model)
        key = self.key(method, sparsity, seed)
        self.store.write(
            key,
            run_spec(self.study, self.prepared, method, sparsity, seed),
            arrays,
            metrics,
            {
                "wall_time_s": time.perf_counter() - started,
                "device": str(self.device),
                "machine": machine_description(),
                "realised_sparsity": realised,
            },
        )

    # ---- plumbing --------------------------------------------------------------------------

    def key(self, method: str, sparsity: float, seed: int) -> str:
        """The store key of one run of the study."""
        return study_key(self.study, self.prepared, method, sparsity, seed)

    def _new_model(self, seed: int):
        model = build_model(self.prepared.model_spec, self.prepared.dataset.num_classes, seed, self.prepared.encoder)
        return model.to(self.device)

    def _optimizer(self, model) -> torch.optim.Optimizer:
        parameters = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.Adam(parameters, lr=self.config.learning_rate)

    def _autocast(self):
        enabled = self.config.precision == "bf16" and self.device.type == "cuda"
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _rng_devices(self) -> list:
        return [self.device] if self.device.type == "cuda" else []


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle ``[example]`` positions into batches of similar lengths, in random batch order.

    A random permutation is cut into buckets of ``BUCKET_BATCHES`` batches; each bucket is
    sorted by length before being cut into batches, so padding stays small while which
    examples meet, and the order of batches, stay random. Deterministic given ``rng``.
    """
    permutation = rng.permutation(len(lengths))
    batches = []
    bucket = batch_size * BUCKET_BATCHES
    for start in range(0, len(permutation), bucket):
        chunk = permutation[start : start + bucket]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers, so (seed, epoch) pairs never collide."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)
