"""Bad input through the command line is refused before any work: malformed flags, values the
validation gate refuses, a subset larger than its split, and bad local data files each exit 2
with a message naming the parameter (or the file and the place in it), and create no store.
``tests/test_config.py`` tests the gate itself with generated parameter sets."""

import pytest

from pie_utils import cli
from pie_utils.data import load_dataset


def _exit_code(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exit:  # argparse refuses a malformed flag by exiting
        return exit.code


TINY = [
    "run",
    "--dataset",
    "rotten-tomatoes",
    "--arch",
    "bilstm",
    "--methods",
    "IMP-FT",
    "--sparsity",
    "0.5",
    "--seeds",
    "2",
    "--epochs",
    "1",
    "--threads",
    "1",
    "--subset",
    "train=120,validation=40,test=40",
    "--no-progress",
]


@pytest.fixture(scope="module")
def train_split_size():
    return len(load_dataset("rotten-tomatoes").train)


def test_bad_flags_exit_2_naming_the_parameter_and_create_no_store(tmp_path, capsys, train_split_size):
    n = train_split_size
    cases = [  # (flags appended to TINY: a later flag overrides the earlier one, text stderr must hold)
        (["--device", "tpu"], "invalid device='tpu'; allowed: auto, cpu, cuda, cuda:N, mps"),
        (["--sparsity", "abc"], "argument --sparsity/--sparsities: expected a number, got 'abc'"),
        (["--seeds", "1.5"], "argument --seeds: expected an integer, got '1.5'"),
        (["--sparsity", "0"], "invalid sparsities=[]; allowed: at least one value in (0, 1)"),
        (["--learning-rate", "nan"], "invalid learning_rate=nan; allowed: a finite number > 0"),
        (["--subset", "train=5,dev=3"], "unknown subset key 'dev'; allowed: train, validation, test, seed"),
        (["--profile", "fast"], "invalid profile='fast'; allowed: ci, default, full, published"),
        (["--sparsty", "0.5"], "unrecognized arguments: --sparsty 0.5"),
        (
            ["--subset", f"train={n + 1},validation=40,test=40"],  # one more than the split holds
            f"invalid subset.n_train={n + 1}; allowed: 1..{n} (the train split of rotten-tomatoes)",
        ),
    ]
    for index, (flags, expected) in enumerate(cases):
        store = tmp_path / f"store{index}"
        assert _exit_code([*TINY, *flags, "--store", str(store)]) == 2, flags
        out, err = capsys.readouterr()
        assert expected in err and out == "", (flags, err)
        assert not store.exists(), flags


# ---- bad local data files through the CLI ---------------------------------------------------------------

LOCAL_CASES = {  # file name → (bytes, what the message must also say besides the file)
    "empty.csv": (b"", "the file is empty"),
    "header_only.csv": (b"text,label\n", "the file has a header but no rows"),
    "no_label.csv": (b"text,stars\ngreat,5\nawful,1\n", "missing column(s) 'label'"),
    "no_text.jsonl": (b'{"review": "great", "label": "pos"}\n', "missing column(s) 'text'"),
    "one_class.csv": (b"text,label\na,pos\nb,pos\nc,pos\n", "column 'label' holds a single class ('pos')"),
    "latin1.csv": (b"text,label\ngood,pos\ncaf\xe9,neg\n", "not UTF-8: byte 0xe9 at byte offset 23 (line 3)"),
    "blank_text.csv": (b'text,label\ngood,pos\n"",neg\nfine,neg\n', "row 2: empty or missing text in column 'text'"),
    "blank_label.csv": (
        b"text,label\ngood,pos\nbad,\nfine,neg\n",
        "row 2, column 'label': missing or unusable label ''",
    ),
    "mixed_labels.jsonl": (
        b'{"text": "a", "label": "x"}\n{"text": "b", "label": ["x", "y"]}\n',
        "row 2, column 'label': mixes single labels and label lists",
    ),
    "bad_split.csv": (b"text,label,split\na,x,train\nb,y,dev\n", "row 2, column 'split': 'dev' is not one of"),
    "broken.jsonl": (b'{"text": "a", "label": 1}\n{"text": \n', "line 2 is not valid JSON"),
    "too_few.csv": (b"text,label\na,x\nb,y\n", "would be empty"),
    "empty_label_list.jsonl": (
        b'{"text": "a", "label": ["x"]}\n{"text": "b", "label": []}\n',
        "row 2, column 'label': empty label list",
    ),
    "not_parquet.parquet": (b"PAR1 but not really", "not a readable parquet file"),
}


@pytest.mark.parametrize("name", sorted(LOCAL_CASES))
def test_a_bad_local_file_exits_2_naming_the_file_and_the_place(name, tmp_path, capsys):
    data, expected = LOCAL_CASES[name]
    path = tmp_path / name
    path.write_bytes(data)
    store = tmp_path / "store"
    code = cli.main(
        [
            "run",
            "--dataset",
            "local",
            "--data-path",
            str(path),
            "--arch",
            "bilstm",
            "--seeds",
            "1",
            "--store",
            str(store),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"error: {path}: ") and expected in err, err
    assert not store.exists()
