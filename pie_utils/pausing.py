"""Pausing the training of a store on this machine, on the record.

    python -m pie_utils store pause --store results/published-training
    ... time something on quiet cores ...
    python -m pie_utils store resume --store results/published-training

``pause`` finds the processes training into the store now (the live processes that logged a
run's start in ``training.log`` and have not ended it, the ``python -m pie_utils`` process above
each, and all its children), stops them with SIGSTOP and writes a ``pause`` line naming them to the log;
``resume`` continues them with SIGCONT and writes ``resume``. Nothing is lost: a stopped run
goes on where it stopped. ``pie_utils.training_log`` reads the spells back, and publishing takes
them off the wall time of each run they interrupted.

Only processes of this machine are paused (a Ray cluster's workers are not).
"""

from __future__ import annotations

import signal
import time

import psutil

from pie_utils.store import LOG_FILE, ResultsStore
from pie_utils.training_log import NO_KEY, Event, in_flight, open_pause, read_events

PIDS = "pids="  # how a pause line names the processes it stopped


class PauseError(RuntimeError):
    """Nothing to pause or resume, said with what was found."""


def pause(store: ResultsStore) -> list[int]:
    """Stop every process training into ``store`` now and log the pause; returns their pids.

    Raises ``PauseError`` when the store is paused already or none of its runs is training.
    """
    log = store.root / LOG_FILE
    events = read_events(log)
    if (spell := open_pause(events)) is not None:
        raise PauseError(f"{store.root} is paused already (since pid {spell.pid}'s pause); resume it first")
    trainers = {trainer.pid: trainer for trainer in map(_trainer, in_flight(events)) if trainer is not None}
    if not trainers:
        raise PauseError(f"no `python -m pie_utils` process of this machine is training a run of {store.root} now")
    for trainer in trainers.values():  # first, so that none starts a worker meanwhile
        trainer.send_signal(signal.SIGSTOP)
    children = {child.pid: child for trainer in trainers.values() for child in trainer.children(recursive=True)}
    for child in children.values():
        child.send_signal(signal.SIGSTOP)
    _wait_until_stopped([*trainers.values(), *children.values()])
    pids = sorted({*trainers, *children})
    store.log("pause", NO_KEY, PIDS + ",".join(map(str, pids)))
    return pids


def resume(store: ResultsStore) -> list[int]:
    """Continue the processes of the store's open pause and log it; returns the pids continued
    (those still alive). Raises ``PauseError`` when the store is not paused."""
    spell = open_pause(read_events(store.root / LOG_FILE))
    if spell is None:
        raise PauseError(f"{store.root} is not paused: its log has no pause without a resume")
    pids = [int(pid) for pid in spell.description.removeprefix(PIDS).split(",") if pid]
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    for pid in alive:
        psutil.Process(pid).send_signal(signal.SIGCONT)
    store.log("resume", NO_KEY, PIDS + ",".join(map(str, alive)))
    return alive


def _wait_until_stopped(processes: list[psutil.Process], seconds: float = 10.0) -> None:
    """Return once every process is stopped or gone: a signal is delivered asynchronously, and
    whoever paused is about to time something."""
    deadline = time.monotonic() + seconds
    for process in processes:
        while time.monotonic() < deadline:
            try:
                if process.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE):
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)


def _trainer(start: Event) -> psutil.Process | None:
    """The outermost ``pie_utils`` process above the one that logged ``start``, or None when
    that process is gone (or its pid now belongs to a later process) or no ``pie_utils`` process
    started it."""
    try:
        worker = psutil.Process(start.pid)
        if worker.create_time() > start.moment + 1:  # the pid was reused after the trainer died
            return None
        named = [p for p in [worker, *worker.parents()] if "pie_utils" in " ".join(p.cmdline())]
    except psutil.NoSuchProcess:
        return None
    return named[-1] if named else None
