"""What a results store holds, and what no profile refers to: the logic of ``store status`` and ``store gc``.

A store (``pie_utils.store``) only grows: a change of a study's parameters gives its runs new
keys and leaves the old records behind. ``referenced`` computes, for every profile, the keys its
studies refer to (runs, transfer evaluations, dense checkpoints) in each store they use;
``store_status`` and ``status_report`` sum a store up against them; ``garbage`` lists what no
profile refers to and ``collect`` removes it.

Removal errs on the side of keeping:

- a profile whose keys cannot be computed on this machine (hub data, assets or vectors missing,
  or a derived study's inputs not all stored, ``pie_utils.leave_group_out``) is *unavailable*,
  and a store it points to is refused whole: its records might be referenced;
- a store no profile refers to at all is refused too (its every record would look orphaned);
- a record is removed under its claim (``ResultsStore.try_claim``), so one a live process holds
  is skipped;
- ``tmp/`` entries younger than ``TMP_GRACE_S`` may be records being written: kept.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pie_utils import config
from pie_utils.assets import AssetError
from pie_utils.config import Study
from pie_utils.errors import DataFileError, ParameterError
from pie_utils.evaluation import evaluation_key, transfer_encoding
from pie_utils.leave_group_out import derived_studies
from pie_utils.manifest import load_manifest
from pie_utils.pruning import DENSE
from pie_utils.runs import prepare_data, study_key, study_runs
from pie_utils.store import EVALUATIONS, MODEL_FILE, RUNS, ResultsStore
from pie_utils.studies import MissingRunsError, load_study, study_names

# what keeps a profile's keys from being computed here (data, assets or vectors missing); any other error is a bug
UNAVAILABLE_ERRORS = (DataFileError, AssetError, ParameterError, OSError)
TMP_GRACE_S = 3600.0  # a tmp/ entry younger than this may be a record a live process is writing
# the store's other folders (ResultsStore spells them inline) and the models kept inside run folders
CHECKPOINTS, LOCKS, TMP, CORRUPT, MODELS = "checkpoints", "locks", "tmp", "corrupt", "models"
KINDS = (RUNS, EVALUATIONS, CHECKPOINTS, MODELS, LOCKS, TMP, CORRUPT)  # the rows of a status, in order
KEYED_FILES = {CHECKPOINTS: ".pt", LOCKS: ".lock"}  # folder → suffix of its <key><suffix> files
DERIVED = "derived studies"  # what an unavailable profile names when only its derived studies failed


# ---- what the profiles refer to --------------------------------------------------------------


@dataclass(frozen=True)
class StoreReferences:
    """The keys that studies refer to in one store.

    Attributes:
        runs: keys of run folders (``runs/<key>/``).
        evaluations: keys of evaluation folders (``evaluations/<key>/``) of studies with a transfer set.
        checkpoints: keys of dense checkpoints (``checkpoints/<key>.pt``): the studies' dense run keys.
    """

    runs: frozenset[str] = frozenset()
    evaluations: frozenset[str] = frozenset()
    checkpoints: frozenset[str] = frozenset()

    def keys(self, kind: str | None = None) -> frozenset[str]:
        """The referenced keys of ``kind`` (runs, evaluations, checkpoints), or of all three (None)."""
        if kind is None:
            return self.runs | self.evaluations | self.checkpoints
        return {RUNS: self.runs, EVALUATIONS: self.evaluations, CHECKPOINTS: self.checkpoints}[kind]

    def merged(self, other: StoreReferences) -> StoreReferences:
        """The keys of both."""
        return StoreReferences(
            self.runs | other.runs, self.evaluations | other.evaluations, self.checkpoints | other.checkpoints
        )


@dataclass(frozen=True)
class References:
    """What every profile refers to, by store, and which profiles could not say.

    Attributes:
        stores: resolved store root → the keys the profiles' studies refer to in it.
        unavailable: profile → why its keys could not be computed on this machine.
        unavailable_stores: unavailable profile → the resolved store roots its studies use, or None
            when even those are unknown (then it protects every store).
    """

    stores: dict[Path, StoreReferences] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    unavailable_stores: dict[str, frozenset[Path] | None] = field(default_factory=dict)

    def __post_init__(self):  # roots are compared resolved, however the caller spelled them
        object.__setattr__(self, "stores", {Path(root).resolve(): refs for root, refs in self.stores.items()})
        object.__setattr__(
            self,
            "unavailable_stores",
            {
                profile: None if roots is None else frozenset(Path(root).resolve() for root in roots)
                for profile, roots in self.unavailable_stores.items()
            },
        )

    def of(self, root: str | os.PathLike) -> StoreReferences:
        """The keys referred to in the store at ``root`` (none when no available profile uses it)."""
        return self.stores.get(Path(root).resolve(), StoreReferences())

    def protecting(self, root: str | os.PathLike) -> dict[str, str]:
        """Unavailable profile → reason, for each one that uses (or might use) the store at ``root``."""
        root = Path(root).resolve()
        return {
            profile: reason
            for profile, reason in self.unavailable.items()
            if self.unavailable_stores.get(profile) is None or root in self.unavailable_stores[profile]
        }


def referenced(profiles: Iterable[str] | None = None) -> References:
    """The keys every study of ``profiles`` (default: every profile) refers to, by store.

    A profile with a study whose keys cannot be computed here is listed in ``unavailable`` with
    the reason; the keys of its other studies are still recorded. Raises ``ParameterError`` for a
    profile name that does not exist.
    """
    stores: dict[Path, StoreReferences] = {}
    unavailable: dict[str, str] = {}
    unavailable_stores: dict[str, frozenset[Path] | None] = {}
    for profile in _profile_names(profiles):
        names = study_names(profile)
        failures: dict[str, str] = {}
        for name in names:
            try:
                root, refs = study_references(load_study(profile, name))
            except UNAVAILABLE_ERRORS as error:
                failures[name] = _one_line(error)
                continue
            stores[root] = stores.get(root, StoreReferences()).merged(refs)
        if not failures:  # a derived study's keys need the studies it derives from stored
            try:
                for study in derived_studies(profile).values():
                    root, refs = study_references(study)
                    stores[root] = stores.get(root, StoreReferences()).merged(refs)
            except (MissingRunsError, *UNAVAILABLE_ERRORS) as error:
                failures[DERIVED] = _one_line(error)
        if failures:
            first, reason = next(iter(failures.items()))
            unavailable[profile] = (
                f"its {DERIVED} cannot compute their keys: {reason}"
                if first == DERIVED
                else f"{len(failures)} of {len(names)} studies cannot compute their keys; {first}: {reason}"
            )
            unavailable_stores[profile] = profile_stores(profile)
    return References(stores, unavailable, unavailable_stores)


def study_references(study: Study) -> tuple[Path, StoreReferences]:
    """The resolved store root of ``study`` and the keys it refers to there.

    Raises one of ``UNAVAILABLE_ERRORS`` when its data, assets or vectors are missing here.
    """
    prepared = prepare_data(study, encode=False)  # keys need the data and the encoder, not the token ids
    keys = {run: study_key(study, prepared, *run) for run in study_runs(study)}
    dense = frozenset(key for (method, _, _), key in keys.items() if method == DENSE)
    evaluations: frozenset[str] = frozenset()
    if study.transfer is not None:
        transfer = transfer_encoding(prepared, encode=False)
        evaluations = frozenset(evaluation_key(key, transfer) for key in keys.values())
    return Path(study.store).resolve(), StoreReferences(frozenset(keys.values()), evaluations, dense)


def profile_stores(profile: str) -> frozenset[Path] | None:
    """The resolved store roots of every study of ``profile``, or None when a study cannot even be loaded."""
    try:
        return frozenset(Path(load_study(profile, name).store).resolve() for name in study_names(profile))
    except UNAVAILABLE_ERRORS:
        return None


def _profile_names(profiles: Iterable[str] | None) -> list[str]:
    every = config.profiles()
    names = list(every) if profiles is None else list(profiles)
    for name in names:
        if name not in every:
            raise ParameterError("profile", name, sorted(every))
    return names


def _one_line(error: Exception) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0] if message else ''}"


# ---- what a store holds ----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One thing in a store.

    Attributes:
        kind: the folder it is in (runs, evaluations, checkpoints, locks, tmp, corrupt) or
            ``models`` (a run's model.pt, also counted in its run folder).
        path: the folder or file.
        key: the store key it belongs to; None in tmp/ and corrupt/.
        size: bytes, of every file in it.
        orphaned: True when no profile refers to it (tmp/: when older than ``TMP_GRACE_S``; corrupt/: always).
    """

    kind: str
    path: Path
    key: str | None
    size: int
    orphaned: bool


