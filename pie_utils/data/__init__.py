"""Datasets with fixed train/validation/test splits: embedded, hub and local files.

    load_dataset(name, *, path=None, revision=None, cache=True, label_names=None) -> TextDataset
    subset(dataset, n_train=None, n_test=None, n_validation=None, seed=0) -> TextDataset
    DATASETS: name -> DatasetSpec;  dataset_names() -> tuple of names

See ``registry`` (names and specs), ``embedded`` / ``hub`` / ``local`` (sources and their
formats), ``splitting`` (ids, de-duplication, stored splits) and ``subset``.
"""

from pie_utils.data.registry import DATASETS, dataset_names, dataset_or_file, get_spec, load_dataset
from pie_utils.data.spec import DatasetSpec
from pie_utils.data.subset import subset
from pie_utils.data.types import SPLIT_NAMES, Split, TextDataset

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "SPLIT_NAMES",
    "Split",
    "TextDataset",
    "dataset_names",
    "dataset_or_file",
    "get_spec",
    "load_dataset",
    "subset",
]
