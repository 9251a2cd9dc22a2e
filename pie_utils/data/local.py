"""A user's own data file: CSV, Parquet or JSONL with text and label columns.

Columns:

- ``text``, or ``premise`` and ``hypothesis`` for a sentence-pair task;
- ``label`` (or ``labels``): one label per row, or a list of labels per row for a multilabel
  task (a JSON list such as ``["a", "b"]`` in a CSV cell, a native list in Parquet / JSONL);
- optional ``split``: ``train``, ``validation`` or ``test``. Without it the examples are split
  80/10/10, per class (for multilabel: per rarest class), in sha256(salt + id) order; with it and
  no ``validation`` rows, 10 % of train becomes validation the same way.

Labels: strings are class names; label names are sorted (``str`` order) unless ``label_names``
is given, which fixes the class order and refuses any other label. Integers (or CSV cells that
are all integer literals) are class indices when ``label_names`` is given (0 .. len-1), else
their sorted distinct values name the classes.

Every check runs before a dataset is returned; a failed one raises ``DataFileError`` whose
message names the file and the row (1 = first data row) or the column: an empty file, a
missing column, bytes that are not UTF-8 (with the line and byte offset), an empty text, a
missing label, a label outside ``label_names``, a single class, an unknown split value.
Duplicate texts are merged as for every dataset (``splitting.deduplicate``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

from pie_utils.assets import sha256_of
from pie_utils.data.splitting import (
    NO_SPLIT_FRACTIONS,
    RawExamples,
    build_dataset,
    carve_validation,
    deduplicate,
    stratified_assign,
)
from pie_utils.data.types import SPLIT_NAMES, TextDataset
from pie_utils.errors import DataFileError, ParameterError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}
_INTEGER = re.compile(r"[+-]?\d+")
_NEEDED = "needs a 'text' column (or 'premise' and 'hypothesis') and a 'label' column"


def load_local_file(path: str | Path, *, max_length: int, label_names: Sequence[str] | None = None) -> TextDataset:
    """Read, check and split a local CSV / Parquet / JSONL file (see the module docstring).

    Args:
        path: the file; its suffix (.csv, .parquet, .jsonl) selects the format.
        label_names: the allowed labels in class-index order; None derives them from the data.
        max_length: token budget for BERT-style encoders (the registry's ``local`` entry).

    Returns:
        A TextDataset named after the file, ``multilabel`` when labels are lists, with
        ``text_pairs`` when the file has premise/hypothesis columns.
    """
    path = Path(path)
    shown = str(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ParameterError("path", shown, "a file ending in " + ", ".join(FORMATS))
    if not path.is_file():
        raise DataFileError(f"{shown}: no such file")
    if path.stat().st_size == 0:
        raise DataFileError(f"{shown}: the file is empty")
    if label_names is not None:
        label_names = tuple(str(n) for n in label_names)
        if len(set(label_names)) != len(label_names) or len(label_names) < 2:
            raise ParameterError("label_names", label_names, "at least two distinct names")
    columns = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}[kind](path)
    raw, names, has_split = _examples(columns, shown, label_names, csv_cells=kind == "csv")
    multilabel = bool(raw.labels) and isinstance(raw.labels[0], tuple)
    examples, report = deduplicate(raw)
    if has_split:
        assignment = carve_validation(examples)
        how = "split column" + (
            "" if "validation" in examples.origins else "; validation = 10% of train (stratified, id-hash order)"
        )
    else:
        assignment = stratified_assign(examples.ids, examples.labels, NO_SPLIT_FRACTIONS)
        how = "no split column: 80/10/10 stratified, id-hash order"
    counts = {s: sum(1 for v in assignment.values() if v == s) for s in SPLIT_NAMES}
    empty = [s for s in SPLIT_NAMES if counts[s] == 0]
    if empty:
        where = "column 'split'" if has_split else f"{len(examples)} distinct examples"
        raise DataFileError(
            f"{shown}: split(s) {', '.join(empty)} would be empty ({where}); every split needs at least one example"
        )
    source = f"local file {path.name} (sha256 {sha256_of(path)[:16]}); {report.describe()}; {how}"
    return build_dataset(path.name, examples, assignment, names, multilabel, max_length, source)


# ---------------------------------------------------------------------------------------------
# Readers: file -> {column: [value per row]}
# ---------------------------------------------------------------------------------------------


def _decode(data: bytes, shown: str) -> str:
    """UTF-8 text of ``data`` (a leading BOM dropped), or DataFileError with line and offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataFileError(
            f"{shown}: not UTF-8: byte 0x{data[error.start]:02x} at byte offset "
            f"{error.start} (line {line}) cannot be decoded"
        ) from None


def _read_csv(path: Path) -> dict[str, list]:
    shown = str(path)
    text = _decode(path.read_bytes(), shown)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataFileError(f"{shown}: the file is empty (no header row)")
        header = [h.strip() for h in header]
        columns: dict[str, list] = {h: [] for h in header}
        if len(columns) != len(header):
            raise DataFileError(f"{shown}: header row names a column twice: {header}")
        row_number = 0
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            row_number += 1
            if len(row) != len(header):
                raise DataFileError(
                    f"{shown}: row {row_number} (line {reader.line_num}) has "
                    f"{len(row)} fields; the header has {len(header)}"
                )
            for name, value in zip(header, row):
                columns[name].append(value)
    except csv.Error as error:
        raise DataFileError(f"{shown}: not a readable CSV file: {error}") from None
    return columns


def _read_jsonl(path: Path) -> dict[str, list]:
    shown = str(path)
    data = path.read_bytes()
    records = []
    offset = 0
    for line_number, line in enumerate(data.split(b"\n"), start=1):
        try:
            content = line.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise DataFileError(
                f"{shown}: not UTF-8: byte 0x{line[error.start]:02x} at byte "
                f"offset {offset + error.start} (line {line_number}) cannot be "
                f"decoded"
            ) from None
        offset += len(line) + 1
        if not content.strip():
            continue
        try:
            record = json.loads(content)
        except json.JSONDecodeError as error:
            raise DataFileError(f"{shown}: line {line_number} is not valid JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise DataFileError(f"{shown}: line {line_number} is not a JSON object")
        records.append(record)
    if not records:
        raise DataFileError(f"{shown}: the file is empty (no JSON lines)")
    names = list(dict.fromkeys(k for r in records for k in r))
    return {name: [r.get(name) for r in records] for name in names}


def _read_parquet(path: Path) -> dict[str, list]:
    import pyarrow.parquet as pq

    shown = str(path)
    try:
        table = pq.read_table(path)
    except Exception as error:
        raise DataFileError(f"{shown}: not a readable parquet file: {error}") from None
    columns = {}
    for name in table.column_names:
        values = table.column(name).to_pylist()
        for row, value in enumerate(values, start=1):
            if isinstance(value, bytes):  # a binary column: must still hold UTF-8 text
                try:
                    values[row - 1] = value.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise DataFileError(
                        f"{shown}: row {row}, column {name!r}: not UTF-8 at byte offset {error.start} of the value"
                    ) from None
        columns[name] = values
    return columns


# ---------------------------------------------------------------------------------------------
# Checks: columns -> RawExamples
# ---------------------------------------------------------------------------------------------


def _examples(
    columns: dict[str, list], shown: str, label_names: tuple[str, ...] | None, csv_cells: bool
) -> tuple[RawExamples, tuple[str, ...], bool]:
    found = ", ".join(repr(c) for c in columns) or "none"
    pairs = "text" not in columns and ("premise" in columns or "hypothesis" in columns)
    text_columns = ["premise", "hypothesis"] if pairs else ["text"]
    label_column = "label" if "label" in columns else "labels" if "labels" in columns else None
    missing = [c for c in text_columns if c not in columns]
    if label_column is None:
        missing.append("label")
    if missing:
        raise DataFileError(
            f"{shown}: missing column(s) {', '.join(repr(m) for m in missing)}; the file {_NEEDED}; found: {found}"
        )
    n_rows = len(columns[label_column])
    if n_rows == 0:
        raise DataFileError(f"{shown}: the file has a header but no rows")
    for column in text_columns:
        for row, value in enumerate(columns[column], start=1):
            if not isinstance(value, str) or not value.strip():
                raise DataFileError(f"{shown}: row {row}: empty or missing text in column {column!r}")
    values = [
        _parse_label(v, shown, row, label_column, csv_cells) for row, v in enumerate(columns[label_column], start=1)
    ]
    multilabel = isinstance(values[0], list)
    for row, value in enumerate(values, start=1):
        if isinstance(value, list) != multilabel:
            raise DataFileError(f"{shown}: row {row}, column {label_column!r}: mixes single labels and label lists")
    flat = [v for value in values for v in (value if multilabel else [value])]
    integers = all(isinstance(v, int) for v in flat)
    if csv_cells and not integers and all(isinstance(v, str) and _INTEGER.fullmatch(v.strip()) for v in flat):
        values = [[int(v) for v in value] if multilabel else int(value) for value in values]
        flat, integers = [int(v) for v in flat], True
    if not integers:  # class names are strings, whatever type each cell had
        values = [[str(v) for v in value] if multilabel else str(value) for value in values]
        flat = [str(v) for v in flat]
    names, index = _label_index(flat, integers, label_names, values, multilabel, shown, label_column)
    if len({v for v in flat}) < 2:
        only = flat[0] if flat else None
        raise DataFileError(
            f"{shown}: column {label_column!r} holds a single class ({only!r}); a classifier needs at least two"
        )
    has_split = "split" in columns
    origins: list[str | None] = [None] * n_rows
    if has_split:
        for row, value in enumerate(columns["split"], start=1):
            if value not in SPLIT_NAMES:
                raise DataFileError(
                    f"{shown}: row {row}, column 'split': {value!r} is not one of {', '.join(SPLIT_NAMES)}"
                )
        origins = list(columns["split"])
    raw = RawExamples(pairs=pairs)
    for row in range(n_rows):
        value = values[row]
        label = tuple(sorted({index[v] for v in value})) if multilabel else index[value]
        if pairs:
            raw.add(columns["premise"][row], label, origins[row], text_pair=columns["hypothesis"][row])
        else:
            raw.add(columns["text"][row], label, origins[row])
    return raw, names, has_split


def _parse_label(value, shown: str, row: int, column: str, csv_cells: bool):
    """One cell of the label column: a str / int label, or a list of them."""
    if csv_cells and isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise DataFileError(
                f"{shown}: row {row}, column {column!r}: {value!r} looks like a list but is not valid JSON"
            ) from None
    if isinstance(value, (list, tuple)):
        labels = [_single_label(v, shown, row, column) for v in value]
        if not labels:
            raise DataFileError(f"{shown}: row {row}, column {column!r}: empty label list")
        return labels
    return _single_label(value, shown, row, column)


def _single_label(value, shown: str, row: int, column: str):
    if isinstance(value, bool) or value is None or (isinstance(value, float) and value != value):
        raise DataFileError(f"{shown}: row {row}, column {column!r}: missing label")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise DataFileError(f"{shown}: row {row}, column {column!r}: missing or unusable label {value!r}")


def _label_index(
    flat: list,
    integers: bool,
    label_names: tuple[str, ...] | None,
    values: list,
    multilabel: bool,
    shown: str,
    column: str,
):
    """(label names, {label value: class index}); refuses labels outside ``label_names``."""
    if label_names is None:
        distinct = sorted(set(flat))
        return tuple(str(v) for v in distinct), {v: i for i, v in enumerate(distinct)}
    if integers:
        allowed = range(len(label_names))
        index = {i: i for i in allowed}
        describe = f"class indices 0..{len(label_names) - 1}"
    else:
        index = {name: i for i, name in enumerate(label_names)}
        describe = ", ".join(repr(n) for n in label_names)
    for row, value in enumerate(values, start=1):
        for v in value if multilabel else [value]:
            if v not in index:
                raise DataFileError(
                    f"{shown}: row {row}, column {column!r}: label {v!r} is not "
                    f"among the given label_names ({describe})"
                )
    return label_names, index
