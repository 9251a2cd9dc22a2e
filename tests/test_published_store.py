"""The published store in the repository (``results/published``): every file is the one its
manifest lists, nothing else lies there but the training log it vouches for, its progress report matches the manifest, and its
cheapest dense and pruned BiLSTM runs retrain bit for bit on the processor that trained them,
and elsewhere nearest their own seed."""

from pie_utils.manifest import MANIFEST_FILE, file_entry
from pie_utils.publication import PROGRESS_FILE, profile_records
from pie_utils.store import LOG_FILE, ResultsStore, machine_description
from pie_utils.studies import load_study
from pie_utils.verification import BITWISE, NEAREST, cheapest, published_runs, same_machine, verify

PROFILE = "published"
ROOT = load_study(PROFILE).store


def test_every_published_file_is_the_one_the_manifest_lists_and_nothing_else_is_there():
    store = ResultsStore(ROOT)
    assert store.manifest is not None, f"{ROOT} has no {MANIFEST_FILE}"
    listed = set()
    for name, entry in store.manifest.records.items():
        kind, key = name.split("/")
        store.manifest.check(kind, key, store.root / name)  # raises, naming the file, on a mismatch
        listed |= {store.root / name / file for file in entry["files"]}
    log = store.root / LOG_FILE  # the training log PROGRESS.md reads, vouched for by the manifest
    assert store.manifest.content[LOG_FILE] == file_entry(log.read_bytes())
    present = {path for path in store.root.rglob("*") if path.is_file()}
    assert present - listed == {store.root / MANIFEST_FILE, store.root / PROGRESS_FILE, log}
    needed = {f"{r.kind}/{r.key}" for r in profile_records(PROFILE)}
    assert set(store.manifest.records) <= needed  # nothing the profile does not train
    totals = store.manifest.content["totals"]
    assert totals["needed"] == len(needed) and totals["published"] == len(store.manifest.records)
    progress = (store.root / PROGRESS_FILE).read_text()
    assert f"records published: {totals['published']} of {totals['needed']}" in progress
    assert store.manifest.digest[:16] in progress


def test_the_cheapest_published_dense_and_pruned_runs_retrain_bit_for_bit_or_nearest_their_own_seed():
    """Bit for bit on the processor that trained them; on another, each run retrained agrees
    with its own published seed more than with any other seed of its cell."""
    store, records = published_runs(PROFILE)
    chosen = cheapest(records, store.manifest)
    assert [r.method == "dense" for r in chosen] == [True, False], "no dense or no pruned BiLSTM run is published"
    modes = [
        BITWISE if same_machine(store.manifest.entry("runs", r.key)["machine"], machine_description()) else NEAREST
        for r in chosen
    ]
    results = verify(PROFILE, chosen, nearest=True)
    assert [(r.mode, r.passed) for r in results] == [(mode, True) for mode in modes], [r.findings for r in results]
