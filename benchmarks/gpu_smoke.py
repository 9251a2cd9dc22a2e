"""GPU smoke test: a small BERT-base population trained, pruned, stored and compared for PIEs.

Needs only torch, transformers and this project, and no hub: a BERT with ``BertConfig``'s
defaults (BERT-base: 12 layers, hidden 768, 12 heads) is randomly initialised (seed 0), saved
with the embedded MiniLM's tokenizer (the same 30,522-word uncased vocabulary) as a local
checkpoint, and fine-tuned through ``pie_utils`` (``PopulationTrainer``: SDPA attention, bf16
autocast on CUDA, pooled ``[CLS]``) on real Rotten Tomatoes snippets: a dense population and an
IMP-FT population (``pie_utils.pruning``), both written to a ``ResultsStore``; then
``pie_utils.pies.find_pies`` compares their modal test labels. Prints training tokens/s and MFU:
``benchmarks.measure.bert_training_flops`` on real tokens per second of training epochs,
against a ``torch.matmul`` peak measured in the same run (bf16 8192² on CUDA; fp32 1024² on
the CPU, where bf16 autocast is not used).

    python -m benchmarks.gpu_smoke            # CUDA: about 3 seeds × 4 epochs of 4,000 snippets
    python -m benchmarks.gpu_smoke --tiny     # CPU check: a 2-layer, 64-wide BERT, 64 snippets

Sized to finish within 10 minutes on one recent GPU; the CUDA path was not run on the machine
it was written on (CPU only).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.measure import bert_training_flops, matmul_peak, run_fast_path
from pie_utils.config import validate_study
from pie_utils.errors import ParameterError
from pie_utils.models import build_model, resolve_checkpoint
from pie_utils.pies import find_pies, modal_labels, predictions_from_logits
from pie_utils.pruning import DENSE
from pie_utils.store import ResultsStore

TINY_CONFIG = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128}
TINY_SUBSET = {"n_train": 64, "n_validation": 32, "n_test": 64}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small config and data, for a CPU check")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=4000, help="training snippets (ignored with --tiny)")
    parser.add_argument("--epochs", type=int, default=1, help="E: dense epochs and epochs per FT round")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sparsity", type=float, default=0.5, help="IMP-FT target sparsity")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--store", type=Path, default=None, help="results store folder (default: temporary)")
    return parser.parse_args(argv)


def save_random_bert(folder: Path, tiny: bool) -> None:
    """A randomly initialised ``BertModel`` (with pooler) and the MiniLM tokenizer, as a checkpoint folder."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    location, _ = resolve_checkpoint("embedded-minilm")
    tokenizer = AutoTokenizer.from_pretrained(location, use_fast=True, local_files_only=True)
    config = BertConfig(vocab_size=len(tokenizer), **(TINY_CONFIG if tiny else {}))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        BertModel(config, add_pooling_layer=True).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    for name in ("seeds", "n_train", "epochs", "batch_size", "threads"):
        if getattr(arguments, name) < 1:
            raise ParameterError(name, getattr(arguments, name), "an integer >= 1")
    cuda = torch.cuda.is_available()
    if not cuda and not arguments.tiny:
        raise ParameterError("device", "cpu", "a CUDA device, or --tiny for the CPU check")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pie-gpu-smoke-") as scratch:
        checkpoint = Path(scratch) / "random-bert"
        save_random_bert(checkpoint, arguments.tiny)
        subset = {**(TINY_SUBSET if arguments.tiny else {"n_train": arguments.n_train}), "seed": 0}
        study = validate_study(
            {
                "dataset": "rotten-tomatoes",
                "arch": "bert",
                "checkpoint": str(checkpoint),
                "seeds": arguments.seeds,
                "methods": ["IMP-FT"],
                "sparsities": [arguments.sparsity],
                "epochs": arguments.epochs,
                "batch_size": arguments.batch_size,
                "threads": arguments.threads,
                "subset": subset,
                "device": "cuda" if cuda else "cpu",
                "precision": "bf16" if cuda else "fp32",
                "store": str(arguments.store or Path(scratch) / "store"),
            }
        )
        result, trainer = run_fast_path(study, store_root=study.store)
        stored = len(ResultsStore(study.store).keys())
        prepared = trainer.prepared
        model = build_model(prepared.model_spec, prepared.dataset.num_classes, 0, prepared.encoder)
        flops = bert_training_flops(model, result.train_lengths) * result.train_tokens / result.train_lengths.sum()
    if cuda:
        peak, peak_name = matmul_peak(arguments.threads, size=8192, dtype=torch.bfloat16, device="cuda"), "bf16"
    else:
        peak, peak_name = matmul_peak(arguments.threads, size=1024), "fp32"
    logits = {
        method: np.stack([result.test_logits[key] for key in sorted(result.test_logits) if key[0] == method])
        for method in (DENSE, "IMP-FT")
    }
    dense, pruned = (predictions_from_logits(logits[m]) for m in (DENSE, "IMP-FT"))
    pies = find_pies(dense, pruned, prepared.dataset.num_classes)
    gold = prepared.dataset.test.labels
    modal = {m: modal_labels(p, prepared.dataset.num_classes).labels for m, p in (("dense", dense), ("pruned", pruned))}
    flops_per_second = flops / result.train_seconds
    device = torch.cuda.get_device_name() if cuda else "cpu"
    print(
        f"model: {model.bert.config.num_hidden_layers} layers, hidden {model.bert.config.hidden_size}, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters, random init; device {device}"
    )
    print(
        f"runs stored: {stored} ({arguments.seeds} dense + {arguments.seeds} IMP-FT {arguments.sparsity:g}); "
        f"wall {time.perf_counter() - started:.1f} s"
    )
    print(
        f"training: {result.train_tokens} real tokens in {result.train_seconds:.1f} s = "
        f"{result.tokens_per_second:.0f} tokens/s; {flops_per_second / 1e12:.4g} TFLOP/s"
    )
    print(f"{peak_name} matmul peak {peak / 1e12:.4g} TFLOP/s; MFU {100 * flops_per_second / peak:.1f} %")
    print(
        f"test accuracy, mean over seeds: dense {result.runs[result.runs.method == DENSE].test_accuracy.mean():.3f}, "
        f"IMP-FT {result.runs[result.runs.method != DENSE].test_accuracy.mean():.3f}; modal: dense "
        f"{(modal['dense'] == gold).mean():.3f}, pruned {(modal['pruned'] == gold).mean():.3f}"
    )
    print(f"PIEs: {int(pies.sum())} of {len(pies)} test snippets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
