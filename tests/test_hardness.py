"""Tests of pie_utils.hardness: text cleaning on corpus-style snippets, hand-worked feature values,
and the punctuation check on the real embedded corpora."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pie_utils.data import load_dataset
from pie_utils.errors import ParameterError
from pie_utils.hardness import (
    MEASURES,
    TEXT_MEASURES,
    clean_text,
    flesch_reading_ease,
    hardness_features,
    has_sentence_punctuation,
    model_difficulty,
    moving_average_ttr,
    words,
)


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        # Pang & Lee sentence-polarity tokenisation (the hub's rotten_tomatoes)
        (
            "the rock is destined to be the 21st century's new \" conan \" and that he's going to make a splash "
            "even greater than arnold schwarzenegger , jean-claud van damme or steven segal .",
            "The rock is destined to be the 21st century's new \"conan\" and that he's going to make a splash "
            "even greater than arnold schwarzenegger, jean-claud van damme or steven segal.",
        ),
        (
            "the film does n't ( quite ) work , but it 's never dull ! you 'll laugh .",
            "The film doesn't (quite) work, but it's never dull! You'll laugh.",
        ),
        # Pang & Lee polarity v2.0 reviews (movie-reviews): one sentence a line
        (
            'the tagline for this film is : " some houses are just born bad " . \nso i didn\'t expect too much from this . \n',
            'The tagline for this film is: "some houses are just born bad". So i didn\'t expect too much from this.',
        ),
        # the embedded Rotten Tomatoes snippets are already clean, apart from spaced ellipses and quote styles
        (
            "On the right track to something that's creepy and effective . . . It's just going to take more than a man "
            "in a Bullwinkle costume to get there.",
            "On the right track to something that's creepy and effective... It's just going to take more than a man "
            "in a Bullwinkle costume to get there.",
        ),
        (
            "What “Empire” lacks in depth it’s made up for with ''heart''.",
            'What "Empire" lacks in depth it\'s made up for with "heart".',
        ),
    ],
)
def test_clean_text(raw, cleaned):
    assert clean_text(raw) == cleaned
    assert clean_text(cleaned) == cleaned


def test_words():
    assert words("Don't STOP—it’s the '90s, 'The End'.") == ["don't", "stop", "it's", "the", "90s", "the", "end"]
    assert words(" ... ") == []


def test_moving_average_ttr_by_hand():
    poem = words("a rose is a rose is a rose said the poet")  # 11 words: two windows of 10
    # window 1: a rose is said the → 5 types; window 2 adds "poet" → 6 types: (0.5 + 0.6) / 2
    assert moving_average_ttr(poem) == pytest.approx(0.55)
    assert moving_average_ttr(words("a rose is a rose")) == pytest.approx(3 / 5)  # short: plain TTR
    assert math.isnan(moving_average_ttr([]))


def test_flesch_reading_ease_by_hand():
    # 6 one-syllable words, 1 sentence: 206.835 − 1.015·6 − 84.6·1
    assert flesch_reading_ease("The cat sat on the mat.") == pytest.approx(116.145)
    # 9 words, 2 sentences, 10 syllables (hap-py): 206.835 − 1.015·4.5 − 84.6·10/9
    assert flesch_reading_ease("The cat sat on the mat. It was happy.") == pytest.approx(108.2675)


REFERENCE = ["the film is good", "the film is bad", "the plot is thin"]  # N = 12 words, V = 7 types


def test_hardness_features_by_hand():
    texts = ["the film.", "the plot!", "the zeitgeist?", "", "it 's a film ."]
    table = hardness_features(texts, REFERENCE)
    assert table.columns.tolist() == ["length_words", "readability", "lexical_diversity", "word_rarity"]
    assert table.length_words.tolist() == [2, 2, 2, 0, 3]  # "it 's" is one word once re-attached
    # −log10((count + 1) / (12 + 7 + 1)): the 4/20, film 3/20, plot 2/20, unseen 1/20
    the, film, plot, unseen = (-math.log10(c / 20) for c in (4, 3, 2, 1))
    assert table.word_rarity[:3].tolist() == pytest.approx([(the + film) / 2, (the + plot) / 2, (the + unseen) / 2])
    assert table.word_rarity[0] < table.word_rarity[1] < table.word_rarity[2]  # a rarer word, a rarer text
    assert table.lexical_diversity[[0, 4]].tolist() == [1.0, 1.0]
    assert table.iloc[3, 1:].isna().all()  # no words: nothing but the length is defined
    assert table.readability[0] == pytest.approx(206.835 - 1.015 * 2 - 84.6)


def test_readability_can_be_switched_off_or_decided_by_punctuation():
    assert hardness_features(["The cat sat on the mat."], REFERENCE, readability=False).readability.isna().all()
    letters_only = ["the cat sat on the mat", "the dog sat"]
    assert hardness_features(letters_only, REFERENCE).readability.isna().all()
    assert not hardness_features(letters_only, REFERENCE, readability=True).readability.isna().any()


def test_has_sentence_punctuation():
    assert has_sentence_punctuation(["One.", "two"])  # half is enough
    assert not has_sentence_punctuation(["One.", "two", "three"])
    assert has_sentence_punctuation(load_dataset("rotten-tomatoes").test.texts)
    assert not has_sentence_punctuation(load_dataset("reuters-r8").test.texts)


def test_model_difficulty_by_hand():
    log3 = math.log(3.0)
    logits = np.array([[[0.0, 0.0]], [[0.0, log3]]])  # [seed=2, example=1, class=2]
    # gold 1 gets ½ and ¾ → 1 − 0.625
    assert model_difficulty(logits, np.array([1])).tolist() == pytest.approx([0.375])
    # multilabel gold [off, on], sigmoids [½, ¾] on seed 1 and [½, ½] on seed 0: (½ + ¾)/2 and ½
    assert model_difficulty(logits, np.array([[False, True]])).tolist() == pytest.approx([1 - (0.625 + 0.5) / 2])


def test_every_measure_has_a_description_a_claimed_direction_and_a_source():
    assert list(MEASURES) == ["length_words", "readability", "lexical_diversity", "word_rarity", "model_difficulty"]
    assert {name: m.claimed_direction for name, m in MEASURES.items()} == {
        "length_words": 1,
        "readability": -1,
        "lexical_diversity": 1,
        "word_rarity": 1,
        "model_difficulty": 1,
    }
    assert all(m.description for m in MEASURES.values())
    assert TEXT_MEASURES == ("length_words", "readability", "lexical_diversity", "word_rarity")  # the rest use models
    assert list(hardness_features(["A short text."], REFERENCE).columns) == list(TEXT_MEASURES)


@pytest.mark.parametrize(
    "call",
    [
        lambda: hardness_features("one text", REFERENCE),
        lambda: hardness_features(["a text"], []),
        lambda: hardness_features(["a text"], REFERENCE, readability="yes"),
        lambda: hardness_features(["a text", 3], REFERENCE),
        lambda: has_sentence_punctuation([]),
        lambda: model_difficulty(np.zeros((1, 2, 2)), np.array([0, 5])),
    ],
)
def test_bad_input_is_refused(call):
    with pytest.raises(ParameterError):
        call()
