"""What the registry knows about one dataset name (the table itself is ``registry``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pie_utils.data.splitting import RawExamples


@dataclass(frozen=True)
class DatasetSpec:
    """What the registry knows about one dataset name.

    Attributes:
        name: registry name, e.g. ``rotten-tomatoes``.
        kind: "embedded", "hub" or "local".
        max_length: token budget per example for BERT-style encoders (the paper: IMDB 512,
            SNLI 128, Reuters and AAPD 256).
        num_classes: number of classes, or None where it depends on the data (local files).
        multilabel: True when an example may carry several labels.
        pair: True for sentence-pair tasks (texts = premises, text_pairs = hypotheses).
        paper_counterpart: which dataset of the paper this one is, or stands in for.
        licence: licence or terms of use of the data.
        description: one line on what the data is and how its splits are made.
        asset: for embedded datasets, the ``pie_utils.assets`` name holding the files.
        hub_repo: for hub datasets, the default dataset repository on the Hugging Face Hub
            (None: no repository could be confirmed, the user passes ``path``).
        official_split: for embedded datasets, True when the source has an official
            train/test split (validation ids are then carved from train and stored).
        parse: for embedded datasets, its reader: ``parse(folder) -> (raw rows, label names,
            source note)`` of the asset's unpacked folder (``pie_utils.data.embedded``).
    """

    name: str
    kind: str
    max_length: int
    num_classes: int | None
    multilabel: bool
    pair: bool
    paper_counterpart: str
    licence: str
    description: str
    asset: str | None = None
    hub_repo: str | None = None
    official_split: bool = False
    parse: Callable[[Path], tuple[RawExamples, tuple[str, ...], str]] | None = None
