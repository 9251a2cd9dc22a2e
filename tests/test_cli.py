"""The command line, as a user runs it: a real process on real embedded data."""

import subprocess
import sys

from pie_utils.cli import main
from pie_utils.store import ResultsStore

TINY = [
    "--dataset",
    "rotten-tomatoes",
    "--arch",
    "bilstm",
    "--methods",
    "IMP-FT",
    "--sparsity",
    "0.9",
    "--seeds",
    "3",
    "--epochs",
    "1",
    "--subset",
    "train=300,validation=60,test=100",
    "--threads",
    "1",
    "--no-progress",
]


def _run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pie_utils", *arguments], capture_output=True, text=True, timeout=600)


def _main(capsys, *arguments: str) -> tuple[int, str]:
    """The command line in this process (no interpreter start and torch import per case):
    its exit status and what it wrote to stderr."""
    capsys.readouterr()
    status = main(list(arguments))
    return status, capsys.readouterr().err


def test_help_lists_the_flags():
    result = _run("run", "--help")
    assert result.returncode == 0
    for flag in (
        "--dataset",
        "--arch",
        "--methods",
        "--sparsity",
        "--seeds",
        "--subset",
        "--profile",
        "--device",
        "--executor",
        "--address",
        "--runs-per-gpu",
        "--cpus-per-run",
    ):
        assert flag in result.stdout


def test_run_trains_a_population_prints_its_pies_and_a_rerun_trains_nothing(tmp_path):
    store = tmp_path / "store"
    first = _run("run", *TINY, "--store", str(store))
    assert first.returncode == 0, first.stderr
    assert "6 runs in" in first.stdout  # 3 dense + 3 IMP-FT
    row = next(line.split() for line in first.stdout.splitlines() if line.strip().startswith("IMP-FT"))
    header = next(line.split() for line in first.stdout.splitlines() if line.strip().startswith("method"))
    values = dict(zip(header, row))
    assert values["sparsity"] == "0.900" and values["seeds"] == "3"
    assert 0 <= int(values["pies"]) <= 100
    assert abs(float(values["pie_share"]) - int(values["pies"]) / 100) < 1e-3
    assert len(ResultsStore(store).keys()) == 6
    runs = [ResultsStore(store).read(key) for key in ResultsStore(store).keys()]
    assert sorted(run.spec["method"] for run in runs) == ["IMP-FT"] * 3 + ["dense"] * 3
    assert all(run.meta["realised_sparsity"]["overall"] > 0.899 for run in runs if run.spec["method"] == "IMP-FT")

    second = _run("run", *TINY, "--store", str(store))
    assert second.returncode == 0
    assert second.stdout.splitlines()[1:] == first.stdout.splitlines()[1:]  # same PIEs, read back


def test_bad_input_exits_2_naming_the_parameter_with_no_traceback_and_no_store(tmp_path, capsys):
    bad_csv = tmp_path / "reviews.csv"
    bad_csv.write_text("text,stars\ngreat film,5\nawful,1\n")
    cases = [
        (["--dataset", "imdbb"], "dataset"),
        (["--arch", "gpt2"], "arch"),
        (["--methods", "IMP-XX"], "methods"),
        (["--sparsity", "1.0"], "sparsities"),
        (["--seeds", "0"], "seeds"),
        (["--subset", "train=999999"], "subset.n_train"),
        (["--dataset", "local", "--data-path", str(bad_csv)], "label"),
        (["--executor", "dask"], "executor"),
        (["--address", "127.0.0.1:6379"], "address"),  # only with --executor ray
        (["--runs-per-gpu", "2"], "runs_per_gpu"),  # only with --executor ray
        (["--executor", "ray", "--runs-per-gpu", "0"], "runs_per_gpu"),
        (["--executor", "ray", "--cpus-per-run", "0"], "cpus_per_run"),
    ]
    first = _run("run", *TINY, *cases[0][0], "--store", str(tmp_path / "store"))  # once as a real process
    assert first.returncode == 2 and "dataset" in first.stderr and "Traceback" not in first.stderr, first.stderr
    for change, named in cases:  # a later flag overrides the same flag in TINY
        status, stderr = _main(capsys, "run", *TINY, *change, "--store", str(tmp_path / "store"))
        assert status == 2, (change, stderr)
        assert named in stderr and ("allowed" in stderr or str(bad_csv) in stderr), stderr
        assert "Traceback" not in stderr
        assert not (tmp_path / "store").exists()


