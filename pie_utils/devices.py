"""The device a study trains on: resolved from its ``device`` setting and checked before any work."""

from __future__ import annotations

import torch

from pie_utils.config import Study
from pie_utils.errors import ParameterError


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present, else Apple MPS when present, else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device", name, "auto or cpu (no CUDA device is visible)")
    return device


def device_type(name: str) -> str:
    """The device type a study's runs are keyed by: ``auto`` resolved on this machine, any
    other name read without checking that this machine has it (a Ray driver lists the keys
    of runs its GPU workers train)."""
    return resolve_device(name).type if name == "auto" else torch.device(name).type


def check_device(study: Study) -> torch.device:
    """The device this process trains ``study`` on; refuses one it lacks, or bf16 off CUDA."""
    device = resolve_device(study.device)
    if study.training.precision == "bf16" and device.type != "cuda":
        raise ParameterError("precision", "bf16", f"fp32 on {device.type} (bf16 autocast needs CUDA)")
    return device
