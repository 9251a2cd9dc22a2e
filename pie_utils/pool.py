"""Train every run of a set of studies with a local pool of worker processes.

``train_studies(studies, workers=W, threads=T)`` lists the runs of the studies (a run two
studies share, such as the out-of-distribution study's, once) and the evaluations of runs on
their studies' transfer datasets, then starts W worker processes of T intra-op threads each.
A worker walks the list in order (dense runs, fewest epochs first; then the pruned runs
cell by cell, in the order the studies list their methods and sparsities, each cell over all its
seeds, so that a training stopped part-way leaves whole populations rather than whole seeds;
then the evaluations) and takes the next item that is not stored, whose inputs are
stored (a pruned run that branches from dense after its seed's dense run, a longer dense run
after the shorter one it continues, an evaluation after its run), and that no other process
claims (``ResultsStore.try_claim``): it never waits on an item another process holds while
there is other work. Each worker prepares a study's data once. With W = 1 the work runs in
this process. An evaluation of a run that kept no model (one merged back from a published
store) first restores the run's model by training it again (``pie_utils.restoring``).

A run or evaluation that raises is tried again, up to ``attempts`` times in all (each failed
attempt is recorded in the store, ``failures/``), and then left: the grid carries on without
it and without what needs it, and the returned ``TrainingReport`` lists what failed and why.
``pie_utils.cluster`` runs the same worker loop (``work_through``) as Ray tasks.

A run's numbers do not depend on which worker trains it: the BiLSTM's arithmetic is the same
at any thread count, and an arch whose arithmetic is not (``THREAD_DEPENDENT_ARCHS``, whose
keys hold the thread count) trains with its study's own ``threads``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from tqdm import tqdm  # plain text bars: notebooks run without ipywidgets

from pie_utils.config import Study
from pie_utils.devices import check_device
from pie_utils.errors import ParameterError
from pie_utils.evaluation import evaluation_key, score_transfer, transfer_encoding
from pie_utils.pruning import DENSE, get_method
from pie_utils.restoring import restore_model
from pie_utils.runs import THREAD_DEPENDENT_ARCHS, open_store, prepare_data, study_key, study_runs
from pie_utils.stacked_training import stack_schedule
from pie_utils.store import EVALUATIONS, RUNS, ResultsStore
from pie_utils.training import PopulationTrainer

DEFAULT_THREADS = 1  # measured on 2 cores: 2 workers x 1 thread beat 1 x 2 (benchmarks/README.md)
DEFAULT_ATTEMPTS = 2  # one retry: enough for a transient fault, cheap for a deterministic one
IDLE_WAIT_S = 0.5  # a worker with nothing claimable looks again after this long
_stop = None  # set in each worker: an Event the parent sets when a worker has failed
_owner = None  # set in each worker: the pid of the process that started it


class PoolError(RuntimeError):
    """A worker process itself failed (outside any run); its traceback is in the message.
    Finished runs stay stored."""


@dataclass(frozen=True)
class WorkItem:
    """One run to train (``kind`` ``runs``) or one stored run to score on its study's transfer
    dataset (``kind`` ``evaluations``), with the keys of the runs it needs stored first.

    ``study`` indexes the pool's list of studies.
    """

    kind: str
    study: int
    method: str
    sparsity: float
    seed: int
    key: str
    needs: tuple[str, ...] = field(default=())


def default_workers(threads: int = DEFAULT_THREADS) -> int:
    """As many workers of ``threads`` threads as the cores this process may use hold (>= 1)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // threads)


