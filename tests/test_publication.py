"""Publishing a trained store: float16 only where nothing a chapter reads changes, the few
models the chapters load, a manifest every read checks, a read-only result, and a second
publication that changes nothing already published."""

import gzip
import shutil

import numpy as np
import pytest
from scipy.special import softmax

import pie_utils.config
import pie_utils.studies
from pie_utils import verification
from pie_utils.leave_group_out import derived_studies
from pie_utils.manifest import ManifestError
from pie_utils.merge import MergeError, merge_stores
from pie_utils.pool import train_studies
from pie_utils.provenance import store_statement
from pie_utils.pruning import DENSE
from pie_utils.publication import (
    chapter_models,
    profile_records,
    publish,
    published_arrays,
    slim_arrays,
)
from pie_utils.store import EVALUATIONS, MODEL_FILE, PROBABILITY_TOLERANCE, RUNS, ResultsStore, StoreWriteError
from pie_utils.studies import load_study, study_names

TINY_SUBSET = {"n_train": 120, "n_validation": 40, "n_test": 40, "seed": 0}


def test_logits_are_centred_per_row_and_float16_only_where_no_prediction_or_probability_moves():
    rng = np.random.default_rng(0)
    wide = rng.normal(0, 3, (500, 2)).astype(np.float32)
    tied = np.array([[0.0, 1e-9], [2.0, -1.0]], np.float32)  # float16 cannot keep the 1e-9 gap
    slim, narrowed = slim_arrays({"test_logits": wide, "train_logits_epoch1": tied, "labels": np.arange(3)})
    assert narrowed == ["test_logits"]
    assert slim["test_logits"].dtype == np.float16 and slim["train_logits_epoch1"].dtype == np.float32
    assert (slim["test_logits"].max(axis=1) == 0).all()  # each row minus its maximum
    restored = slim["test_logits"].astype(np.float32)
    assert (restored.argmax(axis=1) == wide.argmax(axis=1)).all()
    assert np.abs(softmax(restored, axis=1) - softmax(wide, axis=1)).max() <= PROBABILITY_TOLERANCE
    assert slim["train_logits_epoch1"].argmax(axis=1).tolist() == [1, 0]  # kept float32, centred
    np.testing.assert_array_equal(slim["labels"], np.arange(3))


@pytest.fixture(scope="module")
def tiny_profile(tmp_path_factory):
    """A profile `tiny`: the main study (dense, IMP-FT and MP-AI at 90 %), its two controls, an
    out-of-distribution study and its two derived leave-group-out studies (the 2 seeds of half
    B each), 4 seeds of 120 snippets, trained into a training store."""
    root = tmp_path_factory.mktemp("publication")
    main = {
        "dataset": "rotten-tomatoes",
        "arch": "bilstm",
        "methods": ["IMP-FT", "MP-AI"],
        "sparsities": [0.9],
        "seeds": 4,
        "epochs": 1,
        "batch_size": 32,
        "train_logit_epochs": "all",
        "threads": 1,
        "device": "cpu",
        "subset": TINY_SUBSET,
        "store": str(root / "published"),
    }
    tiny = {
        "run": main,
        "dense_long": {"methods": [], "sparsities": [], "epochs": 2},
        "seed_noise": {"methods": [], "sparsities": [], "noise_stream": 1},
        "ood": {
            "transfer": "movie-reviews",
            "transfer_subset": {"n_train": 80, "n_validation": 10, "n_test": 10, "seed": 0},
            "methods": ["IMP-FT"],
        },
        "analysis": {**pie_utils.config.profiles()["ci"]["analysis"], "attribution_seeds": 1},
    }
    every = {**pie_utils.config.profiles(), "tiny": tiny}
    patch = pytest.MonkeyPatch()
    for module in (pie_utils.config, pie_utils.studies):
        patch.setattr(module, "profiles", lambda: every)
    training = root / "training"
    train_studies(
        [load_study("tiny", name, store=str(training)) for name in study_names("tiny")],
        workers=1,
        progress=False,
    )
    train_studies(list(derived_studies("tiny", store=str(training)).values()), workers=1, progress=False)
    yield root, training
    patch.undo()


