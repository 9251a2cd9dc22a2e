"""(Re)generate the stored split files ``pie_utils/data/splits/<name>.json``.

Run once, commit the files, and never again unless a source changes::

    python -m pie_utils.data.make_splits            # every embedded dataset
    python -m pie_utils.data.make_splits movie-reviews
    python -m pie_utils.data.make_splits --check    # compare with the stored files, write nothing

How the splits are made (``splitting.stratified_assign``), after de-duplication:

- no official split (rotten-tomatoes, movie-reviews): 80 / 10 / 10 train / validation / test,
  stratified by class; all three id lists are stored.
- official train/test (reuters-r8, reuters-r52, 20newsgroups): the official test set is kept;
  10 % of the official train set, stratified by class, becomes validation; only the validation
  ids are stored.

Each held-out split gets round(N * fraction) examples, shared over the classes in proportion
to their sizes (largest remainders; every class keeps at least one training example, see
``splitting.allocate``). Inside each class the examples are ordered by sha256(salt + id); the
first ones go to test, the next to validation, the rest to train.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pie_utils.assets import ASSETS
from pie_utils.data.embedded import read_embedded
from pie_utils.data.registry import DATASETS, get_spec
from pie_utils.data.splitting import (
    NO_SPLIT_FRACTIONS,
    SPLIT_SALT,
    carve_validation,
    deduplicate,
    read_split_file,
    split_file_path,
    stratified_assign,
    write_split_file,
)


def make_assignment(name: str) -> tuple[dict[str, str], list[str], dict]:
    """The split of every id of embedded dataset ``name``, the splits to store, and metadata."""
    spec = get_spec(name)
    raw, _, note = read_embedded(get_spec(name))
    examples, report = deduplicate(raw)
    if spec.official_split:
        assignment = carve_validation(examples)
        stored = ["validation"]
        method = (
            "official train/test kept; validation = 10% of the de-duplicated official "
            "train split, per class (largest-remainder shares) in sha256(salt + id) order"
        )
    else:
        assignment = stratified_assign(examples.ids, examples.labels, NO_SPLIT_FRACTIONS)
        stored = ["train", "validation", "test"]
        method = (
            "80/10/10 stratified by class (largest-remainder shares), in sha256(salt + id) order, after de-duplication"
        )
    meta = {
        "dataset": name,
        "method": method,
        "source": f"{ASSETS[spec.asset].requirement}: {note}; {report.describe()}",
        "salt": SPLIT_SALT,
        "generated_by": "python -m pie_utils.data.make_splits",
    }
    return assignment, stored, meta


def stored_matches(name: str, assignment: dict[str, str], stored: list[str]) -> bool:
    """True when the stored file of ``name`` holds exactly these ids for the stored splits."""
    content = read_split_file(name)
    for split_name in stored:
        want = sorted(k for k, v in assignment.items() if v == split_name)
        if content["splits"].get(split_name) != want:
            return False
    return set(content["splits"]) == set(stored)


def main(argv: list[str] | None = None) -> int:
    embedded = [n for n, s in DATASETS.items() if s.kind == "embedded"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "names", nargs="*", default=[], help=f"datasets among {', '.join(embedded)} (default: all of them)"
    )
    parser.add_argument("--check", action="store_true", help="compare with the stored files and write nothing")
    parser.add_argument(
        "--out", type=Path, default=None, help="write into this folder instead of the package's splits/"
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in embedded]
    if unknown:
        parser.error(f"not embedded datasets: {', '.join(unknown)}; choose from {', '.join(embedded)}")
    status = 0
    for name in args.names or embedded:
        assignment, stored, meta = make_assignment(name)
        counts = {s: sum(1 for v in assignment.values() if v == s) for s in ("train", "validation", "test")}
        if args.check:
            ok = split_file_path(name).is_file() and stored_matches(name, assignment, stored)
            print(f"{name}: {'matches' if ok else 'DIFFERS from'} the stored file {counts}")
            status |= 0 if ok else 1
        else:
            path = write_split_file(name, assignment, stored, meta, folder=args.out)
            print(f"{name}: wrote {path.name} {counts}")
    return status


if __name__ == "__main__":
    sys.exit(main())
