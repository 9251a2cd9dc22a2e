"""Populations on real embedded data (small subsets of Rotten Tomatoes), end to end."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from pie_utils.config import validate_study
from pie_utils.devices import resolve_device
from pie_utils.evaluation import load_model
from pie_utils.pruning import DENSE
from pie_utils.runs import prepare_data
from pie_utils.store import ResultsStore
from pie_utils.training import PopulationTrainer, length_bucketed_batches, train_study

SMALL = {
    "dataset": "rotten-tomatoes",
    "arch": "bilstm",
    "seeds": 2,
    "epochs": 1,
    "batch_size": 32,
    "threads": 1,
    "subset": {"n_train": 300, "n_validation": 60, "n_test": 80, "seed": 0},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-seed BiLSTM grid: dense plus one FT, WR, AI method each at 70 %, and impact at 50 %."""
    store = tmp_path_factory.mktemp("store")
    study = validate_study(
        {**SMALL, "methods": ["IMP-FT", "IMP-WR", "MP-AI", "IIBP-FT"], "sparsities": [0.5, 0.7], "store": str(store)}
    )
    table = train_study(study, progress=False)
    return study, table


def test_every_run_is_stored_with_its_realised_sparsity(trained):
    study, table = trained
    assert len(table) == 2 + 4 * 2 * 2 and table["stored"].all()
    dense = table[table.method == DENSE]
    assert (dense.realised_sparsity == 0).all()
    pruned = table[table.method != DENSE]
    np.testing.assert_allclose(pruned.realised_sparsity, pruned.sparsity, atol=1e-4)
    assert table.test_accuracy.between(0, 1).all()


def test_logits_have_one_row_per_example_and_dense_keeps_early_training_logits(trained):
    study, table = trained
    store = ResultsStore(study.store)
    dense = store.read(table[table.method == DENSE].key.iloc[0])
    assert dense.arrays["test_logits"].shape == (80, 2)
    assert dense.arrays["validation_logits"].shape == (60, 2)
    assert dense.arrays["train_logits"].shape == (300, 2)
    # one epoch of training: the epoch-1 logits are the final ones
    np.testing.assert_array_equal(dense.arrays["train_logits_epoch1"], dense.arrays["train_logits"])


def test_every_run_records_the_machine_that_trained_it(trained):
    study, table = trained
    run = ResultsStore(study.store).read(table.key.iloc[-1])
    machine = run.meta["machine"]
    assert machine["threads"] == study.threads == 1  # set by the trainer
    assert machine["isa"] == torch.backends.cpu.get_cpu_capability()  # e.g. AVX512, AVX2, DEFAULT
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # Linux: the model name as the kernel reports it
        assert f"model name\t: {machine['cpu']}" in cpuinfo.read_text()


def test_a_second_invocation_trains_nothing(trained, monkeypatch):
    study, table = trained
    monkeypatch.setattr(PopulationTrainer, "_train_epoch", lambda *a, **k: pytest.fail("trained again"))
    again = train_study(study, progress=False)
    assert list(again.key) == list(table.key)


def test_same_spec_gives_bitwise_identical_logits(trained, tmp_path):
    study, table = trained
    repeat = validate_study({**SMALL, "methods": ["IMP-FT"], "sparsities": [0.7], "store": str(tmp_path)})
    repeat_table = train_study(repeat, progress=False)
    first, second = ResultsStore(study.store), ResultsStore(tmp_path)
    for key in repeat_table.key:
        assert key in set(table.key)
        np.testing.assert_array_equal(first.read(key).arrays["test_logits"], second.read(key).arrays["test_logits"])


