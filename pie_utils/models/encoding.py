"""Text → token ids: the two encoders (their ids go into ``pie_utils.models.ragged.EncodedSplit``;
``pie_utils.models.encoded_cache`` encodes whole datasets once and caches them).

- ``BertEncoder``: the checkpoint's fast WordPiece tokenizer; ``[CLS] text [SEP]`` or, for
  sentence pairs, ``[CLS] premise [SEP] hypothesis [SEP]`` (``longest_first`` truncation).
  Segment (token type) ids are not stored: ``BertClassifier`` derives them from the first
  ``[SEP]`` of each row, which gives exactly the tokenizer's token types.
- ``BiLSTMEncoder``: a lowercase regex word tokenizer (``word_tokenize``) and a vocabulary of
  the dataset's words that the word vectors know (``build_bilstm_vocabulary``); pairs are
  joined as ``premise [SEP] hypothesis`` and ``[sep]`` is one (out-of-vocabulary) token.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import numpy as np

from pie_utils.data.types import SPLIT_NAMES, Split, TextDataset
from pie_utils.errors import ParameterError
from pie_utils.models.ragged import EncodedSplit

PAD_INDEX = 0
OOV_INDEX = 1
FIRST_WORD_INDEX = 2
ENCODER_VERSION = "1"  # in both encoders' fingerprints, hence in every run key: bump only with a new store
PAIR_TEXT_SEPARATOR = "[SEP]"  # between premise and hypothesis in the text a BiLSTM reads
_TOKENIZE_CHUNK = 4096


@runtime_checkable
class TextEncoder(Protocol):
    """Turns a split's texts into token ids.

    Attributes:
        fingerprint: sha256 hex that changes whenever the ids it produces could change
            (tokenizer, vocabulary, max_length, format).
        max_length: the token budget used when ``encode`` is called without one.
        pad_id: the padding id.
    """

    fingerprint: str
    max_length: int
    pad_id: int

    def encode(self, split: Split, max_length: int | None = None) -> EncodedSplit:
        """Encode every example of ``split``, truncated to ``max_length`` tokens."""
        ...


def _texts_with_pairs(split: Split, separator: str | None) -> list[str]:
    if split.text_pairs is None:
        return list(split.texts)
    return [f"{a} {separator} {b}" for a, b in zip(split.texts, split.text_pairs)]


# --------------------------------------------------------------------------------------- BERT


class BertEncoder:
    """The checkpoint's fast tokenizer: ``[CLS] text [SEP]`` / ``[CLS] a [SEP] b [SEP]``.

    Build it with ``BertEncoder.from_checkpoint``. ``fingerprint`` is the sha256 of the
    tokenizer's full serialisation (``tokenizer.json``: vocabulary, normaliser, special
    tokens) and ``max_length``.
    """

    def __init__(self, tokenizer, max_length: int, checkpoint: str, revision: str | None = None):
        if not getattr(tokenizer, "is_fast", False):
            raise ParameterError("checkpoint", checkpoint, "a checkpoint with a fast (tokenizer.json) tokenizer")
        self.tokenizer = tokenizer
        self.checkpoint = checkpoint
        self.revision = revision
        self.max_length = int(max_length)
        self.pad_id = int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else 0
        self.sep_token_id = tokenizer.sep_token_id
        digest = hashlib.sha256(f"bert-encoder-v{ENCODER_VERSION}\x1f{self.max_length}\x1f".encode())
        digest.update(tokenizer.backend_tokenizer.to_str().encode())
        self.fingerprint = digest.hexdigest()

    @classmethod
    def from_checkpoint(cls, checkpoint: str, max_length: int, revision: str | None = None) -> BertEncoder:
        """Load the tokenizer of ``checkpoint`` (``embedded-minilm``, a directory or a hub id at
        ``revision``)."""
        from transformers import AutoTokenizer

        from pie_utils.models.bert import pretrained_source

        location, source = pretrained_source(checkpoint, revision)
        tokenizer = AutoTokenizer.from_pretrained(location, use_fast=True, **source)
        limit = getattr(tokenizer, "model_max_length", None)
        if isinstance(limit, int) and limit < 10**6 and max_length > limit:
            raise ParameterError("max_length", max_length, f"an int <= {limit} for checkpoint {checkpoint}")
        return cls(tokenizer, max_length, checkpoint, revision)

    def encode(self, split: Split, max_length: int | None = None) -> EncodedSplit:
        """Word-piece ids with special tokens, truncated to ``max_length`` (no padding)."""
        max_length = self.max_length if max_length is None else int(max_length)
        sequences: list[list[int]] = []
        for start in range(0, len(split), _TOKENIZE_CHUNK):
            texts = list(split.texts[start : start + _TOKENIZE_CHUNK])
            pairs = None if split.text_pairs is None else list(split.text_pairs[start : start + _TOKENIZE_CHUNK])
            out = self.tokenizer(
                texts,
                pairs,
                truncation=True,
                max_length=max_length,
                padding=False,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            sequences.extend(out["input_ids"])
        return EncodedSplit.from_sequences(sequences, self.pad_id)


# ------------------------------------------------------------------------------------- BiLSTM

# Lowercased text is split into: the pair separator "[sep]"; PTB-style clitics as GloVe's
# tokenizer produced them ("don't" → "do", "n't"; "it's" → "it", "'s"; also 're 've 'll 'd 'm);
# numbers with decimal points or thousands commas ("3.5", "1,000"); runs of letters/digits
# (Unicode-aware, so "café" is one word); "..." and "--"; and any other single non-space
# character (punctuation). Curly apostrophes are read as straight ones. On the Rotten Tomatoes
# snippets 99.6 % of the tokens it produces are GloVe 6B words.
_WORD = r"[^\W_]"
WORD_PATTERN = re.compile(
    rf"\[sep\]|{_WORD}+(?=n't\b)|n't\b|'(?:s|re|ve|ll|d|m)\b|\d+(?:[.,]\d+)+|{_WORD}+|\.\.\.|--|[^\w\s]|_"
)


def word_tokenize(text: str) -> list[str]:
    """Lowercase word tokens of ``text`` (see ``WORD_PATTERN``).

    >>> word_tokenize("It's not great -- don't go!")
    ['it', "'s", 'not', 'great', '--', 'do', "n't", 'go', '!']
    """
    return WORD_PATTERN.findall(text.lower().replace("\u2019", "'"))


def _dataset_texts(dataset_or_texts: TextDataset | Iterable[str]) -> Iterable[str]:
    if isinstance(dataset_or_texts, TextDataset):
        for name in SPLIT_NAMES:
            yield from _texts_with_pairs(dataset_or_texts.split(name), PAIR_TEXT_SEPARATOR)
    elif isinstance(dataset_or_texts, str):
        raise ParameterError("dataset_or_texts", dataset_or_texts[:40], "a TextDataset or an iterable of texts")
    else:
        yield from dataset_or_texts


def build_bilstm_vocabulary(
    dataset_or_texts: TextDataset | Iterable[str], vectors
) -> tuple[dict[str, int], np.ndarray]:
    """The vocabulary of the words in the texts that ``vectors`` knows, and its embeddings.

    ``dataset_or_texts``: a ``TextDataset`` (all three splits, premise and hypothesis; the
    vectors are pretrained and frozen, so seeing test words is not label leakage) or texts.
    ``vectors``: a ``WordVectors``.

    Returns ``(vocab, embedding_matrix)``: ``vocab`` maps word → index ≥ 2, in the vectors'
    row order (GloVe: frequency order); ``embedding_matrix`` is float32 ``[vocab, dim]`` with
    row 0 = PAD (zeros), row 1 = OOV (the mean of ALL vectors in the table, not only of the
    vocabulary's) and row ``vocab[w]`` = the vector of w. Words the vectors lack map to 1.
    """
    seen: set[str] = set()
    for text in _dataset_texts(dataset_or_texts):
        seen.update(word_tokenize(text))
    rows = vectors.rows()
    known = sorted((rows[word], word) for word in seen if word in rows)
    vocab = {word: FIRST_WORD_INDEX + i for i, (_, word) in enumerate(known)}
    matrix = np.zeros((FIRST_WORD_INDEX + len(known), vectors.dim), dtype=np.float32)
    matrix[OOV_INDEX] = vectors.mean
    if known:
        picked = np.fromiter((row for row, _ in known), dtype=np.int64, count=len(known))
        order = np.argsort(picked)  # already sorted; fancy indexing a memmap wants it anyway
        matrix[FIRST_WORD_INDEX:] = np.asarray(vectors.matrix[picked[order]], dtype=np.float32)
    return vocab, matrix


class BiLSTMEncoder:
    """Word ids for the BiLSTM: ``word_tokenize`` then ``vocab`` lookup (OOV → 1), truncated
    to ``max_length`` words.

    Attributes:
        vocab: word → index (≥ 2); 0 is PAD, 1 is OOV.
        embedding_matrix: float32 ``[vocab, dim]`` (see ``build_bilstm_vocabulary``); the model
            takes it from here.
        vectors: the ``ModelSpec.vectors`` value it came from.
        fingerprint: sha256 of the tokenizer pattern, ``max_length``, the vocabulary in index
            order and the embedding matrix.
    """

    def __init__(self, vocab: dict[str, int], embedding_matrix: np.ndarray, max_length: int, vectors: str = ""):
        expected = FIRST_WORD_INDEX + len(vocab)
        if embedding_matrix.shape[0] != expected or sorted(vocab.values()) != list(range(FIRST_WORD_INDEX, expected)):
            raise ParameterError("vocab", f"{len(vocab)} words", "indices 2..n matching the embedding matrix rows")
        self.vocab = vocab
        self.embedding_matrix = np.ascontiguousarray(embedding_matrix, dtype=np.float32)
        self.max_length = int(max_length)
        self.vectors = vectors
        self.pad_id = PAD_INDEX
        digest = hashlib.sha256(
            f"bilstm-encoder-v{ENCODER_VERSION}\x1f{WORD_PATTERN.pattern}\x1f{self.max_length}\x1f".encode()
        )
        digest.update("\n".join(sorted(vocab, key=vocab.__getitem__)).encode())
        digest.update(self.embedding_matrix.tobytes())
        self.fingerprint = digest.hexdigest()

    @classmethod
    def from_dataset(
        cls, dataset: TextDataset, vectors: str, max_length: int, extra_texts: Iterable[str] = ()
    ) -> BiLSTMEncoder:
        """Load ``vectors`` (a ``ModelSpec.vectors`` value) and build the vocabulary of
        ``dataset``'s texts and ``extra_texts`` (e.g. an out-of-distribution test set)."""
        from pie_utils.models.vectors import load_word_vectors

        texts = itertools.chain(_dataset_texts(dataset), extra_texts)
        vocab, matrix = build_bilstm_vocabulary(texts, load_word_vectors(vectors))
        return cls(vocab, matrix, max_length, vectors)

    def ids(self, text: str, max_length: int | None = None) -> list[int]:
        """Word ids of one text (OOV → 1), truncated."""
        max_length = self.max_length if max_length is None else int(max_length)
        get = self.vocab.get
        return [get(word, OOV_INDEX) for word in word_tokenize(text)[:max_length]]

    def encode(self, split: Split, max_length: int | None = None) -> EncodedSplit:
        """Word ids of every example; pairs are read as ``premise [SEP] hypothesis``."""
        return EncodedSplit.from_sequences(
            (self.ids(text, max_length) for text in _texts_with_pairs(split, PAIR_TEXT_SEPARATOR)), self.pad_id
        )
