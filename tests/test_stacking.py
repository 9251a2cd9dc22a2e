"""Run stacking (``pie_utils.stacking``) against the sequential trainer, on real embedded data.

The BiLSTM (GloVe 6B 50-d) and MiniLM train on real Rotten Tomatoes snippets; each stacked step
is compared with the trainer's own step on the same runs and batches. The BiLSTM has no
dropout, so it is compared in training mode; MiniLM in evaluation mode (dropout off), because
vmap's dropout draws are not a sequential run's. Tolerance 1e-5: the stacked and sequential
kernels sum in other orders (the stacked BiLSTM runs its LSTMs as one wide LSTM), and Adam's
step g / (|g| + 1e-8) carries that rounding into the weights where a gradient is near 1e-9.
Measured on 2 CPU cores: weights at most 2.1e-6 apart after one step (BiLSTM; MiniLM 2.8e-6),
2.7e-6 after 20 steps; logits 1.5e-8 (BiLSTM; equal before the step), 1.2e-7 (MiniLM).
"""

from __future__ import annotations

import copy
import functools
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benchmarks.measure import dispatched
from pie_utils.config import validate_study
from pie_utils.errors import ParameterError
from pie_utils.models import BiLSTMClassifier, build_model
from pie_utils.pruning import PruningState
from pie_utils.runs import prepare_data
from pie_utils.stacking import StackedModels, group_runs
from pie_utils.store import ResultsStore
from pie_utils.training import ADAM_OPTIONS, PopulationTrainer, length_bucketed_batches

TOLERANCE = 1e-5
SDPA_FALLBACK = "ignore:There is a performance drop"  # CPU attention under vmap loops over runs: slower, same numbers


def prepared_trainer(arch: str, n_train: int, store) -> PopulationTrainer:
    study = validate_study(
        {
            "dataset": "rotten-tomatoes",
            "arch": arch,
            "seeds": 1,
            "epochs": 1,
            "batch_size": 8,
            "threads": 1,
            "device": "cpu",
            "store": str(store),
            "subset": {"n_train": n_train, "n_validation": 24, "n_test": 8, "seed": 0},
        }
    )
    return PopulationTrainer(study, prepare_data(study), ResultsStore(store), torch.device("cpu"))


def pruned_runs(trainer: PopulationTrainer, seeds) -> list[tuple[torch.nn.Module, PruningState]]:
    """One run per seed in ``seeds``: dense, magnitude-pruned to 50 %, randomly pruned to 90 % (as AI runs)."""
    runs = []
    for seed, (score, target) in zip(seeds, ((None, 0.0), ("magnitude", 0.5), ("random", 0.9))):
        model, generator = trainer._new_model(seed), torch.Generator().manual_seed(seed)
        pruning = PruningState.empty(model)
        if score is not None:
            pruning.prune_round(model, score=score, target=target, rounds=1, generator=generator)
        runs.append((model, pruning))
    return runs


@pytest.fixture(scope="module")
def bilstm(tmp_path_factory):
    """160 training snippets (20 batches of 8) and three runs of seed 0 that differ in their masks."""
    trainer = prepared_trainer("bilstm", 160, tmp_path_factory.mktemp("store"))
    positions = np.arange(16)
    input_ids, attention_mask = trainer.prepared.encoded["train"].batch(positions)
    labels = trainer.train_labels[torch.as_tensor(positions)]
    return SimpleNamespace(
        trainer=trainer, runs=pruned_runs(trainer, (0, 0, 0)), batch=(input_ids, attention_mask, labels)
    )


def stacked_runs(trainer: PopulationTrainer, runs, **options) -> StackedModels:
    config = trainer.config
    options = {"adam_options": ADAM_OPTIONS[trainer.study.arch], **options}
    return StackedModels(
        [copy.deepcopy(model) for model, _ in runs],
        [pruning.masks for _, pruning in runs],
        learning_rate=config.learning_rate,
        grad_clip=config.grad_clip,
        **options,
    )


