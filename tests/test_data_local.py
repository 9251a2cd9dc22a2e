"""Tests of local data files (pie_utils.data.local): good files, and every refusal.

Each refusal must name the file and the row (1 = first data row) or the column.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pie_utils.data import SPLIT_NAMES, load_dataset
from pie_utils.errors import DataFileError, ParameterError

LOCAL = Path(__file__).parent / "fixtures" / "data" / "local"


def sizes(dataset):
    return tuple(len(dataset.split(s)) for s in SPLIT_NAMES)


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def refusal(path: Path, **kwargs) -> str:
    with pytest.raises(DataFileError) as caught:
        load_dataset("local", path=str(path), **kwargs)
    message = str(caught.value)
    assert path.name in message
    return message


# ---------------------------------------------------------------------------------------------
# Good files
# ---------------------------------------------------------------------------------------------


def test_csv_without_split_column_is_split_80_10_10_by_class():
    dataset = load_dataset("local", path=str(LOCAL / "reviews.csv"))
    # 21 rows, one a whitespace variant of another: 20 examples, 10 per class -> 8/1/1 each.
    assert sizes(dataset) == (16, 2, 2)
    assert dataset.name == "reviews.csv" and dataset.label_names == ("negative", "positive")
    assert "1 duplicate copies dropped" in dataset.source
    for split_name in SPLIT_NAMES:
        counts = np.bincount(dataset.split(split_name).labels, minlength=2)
        assert counts[0] == counts[1]


def test_jsonl_pairs_with_a_split_column():
    dataset = load_dataset("local", path=str(LOCAL / "pairs.jsonl"))
    assert sizes(dataset) == (6, 2, 3)
    assert dataset.label_names == ("contradiction", "entailment", "neutral")
    assert dataset.test.text_pairs is not None
    assert set(dataset.validation.texts) == {"dogs bark"}


def test_parquet_with_label_lists_is_multilabel():
    dataset = load_dataset("local", path=str(LOCAL / "topics.parquet"))
    assert dataset.multilabel and dataset.label_names == ("finance", "health", "politics")
    assert sizes(dataset) == (8, 1, 1)
    assert dataset.train.labels.dtype == np.uint8 and dataset.train.labels.shape == (8, 3)
    total = sum(dataset.split(s).labels.sum(axis=0) for s in SPLIT_NAMES)
    assert total.tolist() == [5, 4, 5]  # finance, health, politics over the 10 rows


def test_file_order_does_not_change_ids_splits_or_fingerprint(tmp_path):
    lines = (LOCAL / "reviews.csv").read_text(encoding="utf-8").splitlines()
    body = lines[1:]
    random.Random(7).shuffle(body)
    shuffled = write(tmp_path, "reviews.csv", "\n".join([lines[0]] + body) + "\n")
    original = load_dataset("local", path=str(LOCAL / "reviews.csv"))
    again = load_dataset("local", path=str(shuffled))
    assert again.fingerprint() == original.fingerprint()


def test_label_names_fix_the_class_order(tmp_path):
    dataset = load_dataset("local", path=str(LOCAL / "reviews.csv"), label_names=["positive", "negative"])
    assert dataset.label_names == ("positive", "negative")
    labels = {text: label for s in SPLIT_NAMES for text, label in zip(dataset.split(s).texts, dataset.split(s).labels)}
    assert labels["a joy to watch"] == 0 and labels["a disaster"] == 1


def test_integer_labels_in_csv_and_a_missing_validation_split(tmp_path):
    rows = ["text,label,split"]
    rows += [f"good film {i},1,train" for i in range(10)]
    rows += [f"bad film {i},-1,train" for i in range(10)]
    rows += ["good film test,1,test", "bad film test,-1,test"]
    dataset = load_dataset("local", path=str(write(tmp_path, "ints.csv", "\n".join(rows))))
    assert dataset.label_names == ("-1", "1")
    assert sizes(dataset) == (18, 2, 2)  # 10 % of train carved for validation


# ---------------------------------------------------------------------------------------------
# Refusals: each names the file and the row or column
# ---------------------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    assert "empty" in refusal(write(tmp_path, "empty.csv", ""))
    assert "no rows" in refusal(write(tmp_path, "header.csv", "text,label\n"))
    assert "empty" in refusal(write(tmp_path, "blank.jsonl", "\n\n"))


def test_missing_columns_name_what_is_missing_and_needed(tmp_path):
    message = refusal(write(tmp_path, "nolabel.csv", "text,stars\nnice,5\nbad,1\n"))
    assert "missing column(s) 'label'" in message
    assert "needs a 'text' column (or 'premise' and 'hypothesis')" in message
    assert "found: 'text', 'stars'" in message
    message = refusal(write(tmp_path, "half_pair.csv", "premise,label\na,x\nb,y\n"))
    assert "'hypothesis'" in message


def test_a_single_class_is_refused(tmp_path):
    message = refusal(write(tmp_path, "one.csv", "text,label\na,pos\nb,pos\nc,pos\n"))
    assert "column 'label'" in message and "single class ('pos')" in message


def test_bytes_that_are_not_utf8_are_located(tmp_path):
    data = b"text,label\ngood,pos\ncaf\xe9 au lait,neg\n"
    message = refusal(write(tmp_path, "latin1.csv", data))
    assert "not UTF-8" in message and "byte offset 23" in message and "line 3" in message
    message = refusal(
        write(tmp_path, "latin1.jsonl", b'{"text": "ok", "label": "a"}\n{"text": "caf\xe9", "label": "b"}\n')
    )
    assert "line 2" in message and "byte offset 42" in message  # 29 bytes + len('{"text": "caf')


def test_empty_texts_and_labels_name_the_row(tmp_path):
    message = refusal(write(tmp_path, "blank_text.csv", 'text,label\ngood,pos\n"  ",neg\n'))
    assert "row 2" in message and "column 'text'" in message
    message = refusal(write(tmp_path, "blank_label.csv", "text,label\ngood,pos\nbad,\nok,neg\n"))
    assert "row 2" in message and "column 'label'" in message
    path = tmp_path / "blank.parquet"
    pq.write_table(pa.table({"text": ["fine", "", "also fine"], "label": [0, 1, 1]}), path)
    assert "row 2" in refusal(path)
    lines = [json.dumps({"text": "fine", "label": "a"}), json.dumps({"text": "x"})]
    message = refusal(write(tmp_path, "nolabel_row.jsonl", "\n".join(lines)))
    assert "row 2" in message and "missing label" in message


def test_labels_outside_the_given_label_names_are_refused(tmp_path):
    path = write(tmp_path, "three.csv", "text,label\na,pos\nb,neg\nc,meh\n")
    message = refusal(path, label_names=["neg", "pos"])
    assert "row 3" in message and "'meh'" in message and "'neg', 'pos'" in message


def test_other_malformed_rows(tmp_path):
    message = refusal(write(tmp_path, "fields.csv", "text,label\na,pos\nb,neg,extra\n"))
    assert "row 2" in message and "3 fields" in message
    message = refusal(write(tmp_path, "split.csv", "text,label,split\na,x,train\nb,y,dev\n"))
    assert "row 2" in message and "column 'split'" in message and "'dev'" in message
    message = refusal(write(tmp_path, "broken.jsonl", '{"text": "a", "label": 1}\n{"text": \n'))
    assert "line 2" in message and "not valid JSON" in message
    message = refusal(write(tmp_path, "no_test.csv", "text,label,split\na,x,train\nb,y,train\n"))
    assert "test" in message and "column 'split'" in message
    message = refusal(write(tmp_path, "bad.parquet", b"PAR1 not really"))
    assert "parquet" in message


def test_wrong_paths_and_arguments():
    with pytest.raises(ParameterError, match="path"):
        load_dataset("local")
    with pytest.raises(ParameterError, match="path"):
        load_dataset("local", path="data.xlsx")
    with pytest.raises(DataFileError, match="no such file"):
        load_dataset("local", path=str(LOCAL / "absent.csv"))
    with pytest.raises(ParameterError, match="label_names"):
        load_dataset("local", path=str(LOCAL / "reviews.csv"), label_names=["only"])
