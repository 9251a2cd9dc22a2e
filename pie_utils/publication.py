"""Publishing a trained profile: what its chapters read, small enough for git, with a manifest.

    python -m pie_utils store publish --profile published --source results/published-training

copies every finished run and evaluation of the profile's studies from a training store into
the profile's own store (``results/published``), then writes ``manifest.json``
(``pie_utils.manifest``) and ``PROGRESS.md`` there. What a published record holds:

- ``arrays.npz``, compressed: the final logits of every split, and the per-epoch ones only for
  the studies whose chapters read a trajectory (``TRAJECTORY_STUDIES``: the accuracy-matched
  control, EL2N's epoch); every logit array centred per row (each row minus its maximum:
  softmax, argmax, margins and losses unchanged) and then stored as float16 where that changes no
  prediction and no class probability by more than ``PROBABILITY_TOLERANCE`` (checked per array;
  otherwise float32). ``ResultsStore`` widens float16 back to float32 on read.
- ``meta.json`` as trained (spec, metrics, per-epoch history, versions, machine, threads, wall
  time), with ``published`` recording the trained arrays' sha256 and which arrays are float16.
- ``model.pt``, gzip-compressed, only for the models the chapters load (``chapter_models``):
  chapter 10's attributed seeds and chapter 6's feature seed. No checkpoints.

Publishing again adds what has trained since; records already published are left as they
are, so git holds each of them once.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax

from pie_utils.claims import ATTRIBUTED_METHODS, claim
from pie_utils.evaluation import evaluation_key, transfer_encoding
from pie_utils.leave_group_out import profile_studies
from pie_utils.manifest import Manifest, file_entry, load_manifest, write_manifest
from pie_utils.pruning import DENSE
from pie_utils.runs import prepare_data, study_key, study_runs
from pie_utils.store import (
    ARRAYS_FILE,
    EVALUATIONS,
    FORMAT_VERSION,
    KEY_FIELD,
    LOG_FILE,
    META_DIGEST_FIELD,
    META_FILE,
    MODEL_FILE,
    PROBABILITY_TOLERANCE,
    RUNS,
    ResultsStore,
    StoredRun,
)
from pie_utils.studies import CONTROL_STUDIES, MAIN_STUDY, analysis_parameters, load_study
from pie_utils.training_log import (
    paused_seconds,
    paused_spells,
    read_events,
    restore_seconds,
    timing_lines,
    training_span_hours,
)

# studies whose per-epoch logits a chapter reads: the main study and its extra-training control
# (chapters 1, 2, 4, 5, 7, 9, 10 and EL2N in 4 and 6), and the MiniLM/BiLSTM pair (chapter 3)
TRAJECTORY_STUDIES = (MAIN_STUDY, CONTROL_STUDIES["extra_training"], "bert", "bilstm_pair")
PROGRESS_FILE = "PROGRESS.md"


@dataclass(frozen=True)
class Record:
    """One run or evaluation a profile's studies need, with every study that reads it."""

    kind: str
    key: str
    method: str
    sparsity: float
    seed: int
    studies: tuple[str, ...]
    dataset: str
    arch: str


@dataclass
class Publication:
    """What ``publish`` did: records published now, already published, and still missing."""

    manifest: Manifest
    added: list[Record] = field(default_factory=list)
    kept: list[Record] = field(default_factory=list)
    missing: list[Record] = field(default_factory=list)


