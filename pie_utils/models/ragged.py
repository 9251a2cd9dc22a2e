"""``EncodedSplit``: one split's token ids stored ragged (``tokens`` + ``offsets``), padded per batch."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from pie_utils.errors import ParameterError


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
        if (
            self.offsets.ndim != 1
            or len(self.offsets) < 1
            or self.offsets[0] != 0
            or self.offsets[-1] != len(self.tokens)
            or np.any(np.diff(self.offsets) < 0)
        ):
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
        return self.tokens[self.offsets[position] : self.offsets[position + 1]]

    def batch(
        self, positions: Sequence[int] | np.ndarray, pad_to: int | None = None
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

    def take(self, positions: Sequence[int] | np.ndarray) -> EncodedSplit:
        """The examples at ``positions``, in that order, as a new ``EncodedSplit``."""
        return EncodedSplit.from_sequences((self.example(int(p)) for p in np.asarray(positions)), self.pad_id)

    def equals(self, other: EncodedSplit) -> bool:
        """True when both hold the same ids, offsets and pad id."""
        return (
            self.pad_id == other.pad_id
            and np.array_equal(self.tokens, other.tokens)
            and np.array_equal(self.offsets, other.offsets)
        )