def adam(trainer: PopulationTrainer, model, adam_options) -> torch.optim.Adam:
    """The trainer's optimiser (``PopulationTrainer._optimizer``) with other options."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(trainable, lr=trainer.config.learning_rate, **adam_options)


def sequential_step(trainer: PopulationTrainer, model, pruning, optimizer, batch) -> None:
    """One step of ``PopulationTrainer._train_epoch`` (its own ``step``) on ``batch``."""
    input_ids, attention_mask, labels = batch
    trainer.step(model, optimizer, pruning, torch.nn.functional.cross_entropy(model(input_ids, attention_mask), labels))


def largest_difference(states, others) -> float:
    return max(float((state[key] - other[key]).abs().max()) for state, other in zip(states, others) for key in state)


def assert_step_agrees(trainer, runs, batch, adam_options) -> None:
    """A stacked step from the runs' state against each run's sequential step, weights and logits."""
    stacked = stacked_runs(trainer, runs, adam_options=adam_options)
    stacked.step(*batch)
    models = [copy.deepcopy(model) for model, _ in runs]
    for model, (_, pruning) in zip(models, runs):
        sequential_step(trainer, model, pruning, adam(trainer, model, adam_options), batch)
    assert largest_difference(stacked.unstack(), [m.state_dict() for m in models]) <= TOLERANCE
    with torch.no_grad():
        logits = torch.stack([model(*batch[:2]) for model in models])
        assert float((stacked.logits(*batch[:2]) - logits).abs().max()) <= TOLERANCE


@pytest.mark.parametrize("adam_options", [ADAM_OPTIONS["bilstm"], {"weight_decay": 0.01}], ids=["trainer", "decay"])
def test_one_stacked_bilstm_step_agrees_with_the_sequential_steps(bilstm, adam_options):
    """Three seeds (dense, magnitude 50 %, random 90 %) on 16 real snippets; weight decay too,
    which the trainer does not use, since Adam stays elementwise with it."""
    assert_step_agrees(bilstm.trainer, pruned_runs(bilstm.trainer, (0, 1, 2)), bilstm.batch, adam_options)


def test_stacked_runs_continue_from_their_own_adam_states(bilstm):
    """As FT runs continue from the dense checkpoint's Adam state: one sequential step, then
    the next stacked from the runs' weights and optimiser states."""
    trainer, batch = bilstm.trainer, bilstm.batch
    models, optimizers = [], []
    for model, pruning in bilstm.runs:
        model = copy.deepcopy(model)
        optimizers.append(trainer._optimizer(model))
        sequential_step(trainer, model, pruning, optimizers[-1], batch)
        models.append(model)
    runs = [(model, pruning) for model, (_, pruning) in zip(models, bilstm.runs)]
    stacked = stacked_runs(trainer, runs)
    stacked.load_optimizer_states([optimizer.state_dict() for optimizer in optimizers])
    for given, returned in zip(optimizers, stacked.optimizer_states()):
        for index, state in given.state_dict()["state"].items():
            assert all(torch.equal(value, returned["state"][index][key]) for key, value in state.items())
    stacked.step(*batch)
    for model, (_, pruning), optimizer in zip(models, bilstm.runs, optimizers):
        sequential_step(trainer, model, pruning, optimizer, batch)
    assert largest_difference(stacked.unstack(), [model.state_dict() for model in models]) <= TOLERANCE


def test_pruned_weights_stay_exactly_zero_through_stacked_steps(bilstm):
    stacked = stacked_runs(bilstm.trainer, bilstm.runs)
    before = stacked.unstack()
    for _ in range(5):
        stacked.step(*bilstm.batch)
    for (model, pruning), state, initial in zip(bilstm.runs, stacked.unstack(), before):
        for name, mask in pruning.masks.items():
            assert torch.all(state[name][~mask] == 0), name
            assert not torch.equal(state[name][mask], initial[name][mask]), name  # the kept weights trained
        trained = copy.deepcopy(model)
        trained.load_state_dict(state)
        pruning.realised_sparsity(trained)  # raises if a pruned weight is not zero


