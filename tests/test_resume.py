"""Kill and resume, and processes sharing one store: real processes, a tiny real grid.

The grid (the smallest that crosses run and seed boundaries): BiLSTM on 120 Rotten Tomatoes
training examples, batch 32, so ceil(120/32) = 4 optimiser steps per epoch, E = 1. Per seed, in
training order: dense 4 steps, IMP-FT 12 (3 rounds x 4, branching from the dense checkpoint),
MP-AI 4; 2 seeds, 40 steps in all. ``PIE_UTILS_FAULT_AFTER_STEPS=k`` makes a process SIGKILL
itself right after its k-th optimiser step, so where a kill lands is known exactly.

Runs resume whole: a run killed part-way leaves nothing in the store and is trained again from
its start (an FT run from its seed's dense checkpoint); runs finished before the kill are never
trained again. The reference and the processes sharing a store are the command line as a user
runs it; the kill test's 24 processes (23 killed, the last run to the end) are forked from this
one once the data are prepared, so each costs its training steps, not a fresh interpreter's
imports (~5 s each on 2 cores).
"""

import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter

import numpy as np
import pytest

from pie_utils.config import validate_study
from pie_utils.runs import prepare_data
from pie_utils.store import CorruptRunWarning, ResultsStore
from pie_utils.training import FAULT_AFTER_STEPS_ENV, train_study

SUBSET = "train=120,validation=40,test=40"
COMMON = [
    "run",
    "--dataset",
    "rotten-tomatoes",
    "--arch",
    "bilstm",
    "--sparsity",
    "0.5",
    "--seeds",
    "2",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--threads",
    "1",
    "--subset",
    SUBSET,
    "--device",
    "cpu",
    "--no-progress",
]
FULL_GRID = ["--methods", "IMP-FT", "MP-AI"]
# (log description, optimiser steps), in the order one process trains them
RUNS = [
    ("dense sparsity=0 seed=0", 4),
    ("IMP-FT sparsity=0.5 seed=0", 12),
    ("MP-AI sparsity=0.5 seed=0", 4),
    ("dense sparsity=0 seed=1", 4),
    ("IMP-FT sparsity=0.5 seed=1", 12),
    ("MP-AI sparsity=0.5 seed=1", 4),
]
TIMEOUT = 300


def _start(store, methods=FULL_GRID) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pie_utils", *COMMON, *methods, "--store", str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err


def _log(store) -> list[tuple[int, str, str, str]]:
    """(pid, event, key, description) per line of the store's training log."""
    path = store / "training.log"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        _, pid, event, key, description = line.split(" ", 4)
        rows.append((int(pid), event, key, description))
    return rows


def _results(store) -> dict[str, dict[str, np.ndarray]]:
    """Key → every stored array and metric, read back verified (a damaged run fails the test)."""
    opened = ResultsStore(store)
    results = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", CorruptRunWarning)
        for key in opened.keys():
            run = opened.read(key)
            assert run is not None, key
            results[key] = {**run.arrays, **{f"metric:{name}": np.asarray(v) for name, v in run.metrics.items()}}
    return results


