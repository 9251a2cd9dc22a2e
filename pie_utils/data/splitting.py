"""From raw rows to a TextDataset with fixed splits: ids, de-duplication, stratified splits.

Every loader (embedded, hub, local) reads its source into ``RawExamples`` and hands them here:

1. ``example_id``: an example's id is the first 16 hex digits of the sha256 of its text with
   whitespace collapsed (for sentence pairs: premise, a unit separator, hypothesis). Ids do not
   depend on file order, so a stored run or a stored split can name examples by id.
2. ``deduplicate``: copies of one text (same id) are merged into one example. When the copies
   carry different labels every copy is dropped (the text has no single gold label). When copies
   sit in different official splits, the one in the evaluation split is kept (test before
   validation before train): no test text is lost to a training copy, and none leaks into train.
3. ``stratified_assign``: where a source has no split (or no validation split), examples are
   split per stratum (class) in the order of a salted hash of their ids. No random generator is
   involved: the same ids always give the same split, whatever order the file lists them in.
4. ``build_dataset``: examples are sorted by id inside each split and packed into a TextDataset.

Split files (``pie_utils/data/splits/<name>.json``) store the ids of each split for the embedded
datasets. They were written once by ``python -m pie_utils.data.make_splits`` and are read back at
load time (never recomputed), and checked: every stored id must exist and splits must be
disjoint.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from pie_utils.data.types import SPLIT_NAMES, Split, TextDataset
from pie_utils.errors import DataFileError

ID_LENGTH = 16
ID_PAIR_SEPARATOR = "\x1f"  # joins a pair's two texts in the key its id is hashed from
SPLIT_SALT = "pie-utils-split-v1"
# Evaluation splits win when a text sits in several official splits.
_SPLIT_PRIORITY = {"test": 0, "validation": 1, "train": 2, None: 3}

Label = int | tuple[int, ...]  # a class index, or the sorted class indices of a multilabel example


def normalise_text(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends (the text ids hash)."""
    return " ".join(text.split())


def example_id(text: str, text_pair: str | None = None) -> str:
    """First 16 hex digits of sha256 over the normalised text (and pair); stable across files."""
    key = normalise_text(text)
    if text_pair is not None:
        key = key + ID_PAIR_SEPARATOR + normalise_text(text_pair)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:ID_LENGTH]


class RawExamples:
    """Rows as read from a source, before de-duplication.

    Attributes:
        texts: ``[row]`` texts (premises for pair tasks).
        labels: ``[row]`` class index, or for multilabel a sorted tuple of class indices.
        text_pairs: ``[row]`` hypotheses for pair tasks (``pairs=True``), else None.
        origins: ``[row]`` official split of the row ("train", "validation", "test") or None.
    """

    def __init__(self, pairs: bool = False):
        self.texts: list[str] = []
        self.labels: list[Label] = []
        self.text_pairs: list[str] | None = [] if pairs else None
        self.origins: list[str | None] = []

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str, label: Label, origin: str | None = None, text_pair: str | None = None) -> None:
        """Append one row; ``text_pair`` is required exactly when the rows are pairs."""
        if (text_pair is None) != (self.text_pairs is None):
            raise ValueError("text_pair must be given for every row of a pair task, else never")
        self.texts.append(text)
        self.labels.append(label)
        self.origins.append(origin)
        if self.text_pairs is not None:
            self.text_pairs.append(text_pair)


@dataclass
class Examples:
    """De-duplicated examples keyed by id (same fields as RawExamples, plus ``ids``)."""

    ids: list[str]
    texts: list[str]
    labels: list[Label]
    text_pairs: list[str] | None
    origins: list[str | None]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class DedupReport:
    """What ``deduplicate`` dropped.

    Attributes:
        rows: rows read.
        duplicate_copies: extra copies of a text dropped (its first copy is kept).
        conflicting_texts: distinct texts whose copies disagree on the label (all copies dropped).
        conflicting_rows: rows dropped for that reason.
        cross_split: texts that sat in more than one official split (kept in the evaluation one).
    """

    rows: int
    duplicate_copies: int
    conflicting_texts: int
    conflicting_rows: int
    cross_split: int

    @property
    def kept(self) -> int:
        return self.rows - self.duplicate_copies - self.conflicting_rows

    def describe(self) -> str:
        text = (
            f"{self.rows} rows read, {self.duplicate_copies} duplicate copies dropped, "
            f"{self.conflicting_rows} rows of {self.conflicting_texts} texts with conflicting "
            f"labels dropped"
        )
        if self.cross_split:
            text += f", {self.cross_split} texts found in two official splits kept only in the evaluation split"
        return text + f", {self.kept} examples kept"