def test_pruned_runs_of_a_seed_start_from_the_dense_runs_initial_weights(trained):
    study, _ = trained
    prepared = prepare_data(study)
    trainer = PopulationTrainer(study, prepared, ResultsStore(study.store), torch.device("cpu"))
    first, again, other = trainer._new_model(1), trainer._new_model(1), trainer._new_model(0)
    for (name, a), b in zip(first.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    assert not all(torch.equal(a, c) for a, c in zip(first.state_dict().values(), other.state_dict().values()))


def test_at_initialisation_prunes_before_the_first_optimiser_step(trained, tmp_path, monkeypatch):
    study, _ = trained
    seen = []
    original_step = torch.optim.Adam.step

    def recording_step(self, *args, **kwargs):
        if not seen:
            weights = [p for group in self.param_groups for p in group["params"] if p.dim() == 2]
            seen.append(sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights))
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", recording_step)
    ai = validate_study({**SMALL, "seeds": 1, "methods": ["MP-AI"], "sparsities": [0.9], "store": str(tmp_path)})
    ai_trainer = PopulationTrainer(ai, prepare_data(ai), ResultsStore(tmp_path), torch.device("cpu"))
    ai_trainer._train_at_initialisation("MP-AI", 0.9, seed=0)
    # the head's last layer is never pruned, so the share of zeros is a little under 90 %
    assert seen and seen[0] > 0.85


def test_length_buckets_cover_every_example_once_and_are_seeded():
    lengths = np.random.default_rng(0).integers(1, 60, size=1000)
    batches = length_bucketed_batches(lengths, 16, np.random.default_rng([3, 1]))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    again = length_bucketed_batches(lengths, 16, np.random.default_rng([3, 1]))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    # batches of similar lengths: the mean spread within a batch is far below the overall spread
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.25 * np.ptp(lengths)


def test_auto_device_is_cpu_without_cuda():
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
    else:
        assert resolve_device("auto").type in ("cpu", "mps")


def test_pie_summary_matches_votes_counted_from_the_stored_logits(trained):
    from pie_utils.summary import pie_summary

    study, table = trained
    summary = pie_summary(study, split="test").set_index(["method", "sparsity"])
    assert len(summary) == 4 * 2
    store = ResultsStore(study.store)

    def votes(method, sparsity):  # [seed, example]
        keys = table[(table.method == method) & (table.sparsity == sparsity)].key
        return np.stack([store.read(k).arrays["test_logits"] for k in keys]).argmax(axis=2)

    dense_votes, pruned_votes = votes(DENSE, 0.0), votes("IMP-FT", 0.7)
    # two seeds, two classes: the modal label is class 1 only when both seeds say 1 (ties → 0)
    dense_modal, pruned_modal = dense_votes.min(axis=0), pruned_votes.min(axis=0)
    row = summary.loc[("IMP-FT", 0.7)]
    assert row.pies == int((dense_modal != pruned_modal).sum())
    assert row.dense_ties == int((dense_votes[0] != dense_votes[1]).sum())
    assert row.dense_metric == pytest.approx(table[table.method == DENSE].test_accuracy.mean())


@pytest.mark.parametrize("dataset, arch", [("reuters", "bilstm"), ("snli", "bert")])
def test_multilabel_and_sentence_pair_paths_train_end_to_end_on_hub_format_fixtures(dataset, arch, tmp_path):
    """Only fixtures can exercise these paths here (no hub): a few examples, one epoch."""
    from pathlib import Path

    fixture = Path(__file__).parent / "fixtures" / "data" / dataset
    study = validate_study(
        {
            "dataset": dataset,
            "data_path": str(fixture),
            "arch": arch,
            "seeds": 1,
            "epochs": 1,
            "batch_size": 4,
            "threads": 1,
            "methods": ["MP-AI"],
            "sparsities": [0.5],
            "store": str(tmp_path),
        }
    )
    table = train_study(study, progress=False)
    prepared = prepare_data(study)
    run = ResultsStore(tmp_path).read(table.key.iloc[1])
    assert run.arrays["test_logits"].shape == (len(prepared.dataset.test), prepared.dataset.num_classes)
    if prepared.dataset.multilabel:
        assert 0.0 <= run.metrics["threshold"] <= 0.99
        assert 0.0 <= run.metrics["test_macro_f1"] <= 1.0
    else:
        first = prepared.encoded["test"].example(0)  # [CLS] premise [SEP] hypothesis [SEP]
        assert int((first == prepared.encoder.sep_token_id).sum()) == 2
        assert 0.0 <= run.metrics["test_accuracy"] <= 1.0