def inventory(root: str | os.PathLike, refs: References, now: float | None = None) -> list[Entry]:
    """Every entry of the store at ``root`` (nothing for a folder that is absent), each marked
    orphaned or not against ``refs``; ``now`` (seconds since the epoch) dates the tmp/ entries."""
    root = Path(root)
    known = refs.of(root)
    now = time.time() if now is None else now
    entries = []
    for kind in (RUNS, EVALUATIONS):
        for path in _children(root / kind):
            orphaned = path.name not in known.keys(kind)
            entries.append(Entry(kind, path, path.name, _size(path), orphaned))
            if kind == RUNS and (path / MODEL_FILE).is_file():
                entries.append(Entry(MODELS, path / MODEL_FILE, path.name, _size(path / MODEL_FILE), orphaned))
    for kind, suffix in KEYED_FILES.items():
        for path in _children(root / kind):
            if path.name.startswith(".") or not path.name.endswith(suffix):
                continue  # a checkpoint being written (.<key>.pt.<hex>), or nothing of the store's
            key = path.name.removesuffix(suffix)
            # a lock belongs to its key whatever the record is; a checkpoint only to a referenced dense run
            orphaned = key not in (known.keys() if kind == LOCKS else known.keys(CHECKPOINTS))
            entries.append(Entry(kind, path, key, _size(path), orphaned))
    for path in _children(root / TMP):
        entries.append(Entry(TMP, path, None, _size(path), now - _newest_mtime(path) > TMP_GRACE_S))
    for path in _children(root / CORRUPT):
        entries.append(Entry(CORRUPT, path, None, _size(path), True))
    return entries


