"""How close the CPU LSTM kernel runs to the machine's matmul peak, and whether batching seeds pays.

Both paths of ``population_speed`` spend over 80 % of a BiLSTM epoch in oneDNN's LSTM layer
(``results/bilstm-rotten-tomatoes-profile.txt``). This measures that kernel alone at the
model's shapes, forward and backward, against the fp32 ``torch.matmul`` peak measured in the
same run (the best of a measurement before and one after):

- one seed: ``nn.LSTM(input, hidden)`` for the first layer (word vectors in) and
  ``nn.LSTM(2 · hidden, hidden)`` for the second (both directions of the first in);
- S seeds in one kernel call: the only way to give S seeds' different weights to one LSTM call
  is one LSTM of S · hidden units over the S inputs side by side, whose weight matrices would be
  block-diagonal; the kernel computes them whole, so it does S times the FLOPs of S separate
  calls in its recurrent and input products.

FLOPs of forward + backward = 3 × the forward's 2 · 4 · hidden · (input + hidden) per position
(the backward does about twice the forward's products). Run from the repository root:

    python -m benchmarks.lstm_kernel --threads 2

Prints a markdown table and writes it to ``benchmarks/results/lstm-kernel.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from benchmarks.measure import matmul_peak
from pie_utils.errors import ParameterError

RESULTS = Path(__file__).resolve().parent / "results"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input-size", type=int, default=50, help="word-vector width (glove-6b-50d)")
    parser.add_argument("--hidden", type=int, default=100, help="units per direction (BiLSTMClassifier)")
    parser.add_argument("--batch", type=int, default=64, help="rows per batch (rotten-tomatoes.bilstm)")
    parser.add_argument(
        "--length", type=int, default=24, help="positions per row (Rotten Tomatoes' median snippet is 22 tokens)"
    )
    parser.add_argument("--seeds", type=int, default=3, help="S, seeds in one kernel call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20, help="timed passes after 3 warm-up passes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the table")
    arguments = parser.parse_args(argv)
    for name in ("input_size", "hidden", "batch", "length", "seeds", "threads", "repeats"):
        if getattr(arguments, name) < 1:
            raise ParameterError(name, getattr(arguments, name), "an integer >= 1")
    return arguments


def lstm_seconds(input_size: int, hidden: int, batch: int, length: int, repeats: int) -> float:
    """Mean seconds of one forward + backward pass of ``nn.LSTM(input_size, hidden)`` over a
    ``[batch, length, input_size]`` input."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(input_size, hidden, batch_first=True)
    inputs = torch.randn(batch, length, input_size, requires_grad=True)

    def one_pass():
        output, _ = lstm(inputs)
        output.sum().backward()

    for _ in range(3):
        one_pass()
    started = time.perf_counter()
    for _ in range(repeats):
        one_pass()
    return (time.perf_counter() - started) / repeats


def training_flops(input_size: int, hidden: int, batch: int, length: int) -> float:
    """FLOPs of forward + backward: 3 × 2 · 4 · hidden · (input_size + hidden) per position."""
    return 3 * 2 * 4 * hidden * (input_size + hidden) * batch * length


def kernel_table(arguments: argparse.Namespace) -> pd.DataFrame:
    """One row per layer: one seed's pass and its FLOP/s, S seeds' passes in one call, the ratio."""
    rows = []
    width, hidden, seeds = arguments.input_size, arguments.hidden, arguments.seeds
    shape = (arguments.batch, arguments.length)
    for layer, input_size in (("1 (vectors in)", width), ("2 (both directions in)", 2 * hidden)):
        single = lstm_seconds(input_size, hidden, *shape, arguments.repeats)
        batched = lstm_seconds(seeds * input_size, seeds * hidden, *shape, arguments.repeats)
        single_flops = training_flops(input_size, hidden, *shape) / single
        rows.append(
            {
                "layer": layer,
                "one_seed_ms": 1e3 * single,
                "gflops_per_s": single_flops / 1e9,
                f"{seeds}_seeds_one_call_ms": 1e3 * batched,
                f"{seeds}_separate_calls_ms": 1e3 * seeds * single,
                "seed_batching_speedup": seeds * single / batched,
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    torch.set_num_threads(arguments.threads)
    peak_before = matmul_peak(arguments.threads)
    table = kernel_table(arguments)
    peak = max(peak_before, matmul_peak(arguments.threads))
    table.insert(3, "pct_of_peak", 100 * table["gflops_per_s"] * 1e9 / peak)
    header = (
        f"nn.LSTM forward + backward, batch {arguments.batch} x {arguments.length} positions, "
        f"input {arguments.input_size}, hidden {arguments.hidden}, {arguments.seeds} seeds, "
        f"threads={arguments.threads}, fp32 matmul peak {peak / 1e9:.1f} GFLOP/s, torch {torch.__version__}"
    )
    text = "\n".join([f"### {header}", "", table.to_markdown(index=False, floatfmt=".3g"), ""])
    print(text)
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "lstm-kernel.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