def _assert_bitwise_equal(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for key, arrays in expected.items():
        assert sorted(got[key]) == sorted(arrays), key
        for name, values in arrays.items():
            assert got[key][name].dtype == values.dtype
            np.testing.assert_array_equal(got[key][name], values, err_msg=f"{key} {name}")


def _assert_no_leftovers(store) -> None:
    assert not (store / "corrupt").exists()
    assert not (store / "tmp").exists() or list((store / "tmp").iterdir()) == []
    assert list((store / "checkpoints").glob(".*")) == []  # no half-written checkpoint


class Reference:
    """The grid trained once, uninterrupted, by the CLI in its own store (started early, awaited on use)."""

    def __init__(self, root):
        self.store = root / "reference"
        self.process = _start(self.store)
        self._results = None

    def store_after_finish(self):
        self.results()
        return self.store

    def results(self) -> dict[str, dict[str, np.ndarray]]:
        if self._results is None:
            code, out, err = _finish(self.process)
            assert code == 0, err
            assert "6 runs in" in out
            self._results = _results(self.store)
        return self._results


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return Reference(tmp_path_factory.mktemp("reference"))


# ---- kill and resume ----------------------------------------------------------------------------


def _train_until_killed(study, prepared, kill_after_steps: int) -> None:
    os.environ[FAULT_AFTER_STEPS_ENV] = str(kill_after_steps)  # read when the child's trainer starts
    train_study(study, progress=False, prepared=prepared)


def _forked_run(study, prepared, kill_after_steps: int = 0) -> tuple[int, int]:
    """(pid, exit code) of a process forked from this one that trains ``study`` (and, with
    ``kill_after_steps`` k > 0, SIGKILLs itself after its k-th optimiser step)."""
    process = multiprocessing.get_context("fork").Process(
        target=_train_until_killed, args=(study, prepared, kill_after_steps)
    )
    process.start()
    process.join(TIMEOUT)
    if process.exitcode is None:  # hung: end it, and the test fails on its exit code
        process.kill()
        process.join()
        return process.pid, None
    return process.pid, process.exitcode


def _kill_points(rng: np.random.Generator) -> list[tuple[int, int]]:
    """(run index the kill lands in, kill step counted from the process start), in order.

    For each run r, while it is the first one missing: three kills at seeded steps inside r (no
    progress), then one at a seeded step inside run r + 1 (r finishes and is stored, crossing a
    run boundary, and a seed boundary after r = 2). 6 x 3 + 5 = 23 kills.
    """
    points = []
    for r, (_, steps) in enumerate(RUNS):
        points += [(r, int(rng.integers(1, steps + 1))) for _ in range(3)]
        if r + 1 < len(RUNS):
            points.append((r + 1, steps + int(rng.integers(1, RUNS[r + 1][1] + 1))))
    return points


def test_killed_at_23_seeded_steps_the_grid_ends_bitwise_equal_and_no_run_trains_twice(tmp_path, reference, tiny_grid):
    store = tmp_path / "killed"
    study = validate_study({**tiny_grid, "store": str(store)})  # the grid of COMMON + FULL_GRID
    prepared = prepare_data(study)
    import torch._dynamo  # noqa: F401  the first Adam optimiser imports it (~2 s): once here, not in 24 children

    torch.set_num_threads(1)
    points = _kill_points(np.random.default_rng(20241128))
    assert len(points) == 23 and sum(RUNS[r][1] for r in range(len(RUNS))) == 40
    stored: dict[str, int] = {}  # description → pid of the process that finished it
    meta_digests: dict[str, str] = {}  # key → sha256 of meta.json when first seen
    kills_inside = Counter()
    crossings = 0
    for landing, step in points:
        pending = [(d, n) for d, n in RUNS if d not in stored]
        child, code = _forked_run(study, prepared, kill_after_steps=step)
        assert code == -signal.SIGKILL, step
        # runs that ended before step `step` of this process are stored; the one holding it is not
        done = 0
        for description, steps in pending:
            if done + steps < step:
                stored[description] = child
            elif done < step:
                assert description == RUNS[landing][0]
                kills_inside[description] += 1
            done += steps
        crossings += len(pending) - len([d for d, _ in pending if d not in stored])

        finished = [(pid, key, d) for pid, event, key, d in _log(store) if event == "finish"]
        assert {d: pid for pid, _, d in finished} == stored and len(finished) == len(stored)
        assert sorted(ResultsStore(store).keys()) == sorted(key for _, key, _ in finished)
        for _, key, _ in finished:  # a run once stored is never rewritten
            digest = hashlib.sha256((store / "runs" / key / "meta.json").read_bytes()).hexdigest()
            assert meta_digests.setdefault(key, digest) == digest
        _assert_no_leftovers(store)

    assert _forked_run(study, prepared)[1] == 0  # no kill point left: runs to the end
    assert crossings == 5 and sum(kills_inside.values()) == 23
    assert set(kills_inside) == {d for d, _ in RUNS}  # every run was killed part-way at least once

    log = _log(store)
    starts = Counter(d for _, event, _, d in log if event == "start")
    finishes = Counter(d for _, event, _, d in log if event == "finish")
    assert finishes == Counter({d: 1 for d, _ in RUNS})  # each run trained to the end exactly once
    assert starts == Counter({d: kills_inside[d] + 1 for d, _ in RUNS})  # killed starts + the one that finished
    _assert_no_leftovers(store)
    _assert_bitwise_equal(_results(store), reference.results())  # and equal to the CLI's, bit for bit


# ---- processes sharing a store ------------------------------------------------------------------


def test_two_processes_on_overlapping_grids_share_the_store_and_train_each_run_once(tmp_path, reference):
    store = tmp_path / "shared"
    # A: dense, IMP-FT, MP-AI; B: dense, MP-AI. They contend for every dense run and every MP-AI run.
    first, second = _start(store), _start(store, methods=["--methods", "MP-AI"])
    (code_a, out_a, err_a), (code_b, out_b, err_b) = _finish(first), _finish(second)
    assert (code_a, code_b) == (0, 0), err_a + err_b
    assert "6 runs in" in out_a and "4 runs in" in out_b

    log = _log(store)
    assert (
        Counter(key for _, event, key, _ in log if event == "start")
        == Counter(key for _, event, key, _ in log if event == "finish")
        == Counter({key: 1 for key in ResultsStore(store).keys()})
    )
    trained_by = {d: pid for pid, event, _, d in log if event == "finish"}
    assert set(trained_by.values()) <= {first.pid, second.pid}
    assert all(trained_by[d] == first.pid for d, _ in RUNS if d.startswith("IMP-FT"))  # B has none
    # which process wins each contended run varies from one run of the test to the next
    _assert_no_leftovers(store)
    _assert_bitwise_equal(_results(store), reference.results())


def test_a_claim_blocks_others_until_its_holder_is_killed_then_the_run_is_trained_once(tmp_path, reference):
    """A holder SIGKILLed mid-claim: the waiting process trains nothing while the claim is held,
    then the operating system releases the lock and the waiter finishes the grid."""
    dense_0 = next(key for _, event, key, d in _log(reference.store_after_finish()) if d == RUNS[0][0])
    store = tmp_path / "shared"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_CLAIM, str(ResultsStore(store).claim(dense_0).lock_file)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    progress = tmp_path / "waiter.stderr"
    with open(progress, "w") as stderr:
        waiter = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pie_utils",
                *[a for a in COMMON if a != "--no-progress"],
                *FULL_GRID,
                "--store",
                str(store),
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        deadline = time.monotonic() + TIMEOUT
        while "seeds:" not in progress.read_text() and waiter.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # until the waiter has reached its seed loop: its first act is claiming dense 0
        time.sleep(1.0)
        assert waiter.poll() is None and _log(store) == []  # blocked on the claim, nothing trained
        os.kill(holder.pid, signal.SIGKILL)
        assert holder.wait(timeout=TIMEOUT) == -signal.SIGKILL
        out, _ = waiter.communicate(timeout=TIMEOUT)
    assert waiter.returncode == 0 and "6 runs in" in out, progress.read_text()[-2000:]
    log = _log(store)
    assert {pid for pid, *_ in log} == {waiter.pid}
    assert Counter(event for _, event, _, _ in log) == Counter({"start": 6, "finish": 6})
    _assert_no_leftovers(store)
    _assert_bitwise_equal(_results(store), reference.results())


HOLD_A_CLAIM = """
import sys, time
import filelock
lock = filelock.FileLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""
