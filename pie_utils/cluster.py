"""Train every run of a set of studies on a Ray cluster: the local pool's worker loop, run as
Ray tasks, each pinned to one GPU (or a share of one) and a few CPUs.

``train_on_ray(studies, address=..., runs_per_gpu=R)`` lists the work as the local pool does
(``pie_utils.pool.work_items``: each run and evaluation once, inputs first) and starts one
Ray task per worker. Each task runs ``pool.work_through``: it takes the next item that is not
stored, whose inputs are stored and that no other worker claims, so workers never wait on a busy
run while there is other work. A run that raises is tried again and then recorded as failed
(the grid carries on); a worker killed with its node is restarted by Ray (``max_retries``), and
the run it held, whose claim the operating system released, is taken again by whichever worker
comes first.

Placement. On a cluster with G GPUs, ``runs_per_gpu`` R starts G x R workers of 1/R GPU each,
R to each bundle of a placement group of G one-GPU bundles: each GPU holds exactly R workers,
and Ray sets each worker's ``CUDA_VISIBLE_DEVICES`` to its one GPU, so every GPU is used and no
worker sees another's device. Each worker reserves
``cpus_per_run`` CPUs (default: its ``threads``), not a study's thread count, so a 32-CPU node
with 4 GPUs is not full after 4 workers. Without GPUs, the cluster's CPUs divided by
``cpus_per_run`` give the number of workers. ``workers`` caps that number.

Devices. The driver fixes each study's device before it computes any key, so that the keys
the driver lists are the keys the workers store: ``auto`` becomes ``cuda`` when the workers
reserve GPUs and ``cpu`` otherwise, and ``cuda:N`` becomes ``cuda`` (a worker's one visible
GPU). A study that asks for CUDA on a cluster without GPUs is refused before any work, and
a worker that holds a GPU but whose torch sees no CUDA (a CPU build of torch) stops with a
message instead of training on its CPUs. A ``cpu`` study on GPU workers trains on their CPUs:
the placement tests do this on a CPU machine whose Ray head declares GPUs it does not have.

The store. Workers of every node write one store, so its folder must be shared, with atomic
``rename`` and working advisory locks (``fcntl``): claims are such locks. Network filesystems
do not always honour them; there, give each node a store of its own and merge them afterwards
(``python -m pie_utils store merge``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import socket
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm  # plain text bars: notebooks run without ipywidgets

from pie_utils.config import Study
from pie_utils.errors import ParameterError
from pie_utils.pool import (
    DEFAULT_ATTEMPTS,
    TrainingReport,
    WorkItem,
    check_pool_sizes,
    start_afresh,
    stored_count,
    training_report,
    work_through,
)

POLL_S = 2.0  # how often the driver counts stored items for its progress bar
PLACEMENT_TIMEOUT_S = 60  # for the GPU bundles to be reserved (autoscaling clusters may need longer)
CONNECT_TIMEOUT_S = 10  # to reach the head's port before handing the address to Ray
MAX_RETRIES = 3  # restarts of a worker lost with its node; safe because every item is claimed and stored once
ADDRESS_ALLOWED = "auto, or HOST:PORT of the Ray head's GCS (e.g. 10.0.0.1:6379)"


class ClusterError(RuntimeError):
    """The cluster could not run the work: unreachable, or unable to hold the placement.

    Runs that finished before the failure stay in the store.
    """


@dataclasses.dataclass(frozen=True)
class WorkerReport:
    """Where one worker ran: its host and process, the GPU ids Ray gave it, the
    ``CUDA_VISIBLE_DEVICES`` it saw, the device it trained on, and how many items it took."""

    host: str
    pid: int
    gpu_ids: tuple[int, ...]
    visible_devices: str | None
    device: str
    taken: int


@dataclasses.dataclass(frozen=True)
class ClusterReport:
    """A ``TrainingReport`` plus each worker's ``WorkerReport``, the errors of workers that
    stopped outside any run (``lost``), and the studies as the workers ran them (``studies``:
    devices fixed, so their keys are the stored ones)."""

    training: TrainingReport
    workers: tuple[WorkerReport, ...]
    lost: tuple[str, ...] = ()
    studies: tuple[Study, ...] = ()

    def lines(self) -> list[str]:
        """The failures of runs and of workers, one line each."""
        return self.training.lines() + [f"worker stopped: {line}" for line in self.lost]


def train_on_ray(
    studies: Sequence[Study],
    address: str | None = None,
    runs_per_gpu: int | None = None,
    cpus_per_run: int | None = None,
    threads: int = 1,
    workers: int | None = None,
    attempts: int = DEFAULT_ATTEMPTS,
    progress: bool = True,
) -> ClusterReport:
    """Train every missing run and evaluation of ``studies`` on the Ray cluster at ``address``.

    Args:
        address: ``auto``, ``HOST:PORT`` of the head, or None (Ray's own choice).
        runs_per_gpu: workers per GPU; None: 1 when the cluster has GPUs and a study may use
            them (device ``auto`` or ``cuda``), else no GPUs are reserved.
        cpus_per_run: CPUs each worker reserves (default ``threads``).
        threads: intra-op threads of each worker.
        workers: at most this many workers (default: as many as the placement allows).
        attempts: tries of each run before it is recorded as failed.

    Raises:
        ParameterError: a bad setting, a device the cluster lacks, bf16 without CUDA workers, or
            a relative local path, before any work.
        ClusterError: no cluster answers at ``address``.
    """
    check_pool_sizes(
        runs_per_gpu=runs_per_gpu, cpus_per_run=cpus_per_run, threads=threads, workers=workers, attempts=attempts
    )
    address = checked_address(address)
    ray = require_ray()
    connected_here, group = connect(ray, address), None
    try:
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
        per_gpu = _runs_per_gpu(studies, runs_per_gpu, gpus)
        device = "cuda" if per_gpu else "cpu"
        studies = [_placed(study, device) for study in studies]
        for study in studies:
            _check_placed(study)
        items = start_afresh(studies)
        cpus_each = cpus_per_run or threads
        count = gpus * per_gpu if per_gpu else max(1, cpus // cpus_each)
        count = min(count, workers or count)
        options, group = _worker_options(ray, count, per_gpu, cpus_each)
        before = stored_count(studies, items)
        remote = ray.remote(_worker_task)
        pending = [remote.options(**option).remote(studies, items, threads, attempts) for option in options]
        reports, lost = [], []
        with tqdm(total=len(items), initial=before, desc="runs and evaluations on Ray", disable=not progress) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
                for reference in done:
                    try:
                        reports.append(ray.get(reference))
                    except ray.exceptions.RayError as failure:
                        lost.append(str(getattr(failure, "cause", None) or failure).strip().splitlines()[-1])
                bar.update(stored_count(studies, items) - bar.n)
        report = training_report(studies, items, before, attempts)
        return ClusterReport(report, tuple(reports), tuple(lost), tuple(studies))
    finally:
        if group is not None:
            ray.util.remove_placement_group(group)
        if connected_here:
            ray.shutdown()


def _worker_options(ray, count: int, per_gpu: int, cpus_each: int) -> tuple[list[dict], object]:
    """Ray options of each of ``count`` workers, and the placement group that pins them (None
    without GPUs): one bundle of 1 GPU per ``per_gpu`` workers, so each GPU holds exactly that
    many however fast workers start and stop (fractional requests alone pack onto the GPUs that
    free up first).

    Raises:
        ClusterError: the cluster cannot hold the bundles (too few GPUs or CPUs on its nodes).
    """
    base = {"num_cpus": cpus_each, "max_retries": MAX_RETRIES}
    if not per_gpu:
        return [base] * count, None
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    bundles = [{"GPU": 1, "CPU": cpus_each * per_gpu} for _ in range(math.ceil(count / per_gpu))]
    group = placement_group(bundles, strategy="PACK")
    if not group.wait(timeout_seconds=PLACEMENT_TIMEOUT_S):
        ray.util.remove_placement_group(group)
        raise ClusterError(
            f"the cluster cannot hold {len(bundles)} bundles of 1 GPU and {cpus_each * per_gpu} CPUs "
            f"(runs_per_gpu={per_gpu} x cpus_per_run={cpus_each}) within {PLACEMENT_TIMEOUT_S} s; "
            "lower --runs-per-gpu or --cpus-per-run, or add nodes"
        )
    strategies = [
        PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i // per_gpu) for i in range(count)
    ]
    return [{**base, "num_gpus": 1 / per_gpu, "scheduling_strategy": strategy} for strategy in strategies], group


def _runs_per_gpu(studies: Sequence[Study], runs_per_gpu: int | None, gpus: int) -> int:
    """Workers per GPU (0: reserve none), refusing GPU settings the cluster cannot meet."""
    wants_cuda = [study.device for study in studies if study.device.startswith("cuda")]
    if gpus == 0:
        if runs_per_gpu is not None:
            raise ParameterError("runs_per_gpu", runs_per_gpu, "none (the cluster declares no GPUs)")
        if wants_cuda:
            raise ParameterError("device", wants_cuda[0], "cpu or auto (the cluster declares no GPUs)")
        return 0
    if runs_per_gpu is not None:
        return runs_per_gpu
    return 1 if any(study.device == "auto" or study.device.startswith("cuda") for study in studies) else 0


def _placed(study: Study, device: str) -> Study:
    """``study`` as a worker runs it: its device fixed (``auto``/``cuda:N`` → ``device``/``cuda``)
    and its store path absolute (a worker's working folder is not the driver's)."""
    if study.device == "auto":
        fixed = device
    elif study.device.startswith("cuda"):
        fixed = "cuda"
    else:
        fixed = study.device
    return dataclasses.replace(study, device=fixed, store=os.path.abspath(study.store))


def _check_placed(study: Study) -> None:
    """Refuse, before any work, what the workers could not train: bf16 off CUDA, and a relative
    local path (each worker would read it from its own working folder)."""
    if study.training.precision == "bf16" and study.device != "cuda":
        raise ParameterError("precision", "bf16", f"fp32 on device {study.device} (bf16 autocast needs CUDA workers)")
    for name in ("data_path", "vectors", "checkpoint"):
        value = getattr(study, name)
        # vectors and checkpoint enter the run keys, so they are refused rather than rewritten
        if value and not Path(value).expanduser().is_absolute() and Path(value).expanduser().exists():
            raise ParameterError(name, value, "an absolute path, the same on every node of the cluster")


def require_ray():
    """The ``ray`` module, imported only here: the local pool must not need it.

    Raises:
        ParameterError: ray is not installed (``pip install .[cluster]``).
    """
    try:
        import ray
    except ImportError:
        raise ParameterError("executor", "ray", "local (ray is not installed; pip install .[cluster])") from None
    return ray


def connect(ray, address: str | None) -> bool:
    """Connect this process to the Ray cluster at ``address`` unless it is connected already;
    True when it connected here (and so should ``ray.shutdown()`` afterwards).

    Raises:
        ClusterError: nothing answers at ``address``.
    """
    if ray.is_initialized():
        return False
    _check_reachable(address)
    try:
        ray.init(address=address)
    except ConnectionError as error:
        raise ClusterError(f"no Ray cluster at address={address!r}: {error}") from None
    return True


def checked_address(address: str | None) -> str | None:
    """``address`` when it is None, ``auto`` or ``HOST:PORT``; else a ParameterError."""
    if address is None or address == "auto":
        return address
    host, _, port = str(address).rpartition(":")
    if not host or "/" in host or not port.isdigit() or not 1 <= int(port) <= 65535:  # "/": no ray:// URLs
        raise ParameterError("address", address, ADDRESS_ALLOWED)
    return address


def _check_reachable(address: str | None) -> None:
    """Fail fast when nothing listens at ``HOST:PORT`` (``ray.init`` would retry for minutes)."""
    if address is None or address == "auto":
        return  # Ray resolves these itself and fails fast when it finds no cluster
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as error:
        raise ClusterError(
            f"no Ray head answers at address={address!r} ({error}); start one with "
            "`ray start --head`, or check the address"
        ) from None


def _worker_task(studies: Sequence[Study], items: Sequence[WorkItem], threads: int, attempts: int) -> WorkerReport:
    """One Ray task: ``work_through`` on this worker's device; returns where it ran."""
    ray = require_ray()
    gpu_ids = tuple(int(i) for i in ray.get_gpu_ids())
    device = ", ".join(sorted({study.device for study in studies}))
    if any(study.device == "cuda" for study in studies) and not torch.cuda.is_available():
        raise ClusterError(
            f"{platform.node()}: Ray gave this worker GPU {list(gpu_ids)}, but torch {torch.__version__} "
            "sees no CUDA device (a CPU build of torch, or a driver problem); nothing was trained here"
        )
    taken = work_through(studies, items, threads, attempts)
    return WorkerReport(platform.node(), os.getpid(), gpu_ids, os.environ.get("CUDA_VISIBLE_DEVICES"), device, taken)
