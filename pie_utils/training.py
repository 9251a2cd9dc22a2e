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

A run already in the store is never trained again, so a killed study resumes where it stopped
(a run resumes whole; the dense checkpoint spares the shared first E epochs).

Fault injection, for the reliability tests only: ``PIE_UTILS_FAULT_AFTER_STEPS=N`` makes the
process SIGKILL itself right after its N-th optimiser step (counted over all runs it trains);
unset or 0, it costs one integer comparison per step.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm  # plain text bars: notebooks run without ipywidgets

from pie_utils.config import Study, TrainingConfig, check_subset_fits
from pie_utils.data import load_dataset, subset
from pie_utils.data.types import Split, TextDataset
from pie_utils.errors import ParameterError
from pie_utils.metrics import score_logits
from pie_utils.models import EncodedSplit, ModelSpec, build_encoder, build_model, encode_dataset
from pie_utils.pruning import DENSE, ROUNDS, PruningState, get_method
from pie_utils.store import ResultsStore, machine_description, run_key

if TYPE_CHECKING:
    from pie_utils.executors import Executor

FAULT_AFTER_STEPS_ENV = "PIE_UTILS_FAULT_AFTER_STEPS"  # tests only: SIGKILL after N optimiser steps
SEED_GROUPING = "sequential"  # seeds train one after another; part of every run's key
ADAM_BETA1 = 0.9  # torch.optim.Adam's default, which _optimizer uses
BUCKET_BATCHES = 50  # batches per length bucket: close lengths share a batch, order stays random


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN or infinite; the run named in the message stored nothing."""


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else Apple MPS when present, else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device", name, "auto or cpu (no CUDA device is visible)")
    return device


@dataclass(frozen=True, eq=False)
class PreparedData:
    """A study's dataset after subsetting, encoded once for its model.

    Attributes:
        dataset: the texts and labels.
        model_spec: the model every run of the study builds.
        encoder: turns texts into token ids (for the BiLSTM it carries the vocabulary).
        encoded: split name → ragged token ids; with a transfer dataset also ``transfer``,
            every example of it (``TextDataset.pooled``) at its own token budget.
        transfer: the study's out-of-distribution dataset, or None.
    """

    dataset: TextDataset
    model_spec: ModelSpec
    encoder: Any
    encoded: dict[str, EncodedSplit]
    transfer: TextDataset | None = None

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits every run computes logits for: train, validation, test (and transfer)."""
        return tuple(self.encoded)

    def split(self, name: str) -> Split:
        """``name``'s examples: a split of the dataset, or ``transfer`` (the pooled transfer set)."""
        if name == "transfer" and self.transfer is not None:
            return self.transfer.pooled()
        return self.dataset.split(name)


def prepare_data(study: Study) -> PreparedData:
    """Load, subset and encode the study's dataset; refuse a subset larger than a split."""
    dataset = load_dataset(study.dataset, path=study.data_path, revision=study.revision)
    check_subset_fits(study.subset, dataset)
    spec = study.subset
    if any(n is not None for n in (spec.n_train, spec.n_validation, spec.n_test)):
        dataset = subset(dataset, n_train=spec.n_train, n_validation=spec.n_validation,
                         n_test=spec.n_test, seed=spec.seed)
    model_spec = model_spec_for(study, dataset)
    if study.transfer is None:
        encoder = build_encoder(model_spec, dataset)
        return PreparedData(dataset, model_spec, encoder, encode_dataset(encoder, dataset))
    transfer = load_dataset(study.transfer)
    pooled = transfer.pooled()
    encoder = build_encoder(model_spec, dataset, extra_texts=pooled.texts)  # frozen vectors: no label leak
    encoded = encode_dataset(encoder, dataset)
    encoded["transfer"] = encoder.encode(pooled, transfer.max_length)
    return PreparedData(dataset, model_spec, encoder, encoded, transfer)


def model_spec_for(study: Study, dataset: TextDataset) -> ModelSpec:
    """The ``ModelSpec`` a study asks for, with the dataset's token budget."""
    if study.arch == "bert":
        return ModelSpec(arch="bert", checkpoint=study.checkpoint, pooling=study.pooling,
                         max_length=dataset.max_length)
    return ModelSpec(arch="bilstm", vectors=study.vectors, max_length=dataset.max_length)


def run_spec(study: Study, prepared: PreparedData, method: str, sparsity: float, seed: int) -> dict[str, Any]:
    """Everything that determines a run's numbers, as plain JSON-able values (hashed to its key)."""
    return {
        "dataset": {"name": prepared.dataset.name, "fingerprint": prepared.dataset.fingerprint(),
                    "revision": study.revision},
        "model": prepared.model_spec.to_dict(),
        "encoder": prepared.encoder.fingerprint,
        "training": dataclasses.asdict(study.training),
        "method": method,
        "sparsity": float(sparsity),
        "seed": int(seed),
        "seed_grouping": SEED_GROUPING,
        **({} if prepared.transfer is None else  # absent, so runs without one keep their keys
           {"transfer": {"name": prepared.transfer.name, "fingerprint": prepared.transfer.fingerprint()}}),
    }


