"""``BiLSTMClassifier``: frozen word vectors → stacked bidirectional LSTM → MLP head."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from pie_utils.models.encoding import PAD_INDEX


class BiLSTMClassifier(nn.Module):
    """The paper's BiLSTM.

    ``embedding`` (frozen, ``padding_idx`` 0) → ``num_layers`` bidirectional LSTM layers of
    ``hidden_size`` units per direction (``forward_lstms[k]``, ``backward_lstms[k]``) → sequence
    vector ``[batch, 2 * hidden_size]`` = the top layer's forward state at the LAST REAL token ⊕
    its backward state at position 0 → ``head`` (Linear–ReLU per width in ``head_sizes``) →
    ``classifier`` Linear.

    Each direction is its own single-layer ``nn.LSTM`` run over the unpacked, right-padded batch:
    the forward one reads the tokens in order and is read at the last real token, the backward
    one reads each row's real tokens reversed (padding after them) and its outputs are flipped
    back, so padding never reaches a state that is read. This is the same function as a packed
    bidirectional ``nn.LSTM`` (and the initial weights drawn under a seed are the same: the
    directions are built in the order a bidirectional LSTM draws them), but on the CPU it runs
    oneDNN's fused kernel instead of a per-time-step cell: 1.2–1.4× faster per batch on
    snippets, about 13× on 500-word reviews (``benchmarks/README.md``). (The original read the
    state at the last padded position.) An example with no tokens is read as one PAD token.
    """

    def __init__(
        self,
        embedding_matrix: np.ndarray | torch.Tensor,
        num_labels: int,
        hidden_size: int = 100,
        num_layers: int = 2,
        head_sizes: tuple[int, ...] = (256, 128),
    ):
        super().__init__()
        matrix = torch.as_tensor(np.asarray(embedding_matrix, dtype=np.float32))
        self.embedding = nn.Embedding.from_pretrained(matrix, freeze=True, padding_idx=PAD_INDEX)
        self.hidden_size = hidden_size
        self.forward_lstms, self.backward_lstms = nn.ModuleList(), nn.ModuleList()
        for layer in range(num_layers):
            width = matrix.shape[1] if layer == 0 else 2 * hidden_size
            self.forward_lstms.append(nn.LSTM(width, hidden_size, batch_first=True))
            self.backward_lstms.append(nn.LSTM(width, hidden_size, batch_first=True))
        self.head, self.classifier = build_head(2 * hidden_size, head_sizes, num_labels)

    def read_vectors(self, vectors: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[batch, 2 * hidden]`` sequence vectors of right-padded ``vectors``
        ``[batch, time, dim]`` whose rows hold ``lengths`` ``[batch]`` (≥ 1) real tokens."""
        layers = [(outputs_of(f), outputs_of(b)) for f, b in zip(self.forward_lstms, self.backward_lstms)]
        return read_bidirectional(vectors, lengths, layers, self.hidden_size)

    def sequence_vector(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[batch, 2 * hidden]``: top-layer forward state at the last real token ⊕ top-layer
        backward state at position 0."""
        return self.read_vectors(self.embedding(input_ids), real_lengths(attention_mask))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[batch, num_labels]`` for ``input_ids``/``attention_mask`` ``[batch, time]``
        (right-padded); ``token_type_ids`` is accepted and ignored."""
        return self.classifier(self.head(self.sequence_vector(input_ids, attention_mask)))

    def prunable_parameters(self) -> list[tuple[str, nn.Module, str]]:
        """The weight matrices pruning may mask: ``[(module name, module, parameter name), ...]``.

        Per layer, forward then backward direction: the LSTM's ``weight_ih_l0`` and
        ``weight_hh_l0`` (8 for 2 layers, in a bidirectional LSTM's parameter order), then the
        head's Linear weights (2 for the paper's head). Not listed: biases, the (frozen)
        embedding and the final ``classifier``.
        """
        out = [
            (f"{stack}.{layer}", getattr(self, stack)[layer], name)
            for layer in range(len(self.forward_lstms))
            for stack in ("forward_lstms", "backward_lstms")
            for name in ("weight_ih_l0", "weight_hh_l0")
        ]
        out += [
            (f"head.{name}", module, "weight")
            for name, module in self.head.named_children()
            if isinstance(module, nn.Linear)
        ]
        return out


Direction = Callable[[torch.Tensor], torch.Tensor]  # [batch, time, in] -> [batch, time, width], from zero state


def real_lengths(attention_mask: torch.Tensor) -> torch.Tensor:
    """``[batch]`` real tokens per row of ``attention_mask`` ``[batch, time]``; a row with none
    counts one (it is read as one PAD token)."""
    return attention_mask.sum(dim=1).clamp(min=1)


def outputs_of(lstm: nn.LSTM) -> Direction:
    """``lstm`` as a ``Direction``: its outputs, without its final states."""
    return lambda sequence: lstm(sequence)[0]


def read_bidirectional(
    vectors: torch.Tensor, lengths: torch.Tensor, layers: Sequence[tuple[Direction, Direction]], width: int
) -> torch.Tensor:
    """The BiLSTM's read-out: ``[batch, 2 * width]``, the top forward state at the last real
    token ⊕ the top backward state at position 0, of right-padded ``vectors`` ``[batch, time,
    dim]`` with ``lengths`` ``[batch]`` (≥ 1) real tokens, through ``layers`` (forward, backward)
    of ``width`` units per direction; a layer above the first reads ``[batch, time, 2 * width]``
    (forward ⊕ backward outputs). The backward direction reads each row's real tokens reversed
    (padding after them) and its outputs are flipped back, so padding never reaches a state
    that is read."""
    positions = torch.arange(vectors.shape[1], device=vectors.device)[None, :]
    last = (lengths - 1)[:, None]
    # flipped[b, j] = row b's real token length−1−j for j < length, else the padding at j itself
    flip_index = torch.where(positions <= last, last - positions, positions)

    def flip(sequence: torch.Tensor) -> torch.Tensor:
        return sequence.gather(1, flip_index[:, :, None].expand(-1, -1, sequence.shape[2]))

    hidden = vectors
    for forward_direction, backward_direction in layers:
        hidden = torch.cat([forward_direction(hidden), flip(backward_direction(flip(hidden)))], dim=2)
    rows = torch.arange(vectors.shape[0], device=vectors.device)
    return torch.cat([hidden[rows, lengths - 1, :width], hidden[:, 0, width:]], dim=1)


def build_head(width: int, head_sizes: tuple[int, ...], num_labels: int) -> tuple[nn.Sequential, nn.Linear]:
    """The paper's MLP head over a ``[batch, width]`` sequence vector: Linear–ReLU per size in
    ``head_sizes``, then the classifier Linear(last size, num_labels). Weights are drawn in
    that order from torch's default generator."""
    layers: list[nn.Module] = []
    for size in head_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers), nn.Linear(width, num_labels)
