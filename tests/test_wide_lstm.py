"""R BiLSTMs as one wide BiLSTM (``pie_utils.wide_lstm``): the layouts by hand, then the function
and its gradients against each run's own model."""

from __future__ import annotations

import torch

from pie_utils.models import BiLSTMClassifier
from pie_utils.wide_lstm import block_diagonal, gate_major, wide_sequence_vectors


def numbered(runs: int, rows: int, width: int) -> torch.Tensor:
    """[runs, rows, width] whose entry (r, i, j) is 100·r + 10·i + j: each entry names itself."""
    r, i, j = torch.meshgrid(torch.arange(runs), torch.arange(rows), torch.arange(width), indexing="ij")
    return (100 * r + 10 * i + j).float()


def test_gate_major_puts_each_gate_of_every_run_together():
    """Two runs of one unit (H = 1): gates i, f, g, o of run 0 are rows 0-3, of run 1 rows 100-103."""
    wide = gate_major(numbered(2, 4, 1))
    assert wide.squeeze(1).tolist() == [0, 100, 10, 110, 20, 120, 30, 130]
    assert gate_major(numbered(2, 4, 1).squeeze(2)).tolist() == [0, 100, 10, 110, 20, 120, 30, 130]  # biases [R, 4H]


def test_block_diagonal_lets_each_run_read_its_own_units_only():
    """Two runs, H = 1: wide row k·2 + r (gate k of run r) holds run r's weight in column r, zero in the other."""
    wide = block_diagonal(numbered(2, 4, 1), groups=1)
    assert wide.tolist() == [[0, 0], [0, 100], [10, 0], [0, 110], [20, 0], [0, 120], [30, 0], [0, 130]]


def test_block_diagonal_over_forward_and_backward_inputs():
    """A second layer reads forward ⊕ backward: run r's column j of group g lands at g·R·W + r·W + j.
    Two runs, H = 1, W = 1 per group: run 1's forward weight (column 0) at wide column 1, its backward (1) at 3."""
    wide = block_diagonal(numbered(2, 4, 2), groups=2)
    assert wide.shape == (8, 4)
    assert wide[0].tolist() == [0, 0, 1, 0]  # gate i of run 0: its forward input, then its backward input
    assert wide[1].tolist() == [0, 100, 0, 101]  # gate i of run 1
    assert wide[7].tolist() == [0, 130, 0, 131]  # gate o of run 1


def test_wide_vectors_and_their_gradients_are_each_runs_own():
    """Three randomly initialised two-layer BiLSTMs on one padded batch of 5 rows (lengths 1 to 7):
    the wide read-out equals each model's ``read_vectors``, and the gradient of a loss on it
    reaches each run's weights as that run's own backward pass does."""
    generator = torch.Generator().manual_seed(0)
    embedding = torch.randn(20, 6, generator=generator)
    models = []
    for seed in range(3):
        torch.manual_seed(seed)
        models.append(BiLSTMClassifier(embedding, 2, hidden_size=4, num_layers=2, head_sizes=(5,)))
    lengths = torch.tensor([7, 1, 4, 7, 2])
    vectors = torch.randn(5, 7, 6, generator=generator)
    names = [n for n, p in models[0].named_parameters() if "lstms" in n]
    params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]).requires_grad_() for n in names}

    wide = wide_sequence_vectors(models[0], params, vectors, lengths)
    own = torch.stack([m.read_vectors(vectors, lengths) for m in models])
    assert wide.shape == (3, 5, 8)
    torch.testing.assert_close(wide, own, rtol=0, atol=1e-6)

    weights = torch.randn(3, 5, 8, generator=generator)
    (wide * weights).sum().backward()
    (own * weights).sum().backward()
    for name in names:
        expected = torch.stack([dict(m.named_parameters())[name].grad for m in models])
        torch.testing.assert_close(params[name].grad, expected, rtol=0, atol=1e-6, msg=name)
