"""The hub datasets, from the tiny fixtures in tests/fixtures/data/ (written by
tests/fixtures/data/make_fixtures.py in the hub repositories' layouts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pie_utils.assets import AssetError
from pie_utils.data import (
    SPLIT_NAMES,
    load_dataset,
)
from pie_utils.errors import ParameterError

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def sizes(dataset):
    return tuple(len(dataset.split(s)) for s in SPLIT_NAMES)


def class_counts(split, num_classes):
    return np.bincount(split.labels, minlength=num_classes).tolist()


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
    everything = {
        t.split("\n")[0]: row for s in SPLIT_NAMES for t, row in zip(dataset.split(s).texts, dataset.split(s).labels)
    }
    assert everything["DELTA TO BUY EPSILON, PROFIT UP"].tolist() == [1, 1, 0, 0]
    assert everything["WHEAT TENDER"].tolist() == [0, 0, 1, 1]
    assert "BETA BUYS GAMMA\nBeta Inc said it agreed to acquire Gamma Ltd <GAM>.\n Reuter" in [
        t for s in SPLIT_NAMES for t in dataset.split(s).texts
    ]
    assert not any(
        title in everything for title in ("NOT MODAPTE", "UNUSED", "OIL OUTPUT CUT", "COCOA REVIEW", "MARKET REPORT")
    )


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
    ((repo_id, kwargs),) = calls
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
