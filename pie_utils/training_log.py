"""Reading a store's ``training.log``: when each run trained, and when its training was paused.

Each line is ``<time> <pid> <event> <key> <description>`` (``ResultsStore.log``). The events
read here: ``start`` of a run, ``finish`` or ``fail`` ending it, and ``pause`` and ``resume``,
which ``python -m pie_utils store pause|resume`` (``pie_utils.pausing``) writes around a spell
in which the store's trainers were stopped, so that something could be timed on quiet cores. A
run's wall time counts such a spell; ``paused_seconds`` says how much of it to take off.

Times are whole seconds of local time, as ``ResultsStore.log`` writes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

NO_KEY = "-"  # the key field of a line that concerns no single run (pause, resume)
ENDS = ("finish", "fail")
TIMING_EVENTS = ("start", *ENDS, "pause", "resume")  # what the accounting reads, and publishing keeps
RESTORE = "restore the model of"  # how a start line of pie_utils.restoring begins its description


@dataclass(frozen=True)
class Event:
    """One line of the log."""

    moment: float  # seconds since the epoch
    pid: int
    event: str
    key: str
    description: str


def read_events(log: Path) -> list[Event]:
    """The log's lines in order, or [] when there is no log."""
    if not log.exists():
        return []
    events = []
    for line in log.read_text().splitlines():
        stamp, pid, event, key, *rest = line.split(" ", 4)
        moment = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
        events.append(Event(moment, int(pid), event, key, rest[0] if rest else ""))
    return events


def timing_lines(source: Path, kept: Path) -> str:
    """The lines of log ``source`` whose event is one of ``TIMING_EVENTS`` and that log ``kept``
    lacks, in order, as one string: what a published store adds to its log, which so spans every
    training session (a session's training store is lost when it ends). Other lines (a merge's,
    which names folders of this machine) stay behind."""
    present = set(kept.read_text().splitlines()) if kept.exists() else set()
    lines = source.read_text().splitlines() if source.exists() else []
    return "".join(f"{line}\n" for line in lines if line.split(" ", 3)[2] in TIMING_EVENTS and line not in present)


def run_intervals(events: list[Event]) -> list[tuple[str, float, float]]:
    """``(key, start, end)`` of every attempt that ended (finished or failed), in log order."""
    return [(start.key, start.moment, end.moment) for start, end in _attempts(events)]


def _attempts(events: list[Event]) -> list[tuple[Event, Event]]:
    """``(start, end)`` lines of every attempt that ended (finished or failed), in log order."""
    started: dict[tuple[int, str], Event] = {}
    attempts = []
    for event in events:
        if event.event == "start":
            started[(event.pid, event.key)] = event
        elif event.event in ENDS and (event.pid, event.key) in started:
            attempts.append((started.pop((event.pid, event.key)), event))
    return attempts


def in_flight(events: list[Event]) -> list[Event]:
    """The ``start`` of every run not yet ended: what is training now if its process is alive
    (a killed trainer leaves its runs open here)."""
    open_runs: dict[tuple[int, str], Event] = {}
    for event in events:
        if event.event == "start":
            open_runs[(event.pid, event.key)] = event
        elif event.event in ENDS:
            open_runs.pop((event.pid, event.key), None)
    return list(open_runs.values())


def open_pause(events: list[Event]) -> Event | None:
    """The last ``pause`` when no ``resume`` followed it, else None."""
    last = None
    for event in events:
        if event.event == "pause":
            last = event
        elif event.event == "resume":
            last = None
    return last


def paused_spells(events: list[Event]) -> list[tuple[float, float]]:
    """``(begin, end)`` of every pause, each ended by the next ``resume``; a pause still open
    lasts until now."""
    spells, begun = [], None
    for event in events:
        if event.event == "pause" and begun is None:
            begun = event.moment
        elif event.event == "resume" and begun is not None:
            spells.append((begun, event.moment))
            begun = None
    if begun is not None:
        spells.append((begun, time.time()))
    return spells


def restore_seconds(events: list[Event]) -> list[float]:
    """Seconds of each finished model restore (``pie_utils.restoring``), less its pauses: time
    spent training that no record's wall time holds."""
    spells = paused_spells(events)
    return [
        end.moment - start.moment - overlap(start.moment, end.moment, spells)
        for start, end in _attempts(events)
        if end.event == "finish" and start.description.startswith(RESTORE)
    ]


def overlap(begin: float, end: float, spells: list[tuple[float, float]]) -> float:
    """Seconds of ``[begin, end]`` that fall inside the (disjoint) ``spells``."""
    return sum(max(0.0, min(end, stop) - max(begin, start)) for start, stop in spells)


def paused_seconds(log: Path) -> dict[str, float]:
    """key → seconds its finished run spent paused (only keys with a pause in their run)."""
    events = read_events(log)
    spells = paused_spells(events)
    paused = {}
    for key, begin, end in run_intervals(events):
        seconds = overlap(begin, end, spells)
        if seconds > 0:
            paused[key] = seconds
    return paused


def training_span_hours(log: Path) -> float | None:
    """Hours during which at least one run was training and no pause was recorded: the union of
    every run's start-to-end interval, less the pauses inside it. None without a log."""
    if not log.exists():
        return None
    events = read_events(log)
    spells = paused_spells(events)
    union = _union([(begin, end) for _, begin, end in run_intervals(events)])
    return sum(end - begin - overlap(begin, end, spells) for begin, end in union) / 3600


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The disjoint intervals that cover exactly what ``intervals`` cover."""
    merged: list[tuple[float, float]] = []
    for begin, end in sorted(intervals):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged
