"""Training on Ray: the input checks, and a real grid trained by ``run --executor ray`` on a real
one-node Ray cluster; the ``train`` command's workers placed one per (fake) GPU, a killed
worker's run trained again, and the store complete at the end.

The cluster is a Ray head started by the test on loopback only (``--node-ip-address`` plus
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, which makes Ray resolve every address of the node
to 127.0.0.1 instead of the machine's network address) and stopped by the test: ``ray start
--block`` shuts down its own processes on SIGTERM, which stops this cluster and no other
(``ray stop`` would stop every Ray process of the machine). The head declares 8 CPUs and 4 GPUs
it does not have: Ray accepts that on a CPU machine and still sets ``CUDA_VISIBLE_DEVICES`` per
task, which is what the placement tests check; the runs themselves train on the CPU.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from pie_utils.cluster import _check_placed, _runs_per_gpu, checked_address, require_ray, train_on_ray
from pie_utils.config import validate_study
from pie_utils.errors import ParameterError
from pie_utils.pool import work_items
from pie_utils.store import ResultsStore
from pie_utils.studies import load_study
from pie_utils.training import train_study

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
FAKE_GPUS = 4
GRID = {
    "dataset": "rotten-tomatoes",
    "arch": "bilstm",
    "methods": ["IMP-FT"],
    "sparsities": [0.5],
    "seeds": 2,
    "epochs": 1,
    "threads": 1,
    "device": "cpu",
    "subset": {"n_train": 200, "n_validation": 100, "n_test": 100, "seed": 0},
}
GRID_FLAGS = [
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
    "--device",
    "cpu",
    "--subset",
    "train=200,validation=100,test=100,seed=0",
    "--no-progress",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """``127.0.0.1:<port>`` of a Ray head on loopback (8 CPUs, 4 fake GPUs), stopped after the
    module's tests."""
    port = _free_port()
    log = tmp_path_factory.mktemp("ray") / "head.log"
    # a short folder of its own (Ray's socket paths must stay under 108 characters), so that the
    # session files and the ray_current_cluster file Ray keeps for `--address auto` go with it
    temp_dir = tempfile.mkdtemp(prefix="pie-ray-")
    command = [
        str(Path(sys.executable).with_name("ray")),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=8",
        f"--num-gpus={FAKE_GPUS}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        f"--dashboard-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
    ]
    with open(log, "w") as output:
        head = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **LOOPBACK_ENV}
        )
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)  # --block drains, then stops the processes it started
        try:
            head.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)  # the group started with start_new_session: this head only
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ray_grid_stores_the_same_runs_and_bitwise_equal_arrays_as_a_local_grid(ray_head, tmp_path):
    torch.set_num_threads(1)
    ray_store, local_store = tmp_path / "ray", tmp_path / "local"
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pie_utils",
            "run",
            *GRID_FLAGS,
            "--store",
            str(ray_store),
            "--executor",
            "ray",
            "--address",
            ray_head,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **LOOPBACK_ENV},
    )
    stdout, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stderr
    assert "4 runs in" in stdout  # 2 dense + 2 IMP-FT

    local = train_study(validate_study({**GRID, "store": str(local_store)}), progress=False)
    assert len(local) == 4 and local["stored"].all() and local.key.nunique() == 4
    ray_runs, local_runs = ResultsStore(ray_store), ResultsStore(local_store)
    assert set(ray_runs.keys()) == set(local.key)
    for key in local.key:
        ray_arrays, local_arrays = ray_runs.read(key).arrays, local_runs.read(key).arrays
        assert sorted(ray_arrays) == sorted(local_arrays)
        for name in local_arrays:
            np.testing.assert_array_equal(ray_arrays[name], local_arrays[name], err_msg=f"{key} {name}")
        assert ray_runs.read(key).metrics == local_runs.read(key).metrics

    # every run was trained once, and by Ray workers rather than by the driver process
    log = [line.split() for line in (ray_store / "training.log").read_text().splitlines()]
    assert sorted(fields[3] for fields in log if fields[2] == "start") == sorted(local.key)
    assert driver.pid not in {int(fields[1]) for fields in log}


def test_without_ray_installed_the_cluster_path_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ParameterError, match=r"pip install \.\[cluster\]"):
        require_ray()


def test_addresses_are_checked_before_connecting():
    for address in ("auto", None, "10.0.0.1:6379", "[::1]:6379"):
        assert checked_address(address) == address
    for address in ("headnode", "headnode:70000", "ray://headnode:10001"):
        with pytest.raises(ParameterError, match="address"):
            checked_address(address)


def test_what_no_worker_could_train_is_refused_before_any_work(tmp_path, monkeypatch):
    with pytest.raises(ParameterError, match="precision.*bf16 autocast needs CUDA"):
        _check_placed(validate_study({**GRID, "precision": "bf16", "store": str(tmp_path)}))
    monkeypatch.chdir(tmp_path)
    Path("vectors.txt").write_text("film 0.1 0.2\n")
    with pytest.raises(ParameterError) as refused:
        _check_placed(validate_study({**GRID, "vectors": "vectors.txt", "store": "store"}))
    assert refused.value.parameter == "vectors" and "absolute path" in str(refused.value)
    _check_placed(validate_study({**GRID, "vectors": str(tmp_path / "vectors.txt"), "store": "store"}))
    assert not (tmp_path / "store").exists()


CLUSTER_GRID = {"methods": ["MP-AI"], "sparsities": [0.5], "seeds": FAKE_GPUS, "epochs": 1}
WORKER_LINE = re.compile(r"^worker \S+:(\d+) GPU \[(\d*)\] CUDA_VISIBLE_DEVICES=(\S+) on (\S+): (\d+) items$", re.M)


