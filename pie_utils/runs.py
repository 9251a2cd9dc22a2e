"""A run's identity and home: the prepared data of a study, each run's spec and key, and the
populations read back from the store.

A run is one (method, sparsity, seed) of a study. Its spec (``run_spec``) holds everything that
determines its numbers, and its key is the spec's hash (``pie_utils.store.run_key``). Everything
that reads trained runs (the chapters' analyses, the summary, the command line) goes through
``population`` and ``study_table`` here, so after the store everything reads arrays and nothing
imports the trainer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pie_utils.config import Study, SubsetSpec, check_left_out, check_subset_fits
from pie_utils.data import load_dataset, subset
from pie_utils.data.types import Split, TextDataset
from pie_utils.devices import device_type
from pie_utils.models import EncodedSplit, ModelSpec, build_encoder, encode_dataset
from pie_utils.pruning import DENSE
from pie_utils.store import ResultsStore, StoredRun, run_key

SEED_GROUPING = "sequential"  # seeds train one after another; part of every run's key
# archs whose CPU arithmetic depends on the intra-op thread count, so that it enters their keys.
# Measured (torch 2.13, 2 cores): MiniLM's test logits move by up to 4e-7 between 1 and 2
# threads; the BiLSTM's are bitwise equal (4 of 4 runs, benchmarks/results/machine-dependence.md)
THREAD_DEPENDENT_ARCHS = ("bert",)


@dataclass(frozen=True, eq=False)
class PreparedData:
    """A study's dataset after subsetting, encoded once for its model.

    Attributes:
        dataset: the texts and labels.
        model_spec: the model every run of the study builds.
        encoder: turns texts into token ids (for the BiLSTM it carries the vocabulary).
        encoded: split name → ragged token ids (train, validation, test).
        transfer: the study's out-of-distribution dataset, or None; its runs are scored on it
            afterwards (``pie_utils.evaluation``), so it changes neither their training nor their keys.
    """

    dataset: TextDataset
    model_spec: ModelSpec
    encoder: Any
    encoded: dict[str, EncodedSplit]
    transfer: TextDataset | None = None

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits every run computes logits for: train, validation, test."""
        return tuple(self.encoded)

    def split(self, name: str) -> Split:
        """``name``'s examples: a split of the dataset, or ``transfer`` (the pooled transfer set)."""
        if name == "transfer" and self.transfer is not None:
            return self.transfer.pooled()
        return self.dataset.split(name)


def prepare_data(study: Study, encode: bool = True) -> PreparedData:
    """Load, subset and encode the study's dataset; refuse a subset larger than a split, or
    ``left_out`` positions outside its training split.

    The encoder is built before the ``left_out`` points are taken out, so a leave-group-out run
    reads every word with the vectors its full-data counterpart has: only the training set differs.
    ``encode=False`` stops before tokenising the splits (``encoded`` is empty): enough for the
    run specs and keys, which depend on the data, the model and the encoder, not on the ids.
    """
    dataset = _subset_of(load_dataset(study.dataset, path=study.data_path, revision=study.revision), study.subset)
    model_spec = model_spec_for(study, dataset)
    transfer = None
    if study.transfer is not None:
        transfer = _subset_of(load_dataset(study.transfer), study.transfer_subset, "transfer_subset")
    encoder = build_encoder(model_spec, dataset)
    if study.left_out:
        dataset = _without(dataset, study.left_out)
    encoded = encode_dataset(encoder, dataset) if encode else {}
    return PreparedData(dataset, model_spec, encoder, encoded, transfer)


def _subset_of(dataset: TextDataset, spec: SubsetSpec, name: str = "subset") -> TextDataset:
    """``dataset`` cut to ``spec`` (the parameter ``name``), refused when a split is too small."""
    check_subset_fits(spec, dataset, name)
    if all(n is None for n in (spec.n_train, spec.n_validation, spec.n_test)):
        return dataset
    return subset(dataset, n_train=spec.n_train, n_validation=spec.n_validation, n_test=spec.n_test, seed=spec.seed)


def _without(dataset: TextDataset, left_out: tuple[int, ...]) -> TextDataset:
    """``dataset`` with the training points at positions ``left_out`` removed (order kept)."""
    n_train = len(dataset.train)
    check_left_out(left_out, n_train)
    keep = np.setdiff1d(np.arange(n_train), left_out)
    return dataclasses.replace(
        dataset, train=dataset.train.take(keep), source=f"{dataset.source}; without {len(left_out)} training points"
    )


def model_spec_for(study: Study, dataset: TextDataset) -> ModelSpec:
    """The ``ModelSpec`` a study asks for, with the dataset's token budget."""
    if study.arch == "bert":
        return ModelSpec(
            arch="bert",
            checkpoint=study.checkpoint,
            checkpoint_revision=study.checkpoint_revision,
            pooling=study.pooling,
            max_length=dataset.max_length,
        )
    return ModelSpec(arch="bilstm", vectors=study.vectors, max_length=dataset.max_length)


