"""A resumable on-disk store of finished runs, keyed by a hash of each run's full spec.

Layout under ``root``::

    runs/<key>/arrays.npz     logits and other arrays; holds its own key under ``__key__``
    runs/<key>/meta.json      spec, metrics, per-epoch history, versions, device, machine, wall
                              time, sha256 of arrays.npz (and of model.pt)
    runs/<key>/model.pt       the trained weights and pruning masks, where the study keeps models
    evaluations/<key>/        a stored run scored on another dataset afterwards, in the same
                              two files; its meta names the run (``run_key``)
    checkpoints/<key>.pt      dense state (weights but the frozen embedding, Adam) after its last epoch: FT and WR runs
                              branch from it, longer dense runs of the same seed continue it
    locks/<key>.lock          claims: a process trains a run only while holding its lock
    failures/<kind>/<key>.json
                              the failed attempts at a record in the current training call (the
                              pool's report; cleared when the record is stored or training restarts)
    training.log              one line per run started and finished, and per pause (audit trail)
    tmp/                      runs being written; renamed into runs/ only when complete
    corrupt/                  damaged runs moved aside (and reported) so they are recomputed

A run folder is written under ``tmp/`` and renamed into ``runs/`` in one ``os.rename``, so a
reader sees either a finished run or none. Every read checks the checksums (of arrays.npz, and
of meta.json's own fields) and the key stored inside the files; a damaged run is reported with
its file named, moved aside and treated as missing. Runs recorded under other library versions
are refused unless the store is opened with ``accept_other_versions=True``.

Processes may share a store: a trainer claims a run (``claim``: a file lock under ``locks/``)
before training it and looks the run up again once it holds the claim, so each run is trained
once and a waiting process reads the other's result. The operating system releases a claim
when its holder dies, even by SIGKILL. ``try_claim`` takes a claim only when it is free, so
a pool of workers can skip runs another process holds. A full disk raises ``StoreWriteError`` naming what was
being written; nothing half-written is left behind. Stores trained apart (one per node where
the shared filesystem's locks are unreliable) are merged by ``pie_utils.merge``: each record is
read with ``verified_files``, which checks like a read but changes nothing, and written with
``commit``.

A store with ``manifest.json`` at its root is a published one (``pie_utils.publication`` writes
it, ``pie_utils.manifest`` reads it): it is read-only, only the records the manifest lists are
read, each file is checked against the manifest's sha256 first (a mismatch raises
``ManifestError`` naming the file, and nothing is moved aside), its float16 logits are widened
to float32 on read, and its records keep the library versions that trained them.
"""

from __future__ import annotations

import errno
import functools
import gzip
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import torch

import pie_utils
from pie_utils.manifest import ManifestError, load_manifest

# 2: kept models, per-epoch history, per-epoch dense logits, evaluations, device in the key and
# the thread count out of it (where it changes no arithmetic); every key of version 1 is invalid
FORMAT_VERSION = 2
KEY_FIELD = "__key__"
META_DIGEST_FIELD = "meta_sha256"  # sha256 of meta.json's other fields
ARRAYS_FILE, META_FILE, MODEL_FILE = "arrays.npz", "meta.json", "model.pt"
LOG_FILE = "training.log"  # the audit trail of what trained when (ResultsStore.log)
PROBABILITY_TOLERANCE = 1e-3  # largest change of a class probability a published float16 array may make
GZIP_MAGIC = b"\x1f\x8b"
RUNS, EVALUATIONS = "runs", "evaluations"  # the two kinds of record, each a folder of <key>/ folders
DIGEST_FIELDS = {ARRAYS_FILE: "arrays_sha256", MODEL_FILE: "model_sha256"}  # file → the meta field holding its sha256


@functools.cache  # read on every run read back; the versions do not change within a process
def library_versions() -> dict[str, str]:
    """Versions that change numerical results: recorded with every run (treat as read-only).

    transformers' version is read from its installed metadata (a declared dependency; the same
    string as ``transformers.__version__``), sparing a BiLSTM-only process its import.
    """
    return {
        "pie_utils": pie_utils.__version__,
        "torch": torch.__version__,
        "transformers": importlib.metadata.version("transformers"),
        "numpy": np.__version__,
    }


@functools.cache  # the processor does not change within a process
def _processor() -> dict[str, str]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:  # not Linux: platform's answer stands
        pass
    return {"cpu": model, "architecture": platform.machine(), "isa": torch.backends.cpu.get_cpu_capability()}


