"""Fixtures shared by the test modules."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import pytest

# Set before torch starts OpenMP, and inherited by the subprocesses and kernels the tests start:
# OpenMP's threads otherwise spin at every barrier, and a run of 2 threads sharing its cores with
# another process (a second test worker, or training in the background) then ran 20 times slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# No test reaches a model hub (hub-format fixtures stand in for it). Offline, huggingface_hub
# fails at once; online-but-unreachable, a pinned commit (the `full` profile's) is retried for
# 23 s before the same error. Set before any test imports it: it reads this at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_grid() -> dict:
    """Parameters of the smallest real grid the reliability tests train (no store set): a
    BiLSTM on 120 Rotten Tomatoes snippets, dense plus IMP-FT and MP-AI at 50 %, 2 seeds, one
    epoch, one thread, on the CPU. A copy per call site: ``{**tiny_grid, "store": ...}``."""
    return {
        "dataset": "rotten-tomatoes",
        "arch": "bilstm",
        "methods": ["IMP-FT", "MP-AI"],
        "sparsities": [0.5],
        "seeds": 2,
        "epochs": 1,
        "batch_size": 32,
        "threads": 1,
        "device": "cpu",
        "subset": {"n_train": 120, "n_validation": 40, "n_test": 40, "seed": 0},
    }


@pytest.fixture(scope="session")
def snippets_csv() -> Callable[..., Path]:
    """``snippets_csv(path, per_class=10)``: writes a tiny local CSV of real snippets."""
    return _snippets_csv


def _snippets_csv(path: Path, per_class: int = 10) -> Path:
    """A tiny local CSV (``text``, ``label``) of real Rotten Tomatoes snippets: the embedded
    training split's first ``per_class`` of each class, written to ``path``."""
    from pie_utils.data import load_dataset

    data = load_dataset("rotten-tomatoes")
    train, counts, rows = data.split("train"), {}, []
    for text, label in zip(train.texts, train.labels):
        if counts.get(int(label), 0) < per_class:
            counts[int(label)] = counts.get(int(label), 0) + 1
            rows.append((text, data.label_names[int(label)]))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    return path
