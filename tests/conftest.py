"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest


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
