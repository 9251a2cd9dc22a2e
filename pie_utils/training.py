"""Train populations of dense and pruned classifiers, seed by seed, into the results store.

For each seed s the dense run trains E epochs from ``build_model(seed=s)``. Every pruned run of
seed s shares its initial weights and its data order: epoch e of any run of seed s visits the
training set in the order drawn from ``(s, e)`` and seeds dropout from ``(s, e)``, so the RNG
state after any epoch is a function of the seed and the epoch and needs no checkpointing. A
study with ``noise_stream`` n > 0 draws both from ``(s, e, n)`` instead, from the same initial
weights: the seed-noise control.

- AI runs prune the initial weights once to the target, then train epochs 0..E−1.
- FT and WR runs branch from the dense run's checkpoint after E epochs (weights and Adam state,
  stored once per seed) instead of training those epochs again, then run three rounds of
  prune → train E epochs (epochs E..4E−1). WR rewinds the surviving weights to their initial
  values and rebuilds the optimiser after every pruning; FT keeps both.

The trainer reads these from each method's ``pie_utils.pruning.Schedule`` (rounds, rewind,
branches from dense) and ``Score`` (whether it needs training batches), never from its name.

A dense run of more epochs (the ``dense_long`` control) continues from the checkpoint of the
stored dense run of its seed with fewer epochs, which is the same computation as training it
whole. Every run records, per epoch it trained, its running training loss and accuracy and its
validation loss and metric (``meta["history"]``); dense runs also store their validation and
test logits after every epoch (``<split>_logits_epoch<e>``), and the last epoch's evaluation
is the run's final one, never computed twice. Runs of a study with ``keep_models`` store their
weights and masks (``pie_utils.evaluation``), so nothing is trained again to get a model back.

A run already in the store is never trained again, so a killed study resumes where it stopped
(a run resumes whole; the dense checkpoint spares the shared first E epochs).

Fault injection, for the reliability tests only: ``PIE_UTILS_FAULT_AFTER_STEPS=N`` makes the
process SIGKILL itself right after its N-th optimiser step (counted over all runs it trains);
unset or 0, it costs one integer comparison per step.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
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
from pie_utils.errors import NonFiniteLossError, ParameterError
from pie_utils.evaluation import kept_state, load_trained_weights, split_logits, trained_weights
from pie_utils.metrics import score_logits
from pie_utils.models import build_model
from pie_utils.pruning import DENSE, PruningState, get_method
from pie_utils.runs import PreparedData, open_store, prepare_data, run_spec, study_key, study_runs, study_table
from pie_utils.stacked_training import StackedTraining, pending_stacks
from pie_utils.store import ResultsStore, StoredRun, machine_description

FAULT_AFTER_STEPS_ENV = "PIE_UTILS_FAULT_AFTER_STEPS"  # tests only: SIGKILL after N optimiser steps
ADAM_BETA1 = 0.9  # torch.optim.Adam's default, which _optimizer uses
BUCKET_BATCHES = 50  # batches per length bucket: close lengths share a batch, order stays random
# Adam's implementation per arch, measured (benchmarks/results/step-variants.md, 1 thread): the
# fused kernel makes a MiniLM step 1.22-1.26x faster; the BiLSTM's step gains nothing from it or
# from foreach (the LSTM dominates), so it keeps the for-loop and its exact numbers
ADAM_OPTIONS = {"bert": {"fused": True}, "bilstm": {}}


def train_study(study: Study, progress: bool = True, prepared: PreparedData | None = None) -> pd.DataFrame:
    """Train every run of ``study`` that the store lacks in this process, one seed after
    another; return the study's runs as a table.

    The table has one row per (method, sparsity, seed) with the run key, metrics, wall time
    and realised sparsity. Runs found in the store are read, not retrained. ``prepared``:
    the study's data from ``prepare_data``, when the caller has it already. Many studies at
    once, on a pool of processes or on Ray: ``pie_utils.pool``, ``pie_utils.cluster``.
    """
    largest_rate = torch.finfo(torch.float32).max * (1 - ADAM_BETA1)  # Adam's first step is lr / (1 − β1)
    if study.training.learning_rate >= largest_rate:  # else the optimiser step itself overflows
        raise ParameterError(
            "learning_rate",
            study.training.learning_rate,
            f"a number in (0, {largest_rate:.3g}) (Adam's first step, 10 x lr, must fit in float32)",
        )
    check_device(study)
    prepared = prepared or prepare_data(study)
    train_seeds(study, study.seed_range, prepared=prepared, progress=progress)
    return study_table(study, prepared, open_store(study))


def train_seeds(
    study: Study, seeds: Iterable[int], prepared: PreparedData | None = None, progress: bool = False
) -> None:
    """Train the missing runs of ``seeds`` of ``study`` in this process, one seed after another.

    It opens the study's store, prepares the data unless given them, and trains with the
    study's device and thread count, so any process that runs the same seeds writes the same
    arrays.
    """
    device = check_device(study)
    store = open_store(study)
    prepared = prepared or prepare_data(study)
    torch.set_num_threads(study.threads)
    trainer = PopulationTrainer(study, prepared, store, device, progress=progress)
    for seed in tqdm(seeds, desc=f"{study.dataset}/{study.arch} seeds", disable=not progress):
        trainer.train_seed(seed)


class PopulationTrainer(StackedTraining):
    """Trains the runs of one study seed by seed, sharing each seed's dense prefix (and, with
    ``runs_per_step`` above 1, each step among the pruned runs of one schedule: ``StackedTraining``)."""

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

    # ---- one seed, one run -----------------------------------------------------------------

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
        with self.store.claim(dense_key):
            if not self.store.has(dense_key):
                self.train_run(DENSE, 0.0, seed)
        if self.study.runs_per_step > 1:
            self._train_stacks(seed, pending)
            return
        for method, sparsity in tqdm(pending, desc=f"seed {seed} pruned runs", leave=False, disable=not self.progress):
            with self.store.claim(self.key(method, sparsity, seed)):
                if not self.store.has(self.key(method, sparsity, seed)):  # else another process trained it
                    self.train_run(method, sparsity, seed)

    def _train_stacks(self, seed: int, pending: list[tuple[str, float]]) -> None:
        """``pending`` runs of ``seed`` in stacks of up to ``runs_per_step``, each stack under
        the claims of all its runs (taken in key order, so processes cannot deadlock)."""
        for stack in pending_stacks([(m, s, seed) for m, s in pending], self.study.runs_per_step):
            with contextlib.ExitStack() as claims:
                for key in sorted(self.key(*run) for run in stack):
                    claims.enter_context(self.store.claim(key))
                missing = [run for run in stack if not self.store.has(self.key(*run))]  # else trained elsewhere
                if missing:
                    self.train_stack(missing)

    def needs_dense_checkpoint(self, method: str) -> bool:
        """True when ``method``'s runs branch from their seed's dense checkpoint."""
        return method != DENSE and get_method(method).schedule.branches_from_dense

    def train_run(self, method: str, sparsity: float, seed: int) -> None:
        """Train one run and store it; the caller holds its claim. In a stacked study a pruned
        run trains as a stack of one, so that its arithmetic is a stacked run's."""
        if self.study.runs_per_step > 1 and method != DENSE:
            self.train_stack([(method, sparsity, seed)])
            return
        key, description = self.key(method, sparsity, seed), f"{method} sparsity={sparsity:g} seed={seed}"
        self.store.log("start", key, description)
        if method == DENSE:
            self._train_dense(seed)
        elif self.needs_dense_checkpoint(method):
            self._train_iterative(method, sparsity, seed)
        else:
            self._train_at_initialisation(method, sparsity, seed)
        self.store.log("finish", key, description)

    # ---- the three schedules ---------------------------------------------------------------

    def _train_dense(self, seed: int) -> None:
        """E dense epochs, or the remaining ones after the longest stored dense run of the same
        seed and configuration with fewer epochs (its checkpoint holds weights and Adam state,
        and epoch e's data order and dropout depend on (seed, e) only: the same run as whole)."""
        started = time.perf_counter()
        model = self._new_model(seed)
        optimizer = self._optimizer(model)
        pruning = PruningState.empty(model)
        base = self.shorter_dense(seed)
        history, extra, first_epoch, meta = [], {}, 0, {}
        if base is not None:
            base_run, checkpoint = base
            load_trained_weights(model, checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            history = list(base_run.meta["history"])
            extra = {name: array for name, array in base_run.arrays.items() if "_epoch" in name}
            first_epoch, meta = len(history), {"continued_from": base_run.key}
        for epoch in range(first_epoch, self.config.epochs):
            record = self._train_epoch(model, optimizer, pruning, seed, epoch, run=(DENSE, 0.0, seed))
            evaluated = {"validation": self.logits(model, "validation"), "test": self.logits(model, "test")}
            if epoch + 1 in self.config.train_logit_epochs:
                evaluated["train"] = self.logits(model, "train")
            history.append({**record, **self._validation_record(evaluated["validation"])})
            extra.update({f"{split}_logits_epoch{epoch + 1}": logits for split, logits in evaluated.items()})
        self.store.save_checkpoint(  # the frozen embedding is rebuilt from the vectors, not saved
            self.key(DENSE, 0.0, seed), {"model": trained_weights(model), "optimizer": optimizer.state_dict()}
        )
        last = self.config.epochs
        final = {split: extra[f"{split}_logits_epoch{last}"] for split in ("validation", "test")}
        if f"train_logits_epoch{last}" in extra:
            final["train"] = extra[f"train_logits_epoch{last}"]
        self._finish(model, pruning, (DENSE, 0.0, seed), started, history, final, extra, meta)

    def shorter_dense(self, seed: int) -> tuple[StoredRun, dict[str, Any]] | None:
        """The stored dense run of ``seed`` with the most epochs below E and otherwise this
        configuration, with its checkpoint; None when there is none."""
        for epochs in range(self.config.epochs - 1, 0, -1):
            training = dataclasses.replace(
                self.config,
                epochs=epochs,
                train_logit_epochs=tuple(e for e in self.config.train_logit_epochs if e <= epochs),
            )
            key = study_key(dataclasses.replace(self.study, training=training), self.prepared, DENSE, 0.0, seed)
            if self.store.checkpoint_path(key).is_file():
                run, checkpoint = self.store.read(key), self.store.load_checkpoint(key)
                if run is not None and checkpoint is not None:
                    return run, checkpoint
        return None

    def _train_at_initialisation(self, method: str, sparsity: float, seed: int) -> None:
        started = time.perf_counter()
        run = (method, sparsity, seed)
        model = self._new_model(seed)
        pruning = PruningState.empty(model)
        self._prune(model, pruning, method, sparsity, seed, round_index=1)
        optimizer = self._optimizer(model)
        history, validation = [], None
        for epoch in range(self.config.epochs):
            record = self._train_epoch(model, optimizer, pruning, seed, epoch, run=run)
            validation = self.logits(model, "validation")
            history.append({**record, **self._validation_record(validation)})
        self._finish(model, pruning, run, started, history, {"validation": validation})

    def _train_iterative(self, method: str, sparsity: float, seed: int) -> None:
        """A schedule that branches from dense (FT, WR): the dense checkpoint (weights and Adam
        state after E epochs), then its rounds of prune → (rewind) → train E epochs."""
        started = time.perf_counter()
        run = (method, sparsity, seed)
        dense_key = self.key(DENSE, 0.0, seed)
        checkpoint = self.dense_checkpoint(seed)
        schedule = get_method(method).schedule
        model = self._new_model(seed)
        initial_state = copy.deepcopy(model.state_dict()) if schedule.rewind else None
        load_trained_weights(model, checkpoint["model"])
        optimizer = self._optimizer(model)
        optimizer.load_state_dict(checkpoint["optimizer"])
        pruning = PruningState.empty(model)
        epochs = self.config.epochs
        history, validation = [], None
        for round_index in range(1, schedule.rounds + 1):
            self._prune(model, pruning, method, sparsity, seed, round_index=round_index)
            if schedule.rewind:
                pruning.rewind(model, initial_state)
                optimizer = self._optimizer(model)
            for epoch in range(round_index * epochs, (round_index + 1) * epochs):
                record = self._train_epoch(model, optimizer, pruning, seed, epoch, run=run)
                validation = self.logits(model, "validation")
                history.append({**record, "round": round_index, **self._validation_record(validation)})
        meta = {"branched_from": dense_key}
        self._finish(model, pruning, run, started, history, {"validation": validation}, meta=meta)

    def dense_checkpoint(self, seed: int) -> dict[str, Any]:
        """Seed ``seed``'s dense checkpoint, read once; a missing or damaged one (removed on
        read) is rebuilt by training the dense run again under its claim, which gives the same."""
        dense_key = self.key(DENSE, 0.0, seed)
        checkpoint = self.store.load_checkpoint(dense_key)
        if checkpoint is None:
            with self.store.claim(dense_key):
                checkpoint = self.store.load_checkpoint(dense_key)
                if checkpoint is None:
                    self.train_run(DENSE, 0.0, seed)
                    checkpoint = self.store.load_checkpoint(dense_key)
        return checkpoint

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
            record = self._validation_record(self.logits(model, "validation"))
            curve.append(record.get("validation_accuracy", record.get("validation_macro_f1")))
        return curve

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

    # ---- one epoch -------------------------------------------------------------------------

    def _noise(self, *parts: int) -> list[int]:
        """The entropy of a data-order or dropout stream: ``parts``, plus the study's noise stream
        when it is not the seed's own (stream 0 keeps the draws every stored run was trained with)."""
        stream = self.study.noise_stream
        return [*parts, stream] if stream else list(parts)

    def _train_epoch(self, model, optimizer, pruning, seed: int, epoch: int, run: tuple) -> dict[str, float]:
        """One epoch of seed ``seed`` (0-based ``epoch``); returns its history entry so far:
        ``epoch`` (1-based), and ``train_loss`` and ``train_accuracy`` averaged over the epoch's
        examples as they were trained (dropout on, weights changing: a running figure)."""
        model.train()
        order = self.epoch_batches(seed, epoch)
        parameters = [p for p in model.parameters() if p.requires_grad]
        loss_sum = torch.zeros((), device=self.device)  # summed on the device: no copy per step
        correct_sum, seen = torch.zeros((), device=self.device), 0
        nonfinite = torch.zeros((), device=self.device)  # the first non-finite loss of the epoch, else 0
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(self.dropout_seed(seed, epoch))
            method, sparsity, _ = run
            batches = tqdm(
                order,
                desc=f"{method} {sparsity:g} seed {seed} epoch {epoch + 1}",
                leave=False,
                disable=not self.progress,
            )
            for positions in batches:
                loss, correct = self._batch_loss(model, positions, count_correct=True)
                # kept on the device and checked once per epoch: asking every step would wait
                # for the GPU every step; the run is discarded anyway, so a late check loses nothing
                nonfinite = torch.where(torch.isfinite(loss) | ~torch.isfinite(nonfinite), nonfinite, loss.detach())
                self.step(model, optimizer, pruning, loss, parameters)
                loss_sum += loss.detach() * len(positions)
                correct_sum += correct
                seen += len(positions)
                self.count_step()
        if not torch.isfinite(nonfinite):
            raise NonFiniteLossError(
                f"loss became {nonfinite.item()} in epoch {epoch + 1} of {self.study.dataset}/"
                f"{self.study.arch} {method} sparsity={sparsity} seed={seed} "
                f"(lr={self.config.learning_rate}); nothing was stored for this run"
            )
        return {"epoch": epoch + 1, "train_loss": float(loss_sum) / seen, "train_accuracy": float(correct_sum) / seen}

    def epoch_batches(self, seed: int, epoch: int) -> list[np.ndarray]:
        """Epoch ``epoch`` (0-based) of seed ``seed``: training positions in batches, in the
        order every run of the seed visits them."""
        lengths = self.prepared.encoded["train"].lengths
        return length_bucketed_batches(lengths, self.config.batch_size, np.random.default_rng(self._noise(seed, epoch)))

    def dropout_seed(self, seed: int, epoch: int) -> int:
        """The torch seed of epoch ``epoch``'s dropout draws for seed ``seed``."""
        return _derive_seed(seed, 104729, *self._noise(epoch))

    def count_step(self) -> None:
        """Count an optimiser step (the fault injection's SIGKILL comes after the N-th)."""
        self._steps += 1
        if self._steps == self._kill_after_steps:
            os.kill(os.getpid(), signal.SIGKILL)

    def step(self, model, optimizer, pruning, loss: torch.Tensor, parameters=None) -> None:
        """One optimiser step from ``loss``, in the order every run trains: gradients of pruned
        weights masked, their norm clipped, the optimiser's step, pruned weights zeroed again.
        ``parameters``: the model's trainable ones, when the caller has them listed."""
        if parameters is None:
            parameters = [p for p in model.parameters() if p.requires_grad]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        pruning.mask_gradients(model)
        torch.nn.utils.clip_grad_norm_(parameters, self.config.grad_clip)
        optimizer.step()
        pruning.apply(model)

    def _batch_loss(self, model, positions: np.ndarray, count_correct: bool = False):
        """Mean loss of the training examples at ``positions`` (cross-entropy or BCE); with
        ``count_correct`` also how many of them the logits classify correctly (multilabel:
        the mean share of correct label decisions at 0.5, per example), as a tensor."""
        input_ids, attention_mask = self.prepared.encoded["train"].batch(positions)
        labels = self.train_labels[torch.as_tensor(positions)].to(self.device)
        with self._autocast():
            logits = model(input_ids.to(self.device), attention_mask.to(self.device)).float()
        if self.multilabel:
            loss = F.binary_cross_entropy_with_logits(logits, labels.float())
            correct = ((logits > 0) == labels.bool()).float().mean(dim=1).sum() if count_correct else None
        else:
            loss = F.cross_entropy(logits, labels)
            correct = (logits.argmax(dim=1) == labels).sum() if count_correct else None
        if not count_correct:
            return loss
        return loss, correct.detach()

    def _summed_batch_loss(self, model, positions: np.ndarray) -> torch.Tensor:
        """Summed (not mean) loss, so impact gradients weigh every sampled example equally."""
        return self._batch_loss(model, positions) * len(positions)

    def _validation_record(self, logits: np.ndarray) -> dict[str, float]:
        """``validation_loss`` and the dataset's metric (``validation_accuracy`` or
        ``validation_macro_f1``) of validation logits ``[example, class]``."""
        labels = torch.as_tensor(self.prepared.dataset.validation.labels)
        scores = torch.as_tensor(logits)
        if self.multilabel:
            loss = F.binary_cross_entropy_with_logits(scores, labels.float())
        else:
            loss = F.cross_entropy(scores, labels)
        metrics = score_logits({"validation_logits": logits}, self.prepared.dataset)
        metrics.pop("threshold", None)
        return {"validation_loss": float(loss), **metrics}

    def _impact_batches(self, seed: int, round_index: int) -> Iterator[np.ndarray]:
        """The training examples whose gradients score impact pruning, in batches."""
        n_train = len(self.prepared.dataset.train)
        count = min(self.config.impact_examples, n_train)
        rng = np.random.default_rng([seed, 15485863, round_index])
        chosen = np.sort(rng.choice(n_train, size=count, replace=False))
        for start in range(0, count, self.config.batch_size):
            yield chosen[start : start + self.config.batch_size]

    def logits(self, model, split: str) -> np.ndarray:
        """Logits ``[example, class]`` (float32) of ``split``, in the split's order."""
        return split_logits(
            model,
            self.prepared.encoded[split],
            self.prepared.dataset.num_classes,
            self.config.eval_batch_size,
            self.device,
            bf16=self._bf16(),
        )

    def _finish(
        self,
        model,
        pruning,
        run: tuple,
        started: float,
        history: list[dict[str, float]],
        computed: dict[str, np.ndarray],
        extra: dict[str, np.ndarray] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Store the run: logits of every split (``computed`` ones reused, the rest computed
        now), ``extra`` arrays, metrics, the epoch ``history`` and the kept model."""
        method, sparsity, seed = run
        arrays = {
            f"{split}_logits": computed[split] if split in computed else self.logits(model, split)
            for split in self.prepared.splits
        }
        arrays.update(extra or {})
        for name, values in arrays.items():
            if not np.isfinite(values).all():
                raise NonFiniteLossError(
                    f"{name} of {method} sparsity={sparsity} seed={seed} are not finite; nothing stored"
                )
        self.store.write(
            self.key(method, sparsity, seed),
            run_spec(self.study, self.prepared, method, sparsity, seed),
            arrays,
            score_logits(arrays, self.prepared.dataset),
            {
                "wall_time_s": time.perf_counter() - started,
                "device": str(self.device),
                "machine": machine_description(),
                "realised_sparsity": pruning.realised_sparsity(model),
                "history": history,
                **(meta or {}),
            },
            model_state=kept_state(model, pruning.masks) if self.study.keep_models else None,
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
        return torch.optim.Adam(parameters, lr=self.config.learning_rate, **self.adam_options())

    def adam_options(self) -> dict[str, Any]:
        """``torch.optim.Adam``'s options beside the learning rate, for this study's arch."""
        return dict(ADAM_OPTIONS[self.study.arch])

    def _bf16(self) -> bool:
        return self.config.precision == "bf16" and self.device.type == "cuda"

    def _autocast(self):
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self._bf16())

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