def machine_description() -> dict[str, Any]:
    """What of this machine can change a run's numbers without changing its key.

    ``cpu`` is the processor's model name, ``isa`` the vector instruction set PyTorch's CPU
    kernels dispatch to (``AVX512``, ``AVX2``, ``DEFAULT``; ``ATEN_CPU_CAPABILITY`` lowers it),
    ``threads`` the intra-op thread count now (in the key only where it changes the arithmetic).
    Recorded with every run, so two stores can be told apart before their numbers are compared.
    """
    return {**_processor(), "threads": torch.get_num_threads()}


def run_key(spec: dict[str, Any]) -> str:
    """sha256 (hex) of a run spec as canonical JSON, with the results-format version mixed in."""
    canonical = json.dumps(
        {"format_version": FORMAT_VERSION, "spec": spec}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class StoreWriteError(OSError):
    """A run could not be written (e.g. a full disk); nothing of it was stored."""


class StoreVersionError(RuntimeError):
    """A stored run was recorded under other library versions."""


class CorruptRunWarning(UserWarning):
    """A stored run failed verification; it was moved aside and will be recomputed."""


class DamagedRecordError(RuntimeError):
    """A stored record failed verification (``ResultsStore.verified_files``); the message names the file."""


@dataclass(frozen=True)
class StoredRun:
    """A finished run read back from the store.

    Attributes:
        key: the run's key.
        spec: the spec it was keyed by.
        metrics: scalar metrics (accuracy or macro-F1 per split, threshold, ...).
        meta: everything else recorded (versions, device, wall time, realised sparsity,
            ``history``: one entry per epoch trained with its training and validation loss and
            metric).
        arrays: name → array, e.g. ``test_logits[example, class]``.
    """

    key: str
    spec: dict[str, Any]
    metrics: dict[str, float]
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


class ResultsStore:
    """Finished runs and dense checkpoints under one folder; safe to share between processes."""

    def __init__(self, root: str | os.PathLike, accept_other_versions: bool = False, read_manifest: bool = True):
        """``read_manifest=False`` opens a published store as a plain one: only
        ``pie_utils.publication`` does, to add records beside the published ones."""
        self.root = Path(root)
        # a published store: read-only, every file checked against the manifest
        self.manifest = load_manifest(self.root) if read_manifest else None
        # a published run keeps the versions that trained it; the manifest vouches for its files
        self.accept_other_versions = accept_other_versions or self.manifest is not None

    # ---- runs and evaluations ----------------------------------------------------------------

    def run_dir(self, key: str, kind: str = RUNS) -> Path:
        return self.root / kind / key

    def has(self, key: str) -> bool:
        """True when a verified, finished run is stored under ``key``."""
        return self.read(key) is not None

    def read(self, key: str, kind: str = RUNS) -> StoredRun | None:
        """The verified run (or evaluation, ``kind=EVALUATIONS``) stored under ``key``, or None
        when absent or damaged.

        In a published store (one with a manifest) only what the manifest lists is read.

        Raises:
            StoreVersionError: the record was written under other library versions and the
                store was not opened with ``accept_other_versions``.
            ManifestError: a published file does not match the manifest (named).
        """
        folder = self.run_dir(key, kind)
        if self.manifest is not None:
            if self.manifest.entry(kind, key) is None:
                return None
            self.manifest.check(kind, key, folder)
        elif not folder.exists():
            return None
        try:
            run = self._read_verified(key, folder)
        except _Damaged as damage:
            if self.manifest is not None:  # never moved aside: git holds the published files
                raise ManifestError(str(damage)) from None
            self._quarantine(key, folder, str(damage))
            return None
        if not self.accept_other_versions and run.meta["versions"] != library_versions():
            raise StoreVersionError(
                f"run {key} in {folder} was recorded with {run.meta['versions']}, this is "
                f"{library_versions()}; use a new store, or accept_other_versions=True "
                "(--accept-other-versions) to mix them knowingly"
            )
        return run

    def write(
        self,
        key: str,
        spec: dict[str, Any],
        arrays: dict[str, np.ndarray],
        metrics: dict[str, float],
        meta: dict[str, Any],
        model_state: dict[str, Any] | None = None,
        kind: str = RUNS,
    ) -> bool:
        """Store a finished run (or evaluation) atomically, with its model's ``state_dict`` when
        given. Returns False if another writer finished it first.

        Arrays must be finite where they are logits; the caller checks that before calling.
        """
        payload = io.BytesIO()
        np.savez(payload, **arrays, **{KEY_FIELD: np.array(key)})
        files = {ARRAYS_FILE: payload.getvalue()}
        record = {
            "key": key,
            "spec": spec,
            "metrics": metrics,
            "arrays_sha256": hashlib.sha256(files[ARRAYS_FILE]).hexdigest(),
            "versions": library_versions(),
            "format_version": FORMAT_VERSION,
            **meta,
        }
        if model_state is not None:
            weights = io.BytesIO()
            torch.save({KEY_FIELD: key, "state": model_state}, weights)
            files[MODEL_FILE] = weights.getvalue()
            record["model_sha256"] = hashlib.sha256(files[MODEL_FILE]).hexdigest()
        return self.commit(key, files, record, kind)

    def commit(self, key: str, files: dict[str, bytes], record: dict[str, Any], kind: str = RUNS) -> bool:
        """Store a record atomically: ``files`` (name → bytes, ``arrays.npz`` and perhaps
        ``model.pt``, whose sha256 ``record`` holds) and ``record`` as meta.json, sealed with its
        own digest. Returns False if another writer finished the same key first."""
        self._refuse_writes(f"{'run' if kind == RUNS else 'evaluation'} {key}")
        scratch = self.root / "tmp" / f"{key}.{uuid.uuid4().hex}"
        try:
            scratch.mkdir(parents=True)
            for name, data in files.items():
                _write_synced(scratch / name, data)
            record = json.loads(json.dumps(record, default=_jsonable))  # plain JSON values, as read back
            record[META_DIGEST_FIELD] = _meta_digest(record)
            _write_synced(scratch / META_FILE, json.dumps(record, indent=1).encode())
            target = self.run_dir(key, kind)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(scratch, target)
            except OSError:
                if target.exists():  # another process finished the same run first
                    return False
                raise
            return True
        except (OSError, RuntimeError) as error:  # torch.save wraps a failed write in RuntimeError
            _raise_if_no_space(error, f"{'run' if kind == RUNS else 'evaluation'} {key} under {self.root}")
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def verified_files(self, key: str, kind: str = RUNS) -> tuple[dict[str, bytes], dict[str, Any]]:
        """The files of record ``key`` but meta.json (name → bytes: arrays.npz, and model.pt
        where it kept one) and its meta, checked as ``read`` and ``read_model`` check them.

        ``commit(key, files, meta, kind)`` writes the same record into another store (meta.json
        sealed again to the same digest). Unlike ``read`` it changes nothing: no version check,
        and a damaged record stays where it is.

        Raises:
            DamagedRecordError: a file is missing, unreadable or does not match its sha256 (named).
        """
        folder = self.run_dir(key, kind)
        try:
            meta = self._read_verified(key, folder).meta
            files = {
                name: _verified_bytes(folder / name, meta[field])
                for name, field in DIGEST_FIELDS.items()
                if field in meta
            }
        except _Damaged as damage:
            raise DamagedRecordError(str(damage)) from None
        return files, meta

    def add_model(self, key: str, model_state: dict[str, Any]) -> None:
        """Keep ``model_state`` with stored run ``key``, which kept none (``pie_utils.restoring``).

        model.pt is written beside the run first and its meta.json, sealed again with the model's
        sha256, replaces the old one last, so a reader sees the run with its model or without it,
        never half of it.

        Raises:
            ValueError: the run is not stored here, or kept a model already.
        """
        self._refuse_writes(f"the model of {key}")
        run = self.read(key)
        if run is None or "model_sha256" in run.meta:
            raise ValueError(f"run {key} of {self.root} " + ("kept a model already" if run else "is not stored"))
        meta, folder = dict(run.meta), self.run_dir(key)
        weights = io.BytesIO()
        torch.save({KEY_FIELD: key, "state": model_state}, weights)
        meta["model_sha256"] = hashlib.sha256(weights.getvalue()).hexdigest()
        meta[META_DIGEST_FIELD] = _meta_digest(meta)
        for name, data in ((MODEL_FILE, weights.getvalue()), (META_FILE, json.dumps(meta, indent=1).encode())):
            scratch = folder / f".{name}.{uuid.uuid4().hex}"
            try:
                _write_synced(scratch, data)
                os.replace(scratch, folder / name)
            except OSError as error:
                _raise_if_no_space(error, f"the model of {key} under {self.root}")
                raise
            finally:
                scratch.unlink(missing_ok=True)

    def read_model(self, key: str) -> dict[str, Any] | None:
        """The ``state_dict`` kept with run ``key``, or None when the run kept no model.

        Raises:
            RuntimeError: the file does not match the sha256 in the run's meta.json (named).
        """
        run = self.read(key)
        if run is None or "model_sha256" not in run.meta:
            return None
        path = self.run_dir(key) / MODEL_FILE
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != run.meta["model_sha256"]:
            raise RuntimeError(f"{path}: sha256 does not match its meta.json; remove the run folder to retrain it")
        if data[:2] == GZIP_MAGIC:  # published stores compress their few models
            data = gzip.decompress(data)
        saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return saved["state"]

    def keys(self, kind: str = RUNS) -> list[str]:
        """Keys of every run (or evaluation) folder present (verification happens on read)."""
        folder = self.root / kind
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def _refuse_writes(self, what: str) -> None:
        if self.manifest is not None:
            raise StoreWriteError(
                f"{self.root} is a published store (it has {self.manifest.path.name}) and is read-only: "
                f"{what} was not written; train into another store and publish it"
            )

    # ---- claims and the training log -------------------------------------------------------

    def claim(self, key: str) -> filelock.FileLock:
        """A lock on run ``key`` (``with store.claim(key): ...``) so that processes sharing the
        store train each run once: the second waits, then finds the run stored. The operating
        system releases it when its holder dies, even by SIGKILL."""
        self._refuse_writes(f"the claim on {key}")
        folder = self.root / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return filelock.FileLock(folder / f"{key}.lock")

    def try_claim(self, key: str) -> filelock.FileLock | None:
        """The claim on run ``key``, acquired, or None at once when another process holds it.

        Release it with ``lock.release()``; the operating system does when the holder dies.
        """
        lock = self.claim(key)
        try:
            lock.acquire(blocking=False)
        except filelock.Timeout:
            return None
        return lock

    def log(self, event: str, key: str, description: str) -> None:
        """Append ``<time> <pid> <event> <key> <description>`` to ``<root>/training.log``.

        One short ``O_APPEND`` write per line, so concurrent writers do not interleave within
        a line. It is an audit trail (what trained, when, where, and when it was paused), never read
        to decide what trains; ``pie_utils.training_log`` reads it back to account for the time.
        """
        self.append_log(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {os.getpid()} {event} {key} {description}\n")

    def append_log(self, lines: str) -> None:
        """Append ``lines`` (whole lines, each ending in a newline) to ``<root>/training.log`` in
        one ``O_APPEND`` write: ``log`` writes its line so, and a merge the lines of other stores' logs."""
        self._refuse_writes(f"the training log lines {lines.strip()[:80]!r}")
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(self.root / LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(descriptor, lines.encode())
            finally:
                os.close(descriptor)
        except OSError as error:
            _raise_if_no_space(error, f"the training log {self.root / LOG_FILE}")
            raise

    # ---- failed attempts -------------------------------------------------------------------

    def failure_path(self, key: str, kind: str = RUNS) -> Path:
        return self.root / "failures" / kind / f"{key}.json"

    def failed_attempts(self, key: str, kind: str = RUNS) -> list[dict[str, Any]]:
        """The recorded failed attempts at record ``key``, oldest first (``[]`` when none)."""
        path = self.failure_path(key, kind)
        return json.loads(path.read_text()) if path.exists() else []

    def record_failure(self, key: str, kind: str, error: str) -> int:
        """Add one failed attempt (``error``: its traceback) at record ``key``; returns how many
        are recorded. Called under the record's claim, so attempts are never lost to a race."""
        self._refuse_writes(f"the failure of {key}")
        attempts = self.failed_attempts(key, kind) + [
            {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": platform.node(), "pid": os.getpid(), "error": error}
        ]
        path = self.failure_path(key, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        temporary.write_text(json.dumps(attempts, indent=1))
        os.replace(temporary, path)  # a reader sees the old list or the new one
        return len(attempts)

    def clear_failures(self, key: str, kind: str = RUNS) -> None:
        """Forget the failed attempts at ``key`` (it is stored now, or training starts afresh)."""
        self.failure_path(key, kind).unlink(missing_ok=True)

    # ---- checkpoints -----------------------------------------------------------------------

    def checkpoint_path(self, key: str) -> Path:
        return self.root / "checkpoints" / f"{key}.pt"

    def save_checkpoint(self, key: str, state: dict[str, Any]) -> None:
        """Save ``state`` (tensors and plain values) atomically, tagged with ``key``."""
        self._refuse_writes(f"the checkpoint of {key}")
        path = self.checkpoint_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        try:
            with open(scratch, "wb") as handle:  # a Python file, so a full disk surfaces as OSError
                torch.save({KEY_FIELD: key, "state": state}, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(scratch, path)
        except (OSError, RuntimeError) as error:  # torch.save wraps a failed write in RuntimeError
            _raise_if_no_space(error, f"the dense checkpoint {path}")
            raise
        finally:
            scratch.unlink(missing_ok=True)

    def load_checkpoint(self, key: str) -> dict[str, Any] | None:
        """The checkpoint saved under ``key``, or None when absent or damaged (then removed)."""
        path = self.checkpoint_path(key)
        if not path.exists():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved[KEY_FIELD] != key:
                raise ValueError(f"holds the checkpoint of {saved[KEY_FIELD]}")
            return saved["state"]
        except Exception as error:  # any unreadable file is recomputed, never trusted
            warnings.warn(
                f"checkpoint {path} is damaged ({error}); it will be recomputed", CorruptRunWarning, stacklevel=2
            )
            path.unlink(missing_ok=True)
            return None

    # ---- verification ----------------------------------------------------------------------

    def _read_verified(self, key: str, folder: Path) -> StoredRun:
        try:
            meta = json.loads((folder / "meta.json").read_bytes())
        except (OSError, ValueError) as error:
            raise _Damaged(f"{folder / 'meta.json'}: unreadable ({error})") from None
        if not isinstance(meta, dict) or meta.get("key") != key:
            raise _Damaged(
                f"{folder / 'meta.json'}: holds the key {meta.get('key') if isinstance(meta, dict) else None}, not {key}"
            )
        if meta.get(META_DIGEST_FIELD) != _meta_digest(meta):
            raise _Damaged(f"{folder / 'meta.json'}: its contents do not match the sha256 recorded in it")
        try:
            data = (folder / "arrays.npz").read_bytes()
        except OSError as error:
            raise _Damaged(f"{folder / 'arrays.npz'}: unreadable ({error})") from None
        if hashlib.sha256(data).hexdigest() != meta.get("arrays_sha256"):
            raise _Damaged(f"{folder / 'arrays.npz'}: sha256 does not match meta.json")
        if "model_sha256" in meta and not (folder / MODEL_FILE).is_file():
            raise _Damaged(f"{folder / MODEL_FILE}: missing, though meta.json records it")
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            # float16 only in published stores, where it loses nothing a chapter reads
            arrays = {name: _widened(archive[name]) for name in archive.files}
        if str(arrays.pop(KEY_FIELD, "")) != key:
            raise _Damaged(f"{folder / 'arrays.npz'}: holds another run's key")
        return StoredRun(key=key, spec=meta["spec"], metrics=meta["metrics"], meta=meta, arrays=arrays)

    def _quarantine(self, key: str, folder: Path, reason: str) -> None:
        aside = self.root / "corrupt" / f"{key}.{time.strftime('%Y%m%dT%H%M%S')}.{uuid.uuid4().hex[:6]}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(folder, aside)
        except OSError:  # another process moved it first
            pass
        warnings.warn(
            f"damaged run: {reason}; moved to {aside}, it will be recomputed", CorruptRunWarning, stacklevel=3
        )


class _Damaged(Exception):
    """Internal: a run folder failed verification (message names the file)."""


def _raise_if_no_space(error: Exception, what: str) -> None:
    """Raise ``StoreWriteError`` naming ``what`` when ``error`` (or its cause) is a full disk or quota."""
    cause, seen = error, set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreWriteError(
                f"no space left on the device while writing {what}; nothing was stored "
                "for it (finished runs are intact): free space and run again to resume"
            ) from error
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__


def _verified_bytes(path: Path, sha256: str) -> bytes:
    """The bytes of ``path``, or ``_Damaged`` naming it when unreadable or not of ``sha256``."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise _Damaged(f"{path}: unreadable ({error})") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise _Damaged(f"{path}: sha256 does not match meta.json")
    return data


def _widened(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float32) if array.dtype == np.float16 else array


def _meta_digest(record: dict[str, Any]) -> str:
    """sha256 of a run record's canonical JSON, leaving out the digest field itself."""
    fields = {name: value for name, value in record.items() if name != META_DIGEST_FIELD}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
