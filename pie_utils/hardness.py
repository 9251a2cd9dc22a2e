"""Hardness proxies of texts, to compare PIEs with non-PIEs (the paper's claim 4: PIEs are longer
and semantically more complex). The paper's own metrics were not recovered; these are ours:

- ``length_words``: words, after undoing the corpus tokenisation (``clean_text``).
- ``readability``: Flesch Reading Ease of the cleaned text (higher = easier). Only meaningful
  where texts have sentence punctuation (not R8/R52, which are letters only).
- ``lexical_diversity``: moving-average type–token ratio (MATTR, Covington & McFall 2010)
  over windows of 10 words; unlike plain TTR it does not fall just because a text is longer.
- ``word_rarity``: mean −log10 relative frequency of the text's words in a reference corpus.
- ``model_difficulty``: 1 − the probability a dense population gives the gold label.

Readability: textstat's ``flesch_reading_ease`` looks every word up in NLTK's CMUdict corpus,
which it downloads on first use, and the machines this book runs on are offline. So
``flesch_reading_ease`` here uses textstat's sentence count and textstat's formula constants
for English, with syllables from pyphen's en_US hyphenation dictionary (what textstat itself
falls back to for words missing from CMUdict). Hyphenation undercounts some syllables
("read-abil-i-ty" is 4), so scores run a little higher than textstat's.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd
import pyphen
import textstat

from pie_utils.errors import ParameterError
from pie_utils.influence import probabilities_and_targets

MATTR_WINDOW = 10

# Flesch (1948) Reading Ease for English, the constants textstat uses
_FLESCH_BASE, _FLESCH_PER_WORD_IN_SENTENCE, _FLESCH_PER_SYLLABLE_IN_WORD = 206.835, 1.015, 84.6

_STRAIGHT_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "`": "'"})
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters/digits, with inner apostrophes (don't, 90's)
_CLITIC = re.compile(r"(?<=[\w\"]) (n't|'(?:s|re|ve|ll|d|m))\b", re.IGNORECASE)  # do n't, it 's, " x " 's
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+(?=[,.!?;:)]+(?!\w))")  # not before ".45" or ":30"
_SPACE_AFTER_PARENTHESIS = re.compile(r"\(\s+")
_SENTENCE_START = re.compile(r"(^|[.!?][\"')]*\s+)([\"'(]*)([^\W\d_])")
_SENTENCE_END = re.compile(r"[.!?]")


def clean_text(text: str) -> str:
    """``text`` with the corpus tokenisation undone, for readability formulas and word counts.

    Curly quotes and ```` / ``''`` become straight quotes; whitespace (newlines too) collapses
    to one space; ``" conan "`` becomes ``"conan"`` (double quotes paired in order, an unpaired
    last one left alone); split clitics are re-attached (``do n't`` → ``don't``, ``it 's`` →
    ``it's``); spaces before ``, . ! ? ; : )`` and after ``(`` go; the first letter of each
    sentence is capitalised. Clean text keeps its words and punctuation; at most quotes,
    spacing and sentence capitals change, and cleaning twice changes nothing more.
    """
    text = text.replace("``", '"').replace("''", '"')
    text = text.translate(_STRAIGHT_QUOTES)
    text = " ".join(text.split())
    parts = text.split('"')
    for inside in range(1, len(parts) - 1, 2):  # parts[1], parts[3], …: between an opening quote and its closing one
        parts[inside] = parts[inside].strip()
    text = '"'.join(parts)
    text = _CLITIC.sub(r"\1", text)
    text = _SPACE_BEFORE_PUNCTUATION.sub("", text)
    text = _SPACE_AFTER_PARENTHESIS.sub("(", text)
    return _SENTENCE_START.sub(lambda m: m[1] + m[2] + m[3].upper(), text)


def words(text: str) -> list[str]:
    """Lowercase word tokens of ``text``: runs of letters/digits, with inner apostrophes kept."""
    return _WORD.findall(text.lower().replace("’", "'"))


def has_sentence_punctuation(texts: Sequence[str]) -> bool:
    """True when at least half of ``texts`` contain ``.``, ``!`` or ``?``.

    Corpora stripped to letters (R8, R52) fail this, and readability formulas, which divide by
    a sentence count, mean nothing there.
    """
    texts = _check_texts("texts", texts)
    with_punctuation = sum(bool(_SENTENCE_END.search(text)) for text in texts)
    return 2 * with_punctuation >= len(texts)


@cache
def _hyphenation() -> pyphen.Pyphen:
    return pyphen.Pyphen(lang="en_US")


@lru_cache(maxsize=100_000)
def _syllables(word: str) -> int:
    return len(_hyphenation().positions(word)) + 1


def flesch_reading_ease(text: str) -> float:
    """Flesch Reading Ease of ``text`` (cleaned already): 206.835 − 1.015 · words / sentences
    − 84.6 · syllables / words. Sentences by ``textstat.sentence_count`` (punctuation; runs of
    two words or fewer are not counted), words by ``words`` (so ``well-done`` is two words,
    where textstat would glue it into one), syllables by pyphen hyphenation points + 1.
    NaN for a text without words.
    """
    tokens = words(text)
    if not tokens:
        return math.nan
    words_per_sentence = len(tokens) / textstat.sentence_count(text)
    syllables_per_word = sum(_syllables(token) for token in tokens) / len(tokens)
    return (
        _FLESCH_BASE
        - _FLESCH_PER_WORD_IN_SENTENCE * words_per_sentence
        - _FLESCH_PER_SYLLABLE_IN_WORD * syllables_per_word
    )


def moving_average_ttr(tokens: Sequence[str], window: int = MATTR_WINDOW) -> float:
    """MATTR of ``tokens``: the mean, over every run of ``window`` consecutive tokens, of
    distinct tokens / ``window``. Fewer tokens than ``window``: plain type–token ratio.
    No tokens: NaN.
    """
    if not tokens:
        return math.nan
    if len(tokens) < window:
        return len(set(tokens)) / len(tokens)
    # slide the window one token at a time, keeping counts, instead of re-counting each window
    counts = Counter(tokens[:window])
    distinct = [len(counts)]
    for leaving, entering in zip(tokens, tokens[window:]):
        counts[leaving] -= 1
        if not counts[leaving]:
            del counts[leaving]
        counts[entering] += 1
        distinct.append(len(counts))
    return float(np.mean(distinct)) / window


def _check_texts(name: str, texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str) or not all(isinstance(text, str) for text in texts) or len(texts) == 0:
        raise ParameterError(
            name,
            texts if isinstance(texts, str) else f"{type(texts).__name__} of {len(texts)}",
            "a non-empty sequence of strings (not one string)",
        )
    return list(texts)


@dataclass(frozen=True)
class TextContext:
    """What text measures share: word counts of the reference corpus and the readability switch."""

    reference_counts: Counter
    log_denominator: float  # log10(N + V + 1): N words and V distinct words in the reference texts
    readability: bool


def _word_rarity(cleaned: str, tokens: list[str], context: TextContext) -> float:
    rarity = [context.log_denominator - math.log10(context.reference_counts[token] + 1) for token in tokens]
    return float(np.mean(rarity)) if tokens else math.nan


@dataclass(frozen=True)
class HardnessMeasure:
    """One hardness proxy.

    Attributes:
        name: its column name.
        description: one line for a chapter's table.
        claimed_direction: +1 where the paper's claim has PIEs score higher, −1 lower.
        compute: ``compute(cleaned text, its words, TextContext) -> float`` for a text measure;
            None for one computed from models (``model_difficulty``).
    """

    name: str
    description: str
    claimed_direction: int
    compute: Callable[[str, list[str], TextContext], float] | None = None


MEASURES: dict[str, HardnessMeasure] = {
    measure.name: measure
    for measure in (
        HardnessMeasure(
            "length_words",
            "number of words in the text (after undoing the corpus tokenisation)",
            +1,
            lambda cleaned, tokens, context: len(tokens),
        ),
        HardnessMeasure(
            "readability",
            "Flesch Reading Ease of the cleaned text; higher is easier (NaN without sentence punctuation)",
            -1,
            lambda cleaned, tokens, context: flesch_reading_ease(cleaned) if context.readability else math.nan,
        ),
        HardnessMeasure(
            "lexical_diversity",
            f"moving-average type-token ratio over windows of {MATTR_WINDOW} words; higher is more varied",
            +1,
            lambda cleaned, tokens, context: moving_average_ttr(tokens),
        ),
        HardnessMeasure(
            "word_rarity",
            "mean -log10 relative frequency of the text's words in the training texts; higher is rarer",
            +1,
            _word_rarity,
        ),
        HardnessMeasure(
            "model_difficulty", "1 - probability the held-out dense models give the gold label; higher is harder", +1
        ),
    )
}
TEXT_MEASURES = tuple(name for name, measure in MEASURES.items() if measure.compute is not None)


def hardness_features(
    texts: Sequence[str], reference_texts: Sequence[str], readability: bool | None = None
) -> pd.DataFrame:
    """The text measures of ``MEASURES`` for ``texts``: one row per text, in order.

    Args:
        texts: ``[example]`` raw texts (tokenised or not; each is ``clean_text``-ed first).
        reference_texts: the corpus word frequencies come from (the training texts).
        readability: compute Flesch Reading Ease (True), leave that column NaN (False), or
            decide with ``has_sentence_punctuation(texts)`` (None).

    Returns:
        One column per name of ``TEXT_MEASURES``: ``length_words`` (int), ``readability``,
        ``lexical_diversity`` (MATTR, window 10) and ``word_rarity``: the mean over the text's
        words of −log10 (count + 1) / (N + V + 1), with count the word's count in the reference
        texts, N their number of words and V of distinct words (add-one smoothing, one slot for
        unseen words). Texts without words get NaN except ``length_words`` = 0.
    """
    texts = _check_texts("texts", texts)
    reference_texts = _check_texts("reference_texts", reference_texts)
    if readability not in (True, False, None):
        raise ParameterError("readability", readability, "True, False or None (decide from punctuation)")
    if readability is None:
        readability = has_sentence_punctuation(texts)

    reference_counts = Counter(token for text in reference_texts for token in words(clean_text(text)))
    log_denominator = math.log10(sum(reference_counts.values()) + len(reference_counts) + 1)
    context = TextContext(reference_counts, log_denominator, readability)
    rows = []
    for text in texts:
        cleaned = clean_text(text)
        tokens = words(cleaned)
        rows.append({name: MEASURES[name].compute(cleaned, tokens, context) for name in TEXT_MEASURES})
    return pd.DataFrame(rows, columns=list(TEXT_MEASURES))


def model_difficulty(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``[example]`` float64: 1 − the mean over seeds of the probability given to the gold label.

    ``logits[seed, example, class]``; single-label ``labels[example]``: softmax probability of
    the gold class. Multilabel ``labels[example, class]``: the probability of the gold vector's
    value on each class (p where the label is on, 1 − p where off), averaged over classes.
    The chapters pass the dense logits of one half of the seeds (``pie_utils.pies.
    TrainedStudy.seed_halves``) and select PIEs on the other half, so that a point is not called hard
    by the very models whose disagreement made it a PIE.
    """
    probabilities, targets = probabilities_and_targets(logits, labels)
    if np.asarray(labels).ndim == 2:
        gold_probability = (probabilities * targets + (1 - probabilities) * (1 - targets)).mean(axis=2)
    else:
        gold_probability = (probabilities * targets).sum(axis=2)
    return 1.0 - gold_probability.mean(axis=0)