def work_items(studies: Sequence[Study]) -> list[WorkItem]:
    """Every run and evaluation of ``studies``, each (store, key) once, in the order workers take them."""
    dense, pruned, evaluations, seen = [], [], [], set()
    dense_keys: dict[tuple, dict[int, str]] = {}  # (store, configuration but epochs, seed) -> epochs -> key
    for index, study in enumerate(studies):
        prepared = prepare_data(study, encode=False)
        transfer = transfer_encoding(prepared, encode=False) if study.transfer else None
        for method, sparsity, seed in study_runs(study):
            key = study_key(study, prepared, method, sparsity, seed)
            if transfer is not None:
                scored = evaluation_key(key, transfer)
                if (study.store, scored) not in seen:
                    seen.add((study.store, scored))
                    evaluations.append(WorkItem(EVALUATIONS, index, method, sparsity, seed, scored, (key,)))
            if (study.store, key) in seen:
                continue
            seen.add((study.store, key))
            if method == DENSE:
                family = (study.store, study_key(_without_epochs(study), prepared, DENSE, 0.0, seed))
                dense_keys.setdefault(family, {})[study.training.epochs] = key
                dense.append((study.training.epochs, seed, family, WorkItem(RUNS, index, method, sparsity, seed, key)))
            else:
                branches = get_method(method).schedule.branches_from_dense
                needs = (study_key(study, prepared, DENSE, 0.0, seed),) if branches else ()
                rank = study.cells.index((method, sparsity))
                pruned.append(((rank, index, seed), WorkItem(RUNS, index, method, sparsity, seed, key, needs)))
    ordered = []
    for epochs, _, family, item in sorted(dense, key=lambda entry: entry[:2]):
        shorter = [e for e in dense_keys[family] if e < epochs]  # the dense run this one continues
        ordered.append(replace(item, needs=(dense_keys[family][max(shorter)],)) if shorter else item)
    ordered += [item for _, item in sorted(pruned, key=lambda entry: entry[0])]
    return ordered + evaluations


@dataclass(frozen=True)
class TrainingReport:
    """What a training call left: ``runs`` and ``evaluations`` the studies hold, how many items
    were stored ``before`` and ``after`` it, and the items it gave up on (``failed``: attempts
    used up; ``blocked``: an input failed), each as a line naming the item and why."""

    runs: int
    evaluations: int
    before: int
    after: int
    failed: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The report's failures, one line each, for a person to read."""
        return [f"failed: {line}" for line in self.failed] + [f"not attempted: {line}" for line in self.blocked]


def check_pool_sizes(**sizes: int | None) -> None:
    """Refuse a worker, thread or attempt count that is not a whole number >= 1 (None: default)."""
    for name, value in sizes.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ParameterError(name, value, "a whole number >= 1")


def train_studies(
    studies: Sequence[Study],
    workers: int | None = None,
    threads: int = DEFAULT_THREADS,
    progress: bool = True,
    attempts: int = DEFAULT_ATTEMPTS,
) -> TrainingReport:
    """Train every missing run and evaluation of ``studies`` with ``workers`` processes of
    ``threads`` threads (default: ``default_workers(threads)``), trying each up to
    ``attempts`` times.

    Raises:
        ParameterError: a bad ``workers``, ``threads`` or ``attempts``, before any work.
        PoolError: a worker process failed outside any run (the others stop after their current item).
    """
    check_pool_sizes(workers=workers, threads=threads, attempts=attempts)
    for study in studies:
        check_device(study)
    items = start_afresh(studies)
    workers = workers or default_workers(threads)
    before = stored_count(studies, items)
    with tqdm(total=len(items), initial=before, desc="runs and evaluations", disable=not progress) as bar:
        if workers == 1:
            work_through(studies, items, threads, attempts, lambda: bar.update(1))
        else:
            _run_processes(studies, items, workers, threads, attempts, bar)
    return training_report(studies, items, before, attempts)


def start_afresh(studies: Sequence[Study]) -> list[WorkItem]:
    """The studies' work items, with the failed attempts of earlier training calls forgotten
    (each call tries every missing item again)."""
    items = work_items(studies)
    for item in items:
        _store(studies[item.study]).clear_failures(item.key, item.kind)
    return items


def training_report(studies: Sequence[Study], items: Sequence[WorkItem], before: int, attempts: int) -> TrainingReport:
    """The ``TrainingReport`` of ``items`` once the workers have stopped."""
    _, given_up = _open_items(studies, items, attempts)
    failed, blocked = [], []
    for item in items:
        store = _store(studies[item.study])
        if (store.root, item.key) not in given_up:
            continue
        tried = store.failed_attempts(item.key, item.kind)
        if len(tried) >= attempts:
            last = tried[-1]["error"].strip().splitlines()[-1]
            failed.append(f"{_describe(studies, item)} after {len(tried)} attempts: {last}")
        else:
            needs = ", ".join(key[:12] for key in item.needs if (store.root, key) in given_up)
            blocked.append(f"{_describe(studies, item)}: needs {needs}, which failed")
    counts = {kind: sum(item.kind == kind for item in items) for kind in (RUNS, EVALUATIONS)}
    return TrainingReport(
        counts[RUNS], counts[EVALUATIONS], before, stored_count(studies, items), tuple(failed), tuple(blocked)
    )


