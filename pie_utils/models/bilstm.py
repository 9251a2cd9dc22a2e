"""``BiLSTMClassifier``: frozen word vectors → stacked bidirectional LSTM → MLP head."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from pie_utils.models.encoding import PAD_INDEX


class BiLSTMClassifier(nn.Module):
    """The paper's BiLSTM.

    ``embedding`` (frozen, ``padding_idx`` 0) → ``lstm`` (``num_layers`` bidirectional layers of
    ``hidden_size`` units, batch-first) → sequence vector ``[batch, 2 * hidden_size]`` = the
    top layer's forward state at the LAST REAL token ⊕ its backward state at position 0 →
    ``head`` (Linear–ReLU per width in ``head_sizes``) → ``classifier`` Linear.

    The sequence is packed (``pack_padded_sequence``, lengths from the attention mask), so the
    forward direction stops at each example's last real token and the backward direction
    starts there: padding is never read. (The original read the state at the last padded
    position.) An example with no tokens is read as one PAD token.
    """

    def __init__(self, embedding_matrix: np.ndarray | torch.Tensor, num_labels: int, hidden_size: int = 100,
                 num_layers: int = 2, head_sizes: tuple[int, ...] = (256, 128)):
        super().__init__()
        matrix = torch.as_tensor(np.asarray(embedding_matrix, dtype=np.float32))
        self.embedding = nn.Embedding.from_pretrained(matrix, freeze=True, padding_idx=PAD_INDEX)
        self.lstm = nn.LSTM(matrix.shape[1], hidden_size, num_layers=num_layers, bidirectional=True,
                            batch_first=True)
        self.head, self.classifier = build_head(2 * hidden_size, head_sizes, num_labels)

    def sequence_vector(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``[batch, 2 * hidden]``: top-layer forward state at the last real token ⊕ top-layer
        backward state at position 0."""
        lengths = attention_mask.sum(dim=1).clamp(min=1).to("cpu", torch.int64)
        packed = pack_padded_sequence(self.embedding(input_ids), lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)  # h_n: [layers * 2, batch, hidden], in input order
        return torch.cat([h_n[-2], h_n[-1]], dim=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[batch, num_labels]`` for ``input_ids``/``attention_mask`` ``[batch, time]``
        (right-padded); ``token_type_ids`` is accepted and ignored."""
        return self.classifier(self.head(self.sequence_vector(input_ids, attention_mask)))

    def prunable_parameters(self) -> list[tuple[str, nn.Module, str]]:
        """The weight matrices pruning may mask: ``[(module name, module, parameter name), ...]``.

        The LSTM's ``weight_ih_l{k}[_reverse]`` and ``weight_hh_l{k}[_reverse]`` (4 per layer:
        8 for 2 layers) and the head's Linear weights (2 for the paper's head). Not listed:
        biases, the (frozen) embedding and the final ``classifier``.
        """
        out = [("lstm", self.lstm, name) for name, _ in self.lstm.named_parameters() if name.startswith("weight_")]
        out += [(f"head.{name}", module, "weight") for name, module in self.head.named_children()
                if isinstance(module, nn.Linear)]
        return out


def build_head(width: int, head_sizes: tuple[int, ...], num_labels: int) -> tuple[nn.Sequential, nn.Linear]:
    """The paper's MLP head over a ``[batch, width]`` sequence vector: Linear–ReLU per size in
    ``head_sizes``, then the classifier Linear(last size, num_labels). Weights are drawn in
    that order from torch's default generator."""
    layers: list[nn.Module] = []
    for size in head_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    return nn.Sequential(*layers), nn.Linear(width, num_labels)