def test_a_lost_checkpoint_is_rebuilt_and_the_branch_is_unchanged(tmp_path):
    """FT runs branch from the dense checkpoint; retraining the dense prefix rebuilds it exactly."""
    study = validate_study({**SMALL, "seeds": 1, "methods": ["IMP-FT"], "sparsities": [0.7], "store": str(tmp_path)})
    table = train_study(study, progress=False)
    store = ResultsStore(tmp_path)
    dense_key, pruned_key = table.key
    before = store.read(pruned_key).arrays["test_logits"]
    checkpoint = store.checkpoint_path(dense_key).read_bytes()
    store.checkpoint_path(dense_key).unlink()
    for path in store.run_dir(pruned_key).iterdir():
        path.unlink()
    store.run_dir(pruned_key).rmdir()

    train_study(study, progress=False)
    np.testing.assert_array_equal(store.read(pruned_key).arrays["test_logits"], before)
    rebuilt = torch.load(store.checkpoint_path(dense_key), weights_only=True)["state"]["model"]
    original = torch.load(io.BytesIO(checkpoint), weights_only=True)["state"]["model"]
    assert all(torch.equal(rebuilt[name], original[name]) for name in original)


def test_a_non_finite_loss_stops_the_run_naming_it_and_stores_nothing(tmp_path, monkeypatch):
    from pie_utils.training import NonFiniteLossError

    study = validate_study({**SMALL, "seeds": 1, "learning_rate": 1e-3, "store": str(tmp_path)})

    def nan_loss(self, model, positions, count_correct=False):
        loss = torch.tensor(float("nan"), requires_grad=True)
        return (loss, torch.tensor(0)) if count_correct else loss

    monkeypatch.setattr(PopulationTrainer, "_batch_loss", nan_loss)
    with pytest.raises(NonFiniteLossError, match=r"rotten-tomatoes/bilstm dense sparsity=0.0 seed=0 \(lr=0.001\)"):
        train_study(study, progress=False)
    assert ResultsStore(tmp_path).keys() == []
    assert not (tmp_path / "tmp").exists() or list((tmp_path / "tmp").iterdir()) == []


def test_a_damaged_stored_run_is_reported_recomputed_and_equal_to_the_original(tmp_path):
    from pie_utils.store import CorruptRunWarning

    study = validate_study({**SMALL, "seeds": 1, "methods": ["MP-AI"], "sparsities": [0.5], "store": str(tmp_path)})
    key = train_study(study, progress=False).key.iloc[1]
    store = ResultsStore(tmp_path)
    original = store.read(key).arrays["test_logits"]
    arrays_file = store.run_dir(key) / "arrays.npz"
    arrays_file.write_bytes(arrays_file.read_bytes()[:100])  # truncated, as by a crash mid-copy
    with pytest.warns(CorruptRunWarning, match=r"arrays\.npz: sha256 does not match"):
        train_study(study, progress=False)
    np.testing.assert_array_equal(store.read(key).arrays["test_logits"], original)


def test_a_kept_model_reproduces_its_stored_logits(trained):
    """Dense, FT/WR (branched from dense) and AI runs: the kept weights, loaded into a model
    built under the run's seed, give exactly the stored test logits."""
    study, table = trained
    prepared = prepare_data(study)
    store = ResultsStore(study.store)
    trainer = PopulationTrainer(study, prepared, store, torch.device("cpu"))
    for method, sparsity in ((DENSE, 0.0), ("IMP-WR", 0.7), ("MP-AI", 0.5)):
        model = load_model(study, prepared, store, method, sparsity, seed=1)
        assert not model.training
        stored = store.read(trainer.key(method, sparsity, 1)).arrays["test_logits"]
        np.testing.assert_array_equal(trainer.logits(model, "test"), stored)