def deduplicate(raw: RawExamples) -> tuple[Examples, DedupReport]:
    """Merge rows with the same id; drop every copy of a text whose copies disagree on the label.

    The kept copy's text is the first one in file order; its split is the highest-priority
    official split among the copies (test, then validation, then train).
    """
    pairs = raw.text_pairs
    ids = [example_id(t, None if pairs is None else pairs[i]) for i, t in enumerate(raw.texts)]
    first: dict[str, int] = {}
    labels_seen: dict[str, set] = {}
    origin_of: dict[str, str | None] = {}
    origins_seen: dict[str, set] = {}
    for row, key in enumerate(ids):
        label, origin = raw.labels[row], raw.origins[row]
        if key not in first:
            first[key] = row
            labels_seen[key] = {label}
            origin_of[key] = origin
            origins_seen[key] = {origin}
        else:
            labels_seen[key].add(label)
            origins_seen[key].add(origin)
            if _SPLIT_PRIORITY[origin] < _SPLIT_PRIORITY[origin_of[key]]:
                origin_of[key] = origin
    counts = Counter(ids)
    conflicting = {key for key, labels in labels_seen.items() if len(labels) > 1}
    kept_rows = sorted(row for key, row in first.items() if key not in conflicting)
    examples = Examples(
        ids=[ids[r] for r in kept_rows],
        texts=[raw.texts[r].strip() for r in kept_rows],
        labels=[raw.labels[r] for r in kept_rows],
        text_pairs=None if pairs is None else [pairs[r].strip() for r in kept_rows],
        origins=[origin_of[ids[r]] for r in kept_rows],
    )
    conflicting_rows = sum(counts[key] for key in conflicting)
    report = DedupReport(
        rows=len(ids),
        duplicate_copies=sum(n - 1 for key, n in counts.items() if key not in conflicting),
        conflicting_texts=len(conflicting),
        conflicting_rows=conflicting_rows,
        cross_split=sum(1 for key, seen in origins_seen.items() if key not in conflicting and len(seen) > 1),
    )
    return examples, report


def strata(labels: Sequence[Label]) -> list[int]:
    """The stratum of each example: its class, or for multilabel its rarest class.

    For multilabel examples the rarest of its classes (fewest examples among ``labels``; ties go
    to the lower class index) is the stratum, so rare classes are spread over the splits; an
    example without any class gets stratum -1.
    """
    if not labels or isinstance(labels[0], (int, np.integer)):
        return [int(label) for label in labels]
    frequency = Counter(c for label in labels for c in label)
    return [min(label, key=lambda c: (frequency[c], c)) if label else -1 for label in labels]


def hash_order(ids: Iterable[str], salt: str = SPLIT_SALT) -> list[str]:
    """``ids`` sorted by sha256(salt + id): a fixed pseudo-random order that needs no seed."""
    return sorted(ids, key=lambda i: hashlib.sha256((salt + i).encode()).hexdigest())


def allocate(sizes: Mapping[int, int], fractions: Mapping[str, float]) -> dict[int, dict[str, int]]:
    """How many examples of each stratum go to each split named in ``fractions``.

    Each held-out split s (test first, then validation) gets round(N * fraction_s) examples in
    all (N = total size, halves rounding up), shared out over the strata in proportion to their
    sizes: floor(n_k * fraction_s) each, and the rest one by one to the strata with the largest
    remainders (ties: lower stratum first; then, if still short, to the largest strata). Every
    stratum keeps at least one example in train, so a stratum of one example stays in train.
    "train" gets what is left.
    """
    total = sum(sizes.values())
    keys = sorted(sizes)
    capacity = {k: max(sizes[k] - 1, 0) for k in keys}
    counts = {k: {} for k in keys}
    for split in [s for s in ("test", "validation") if s in fractions]:
        fraction = fractions[split]
        target = int(np.floor(total * fraction + 0.5))
        share = {k: sizes[k] * fraction for k in keys}
        quota = {k: min(int(np.floor(share[k])), capacity[k]) for k in keys}
        short = target - sum(quota.values())
        by_remainder = sorted(keys, key=lambda k: (-(share[k] - np.floor(share[k])), k))
        by_size = sorted(keys, key=lambda k: (-sizes[k], k))
        for k in by_remainder + by_size:
            if short <= 0:
                break
            if quota[k] < capacity[k]:
                quota[k] += 1
                short -= 1
        for k in keys:
            counts[k][split] = quota[k]
            capacity[k] -= quota[k]
    for k in keys:
        counts[k]["train"] = sizes[k] - sum(counts[k].values())
    return counts


