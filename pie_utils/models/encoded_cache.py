"""Every split of a dataset encoded once per encoder, cached under ``cache_dir()/encoded/<sha256>.npz``
(written to a temporary name, then renamed, so a reader never sees half a file)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from pie_utils.assets import cache_dir
from pie_utils.data.types import SPLIT_NAMES, TextDataset
from pie_utils.models.encoding import TextEncoder
from pie_utils.models.ragged import EncodedSplit

CACHE_FORMAT = "1"


def encoded_cache_path(encoder: TextEncoder, dataset: TextDataset, root: Path | None = None) -> Path:
    """Where ``encode_dataset`` caches ``dataset`` under ``encoder``.

    The name is sha256 over the encoder fingerprint, ``dataset.fingerprint()`` (name, labels,
    ids) and the texts themselves (ids may be source ids, so a corrected text must not reuse
    stale ids).
    """
    digest = hashlib.sha256(f"{CACHE_FORMAT}\x1f{encoder.fingerprint}\x1f{dataset.fingerprint()}".encode())
    for name in SPLIT_NAMES:
        split = dataset.split(name)
        digest.update(f"\x1e{name}\x1f{len(split)}".encode())
        for text in split.texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\x1f")
        if split.text_pairs is not None:
            digest.update(b"\x1dpairs")
            for text in split.text_pairs:
                digest.update(text.encode("utf-8", "surrogatepass") + b"\x1f")
    root = root if root is not None else cache_dir() / "encoded"
    return root / f"{digest.hexdigest()}.npz"


def encode_dataset(
    encoder: TextEncoder, dataset: TextDataset, *, cache_root: Path | None = None, use_cache: bool = True
) -> dict[str, EncodedSplit]:
    """Encode the three splits of ``dataset``: ``{split name: EncodedSplit}``.

    Read from ``encoded_cache_path(...)`` when a finished file exists; otherwise encode and
    write it (temporary name, then ``os.replace``, so a reader never sees half a file).
    ``cache_root`` defaults to ``cache_dir()/encoded``; ``use_cache=False`` neither reads nor
    writes.
    """
    path = encoded_cache_path(encoder, dataset, cache_root)
    if use_cache and path.is_file():
        loaded = _read_cache(path, encoder.fingerprint)
        if loaded is not None:
            return loaded
    encoded = {name: encoder.encode(dataset.split(name), encoder.max_length) for name in SPLIT_NAMES}
    if use_cache:
        _write_cache(path, encoded, encoder.fingerprint)
    return encoded


def _write_cache(path: Path, encoded: dict[str, EncodedSplit], fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"fingerprint": np.array(fingerprint)}
    for name, split in encoded.items():
        arrays[f"{name}.tokens"] = split.tokens
        arrays[f"{name}.offsets"] = split.offsets
        arrays[f"{name}.pad_id"] = np.array(split.pad_id, dtype=np.int64)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_cache(path: Path, fingerprint: str) -> dict[str, EncodedSplit] | None:
    """The cached splits, or None when the file is unreadable or belongs to another encoder."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["fingerprint"]) != fingerprint:
                return None
            return {
                name: EncodedSplit(stored[f"{name}.tokens"], stored[f"{name}.offsets"], int(stored[f"{name}.pad_id"]))
                for name in SPLIT_NAMES
            }
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