def _run_processes(studies, items, workers, threads, attempts, bar) -> None:
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pool state
    stop = context.Event()
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_set_stop, initargs=(stop,)
    ) as pool:
        futures = [pool.submit(_work_in_process, studies, items, threads, attempts) for _ in range(workers)]
        while not all(future.done() for future in futures):
            concurrent.futures.wait(futures, timeout=2, return_when=concurrent.futures.FIRST_COMPLETED)
            if any(future.done() and future.result() is not None for future in futures):
                stop.set()
            bar.update(stored_count(studies, items) - bar.n)
    failures = [future.result() for future in futures if future.result() is not None]
    if failures:
        raise PoolError(f"{len(failures)} of {workers} workers failed; finished runs are stored. First:\n{failures[0]}")


def _set_stop(event) -> None:
    global _stop, _owner
    _stop, _owner = event, os.getppid()


def _stopped() -> bool:
    """True in a pool worker once the pool stops or the worker is orphaned."""
    return (_stop is not None and _stop.is_set()) or _orphaned()


def _orphaned() -> bool:
    """True in a pool worker whose starting process is gone (killed: the worker was handed to
    another parent), so that no orphan trains on, or waits forever for work nobody will send."""
    return _owner is not None and os.getppid() != _owner


def _work_in_process(studies: Sequence[Study], items: Sequence[WorkItem], threads: int, attempts: int) -> str | None:
    """A worker process: ``work_through``; returns None, or the traceback of its failure
    (returned, not raised: not every error type survives pickling)."""
    try:
        work_through(studies, items, threads, attempts)
    except Exception:
        return traceback.format_exc()
    if _orphaned():
        os._exit(0)  # the executor's loop would wait on its queue forever: nobody is left to report to
    return None


def work_through(
    studies: Sequence[Study], items: Sequence[WorkItem], threads: int, attempts: int = DEFAULT_ATTEMPTS, on_done=None
) -> int:
    """One worker: take claimable items, earliest first, until every item is stored or given
    up (or the pool stops, or its parent dies: the run in hand is finished first); returns how
    many items this worker took."""
    contexts: dict[int, _StudyContext] = {}
    remaining, taken_here = list(items), 0
    while remaining and not _stopped():
        remaining, _ = _open_items(studies, items, attempts)  # all items: a chain settles from its first input
        taken = next((item for item in remaining if _take(studies, item, contexts, threads, attempts, remaining)), None)
        if taken is not None:
            taken_here += 1
            if on_done is not None:
                on_done()
        elif remaining:
            time.sleep(IDLE_WAIT_S)
    return taken_here


def _open_items(studies, items: Sequence[WorkItem], attempts: int) -> tuple[list[WorkItem], set[tuple[Path, str]]]:
    """The items still to do, and the (store, key) of those given up: attempts used up, or an
    input given up. ``items`` come inputs first, so one pass settles every chain."""
    open_items, given_up = [], set()
    for item in items:
        store = _store(studies[item.study])
        if store.run_dir(item.key, item.kind).exists():
            continue
        if (
            any((store.root, key) in given_up for key in item.needs)
            or len(store.failed_attempts(item.key, item.kind)) >= attempts
        ):
            given_up.add((store.root, item.key))
        else:
            open_items.append(item)
    return open_items, given_up