def study_runs(study: Study) -> list[tuple[str, float, int]]:
    """Every (method, sparsity, seed) of the study, dense first: ``dense`` has sparsity 0."""
    runs = [(DENSE, 0.0, seed) for seed in study.seed_range]
    runs += [(m, s, seed) for m in study.methods for s in study.sparsities for seed in study.seed_range]
    return runs


def train_study(study: Study, progress: bool = True, prepared: PreparedData | None = None,
                executor: Executor | None = None) -> pd.DataFrame:
    """Train every run of ``study`` that the store lacks; return the study's runs as a table.

    The table has one row per (method, sparsity, seed) with the run key, metrics, wall time
    and realised sparsity. Runs found in the store are read, not retrained. ``prepared``:
    the study's data from ``prepare_data``, when the caller has it already. ``executor``:
    where the seeds train, a ``pie_utils.executors`` ``LocalExecutor`` (the default: this
    process, one seed after another) or ``RayExecutor`` (one task per seed on a cluster).
    """
    from pie_utils.executors import LocalExecutor  # executors builds on this module

    largest_rate = torch.finfo(torch.float32).max * (1 - ADAM_BETA1)  # Adam's first step is lr / (1 − β1)
    if study.training.learning_rate >= largest_rate:  # else the optimiser step itself overflows
        raise ParameterError("learning_rate", study.training.learning_rate,
                             f"a number in (0, {largest_rate:.3g}) (Adam's first step, 10 x lr, must fit in float32)")
    executor = executor or LocalExecutor()
    executor.check(study)
    prepared = prepared or prepare_data(study)
    executor.map_seeds(study, study.seed_range, prepared=prepared, progress=progress)
    return study_table(study, prepared, ResultsStore(study.store, accept_other_versions=study.accept_other_versions))


def check_device(study: Study) -> torch.device:
    """The device this process trains ``study`` on; refuses one it lacks, or bf16 off CUDA."""
    device = resolve_device(study.device)
    if study.training.precision == "bf16" and device.type != "cuda":
        raise ParameterError("precision", "bf16", f"fp32 on {device.type} (bf16 autocast needs CUDA)")
    return device


def train_seeds(study: Study, seeds: Iterable[int], prepared: PreparedData | None = None, progress: bool = False) -> None:
    """Train the missing runs of ``seeds`` of ``study`` in this process, one seed after another.

    What one executor task runs: it opens the study's store, prepares the data unless given
    them, and trains with the study's device and thread count, so any process that runs the
    same seeds writes the same arrays.
    """
    device = check_device(study)
    store = ResultsStore(study.store, accept_other_versions=study.accept_other_versions)
    prepared = prepared or prepare_data(study)
    torch.set_num_threads(study.training.threads)
    trainer = PopulationTrainer(study, prepared, store, device, progress=progress)
    for seed in tqdm(seeds, desc=f"{study.dataset}/{study.arch} seeds", disable=not progress):
        trainer.train_seed(seed)


def study_table(study: Study, prepared: PreparedData, store: ResultsStore) -> pd.DataFrame:
    """One row per run of the study: method, sparsity, seed, key and what was stored."""
    rows = []
    for method, sparsity, seed in study_runs(study):
        key = run_key(run_spec(study, prepared, method, sparsity, seed))
        run = store.read(key)
        rows.append({"method": method, "sparsity": sparsity, "seed": seed, "key": key,
                     "stored": run is not None,
                     **(run.metrics if run else {}),
                     "wall_time_s": run.meta["wall_time_s"] if run else np.nan,
                     "realised_sparsity": run.meta["realised_sparsity"]["overall"] if run else np.nan})
    return pd.DataFrame(rows)


