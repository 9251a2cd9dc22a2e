"""Timing both paths, a matmul peak, and the FLOP count of a BERT training step.

- ``run_fast_path(study)``: ``train_study``'s work through a ``PopulationTrainer`` that adds up
  the time spent in training epochs and the real tokens they read, into a fresh store.
- ``run_baseline(study)``: the same study through ``benchmarks.baseline.BaselineTrainer``.
- ``matmul_peak(...)``: FLOP/s of ``torch.matmul`` on large square matrices.
- ``bert_training_flops(...)``: the FLOPs a training step does on real tokens.
- ``dispatched(step)``: the aten ops (and on CUDA the kernels) one call of ``step`` dispatches.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from benchmarks.baseline import BaselineTrainer
from pie_utils.config import Study
from pie_utils.devices import resolve_device
from pie_utils.pool import train_studies
from pie_utils.runs import prepare_data, study_table
from pie_utils.store import ResultsStore
from pie_utils.training import PopulationTrainer


class TimedPopulationTrainer(PopulationTrainer):
    """``PopulationTrainer`` that sums ``train_seconds`` over its training epochs and
    ``train_tokens``, the real (non-padding) tokens those epochs read."""

    def __init__(self, *arguments, **keywords):
        super().__init__(*arguments, **keywords)
        self.train_seconds = 0.0
        self.train_tokens = 0

    def _train_epoch(self, model, optimizer, pruning, seed, epoch, run):
        started = time.perf_counter()
        record = super()._train_epoch(model, optimizer, pruning, seed, epoch, run)
        self.train_seconds += time.perf_counter() - started
        self.train_tokens += int(self.prepared.encoded["train"].lengths.sum())
        return record


@dataclass
class PathResult:
    """What one path did.

    Attributes:
        path: ``pie_utils`` or ``baseline``.
        wall_seconds: data preparation, training, evaluation and (pie_utils) the store.
        train_seconds: inside training epochs only.
        train_tokens: real tokens read by those epochs.
        runs: one row per run: method, sparsity, seed, test_accuracy.
        test_logits: ``(method, sparsity, seed)`` → ``[example, class]`` test logits.
        train_lengths: ``[example]`` real tokens per training example.
    """

    path: str
    wall_seconds: float
    train_seconds: float
    train_tokens: int
    runs: pd.DataFrame
    test_logits: dict
    train_lengths: np.ndarray

    @property
    def tokens_per_second(self) -> float:
        return self.train_tokens / self.train_seconds


def run_fast_path(study: Study, store_root: str | None = None) -> tuple[PathResult, TimedPopulationTrainer]:
    """Train ``study`` with ``PopulationTrainer`` into a fresh store (a temporary folder unless
    ``store_root``), as ``train_study`` does; return the timings and the trainer."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pie-bench-store-") as scratch:
        study = replace(study, store=store_root or scratch)
        prepared = prepare_data(study)
        store = ResultsStore(study.store)
        torch.set_num_threads(study.threads)
        trainer = TimedPopulationTrainer(study, prepared, store, resolve_device(study.device))
        for seed in study.seed_range:
            trainer.train_seed(seed)
        runs, logits = _stored_population(study, prepared, store)
        wall = time.perf_counter() - started
    return PathResult(
        "pie_utils", wall, trainer.train_seconds, trainer.train_tokens, runs, logits, prepared.encoded["train"].lengths
    ), trainer


