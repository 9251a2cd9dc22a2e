"""The manifest of a published store: the hash every file of every run must have.

A published store (``results/published``) is a results store with ``manifest.json`` at its
root, written by ``pie_utils.publication``. ``ResultsStore`` loads it when present and then
reads only what it lists: before a run is used, each of its files is hashed and compared with
the manifest, and a file that does not match (or is missing) is refused with its name. Such a
store is read-only.

``manifest.json``::

    {"profile": ..., "format_version": ..., "totals": {...},
     "records": {"runs/<key>": {"study": [...], "method": ..., "sparsity": ..., "seed": ...,
                                "files": {"arrays.npz": {"sha256": ..., "bytes": ...}, ...},
                                "wall_time_s": ..., "paused_s": ..., "machine": {...},
                                "versions": {...}}, ...}}

Its own sha256 (``Manifest.digest``) names the published state in the chapters.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"


class ManifestError(RuntimeError):
    """A published file does not match the manifest, or the manifest is unreadable (named)."""


@dataclass(frozen=True)
class Manifest:
    """A loaded manifest.

    Attributes:
        path: the manifest file.
        content: its parsed JSON (see the module docstring).
        digest: sha256 (hex) of the file's bytes.
    """

    path: Path
    content: dict[str, Any]
    digest: str

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """``"<kind>/<key>"`` → the record's entry."""
        return self.content["records"]

    def entry(self, kind: str, key: str) -> dict[str, Any] | None:
        return self.records.get(f"{kind}/{key}")

    def check(self, kind: str, key: str, folder: Path) -> None:
        """Raise ``ManifestError`` naming the first file of ``folder`` that is missing or whose
        sha256 differs from the manifest's entry for ``kind/key``."""
        entry = self.entry(kind, key)
        if entry is None:
            raise ManifestError(f"{folder}: not listed in {self.path}; the published store does not use it")
        for name, expected in entry["files"].items():
            path = folder / name
            try:
                data = path.read_bytes()
            except OSError as error:
                raise ManifestError(f"{path}: listed in {self.path} but unreadable ({error})") from None
            if hashlib.sha256(data).hexdigest() != expected["sha256"]:
                raise ManifestError(
                    f"{path}: its sha256 does not match {self.path}; the run is refused "
                    "(restore the file with git, or publish the store again)"
                )


def load_manifest(root: str | os.PathLike) -> Manifest | None:
    """The manifest of the store at ``root``, or None when it has none (a training store)."""
    path = Path(root) / MANIFEST_FILE
    try:
        status = path.stat()
    except OSError:
        return None
    return _load(path, status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=8)  # stores are opened once per population read
def _load(path: Path, mtime_ns: int, size: int) -> Manifest:
    data = path.read_bytes()
    try:
        content = json.loads(data)
        content["records"]
    except (ValueError, KeyError, TypeError) as error:
        raise ManifestError(f"{path}: not a manifest ({error})") from None
    return Manifest(path=path, content=content, digest=hashlib.sha256(data).hexdigest())


def file_entry(data: bytes) -> dict[str, Any]:
    """What the manifest records of one file."""
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def write_manifest(root: str | os.PathLike, content: dict[str, Any]) -> Manifest:
    """Write ``content`` as ``root/manifest.json`` (atomically, keys sorted) and return it loaded."""
    path = Path(root) / MANIFEST_FILE
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(json.dumps(content, indent=1, sort_keys=True) + "\n")
    os.replace(scratch, path)
    return load_manifest(root)