def _children(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _files(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else every file below it (links not followed)."""
    if not path.is_dir() or path.is_symlink():
        return [path]
    return [Path(folder) / name for folder, _, names in os.walk(path) for name in names]


def _stats(paths: list[Path]) -> list[os.stat_result]:
    """``lstat`` of each path, leaving out those gone meanwhile (a live write renamed out of tmp/)."""
    stats = []
    for path in paths:
        try:
            stats.append(path.lstat())
        except FileNotFoundError:
            pass
    return stats


def _size(path: Path) -> int:
    return sum(stat.st_size for stat in _stats(_files(path)))


def _newest_mtime(path: Path) -> float:
    """The latest modification under ``path`` (a folder's own mtime misses writes into its files);
    infinitely recent when it is gone, so that a vanished entry never counts as stale."""
    return max((stat.st_mtime for stat in _stats([path, *_files(path)])), default=math.inf)


# ---- status ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreStatus:
    """A store summed up against what the profiles refer to.

    Attributes:
        root: the store's root.
        counts: kind → (referenced count, referenced bytes, orphaned count, orphaned bytes). In
            tmp/ a fresh entry counts as referenced (it may be a live write), a stale one as
            orphaned; everything in corrupt/ is orphaned; models are also counted in runs.
        format_versions: results-format version → how many run and evaluation records carry it
            (``unreadable`` for a meta.json that cannot be read).
        pie_utils_versions: pie_utils version → how many records were written by it.
        protected_by: unavailable profile → reason, for each one that keeps ``store gc`` off this store.
    """

    root: Path
    counts: dict[str, tuple[int, int, int, int]]
    format_versions: dict[str, int]
    pie_utils_versions: dict[str, int]
    protected_by: dict[str, str]

    @property
    def orphaned_entries(self) -> int:
        """How many entries are orphaned: what ``store gc`` would remove (models go with their runs)."""
        return sum(counts[2] for kind, counts in self.counts.items() if kind != MODELS)

    @property
    def orphaned_bytes(self) -> int:
        """Bytes of everything orphaned (models counted once, inside their runs)."""
        return sum(counts[3] for kind, counts in self.counts.items() if kind != MODELS)

    def table(self) -> pd.DataFrame:
        """One row per kind: referenced, referenced_bytes, orphaned, orphaned_bytes (index: kind)."""
        columns = ["referenced", "referenced_bytes", "orphaned", "orphaned_bytes"]
        frame = pd.DataFrame.from_dict(self.counts, orient="index", columns=columns)
        frame.index.name = "kind"
        return frame


def store_status(root: str | os.PathLike, refs: References) -> StoreStatus:
    """The counts, bytes and versions of the store at ``root`` against ``refs`` (a ``StoreStatus``)."""
    root = Path(root).resolve()
    entries = inventory(root, refs)
    counts = {kind: _counts([entry for entry in entries if entry.kind == kind]) for kind in KINDS}
    records = [entry.path for entry in entries if entry.kind in (RUNS, EVALUATIONS)]
    formats, versions = _versions(records)
    return StoreStatus(root, counts, formats, versions, refs.protecting(root))


def status_report(root: str | os.PathLike, refs: References) -> str:
    """``store_status`` as a short text report: a table of kinds, the versions present, and
    what ``store gc`` would free (or why it would refuse)."""
    status = store_status(root, refs)
    lines = [f"store {status.root}", f"{'':16} {'referenced':>20} {'orphaned':>20}"]
    for kind, (kept, kept_bytes, orphans, orphan_bytes) in status.counts.items():
        label = f"{kind} (in runs)" if kind == MODELS else kind
        lines.append(
            f"{label:16} {_count_and_bytes(kept, kept_bytes):>20} {_count_and_bytes(orphans, orphan_bytes):>20}"
        )
    lines.append(f"format versions: {_tally(status.format_versions)}")
    lines.append(f"pie_utils versions: {_tally(status.pie_utils_versions)}")
    lines.append(f"orphaned in all: {status.orphaned_entries} entries, {_human_bytes(status.orphaned_bytes)}")
    for profile, reason in status.protected_by.items():
        lines.append(f"store gc refuses this store: profile {profile} is unavailable here ({reason})")
    if not status.protected_by and not refs.of(status.root).keys():
        lines.append("store gc refuses this store: no profile refers to it")
    return "\n".join(lines)


def _counts(entries: list[Entry]) -> tuple[int, int, int, int]:
    kept = [entry.size for entry in entries if not entry.orphaned]
    orphans = [entry.size for entry in entries if entry.orphaned]
    return len(kept), sum(kept), len(orphans), sum(orphans)


def _versions(records: list[Path]) -> tuple[dict[str, int], dict[str, int]]:
    """Tallies of format version and pie_utils version over the meta.json of ``records``.

    Read directly, not through ``ResultsStore.read``, which refuses other versions and moves damaged records aside.
    """
    formats, versions = Counter(), Counter()
    for folder in records:
        try:
            meta = json.loads((folder / "meta.json").read_bytes())
            formats[str(meta["format_version"])] += 1
            versions[str(meta["versions"]["pie_utils"])] += 1
        except (OSError, ValueError, KeyError, TypeError):
            formats["unreadable"] += 1
            versions["unreadable"] += 1
    return dict(sorted(formats.items())), dict(sorted(versions.items()))


def _count_and_bytes(count: int, size: int) -> str:
    return f"{count} ({_human_bytes(size)})"


def _tally(counts: dict[str, int]) -> str:
    return ", ".join(f"{value} ×{count}" for value, count in counts.items()) or "none"


def _human_bytes(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    exponent = min(int(math.log10(size) // 3), 4)  # kB, MB, GB or TB
    return f"{size / 1000**exponent:.1f} {('kB', 'MB', 'GB', 'TB')[exponent - 1]}"


# ---- garbage collection ----------------------------------------------------------------------


def garbage(root: str | os.PathLike, refs: References) -> list[Path]:
    """The paths ``store gc`` would remove from the store at ``root``, sorted: orphaned run,
    evaluation and checkpoint entries, locks of orphaned keys, everything in corrupt/ and tmp/
    entries older than ``TMP_GRACE_S``.

    Raises ``ParameterError`` (nothing is listed) when an unavailable profile uses or might use
    the store, or when no profile refers to it.
    """
    return sorted(entry.path for entry in _removable(root, refs))


def collect(root: str | os.PathLike, refs: References, dry_run: bool = True) -> tuple[list[Path], int]:
    """Remove ``garbage(root, refs)`` unless ``dry_run``; the paths and their total bytes.

    With ``dry_run`` (the default) nothing changes and the paths are those ``garbage`` lists.
    Otherwise they are the paths removed: an entry with a key is removed under the key's claim,
    and skipped, with its lock, when another process holds it. Raises as ``garbage`` does.
    """
    entries = _removable(root, refs)
    if not dry_run:
        entries = _remove(ResultsStore(root), entries, refs.of(root))
    return sorted(entry.path for entry in entries), sum(entry.size for entry in entries)


def _removable(root: str | os.PathLike, refs: References) -> list[Entry]:
    _refuse_if_protected(Path(root), refs)
    return [entry for entry in inventory(root, refs) if entry.orphaned and entry.kind != MODELS]


def _refuse_if_protected(root: Path, refs: References) -> None:
    if load_manifest(root) is not None:
        raise ParameterError(
            "store", str(root), "a training store: a published one (with a manifest) changes only by `store publish`"
        )
    protecting = refs.protecting(root)
    if protecting:
        reasons = "; ".join(
            f"profile {profile} is unavailable here ({reason})" for profile, reason in protecting.items()
        )
        raise ParameterError("store", str(root), f"a store no unavailable profile may use: {reasons}")
    if not refs.of(root).keys():  # every record would look orphaned, e.g. a store of a profile left out of refs
        raise ParameterError("store", str(root), f"a store a profile refers to: {', '.join(map(str, refs.stores))}")


def _remove(store: ResultsStore, entries: list[Entry], known: StoreReferences) -> list[Entry]:
    """Remove ``entries``; those actually removed. Keyed ones go by key, each under its claim."""
    removed = [entry for entry in entries if entry.key is None and _delete(entry.path)]
    by_key: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.key is not None:
            by_key.setdefault(entry.key, []).append(entry)
    for key, group in by_key.items():
        removed += _remove_claimed(store, key, group, orphaned_key=key not in known.keys())
    return removed


def _remove_claimed(store: ResultsStore, key: str, group: list[Entry], orphaned_key: bool) -> list[Entry]:
    """Remove one key's entries while holding its claim; none when another process holds it."""
    claim = store.try_claim(key)  # creates locks/<key>.lock when absent
    if claim is None:
        return []
    try:
        removed = [entry for entry in group if entry.kind != LOCKS and _delete(entry.path)]
        if orphaned_key:  # its lock, listed or made by the claim just taken; unlinked while held
            lock = next((entry for entry in group if entry.kind == LOCKS), None)
            if _delete(store.root / LOCKS / f"{key}{KEYED_FILES[LOCKS]}") and lock is not None:
                removed.append(lock)
        return removed
    finally:
        claim.release()


def _delete(path: Path) -> bool:
    """Remove a folder or file; False when it is already gone (another gc got there first)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    return True
