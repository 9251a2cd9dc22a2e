"""The local pool: worker processes share a store, each run is trained exactly once, a run that
fails is retried, recorded and left while the grid carries on, and the notebooks' no-train mode
reads what the pool stored."""

import subprocess
import sys
import time
from collections import Counter

import psutil
import pytest

from pie_utils.errors import ParameterError
from pie_utils.pool import TrainingReport, train_studies, work_items
from pie_utils.pruning import DENSE
from pie_utils.store import EVALUATIONS, RUNS, ResultsStore
from pie_utils.studies import NO_TRAIN_ENV, MissingRunsError, load_study, train

SMALL = {"seeds": 2, "subset": {"n_train": 300, "n_validation": 60, "n_test": 80, "seed": 0}, "epochs": 1}


def small_studies(store):
    """ci's main study, its dense_long control (3 epochs) and its ood study, made small."""
    return [
        load_study("ci", "run", store=str(store), sparsities=[0.5, 0.9], **SMALL),
        load_study("ci", "dense_long", store=str(store), **{**SMALL, "epochs": 3}),
        load_study("ci", "ood", store=str(store), **SMALL),
    ]


def started_keys(store) -> Counter:
    lines = (store / "training.log").read_text().splitlines()
    return Counter(line.split()[3] for line in lines if line.split()[2] == "start")


def test_the_work_list_holds_each_key_once_dense_first_longer_dense_after_shorter_then_cell_by_cell(tmp_path):
    items = work_items(small_studies(tmp_path))
    runs = [item for item in items if item.kind == RUNS]
    assert len({item.key for item in items}) == len(items)
    # run: 2 dense + 2 x 2 x 2 pruned; dense_long: 2 dense; ood shares run's runs (IMP-FT 0.9);
    # evaluations on the transfer set: ood's dense and IMP-FT 0.9, and dense_long's (chapter 9's control)
    assert len(runs) == 2 + 8 + 2 and sum(item.kind == EVALUATIONS for item in items) == 2 * 2 + 2
    assert [item.method for item in runs[:4]] == [DENSE] * 4
    short, long = runs[:2], runs[2:4]
    assert [item.needs for item in long] == [(item.key,) for item in short]
    assert all(item.needs == (short[item.seed].key,) for item in runs if item.method == "IMP-FT")
    # pruned runs cell by cell (ci lists IMP-FT before MP-AI), each cell over both seeds
    cells = [(item.method, item.sparsity, item.seed) for item in runs[4:]]
    assert cells == [(m, s, seed) for m in ("IMP-FT", "MP-AI") for s in (0.5, 0.9) for seed in (0, 1)]


def test_two_workers_train_every_run_once_and_a_second_call_trains_nothing(tmp_path):
    studies = small_studies(tmp_path)
    report = train_studies(studies, workers=2, threads=1, progress=False)
    assert report == TrainingReport(runs=12, evaluations=6, before=0, after=18)
    started = started_keys(tmp_path)
    runs = {item.key for item in work_items(studies) if item.kind == RUNS}
    assert set(started) == runs and set(started.values()) == {1}
    log = (tmp_path / "training.log").read_text().splitlines()
    assert len({line.split()[1] for line in log}) == 2  # both workers trained
    store = ResultsStore(tmp_path)
    assert all(store.read(key) is not None for key in runs)
    long = [store.read(item.key) for item in work_items(studies) if item.study == 1 and item.kind == RUNS]
    assert all("continued_from" in run.meta for run in long)

    again = train_studies(studies, workers=2, threads=1, progress=False)
    assert again == TrainingReport(runs=12, evaluations=6, before=18, after=18)
    assert started_keys(tmp_path) == started


