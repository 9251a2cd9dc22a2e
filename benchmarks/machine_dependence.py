"""Which property of a machine moves a run's numbers: instruction set, thread count, or load.

    python -m benchmarks.machine_dependence [--profile default] [--seeds 1] [--sparsity 0.9]
                                            [--out benchmarks/results/machine-dependence.md]

Trains the same runs (the profile's main study, dense plus each method at ``--sparsity``, seeds
0..S−1) once per condition, each in a fresh process and a store of its own, and compares every
run with the reference condition (this machine as it is, 2 threads, quiet):

- ``again``: the reference repeated (determinism);
- ``loaded``: the reference while two busy processes compete for both cores;
- ``threads=1``: one intra-op thread (the thread count is part of the run key);
- ``ATEN avx2``: PyTorch's own CPU kernels dispatched at AVX2 (``ATEN_CPU_CAPABILITY=avx2``);
- ``oneDNN avx2``: oneDNN's kernels (the LSTM layer, matrix products) capped at AVX2
  (``ONEDNN_MAX_CPU_ISA=AVX2``);
- ``both avx2``: both, which is what a machine without AVX-512 runs;
- ``oneDNN avx512_core``: oneDNN capped at plain AVX-512 (no AMX, VNNI or AVX-512 BF16/FP16),
  what an older AVX-512 server (Skylake to Ice Lake) runs.

``--conditions`` picks some of them (the reference is always trained).

Per condition and run: whether the test logits are bitwise equal, their largest difference,
and the share of test predictions that differ. Train nothing else while it runs.

    python -m benchmarks.machine_dependence --populations STORE_A STORE_B [--profile default]
                                            [--out benchmarks/results/machine-populations.md]

compares two stores of the profile's main study, trained on two machines (or under two
instruction sets), as populations: per cell, mean test accuracy and its seed spread in each,
the PIE share (all seeds, dense vs pruned modal labels) in each, the correlation of per-point
pruned vote fractions, and the share of points whose pruned modal label differs between them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

CONDITIONS = {  # name -> (environment overrides, threads, busy processes alongside)
    "reference": ({}, 2, 0),
    "again": ({}, 2, 0),
    "loaded": ({}, 2, 2),
    "threads=1": ({}, 1, 0),
    "ATEN avx2": ({"ATEN_CPU_CAPABILITY": "avx2"}, 2, 0),
    "oneDNN avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, 2, 0),
    "both avx2": ({"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}, 2, 0),
    "oneDNN avx512_core": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, 2, 0),
}
BUSY = "while True: pass"


def train_worker(profile: str, seeds: int, sparsity: float, threads: int, store: str) -> None:
    """Train the runs of one condition into ``store`` (run in a fresh process)."""
    from pie_utils.studies import load_study
    from pie_utils.training import train_study

    study = load_study(profile, seeds=seeds, sparsities=[sparsity], threads=threads, store=store)
    train_study(study, progress=False)


def stored_runs(store: Path) -> dict[tuple, tuple[np.ndarray, dict]]:
    """(method, sparsity, seed) → (test logits ``[example, class]``, machine) of every stored run."""
    from pie_utils.store import ResultsStore

    results = ResultsStore(store)
    runs = {}
    for key in results.keys():
        run = results.read(key)
        runs[(run.spec["method"], run.spec["sparsity"], run.spec["seed"])] = (
            run.arrays["test_logits"],
            run.meta["machine"],
        )
    return runs


def compare(reference: dict, other: dict, condition: str) -> list[dict]:
    """One row per run: bitwise equality, largest logit difference, share of predictions that differ."""
    rows = []
    for run, (logits, _) in sorted(reference.items()):
        theirs, machine = other[run]
        rows.append(
            {
                "condition": condition,
                "method": run[0],
                "sparsity": run[1],
                "seed": run[2],
                "isa": machine["isa"],
                "threads": machine["threads"],
                "bitwise equal": bool(np.array_equal(logits, theirs)),
                "max |Δ logit|": float(np.abs(logits - theirs).max()),
                "predictions differing": float((logits.argmax(1) != theirs.argmax(1)).mean()),
            }
        )
    return rows


def population_table(profile: str, first: str, second: str) -> pd.DataFrame:
    """One row per cell of the main study: the two stores compared as populations."""
    from pie_utils.pies import find_pies, modal_labels, vote_counts
    from pie_utils.pruning import DENSE
    from pie_utils.studies import train

    a, b = (train(profile, store=store, progress=False) for store in (first, second))
    gold, classes = a.labels(), a.dataset.num_classes
    rows = []
    for method, sparsity in [(DENSE, 0.0)] + [(m, s) for m in a.study.methods for s in a.study.sparsities]:
        pa, pb = a.predictions(method, sparsity), b.predictions(method, sparsity)
        accuracy_a, accuracy_b = (pa == gold).mean(axis=1), (pb == gold).mean(axis=1)
        votes_a, votes_b = (vote_counts(p, classes)[:, 1] / len(p) for p in (pa, pb))
        row = {
            "method": method,
            "sparsity": sparsity,
            "seeds": len(pa),
            "accuracy A": accuracy_a.mean(),
            "accuracy B": accuracy_b.mean(),
            "seed sd A": accuracy_a.std(ddof=1),
            "Δ accuracy": accuracy_b.mean() - accuracy_a.mean(),
            "vote-fraction r": float(np.corrcoef(votes_a, votes_b)[0, 1]),
            "modal labels differing": float(
                (modal_labels(pa, classes).labels != modal_labels(pb, classes).labels).mean()
            ),
        }
        if method != DENSE:
            share_a = find_pies(a.predictions(DENSE, 0.0), pa, classes).mean()
            share_b = find_pies(b.predictions(DENSE, 0.0), pb, classes).mean()
            row.update({"PIE share A": share_a, "PIE share B": share_b, "Δ PIE share": share_b - share_a})
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/machine-dependence.md"))
    parser.add_argument("--conditions", nargs="+", choices=list(CONDITIONS)[1:], default=list(CONDITIONS)[1:])
    parser.add_argument(
        "--populations",
        nargs=2,
        metavar=("STORE_A", "STORE_B"),
        help="compare two stores of the main study as populations (trains what they lack)",
    )
    parser.add_argument("--worker", nargs=2, metavar=("THREADS", "STORE"), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    command = " ".join(["python -m benchmarks.machine_dependence", *(argv if argv is not None else sys.argv[1:])])
    if arguments.populations:
        table = population_table(arguments.profile, *arguments.populations)
        arguments.out.parent.mkdir(parents=True, exist_ok=True)
        arguments.out.write_text(
            f"# Two stores compared as populations\n\n`{command}`\n\n{table.to_markdown(index=False, floatfmt='.4g')}\n"
        )
        print(table.to_string())
        return 0
    if arguments.worker:
        train_worker(
            arguments.profile, arguments.seeds, arguments.sparsity, int(arguments.worker[0]), arguments.worker[1]
        )
        return 0
    rows, stores = [], {}
    with tempfile.TemporaryDirectory() as scratch:
        chosen = ["reference", *arguments.conditions]
        for condition in chosen:
            environment, threads, busy = CONDITIONS[condition]
            stores[condition] = Path(scratch) / condition.replace(" ", "_").replace("=", "")
            load = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
            try:
                print(f"training: {condition}", flush=True)
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "benchmarks.machine_dependence",
                        "--profile",
                        arguments.profile,
                        "--seeds",
                        str(arguments.seeds),
                        "--sparsity",
                        str(arguments.sparsity),
                        "--worker",
                        str(threads),
                        str(stores[condition]),
                    ],
                    env={**os.environ, **environment},
                    check=True,
                )
            finally:
                for process in load:
                    process.kill()
        reference = stored_runs(stores["reference"])
        for condition in arguments.conditions:
            rows += compare(reference, stored_runs(stores[condition]), condition)
    table = pd.DataFrame(rows)
    summary = table.groupby("condition", sort=False).agg(
        isa=("isa", "first"),
        threads=("threads", "first"),
        runs=("seed", "size"),
        bitwise_equal=("bitwise equal", "sum"),
        max_logit_difference=("max |Δ logit|", "max"),
        mean_predictions_differing=("predictions differing", "mean"),
    )
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    cpu = next(iter(reference.values()))[1]["cpu"]
    arguments.out.write_text(
        f"# What moves a run's numbers\n\n`{command}` on {cpu} "
        f"(reference ISA {next(iter(reference.values()))[1]['isa']}).\n\n"
        f"## Per condition\n\n{summary.to_markdown()}\n\n## Per run\n\n{table.to_markdown(index=False)}\n"
    )
    print(summary.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
