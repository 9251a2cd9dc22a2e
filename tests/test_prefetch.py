"""Fetch first, then train offline (``pie_utils.prefetch``), on the hub-format fixtures.

The hub is faked at ``huggingface_hub.snapshot_download``: a download copies a fixture folder
into the cache in the hub's own layout (``<type>s--<owner>--<name>/snapshots/<commit>/``), and
the real function then finds it there, as it does offline. So the offline check (a fresh
interpreter with ``HF_HUB_OFFLINE=1``) reads the cache through the real hub client and the real
``from_pretrained``. The checkpoint is a tiny BERT written here.
"""

from __future__ import annotations

import fnmatch
import multiprocessing
import os
import shutil
import time
from pathlib import Path

import pytest
import vector_conversion_worker

import pie_utils.config
import pie_utils.studies
from pie_utils.assets import CACHE_ENV, AssetError
from pie_utils.cli import main
from pie_utils.config import profile_parameters, validate_study
from pie_utils.errors import ParameterError
from pie_utils.models import ModelSpec, vectors
from pie_utils.models.bert import pretrained_source
from pie_utils.prefetch import Need, load, prefetch, verify_offline
from pie_utils.studies import load_study, study_names

FIXTURES = Path(__file__).parent / "fixtures"
GLOVE = FIXTURES / "models" / "tiny_glove.txt"
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # the dataset's pinned commit
MODEL_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
CHECKPOINT = "org/tiny-bert"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A BERT of one layer and a 12-word vocabulary, saved as a hub repository holds it."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film", "a", "it", "was", "."]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=32,
    )
    BertModel(config).save_pretrained(folder)
    return folder


class FakeHub:
    """Stands in for the hub behind ``snapshot_download``; ``downloads`` lists the calls that
    would have gone to it, as (repo type, repository, revision)."""

    def __init__(self, repositories: dict[tuple[str, str], Path]):
        import huggingface_hub

        self.repositories, self.downloads, self.real = repositories, [], huggingface_hub.snapshot_download

    def __call__(self, repo_id, *, repo_type, revision, cache_dir, allow_patterns, local_files_only=False):
        if not local_files_only:
            self.downloads.append((repo_type, repo_id, revision))
            source = self.repositories[(repo_type, repo_id)]
            snapshot = Path(cache_dir) / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots" / revision
            for file in source.rglob("*"):
                relative = file.relative_to(source).as_posix()
                if file.is_file() and any(fnmatch.fnmatch(relative, pattern) for pattern in allow_patterns):
                    (snapshot / relative).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(file, snapshot / relative)
        return self.real(
            repo_id,
            repo_type=repo_type,
            revision=revision,
            cache_dir=cache_dir,
            allow_patterns=allow_patterns,
            local_files_only=True,
        )