def test_the_no_train_mode_names_missing_runs_and_reads_stored_ones(tmp_path, monkeypatch):
    monkeypatch.setenv(NO_TRAIN_ENV, "1")
    study = load_study("ci", "worked_example", store=str(tmp_path), seeds=1, epochs=1)
    with pytest.raises(MissingRunsError, match=r"2 of 2 runs of study 'worked_example' \(ci\).*dense 0 seed 0"):
        train("ci", "worked_example", progress=False, store=str(tmp_path), seeds=1, epochs=1)
    assert not (tmp_path / "training.log").exists()
    train_studies([study], workers=1, progress=False)
    before = (tmp_path / "training.log").read_text()
    trained = train("ci", "worked_example", progress=False, store=str(tmp_path), seeds=1, epochs=1)
    assert trained.table["stored"].all() and (tmp_path / "training.log").read_text() == before


def test_a_failing_run_is_tried_twice_recorded_and_the_grid_carries_on_without_what_needs_it(tmp_path):
    # a learning rate of 1e30 makes the loss non-finite at once: a real failure of a real run
    sound = load_study("ci", "run", store=str(tmp_path), methods=["MP-AI"], sparsities=[0.5], seeds=1, epochs=1)
    diverging = load_study(
        "ci", "run", store=str(tmp_path), methods=["IMP-FT"], sparsities=[0.5], seeds=1, epochs=1, learning_rate=1e30
    )
    report = train_studies([diverging, sound], workers=1, progress=False)
    failed_dense, blocked_pruned, *_ = work_items([diverging])
    assert (report.runs, report.before, report.after) == (4, 0, 2)  # the sound study's dense and MP-AI runs
    assert len(report.failed) == 1 and failed_dense.key[:12] in report.failed[0]
    assert "after 2 attempts" in report.failed[0] and "NonFiniteLossError" in report.failed[0]
    assert report.blocked == (
        f"rotten-tomatoes/bilstm IMP-FT 0.5 seed 0 (run {blocked_pruned.key[:12]}): needs {failed_dense.key[:12]}, which failed",
    )
    store = ResultsStore(tmp_path)
    assert len(store.failed_attempts(failed_dense.key)) == 2 and store.read(failed_dense.key) is None
    log = [line.split() for line in (tmp_path / "training.log").read_text().splitlines()]
    assert [line[2] for line in log if line[3] == failed_dense.key] == ["start", "fail", "start", "fail"]
    assert blocked_pruned.key not in {line[3] for line in log}  # never started: its input failed

    # a later call tries it afresh (two more attempts), not from the attempts already used
    again = train_studies([diverging], workers=1, progress=False)
    assert len(again.failed) == 1 and len(store.failed_attempts(failed_dense.key)) == 2


@pytest.mark.parametrize("name, value", [("workers", 0), ("threads", 1.5), ("workers", True), ("attempts", 0)])
def test_bad_pool_sizes_are_refused_before_any_work(tmp_path, name, value):
    with pytest.raises(ParameterError, match=name):
        train_studies(small_studies(tmp_path), progress=False, **{name: value})
    assert not tmp_path.joinpath("training.log").exists()


def test_workers_whose_trainer_is_killed_finish_their_run_and_take_no_other(tmp_path):
    """SIGKILL the `train` process once both workers have started a run: the workers, handed to
    another parent, exit after the run in hand instead of training the rest of the study (or
    waiting forever for the pool's next task)."""
    command = [sys.executable, "-m", "pie_utils", "train", "--profile", "ci", "--study", "run"]  # 20 runs
    trainer = subprocess.Popen([*command, "--store", str(tmp_path), "--workers", "2", "--no-progress"])
    log = tmp_path / "training.log"
    deadline = time.monotonic() + 120
    while len(started_keys(tmp_path) if log.exists() else ()) < 2:
        assert time.monotonic() < deadline and trainer.poll() is None, "the workers never started"
        time.sleep(0.1)
    workers = [psutil.Process(int(line.split()[1])) for line in log.read_text().splitlines()[:2]]
    trainer.kill()
    trainer.wait()
    gone, alive = psutil.wait_procs(workers, timeout=120)
    assert not alive, "a worker trained on without its trainer"
    starts = [line for line in log.read_text().splitlines() if line.split()[2] == "start"]
    assert len(starts) <= 4  # the two in hand, and at most one each taken just before the kill
    assert len(list((tmp_path / RUNS).iterdir())) <= 4  # the study's other runs were left untrained