def _train_command(store: Path, address: str, runs_per_gpu: int) -> subprocess.CompletedProcess:
    """``python -m pie_utils train`` of ci's ``bilstm_pair`` (4 seeds, dense and MP-AI 50 %) on Ray."""
    command = [sys.executable, "-m", "pie_utils", "train", "--profile", "ci", "--study", "bilstm_pair"]
    command += ["--store", str(store), "--executor", "ray", "--address", address, "--runs-per-gpu", str(runs_per_gpu)]
    return subprocess.run(
        [*command, "--no-progress"], capture_output=True, text=True, timeout=400, env={**os.environ, **LOOPBACK_ENV}
    )


def _kill_the_first_run_started(log: Path, killed: dict) -> None:
    """SIGKILL the worker that starts the first run in ``log`` (polled), noting its pid and key."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        starts = [line.split() for line in log.read_text().splitlines() if " start " in line] if log.exists() else []
        if starts:
            killed["pid"], killed["key"] = int(starts[0][1]), starts[0][3]
            os.kill(killed["pid"], signal.SIGKILL)
            return
        time.sleep(0.02)


def test_train_on_ray_puts_one_worker_on_each_gpu_trains_a_killed_workers_run_again_and_completes_the_store(
    ray_head, tmp_path
):
    items = work_items([load_study("ci", "bilstm_pair", store=str(tmp_path))])
    killed: dict = {}
    killer = threading.Thread(target=_kill_the_first_run_started, args=(tmp_path / "training.log", killed))
    killer.start()
    trained = _train_command(tmp_path, ray_head, runs_per_gpu=1)
    killer.join()

    assert trained.returncode == 0, trained.stderr  # nothing failed: Ray started the killed worker's task again
    assert f"{len(items)} trained or scored now, 0 were stored" in trained.stdout
    workers = WORKER_LINE.findall(trained.stdout)
    # one worker per GPU, each seeing its own GPU only, each training on the CPU (the GPUs are fake)
    assert sorted((gpu, visible, device) for _, gpu, visible, device, _ in workers) == [
        (str(gpu), str(gpu), "cpu") for gpu in range(FAKE_GPUS)
    ]

    log = [line.split() for line in (tmp_path / "training.log").read_text().splitlines()]
    finished = Counter(fields[3] for fields in log if fields[2] == "finish")
    assert finished == Counter({item.key: 1 for item in items})  # every run stored once
    assert [fields[2] for fields in log if int(fields[1]) == killed["pid"]] == ["start"]  # killed mid-run...
    assert [fields[2] for fields in log if fields[3] == killed["key"]][-2:] == ["start", "finish"]  # ...trained again
    store = ResultsStore(tmp_path)
    assert all(store.read(item.key) is not None for item in items)

    # two workers per GPU: eight workers, each of the four GPUs shared by exactly two; nothing left to train
    again = _train_command(tmp_path, ray_head, runs_per_gpu=2)
    assert again.returncode == 0, again.stderr
    workers = WORKER_LINE.findall(again.stdout)
    assert Counter(gpu for _, gpu, *_ in workers) == Counter({str(gpu): 2 for gpu in range(FAKE_GPUS)})
    assert {taken for *_, taken in workers} == {"0"} and "0 trained or scored now" in again.stdout


NO_CUDA_DRIVER = """
import json, sys
from pie_utils.cluster import train_on_ray
from pie_utils.studies import load_study
study = load_study("ci", "bilstm_pair", store=sys.argv[1], seeds=1, device="cuda")
report = train_on_ray([study], address=sys.argv[2], workers=2, progress=False)
print(json.dumps({"lost": report.lost, "after": report.training.after}))
"""


def test_a_worker_given_a_gpu_its_torch_cannot_see_stops_with_a_message_and_trains_nothing(ray_head, tmp_path):
    driver = subprocess.run(
        [sys.executable, "-c", NO_CUDA_DRIVER, str(tmp_path), ray_head],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **LOOPBACK_ENV},
    )
    assert driver.returncode == 0, driver.stderr
    report = json.loads(driver.stdout.strip().splitlines()[-1])
    assert len(report["lost"]) == 2 and all("sees no CUDA device" in line for line in report["lost"])
    assert report["after"] == 0 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "settings, parameter",
    [
        ({"runs_per_gpu": 0}, "runs_per_gpu"),
        ({"cpus_per_run": 1.5}, "cpus_per_run"),
        ({"attempts": 0}, "attempts"),
        ({"address": "headnode"}, "address"),
    ],
)
def test_train_on_ray_refuses_bad_settings_naming_them_before_connecting(tmp_path, settings, parameter):
    study = load_study("ci", "run", store=str(tmp_path), **CLUSTER_GRID)
    with pytest.raises(ParameterError, match=parameter):
        train_on_ray([study], **settings)
    assert not tmp_path.joinpath("training.log").exists()


def test_gpu_settings_a_cluster_without_gpus_cannot_meet_are_refused(tmp_path):
    cpu, cuda = (load_study("ci", "run", store=str(tmp_path), device=name) for name in ("cpu", "cuda"))
    with pytest.raises(ParameterError, match="runs_per_gpu"):
        _runs_per_gpu([cpu], 2, gpus=0)
    with pytest.raises(ParameterError, match="device"):
        _runs_per_gpu([cuda], None, gpus=0)
    assert _runs_per_gpu([cpu], None, gpus=4) == 0  # a cpu study reserves no GPU unless asked
    assert _runs_per_gpu([cuda], None, gpus=4) == 1
