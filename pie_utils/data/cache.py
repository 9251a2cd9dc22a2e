"""The on-disk cache of built datasets: a parsed, de-duplicated, split ``TextDataset`` saved as
Parquet under ``cache_dir()/datasets/``, keyed by its source files' hashes and the parser version."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from pie_utils.data.types import SPLIT_NAMES, Split, TextDataset

# Bump when parsing, de-duplication or splitting changes: every cached dataset is then rebuilt.
PARSER_VERSION = "1"
_META_KEY = b"pie_utils.dataset"


def cache_key(*parts: str) -> str:
    """A short hash of the parser version and ``parts`` (source file hashes, options)."""
    digest = hashlib.sha256(PARSER_VERSION.encode())
    for part in parts:
        digest.update(b"\x1e" + part.encode())
    return digest.hexdigest()[:20]


def dataset_cache_path(name: str, key: str) -> Path:
    """``cache_dir()/datasets/<name>-<key>.parquet``."""
    from pie_utils.assets import cache_dir

    return cache_dir() / "datasets" / f"{name}-{key}.parquet"


def save_cached_dataset(dataset: TextDataset, path: Path) -> None:
    """Write ``dataset`` to one parquet file: to a temporary name first, then renamed."""
    import os
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list] = {"split": [], "id": [], "text": [], "text_pair": []}
    label_parts = []
    for split_name in SPLIT_NAMES:
        split = dataset.split(split_name)
        columns["split"] += [split_name] * len(split)
        columns["id"] += list(split.ids)
        columns["text"] += list(split.texts)
        columns["text_pair"] += list(split.text_pairs) if split.text_pairs is not None else [None] * len(split)
        label_parts.append(split.labels)
    labels = np.concatenate(label_parts)
    arrays = {k: pa.array(v, type=pa.string()) for k, v in columns.items()}
    if dataset.multilabel:
        width = dataset.num_classes
        arrays["label"] = pa.FixedSizeListArray.from_arrays(pa.array(labels.reshape(-1), type=pa.uint8()), width)
    else:
        arrays["label"] = pa.array(labels, type=pa.int64())
    meta = {
        "name": dataset.name,
        "label_names": list(dataset.label_names),
        "multilabel": dataset.multilabel,
        "max_length": dataset.max_length,
        "source": dataset.source,
        "pairs": dataset.train.text_pairs is not None,
        "fingerprint": dataset.fingerprint(),
    }
    table = pa.table(arrays).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    os.close(handle)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_cached_dataset(path: Path) -> TextDataset | None:
    """Read a dataset written by ``save_cached_dataset``; None if absent, unreadable or altered."""
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[_META_KEY])
        split_col = table.column("split").to_pylist()
        ids = table.column("id").to_pylist()
        texts = table.column("text").to_pylist()
        pairs = table.column("text_pair").to_pylist() if meta["pairs"] else None
        label_col = table.column("label").combine_chunks()
        if meta["multilabel"]:
            labels = label_col.flatten().to_numpy(zero_copy_only=False).astype(np.uint8)
            labels = labels.reshape(len(ids), len(meta["label_names"]))
        else:
            labels = label_col.to_numpy(zero_copy_only=False).astype(np.int64)
        splits = {}
        start = 0
        for split_name in SPLIT_NAMES:
            end = start
            while end < len(split_col) and split_col[end] == split_name:
                end += 1
            splits[split_name] = Split(
                ids=tuple(ids[start:end]),
                texts=tuple(texts[start:end]),
                labels=labels[start:end].copy(),
                text_pairs=None if pairs is None else tuple(pairs[start:end]),
            )
            start = end
        if start != len(split_col):
            return None
        dataset = TextDataset(
            name=meta["name"],
            label_names=tuple(meta["label_names"]),
            multilabel=meta["multilabel"],
            max_length=meta["max_length"],
            source=meta["source"],
            **splits,
        )
    except Exception:  # a damaged or foreign file is rebuilt, never trusted
        return None
    return dataset if dataset.fingerprint() == meta["fingerprint"] else None


def cached_build(name: str, key: str, build, cache: bool) -> TextDataset:
    """Return the cached dataset for (name, key), or ``build()`` it (and cache it if ``cache``)."""
    path = dataset_cache_path(name, key)
    if cache:
        dataset = load_cached_dataset(path)
        if dataset is not None:
            return dataset
    dataset = build()
    if cache:
        try:
            save_cached_dataset(dataset, path)
        except OSError:  # a read-only cache must not stop a load
            pass
    return dataset
