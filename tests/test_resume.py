"""Kill and resume, and two processes on one store: real processes, a tiny real grid.

A run resumes whole: a process killed mid-run leaves nothing of that run, and the next
invocation trains it again from its start (or from its seed's dense checkpoint).
"""

import os
import signal
import subprocess
import sys
from collections import Counter

import numpy as np

from pie_utils.store import ResultsStore
from pie_utils.training import FAULT_AFTER_STEPS_ENV

# per seed, in this order: dense 4 optimiser steps, MP-AI 4, IMP-FT 12 (3 rounds × 4)
GRID = ["run", "--dataset", "rotten-tomatoes", "--arch", "bilstm", "--methods", "MP-AI", "IMP-FT",
        "--sparsity", "0.5", "--seeds", "2", "--epochs", "1", "--batch-size", "32", "--threads", "1",
        "--subset", "train=120,validation=40,test=40", "--no-progress"]


def _run(store, kill_after_steps: int = 0, **popen) -> subprocess.Popen:
    environment = {**os.environ, FAULT_AFTER_STEPS_ENV: str(kill_after_steps)}
    return subprocess.Popen([sys.executable, "-m", "pie_utils", *GRID, "--store", str(store)],
                            env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _arrays(store) -> dict[str, dict[str, np.ndarray]]:
    opened = ResultsStore(store)
    runs = {key: opened.read(key) for key in opened.keys()}
    return {key: {**run.arrays, **{f"metric:{k}": np.array(v) for k, v in run.metrics.items()}}
            for key, run in runs.items()}


def _finished_counts(store) -> Counter:
    lines = (store / "training.log").read_text().splitlines()
    return Counter(line.split()[3] for line in lines if line.split()[2] == "finish")


def test_killed_twenty_times_at_seeded_steps_the_grid_ends_bitwise_equal_to_an_uninterrupted_one(tmp_path):
    reference = tmp_path / "reference"
    assert _run(reference).wait(timeout=300) == 0
    expected = _arrays(reference)
    assert len(expected) == 6

    resumed = tmp_path / "resumed"
    # Kill points 1..12 steps into each process: the 12-step IMP-FT run can never finish under
    # one, so every process is killed (mid-dense, mid-AI or mid-FT), while the dense and AI
    # runs it reaches first finish and must never be trained again.
    kill_points = np.random.default_rng(2025).integers(1, 13, size=21)
    outcomes = [_run(resumed, int(kill_after)).wait(timeout=300) for kill_after in kill_points]
    assert outcomes == [-signal.SIGKILL] * 21
    assert 0 < len(ResultsStore(resumed).keys()) < 6  # progress was made, and kept
    assert _run(resumed).wait(timeout=300) == 0  # the last one runs to the end

    got = _arrays(resumed)
    assert got.keys() == expected.keys()
    for key, arrays in expected.items():
        assert got[key].keys() == arrays.keys()
        for name, values in arrays.items():
            np.testing.assert_array_equal(got[key][name], values, err_msg=f"{key} {name}")
    finished = _finished_counts(resumed)
    assert set(finished) == set(expected) and set(finished.values()) == {1}  # none trained twice


def test_two_processes_on_overlapping_grids_train_each_run_once(tmp_path):
    store = tmp_path / "shared"
    first, second = _run(store), _run(store)
    assert first.wait(timeout=300) == 0 and second.wait(timeout=300) == 0, second.stderr.read()
    opened = ResultsStore(store)
    assert len(opened.keys()) == 6 and all(opened.read(key) is not None for key in opened.keys())
    assert set(_finished_counts(store).values()) == {1}
    assert not (store / "corrupt").exists()