def test_a_publication_holds_every_record_as_trained_and_only_the_models_the_chapters_load(tiny_profile):
    root, training = tiny_profile
    done = publish("tiny", training)
    records = profile_records("tiny")
    # 4 dense + 8 pruned + 4 dense_long + 4 seed_noise + 2 x 2 leave-group-out runs; ood scores
    # dense and IMP-FT 90 %
    assert sum(r.kind == RUNS for r in records) == 24 and sum(r.kind == EVALUATIONS for r in records) == 8
    assert {r.studies for r in records if r.key not in {x.key for x in profile_records("tiny", "/nowhere")}} == {
        ("without_top_el2n",),
        ("without_random_decile",),
    }  # named once the dense runs they derive from are stored
    assert len(done.added) == len(records) and not done.missing and not done.kept
    published, trained = ResultsStore(root / "published"), ResultsStore(training)
    for record in records:
        mine, theirs = published.read(record.key, record.kind), trained.read(record.key, record.kind)
        trajectory = record.studies[0] in ("run", "dense_long")  # no chapter reads seed_noise's or ood's
        kept = {name for name in theirs.arrays if trajectory or "_epoch" not in name}
        assert mine.arrays.keys() == kept and mine.metrics == theirs.metrics
        assert mine.meta.get("history") == theirs.meta.get("history") and mine.meta["machine"] == theirs.meta["machine"]
        for name in kept:
            array = theirs.arrays[name]
            assert mine.arrays[name].dtype == np.float32
            np.testing.assert_array_equal(mine.arrays[name].argmax(axis=1), array.argmax(axis=1))
            assert np.abs(softmax(mine.arrays[name], axis=1) - softmax(array, axis=1)).max() <= PROBABILITY_TOLERANCE
    kept = {key for key in published.keys() if (published.run_dir(key) / MODEL_FILE).exists()}
    # half B of 4 seeds starts at seed 2: its dense run, its 4E continuation, IMP-FT and MP-AI at 90 %
    assert kept == chapter_models("tiny") and len(kept) == 4
    seed_2 = next(r for r in records if r.method == DENSE and r.seed == 2 and r.studies[0] == "run")
    for name, tensor in trained.read_model(seed_2.key)["weights"].items():
        assert published.read_model(seed_2.key)["weights"][name].equal(tensor)
    assert (
        gzip.decompress((published.run_dir(seed_2.key) / MODEL_FILE).read_bytes())
        == (trained.run_dir(seed_2.key) / MODEL_FILE).read_bytes()
    )
    totals = done.manifest.content["totals"]
    assert totals["published"] == totals["needed"] == 32 and totals["models"] == 4
    progress = (root / "published" / "PROGRESS.md").read_text()
    assert "records published: 32 of 32" in progress and done.manifest.digest[:16] in progress


def test_publishing_again_keeps_every_file_and_a_changed_file_is_refused_by_name(tiny_profile):
    root, training = tiny_profile
    first = publish("tiny", training)
    files = {p: p.read_bytes() for p in (root / "published").rglob("*") if p.is_file()}
    again = publish("tiny", training)
    assert not again.added and len(again.kept) == 32 and again.manifest.digest == first.manifest.digest
    assert {p: p.read_bytes() for p in (root / "published").rglob("*") if p.is_file()} == files

    store = ResultsStore(root / "published")
    key = store.keys()[0]
    with pytest.raises(StoreWriteError, match="published store"):
        store.commit(key, {}, {})
    arrays = store.run_dir(key) / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes() + b"\0")
    try:
        with pytest.raises(ManifestError, match=f"{key}/arrays.npz: its sha256 does not match"):
            ResultsStore(root / "published").read(key)
        with pytest.raises(ManifestError, match="arrays.npz"):
            publish("tiny", training)  # nothing published is rewritten, not even a damaged file
    finally:
        arrays.write_bytes(files[arrays])
    assert ResultsStore(root / "published").read(key) is not None


