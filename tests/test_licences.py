"""The licence, the citation file and the licences page agree with the project they describe."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from pie_utils.assets import ASSETS

ROOT = Path(__file__).resolve().parent.parent
# CFF 1.2.0: keys a valid file must have, at the top and in each reference
REQUIRED = {"cff-version", "message", "title", "authors"}
REFERENCE_REQUIRED = {"type", "title", "authors"}


def test_citation_cff_parses_with_the_required_keys_and_the_package_version():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert REQUIRED <= citation.keys() and citation["cff-version"] == "1.2.0"
    assert all("name" in author or "family-names" in author for author in citation["authors"])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert str(citation["version"]) == project["version"]
    assert citation["license"] == project["license"] == "MIT"

    (paper,) = [ref for ref in citation["references"] if ref.get("doi") == "10.18653/v1/2025.findings-naacl.364"]
    assert REFERENCE_REQUIRED <= paper.keys() and paper["type"] == "conference-paper"
    assert paper["title"] == "As easy as PIE: understanding when pruning causes language models to disagree"
    assert [a["family-names"] for a in paper["authors"]] == ["Tropeano", "Maistro", "Ruotsalo", "Lioma"]
    assert (paper["start"], paper["end"], paper["year"]) == (6510, 6536, 2025)
    assert "NAACL 2025" in paper["collection-title"]


def test_the_code_is_mit_licensed():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text


def test_the_licences_page_is_in_the_book_and_covers_every_embedded_asset():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    about = next(part["chapters"] for part in toc["parts"] if part["caption"] == "About this reproduction")
    files = [entry["file"] for entry in about]
    assert files.index("book/licences") == files.index("book/reproduce") + 1
    page = (ROOT / "book" / "licences.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for asset in ASSETS.values():  # a new asset needs its row on the page and in the README
        assert f"`{asset.requirement}" in page and f"`{asset.requirement}" in readme, asset.requirement
