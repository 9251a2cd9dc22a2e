"""Where a study's seeds train: in this process (``local``) or as Ray tasks on a cluster (``ray``).

The unit of work is one seed: an executor calls ``task(study, [seed], ...)``, the trainer's
``training.train_seeds`` (which hands itself over, so this module never imports the trainer).
A seed's pruned runs branch from its dense checkpoint, so a seed is the natural task. Tasks are idempotent: each
writes its runs to the shared store under per-run claims and skips runs already stored, so a
task lost with its worker is retried and its second attempt trains nothing twice.

Ray tasks rebuild the study's data themselves (``prepare_data``) rather than receive tensors
through the object store; the study carries the seeds, device and thread count, so a seed
trained by a Ray worker and one trained locally give the same arrays.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol

from tqdm import tqdm  # plain text bars: notebooks run without ipywidgets

from pie_utils.config import Study
from pie_utils.devices import check_device
from pie_utils.errors import ParameterError
from pie_utils.runs import PreparedData

SeedTask = Callable[..., None]  # task(study, seeds, prepared=None, progress=False): trains those seeds

EXECUTORS = ("local", "ray")
ADDRESS_ALLOWED = "auto, or HOST:PORT of the Ray head's GCS (e.g. 10.0.0.1:6379); only with executor=ray"
GPUS_ALLOWED = "0 (CPU only), a fraction in (0, 1] such as 0.25, or a whole number of GPUs"
CPUS_ALLOWED = "a whole number >= 1 (default: the study's threads)"
CONNECT_TIMEOUT_S = 10  # to reach the head's port before handing the address to Ray
MAX_RETRIES = 3  # attempts after a worker or node is lost; safe because tasks are idempotent


class ClusterError(RuntimeError):
    """The cluster could not run the study: unreachable, or a task lost more often than retried.

    Runs that finished before the failure stay in the store.
    """


class Executor(Protocol):
    """Runs the seeds of a study; every seed's runs end up in the study's store."""

    def check(self, study: Study) -> None:
        """Refuse a study this executor cannot run, before any work."""

    def map_seeds(
        self,
        task: SeedTask,
        study: Study,
        seeds: Iterable[int],
        prepared: PreparedData | None = None,
        progress: bool = False,
    ) -> None:
        """Run ``task`` on each of ``seeds``: their missing runs end up in ``study.store``."""


class LocalExecutor:
    """Trains the seeds in this process, one after another (the default; needs nothing extra)."""

    def check(self, study: Study) -> None:
        """Refuse a device this machine lacks, or bf16 off CUDA."""
        check_device(study)

    def map_seeds(
        self,
        task: SeedTask,
        study: Study,
        seeds: Iterable[int],
        prepared: PreparedData | None = None,
        progress: bool = False,
    ) -> None:
        """Run ``task`` on ``seeds`` in this process, reusing ``prepared`` data when given."""
        task(study, seeds, prepared=prepared, progress=progress)


class RayExecutor:
    """Trains each seed as one Ray task, several at once, on a running Ray cluster.

    Args:
        address: ``auto`` (the cluster this node belongs to), ``HOST:PORT`` of the head, or
            None for Ray's own choice (``RAY_ADDRESS``, else a cluster on this machine, else a
            new one-machine cluster). A process already connected (``ray.init`` called
            before) keeps its connection.
        gpus_per_task: GPUs reserved per seed (Ray's ``num_gpus``); a fraction lets several
            small runs share a GPU. 0 on a CPU-only cluster.
        cpus_per_task: CPUs reserved per seed (Ray's ``num_cpus``); None: the study's threads.
        max_retries: attempts after a task's worker is lost.

    Raises:
        ParameterError: a bad value, or ray is not installed (``pip install .[cluster]``).
    """

    def __init__(
        self,
        address: str | None = None,
        gpus_per_task: float = 0.0,
        cpus_per_task: int | None = None,
        max_retries: int = MAX_RETRIES,
    ):
        self.address = checked_address(address)
        self.gpus_per_task = _checked_gpus(gpus_per_task)
        if cpus_per_task is not None and (
            isinstance(cpus_per_task, bool) or not isinstance(cpus_per_task, int) or cpus_per_task < 1
        ):
            raise ParameterError("cpus_per_task", cpus_per_task, CPUS_ALLOWED)
        self.cpus_per_task = cpus_per_task
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ParameterError("max_retries", max_retries, "a whole number >= 0")
        self.max_retries = max_retries
        self._ray = require_ray()

    def check(self, study: Study) -> None:
        """Refuse a device or precision the reserved GPUs contradict, and relative local paths the
        workers cannot see."""
        device = study.device
        if device.startswith("cuda") and self.gpus_per_task == 0:
            raise ParameterError(
                "gpus_per_task", 0, f"more than 0 with device={device} (Ray hides GPUs from tasks that reserve none)"
            )
        if device in ("cpu", "mps") and self.gpus_per_task > 0:
            raise ParameterError("gpus_per_task", self.gpus_per_task, f"0 with device={device}")
        if study.training.precision == "bf16" and (self.gpus_per_task == 0 or device in ("cpu", "mps")):
            raise ParameterError("precision", "bf16", "fp32, or bf16 with gpus_per_task > 0 (bf16 autocast needs CUDA)")
        for name in ("data_path", "vectors", "checkpoint"):
            value = getattr(study, name)
            # a relative path would be read from each worker's own directory; vectors and
            # checkpoint enter the run keys, so they are refused rather than rewritten
            if value and not Path(value).expanduser().is_absolute() and Path(value).expanduser().exists():
                raise ParameterError(name, value, "an absolute path, the same on every node of the cluster")

    def map_seeds(
        self,
        task: SeedTask,
        study: Study,
        seeds: Iterable[int],
        prepared: PreparedData | None = None,
        progress: bool = False,
    ) -> None:
        """Run ``task`` on ``seeds`` as one Ray task each and wait for all; ``prepared`` is not shipped (workers
        rebuild the data).

        Raises:
            ClusterError: the cluster is unreachable, or a task's worker was lost more than
                ``max_retries`` times.
            the task's own error (ParameterError, NonFiniteLossError, StoreWriteError, ...)
                when a seed fails.
        """
        ray = self._ray
        # the store path is not in any run key, so it can be made absolute for the workers
        study = dataclasses.replace(study, store=os.path.abspath(study.store))
        connected_here = connect(ray, self.address)
        try:
            remote = ray.remote(
                num_cpus=self.cpus_per_task or study.threads,
                num_gpus=self.gpus_per_task,
                max_retries=self.max_retries,
            )(_train_seed_task)
            pending = [remote.remote(task, study, seed) for seed in seeds]
            with tqdm(
                total=len(pending), desc=f"{study.dataset}/{study.arch} seeds on Ray", disable=not progress
            ) as bar:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    _get(ray, done, self.max_retries)
                    bar.update(len(done))
        finally:
            if connected_here:
                ray.shutdown()


def make_executor(
    name: str = "local",
    address: str | None = None,
    gpus_per_task: float | None = None,
    cpus_per_task: int | None = None,
) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``), its inputs checked before any work.

    ``address``, ``gpus_per_task`` and ``cpus_per_task`` belong to ``ray`` and are refused
    with ``local``.
    """
    if name not in EXECUTORS:
        raise ParameterError("executor", name, EXECUTORS)
    if name == "local":
        for parameter, value in (
            ("address", address),
            ("gpus_per_task", gpus_per_task),
            ("cpus_per_task", cpus_per_task),
        ):
            if value is not None:
                raise ParameterError(parameter, value, "only with executor=ray")
        return LocalExecutor()
    return RayExecutor(address, 0.0 if gpus_per_task is None else gpus_per_task, cpus_per_task)


def require_ray():
    """The ``ray`` module, imported only here: the local executor and pool must not need it.

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


def _train_seed_task(task: SeedTask, study: Study, seed: int) -> int:
    """One Ray task: ``task`` trains seed ``seed`` of ``study`` into its store; returns the seed."""
    try:
        task(study, [seed])
    except ParameterError as refused:
        # the worker's machine cannot run the study (e.g. no CUDA there); ParameterError itself
        # cannot cross back to the driver, as unpickling calls its three-argument __init__ with one
        raise ClusterError(f"seed {seed} on a Ray worker: {refused}") from None
    return seed


def _get(ray, references: list, max_retries: int) -> None:
    """``ray.get``, raising a failed task's own error and a lost worker's as ``ClusterError``."""
    try:
        ray.get(references)
    except ray.exceptions.RayTaskError as failure:
        raise failure.cause from None  # the worker's traceback is in the Ray logs
    except ray.exceptions.RayError as failure:
        raise ClusterError(
            f"a seed task did not finish on the cluster (retried up to {max_retries} times when "
            f"its worker was lost): {failure}"
        ) from None


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


def checked_address(address: str | None) -> str | None:
    """``address`` when it is None, ``auto`` or ``HOST:PORT``; else a ParameterError."""
    if address is None or address == "auto":
        return address
    host, _, port = str(address).rpartition(":")
    if not host or "/" in host or not port.isdigit() or not 1 <= int(port) <= 65535:  # "/": no ray:// URLs
        raise ParameterError("address", address, ADDRESS_ALLOWED)
    return address


def _checked_gpus(gpus: float) -> float:
    if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or not math.isfinite(gpus) or gpus < 0:
        raise ParameterError("gpus_per_task", gpus, GPUS_ALLOWED)
    if gpus > 1 and gpus != int(gpus):  # Ray shares a GPU only below one whole GPU
        raise ParameterError("gpus_per_task", gpus, GPUS_ALLOWED)
    return float(gpus)