def test_a_run_missing_from_training_is_reported_missing_and_not_listed(tiny_profile, tmp_path):
    root, training = tiny_profile
    records = profile_records("tiny")
    absent = next(r for r in records if r.method == "MP-AI")
    partial = tmp_path / "partial"
    done = publish("tiny", training, target=partial)  # the complete training store, a new target
    assert len(done.added) == 32
    (partial / RUNS / absent.key / "meta.json").unlink()  # a record the manifest lists, damaged
    with pytest.raises(ManifestError, match="meta.json"):
        ResultsStore(partial).read(absent.key)

    fresh = tmp_path / "fresh"
    trained_copy = tmp_path / "training-copy"
    shutil.copytree(training, trained_copy)
    shutil.rmtree(trained_copy / RUNS / absent.key)
    done = publish("tiny", trained_copy, target=fresh)
    assert [r.key for r in done.missing] == [absent.key] and len(done.added) == 31
    assert ResultsStore(fresh).read(absent.key) is None
    assert "records published: 31 of 32" in (fresh / "PROGRESS.md").read_text()


def test_verify_retrains_runs_bit_for_bit_here_and_as_populations_when_forced(tiny_profile, monkeypatch):
    root, training = tiny_profile
    publish("tiny", training)
    store, records = verification.published_runs("tiny")
    chosen = verification.cheapest(records, store.manifest)
    assert [r.method for r in chosen] == [DENSE, chosen[1].method] and chosen[1].method != DENSE
    results = verification.verify("tiny", chosen)
    assert [(r.mode, r.passed) for r in results] == [(verification.BITWISE, True)] * 2, results
    assert "bit for bit equal" in results[0].findings

    (population,) = verification.verify("tiny", chosen[1:], population_seeds=2, force_population=True)
    assert population.mode == verification.POPULATION and population.passed, population.findings
    assert "vote fractions differ by 0.0000" in population.findings  # the same bits here

    def nudged(record, arrays):  # one float16 step on one logit: what a changed kernel would do
        slim, narrowed = published_arrays(record, arrays)
        slim["test_logits"] = slim["test_logits"].copy()
        slim["test_logits"][0, 1] = np.nextafter(slim["test_logits"][0, 1], np.float16(-np.inf))
        return slim, narrowed

    monkeypatch.setattr(verification, "published_arrays", nudged)
    (changed,) = verification.verify("tiny", chosen[:1])
    assert not changed.passed and "arrays that differ: test_logits" in changed.findings


def test_on_another_processor_a_retrained_run_must_be_nearest_its_own_published_seed(tiny_profile, monkeypatch):
    root, training = tiny_profile
    publish("tiny", training)
    store, records = verification.published_runs("tiny")
    predicted = {r: store.read(r.key).arrays["test_logits"].argmax(axis=1).tolist() for r in records}
    cells = {
        r: [o for o in records if (o.studies, o.method, o.sparsity) == (r.studies, r.method, r.sparsity)]
        for r in records
    }
    # a run unlike every other seed of its cell: 1-epoch runs on 120 snippets mostly predict one class
    chosen = [next(r for r in records if sum(predicted[o] == predicted[r] for o in cells[r]) == 1)]
    elsewhere = {**store.manifest.entry(RUNS, chosen[0].key)["machine"], "cpu": "another processor"}
    monkeypatch.setattr(verification, "machine_description", lambda: elsewhere)
    (nearest,) = verification.verify("tiny", chosen, nearest=True)
    assert nearest.mode == verification.NEAREST and nearest.passed, nearest.findings
    assert "agrees with its published run on 100.0% of test predictions" in nearest.findings  # the same bits here
    (population,) = verification.verify("tiny", chosen, population_seeds=2)
    assert population.mode == verification.POPULATION  # without nearest: the population comparison

    retrain = verification._Retrainer.run
    monkeypatch.setattr(verification._Retrainer, "run", lambda self, m, s, seed: retrain(self, m, s, seed + 1))
    (wrong,) = verification.verify("tiny", chosen, nearest=True)  # another seed's run: nearest that seed
    assert not wrong.passed and "its published run on 0.0% of test predictions" in wrong.findings
    assert "closest other published seed" in wrong.findings and wrong.findings.endswith("on 100.0% (of 3 others)")


