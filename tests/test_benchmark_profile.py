"""The benchmark's profile summary totals the model's own kernels from a real torch.profiler trace."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package

from benchmarks.population_speed import MODEL_KERNELS, profile_summary  # noqa: E402


def profiled_lstm_step() -> torch.profiler.profile:
    """One forward and backward pass of a CPU ``nn.LSTM`` (batch 8, 20 steps, 30 → 16 units)."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(30, 16, batch_first=True)
    inputs = torch.randn(8, 20, 30)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        output, _ = lstm(inputs)
        (output.square().mean() + inputs.sum() * 0).backward()
    return profiler


def test_summary_splits_an_lstm_epoch_into_kernel_and_other_time():
    profiler = profiled_lstm_step()
    row = profile_summary("bilstm", {"pie_utils": profiler}).iloc[0]
    names = {event.key for event in profiler.key_averages()}
    assert set(MODEL_KERNELS["bilstm"]) <= names  # the CPU LSTM runs oneDNN's layer kernel, both ways
    assert row.model_kernels_s > 0
    assert row.epoch_self_cpu_s == pytest.approx(row.model_kernels_s + row.other_s)
    assert 0 < row.model_kernels_share < 1  # the loss, the sum and autograd's bookkeeping are other


def test_summary_finds_no_lstm_kernel_time_in_a_matmul_only_trace():
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        torch.randn(64, 64) @ torch.randn(64, 64)
    bilstm, bert = profile_summary("bilstm", {"x": profiler}), profile_summary("bert", {"x": profiler})
    assert bilstm.model_kernels_s.iloc[0] == 0
    assert bert.model_kernels_s.iloc[0] > 0