def test_every_run_records_each_epoch_it_trained(trained):
    """Dense and AI runs: E entries; FT/WR: 3 rounds of E after the shared dense epochs, numbered
    on from E. Dense runs keep each epoch's validation and test logits, the last equal to the final."""
    study, table = trained
    store = ResultsStore(study.store)
    for row in table.itertuples():
        run = store.read(row.key)
        history = run.meta["history"]
        branched = row.method in ("IMP-FT", "IMP-WR", "IIBP-FT")
        assert [entry["epoch"] for entry in history] == (list(range(2, 5)) if branched else [1])
        assert all(0 <= entry["train_accuracy"] <= 1 and entry["validation_loss"] > 0 for entry in history)
        assert history[-1]["validation_accuracy"] == run.metrics["validation_accuracy"]
    dense = store.read(table[table.method == DENSE].key.iloc[0])
    for split in ("validation", "test"):
        np.testing.assert_array_equal(dense.arrays[f"{split}_logits_epoch1"], dense.arrays[f"{split}_logits"])


def test_a_longer_dense_run_continues_the_shorter_one_and_equals_training_it_whole(tmp_path):
    """dense_long's case: E=3 after a stored E=1 run continues from its checkpoint (2 epochs
    trained), and gives the same weights, logits and history as 3 epochs from scratch."""
    short = validate_study({**SMALL, "seeds": 1, "store": str(tmp_path / "shared")})
    train_study(short, progress=False)
    continued = train_study(
        validate_study({**SMALL, "seeds": 1, "epochs": 3, "store": str(tmp_path / "shared")}), progress=False
    )
    whole = train_study(
        validate_study({**SMALL, "seeds": 1, "epochs": 3, "store": str(tmp_path / "whole")}), progress=False
    )
    assert continued.key.iloc[0] == whole.key.iloc[0]
    first = ResultsStore(tmp_path / "shared").read(continued.key.iloc[0])
    second = ResultsStore(tmp_path / "whole").read(whole.key.iloc[0])
    assert "continued_from" in first.meta and "continued_from" not in second.meta
    assert first.meta["history"] == second.meta["history"]
    assert sorted(first.arrays) == sorted(second.arrays)
    for name in first.arrays:
        np.testing.assert_array_equal(first.arrays[name], second.arrays[name], err_msg=name)


def test_a_noise_stream_keeps_the_initial_weights_and_changes_only_the_training_noise(trained, tmp_path):
    """The seed-noise control: stream 1 of seed s builds dense s's initial weights but visits
    the data in another order, so its logits differ; stream 0 is the stored runs' own key."""
    study, table = trained
    control = validate_study({**SMALL, "methods": [], "sparsities": [], "noise_stream": 1, "store": str(tmp_path)})
    control_table = train_study(control, progress=False)
    dense = table[table.method == DENSE].sort_values("seed")
    assert set(control_table.key).isdisjoint(dense.key)  # another run
    own = validate_study({**SMALL, "methods": [], "sparsities": [], "noise_stream": 0, "store": str(tmp_path)})
    assert sorted(train_study(own, progress=False).key) == sorted(dense.key)  # stream 0 is the seed's own
    prepared, cpu = prepare_data(control), torch.device("cpu")
    trainer = PopulationTrainer(control, prepared, ResultsStore(tmp_path), cpu)
    own_trainer = PopulationTrainer(study, prepared, ResultsStore(study.store), cpu)
    initial, own_initial = trainer._new_model(1).state_dict(), own_trainer._new_model(1).state_dict()
    assert all(torch.equal(initial[name], own_initial[name]) for name in own_initial)
    own_order = np.random.default_rng([0, 0]).permutation(10)
    assert not np.array_equal(np.random.default_rng(trainer._noise(0, 0)).permutation(10), own_order)
    for seed in (0, 1):
        original = ResultsStore(study.store).read(dense[dense.seed == seed].key.iloc[0])
        retrained = ResultsStore(tmp_path).read(control_table[control_table.seed == seed].key.iloc[0])
        assert original.meta["spec"]["seed"] == retrained.meta["spec"]["seed"] == seed
        assert retrained.meta["spec"]["noise_stream"] == 1 and "noise_stream" not in original.meta["spec"]
        assert not np.array_equal(original.arrays["test_logits"], retrained.arrays["test_logits"])