def _take(studies, item: WorkItem, contexts, threads: int, attempts: int, remaining=()) -> bool:
    """Try ``item`` if its inputs are stored and its claim is free; True when it was tried
    here. A failure is recorded in the store, not raised, so the grid carries on. In a study
    with ``runs_per_step`` R > 1 a pruned run takes up to R − 1 claimable runs of ``remaining``
    that may share its steps (its seed and schedule) and trains them as one stack."""
    study = studies[item.study]
    store = _store(study)
    claims = [_claim_open(store, item, attempts)]
    if claims[0] is None:
        return False
    try:
        if not claims[0]:
            return True  # finished, or given up, by another process before the claim
        taken = [item]
        stacked = item.kind == RUNS and study.runs_per_step > 1 and stack_schedule(_run_of(item)) is not None
        if stacked:
            for mate in _stack_mates(item, remaining):
                if len(taken) == study.runs_per_step:
                    break
                claims.append(_claim_open(store, mate, attempts))
                if claims[-1]:
                    taken.append(mate)
        try:
            context = contexts.get(item.study) or contexts.setdefault(item.study, _StudyContext.build(study))
            torch.set_num_threads(study.threads if study.arch in THREAD_DEPENDENT_ARCHS else threads)
            if item.kind == EVALUATIONS:
                restore_model(context.trainer, *_run_of(item))  # a run merged from a published store kept none
                score_transfer(study, context.trainer.prepared, store, *_run_of(item), context.transfer)
            elif stacked:
                context.trainer.train_stack([_run_of(one) for one in taken])
            else:
                context.trainer.train_run(*_run_of(item))
        except Exception:
            error = traceback.format_exc()
            for one in taken:
                tried = store.record_failure(one.key, one.kind, error)
                store.log("fail", one.key, f"{_describe(studies, one)} attempt {tried} of {attempts}")
        else:
            for one in taken:
                store.clear_failures(one.key, one.kind)
    finally:
        for claim in claims:
            if claim:
                claim.release()
    return True


def _claim_open(store: ResultsStore, item: WorkItem, attempts: int):
    """``item``'s claim when its inputs are stored and the claim is free (None otherwise); False
    when, once claimed, it turned out finished or given up by another process (released)."""
    if not all(store.run_dir(key).exists() for key in item.needs):
        return None
    claim = store.try_claim(item.key)
    if claim is None:
        return None
    if store.read(item.key, kind=item.kind) is not None or len(store.failed_attempts(item.key, item.kind)) >= attempts:
        claim.release()
        return False
    return claim


def _stack_mates(item: WorkItem, remaining: Sequence[WorkItem]) -> list[WorkItem]:
    """The runs of ``remaining`` that may share ``item``'s steps: its study, seed and schedule."""
    schedule = stack_schedule(_run_of(item))
    return [
        other
        for other in remaining
        if other.kind == RUNS
        and other.study == item.study
        and other.seed == item.seed
        and other.key != item.key
        and stack_schedule(_run_of(other)) == schedule
    ]


@dataclass
class _StudyContext:
    """A worker's prepared study: its trainer and, with a transfer dataset, its encoding."""

    trainer: PopulationTrainer
    transfer: object = None

    @classmethod
    def build(cls, study: Study) -> _StudyContext:
        prepared = prepare_data(study)
        trainer = PopulationTrainer(study, prepared, open_store(study), check_device(study))
        return cls(trainer, transfer_encoding(prepared) if study.transfer else None)


def _run_of(item: WorkItem) -> tuple[str, float, int]:
    return item.method, item.sparsity, item.seed


def _describe(studies, item: WorkItem) -> str:
    study = studies[item.study]
    what = "run" if item.kind == RUNS else f"evaluation on {study.transfer}"
    return f"{study.dataset}/{study.arch} {item.method} {item.sparsity:g} seed {item.seed} ({what} {item.key[:12]})"


def _store(study: Study) -> ResultsStore:
    return open_store(study)


def _stored(studies, item: WorkItem) -> bool:
    """Whether ``item``'s record folder exists (cheap; reads verify it)."""
    return _store(studies[item.study]).run_dir(item.key, item.kind).exists()


def stored_count(studies: Sequence[Study], items: Sequence[WorkItem]) -> int:
    """How many of ``items`` are stored."""
    return sum(_stored(studies, item) for item in items)


def _without_epochs(study: Study) -> Study:
    """``study`` with its epoch count (and the epochs it keeps training logits of) fixed, so
    dense runs differing only in how long they train share one key: a family to continue."""
    return replace(study, training=replace(study.training, epochs=1, train_logit_epochs=()))
