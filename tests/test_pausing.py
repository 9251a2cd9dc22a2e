"""Pausing a store's training on the record: the log's spells are read back exactly (hand-made
logs), and `store pause` stops a real process tree that trains into the store, then `store resume`
continues it, refusing what cannot be paused or resumed and stopping nothing else."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pie_utils.pausing import PauseError, pause, resume
from pie_utils.store import ResultsStore
from pie_utils.training_log import in_flight, open_pause, paused_seconds, read_events, training_span_hours

LOG = """\
2026-01-01T10:00:00 11 start aaa IMP-FT sparsity=0.9 seed=0
2026-01-01T10:00:10 12 start bbb dense seed=0
2026-01-01T10:00:20 99 pause - pids=11,12
2026-01-01T10:00:50 98 resume - pids=11,12
2026-01-01T10:01:00 11 finish aaa IMP-FT sparsity=0.9 seed=0
2026-01-01T10:01:40 12 fail bbb dense seed=0 attempt 1 of 2
2026-01-01T10:02:00 13 start ccc dense seed=1
2026-01-01T10:02:30 13 finish ccc dense seed=1
"""


def test_a_pause_is_taken_off_each_run_it_interrupted_and_off_the_span(tmp_path):
    log = tmp_path / "training.log"
    log.write_text(LOG)
    # aaa ran 10:00:00-10:01:00 and bbb 10:00:10-10:01:40, both across the 30 s pause; ccc after it
    assert paused_seconds(log) == {"aaa": 30.0, "bbb": 30.0}
    # runs cover 10:00:00-10:01:40 and 10:02:00-10:02:30: 130 s, of which 30 s paused
    assert training_span_hours(log) == pytest.approx(100 / 3600)
    head = log.read_text().splitlines(keepends=True)
    log.write_text("".join(head[:3]))
    events = read_events(log)
    assert [(e.pid, e.key) for e in in_flight(events)] == [(11, "aaa"), (12, "bbb")]
    assert open_pause(events).description == "pids=11,12"
    log.write_text("".join(head[:4]))
    assert open_pause(read_events(log)) is None
    assert training_span_hours(tmp_path / "absent.log") is None


# A stand-in trainer of real processes: a parent named like `python -m pie_utils` whose child
# logs a run's start into the store, then counts in a file while it is not stopped.
CHILD = """
import sys, time
from pie_utils.store import ResultsStore
root, counter = sys.argv[1], sys.argv[2]
ResultsStore(root).log("start", "k" * 64, "dense seed=0")
n = 0
while True:
    n += 1
    open(counter, "w").write(str(n))
    time.sleep(0.02)
"""
PARENT = "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1], *sys.argv[2:]])"


def _wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _count(path: Path) -> int:
    text = path.read_text() if path.exists() else ""
    return int(text) if text else 0


@pytest.fixture
def trainer(tmp_path):
    store, counter = ResultsStore(tmp_path / "store"), tmp_path / "counter"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, CHILD, str(store.root), str(counter), "pie_utils-stand-in"]
    )
    _wait_for(lambda: (store.root / "training.log").exists() and _count(counter) > 0)
    yield store, counter, psutil.Process(parent.pid)
    for process in [psutil.Process(parent.pid), *psutil.Process(parent.pid).children(recursive=True)]:
        process.kill()
    parent.wait()


def test_pause_stops_the_whole_trainer_and_resume_continues_it_on_the_record(trainer):
    store, counter, parent = trainer
    (child,) = parent.children()
    pids = pause(store)
    assert pids == sorted([parent.pid, child.pid])
    assert parent.status() == child.status() == psutil.STATUS_STOPPED
    stopped_at = _count(counter)
    time.sleep(0.3)
    assert _count(counter) == stopped_at  # no step while paused
    with pytest.raises(PauseError, match="paused already"):
        pause(store)
    assert resume(store) == pids
    assert psutil.STATUS_STOPPED not in (parent.status(), child.status())
    _wait_for(lambda: _count(counter) > stopped_at)
    events = read_events(store.root / "training.log")
    assert [e.event for e in events] == ["start", "pause", "resume"]
    assert events[1].description == f"pids={parent.pid},{child.pid}"
    with pytest.raises(PauseError, match="not paused"):
        resume(store)


def test_nothing_is_stopped_when_no_live_trainer_logged_the_run(tmp_path):
    store = ResultsStore(tmp_path / "store")
    with pytest.raises(PauseError, match="no `python -m pie_utils` process"):
        pause(store)  # no log at all
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "pie_utils"])
    try:
        # a start logged years before the process that now has its pid began: a reused pid
        (store.root).mkdir(parents=True)
        (store.root / "training.log").write_text(f"2020-01-01T00:00:00 {bystander.pid} start {'k' * 64} dense\n")
        with pytest.raises(PauseError, match="no `python -m pie_utils` process"):
            pause(store)
        assert psutil.Process(bystander.pid).status() != psutil.STATUS_STOPPED
        assert read_events(store.root / "training.log")[-1].event == "start"  # nothing logged
    finally:
        bystander.kill()
        bystander.wait()


def test_the_cli_pauses_and_resumes_by_store_and_exits_1_with_the_reason_when_it_cannot(trainer, capsys):
    from pie_utils.cli import main

    store, _, parent = trainer
    assert main(["store", "pause", "--store", str(store.root)]) == 0
    assert capsys.readouterr().out.startswith(f"paused 2 processes training into {store.root}: {parent.pid} ")
    assert main(["store", "pause", "--store", str(store.root)]) == 1
    assert "paused already" in capsys.readouterr().err
    assert main(["store", "resume", "--store", str(store.root)]) == 0
    assert capsys.readouterr().out.startswith("resumed 2 processes")
    assert main(["store", "resume", "--store", str(store.root)]) == 1
    assert "is not paused" in capsys.readouterr().err