def profile_records(profile: str, derived_from: str | Path | None = None) -> list[Record]:
    """Every run and evaluation of ``profile``'s studies, each key once, in study order; its
    derived studies' too once the runs they derive from are in ``derived_from`` (None: the
    profile's store; ``pie_utils.leave_group_out.profile_studies``)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    source = None if derived_from is None else str(derived_from)
    for name, study in profile_studies(profile, source).items():
        prepared = prepare_data(study, encode=False)
        transfer = transfer_encoding(prepared, encode=False) if study.transfer else None
        for method, sparsity, seed in study_runs(study):
            key = study_key(study, prepared, method, sparsity, seed)
            keys = [(RUNS, key)] + ([(EVALUATIONS, evaluation_key(key, transfer))] if transfer else [])
            for kind, record_key in keys:
                entry = found.setdefault(
                    (kind, record_key),
                    {
                        "kind": kind,
                        "key": record_key,
                        "method": method,
                        "sparsity": sparsity,
                        "seed": seed,
                        "studies": [],
                        "dataset": transfer.dataset.name if kind == EVALUATIONS else study.dataset,
                        "arch": study.arch,
                    },
                )
                entry["studies"].append(name)
    return [Record(**{**entry, "studies": tuple(entry["studies"])}) for entry in found.values()]


def chapter_models(profile: str) -> set[str]:
    """Run keys whose models the chapters load: for the first ``attribution_seeds`` seeds of the
    main study's half B (chapter 10; chapter 6's feature seed is the first of them), the dense
    run, its 4E continuation and ``ATTRIBUTED_METHODS`` at the attribution claim's sparsity."""
    main = load_study(profile, MAIN_STUDY)
    extra = load_study(profile, CONTROL_STUDIES["extra_training"])
    prepared = prepare_data(main, encode=False)
    half_b = list(main.seed_range)[(main.seeds + 1) // 2 :]
    seeds = half_b[: max(1, analysis_parameters(profile)["attribution_seeds"])]
    sparsity = claim("attribution_shift").primary_sparsity
    cells = [(DENSE, 0.0)] + [(m, sparsity) for m in ATTRIBUTED_METHODS if (m, sparsity) in main.cells]
    keys = {study_key(main, prepared, method, level, seed) for method, level in cells for seed in seeds}
    return keys | {study_key(extra, prepared, DENSE, 0.0, seed) for seed in seeds}


def publish(profile: str, source: str | Path, target: str | Path | None = None) -> Publication:
    """Copy what ``source`` (a training store) holds of ``profile`` into ``target`` (default:
    the profile's store) as described in the module docstring; write the manifest and the
    progress file there. Returns what was added, kept and is still missing."""
    target = Path(target or load_study(profile, MAIN_STUDY).store)
    records = profile_records(profile, derived_from=source)  # the training store names them first
    models = chapter_models(profile)
    trained = ResultsStore(source)
    paused = paused_seconds(trained.root / LOG_FILE)
    previous = load_manifest(target)
    entries = {} if previous is None else dict(previous.records)
    writer = _Writer(target)
    outcome: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        name = f"{record.kind}/{record.key}"
        if name in entries:
            previous.check(record.kind, record.key, target / name)  # nothing published changes
            outcome["kept"].append(record)
            continue
        run = trained.read(record.key, record.kind)
        if run is None:
            outcome["missing"].append(record)
            continue
        model = trained.run_dir(record.key) / MODEL_FILE if record.key in models else None
        paused_s = paused.get(record.key, 0.0)
        entries[name] = {**_describe(record, run, paused_s), "files": writer.write(record, run, model)}
        outcome["added"].append(record)
    if carried := timing_lines(trained.root / LOG_FILE, target / LOG_FILE):
        writer.store.append_log(carried)
    content = {
        "profile": profile,
        "format_version": FORMAT_VERSION,
        "totals": _totals(entries, records),
        "records": entries,
    }
    if (target / LOG_FILE).exists():  # what PROGRESS.md's wall clock is read from, vouched for too
        content[LOG_FILE] = file_entry((target / LOG_FILE).read_bytes())
    manifest = write_manifest(target, content)
    writer.tidy()
    (target / PROGRESS_FILE).write_text(progress_report(manifest, records, target / LOG_FILE))
    return Publication(manifest, outcome["added"], outcome["kept"], outcome["missing"])


def published_arrays(record: Record, arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """What ``record`` publishes of its trained ``arrays``: ``slim_arrays`` of them, without the
    per-epoch ones unless a study in ``TRAJECTORY_STUDIES`` reads the record."""
    if not set(record.studies) & set(TRAJECTORY_STUDIES):
        arrays = {name: array for name, array in arrays.items() if "_epoch" not in name}
    return slim_arrays(arrays)


def slim_arrays(arrays: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays as published, and the names stored as float16 (see the module docstring).

    ``arrays``: name → array; logits are ``[example, class]`` float32. Other arrays pass unchanged.
    """
    slim, narrowed = {}, []
    for name, array in arrays.items():
        if not (name.endswith("logits") or "_logits_" in name) or array.dtype != np.float32:
            slim[name] = array
            continue
        centred = array - array.max(axis=1, keepdims=True)
        half = centred.astype(np.float16)
        lossless = (
            np.isfinite(half).all()
            and np.array_equal(half.argmax(axis=1), array.argmax(axis=1))
            and np.abs(softmax(half.astype(np.float32), axis=1) - softmax(array, axis=1)).max() <= PROBABILITY_TOLERANCE
        )
        slim[name] = half if lossless else centred
        narrowed += [name] if lossless else []
    return slim, narrowed


def progress_report(manifest: Manifest, records: Sequence[Record], log: Path | None = None) -> str:
    """``PROGRESS.md``: records published of those the profile needs, per study and cell, CPU-hours
    and bytes so far, and the training span and pauses from the training ``log`` when given (the
    published store's own, which ``publish`` extends with each training store's timing lines)."""
    totals = manifest.content["totals"]
    published = manifest.records
    rows: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for record in records:
        cell = DENSE if record.method == DENSE else f"{record.method} {record.sparsity:g}"
        label = f"{record.kind} on {record.dataset}" if record.kind == EVALUATIONS else record.kind
        counted = rows[(record.studies[0], f"{cell} ({label}, {record.arch})")]
        counted[0] += f"{record.kind}/{record.key}" in published
        counted[1] += 1
    lines = [
        f"# Published store of profile `{manifest.content['profile']}`",
        "",
        "Written by `python -m pie_utils store publish`; the manifest is `manifest.json` "
        f"(sha256 `{manifest.digest[:16]}…`).",
        "",
        f"- records published: {totals['published']} of {totals['needed']} "
        f"({totals['runs']} runs, {totals['evaluations']} evaluations)",
        f"- training: {totals['worker_hours']:.2f} worker-hours, {totals['cpu_hours']:.2f} CPU-hours "
        "(wall time of each run less its recorded pauses, times its threads)",
        f"- bytes in the store: {totals['bytes'] / 1e6:.1f} MB ({totals['models']} models kept)",
    ]
    if log is not None and log.exists():
        events = read_events(log)
        begun = time.strftime("%Y-%m-%d %H:%M", time.localtime(events[0].moment))
        lines.append(
            f"- wall clock while training ran: {training_span_hours(log):.2f} hours, from the training log "
            f"kept here since {begun} (any session before then kept none here)"
        )
        restores = restore_seconds(events)
        lines.append(
            f"- models restored by training their runs again for evaluations (`pie_utils.restoring`): "
            f"{len(restores)}, {sum(restores) / 3600:.2f} worker-hours more (from the log: no record's wall time holds them)"
        )
        spells = paused_spells(events)
        paused = sum(end - begin for begin, end in spells) / 3600
        lines.append(
            f"- pauses on the record (`store pause`, while something was timed): {len(spells)}, {paused:.2f} "
            "hours in all, taken off the runs they interrupted and off the wall clock"
        )
    lines += ["", "| study | cell | published | needed |", "|---|---|---:|---:|"]
    lines += [f"| {study} | {cell} | {done} | {needed} |" for (study, cell), (done, needed) in rows.items()]
    return "\n".join(lines) + "\n"


def _describe(record: Record, run: StoredRun, paused_s: float) -> dict[str, Any]:
    meta = run.meta
    return {
        "kind": record.kind,
        "study": list(record.studies),
        "method": record.method,
        "sparsity": record.sparsity,
        "seed": record.seed,
        "dataset": record.dataset,
        "arch": record.arch,
        "wall_time_s": meta.get("wall_time_s"),
        "paused_s": paused_s,  # of that wall time, stopped by `store pause` (pie_utils.training_log)
        "machine": meta.get("machine"),
        "versions": meta.get("versions"),
    }


def working_seconds(entry: dict[str, Any]) -> float:
    """A manifest entry's wall time less its recorded pauses (in its wall time, not its work;
    records published before pauses were logged have none)."""
    return max(0.0, (entry["wall_time_s"] or 0.0) - entry.get("paused_s", 0.0))


def _totals(entries: dict[str, dict[str, Any]], records: Sequence[Record]) -> dict[str, Any]:
    wall = [(working_seconds(entry), (entry["machine"] or {}).get("threads", 1)) for entry in entries.values()]
    return {
        "needed": len(records),
        "published": len(entries),
        "runs": sum(entry["kind"] == RUNS for entry in entries.values()),
        "evaluations": sum(entry["kind"] == EVALUATIONS for entry in entries.values()),
        "models": sum(MODEL_FILE in entry["files"] for entry in entries.values()),
        "bytes": sum(f["bytes"] for entry in entries.values() for f in entry["files"].values()),
        "worker_hours": sum(seconds for seconds, _ in wall) / 3600,
        "cpu_hours": sum(seconds * threads for seconds, threads in wall) / 3600,
    }


class _Writer:
    """Writes published records into a store folder (one that may already hold a manifest)."""

    def __init__(self, root: Path):
        self.store = ResultsStore(root, read_manifest=False)  # adds records beside the published ones

    def tidy(self) -> None:
        """Remove the emptied scratch folder: git should see only records and the two reports."""
        scratch = self.store.root / "tmp"
        if scratch.is_dir() and not any(scratch.iterdir()):
            scratch.rmdir()

    def write(self, record: Record, run: StoredRun, model: Path | None) -> dict[str, dict[str, Any]]:
        """Write one record; returns the manifest's ``files`` entry for it."""
        arrays, narrowed = published_arrays(record, run.arrays)
        payload = io.BytesIO()
        np.savez_compressed(payload, **arrays, **{KEY_FIELD: np.array(record.key)})
        files = {ARRAYS_FILE: payload.getvalue()}
        meta = {name: value for name, value in run.meta.items() if name not in (META_DIGEST_FIELD, "model_sha256")}
        meta["arrays_sha256"] = hashlib.sha256(files[ARRAYS_FILE]).hexdigest()
        meta["published"] = {"trained_arrays_sha256": run.meta["arrays_sha256"], "float16": narrowed}
        if model is not None:
            files[MODEL_FILE] = gzip.compress(model.read_bytes(), mtime=0)
            meta["model_sha256"] = hashlib.sha256(files[MODEL_FILE]).hexdigest()
        self.store.commit(record.key, files, meta, record.kind)
        meta_file = self.store.run_dir(record.key, record.kind) / META_FILE  # sealed by commit
        return {
            **{name: file_entry(data) for name, data in files.items()},
            META_FILE: file_entry(meta_file.read_bytes()),
        }
