"""Text → token ids, once per dataset and tokenizer, cached on disk as ragged arrays.

- ``EncodedSplit``: one split's token ids, ragged (``tokens`` + ``offsets``), padded per batch.
- ``BertEncoder``: the checkpoint's fast WordPiece tokenizer; ``[CLS] text [SEP]`` or, for
  sentence pairs, ``[CLS] premise [SEP] hypothesis [SEP]`` (``longest_first`` truncation).
  Segment (token type) ids are not stored: ``BertClassifier`` derives them from the first
  ``[SEP]`` of each row, which gives exactly the tokenizer's token types.
- ``BiLSTMEncoder``: a lowercase regex word tokenizer (``word_tokenize``) and a vocabulary of
  the dataset's words that the word vectors know (``build_bilstm_vocabulary``); pairs are
  joined as ``premise [SEP] hypothesis`` and ``[sep]`` is one (out-of-vocabulary) token.
- ``encode_dataset``: encode every split once and cache the result under
  ``cache_dir()/encoded/<sha256>.npz`` (written to a temporary name, then renamed).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from pie_utils.assets import cache_dir
from pie_utils.data.types import SPLIT_NAMES, Split, TextDataset
from pie_utils.errors import ParameterError

PAD_INDEX = 0
OOV_INDEX = 1
FIRST_WORD_INDEX = 2
PAIR_SEPARATOR = "[SEP]"
_CACHE_FORMAT = "1"
_TOKENIZE_CHUNK = 4096


@dataclass(frozen=True, eq=False)
class EncodedSplit:
    """Token ids of one split, stored ragged.

    Attributes:
        tokens: int32 ``[total_tokens]``: every example's ids, concatenated in example order.
        offsets: int64 ``[example + 1]``: example i is ``tokens[offsets[i]:offsets[i + 1]]``.
        pad_id: the id used to pad a batch (the encoder's pad token).
    """

    tokens: np.ndarray
    offsets: np.ndarray
    pad_id: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", np.ascontiguousarray(self.tokens, dtype=np.int32))
        object.__setattr__(self, "offsets", np.ascontiguousarray(self.offsets, dtype=np.int64))
        if self.offsets.ndim != 1 or len(self.offsets) < 1 or self.offsets[0] != 0 \
                or self.offsets[-1] != len(self.tokens) or np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must start at 0, be non-decreasing and end at len(tokens)")

    @classmethod
    def from_sequences(cls, sequences: Iterable[Sequence[int]], pad_id: int = 0) -> EncodedSplit:
        """Build from one id sequence per example."""
        sequences = list(sequences)
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        tokens = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.int32, count=int(offsets[-1]))
        return cls(tokens, offsets, pad_id)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """int64 ``[example]`` number of tokens per example (after truncation)."""
        return np.diff(self.offsets)

    def example(self, position: int) -> np.ndarray:
        """int32 ``[token]`` ids of one example."""
        return self.tokens[self.offsets[position]:self.offsets[position + 1]]

    def batch(self, positions: Sequence[int] | np.ndarray, pad_to: int | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Examples at ``positions`` as ``(input_ids, attention_mask)``, both LongTensor
        ``[batch, time]``.

        ``time`` is the longest selected example (dynamic padding; at least 1), or ``pad_to``
        when given (it must be at least that long). Padding is ``pad_id`` with mask 0, on the
        right.
        """
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        starts = self.offsets[positions]
        lengths = self.offsets[positions + 1] - starts
        longest = int(lengths.max()) if len(lengths) else 0
        if pad_to is None:
            width = max(longest, 1)
        else:
            if isinstance(pad_to, bool) or int(pad_to) < max(longest, 1):
                raise ParameterError("pad_to", pad_to, f"None or an int >= {max(longest, 1)} (the longest example)")
            width = int(pad_to)
        columns = np.arange(width, dtype=np.int64)
        mask = columns[None, :] < lengths[:, None]
        ids = np.full((len(positions), width), self.pad_id, dtype=np.int64)
        ids[mask] = self.tokens[(starts[:, None] + columns[None, :])[mask]]
        return torch.from_numpy(ids), torch.from_numpy(mask.astype(np.int64))

    def padded(self, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split padded to ``max_len`` columns: ``(input_ids, attention_mask)``,
        LongTensor ``[example, max_len]`` (the pad-everything-to-the-maximum baseline)."""
        return self.batch(np.arange(len(self)), pad_to=max_len)

    def take(self, positions: Sequence[int] | np.ndarray) -> EncodedSplit:
        """The examples at ``positions``, in that order, as a new ``EncodedSplit``."""
        return EncodedSplit.from_sequences((self.example(int(p)) for p in np.asarray(positions)), self.pad_id)

    def equals(self, other: EncodedSplit) -> bool:
        """True when both hold the same ids, offsets and pad id."""
        return (self.pad_id == other.pad_id and np.array_equal(self.tokens, other.tokens)
                and np.array_equal(self.offsets, other.offsets))


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

    def __init__(self, tokenizer, max_length: int, checkpoint: str):
        if not getattr(tokenizer, "is_fast", False):
            raise ParameterError("checkpoint", checkpoint, "a checkpoint with a fast (tokenizer.json) tokenizer")
        self.tokenizer = tokenizer
        self.checkpoint = checkpoint
        self.max_length = int(max_length)
        self.pad_id = int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else 0
        self.sep_token_id = tokenizer.sep_token_id
        digest = hashlib.sha256(f"bert-encoder-v{_CACHE_FORMAT}\x1f{self.max_length}\x1f".encode())
        digest.update(tokenizer.backend_tokenizer.to_str().encode())
        self.fingerprint = digest.hexdigest()

    @classmethod
    def from_checkpoint(cls, checkpoint: str, max_length: int) -> BertEncoder:
        """Load the tokenizer of ``checkpoint`` (``embedded-minilm``, a directory or a hub id)."""
        from transformers import AutoTokenizer

        from pie_utils.models.bert import resolve_checkpoint

        location, local = resolve_checkpoint(checkpoint)
        tokenizer = AutoTokenizer.from_pretrained(location, use_fast=True, local_files_only=local)
        limit = getattr(tokenizer, "model_max_length", None)
        if isinstance(limit, int) and limit < 10**6 and max_length > limit:
            raise ParameterError("max_length", max_length, f"an int <= {limit} for checkpoint {checkpoint}")
        return cls(tokenizer, max_length, checkpoint)

    def encode(self, split: Split, max_length: int | None = None) -> EncodedSplit:
        """Word-piece ids with special tokens, truncated to ``max_length`` (no padding)."""
        max_length = self.max_length if max_length is None else int(max_length)
        sequences: list[list[int]] = []
        for start in range(0, len(split), _TOKENIZE_CHUNK):
            texts = list(split.texts[start:start + _TOKENIZE_CHUNK])
            pairs = None if split.text_pairs is None else list(split.text_pairs[start:start + _TOKENIZE_CHUNK])
            out = self.tokenizer(texts, pairs, truncation=True, max_length=max_length, padding=False,
                                 return_attention_mask=False, return_token_type_ids=False)
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
            yield from _texts_with_pairs(dataset_or_texts.split(name), PAIR_SEPARATOR)
    elif isinstance(dataset_or_texts, str):
        raise ParameterError("dataset_or_texts", dataset_or_texts[:40], "a TextDataset or an iterable of texts")
    else:
        yield from dataset_or_texts


def build_bilstm_vocabulary(dataset_or_texts: TextDataset | Iterable[str], vectors
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
            f"bilstm-encoder-v{_CACHE_FORMAT}\x1f{WORD_PATTERN.pattern}\x1f{self.max_length}\x1f".encode())
        digest.update("\n".join(sorted(vocab, key=vocab.__getitem__)).encode())
        digest.update(self.embedding_matrix.tobytes())
        self.fingerprint = digest.hexdigest()

    @classmethod
    def from_dataset(cls, dataset: TextDataset, vectors: str, max_length: int,
                     extra_texts: Iterable[str] = ()) -> BiLSTMEncoder:
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
            (self.ids(text, max_length) for text in _texts_with_pairs(split, PAIR_SEPARATOR)), self.pad_id)


# ---------------------------------------------------------------------------------- caching


def encoded_cache_path(encoder: TextEncoder, dataset: TextDataset, root: Path | None = None) -> Path:
    """Where ``encode_dataset`` caches ``dataset`` under ``encoder``.

    The name is sha256 over the encoder fingerprint, ``dataset.fingerprint()`` (name, labels,
    ids) and the texts themselves (ids may be source ids, so a corrected text must not reuse
    stale ids).
    """
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\x1f{encoder.fingerprint}\x1f{dataset.fingerprint()}".encode())
    for name in SPLIT_NAMES:
        split = dataset.split(name)
        digest.update(f"\x1e{name}\x1f{len(split)}".encode())
        for text in split.texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\x1f")
        if split.text_pairs is not None:
            digest.update(b"\x1dpairs")
            for text in split.text_pairs:
                digest.update(text.encode("utf-8", "surrogatepass") + b"\x1f")
    root = root if root is not None else cache_dir() / "encoded"
    return root / f"{digest.hexdigest()}.npz"


def encode_dataset(encoder: TextEncoder, dataset: TextDataset, *, cache_root: Path | None = None,
                   use_cache: bool = True) -> dict[str, EncodedSplit]:
    """Encode the three splits of ``dataset``: ``{split name: EncodedSplit}``.

    Read from ``encoded_cache_path(...)`` when a finished file exists; otherwise encode and
    write it (temporary name, then ``os.replace``, so a reader never sees half a file).
    ``cache_root`` defaults to ``cache_dir()/encoded``; ``use_cache=False`` neither reads nor
    writes.
    """
    path = encoded_cache_path(encoder, dataset, cache_root)
    if use_cache and path.is_file():
        loaded = _read_cache(path, encoder.fingerprint)
        if loaded is not None:
            return loaded
    encoded = {name: encoder.encode(dataset.split(name), encoder.max_length) for name in SPLIT_NAMES}
    if use_cache:
        _write_cache(path, encoded, encoder.fingerprint)
    return encoded


def _write_cache(path: Path, encoded: dict[str, EncodedSplit], fingerprint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"fingerprint": np.array(fingerprint)}
    for name, split in encoded.items():
        arrays[f"{name}.tokens"] = split.tokens
        arrays[f"{name}.offsets"] = split.offsets
        arrays[f"{name}.pad_id"] = np.array(split.pad_id, dtype=np.int64)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_cache(path: Path, fingerprint: str) -> dict[str, EncodedSplit] | None:
    """The cached splits, or None when the file is unreadable or belongs to another encoder."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["fingerprint"]) != fingerprint:
                return None
            return {name: EncodedSplit(stored[f"{name}.tokens"], stored[f"{name}.offsets"],
                                       int(stored[f"{name}.pad_id"])) for name in SPLIT_NAMES}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
