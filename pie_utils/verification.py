"""``make verify``: retrain published runs from scratch with this code and compare them with the store.

Where the CPU (its model, instruction set and architecture) and the thread count match what the
manifest recorded for a run, the retrained arrays, put through the publication's own
transformation (``pie_utils.publication.published_arrays``), must equal the published ones bit
for bit, and the metrics must be equal. The instruction set alone is not enough: a dense BiLSTM
run trained on an Intel Xeon and retrained on an AMD EPYC, both AVX512 at one thread, differs
in every array (96.7 % of its test predictions agree). Elsewhere float sums run in another
order, magnitude pruning flips near-tied weights and single runs differ
(``benchmarks/README.md``), so the run's whole cell is compared as a population instead:
``population_seeds`` seeds retrained against the same seeds published, passing when

- the mean test accuracy differs by at most the published seeds' standard deviation, and
- the per-point vote fractions (the share of the population predicting each class on each
  test point) of the retrained and the published population differ on average by no more than
  those of two disjoint published populations of the same size do (the seed-to-seed
  reference); their correlation is reported beside it.

A cheaper check for other machines (``nearest=True``, what CI runs there): the one run
retrained must agree with its own published record on more test predictions than with the
published run of any other seed of its cell, so it is recognisably that run.

Every report says which comparison it made and what it found.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from pie_utils.devices import check_device
from pie_utils.errors import ParameterError
from pie_utils.leave_group_out import profile_studies
from pie_utils.manifest import Manifest
from pie_utils.pruning import DENSE
from pie_utils.publication import Record, profile_records, published_arrays, working_seconds
from pie_utils.runs import prepare_data, study_key
from pie_utils.store import ARRAYS_FILE, KEY_FIELD, RUNS, ResultsStore, StoredRun, machine_description
from pie_utils.studies import MAIN_STUDY, load_study
from pie_utils.training import PopulationTrainer

BITWISE, POPULATION, NEAREST = "bitwise", "population", "nearest seed"
MACHINE_FIELDS = ("cpu", "isa", "architecture")  # equal for bitwise equality (threads: retrained as recorded)


@dataclass(frozen=True)
class Verification:
    """One published run checked: ``mode`` is ``bitwise`` or ``population``; ``findings`` says
    what was compared and what differed."""

    record: Record
    mode: str
    passed: bool
    findings: str


def published_store(profile: str) -> ResultsStore:
    """The profile's published store; refuses a profile whose store has no manifest."""
    store = ResultsStore(load_study(profile, MAIN_STUDY).store)
    if store.manifest is None:
        raise ParameterError("profile", profile, "a profile with a published store (one holding manifest.json)")
    return store


def published_runs(profile: str) -> tuple[ResultsStore, list[Record]]:
    """The profile's published store and the runs (not evaluations) its manifest lists."""
    store = published_store(profile)
    listed = [r for r in profile_records(profile) if r.kind == RUNS and store.manifest.entry(RUNS, r.key)]
    return store, listed


def draw(records: list[Record], n: int, seed: int) -> list[Record]:
    """``n`` records drawn without replacement by a generator seeded with ``seed``."""
    if not 1 <= n <= len(records):
        raise ParameterError("n", n, f"1 … {len(records)} (the published runs)")
    chosen = np.random.default_rng(seed).choice(len(records), n, replace=False)
    return [records[i] for i in sorted(chosen)]


def cheapest(records: list[Record], manifest: Manifest) -> list[Record]:
    """The main study's dense run and pruned run that trained fastest (what CI retrains)."""
    main = [r for r in records if r.studies[0] == MAIN_STUDY]
    seconds = {r.key: working_seconds(manifest.entry(RUNS, r.key)) for r in main}
    dense = [r for r in main if r.method == DENSE]
    pruned = [r for r in main if r.method != DENSE]
    return [min(group, key=lambda r: seconds[r.key]) for group in (dense, pruned) if group]


def verify(
    profile: str,
    records: list[Record],
    population_seeds: int = 5,
    force_population: bool = False,
    nearest: bool = False,
) -> list[Verification]:
    """Retrain each of ``records`` (``draw`` or ``cheapest``) and compare it with the published
    store: bit for bit on the machine that trained it (``same_machine``), elsewhere as a
    population, or with ``nearest`` as the nearest seed (see the module docstring);
    ``force_population`` compares as populations even on a matching machine."""
    store = published_store(profile)
    here = machine_description()
    results = []
    for record in records:
        recorded = store.manifest.entry(RUNS, record.key)["machine"]
        with tempfile.TemporaryDirectory(prefix="pie-verify-") as scratch:
            retrain = _Retrainer(profile, record, Path(scratch), recorded["threads"])
            if same_machine(recorded, here) and not force_population:
                results.append(_bitwise(record, store, retrain))
            elif nearest:
                results.append(_nearest(record, store, retrain, recorded, here))
            else:
                results.append(_population(record, store, retrain, population_seeds, recorded, here))
    return results


def same_machine(recorded: dict, here: dict) -> bool:
    """True when two ``machine_description``s agree on the processor (``MACHINE_FIELDS``)."""
    return all(recorded.get(name) == here.get(name) for name in MACHINE_FIELDS)


