"""Pure parts of the benchmarks: the profile summary (on real torch.profiler traces) and the LSTM
kernel benchmark's FLOP count, argument checks and table (on tiny real LSTMs)."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package

from benchmarks.lstm_kernel import kernel_table, parse_arguments, training_flops  # noqa: E402
from benchmarks.population_speed import MODEL_KERNELS, profile_summary  # noqa: E402
from pie_utils.errors import ParameterError  # noqa: E402


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


def test_lstm_training_flops_count_four_gates_forward_and_twice_that_backward():
    # 2 rows × 3 positions × 4 gates × 100 units × (50 inputs + 100 recurrent) × 2 FLOPs × 3 passes
    assert training_flops(50, 100, 2, 3) == 2 * 3 * 4 * 100 * 150 * 2 * 3 == 2_160_000


def test_lstm_kernel_refuses_a_non_positive_size_naming_it():
    with pytest.raises(ParameterError, match="seeds"):
        parse_arguments(["--seeds", "0"])


def test_kernel_table_times_one_seed_and_several_in_one_call(tmp_path):
    arguments = parse_arguments(
        [
            "--input-size",
            "8",
            "--hidden",
            "4",
            "--batch",
            "2",
            "--length",
            "3",
            "--seeds",
            "2",
            "--repeats",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    table = kernel_table(arguments)
    assert list(table.layer) == ["1 (vectors in)", "2 (both directions in)"]
    assert (table.one_seed_ms > 0).all() and (table["2_seeds_one_call_ms"] > 0).all()
    assert table["2_separate_calls_ms"].tolist() == pytest.approx((2 * table.one_seed_ms).tolist())
    assert table.seed_batching_speedup.tolist() == pytest.approx(
        (table["2_separate_calls_ms"] / table["2_seeds_one_call_ms"]).tolist()
    )