def test_a_stacked_population_agrees_with_the_sequential_one_as_closely_as_another_thread_count(bilstm):
    """Three runs of seed 0 (its masks differ) trained one epoch, 20 steps: by the trainer's own
    ``_train_epoch`` one run after another at 1 and at 2 threads (the yardstick: how far the
    sequential runs themselves move; 0 for the BiLSTM, whose CPU kernels do not depend on the
    thread count), and stacked on the same batches at 1 thread."""
    trainer = bilstm.trainer

    def sequential(threads):
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            states, records = [], []
            for model, pruning in bilstm.runs:
                model = copy.deepcopy(model)
                records.append(trainer._train_epoch(model, trainer._optimizer(model), pruning, 0, 0, ("run", 0.0, 0)))
                states.append(model)
            return states, records
        finally:
            torch.set_num_threads(previous)

    one_thread, records = sequential(1)
    two_threads, _ = sequential(2)
    yardstick = largest_difference(*[[model.state_dict() for model in models] for models in (one_thread, two_threads)])

    stacked = stacked_runs(trainer, bilstm.runs)
    lengths = trainer.prepared.encoded["train"].lengths
    order = length_bucketed_batches(
        lengths, trainer.config.batch_size, np.random.default_rng([0, 0])
    )  # seed 0, epoch 0
    assert len(order) == 20
    loss_sum = torch.zeros(3)
    for positions in order:
        input_ids, attention_mask = trainer.prepared.encoded["train"].batch(positions)
        loss, _ = stacked.step(input_ids, attention_mask, trainer.train_labels[torch.as_tensor(positions)])
        loss_sum += loss * len(positions)
    assert not stacked.nonfinite.any()
    difference = largest_difference(stacked.unstack(), [model.state_dict() for model in one_thread])
    print(f"stacked vs sequential {difference:.3g}, sequential at 1 vs 2 threads {yardstick:.3g}")
    assert difference <= max(yardstick, TOLERANCE)
    expected = [record["train_loss"] for record in records]
    np.testing.assert_allclose((loss_sum / len(lengths)).numpy(), expected, rtol=0, atol=TOLERANCE)
    for model, state in zip(one_thread, stacked.unstack()):
        restacked = copy.deepcopy(model)
        restacked.load_state_dict(state)
        gap = np.abs(trainer.logits(restacked, "validation") - trainer.logits(model, "validation")).max()
        assert gap <= TOLERANCE


def test_unstack_round_trips_and_unstacked_models_give_the_stacked_logits(bilstm):
    stacked = stacked_runs(bilstm.trainer, bilstm.runs)
    for (model, _), state in zip(bilstm.runs, stacked.unstack()):
        assert list(state) == list(model.state_dict())
        assert all(torch.equal(value, model.state_dict()[key]) for key, value in state.items())
    stacked.step(*bilstm.batch)
    input_ids, attention_mask, _ = bilstm.batch
    with torch.no_grad():
        logits = stacked.logits(input_ids, attention_mask)
        for run, state in enumerate(stacked.unstack()):
            model = copy.deepcopy(bilstm.runs[run][0])
            model.load_state_dict(state)
            assert float((model(input_ids, attention_mask) - logits[run]).abs().max()) <= TOLERANCE


def test_a_non_finite_run_is_flagged_on_the_device_without_a_sync(bilstm):
    """Run 1's loss is infinite: only its flag is set. (Its gradients reach its stack mates
    through the wide LSTM's zero blocks, so the trainer discards the whole stack:
    tests/test_stacked_training.py.)"""
    runs = [(copy.deepcopy(model), pruning) for model, pruning in bilstm.runs]
    with torch.no_grad():
        runs[1][0].classifier.bias.fill_(float("inf"))
    stacked = stacked_runs(bilstm.trainer, runs)
    loss, _ = stacked.step(*bilstm.batch)
    assert stacked.nonfinite.tolist() == [False, True, False]
    assert torch.isfinite(loss).tolist() == [True, False, True]


def test_a_stacked_bilstm_step_dispatches_as_many_ops_for_long_texts_as_for_short_ones(bilstm):
    """No per-time-step loop on the host: one stacked step of the three runs dispatches the same
    number of aten ops for the 16 shortest snippets as for the 16 longest (a per-token LSTM cell
    would dispatch about 30 more per token, layer and direction). A GPU running small runs is
    bound by these dispatches."""
    encoded, labels = bilstm.trainer.prepared.encoded["train"], bilstm.trainer.train_labels
    by_length = np.argsort(encoded.lengths, kind="stable")
    counts, widths = [], []
    for positions in (by_length[:16], by_length[-16:]):
        input_ids, attention_mask = encoded.batch(positions)
        step = functools.partial(
            stacked_runs(bilstm.trainer, bilstm.runs).step,
            input_ids,
            attention_mask,
            labels[torch.as_tensor(positions)],
        )
        step()  # Adam's state exists from here on
        counts.append(dispatched(step))
        widths.append(input_ids.shape[1])
    assert widths[1] >= 3 * widths[0], widths
    assert counts[0]["aten_ops"] == counts[1]["aten_ops"], counts


