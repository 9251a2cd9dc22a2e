"""Ids, de-duplication, stratified splitting (pie_utils.data.splitting) and the parsed-dataset
cache (pie_utils.data.cache).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from pie_utils.data import (
    cache,
    load_dataset,
    splitting,
)

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def test_ids_ignore_whitespace_and_include_the_pair():
    assert splitting.example_id("a  good\nfilm ") == splitting.example_id("a good film")
    assert splitting.example_id("a", "b") != splitting.example_id("a b")
    assert splitting.example_id("a", "b") != splitting.example_id("b", "a")
    assert len(splitting.example_id("x")) == 16


def test_deduplicate_merges_copies_and_drops_conflicts():
    raw = splitting.RawExamples()
    for text, label, origin in [
        ("same text", 0, "train"),
        ("same  text", 0, "test"),
        ("torn", 0, "train"),
        ("torn", 1, "train"),
        ("other", 1, "train"),
    ]:
        raw.add(text, label, origin)
    examples, report = splitting.deduplicate(raw)
    assert examples.texts == ["same text", "other"]
    assert examples.origins == ["test", "train"]  # the copy in test wins
    assert (
        report.rows,
        report.duplicate_copies,
        report.conflicting_texts,
        report.conflicting_rows,
        report.cross_split,
        report.kept,
    ) == (5, 1, 1, 2, 1, 2)


def test_allocate_shares_held_out_examples_by_largest_remainder():
    counts = splitting.allocate({0: 10, 1: 5, 2: 1}, {"train": 0.8, "validation": 0.1, "test": 0.1})
    # 16 examples: 2 test and 2 validation; class 2 (one example) stays in train.
    assert counts == {
        0: {"test": 1, "validation": 1, "train": 8},
        1: {"test": 1, "validation": 1, "train": 3},
        2: {"test": 0, "validation": 0, "train": 1},
    }


def test_stratified_assign_does_not_depend_on_order():
    ids = [splitting.example_id(f"text {i}") for i in range(50)]
    labels = [i % 3 for i in range(50)]
    forward = splitting.stratified_assign(ids, labels, {"train": 0.8, "test": 0.2})
    backward = splitting.stratified_assign(ids[::-1], labels[::-1], {"train": 0.8, "test": 0.2})
    assert forward == backward
    assert Counter(forward.values()) == {"train": 40, "test": 10}


def test_cache_round_trip_and_a_damaged_cache_file_is_not_trusted(tmp_path):
    dataset = load_dataset("aapd", path=str(FIXTURES / "aapd"), cache=False)
    path = tmp_path / "aapd-key.parquet"
    cache.save_cached_dataset(dataset, path)
    assert [p.name for p in tmp_path.iterdir()] == ["aapd-key.parquet"]  # no temporary left
    back = cache.load_cached_dataset(path)
    assert back.fingerprint() == dataset.fingerprint()
    assert back.train.labels.dtype == np.uint8 and back.train.labels.shape == (10, 6)
    path.write_bytes(b"not a parquet file")
    assert cache.load_cached_dataset(path) is None
    assert cache.load_cached_dataset(tmp_path / "absent.parquet") is None