def test_a_chapter_names_the_store_it_reads(tiny_profile, monkeypatch):
    root, training = tiny_profile
    monkeypatch.setenv("PIE_UTILS_ROOT", str(root))
    done = publish("tiny", training)
    published = store_statement("tiny")
    assert published.startswith("Read from the **published store** of profile `tiny` (`published`): 24 runs and 8")
    assert done.manifest.digest[:16] in published and "every record the profile needs is published" in published
    tiny = pie_utils.config.profiles()["tiny"]
    elsewhere = {"tiny": {**tiny, "run": {**tiny["run"], "store": str(training)}}}
    for module in (pie_utils.config, pie_utils.studies):
        monkeypatch.setattr(module, "profiles", lambda: elsewhere)
    assert store_statement("tiny").startswith("Read from the **training store** of profile `tiny` (`training`)")
    assert "24 runs and 8 evaluations in it" in store_statement("tiny")


def test_a_recorded_pause_is_taken_off_the_run_it_interrupted(tiny_profile, tmp_path):
    """A copy of the training store whose log says one run trained 100 s, 30 of them paused."""
    root, training = tiny_profile
    paused_run = next(r for r in profile_records("tiny") if r.method == "IMP-FT" and r.kind == RUNS)
    copy = tmp_path / "training"
    shutil.copytree(training, copy)
    (copy / "training.log").write_text(
        f"2026-01-01T10:00:00 7 start {paused_run.key} IMP-FT\n"
        "2026-01-01T10:00:20 8 pause - pids=7\n"
        "2026-01-01T10:00:50 9 resume - pids=7\n"
        f"2026-01-01T10:01:40 7 finish {paused_run.key} IMP-FT\n"
    )
    done = publish("tiny", copy, target=tmp_path / "published")
    entries = done.manifest.records
    assert entries[f"runs/{paused_run.key}"]["paused_s"] == 30.0
    assert {entry["paused_s"] for name, entry in entries.items() if paused_run.key not in name} == {0.0}
    # the run itself took under 30 s, so it counts nothing; every other record counts its wall time
    assert entries[f"runs/{paused_run.key}"]["wall_time_s"] < 30
    others = sum(e["wall_time_s"] * e["machine"]["threads"] for n, e in entries.items() if paused_run.key not in n)
    assert done.manifest.content["totals"]["cpu_hours"] * 3600 == pytest.approx(others)
    progress = (tmp_path / "published" / "PROGRESS.md").read_text()
    assert "pauses on the record (`store pause`, while something was timed): 1, 0.01 hours" in progress
    assert "wall clock while training ran: 0.02 hours" in progress  # 100 s less the 30 s paused


