"""The in-memory shape of a dataset: three fixed splits of texts and labels."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset.

    Attributes:
        ids: stable example ids, ``[example]`` (content hashes or the source's own ids).
        texts: ``[example]`` texts; for sentence pairs, the first sentence (premise).
        text_pairs: ``[example]`` second sentences (hypothesis) for pair tasks, else None.
        labels: ``[example]`` int64 class indices, or ``[example, class]`` uint8 multi-hot
            for multilabel datasets.
    """

    ids: tuple[str, ...]
    texts: tuple[str, ...]
    labels: np.ndarray
    text_pairs: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, positions: np.ndarray) -> Split:
        """Return the examples at ``positions`` (an int array), in that order."""
        positions = np.asarray(positions, dtype=np.int64)
        pick = lambda seq: tuple(seq[i] for i in positions)  # noqa: E731
        return Split(
            ids=pick(self.ids),
            texts=pick(self.texts),
            labels=self.labels[positions],
            text_pairs=None if self.text_pairs is None else pick(self.text_pairs),
        )


@dataclass(frozen=True, eq=False)
class TextDataset:
    """A classification dataset with fixed train/validation/test splits.

    Attributes:
        name: registry name (e.g. ``rotten-tomatoes``) or a local file's name.
        label_names: ``[class]`` human-readable label names; class index i is label_names[i].
        multilabel: True when an example may carry several labels (labels are multi-hot).
        train, validation, test: the splits.
        max_length: token budget per example for BERT-style encoders (the paper's 512/128/256).
        source: one line saying where the data came from (distribution, file, hub revision).
    """

    name: str
    label_names: tuple[str, ...]
    multilabel: bool
    train: Split
    validation: Split
    test: Split
    max_length: int
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def split(self, name: str) -> Split:
        """Return the split called ``name`` (one of SPLIT_NAMES)."""
        if name not in SPLIT_NAMES:
            raise KeyError(f"unknown split {name!r}; allowed: {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)

    def pooled(self) -> Split:
        """Every example of the three splits in one ``Split``: train, then validation, then test
        (e.g. an out-of-distribution test set, none of which a model was trained on)."""
        splits = [self.split(name) for name in SPLIT_NAMES]
        pairs = None if splits[0].text_pairs is None else tuple(t for s in splits for t in s.text_pairs)
        return Split(
            ids=tuple(i for s in splits for i in s.ids),
            texts=tuple(t for s in splits for t in s.texts),
            labels=np.concatenate([s.labels for s in splits]),
            text_pairs=pairs,
        )

    def fingerprint(self) -> str:
        """sha256 over the name, label names and every split's ids and labels.

        Two datasets with the same fingerprint hold the same examples in the same splits with
        the same labels, so a stored run keyed by it can be reused.
        """
        digest = hashlib.sha256()
        digest.update(self.name.encode())
        digest.update("\x1f".join(self.label_names).encode())
        for split_name in SPLIT_NAMES:
            split = self.split(split_name)
            digest.update(split_name.encode())
            digest.update("\x1f".join(split.ids).encode())
            digest.update(np.ascontiguousarray(split.labels).tobytes())
        return digest.hexdigest()