NO_SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}  # sources without any split
CARVE_FRACTIONS = {"train": 0.9, "validation": 0.1}  # validation carved from a source's train split


def carve_validation(examples: RawExamples) -> dict[str, str]:
    """``{id: split}`` for examples that carry their source's split (``origins``).

    With no ``validation`` origin, 10 % of the ``train`` examples (stratified, in id-hash order:
    ``stratified_assign`` with ``CARVE_FRACTIONS``) become validation; every other example keeps
    its origin.
    """
    assignment: dict[str, str] = {}
    if "validation" not in set(examples.origins):
        train = [i for i, origin in enumerate(examples.origins) if origin == "train"]
        assignment = stratified_assign(
            [examples.ids[i] for i in train], [examples.labels[i] for i in train], CARVE_FRACTIONS
        )
    for key, origin in zip(examples.ids, examples.origins):
        assignment.setdefault(key, origin)
    return assignment


def stratified_assign(
    ids: Sequence[str], labels: Sequence[Label], fractions: Mapping[str, float], salt: str = SPLIT_SALT
) -> dict[str, str]:
    """Assign each id to a split, per stratum, in hash order; returns ``{id: split}``.

    ``fractions`` names "train" and any of "validation", "test". Per stratum (see ``strata``)
    ``allocate`` fixes the counts; the stratum's ids, ordered by ``hash_order``, go first to
    test, then to validation, the rest to train.
    """
    if "train" not in fractions or not set(fractions) <= set(SPLIT_NAMES):
        raise ValueError(f"fractions must name 'train' and only {SPLIT_NAMES}: {fractions}")
    by_stratum: dict[int, list[str]] = {}
    for key, stratum in zip(ids, strata(labels)):
        by_stratum.setdefault(stratum, []).append(key)
    counts = allocate({k: len(v) for k, v in by_stratum.items()}, fractions)
    assignment: dict[str, str] = {}
    for stratum, members in by_stratum.items():
        ordered = hash_order(members, salt)
        start = 0
        for name in ("test", "validation", "train"):
            take = counts[stratum].get(name, 0)
            for key in ordered[start : start + take]:
                assignment[key] = name
            start += take
    return assignment


def labels_array(labels: Sequence[Label], num_classes: int, multilabel: bool) -> np.ndarray:
    """``[example]`` int64 class indices, or ``[example, class]`` uint8 multi-hot."""
    if not multilabel:
        return np.asarray(labels, dtype=np.int64).reshape(len(labels))
    hot = np.zeros((len(labels), num_classes), dtype=np.uint8)
    for row, classes in enumerate(labels):
        hot[row, list(classes)] = 1
    return hot


def build_dataset(
    name: str,
    examples: Examples,
    assignment: Mapping[str, str],
    label_names: Sequence[str],
    multilabel: bool,
    max_length: int,
    source: str,
) -> TextDataset:
    """Pack examples into a TextDataset; ``assignment`` maps every id to its split.

    Inside each split examples are sorted by id, so the result does not depend on file order.
    """
    positions: dict[str, list[int]] = {name_: [] for name_ in SPLIT_NAMES}
    for row, key in enumerate(examples.ids):
        positions[assignment[key]].append(row)
    splits = {}
    for split_name, rows in positions.items():
        rows.sort(key=lambda r: examples.ids[r])
        splits[split_name] = Split(
            ids=tuple(examples.ids[r] for r in rows),
            texts=tuple(examples.texts[r] for r in rows),
            labels=labels_array([examples.labels[r] for r in rows], len(label_names), multilabel),
            text_pairs=None if examples.text_pairs is None else tuple(examples.text_pairs[r] for r in rows),
        )
    return TextDataset(
        name=name, label_names=tuple(label_names), multilabel=multilabel, max_length=max_length, source=source, **splits
    )