class _Retrainer:
    """Trains runs of one record's study into a scratch store with the recorded thread count."""

    def __init__(self, profile: str, record: Record, scratch: Path, threads: int):
        self.study = replace(profile_studies(profile)[record.studies[0]], store=str(scratch))
        self.prepared = prepare_data(self.study)
        torch.set_num_threads(threads)
        self.trainer = PopulationTrainer(self.study, self.prepared, ResultsStore(scratch), check_device(self.study))

    def run(self, method: str, sparsity: float, seed: int):
        key = study_key(self.study, self.prepared, method, sparsity, seed)
        run = self.trainer.store.read(key)
        if run is None:
            self.trainer.train_run(method, sparsity, seed)
            run = self.trainer.store.read(key)
        return run


def _bitwise(record: Record, store: ResultsStore, retrain: _Retrainer) -> Verification:
    fresh = retrain.run(record.method, record.sparsity, record.seed)
    published, stored = _raw_arrays(store, record.key)
    slim, _ = published_arrays(record, fresh.arrays)
    differing = [
        name
        for name in sorted(set(slim) | set(published))
        if name not in slim
        or name not in published
        or slim[name].dtype != published[name].dtype
        or not np.array_equal(slim[name], published[name])
    ]
    metrics = fresh.metrics == stored.metrics
    passed = not differing and metrics
    findings = (
        f"{len(slim)} arrays bit for bit equal and the metrics equal"
        if passed
        else f"arrays that differ: {', '.join(differing) or 'none'}; metrics {'equal' if metrics else 'differ'}"
    )
    return Verification(record, BITWISE, passed, findings)


def _population(record, store, retrain: _Retrainer, size: int, recorded: dict, here: dict) -> Verification:
    study = retrain.study
    seeds = list(study.seed_range)
    if 2 * size > len(seeds):
        raise ParameterError("population_seeds", size, f"1 … {len(seeds) // 2} (half of the study's seeds)")
    labels = retrain.prepared.dataset.test.labels
    classes = retrain.prepared.dataset.num_classes

    def predictions(read, chosen):
        return np.stack([read(seed).arrays["test_logits"].argmax(axis=1) for seed in chosen])

    def published(seed):
        return store.read(study_key(study, retrain.prepared, record.method, record.sparsity, seed))

    def fresh(seed):
        return retrain.run(record.method, record.sparsity, seed)

    first, second = seeds[:size], seeds[size : 2 * size]
    ours, theirs, others = predictions(fresh, first), predictions(published, first), predictions(published, second)
    accuracy = (theirs == labels).mean(axis=1)
    gap = float((ours == labels).mean() - accuracy.mean())
    spread = float(accuracy.std(ddof=1))
    (difference, r), (reference, r_reference) = (
        _vote_comparison(ours, theirs, classes),
        _vote_comparison(others, theirs, classes),
    )
    passed = abs(gap) <= spread and difference <= reference
    findings = (
        f"{_machines(here, recorded)}: {record.method} {record.sparsity:g} retrained on seeds {first}; "
        f"mean test accuracy {gap:+.4f} from the published (seed sd {spread:.4f}); vote fractions differ by "
        f"{difference:.4f} on average (r = {r:.3f}) against {reference:.4f} (r = {r_reference:.3f}) between "
        f"disjoint published seeds"
    )
    return Verification(record, POPULATION, passed, findings)


def _nearest(record, store, retrain: _Retrainer, recorded: dict, here: dict) -> Verification:
    study = retrain.study

    def predictions(run: StoredRun) -> np.ndarray:
        return run.arrays["test_logits"].argmax(axis=1)

    fresh = predictions(retrain.run(record.method, record.sparsity, record.seed))
    agreement = {  # seed → share of test points where the retrained run predicts as that seed's published one
        seed: float(
            (
                fresh
                == predictions(store.read(study_key(study, retrain.prepared, record.method, record.sparsity, seed)))
            ).mean()
        )
        for seed in study.seed_range
    }
    own = agreement.pop(record.seed)
    closest = max(agreement, key=agreement.get)
    findings = (
        f"{_machines(here, recorded)}: seed {record.seed} retrained agrees with its published run on "
        f"{own:.1%} of test predictions, with the closest other published seed ({closest}) on "
        f"{agreement[closest]:.1%} (of {len(agreement)} others)"
    )
    return Verification(record, NEAREST, own > agreement[closest], findings)


def _machines(here: dict, recorded: dict) -> str:
    """ "machine <cpu> <isa>/<architecture> against the recorded ...": why bits cannot match."""
    return (
        f"machine {here['cpu']} {here['isa']}/{here['architecture']} against the recorded "
        f"{recorded.get('cpu')} {recorded['isa']}/{recorded['architecture']}"
    )


def _vote_comparison(a: np.ndarray, b: np.ndarray, classes: int) -> tuple[float, float]:
    """The mean absolute difference and the Pearson r (NaN where either is constant) of two
    populations' vote fractions over every (example, class) pair; ``[seed, example]``
    predictions each."""
    share_a, share_b = (np.stack([(p == c).mean(axis=0) for c in range(classes)]).ravel() for p in (a, b))
    varies = share_a.std() > 0 and share_b.std() > 0
    return float(np.abs(share_a - share_b).mean()), float(np.corrcoef(share_a, share_b)[0, 1]) if varies else np.nan


def _raw_arrays(store: ResultsStore, key: str) -> tuple[dict[str, np.ndarray], StoredRun]:
    """A published run's arrays as stored (float16 and centred, not widened on read), and the
    run as read (which checked the manifest and the checksums first)."""
    run = store.read(key)
    data = (store.run_dir(key) / ARRAYS_FILE).read_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files if name != KEY_FIELD}, run
