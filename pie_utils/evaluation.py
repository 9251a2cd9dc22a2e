"""Stored runs as models again: kept weights loaded back, logits of any encoded split, and a
stored run scored on another dataset afterwards (an *evaluation*, stored beside the run).

A run keeps its trained weights and pruning masks (``model.pt``) when its study keeps models
(``Study.keep_models``: the BiLSTM by default, about 2 MB a run without its frozen embedding).
``load_model`` rebuilds the architecture under the run's seed and loads them, so chapters that
need models read them instead of training again.

Out-of-distribution scoring is an evaluation of the same runs: ``evaluate_transfer`` builds the
study's encoder over its own data plus every text of the transfer dataset (for the BiLSTM that
adds the transfer set's words to the frozen embedding; no training input changes, since a word
the study's vocabulary lacks maps to the out-of-vocabulary vector, the mean of all vectors,
either way), swaps that embedding into the loaded model and stores the logits under a key of
(run key, transfer dataset, encoder). So a run trained once serves every study that reads it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from pie_utils.config import Study
from pie_utils.data.types import TextDataset
from pie_utils.devices import check_device
from pie_utils.models import EncodedSplit, build_encoder, build_model
from pie_utils.runs import PreparedData, open_store, prepare_data, study_key, study_runs
from pie_utils.store import EVALUATIONS, ResultsStore, StoredRun, machine_description, run_key

FROZEN_PREFIXES = ("embedding.",)  # BiLSTM parameters rebuilt from the word vectors, never kept


class MissingModelError(KeyError):
    """A run was asked for its model but kept none (or is not stored); the message says which."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def trained_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's ``state_dict`` on the CPU without the frozen embedding (rebuilt from vectors)."""
    return {
        name: tensor.detach().cpu()
        for name, tensor in model.state_dict().items()
        if not name.startswith(FROZEN_PREFIXES)
    }


def load_trained_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Load ``trained_weights`` into ``model``; refuses weights that leave more than the frozen
    embedding unset, or hold names the model lacks."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if unexpected or any(not name.startswith(FROZEN_PREFIXES) for name in missing):
        raise RuntimeError(f"the weights do not fit the model ({missing=}, {unexpected=})")


def kept_state(model: torch.nn.Module, masks: dict[str, torch.Tensor]) -> dict[str, Any]:
    """What a run keeps of its model: ``trained_weights`` and the pruning masks (True = kept)."""
    return {"weights": trained_weights(model), "masks": {name: mask.cpu() for name, mask in masks.items()}}


def load_model(
    study: Study,
    prepared: PreparedData,
    store: ResultsStore,
    method: str,
    sparsity: float,
    seed: int,
    encoder: Any = None,
) -> torch.nn.Module:
    """The trained model of one stored run, in eval mode on the study's device.

    ``encoder``: the encoder whose vocabulary the rebuilt embedding follows (default: the
    study's own). Raises ``MissingModelError`` naming the run when it is absent or kept no model.
    """
    key = study_key(study, prepared, method, sparsity, seed)
    state = store.read_model(key)
    if state is None:
        stored = store.has(key)
        raise MissingModelError(
            f"{study.dataset}/{study.arch} {method} sparsity={sparsity:g} seed={seed} (run {key[:12]}) "
            + (
                "kept no model: its study has keep_models=false; train it with keep_models=true"
                if stored
                else f"is not in {store.root}; train it first (python -m pie_utils train)"
            )
        )
    model = build_model(prepared.model_spec, prepared.dataset.num_classes, seed, encoder or prepared.encoder)
    load_trained_weights(model, state["weights"])
    return model.to(check_device(study)).eval()


