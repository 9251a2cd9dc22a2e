"""Stratified, seeded subsets of a dataset (pie_utils.data.subset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pie_utils.data import (
    SPLIT_NAMES,
    load_dataset,
    subset,
)
from pie_utils.data.subset import stratum_quotas
from pie_utils.errors import ParameterError

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def sizes(dataset):
    return tuple(len(dataset.split(s)) for s in SPLIT_NAMES)


def class_counts(split, num_classes):
    return np.bincount(split.labels, minlength=num_classes).tolist()


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
