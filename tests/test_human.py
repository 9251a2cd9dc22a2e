"""Tests of pie_utils.human: the text keys, what the matcher must match and must refuse,
hand-worked disagreement measures, and reading the rating files (a small fixture in the real
format, and the real asset)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pie_utils.errors import DataFileError, ParameterError
from pie_utils.human import (
    MATCH_KINDS,
    MEASURE_DESCRIPTIONS,
    compact_key,
    human_measures,
    match_key,
    match_texts,
    read_ratings,
)

RATED = [
    "The Rock is destined to be the 21st Century's new ''Conan'' and that he's going to make a splash.",
    "Lovely &amp; Amazing involves us because it is so incisive, so bleakly amusing.",
    "Clint Eastwood's Blood Work is a lot like a well made PB&amp; J sandwich.",
    "We've seen the hippie turned yuppie plot before, but there's an enthusiastic charm in Fire.",
    "A gob of drivel so sickly sweet it could make you retch like rancid creme brulee.",
    "Far from perfect but its heart is in the right place. Innocent and well meaning.",
    "Marinated in cliches and mawkish dialogue, it never finds a voice of its own.",
    "The acting is good and the script keeps the story moving at a brisk pace.",
    "The cast is likable and the jokes mostly land in this small comedy.",
    "It will break your heart many times over.",
    "A pure delight.",
]


@pytest.mark.parametrize(
    "text, key",
    [
        ("The Rock's new ''Conan''", "the rock s new conan"),
        ('the rock \'s new " conan "', "the rock s new conan"),
        ("Lovely &amp; Amazing", "lovely amazing"),
        ("Lovely &amp;amp; Amazing", "lovely amazing"),
        ("an enthusiastic charm in <i>Fire</i>", "an enthusiastic charm in fire"),
        ("rancid crème brûlée – truly", "rancid creme brulee truly"),
        ("well-made", "well made"),
    ],
)
def test_match_key(text, key):
    assert match_key(text) == key


def test_compact_key_ignores_word_breaks():
    assert compact_key("the film does n't work") == compact_key("The film doesn't work.") == "thefilmdoesntwork"
    assert compact_key("in the right placeInnocent") == compact_key("in the right place. Innocent")


@pytest.mark.parametrize(
    "ours, row, kind",
    [
        (
            "The Rock is destined to be the 21st Century's new \"Conan\" and that he's going to make a splash.",
            0,
            "exact",
        ),
        ("lovely & amazing involves us because it is so incisive , so bleakly amusing .", 1, "exact"),
        ("Clint Eastwood’s Blood Work is a lot like a well-made PB&amp; J sandwich.", 2, "exact"),
        (
            "We've seen the hippie-turned-yuppie plot before, but there's an enthusiastic charm in <i>Fire</i>.",
            3,
            "exact",
        ),
        ("A gob of drivel so sickly sweet it could make you retch like rancid crème brûlée.", 4, "exact"),
        (
            "Far from perfect but its heart is in the right placeInnocent and well-meaning.",
            5,
            "compact",
        ),  # sentences run together
        (
            "Marinated in cliché and mawkish dialogue, it never finds a voice of its own.",
            6,
            "fuzzy",
        ),  # cliche/cliches 0.92
    ],
)
def test_matcher_matches(ours, row, kind):
    result = match_texts([ours], RATED)
    assert result.index.tolist() == [row] and result.kind.tolist() == [kind]


@pytest.mark.parametrize(
    "near_miss",
    [
        "The acting is bad and the script keeps the story moving at a brisk pace.",  # good → bad
        "The acting is not good and the script keeps the story moving at a brisk pace.",  # inserted word
        "The acting isn't good and the script keeps the story moving at a brisk pace.",  # is → isn't
        "The cast is unlikable and the jokes mostly land in this small comedy.",  # likable/unlikable: 0.88
        "It will break your heart.",  # a truncated snippet is another snippet
        "A true delight.",  # too short for a fuzzy match at all
    ],
)
def test_matcher_refuses_near_misses(near_miss):
    result = match_texts([near_miss], RATED)
    assert result.index.tolist() == [-1] and result.kind.tolist() == ["none"]


def test_matcher_refuses_ambiguous_keys_and_counts_every_kind():
    rated = RATED + ["a pure delight!"]  # same key as RATED[10]
    result = match_texts(["A pure delight", RATED[0], "Nothing like any rated text here at all."], rated)
    assert result.kind.tolist() == ["ambiguous", "exact", "none"]
    assert result.matched.tolist() == [False, True, False]
    assert result.counts() == {"exact": 1, "compact": 0, "fuzzy": 0, "ambiguous": 1, "none": 1}
    assert list(result.counts()) == list(MATCH_KINDS)


def test_matcher_rejects_bad_input():
    with pytest.raises(ParameterError, match="texts"):
        match_texts("one string", RATED)
    with pytest.raises(ParameterError, match="rated_texts"):
        match_texts(["a"], [])
    with pytest.raises(ParameterError, match="min_word_similarity"):
        match_texts(["a"], RATED, min_word_similarity=0)


def test_human_measures_by_hand():
    # ratings 4, 4, −4, 0: mean 1, mean square 12, variance 11
    measures = human_measures([[4, 4, -4, 0], [-2, -2, -2]], np.array([1, 0]))
    assert list(measures.columns) == list(MEASURE_DESCRIPTIONS)
    assert measures.rater_spread.tolist() == pytest.approx([math.sqrt(11), 0.0])
    assert measures.closeness_to_neutral.tolist() == pytest.approx([3.0, 2.0])
    # positive gold: one rater negative, one at 0 (half) of four; negative gold, all agree
    assert measures.sign_disagreement.tolist() == pytest.approx([0.375, 0.0])
    flipped = human_measures([[4, 4, -4, 0]], np.array([0]))
    assert flipped.sign_disagreement.iloc[0] == pytest.approx(0.625)


def test_human_measures_reject_bad_input():
    with pytest.raises(ParameterError, match="gold"):
        human_measures([[1, 2]], np.array([2]))
    with pytest.raises(ParameterError, match="gold"):
        human_measures([[1, 2]], np.array([1, 0]))
    with pytest.raises(ParameterError, match="ratings"):
        human_measures([[5]], np.array([1]))
    with pytest.raises(ParameterError, match="ratings"):
        human_measures([[]], np.array([1]))


def _write_fixture(folder, ratings_ids=("1", "2")):
    (folder / "movieReviewSnippets_GroundTruth.txt").write_bytes(
        b"id\tsentiment\ttext\r\n1\t2.0\tGood fun.\r\n2\t-1.0\tA real snooze.\r\n"
    )
    (folder / "movieReviewSnippets_anonDataRatings.txt").write_bytes(
        (f"{ratings_ids[0]}\t2.0\t1.0\t[1, 3]\r\n{ratings_ids[1]}\t-1.0\t0.0\t[-1, -1, -1]").encode()
    )


def test_read_ratings_fixture(tmp_path):
    _write_fixture(tmp_path)
    table = read_ratings(tmp_path)
    assert table.id.tolist() == [1, 2] and table.text.tolist() == ["Good fun.", "A real snooze."]
    assert table.n_raters.tolist() == [2, 3] and table.ratings.tolist() == [(1, 3), (-1, -1, -1)]


def test_read_ratings_refuses_mismatched_ids(tmp_path):
    _write_fixture(tmp_path, ratings_ids=("1", "3"))
    with pytest.raises(DataFileError, match="same ids"):
        read_ratings(tmp_path)


def test_read_ratings_real_asset():
    table = read_ratings()
    assert len(table) == 10_605 and table.id.is_unique
    first = table.iloc[0]
    assert first.text.startswith("The Rock is destined to be the 21st Century's new ''Conan''")
    assert first.n_raters == 15 and first["mean"] == pytest.approx(2.266666667)
    assert table.n_raters.between(15, 29).all()