class PopulationTrainer:
    """Trains the runs of one study seed by seed, sharing each seed's dense prefix."""

    def __init__(self, study: Study, prepared: PreparedData, store: ResultsStore, device: torch.device,
                 progress: bool = False):
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
        pending = [(m, s) for m, s, sd in study_runs(self.study) if sd == seed and m != DENSE
                   and not self.store.has(self.key(m, s, seed))]
        dense_key = self.key(DENSE, 0.0, seed)
        needs_branch = any(get_method(m).schedule != "AI" for m, _ in pending)
        with self.store.claim(dense_key):
            if not self.store.has(dense_key) or (needs_branch and self.store.load_checkpoint(dense_key) is None):
                self._logged(DENSE, 0.0, seed, self._train_dense, seed, dense_key)
        for method, sparsity in tqdm(pending, desc=f"seed {seed} pruned runs", leave=False, disable=not self.progress):
            with self.store.claim(self.key(method, sparsity, seed)):
                if self.store.has(self.key(method, sparsity, seed)):
                    continue  # another process trained it while this one waited
                if get_method(method).schedule == "AI":
                    self._logged(method, sparsity, seed, self._train_at_initialisation, method, sparsity, seed)
                else:
                    self._logged(method, sparsity, seed, self._train_iterative, method, sparsity, seed, dense_key)

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
        if method != DENSE and get_method(method).schedule == "AI":
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
        self._prune(model, pruning, method, sparsity, seed, round_index=1, rounds=1)
        optimizer = self._optimizer(model)
        for epoch in range(self.config.epochs):
            self._train_epoch(model, optimizer, pruning, seed, epoch, run=(method, sparsity, seed))
        return model, pruning

    def _iterative_model(self, method: str, sparsity: float, seed: int, checkpoint: dict[str, Any]):
        """FT/WR: the dense ``checkpoint`` (weights and Adam state after E epochs), then three
        rounds of prune → train E epochs."""
        rewind = get_method(method).schedule == "WR"
        model = self._new_model(seed)
        initial_state = copy.deepcopy(model.state_dict()) if rewind else None
        model.load_state_dict(checkpoint["model"])
        optimizer = self._optimizer(model)
        optimizer.load_state_dict(checkpoint["optimizer"])
        pruning = PruningState.empty(model)
        epochs = self.config.epochs
        for round_index in range(1, ROUNDS + 1):
            self._prune(model, pruning, method, sparsity, seed, round_index=round_index, rounds=ROUNDS)
            if rewind:
                pruning.rewind(model, initial_state)
                optimizer = self._optimizer(model)
            for epoch in range(round_index * epochs, (round_index + 1) * epochs):
                self._train_epoch(model, optimizer, pruning, seed, epoch, run=(method, sparsity, seed))
        return model, pruning

    def _prune(self, model, pruning, method: str, sparsity: float, seed: int, round_index: int, rounds: int) -> None:
        score = get_method(method).score
        batches = None
        if score == "impact":
            batches = list(self._impact_batches(seed, round_index))
        generator = torch.Generator().manual_seed(_derive_seed(seed, 7919, round_index))
        pruning.prune_round(model, score=score, target=sparsity, round_index=round_index, rounds=rounds,
                            scope=self.config.scope, batches=batches, loss_fn=self._summed_batch_loss,
                            generator=generator)

    def _train_epoch(self, model, optimizer, pruning, seed: int, epoch: int, run: tuple) -> None:
        model.train()
        lengths = self.prepared.encoded["train"].lengths
        order = length_bucketed_batches(lengths, self.config.batch_size, np.random.default_rng([seed, epoch]))
        parameters = [p for p in model.parameters() if p.requires_grad]
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(_derive_seed(seed, 104729, epoch))
            method, sparsity, _ = run
            batches = tqdm(order, desc=f"{method} {sparsity:g} seed {seed} epoch {epoch + 1}", leave=False,
                           disable=not self.progress)
            for positions in batches:
                loss = self._batch_loss(model, positions)
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(
                        f"loss became {loss.item()} in epoch {epoch + 1} of {self.study.dataset}/"
                        f"{self.study.arch} {method} sparsity={sparsity} seed={seed} "
                        f"(lr={self.config.learning_rate}); nothing was stored for this run")
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
            yield chosen[start:start + self.config.batch_size]

    @torch.inference_mode()
    def logits(self, model, split: str) -> np.ndarray:
        """Logits ``[example, class]`` (float32) of ``split``, in the split's order."""
        model.eval()
        encoded = self.prepared.encoded[split]
        order = np.argsort(encoded.lengths, kind="stable")
        logits = np.empty((len(order), self.prepared.dataset.num_classes), dtype=np.float32)
        for start in range(0, len(order), self.config.eval_batch_size):
            positions = order[start:start + self.config.eval_batch_size]
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
                raise NonFiniteLossError(f"{name} of {method} sparsity={sparsity} seed={seed} are not finite; nothing stored")
        metrics = score_logits(arrays, self.prepared.dataset)
        realised = pruning.realised_sparsity(model)
        key = self.key(method, sparsity, seed)
        self.store.write(key, run_spec(self.study, self.prepared, method, sparsity, seed), arrays, metrics,
                         {"wall_time_s": time.perf_counter() - started, "device": str(self.device),
                          "machine": machine_description(), "realised_sparsity": realised})

    # ---- plumbing --------------------------------------------------------------------------

    def key(self, method: str, sparsity: float, seed: int) -> str:
        """The store key of one run of the study."""
        return run_key(run_spec(self.study, self.prepared, method, sparsity, seed))

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
        chunk = permutation[start:start + bucket]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers, so (seed, epoch) pairs never collide."""
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)