# ---------------------------------------------------------------------------------------------
# Stored split files
# ---------------------------------------------------------------------------------------------


def split_file_path(name: str) -> Path:
    """Where the stored split ids of embedded dataset ``name`` live (package data)."""
    return Path(str(resources.files("pie_utils.data") / "splits" / f"{name}.json"))


def read_split_file(name: str) -> dict:
    """Parse ``splits/<name>.json``; raise DataFileError naming the file when it is unusable."""
    path = split_file_path(name)
    label = f"split file splits/{name}.json of dataset {name!r}"
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataFileError(
            f"{label} is missing; regenerate it with `python -m pie_utils.data.make_splits {name}`"
        ) from None
    except json.JSONDecodeError as error:
        raise DataFileError(f"{label} is not valid JSON (line {error.lineno}): {error.msg}") from None
    splits = content.get("splits") if isinstance(content, dict) else None
    if not isinstance(splits, dict) or not splits:
        raise DataFileError(f"{label} has no 'splits' object")
    for split_name, ids in splits.items():
        if split_name not in SPLIT_NAMES:
            raise DataFileError(f"{label} names an unknown split {split_name!r}")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise DataFileError(f"{label}: split {split_name!r} is not a list of id strings")
    return content


def assignment_from_split_file(name: str, examples: Examples) -> dict[str, str]:
    """Map every example id to its split using the stored split file of ``name``.

    Sources without an official split store all three splits; sources with an official
    train/test split store only "validation" (ids carved from the official train split), and
    every other example keeps its official split. Raises DataFileError (naming the dataset and
    the file) when a stored id is not among the examples, a stored id sits in two splits, a
    stored validation id is not an official training example, or an example has no split.
    """
    content = read_split_file(name)
    label = f"split file splits/{name}.json of dataset {name!r}"
    known = dict(zip(examples.ids, examples.origins))
    assignment: dict[str, str] = {}
    for split_name, ids in content["splits"].items():
        missing = [i for i in ids if i not in known]
        if missing:
            raise DataFileError(
                f"{label}: {len(missing)} stored {split_name} ids are not in the loaded data "
                f"(first: {missing[0]}); the source changed or the file is stale"
            )
        for key in ids:
            if key in assignment:
                raise DataFileError(
                    f"{label}: id {key} is stored in both {assignment[key]!r} "
                    f"and {split_name!r}; splits must be disjoint"
                )
            if known[key] is not None and known[key] != "train":
                raise DataFileError(
                    f"{label}: stored {split_name} id {key} belongs to the official {known[key]!r} split"
                )
            assignment[key] = split_name
    for key, origin in known.items():
        if key not in assignment:
            if origin is None:
                raise DataFileError(
                    f"{label}: example {key} is in no stored split; the source changed or the file is stale"
                )
            assignment[key] = origin
    return assignment


def write_split_file(
    name: str,
    assignment: Mapping[str, str],
    stored_splits: Sequence[str],
    meta: Mapping[str, object],
    folder: Path | None = None,
) -> Path:
    """Write ``splits/<name>.json`` with the sorted ids of ``stored_splits``, one id per line."""
    folder = folder if folder is not None else split_file_path(name).parent
    folder.mkdir(parents=True, exist_ok=True)
    ids_of = {s: sorted(k for k, v in assignment.items() if v == s) for s in stored_splits}
    header = dict(meta)
    header["counts"] = {s: sum(1 for v in assignment.values() if v == s) for s in SPLIT_NAMES}
    lines = ["{"]
    for key, value in header.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True)},")
    lines.append('  "splits": {')
    for n, split_name in enumerate(stored_splits):
        body = ",\n".join(f"      {json.dumps(i)}" for i in ids_of[split_name])
        end = "," if n < len(stored_splits) - 1 else ""
        lines.append(f"    {json.dumps(split_name)}: [\n{body}\n    ]{end}")
    lines.append("  }")
    lines.append("}")
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