def run_spec(study: Study, prepared: PreparedData, method: str, sparsity: float, seed: int) -> dict[str, Any]:
    """Everything that determines a run's numbers, as plain JSON-able values (hashed to its key).

    The device type enters only off the CPU and the thread count only for
    ``THREAD_DEPENDENT_ARCHS`` on the CPU, so a CPU run's key holds neither when neither
    changes its arithmetic; the noise stream enters only when it is not the seed's own (0), and
    ``runs_per_step`` only for a pruned run that trains stacked (above 1).
    """
    device = device_type(study.device)
    execution = {"device": device} if device != "cpu" else {}
    if device == "cpu" and study.arch in THREAD_DEPENDENT_ARCHS:
        execution["threads"] = study.threads
    if study.runs_per_step > 1 and method != DENSE:  # stacked: the same function, other rounding
        execution["runs_per_step"] = study.runs_per_step
    stream = {"noise_stream": study.noise_stream} if study.noise_stream else {}
    return {
        "dataset": {
            "name": prepared.dataset.name,
            "fingerprint": prepared.dataset.fingerprint(),
            "revision": study.revision,
        },
        "model": prepared.model_spec.to_dict(),
        "encoder": prepared.encoder.fingerprint,
        "training": dataclasses.asdict(study.training),
        "method": method,
        "sparsity": float(sparsity),
        "seed": int(seed),
        "seed_grouping": SEED_GROUPING,
        **stream,
        **execution,
    }


def study_runs(study: Study) -> list[tuple[str, float, int]]:
    """Every (method, sparsity, seed) of the study, dense first: ``dense`` has sparsity 0."""
    runs = [(DENSE, 0.0, seed) for seed in study.seed_range]
    runs += [(m, s, seed) for m in study.methods for s in study.sparsities for seed in study.seed_range]
    return runs


def study_key(study: Study, prepared: PreparedData, method: str, sparsity: float, seed: int) -> str:
    """The store key of one run of ``study``."""
    return run_key(run_spec(study, prepared, method, sparsity, seed))


def open_store(study: Study) -> ResultsStore:
    """The study's results store, accepting other library versions only when the study says so."""
    return ResultsStore(study.store, accept_other_versions=study.accept_other_versions)


def study_table(study: Study, prepared: PreparedData, store: ResultsStore) -> pd.DataFrame:
    """One row per run of the study: method, sparsity, seed, key and what was stored."""
    rows = []
    for method, sparsity, seed in study_runs(study):
        key = study_key(study, prepared, method, sparsity, seed)
        run = store.read(key)
        rows.append(
            {
                "method": method,
                "sparsity": sparsity,
                "seed": seed,
                "key": key,
                "stored": run is not None,
                **(run.metrics if run else {}),
                "wall_time_s": run.meta["wall_time_s"] if run else np.nan,
                "realised_sparsity": run.meta["realised_sparsity"]["overall"] if run else np.nan,
            }
        )
    return pd.DataFrame(rows)


def population_runs(
    study: Study, prepared: PreparedData, store: ResultsStore, method: str, sparsity: float
) -> list[StoredRun]:
    """The stored runs of one population, in seed order; ``KeyError`` naming the missing seeds."""
    runs = [store.read(study_key(study, prepared, method, sparsity, seed)) for seed in study.seed_range]
    missing = [seed for seed, run in zip(study.seed_range, runs) if run is None]
    if missing:
        raise KeyError(f"{method} sparsity={sparsity}: seeds {missing} are not in {store.root}; train the study first")
    return runs


def population_array(
    study: Study, prepared: PreparedData, store: ResultsStore, method: str, sparsity: float, array: str
) -> np.ndarray:
    """One stored array of every run of a population, stacked: ``[seed, ...]`` (e.g.
    ``test_logits`` → ``[seed, example, class]``, ``train_logits_epoch1`` of dense runs)."""
    return np.stack([run.arrays[array] for run in population_runs(study, prepared, store, method, sparsity)])


def population(
    study: Study, prepared: PreparedData, store: ResultsStore, method: str, sparsity: float, split: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``[seed, example, class]`` of one population on ``split``, and thresholds ``[seed]``.

    Thresholds are each run's tuned multilabel threshold (0.5 for single-label data).
    """
    runs = population_runs(study, prepared, store, method, sparsity)
    logits = np.stack([run.arrays[f"{split}_logits"] for run in runs])
    thresholds = np.array([run.metrics.get("threshold", 0.5) for run in runs])
    return logits, thresholds
