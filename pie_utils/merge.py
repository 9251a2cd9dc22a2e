"""Merging results stores trained apart into one: ``python -m pie_utils store merge``.

    python -m pie_utils store merge --source node1/store node2/store --target results/store

What a store needs of its filesystem: an atomic ``rename`` within a folder (every record is
written under ``tmp/`` and renamed into place, ``ResultsStore.commit``) and, for several
processes writing one store at once, working advisory file locks (the claims under ``locks/``
are filelock's ``fcntl`` locks). On NFS those locks can be unreliable, so two nodes could train
the same run at once into one store; there each node trains into a store of its own and this
module merges them afterwards.

``merge_stores`` checks everything before it writes anything. It reads every run and evaluation
of every source (``ResultsStore.verified_files``: the meta.json digest, the sha256 of
arrays.npz and model.pt, the key inside the files, as a read checks them, without moving
anything aside), and compares each key held twice, by two sources or by a source and the
target. A damaged record or a conflict refuses the whole merge (``MergeError``, listing each
one); otherwise the records the target lacks are copied with ``ResultsStore.commit``, one
atomic rename each, so an interrupted merge leaves a valid target and running it again
finishes it.

Identity and provenance. A record is its files: arrays.npz and model.pt (the kept weights
travel with their run), compared by the sha256 in meta.json, and every meta.json field but the
provenance fields ``PROVENANCE_FIELDS``: wall time, device (its type is in the key, so
``cuda:0`` and ``cuda:1`` hold one run), machine and library versions (a record's numbers
are what count: whether a reader accepts other versions is the reader's check, applied when the
merged store is read), and the meta digest, which changes with them. Two records of one key that
agree on the rest are one record, taken once: the target's copy stays, else the first
source's. Any other difference (arrays, model, metrics, history, spec, ...) is a conflict,
named by the first file that differs.

Training logs: each source's ``training.log`` lines are appended to the target's, leaving out
lines the target already has (so a rerun, or two copies of one store, adds each line once), and
one ``merge <key> <kind> from <source>`` line is logged per record copied, so the audit trail
says where every record came from. Not merged: ``checkpoints/`` (a training cache: a later FT or
WR run without its dense checkpoint retrains the dense prefix, which gives the same
checkpoint), ``locks/`` and ``failures/`` (the state of a training process on its own node),
``tmp/`` and ``corrupt/`` (records half-written or moved aside, never read).

A published store (``results/published``, with its manifest) may be a source too: the training
store of a profile, lost or trained on another machine, is restored from what git holds,

    python -m pie_utils store merge --source results/published --target results/published-training

and ``train`` then goes on where the published store stands. Only the records the manifest
lists are read, each checked against it; they are copied as published (logits centred and
perhaps float16, no per-epoch arrays where no chapter reads them, no checkpoints), which is
what the chapters read, and ``store publish`` keeps them as they are. A published store is
never a target: it changes only by ``store publish``.

Nothing else may write the target or the sources while they merge.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pie_utils.errors import ParameterError
from pie_utils.manifest import ManifestError, load_manifest
from pie_utils.store import (
    DIGEST_FIELDS,
    EVALUATIONS,
    LOG_FILE,
    META_FILE,
    RUNS,
    DamagedRecordError,
    ResultsStore,
)

RECORD_KINDS = (RUNS, EVALUATIONS)
PROVENANCE_FIELDS = frozenset({"wall_time_s", "device", "machine", "versions", "meta_sha256"})


class MergeError(RuntimeError):
    """A merge was refused before anything was written; the message lists every damaged
    record and every conflicting key."""


@dataclass
class SourceCounts:
    """What one source holds: ``records`` (verified runs and evaluations), how many of them are
    ``copied`` (or would be, in a dry run) and how many were ``present`` already (in the
    target, or in an earlier source)."""

    records: int = 0
    copied: int = 0
    present: int = 0


@dataclass
class MergeReport:
    """What ``merge_stores`` did (or, with ``dry_run``, would do).

    Attributes:
        target: the target store's folder.
        copied: ``(kind, key)`` of every record copied into the target.
        present: ``(kind, key)`` of every source record the target already held or took from
            an earlier source.
        sources: source folder → its ``SourceCounts``.
        log_lines: training.log lines appended to the target's.
        dry_run: True when nothing was written.
    """

    target: Path
    copied: list[tuple[str, str]] = field(default_factory=list)
    present: set[tuple[str, str]] = field(default_factory=set)
    sources: dict[Path, SourceCounts] = field(default_factory=dict)
    log_lines: int = 0
    dry_run: bool = False

    def summary(self) -> str:
        """One line: records copied and present, per source."""
        verb = "would copy" if self.dry_run else "copied"
        per_source = "; ".join(
            f"{root}: {counts.records} records, {counts.copied} new, {counts.present} present"
            for root, counts in self.sources.items()
        )
        return (
            f"{self.target}: {verb} {len(self.copied)} records, {len(self.present)} already present, "
            f"{self.log_lines} log lines ({per_source})"
        )


def merge_stores(sources: Sequence[str | os.PathLike], target: str | os.PathLike, dry_run: bool = False) -> MergeReport:
    """Merge the runs and evaluations of the ``sources`` stores into ``target`` (created when
    absent), as the module docstring describes; with ``dry_run`` check everything, write nothing.

    Raises:
        ParameterError: a source that is not a results store, one named twice, a target inside
            a source, or a target that is neither new, empty nor a training store; before any work.
        MergeError: a damaged record or a conflicting key; nothing was written.
    """
    roots, into = _checked_paths(sources, target)
    store = ResultsStore(into)
    report = MergeReport(into, dry_run=dry_run)
    # (kind, key) → who holds the record and its verified meta (None: the target's copy is damaged)
    holders: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {}
    to_copy: list[tuple[Path, str, str]] = []
    problems: list[str] = []
    for root in roots:
        source, counts = ResultsStore(root), report.sources.setdefault(root, SourceCounts())
        for kind in RECORD_KINDS:
            for key in _listed_keys(source, kind):
                meta = _verified_meta(source, kind, key, f"source {root}", problems)
                if meta is None:
                    continue
                counts.records += 1
                record = (kind, key)
                if record not in holders and store.run_dir(key, kind).exists():
                    holders[record] = (
                        f"the target {into}",
                        _verified_meta(store, kind, key, f"the target {into}", problems),
                    )
                if record not in holders:
                    holders[record] = (f"source {root}", meta)
                    to_copy.append((root, kind, key))
                    counts.copied += 1
                    continue
                holder, held = holders[record]
                difference = None if held is None else first_difference(held, meta)
                if difference is not None:
                    problems.append(f"{kind} {key}: {difference} differs between {holder} and source {root}")
                counts.present += 1
                report.present.add(record)
    if problems:
        raise MergeError(
            f"merge into {into} refused, nothing was written ({len(problems)} problems):\n  " + "\n  ".join(problems)
        )
    log = _new_log_lines(roots, into)
    report.log_lines = len(log)
    if dry_run:
        report.copied = [(kind, key) for _, kind, key in to_copy]
        return report
    for root, kind, key in to_copy:
        files, meta = ResultsStore(root).verified_files(key, kind)
        if store.commit(key, files, meta, kind):
            report.copied.append((kind, key))
            store.log("merge", key, f"{kind} from {root}")
        else:  # written meanwhile by another process: first writer wins, as in training
            report.present.add((kind, key))
    if log:
        store.append_log("".join(log))
    return report


def first_difference(held: dict[str, Any], other: dict[str, Any]) -> str | None:
    """The first file in which two verified records of one key differ (``arrays.npz``,
    ``model.pt``, then ``meta.json`` with the identity fields that differ), or None when they
    are one record (they differ at most in ``PROVENANCE_FIELDS``)."""
    for name, digest in DIGEST_FIELDS.items():
        if held.get(digest) != other.get(digest):
            return name
    identity = sorted((set(held) | set(other)) - PROVENANCE_FIELDS - set(DIGEST_FIELDS.values()))
    differing = [name for name in identity if held.get(name) != other.get(name)]
    return f"{META_FILE} ({', '.join(differing)})" if differing else None


def _listed_keys(store: ResultsStore, kind: str) -> list[str]:
    """The keys of ``kind`` a store holds: in a published store, those its manifest lists."""
    keys = store.keys(kind)
    return keys if store.manifest is None else [key for key in keys if store.manifest.entry(kind, key)]


def _verified_meta(store: ResultsStore, kind: str, key: str, where: str, problems: list[str]) -> dict[str, Any] | None:
    """The verified meta of one record (in a published store checked against its manifest
    too), or None with the damage added to ``problems``."""
    try:
        if store.manifest is not None:
            store.manifest.check(kind, key, store.run_dir(key, kind))
        return store.verified_files(key, kind)[1]
    except (DamagedRecordError, ManifestError) as damage:
        problems.append(f"{kind} {key} of {where} is damaged: {damage}")
        return None


def _new_log_lines(roots: Sequence[Path], into: Path) -> list[str]:
    """The sources' training.log lines the target's log lacks, in source order, each once."""
    target_log = into / LOG_FILE
    seen = set(target_log.read_text().splitlines(keepends=True)) if target_log.exists() else set()
    new = []
    for root in roots:
        log = root / LOG_FILE
        for line in log.read_text().splitlines(keepends=True) if log.exists() else []:
            line = line if line.endswith("\n") else line + "\n"  # a last line cut short by a crash
            if line not in seen:
                seen.add(line)
                new.append(line)
    return new


def _checked_paths(sources: Sequence[str | os.PathLike], target: str | os.PathLike) -> tuple[list[Path], Path]:
    """The resolved source and target folders, or ``ParameterError`` naming what is wrong."""
    if isinstance(sources, (str, os.PathLike)) or not sources:
        raise ParameterError("source", sources, "one or more results store folders")
    roots = []
    for given in sources:
        root = Path(given).resolve()
        if not _is_store(root):
            raise ParameterError("source", str(given), "a results store folder (one holding runs/ or evaluations/)")
        if root in roots:
            raise ParameterError("source", str(given), "each store once")
        roots.append(root)
    into = Path(target).resolve()
    for given, root in zip(sources, roots):
        if into == root or root in into.parents:
            raise ParameterError("target", str(target), f"a folder outside every source (it is inside {given})")
    if into.exists() and not (_is_store(into) or into.is_dir() and not any(into.iterdir())):
        raise ParameterError(
            "target", str(target), "a new or empty folder, or a results store (one holding runs/ or evaluations/)"
        )
    if load_manifest(into) is not None:
        raise ParameterError("target", str(target), "a training store: a published one changes only by `store publish`")
    return roots, into


def _is_store(root: Path) -> bool:
    return any((root / kind).is_dir() for kind in RECORD_KINDS)