def test_the_published_log_spans_every_training_session_and_names_no_folder(tiny_profile, tmp_path):
    """Session 1 trains one run for 100 s (30 paused) and publishes; session 2 restores its
    training store from the published one (``store merge``: it logs the folder it read), trains
    another run for 60 s and restores a model for 90 s; the second publication counts both."""
    root, training = tiny_profile
    first_run, second_run = [r for r in profile_records("tiny") if r.kind == RUNS][:2]
    session_1, session_2, published = tmp_path / "session-1", tmp_path / "session-2", tmp_path / "published"
    shutil.copytree(training, session_1)
    (session_1 / "training.log").write_text(
        f"2026-01-01T10:00:00 7 start {first_run.key} dense\n"
        "2026-01-01T10:00:20 8 pause - pids=7\n"
        "2026-01-01T10:00:50 9 resume - pids=7\n"
        f"2026-01-01T10:01:40 7 finish {first_run.key} dense\n"
    )
    publish("tiny", session_1, target=published)
    merge_stores([published], session_2)
    merged = (session_2 / "training.log").read_text()
    assert str(published) in merged  # the merge's own lines name this machine's folders
    with open(session_2 / "training.log", "a") as log:  # the same pid again, as a fresh machine gives
        log.write(
            f"2026-01-02T09:00:00 7 start {second_run.key} dense\n2026-01-02T09:01:00 7 finish {second_run.key} dense\n"
            f"2026-01-02T09:02:00 7 start {first_run.key} restore the model of dense sparsity=0 seed=0\n"
            f"2026-01-02T09:03:30 7 finish {first_run.key} restore the model of dense sparsity=0 seed=0\n"
        )
    publish("tiny", session_2, target=published)
    kept = (published / "training.log").read_text()
    assert kept.count(" start ") == 3 and kept.count(" pause ") == 1 and str(tmp_path) not in kept
    progress = (published / "PROGRESS.md").read_text()
    # 70 s unpaused, 60 s, and a 90 s model restore, which no record's wall time holds
    since = "from the training log kept here since 2026-01-01 10:00"
    assert f"wall clock while training ran: 0.06 hours, {since}" in progress
    assert "models restored by training their runs again for evaluations (`pie_utils.restoring`): 1, 0.03" in progress
    assert "pauses on the record (`store pause`, while something was timed): 1, 0.01 hours" in progress


def test_a_lost_training_store_is_restored_from_the_published_one_and_training_goes_on(tiny_profile, tmp_path):
    """Published without one IMP-FT run; restored into a new training store (``store merge``),
    which trains that run alone (its dense checkpoint is not published: the dense run is
    trained again for it, and the published dense record stays); then published again."""
    root, training = tiny_profile
    absent = next(r for r in profile_records("tiny") if r.method == "IMP-FT" and r.kind == RUNS)
    partial = tmp_path / "training-partial"
    shutil.copytree(training, partial)
    shutil.rmtree(partial / RUNS / absent.key)
    published = tmp_path / "published"
    first = publish("tiny", partial, target=published)
    files = {p: p.read_bytes() for p in published.rglob("*") if p.is_file()}

    restored = tmp_path / "restored"
    report = merge_stores([published], restored)
    assert len(report.copied) == 31 and not (restored / "checkpoints").exists()
    store, shipped = ResultsStore(restored), ResultsStore(published)
    for kind, key in report.copied:
        assert store.verified_files(key, kind)[0] == shipped.verified_files(key, kind)[0]  # the published bytes
    named = {name: study.left_out for name, study in derived_studies("tiny", store=str(restored)).items()}
    assert named == {name: study.left_out for name, study in derived_studies("tiny", store=str(published)).items()}

    studies = {name: load_study("tiny", name, store=str(restored)) for name in study_names("tiny")}
    studies |= derived_studies("tiny", store=str(restored))
    done = train_studies(list(studies.values()), workers=1, progress=False)
    assert done.after - done.before == 1 and ResultsStore(restored).read(absent.key) is not None
    trained = ResultsStore(training).read(absent.key)
    assert ResultsStore(restored).read(absent.key).arrays["validation_logits"].tobytes() == (
        trained.arrays["validation_logits"].tobytes()
    )  # the dense run trained again gave the same checkpoint, so the same run
    again = publish("tiny", restored, target=published)
    assert [r.key for r in again.added] == [absent.key] and len(again.kept) == 31
    assert all(path.read_bytes() == data for path, data in files.items() if path.parent.name != "published")
    assert first.manifest.digest != again.manifest.digest


def test_a_restore_from_a_published_store_refuses_a_file_its_manifest_does_not_vouch_for(tiny_profile, tmp_path):
    root, training = tiny_profile
    published = tmp_path / "published"
    publish("tiny", training, target=published)
    key = ResultsStore(published).keys()[0]
    arrays = published / RUNS / key / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes() + b"\0")
    with pytest.raises(MergeError, match=f"{key}/arrays.npz: its sha256 does not match"):
        merge_stores([published], tmp_path / "restored")
    assert not (tmp_path / "restored").exists()
