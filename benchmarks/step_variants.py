"""One change at a time, measured at the book's shapes: Adam's implementation and the
evaluation batch size, for the BiLSTM and MiniLM.

    OMP_WAIT_POLICY=PASSIVE python -m benchmarks.step_variants --threads 1 [--repeats 5]

Each variant trains (or evaluates) the same batches of real Rotten Tomatoes snippets from the
same initial weights, interleaved with the others ``--repeats`` times; the table gives the best
time per step (or per example evaluated) of each variant, its speed-up over the first (the
baseline) of its group, and whether its weights after the steps (or its logits) equal the
baseline's bitwise (``same_result``). Written to
``benchmarks/results/step-variants.md``.

- ``adam``: ``torch.optim.Adam`` for-loop (the default on the CPU), ``foreach=True``,
  ``fused=True``, over 50 BiLSTM steps (batch 64) and 6 MiniLM steps (batch 32);
- ``eval batch``: logits of 512 validation snippets at evaluation batch sizes 16–512 (BiLSTM)
  and 8–256 (MiniLM), against 256, the earlier default.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from pie_utils.config import validate_study
from pie_utils.evaluation import split_logits
from pie_utils.models import build_model
from pie_utils.runs import prepare_data
from pie_utils.training import length_bucketed_batches

RESULTS = Path(__file__).resolve().parent / "results"
ADAMS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def prepared_study(arch: str, n_train: int, batch_size: int):
    study = validate_study(
        {
            "dataset": "rotten-tomatoes",
            "arch": arch,
            "seeds": 1,
            "batch_size": batch_size,
            "device": "cpu",
            "subset": {"n_train": n_train, "n_validation": 512, "seed": 0},
        }
    )
    return study, prepare_data(study)


def train_steps(model, optimizer, prepared, batches) -> float:
    """Seconds for one training step over each of ``batches`` (positions into the train split)."""
    encoded, labels = prepared.encoded["train"], torch.as_tensor(prepared.dataset.train.labels)
    torch.manual_seed(0)
    model.train()
    started = time.perf_counter()
    for positions in batches:
        input_ids, attention_mask = encoded.batch(positions)
        logits = model(input_ids, attention_mask)
        loss = F.cross_entropy(logits, labels[torch.as_tensor(positions)])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def compare_training(group: str, arch: str, prepared, steps: int, variants: dict, repeats: int) -> list[dict]:
    """Best seconds per step of each variant (name → Adam's keyword arguments)."""
    batches = length_bucketed_batches(
        prepared.encoded["train"].lengths, prepared_batch(arch), np.random.default_rng(0)
    )[:steps]
    initial = build_model(prepared.model_spec, prepared.dataset.num_classes, 0, prepared.encoder)
    best, weights = {name: np.inf for name in variants}, {}
    for _ in range(repeats):
        for name, adam in variants.items():
            model = copy.deepcopy(initial)
            optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3, **adam)
            best[name] = min(best[name], train_steps(model, optimizer, prepared, batches) / len(batches))
            weights[name] = [p.detach().clone() for p in model.parameters()]
    first = next(iter(variants))
    return [
        {
            "group": group,
            "variant": name,
            "ms": 1e3 * best[name],
            "per": "training step",
            "speedup_vs_first": best[first] / best[name],
            "same_result": all(torch.equal(a, b) for a, b in zip(weights[name], weights[first])),
        }
        for name in variants
    ]


def prepared_batch(arch: str) -> int:
    return 64 if arch == "bilstm" else 32


def compare_eval_batches(group: str, prepared, sizes: tuple[int, ...], repeats: int) -> list[dict]:
    model = build_model(prepared.model_spec, prepared.dataset.num_classes, 0, prepared.encoder)
    encoded = prepared.encoded["validation"]
    best, logits = {size: np.inf for size in sizes}, {}
    for _ in range(repeats):
        for size in sizes:
            started = time.perf_counter()
            logits[size] = split_logits(model, encoded, prepared.dataset.num_classes, size, torch.device("cpu"))
            best[size] = min(best[size], time.perf_counter() - started)
    return [
        {
            "group": group,
            "variant": str(size),
            "ms": 1e3 * best[size] / len(encoded.lengths),
            "per": "example evaluated",
            "speedup_vs_first": best[sizes[0]] / best[size],
            "same_result": bool(np.array_equal(logits[size], logits[sizes[0]])),
        }
        for size in sizes
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args(argv)
    torch.set_num_threads(arguments.threads)
    rows = []
    _, bilstm = prepared_study("bilstm", 2000, 64)
    rows += compare_training("BiLSTM Adam", "bilstm", bilstm, 50, ADAMS, arguments.repeats)
    _, minilm = prepared_study("bert", 200, 32)
    rows += compare_training("MiniLM Adam", "bert", minilm, 6, ADAMS, max(2, arguments.repeats // 2))
    # the first size is the earlier default (256), so the speed-ups read against it
    rows += compare_eval_batches("BiLSTM eval batch", bilstm, (256, 16, 32, 64, 128, 512), arguments.repeats)
    rows += compare_eval_batches("MiniLM eval batch", minilm, (256, 8, 16, 32, 64, 128), max(2, arguments.repeats // 2))
    table = pd.DataFrame(rows)
    header = f"step variants, threads={arguments.threads}, repeats={arguments.repeats}, torch {torch.__version__}"
    text = f"### {header}\n\n{table.to_markdown(index=False, floatfmt='.4g')}\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "step-variants.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