@torch.inference_mode()
def split_logits(
    model: torch.nn.Module,
    encoded: EncodedSplit,
    num_classes: int,
    batch_size: int,
    device: torch.device,
    bf16: bool = False,
) -> np.ndarray:
    """Logits ``[example, class]`` (float32) of every example of ``encoded``, in its order.

    Examples are batched in length order (little padding); ``bf16`` autocasts on CUDA.
    """
    was_training = model.training
    model.eval()
    order = np.argsort(encoded.lengths, kind="stable")
    logits = np.empty((len(order), num_classes), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        positions = order[start : start + batch_size]
        input_ids, attention_mask = encoded.batch(positions)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(input_ids.to(device), attention_mask.to(device))
        logits[positions] = out.float().cpu().numpy()
    model.train(was_training)
    return logits


@dataclass(frozen=True, eq=False)
class TransferEncoding:
    """The study's encoder extended by a transfer dataset's texts, and that dataset encoded.

    Attributes:
        dataset: the transfer dataset.
        encoder: the study's encoder type built over the study's data and every transfer text.
        encoded: every example of the transfer dataset (``TextDataset.pooled``), at its own
            token budget; None when built with ``encode=False`` (enough for keys).
    """

    dataset: TextDataset
    encoder: Any
    encoded: EncodedSplit | None


def transfer_encoding(prepared: PreparedData, encode: bool = True) -> TransferEncoding:
    """Encode the study's transfer dataset for scoring its stored runs (``prepared.transfer`` set)."""
    if prepared.transfer is None:
        raise ValueError("the study has no transfer dataset")
    pooled = prepared.transfer.pooled()
    encoder = build_encoder(prepared.model_spec, prepared.dataset, extra_texts=pooled.texts)
    encoded = encoder.encode(pooled, prepared.transfer.max_length) if encode else None
    return TransferEncoding(prepared.transfer, encoder, encoded)


def evaluation_key(run: str, transfer: TransferEncoding) -> str:
    """The store key of run ``run`` scored on ``transfer``."""
    return run_key(
        {
            "run": run,
            "dataset": {"name": transfer.dataset.name, "fingerprint": transfer.dataset.fingerprint()},
            "encoder": transfer.encoder.fingerprint,
        }
    )


def evaluate_transfer(
    study: Study,
    prepared: PreparedData,
    store: ResultsStore,
    method: str,
    sparsity: float,
    seed: int,
    transfer: TransferEncoding,
) -> np.ndarray:
    """Logits ``[example, class]`` of one stored run on every transfer example, computed once.

    A stored evaluation is read back; otherwise it is computed under its claim
    (``score_transfer``), so processes sharing the store score it once.
    """
    key = evaluation_key(study_key(study, prepared, method, sparsity, seed), transfer)
    stored = store.read(key, kind=EVALUATIONS)
    if stored is None:
        with store.claim(key):
            stored = store.read(key, kind=EVALUATIONS) or score_transfer(
                study, prepared, store, method, sparsity, seed, transfer
            )
    return stored.arrays["logits"]


def score_transfer(
    study: Study,
    prepared: PreparedData,
    store: ResultsStore,
    method: str,
    sparsity: float,
    seed: int,
    transfer: TransferEncoding,
) -> StoredRun:
    """Score one stored run's kept model on every transfer example and store the logits
    (``logits[example, class]``) as an evaluation; the caller holds its claim."""
    started = time.perf_counter()
    run = study_key(study, prepared, method, sparsity, seed)
    key = evaluation_key(run, transfer)
    device = check_device(study)
    model = load_model(study, prepared, store, method, sparsity, seed, encoder=transfer.encoder)
    logits = split_logits(
        model,
        transfer.encoded,
        prepared.dataset.num_classes,
        study.training.eval_batch_size,
        device,
        bf16=study.training.precision == "bf16" and device.type == "cuda",
    )
    if not np.isfinite(logits).all():
        raise RuntimeError(f"run {run} gives non-finite logits on {transfer.dataset.name}; nothing stored")
    spec = {"run_key": run, "dataset": transfer.dataset.name, "examples": len(logits)}
    meta = {"run_key": run, "wall_time_s": time.perf_counter() - started, "machine": machine_description()}
    store.write(key, spec, {"logits": logits}, {}, meta, kind=EVALUATIONS)
    return store.read(key, kind=EVALUATIONS)


def evaluate_study(study: Study) -> pd.DataFrame:
    """Every stored run of ``study`` scored on its transfer dataset (``study.transfer``): one
    row per population with ``seeds`` and the ``mean`` and ``std`` (over seeds) of accuracy on
    every transfer example. Trains nothing; ``MissingModelError`` names a run that is missing."""
    prepared = prepare_data(study)
    store = open_store(study)
    transfer = transfer_encoding(prepared)
    gold = transfer.dataset.pooled().labels
    rows = [
        {
            "method": method,
            "sparsity": sparsity,
            "seed": seed,
            "accuracy": float(
                (evaluate_transfer(study, prepared, store, method, sparsity, seed, transfer).argmax(1) == gold).mean()
            ),
        }
        for method, sparsity, seed in study_runs(study)
    ]
    table = pd.DataFrame(rows).groupby(["method", "sparsity"], sort=False)["accuracy"]
    return table.agg(seeds="count", mean="mean", std="std").reset_index()