@pytest.fixture
def hub(monkeypatch, tiny_bert) -> FakeHub:
    import huggingface_hub

    fake = FakeHub({("dataset", "stanfordnlp/imdb"): FIXTURES / "data" / "imdb", ("model", CHECKPOINT): tiny_bert})
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    return fake


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache, passed to prefetch as ``cache`` (the environment names none)."""
    monkeypatch.delenv(CACHE_ENV, raising=False)
    return tmp_path / "cache"


def use_profile(monkeypatch, tables: dict) -> None:
    """Make ``tables`` the only profile, called ``tiny``."""
    monkeypatch.setattr(pie_utils.config, "profiles", lambda: {"tiny": tables})
    monkeypatch.setattr(pie_utils.studies, "profiles", lambda: {"tiny": tables})


def tiny(tmp_path: Path, revision: str | None = COMMIT, checkpoint_revision: str | None = MODEL_COMMIT) -> dict:
    """A BiLSTM on IMDB with a GloVe text file, and a BERT study on the same data."""
    run = {"dataset": "imdb", "arch": "bilstm", "vectors": str(GLOVE), "seeds": 1, "store": str(tmp_path / "store")}
    bert = {"arch": "bert", "checkpoint": CHECKPOINT}
    if revision is not None:
        run["revision"] = revision
    if checkpoint_revision is not None:
        bert["checkpoint_revision"] = checkpoint_revision
    return {"run": run, "bert": bert}


def test_each_asset_is_fetched_once_and_a_second_prefetch_fetches_nothing(hub, cache, tmp_path, monkeypatch):
    use_profile(monkeypatch, tiny(tmp_path))
    parses = []
    real_parse = vectors._parse_into
    monkeypatch.setattr(
        vectors, "_parse_into", lambda source, folder: (parses.append(source), real_parse(source, folder))
    )

    first = prefetch("tiny", cache, verify=False)
    # both studies read IMDB at one commit: one download; the BiLSTM's vectors, the BERT's checkpoint
    assert hub.downloads == [("dataset", "stanfordnlp/imdb", COMMIT), ("model", CHECKPOINT, MODEL_COMMIT)]
    assert first.fetched == (
        f"dataset imdb @ {COMMIT}",
        f"vectors {GLOVE}",
        f"checkpoint {CHECKPOINT} @ {MODEL_COMMIT}",
    )
    assert first.cached == () and parses == [GLOVE] and first.cache == cache
    assert CACHE_ENV not in os.environ  # prefetch(cache=...) set it only while it ran

    second = prefetch("tiny", cache, verify=False)
    assert second.fetched == () and second.cached == first.fetched
    assert len(hub.downloads) == 2 and parses == [GLOVE]
    assert dict(second.environment) == {CACHE_ENV: str(cache), "HF_HUB_OFFLINE": "1"}


def test_the_pinned_revisions_reach_the_hub_and_from_pretrained(hub, cache, tmp_path, monkeypatch):
    import transformers

    use_profile(monkeypatch, tiny(tmp_path))
    prefetch("tiny", cache, verify=False)
    assert (cache / "hub" / "datasets--stanfordnlp--imdb" / "snapshots" / COMMIT / "plain_text").is_dir()
    snapshot = cache / "hub" / "models--org--tiny-bert" / "snapshots" / MODEL_COMMIT
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(
        p.name for p in hub.repositories[("model", CHECKPOINT)].iterdir()
    )

    calls = []

    def spy(auto):
        real = auto.from_pretrained

        def from_pretrained(location, **kwargs):
            calls.append((auto.__name__, location, kwargs["revision"], kwargs["cache_dir"]))
            return real(location, **kwargs, local_files_only=True)  # read from the cache, as offline

        return from_pretrained

    for auto in (transformers.AutoModel, transformers.AutoTokenizer):
        monkeypatch.setattr(auto, "from_pretrained", spy(auto))
    monkeypatch.setenv(CACHE_ENV, str(cache))
    load(Need("checkpoint", CHECKPOINT, revision=MODEL_COMMIT))  # the tokenizer, then the model
    hub_cache = str(cache / "hub")
    assert calls == [
        ("AutoTokenizer", CHECKPOINT, MODEL_COMMIT, hub_cache),
        ("AutoModel", CHECKPOINT, MODEL_COMMIT, hub_cache),
    ]


def test_everything_fetched_loads_with_the_hub_off_and_a_missing_asset_is_named(hub, cache, tmp_path, monkeypatch):
    use_profile(monkeypatch, tiny(tmp_path))
    report = prefetch("tiny", cache)  # the check runs in a fresh interpreter with HF_HUB_OFFLINE=1
    assert report.verified and ("HF_HUB_OFFLINE", "1") in report.environment
    assert (cache / "datasets").is_dir()  # the offline load also parsed IMDB into the cache
    other = "f" * 40  # a commit never fetched
    with pytest.raises(AssetError, match=rf"HF_HUB_OFFLINE=1(.|\n)*dataset imdb @ {other}: AssetError"):
        verify_offline([Need("dataset", "imdb", revision=other)], dict(report.environment))


def test_two_processes_convert_one_glove_file_once_and_no_half_written_folder_is_seen(tmp_path):
    source = tmp_path / "vectors.txt"
    shutil.copyfile(GLOVE, source)
    root, marker = tmp_path / "converted", tmp_path / "parses.log"
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(2), spawn.Queue()
    workers = [
        spawn.Process(
            target=vector_conversion_worker.convert, args=(str(source), str(root), str(marker), start, results)
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    seen = {}  # folder -> inode when first seen: a replaced folder would change it
    while any(worker.is_alive() for worker in workers):
        for folder in root.glob("[!.]*") if root.is_dir() else ():
            if folder.is_dir():
                assert sorted(p.name for p in folder.iterdir()) == [
                    "mean.npy",
                    "meta.json",
                    "tokens.txt",
                    "vectors.npy",
                ]
                assert seen.setdefault(folder, folder.stat().st_ino) == folder.stat().st_ino
        time.sleep(0.01)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    outputs = [results.get(timeout=10) for _ in workers]
    assert len(marker.read_text().splitlines()) == 1  # one parse; the other process waited for it
    assert outputs[0] == outputs[1] and outputs[0][1] == 8  # 9 lines, one of them a repeated word
    assert list(seen) == [Path(outputs[0][0])]


def test_an_unpinned_hub_asset_is_refused_naming_its_setting_before_any_download(hub, cache, tmp_path, monkeypatch):
    use_profile(monkeypatch, tiny(tmp_path, revision=None))
    with pytest.raises(ParameterError) as refused:
        prefetch("tiny", cache)
    message = str(refused.value)
    assert refused.value.parameter == "revision" and "[tiny.run]" in message and "tiny/run, tiny/bert" in message
    assert "hf datasets info stanfordnlp/imdb --expand sha" in message
    use_profile(monkeypatch, tiny(tmp_path, revision="main"))  # a branch moves: not a pin
    with pytest.raises(ParameterError, match=r"invalid revision='main'"):
        prefetch("tiny", cache)
    use_profile(monkeypatch, tiny(tmp_path, checkpoint_revision=None))
    with pytest.raises(ParameterError, match=r"checkpoint_revision=None.*\[tiny\.bert\].*hf models info org/tiny-bert"):
        prefetch("tiny", cache)
    assert hub.downloads == [] and not cache.exists()


def test_the_full_profile_pins_its_hub_assets_and_is_refused_before_any_download_without_glove_840b(cache, monkeypatch):
    monkeypatch.delenv("PIE_UTILS_GLOVE_840B", raising=False)
    studies = {name: load_study("full", name) for name in study_names("full")}
    imdb = [name for name, study in studies.items() if study.dataset == "imdb"]
    assert imdb == ["run", "dense_long", "bert", "bilstm_pair"]
    assert {studies[name].revision for name in imdb} == {"e6281661ce1c48d982bc483cf8a173c1bbeb5d31"}
    assert all(study.revision is None for name, study in studies.items() if name not in imdb)  # embedded sets
    assert studies["bert"].checkpoint_revision == "86b5e0934494bd15c9632b12f734a8a67f723594"
    with pytest.raises(ParameterError, match=r"invalid vectors='glove-840b-300d'.*PIE_UTILS_GLOVE_840B"):
        prefetch("full", cache)
    assert not cache.exists()


def test_checkpoint_revision_is_checked_keyed_only_when_set_and_not_inherited_by_another_dataset(
    tmp_path, monkeypatch, tiny_bert
):
    bilstm = {"dataset": "rotten-tomatoes", "arch": "bilstm", "seeds": 1}
    with pytest.raises(ParameterError, match="checkpoint_revision"):
        validate_study({**bilstm, "checkpoint_revision": MODEL_COMMIT})
    with pytest.raises(ParameterError, match="checkpoint_revision"):
        validate_study({**bilstm, "arch": "bert", "checkpoint_revision": MODEL_COMMIT})  # the embedded MiniLM
    with pytest.raises(ParameterError, match="checkpoint_revision"):
        pretrained_source(str(tiny_bert), MODEL_COMMIT)  # a local directory has no revisions
    assert "checkpoint_revision" not in ModelSpec(arch="bert").to_dict()  # old keys stay as they were
    assert (
        ModelSpec(arch="bert", checkpoint=CHECKPOINT, checkpoint_revision=MODEL_COMMIT).to_dict()["checkpoint_revision"]
        == MODEL_COMMIT
    )
    tables = tiny(tmp_path)
    tables["embedded"] = {"dataset": "rotten-tomatoes"}
    use_profile(monkeypatch, tables)
    assert "revision" not in profile_parameters("tiny", "embedded")  # IMDB's commit is not its
    assert load_study("tiny", "run", dataset="rotten-tomatoes").revision is None
    assert load_study("tiny", "bert", checkpoint="other/bert").checkpoint_revision is None


def test_the_command_line_refuses_an_unknown_profile(capsys):
    assert main(["prefetch", "--profile", "nope"]) == 2
    assert "invalid profile='nope'" in capsys.readouterr().err
