"""Tests of pie_utils.attributions: integrated gradients of a linear bag-of-embeddings model
worked by hand, padding and batching on a small BiLSTM, and the shift measure on vectors whose
cosines are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pie_utils.attributions import attribution_shift, token_attributions
from pie_utils.errors import ParameterError
from pie_utils.models import BiLSTMClassifier, EncodedSplit


class LinearBag(nn.Module):
    """logits = W · (sum of the real tokens' embeddings) + b: integrated gradients are exact for
    it, and token t's attribution to class c is W[c] · embedding(t) (the PAD embedding is 0)."""

    def __init__(self):
        super().__init__()
        vectors = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])  # row 0: PAD
        self.embedding = nn.Embedding.from_pretrained(vectors, freeze=True, padding_idx=0)
        self.linear = nn.Linear(2, 2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, -1.0]]))
            self.linear.bias.copy_(torch.tensor([0.5, -0.5]))

    def forward(self, input_ids, attention_mask):
        return self.linear((self.embedding(input_ids) * attention_mask[:, :, None]).sum(dim=1))


@pytest.fixture
def ragged():
    # lengths 2, 1, 3: batches pad the shorter ones
    return EncodedSplit.from_sequences([[1, 2], [2], [3, 1, 2]])


def test_linear_model_by_hand(ragged):
    # W[0]·e = 1, 2, 2 for tokens 1, 2, 3; W[1]·e = 2, −2, 1
    result = token_attributions(LinearBag(), ragged, np.array([0, 1, 1]), n_steps=4, batch_size=2)
    expected = np.array([[1.0, 2.0, 0.0], [-2.0, 0.0, 0.0], [1.0, 2.0, -2.0]])
    np.testing.assert_allclose(result.values, expected, atol=1e-6)
    np.testing.assert_allclose(result.output_change, [3.0, -2.0, 1.0], atol=1e-6)  # the bias cancels
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-6)
    np.testing.assert_array_equal(result.lengths, [2, 1, 3])
    np.testing.assert_allclose(result.row(1), [-2.0])


def small_bilstm(seed: int) -> BiLSTMClassifier:
    torch.manual_seed(seed)
    vectors = torch.randn(12, 5)
    vectors[0] = 0.0  # PAD
    return BiLSTMClassifier(vectors, num_labels=2, hidden_size=4, num_layers=2, head_sizes=(6,))


def test_bilstm_padding_is_zero_and_batching_does_not_matter():
    encoded = EncodedSplit.from_sequences([[3, 4, 5, 6, 7], [2], [8, 9, 10], [11, 2, 3, 4]])
    targets = np.array([0, 1, 1, 0])
    one_at_a_time = token_attributions(small_bilstm(0), encoded, targets, n_steps=16, batch_size=1)
    together = token_attributions(small_bilstm(0), encoded, targets, n_steps=16, batch_size=4)
    np.testing.assert_allclose(together.values, one_at_a_time.values, atol=1e-6)
    assert together.values[1, 1:].tolist() == [0.0] * 4 and together.values[2, 3:].tolist() == [0.0] * 2
    assert (together.values[0] != 0).all()
    # output_change is F(input) − F(all-PAD input of the same length) of the target logit
    model = small_bilstm(0).eval()
    with torch.no_grad():
        for row, ids in enumerate([[3, 4, 5, 6, 7], [2], [8, 9, 10], [11, 2, 3, 4]]):
            ones = torch.ones(1, len(ids), dtype=torch.long)
            change = model(torch.tensor([ids]), ones) - model(torch.zeros(1, len(ids), dtype=torch.long), ones)
            assert together.output_change[row] == pytest.approx(change[0, targets[row]].item(), abs=1e-5)
    # 16 steps integrate this small model closely: the attributions add up to the change
    assert np.abs(together.delta).max() < 0.05 * np.abs(together.output_change).max()


def test_parameters_keep_requiring_gradients():
    model = small_bilstm(0)
    token_attributions(model, EncodedSplit.from_sequences([[2, 3]]), np.array([1]), n_steps=2)
    assert all(p.requires_grad for name, p in model.named_parameters() if not name.startswith("embedding"))


def test_identical_models_give_zero_shift_and_other_models_do_not():
    encoded = EncodedSplit.from_sequences([[3, 4, 5], [6, 7], [8, 9, 10, 11]])
    targets = np.array([1, 0, 1])
    first = token_attributions(small_bilstm(0), encoded, targets, n_steps=8)
    again = token_attributions(small_bilstm(0), encoded, targets, n_steps=8)
    other = token_attributions(small_bilstm(1), encoded, targets, n_steps=8)
    np.testing.assert_allclose(attribution_shift(first.values, again.values), 0.0, atol=1e-12)
    assert (attribution_shift(first.values, other.values) > 1e-3).all()


def test_shift_by_hand():
    first = np.array([[1.0, 2.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    second = np.array([[2.0, 4.0, 0.0], [0.0, 5.0, 0.0], [-1.0, -1.0, 0.0], [4.0, 3.0, 0.0], [1.0, 0.0, 0.0]])
    # same direction, orthogonal, opposite, cos = 24/25, no direction
    np.testing.assert_allclose(attribution_shift(first, second)[:4], [0.0, 1.0, 2.0, 1 / 25], atol=1e-12)
    assert np.isnan(attribution_shift(first, second)[4])


@pytest.mark.parametrize(
    "call, parameter",
    [
        (lambda m, e: token_attributions(m, e, np.array([0]), n_steps=4), "targets"),  # one target for two examples
        (lambda m, e: token_attributions(m, e, np.array([0.0, 1.0]), n_steps=4), "targets"),
        (lambda m, e: token_attributions(m, e, np.array([0, 2]), n_steps=4), "targets"),  # the model has classes 0, 1
        (lambda m, e: token_attributions(m, e, np.array([0, 1]), n_steps=0), "n_steps"),
        (lambda m, e: token_attributions(m, e, np.array([0, 1]), n_steps=4, batch_size=0), "batch_size"),
        (lambda m, e: token_attributions(nn.Linear(2, 2), e, np.array([0, 1]), n_steps=4), "model"),
        (lambda m, e: attribution_shift(np.zeros((2, 3)), np.zeros((2, 4))), "second"),
    ],
)
def test_bad_input(call, parameter):
    with pytest.raises(ParameterError) as error:
        call(LinearBag(), EncodedSplit.from_sequences([[1, 2], [3]]))
    assert error.value.parameter == parameter


def test_the_margin_attributes_the_target_logit_minus_the_mean_logit(ragged):
    # centred weights: (W[0] − W[1]) / 2 = (−0.5, 1) for class 0 and its negative for class 1;
    # tokens 1, 2, 3 embed as (1, 0), (0, 2), (1, 1): −0.5, 2, 0.5 for class 0
    result = token_attributions(LinearBag(), ragged, np.array([0, 1, 1]), n_steps=4, batch_size=2, margin=True)
    expected = np.array([[-0.5, 2.0, 0.0], [-2.0, 0.0, 0.0], [-0.5, 0.5, -2.0]])
    np.testing.assert_allclose(result.values, expected, atol=1e-6)
    np.testing.assert_allclose(result.delta, 0.0, atol=1e-6)
