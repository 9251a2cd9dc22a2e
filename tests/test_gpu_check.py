"""benchmarks/gpu_check.py in its --tiny CPU mode: every section runs and its checks hold."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import gpu_check

pytestmark = pytest.mark.filterwarnings("ignore:There is a performance drop")  # CPU attention under vmap: slower
SECTIONS = ("bert_base", "bilstm_cudnn", "stacking", "rebuild")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check") / "c.json"
    status = gpu_check.main(["--tiny", "--out", str(out)])
    return status, json.loads(out.read_text())


def test_every_section_runs_without_error_and_the_run_passes(report):
    status, data = report
    assert status == 0 and data["passed"] is True
    assert data["tiny"] is True and data["device"] == "cpu" and data["torch"] == torch.__version__
    for name in SECTIONS:
        assert "error" not in data[name], data[name]
        assert data[name]["wall_s"] > 0


def test_stacked_and_sequential_steps_agree_for_both_architectures(report):
    stacking = report[1]["stacking"]
    for arch in ("bilstm", "embedded-minilm"):
        assert stacking[arch]["runs"] == 3
        assert stacking[arch]["max_abs_parameter_difference"] <= 1e-5
        assert stacking[arch]["run_steps_per_s_stacked"] > 0 and stacking[arch]["goal_speedup"] == 10


def test_a_rebuilt_kept_model_gives_the_stored_test_logits_bitwise_on_the_cpu(report):
    rebuild = report[1]["rebuild"]
    assert gpu_check.REBUILD_TOLERANCE["cpu"] == 0.0 == rebuild["tolerance"]
    assert rebuild["max_abs_difference"] == 0.0 and rebuild["passed"] is True
    assert len(rebuild["max_abs_difference_per_run"]) == 2  # dense and MP-AI


def test_bert_throughput_and_mfu_against_the_measured_peak(report):
    bert = report[1]["bert_base"]
    assert (bert["layers"], bert["hidden"], bert["sequence_length"]) == (2, 64, 32)
    assert bert["tokens_per_s"] > 0 and bert["flops_per_s"] > 0
    assert 0 < bert["mfu_measured_peak"] < 1
    assert bert["mfu_spec"] is None and bert["meets_goal"] is None and bert["spec_peak_note"]


def test_the_bilstm_section_reports_the_cpu_kernel_and_no_cudnn(report):
    bilstm = report[1]["bilstm_cudnn"]
    assert bilstm["device_type"] == "cpu" and bilstm["cudnn_used"] is False and bilstm["passed"] is None
    assert bilstm["sparsity"] == pytest.approx(0.9, abs=1e-3) and bilstm["steps_per_s"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_is_refused_before_any_work_without_a_gpu(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert gpu_check.main(["--device", "cuda", "--out", str(out)]) == 2
    assert not out.exists() and "--device" in capsys.readouterr().err