@pytest.mark.parametrize(
    ("operator", "batched"),
    [
        ("aten::_scaled_dot_product_flash_attention", True),
        ("aten::_scaled_dot_product_efficient_attention", True),
        ("aten::_scaled_dot_product_cudnn_attention", True),
        ("aten::_scaled_dot_product_flash_attention_for_cpu", False),
        ("aten::lstm.input", False),
        ("aten::_cudnn_rnn", False),
    ],
)
def test_which_kernels_vmap_can_batch_is_as_the_stacking_design_assumes(operator, batched):
    """MiniLM's stack relies on CUDA's attention kernels having vmap batching rules (one call for
    R runs; this torch's dispatcher registers them, even in a CPU build); the BiLSTM's wide LSTM
    exists because the LSTM kernels have none. A torch upgrade that changes either shows here."""
    assert torch._C._dispatch_has_kernel_for_dispatch_key(operator, "FuncTorchBatched") is batched


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_runs_per_step_must_be_a_whole_number_of_at_least_one(value):
    with pytest.raises(ParameterError, match="runs_per_step"):
        group_runs(range(7), value)


def test_runs_are_grouped_in_order_into_steps_of_at_most_runs_per_step():
    assert group_runs(range(7), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert group_runs(["a", "b"], 5) == [["a", "b"]]
    assert group_runs([], 2) == []


def test_models_of_another_layout_and_masks_of_no_prunable_weight_are_refused(bilstm):
    models = [model for model, _ in bilstm.runs]
    options = {"learning_rate": 1e-3, "grad_clip": 1.0}
    narrower = BiLSTMClassifier(models[0].embedding.weight.detach(), 2, hidden_size=50)
    with pytest.raises(ParameterError, match="models"):
        StackedModels([models[0], narrower], **options)
    with pytest.raises(ParameterError, match="masks"):
        StackedModels(models, [{"classifier.weight": torch.zeros(2, 128)}, None, None], **options)
    with pytest.raises(ParameterError, match="masks"):
        StackedModels(models, [None], **options)


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """The embedded MiniLM: seeds 0 (dense) and 1 (magnitude 50 %), in evaluation mode, on 8 real snippets."""
    trainer = prepared_trainer("bert", 16, tmp_path_factory.mktemp("store"))
    runs = [(model.eval(), pruning) for model, pruning in pruned_runs(trainer, (0, 1))]
    positions = np.arange(8)
    input_ids, attention_mask = trainer.prepared.encoded["train"].batch(positions)
    labels = trainer.train_labels[torch.as_tensor(positions)]
    return SimpleNamespace(trainer=trainer, runs=runs, batch=(input_ids, attention_mask, labels))


@pytest.mark.filterwarnings(SDPA_FALLBACK)
def test_one_stacked_minilm_step_agrees_with_the_sequential_steps(minilm):
    assert_step_agrees(minilm.trainer, minilm.runs, minilm.batch, ADAM_OPTIONS["bert"])


@pytest.mark.filterwarnings(SDPA_FALLBACK)
def test_minilm_runs_share_their_batch_and_draw_their_own_dropout(minilm):
    input_ids, attention_mask, _ = minilm.batch
    same_weights = [build_model(minilm.trainer.prepared.model_spec, 2, 0, minilm.trainer.prepared.encoder)] * 2
    options = {"learning_rate": 1e-3, "grad_clip": 1.0}
    with torch.no_grad():
        different = StackedModels(same_weights, **options).train().logits(input_ids, attention_mask)
        same = StackedModels(same_weights, randomness="same", **options).train().logits(input_ids, attention_mask)
    assert not torch.equal(different[0], different[1]) and torch.equal(same[0], same[1])
    with pytest.raises(ParameterError, match="input_ids"):
        StackedModels(same_weights, **options).logits(input_ids.expand(2, -1, -1), attention_mask.expand(2, -1, -1))
