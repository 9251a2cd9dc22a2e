"""Populations on real embedded data (small subsets of Rotten Tomatoes), end to end."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from pie_utils.config import validate_study
from pie_utils.devices import resolve_device
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
    assert machine["threads"] == study.training.threads == 1  # set by the trainer, as the key says
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
    monkeypatch.setattr(
        PopulationTrainer, "_batch_loss", lambda self, model, positions: torch.tensor(float("nan"), requires_grad=True)
    )
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


def test_a_transfer_set_is_every_example_of_the_partner_dataset_scored_by_every_run(tmp_path):
    """Out-of-distribution logits: one row per movie-reviews review (all three splits), stored
    beside the in-distribution ones under keys of their own; the in-distribution function of
    the model is the same with or without them."""
    plain = validate_study({**SMALL, "seeds": 1, "store": str(tmp_path / "plain")})
    shifted = validate_study({**SMALL, "seeds": 1, "store": str(tmp_path / "shifted"), "transfer": "movie-reviews"})
    plain_table, shifted_table = train_study(plain, progress=False), train_study(shifted, progress=False)
    assert plain_table.key.iloc[0] != shifted_table.key.iloc[0]
    prepared = prepare_data(shifted)
    reviews = prepared.transfer
    assert prepared.splits == ("train", "validation", "test", "transfer")
    pooled = prepared.split("transfer")
    assert len(pooled) == len(reviews.train) + len(reviews.validation) + len(reviews.test)
    assert pooled.ids[: len(reviews.train)] == reviews.train.ids and pooled.ids[-1] == reviews.test.ids[-1]
    assert prepared.encoded["transfer"].lengths.max() > 64  # reviews keep their own budget, not the snippets'
    run = ResultsStore(shifted.store).read(shifted_table.key.iloc[0])
    assert run.arrays["transfer_logits"].shape == (len(pooled), 2)
    plain_run = ResultsStore(plain.store).read(plain_table.key.iloc[0])
    np.testing.assert_allclose(run.arrays["test_logits"], plain_run.arrays["test_logits"], atol=1e-5)


def test_a_rebuilt_model_reproduces_its_stored_logits(trained):
    """Dense from its checkpoint, FT/WR from the dense checkpoint and AI from initialisation:
    each rebuilt model's test logits equal the stored run's (threads=1: deterministic sums)."""
    study, table = trained
    prepared = prepare_data(study)
    trainer = PopulationTrainer(study, prepared, ResultsStore(study.store), torch.device("cpu"))
    for method, sparsity in ((DENSE, 0.0), ("IMP-WR", 0.7), ("MP-AI", 0.5)):
        model = trainer.rebuild(method, sparsity, seed=1)
        assert not model.training
        stored = ResultsStore(study.store).read(trainer.key(method, sparsity, 1)).arrays["test_logits"]
        np.testing.assert_allclose(trainer.logits(model, "test"), stored, rtol=0, atol=1e-5)
