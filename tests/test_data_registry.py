"""The dataset registry: every name, its spec, and the arguments each kind refuses."""

from __future__ import annotations

import pytest

from pie_utils.data import (
    DATASETS,
    dataset_names,
    load_dataset,
)
from pie_utils.errors import ParameterError


def test_registry_lists_every_dataset_with_the_papers_max_lengths():
    assert dataset_names() == (
        "rotten-tomatoes",
        "movie-reviews",
        "reuters-r8",
        "reuters-r52",
        "20newsgroups",
        "imdb",
        "snli",
        "reuters",
        "aapd",
        "local",
    )
    # The paper's token budgets: IMDB 512, SNLI 128, Reuters and AAPD 256.
    assert {n: DATASETS[n].max_length for n in ("imdb", "snli", "reuters", "aapd")} == {
        "imdb": 512,
        "snli": 128,
        "reuters": 256,
        "aapd": 256,
    }
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
