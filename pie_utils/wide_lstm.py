"""R BiLSTMs that read one batch, computed as one BiLSTM R times as wide: run stacking's BiLSTM.

``nn.LSTM`` has no vmap batching rule, and an LSTM written as per-time-step tensor ops under
vmap launches a dozen small kernels per token and direction, which leaves a GPU waiting on the
host. Here the R runs' LSTMs of one layer and direction are one ``aten::lstm`` call (the op
``nn.LSTM`` calls: cuDNN's fused kernel on a GPU, oneDNN's on the CPU) with R·H units. Its
weights are the runs' weights placed block by block with zeros between runs, so wide unit
r·H + j follows unit j of run r alone: each run computes its own function.

Layouts (H units per run and direction, R runs, gates in torch's order i, f, g, o):

- wide states ``[B, T, R·H]``: run r's unit j at r·H + j; a layer above the first reads
  forward ⊕ backward, ``[B, T, 2·R·H]``, column g·R·H + r·H + j (g = 0 forward, 1 backward);
- wide gate rows ``4·R·H``: gate k of run r's unit j at k·R·H + r·H + j, since ``aten::lstm``
  cuts its gate rows into four equal blocks.

The price is arithmetic: the recurrent matmul, and the input matmul of every layer above the
first (whose inputs are the runs' own states), multiply R − 1 zeros for every weight. The first
layer reads the word vectors every run shares, with no zeros. It pays while one run is too
small to fill the device, which is when runs are stacked at all. The states take R runs'
memory, as R separate runs would, but at once: for long texts in large batches that, not the
arithmetic, bounds R.

What equals R separate runs: the function, and so every gradient. The rounding is other: the
kernels block the wider sums in other orders (a zero adds exactly, the order does not), so the
numbers agree to rounding (``tests/test_stacking.py``). A non-finite state of one run spreads
to the others (0 × inf is NaN), so a stack with a non-finite run is discarded whole, as the
trainer does (``pie_utils.stacked_training``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from pie_utils.models.bilstm import BiLSTMClassifier, Direction, read_bidirectional


def gate_major(weight: torch.Tensor) -> torch.Tensor:
    """Per-run gate rows ``[R, 4H, ...]`` → wide gate rows ``[4·R·H, ...]`` (module docstring)."""
    runs, rows = weight.shape[:2]
    rest = weight.shape[2:]
    return weight.reshape(runs, 4, rows // 4, *rest).transpose(0, 1).reshape(runs * rows, *rest)


def block_diagonal(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """Per-run weights ``[R, 4H, groups·W]``, whose inputs are ``groups`` blocks of W of the run's
    own units, → wide weights ``[4·R·H, groups·R·W]`` that read run r's units of each block only
    (column g·R·W + r·W + j, as the module docstring lays out wide states), zero elsewhere.
    Differentiable in ``weight``; the zeros are constants."""
    runs, rows, width = weight.shape
    units, per_group = rows // 4, width // groups
    wide = weight.new_zeros(4, runs, units, groups, runs, per_group)
    run = torch.arange(runs, device=weight.device)
    # two index tensors apart: the indexed dimension (run) comes first, [R, 4, H, groups, W]
    wide[:, run, :, :, run, :] = weight.reshape(runs, 4, units, groups, per_group)
    return wide.reshape(4 * runs * units, groups * runs * per_group)


def wide_direction(params: Mapping[str, torch.Tensor], prefix: str, shared_input: bool) -> Direction:
    """The R runs' LSTM ``prefix`` (e.g. ``"forward_lstms.0"``; stacked ``params[prefix +
    ".weight_ih_l0"]`` [R, 4H, in], ``weight_hh_l0`` [R, 4H, H], biases [R, 4H]) as one wide
    LSTM: ``[B, T, in]`` (``shared_input``: the same input for every run) or ``[B, T, 2·R·H]``
    (the wide states of the layer below) → ``[B, T, R·H]``, from zero state."""
    weight_ih, weight_hh = params[f"{prefix}.weight_ih_l0"], params[f"{prefix}.weight_hh_l0"]
    runs, units = weight_hh.shape[0], weight_hh.shape[2]
    weights = [
        gate_major(weight_ih) if shared_input else block_diagonal(weight_ih, groups=2),
        block_diagonal(weight_hh, groups=1),
        gate_major(params[f"{prefix}.bias_ih_l0"]),
        gate_major(params[f"{prefix}.bias_hh_l0"]),
    ]

    def direction(sequence: torch.Tensor) -> torch.Tensor:
        zeros = sequence.new_zeros(1, sequence.shape[0], runs * units)
        # aten::lstm(input, (h0, c0), weights, has_biases, layers, dropout, train, bidirectional, batch_first)
        outputs, _, _ = torch.lstm(sequence, (zeros, zeros), weights, True, 1, 0.0, True, False, True)
        return outputs

    return direction


def wide_sequence_vectors(
    template: BiLSTMClassifier, params: Mapping[str, torch.Tensor], vectors: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """Every run's sequence vector ``[R, B, 2H]`` (``BiLSTMClassifier.read_vectors`` of each
    run) for word ``vectors`` ``[B, T, D]`` shared by the runs, ``lengths`` ``[B]``; ``params``:
    the runs' stacked LSTM parameters ``[R, ...]`` under ``template``'s names."""
    layers = [
        tuple(
            wide_direction(params, f"{stack}.{layer}", shared_input=layer == 0)
            for stack in ("forward_lstms", "backward_lstms")
        )
        for layer in range(len(template.forward_lstms))
    ]
    runs, units = params["forward_lstms.0.weight_hh_l0"].shape[0], template.hidden_size
    wide = read_bidirectional(vectors, lengths, layers, runs * units)  # [B, 2·R·H]: direction, run, unit
    return wide.reshape(-1, 2, runs, units).permute(2, 0, 1, 3).reshape(runs, -1, 2 * units)