def run_pool_path(study: Study, workers: int, threads: int, train_tokens: int) -> PathResult:
    """Train ``study`` with the local pool (``pie_utils.pool.train_studies``: ``workers``
    processes of ``threads`` threads) into a fresh store. Only wall time is measured (the
    epochs run in the workers): ``train_seconds`` is NaN, ``train_tokens`` the given count
    (the same runs read the same tokens as ``run_fast_path``)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pie-bench-store-") as scratch:
        study = replace(study, store=scratch)
        train_studies([study], workers=workers, threads=threads, progress=False)
        prepared = prepare_data(study)
        runs, logits = _stored_population(study, prepared, ResultsStore(study.store))
        wall = time.perf_counter() - started
    return PathResult(
        f"pie_utils {workers}x{threads}",
        wall,
        float("nan"),
        train_tokens,
        runs,
        logits,
        prepared.encoded["train"].lengths,
    )


def _stored_population(study: Study, prepared, store: ResultsStore) -> tuple[pd.DataFrame, dict]:
    """The study's runs read back: (method, sparsity, seed, test_accuracy) rows, and
    ``(method, sparsity, seed)`` → test logits ``[example, class]``."""
    table = study_table(study, prepared, store)
    logits = {
        (row.method, row.sparsity, row.seed): store.read(row.key).arrays["test_logits"] for row in table.itertuples()
    }
    return table[["method", "sparsity", "seed", "test_accuracy"]].reset_index(drop=True), logits


def run_baseline(study: Study) -> tuple[PathResult, BaselineTrainer]:
    """Train ``study`` with the baseline strategy; return the timings and the trainer."""
    started = time.perf_counter()
    torch.set_num_threads(study.threads)
    trainer = BaselineTrainer(study, resolve_device(study.device))
    runs = trainer.train_population()
    wall = time.perf_counter() - started
    table = pd.DataFrame(
        [
            {"method": r.method, "sparsity": r.sparsity, "seed": r.seed, "test_accuracy": r.metrics["test_accuracy"]}
            for r in runs
        ]
    )
    logits = {(r.method, r.sparsity, r.seed): r.arrays["test_logits"] for r in runs}
    return PathResult(
        "baseline", wall, trainer.train_seconds, trainer.train_tokens, table, logits, trainer.lengths["train"]
    ), trainer


def matmul_peak(
    threads: int, size: int = 2048, dtype: torch.dtype = torch.float32, device: str = "cpu", repeats: int = 5
) -> float:
    """Best FLOP/s (2·size³ per product) of ``torch.matmul`` on two ``[size, size]`` matrices,
    at ``threads`` CPU threads, over ``repeats`` timed products after one warm-up."""
    torch.set_num_threads(threads)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    synchronise = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    torch.matmul(a, b)
    synchronise()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.matmul(a, b)
        synchronise()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def bert_training_flops(model: torch.nn.Module, lengths: np.ndarray) -> float:
    """FLOPs of one training pass (forward + backward) of a ``BertClassifier`` over sequences of
    ``lengths[example]`` REAL tokens (padding is not counted):

        6 · N_token · Σ ℓ  +  6 · N_sequence · n  +  12 · layers · hidden · Σ ℓ²

    N_token: parameters of the encoder layers (every token passes through them; the embeddings
    are lookups and not counted); N_sequence: pooler and classifier parameters (once per
    sequence); n: number of sequences. 6 = 2 (multiply-add) × 3 (forward, input gradient,
    weight gradient). Attention: QKᵀ and A·V cost 2·ℓ²·hidden each per layer forward, ×3 for
    the backward. Unstructured pruning zeroes weights but leaves matmuls dense, so it is counted
    as dense.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    bert = model.bert
    per_token = sum(p.numel() for p in bert.encoder.parameters())
    per_sequence = sum(p.numel() for p in model.classifier.parameters())
    if getattr(bert, "pooler", None) is not None:
        per_sequence += sum(p.numel() for p in bert.pooler.parameters())
    config = bert.config
    attention = 12 * config.num_hidden_layers * config.hidden_size * float((lengths**2).sum())
    return 6 * per_token * float(lengths.sum()) + 6 * per_sequence * len(lengths) + attention


def dispatched(step: Callable[[], object]) -> dict[str, int]:
    """What one call of ``step`` asks of the host: ``aten_ops``, the aten ops it calls that no
    other aten op called (each one trip through the dispatcher, views included), and
    ``cuda_kernels``, the kernels it launched on a CUDA device (0 without one). A small run on
    a GPU is bound by these, not by its arithmetic."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profile:
        step()
    events = profile.events()
    top_level = [
        e for e in events
        if e.name.startswith("aten::") and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::"))
    ]  # fmt: skip
    kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    return {"aten_ops": len(top_level), "cuda_kernels": len(kernels)}
