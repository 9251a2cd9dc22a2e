"""Unit tests of pie_utils.pruning on a toy model small enough to check by hand."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from torch import nn

from pie_utils.errors import ParameterError
from pie_utils.pruning import (
    DENSE,
    METHODS,
    PAPER_METHODS,
    SCORES,
    PruningState,
    get_method,
    impact_scores,
    per_round_rate,
    pruned_count_after_round,
    shrink_mask,
)

TARGETS = (0.2, 0.5, 0.7, 0.9, 0.99)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Toy tensors gain nothing from threads, and on a busy machine threads spin (50× slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class ToyModel(nn.Module):
    """LSTM → Linear → ReLU → Linear → classifier; every weight matrix but the classifier's is prunable."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.lstm = nn.LSTM(4, 6, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU())
        self.classifier = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.lstm(x)
        return self.classifier(self.head(output[:, -1]))

    def prunable_parameters(self):
        out = [("lstm", self.lstm, name) for name, _ in self.lstm.named_parameters() if name.startswith("weight_")]
        return out + [("head.0", self.head[0], "weight"), ("head.2", self.head[2], "weight")]


class TinyLinear(nn.Module):
    """A single bias-free Linear(3 → 2), all of it prunable."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.linear = nn.Linear(3, 2, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(weight)

    def forward(self, x):
        return self.linear(x)

    def prunable_parameters(self):
        return [("linear", self.linear, "weight")]


def toy_batches(n_batches: int = 3, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(5, 7, 4, generator=generator), torch.randint(0, 3, (5,), generator=generator))
        for _ in range(n_batches)
    ]


def summed_loss(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y, reduction="sum")


def prune_kwargs(score: str):
    return (
        {"batches": toy_batches(), "loss_fn": summed_loss}
        if score == "impact"
        else {"generator": torch.Generator().manual_seed(3)}
        if score == "random"
        else {}
    )


# ---- names and counts -----------------------------------------------------------------------


def test_method_table():
    assert PAPER_METHODS == ("IMP-FT", "IMP-WR", "MP-AI", "IIBP-FT", "IIBP-WR", "IBP-AI", "IRP-FT", "RP-AI")
    assert set(METHODS) == set(PAPER_METHODS) | {"IRP-WR"}
    assert DENSE == "dense" and DENSE not in METHODS
    assert (METHODS["IIBP-WR"].score.name, METHODS["IIBP-WR"].schedule.name) == ("impact", "WR")
    assert (METHODS["RP-AI"].score.name, METHODS["RP-AI"].schedule.rounds) == ("random", 1)
    assert METHODS["IMP-WR"].schedule.rewind and not METHODS["IMP-FT"].schedule.rewind
    assert METHODS["IMP-FT"].schedule.rounds == 3 and METHODS["IMP-FT"].schedule.branches_from_dense
    assert not METHODS["MP-AI"].schedule.branches_from_dense and METHODS["IIBP-FT"].score.needs_batches
    with pytest.raises(dataclasses.FrozenInstanceError):
        METHODS["IMP-FT"].score = SCORES["random"]


def test_unknown_method_names_the_parameter_and_allowed_values():
    with pytest.raises(ParameterError) as error:
        get_method("IMP-XX")
    assert error.value.parameter == "method"
    assert "IMP-FT" in str(error.value) and "RP-AI" in str(error.value)


@pytest.mark.parametrize("target, percent", [(0.2, 7.17), (0.5, 20.63), (0.7, 33.06), (0.9, 53.58), (0.99, 78.46)])
def test_per_round_rate(target, percent):
    assert round(100 * per_round_rate(target), 2) == percent


def test_pruned_counts_by_hand():
    # 1000 weights to 90 %: keep 1000·0.1^(1/3) = 464.2 → 464, 1000·0.1^(2/3) = 215.4 → 215, then 100.
    assert [pruned_count_after_round(1000, 0.9, k, 3) for k in (1, 2, 3)] == [536, 785, 900]
    assert pruned_count_after_round(10, 0.25, 1, 1) == 3  # 2.5 rounds half up
    assert pruned_count_after_round(7, 0.0, 3, 3) == 0
    for bad in (1.0, -0.1):
        with pytest.raises(ParameterError):
            pruned_count_after_round(10, bad, 1, 3)
    with pytest.raises(ParameterError):
        pruned_count_after_round(10, 0.5, 4, 3)


# ---- exact sparsity ---------------------------------------------------------------------------


@pytest.mark.parametrize("score", ["magnitude", "impact", "random"])
@pytest.mark.parametrize("rounds", [3, 1])
def test_layerwise_sparsity_hits_every_target(score, rounds):
    for target in TARGETS:
        model = ToyModel()
        state = PruningState.empty(model)
        for round_index in range(1, rounds + 1):
            state.prune_round(model, score, target, round_index, rounds, **prune_kwargs(score))
        realised = state.realised_sparsity(model)  # also checks pruned weights are zero
        for name, mask in state.masks.items():
            n = mask.numel()
            assert abs(realised["per_tensor"][name] * n - target * n) <= 1, (name, target)
        assert set(realised["per_tensor"]) == {
            "lstm.weight_ih_l0",
            "lstm.weight_hh_l0",
            "lstm.weight_ih_l0_reverse",
            "lstm.weight_hh_l0_reverse",
            "head.0.weight",
            "head.2.weight",
        }
        assert model.classifier.weight.ne(0).all()  # the classifier is never pruned


@pytest.mark.parametrize("score", ["magnitude", "random"])
def test_global_scope_hits_the_overall_target(score):
    for target in TARGETS:
        model = ToyModel()
        state = PruningState.empty(model)
        for round_index in (1, 2, 3):
            state.prune_round(model, score, target, round_index, 3, scope="global", **prune_kwargs(score))
        total = sum(mask.numel() for mask in state.masks.values())
        assert abs(state.realised_sparsity(model)["overall"] * total - target * total) <= 1


def test_global_magnitude_uses_one_threshold():
    model = ToyModel()
    with torch.no_grad():
        model.head[0].weight.mul_(100)  # this tensor's weights are far larger than the others'
    before = {name: weight.detach().abs().clone() for name, weight in _weights(model).items()}
    state = PruningState.empty(model)
    state.prune_round(model, "magnitude", 0.5, 1, 1, scope="global")
    assert state.masks["head.0.weight"].all()  # layer-wise would have pruned half of it
    pruned = torch.cat([before[n][~m] for n, m in state.masks.items()])
    kept = torch.cat([before[n][m] for n, m in state.masks.items()])
    assert pruned.max() <= kept.min()


def _weights(model):
    return {f"{m}.{p}": getattr(module, p) for m, module, p in model.prunable_parameters()}


# ---- masks -------------------------------------------------------------------------------------


def test_magnitude_prunes_exactly_the_smallest_weights():
    weight = torch.tensor([[0.5, -0.1, 2.0], [-3.0, 0.05, -0.7]])
    model = TinyLinear(weight)
    state = PruningState.empty(model)
    state.prune_round(model, "magnitude", 0.5, 1, 1)  # 3 of 6: |0.05|, |-0.1|, |0.5|
    expected = torch.tensor([[False, False, True], [True, False, True]])
    assert torch.equal(state.masks["linear.weight"], expected)
    assert torch.equal(model.linear.weight.detach(), torch.tensor([[0.0, 0.0, 2.0], [-3.0, 0.0, -0.7]]))


def test_shrink_mask_keeps_earlier_choices():
    # Entry 0 was pruned before although its score is now the largest: it stays pruned and the
    # two newly pruned entries are the lowest-scored of the kept ones.
    mask = torch.tensor([False, True, True, True, True])
    scores = torch.tensor([9.0, 0.3, 0.1, 0.4, 0.2])
    assert torch.equal(shrink_mask(mask, scores, 3), torch.tensor([False, True, False, True, False]))


@pytest.mark.parametrize("score", ["magnitude", "impact", "random"])
def test_masks_only_shrink_across_rounds(score):
    model = ToyModel()
    state = PruningState.empty(model)
    previous = {name: mask.clone() for name, mask in state.masks.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for round_index in (1, 2, 3):
        state.prune_round(model, score, 0.9, round_index, 3, **prune_kwargs(score))
        for name, mask in state.masks.items():
            assert not (mask & ~previous[name]).any(), "a pruned weight came back"
            assert (~mask).sum() > (~previous[name]).sum()
        previous = {name: mask.clone() for name, mask in state.masks.items()}
        for batch in toy_batches(2, seed=10 + round_index):  # weights move between rounds (FT)
            optimizer.zero_grad()
            summed_loss(model, batch).backward()
            state.mask_gradients(model)
            optimizer.step()
            state.apply(model)


def test_adam_momentum_never_revives_a_pruned_weight():
    model = ToyModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    batches = toy_batches(4, seed=5)
    for batch in batches:  # dense steps first, so Adam has momentum on every weight
        optimizer.zero_grad()
        (1000 * summed_loss(model, batch)).backward()
        optimizer.step()
    state = PruningState.empty(model)
    state.prune_round(model, "magnitude", 0.7, 1, 1)
    for step in range(60):
        optimizer.zero_grad()
        (1000 * summed_loss(model, batches[step % 4])).backward()  # large gradients
        state.mask_gradients(model)
        optimizer.step()
        state.apply(model)
        for name, weight in _weights(model).items():
            assert torch.all(weight.detach()[~state.masks[name]] == 0)
    # without apply, Adam's moments would have moved them: check that this test can fail
    optimizer.step()
    assert any(weight.detach()[~state.masks[name]].ne(0).any() for name, weight in _weights(model).items())
    with pytest.raises(RuntimeError):
        state.realised_sparsity(model)


def test_rewind_restores_initial_weights_exactly():
    model = ToyModel()
    initial = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    state = PruningState.empty(model)
    for batch in toy_batches(3):
        optimizer.zero_grad()
        summed_loss(model, batch).backward()
        optimizer.step()
    state.prune_round(model, "magnitude", 0.5, 1, 3)
    assert not torch.equal(model.head[0].weight, initial["head.0.weight"])  # training moved it
    state.rewind(model, initial)
    for name, mask in state.masks.items():
        weight = model.state_dict()[name]
        assert torch.equal(weight[mask], initial[name][mask])
        assert torch.all(weight[~mask] == 0)
    assert torch.equal(model.classifier.weight, initial["classifier.weight"])  # unprunable ones too


# ---- scores ------------------------------------------------------------------------------------


def test_impact_score_equals_hand_computed_gradient():
    weight = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])
    x = torch.tensor([[1.0, 2.0, -1.0]])
    y = torch.tensor([[0.0, 1.0]])
    model = TinyLinear(weight)
    scores = impact_scores(model, [(x, y)], lambda m, b: ((m(b[0]) - b[1]) ** 2).sum())
    # L = Σ_i (w_i·x − y_i)², so ∂L/∂w_ij = 2 (w_i·x − y_i) x_j. Rows: w_0·x = 0.5−2−2 = −3.5,
    # w_1·x = 1.5+0.5+0.5 = 2.5; residuals −3.5 and 1.5.
    gradient = 2 * torch.tensor([[-3.5], [1.5]]) * x
    assert torch.allclose(scores["linear.weight"], (weight * gradient).abs())
    assert torch.allclose(scores["linear.weight"], torch.tensor([[3.5, 14.0, 14.0], [4.5, 1.5, 1.5]]))
    assert model.linear.weight.grad is None  # no gradient left behind
    assert torch.equal(model.linear.weight.detach(), weight)  # weights untouched


def test_impact_scores_accumulate_over_all_batches():
    model = ToyModel()
    batches = toy_batches(4)
    concatenated = (torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
    over_batches = impact_scores(model, batches, summed_loss)
    at_once = impact_scores(model, [concatenated], summed_loss)
    only_last = impact_scores(model, batches[-1:], summed_loss)
    for name in over_batches:
        assert torch.allclose(over_batches[name], at_once[name], atol=1e-5)
    assert not all(torch.allclose(over_batches[n], only_last[n]) for n in over_batches)
    assert all(p.grad is None for p in model.parameters())
    assert model.training  # mode restored


def test_impact_requires_batches():
    model = ToyModel()
    with pytest.raises(ParameterError):
        PruningState.empty(model).prune_round(model, "impact", 0.5, 1, 1)
    with pytest.raises(ParameterError):
        impact_scores(model, [], summed_loss)


def _random_mask(seed: int) -> dict[str, torch.Tensor]:
    model = ToyModel()
    state = PruningState.empty(model)
    state.prune_round(model, "random", 0.5, 1, 1, generator=torch.Generator().manual_seed(seed))
    return state.masks


def test_random_scores_follow_the_generator_only():
    ToyModel()  # seeds the global RNG, as the other models do
    global_state = torch.random.get_rng_state()
    first, again, other = _random_mask(11), _random_mask(11), _random_mask(12)
    torch.manual_seed(999)  # a different global RNG does not change the masks
    assert all(torch.equal(first[n], _random_mask(11)[n]) for n in first)
    torch.random.set_rng_state(global_state)
    assert all(torch.equal(first[n], again[n]) for n in first)
    assert any(not torch.equal(first[n], other[n]) for n in first)
    model = ToyModel()
    before = torch.random.get_rng_state()
    PruningState.empty(model).prune_round(model, "random", 0.5, 1, 1, generator=torch.Generator().manual_seed(1))
    assert torch.equal(before, torch.random.get_rng_state())


def test_random_needs_a_generator_and_bad_names_are_refused():
    model = ToyModel()
    state = PruningState.empty(model)
    with pytest.raises(ParameterError):
        state.prune_round(model, "random", 0.5, 1, 1)
    with pytest.raises(ParameterError) as error:
        state.prune_round(model, "magnitude", 0.5, 1, 1, scope="network")
    assert error.value.parameter == "scope"
    with pytest.raises(ParameterError):
        state.prune_round(model, "size", 0.5, 1, 1)