def test_executor_ray_without_ray_installed_exits_2_saying_how_to_install_it(tmp_path):
    without_ray = (
        "import sys; sys.modules['ray'] = None; "  # `import ray` now raises ImportError
        "from pie_utils.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", without_ray, "run", *TINY, "--executor", "ray", "--store", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2, result.stderr
    assert "executor" in result.stderr and "pip install .[cluster]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "store").exists()


def test_a_study_is_chosen_by_name_within_a_profile(capsys):
    from pie_utils.cli import main

    assert main(["run", "--study", "bert"]) == 2  # a study needs its profile
    assert main(["run", "--profile", "ci", "--study", "nope"]) == 2
    errors = capsys.readouterr().err
    assert "study='bert'" in errors and "with --profile" in errors
    assert "study='nope'" in errors and "dense_long" in errors and "reuters_r52" in errors
    assert main(["profiles"]) == 0
    listing = capsys.readouterr().out
    assert "  bert: " in listing and "'arch': 'bert'" in listing


def test_train_and_store_refuse_bad_input_before_any_work(tmp_path, capsys):
    for arguments, named in (
        (("train", "--profile", "ci", "--study", "nope", "--store", str(tmp_path)), "study"),
        (("train", "--profile", "ci", "--workers", "0", "--store", str(tmp_path)), "workers"),
        (("train", "--profile", "nope"), "profile"),
    ):
        status, stderr = _main(capsys, *arguments)
        assert status == 2, (arguments, stderr)
        assert stderr.startswith("error: ") and named in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_a_derived_study_named_alone_waits_for_the_dense_runs_it_derives_from(tmp_path, capsys):
    status, stderr = _main(capsys, "train", "--profile", "ci", "--study", "nope", "--store", str(tmp_path))
    assert status == 2 and "without_top_el2n" in stderr and "without_random_decile" in stderr  # allowed
    status, stderr = _main(capsys, "train", "--profile", "ci", "--study", "without_top_el2n", "--store", str(tmp_path))
    assert status == 1 and stderr.startswith("derived studies not trained: ") and "run" in stderr
    assert not (tmp_path / "runs").exists()


def test_train_then_evaluate_a_study_on_another_dataset(tmp_path, capsys):
    """`train` stores the runs of ci's smallest study (120 snippets: 4 seeds, dense and MP-AI);
    `evaluate` scores them on 80 movie reviews without training; a second `train` trains nothing."""
    small = ("--profile", "ci", "--study", "bilstm_pair", "--store", str(tmp_path))
    first = _run("train", *small, "--workers", "2", "--no-progress")
    assert first.returncode == 0, first.stderr
    assert "8 runs and 0 evaluations of 1 studies; 8 trained or scored now, 0 were stored" in first.stdout
    capsys.readouterr()
    assert main(["evaluate", *small, "--on", "movie-reviews", "--on-subset", "train=40,validation=20,test=20"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert [(row[0], float(row[1]), int(row[2])) for row in rows] == [("dense", 0.0, 4), ("MP-AI", 0.5, 4)]
    assert all(0 <= float(row[3]) <= 1 for row in rows)
    assert len(list((tmp_path / "evaluations").iterdir())) == 8
    assert main(["train", *small, "--no-progress"]) == 0
    assert "0 trained or scored now, 8 were stored" in capsys.readouterr().out


def test_a_file_given_as_the_dataset_is_read_as_a_local_file(tmp_path, snippets_csv):
    """`--dataset FILE` is `--dataset local --data-path FILE`: both read the file and stop at the
    same check (a subset larger than its train split), so nothing trains."""
    snippets = snippets_csv(tmp_path / "snippets.csv")
    too_big = ("--arch", "bilstm", "--seeds", "1", "--subset", "train=999", "--store", str(tmp_path / "store"))
    as_dataset = _run("run", "--dataset", str(snippets), *too_big)
    as_local = _run("run", "--dataset", "local", "--data-path", str(snippets), *too_big)
    assert as_dataset.returncode == as_local.returncode == 2, as_dataset.stderr
    assert "subset.n_train=999" in as_dataset.stderr and "snippets.csv" in as_dataset.stderr
    assert as_dataset.stderr == as_local.stderr
    assert not (tmp_path / "store").exists()


def test_a_path_naming_no_file_is_refused_with_the_flags_that_read_a_local_file(tmp_path):
    missing = tmp_path / "data" / "snipets.csv"
    result = _run("run", "--dataset", str(missing), "--arch", "bilstm", "--seeds", "1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"--dataset local --data-path {missing}" in result.stderr and "rotten-tomatoes" in result.stderr


def test_the_dataset_file_is_resolved_before_validation(tmp_path, monkeypatch, snippets_csv):
    """What the parser hands on: names stay names, a file becomes `local` with its path, and a
    second, different --data-path is refused."""
    import pytest

    from pie_utils import cli
    from pie_utils.errors import ParameterError

    snippets = snippets_csv(tmp_path / "snippets.csv", per_class=2)
    monkeypatch.chdir(tmp_path)

    def resolved(*flags):
        arguments = cli.build_parser().parse_args(["run", *flags])
        cli._dataset_file(arguments)
        return arguments.dataset, arguments.data_path

    assert resolved("--dataset", "rotten-tomatoes") == ("rotten-tomatoes", None)
    assert resolved("--dataset", "imdbb") == ("imdbb", None)  # a mistyped name: the name list answers
    assert resolved("--dataset", "snippets.csv") == ("local", "snippets.csv")
    assert resolved("--dataset", str(snippets), "--data-path", "snippets.csv") == ("local", str(snippets))
    (tmp_path / "rotten-tomatoes").write_text("a file named like a dataset\n")
    assert resolved("--dataset", "rotten-tomatoes") == ("rotten-tomatoes", None)  # names come first
    with pytest.raises(ParameterError, match="invalid data_path='other.csv'"):
        resolved("--dataset", "snippets.csv", "--data-path", "other.csv")
