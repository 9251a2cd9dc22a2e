"""Build the book: execute every chapter notebook with papermill, then jupyter-book build.

    python scripts/book.py build --profile ci|default|extended|full [--out build/book-ci]
    python scripts/book.py ipynb [--check]

`build` stages the book sources in ``OUT/src`` (``_config.yml``, ``_toc.yml``, ``book/``), executes
each notebook of ``notebooks/`` named in the table of contents into ``OUT/src/ipynb/NAME.ipynb``
with the profile as its parameter (runs already in the store are not trained again), serves
MathJax from a local copy, and runs ``jupyter-book build -W -n --keep-going`` into
``OUT/src/_build/html``. Per-notebook times go to ``OUT/timings.json``.

`ipynb` writes the output-free ``.ipynb`` copies in ``ipynb/`` that Colab and Binder open (Colab
cannot read jupytext text); `--check` only reports copies that are missing or stale (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
IPYNB = ROOT / "ipynb"
PROFILES = ("ci", "default", "extended", "full")
BOOK_SOURCES = ("_config.yml", "_toc.yml", "book")
MATHJAX_PACKAGE = "mathjax@3.2.2"
INJECTED_TAG = "injected-parameters"  # the cell papermill adds; hidden from readers


def chapter_names() -> list[str]:
    """Notebook names in table-of-contents order (entries ``ipynb/NAME``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [entry["file"] for part in toc.get("parts", [])
                             for entry in part.get("chapters", [])]
    return [Path(f).name for f in files if Path(f).parent.name == "ipynb"]


def output_free_copy(name: str) -> str:
    """The ``.ipynb`` text of ``notebooks/NAME.py`` with no outputs."""
    notebook = jupytext.read(NOTEBOOKS / f"{name}.py")
    for index, cell in enumerate(notebook.cells):  # nbformat draws random ids; keep copies stable
        cell.id = f"cell-{index}"
    return nbformat.writes(notebook) + "\n"


def write_ipynb(check: bool) -> int:
    """Write (or with ``check``, compare) the output-free copies; return the number stale."""
    IPYNB.mkdir(exist_ok=True)
    stale = 0
    for name in chapter_names():
        target, text = IPYNB / f"{name}.ipynb", output_free_copy(name)
        if target.is_file() and target.read_text() == text:
            continue
        stale += 1
        if check:
            print(f"stale: {target.relative_to(ROOT)} (run: make ipynb)")
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
    return stale


def execute(name: str, profile: str, destination: Path) -> float:
    """Execute ``notebooks/NAME.py`` with ``profile`` into ``destination``; return seconds."""
    started = time.perf_counter()
    papermill.execute_notebook(
        jupytext.read(NOTEBOOKS / f"{name}.py"), str(destination),
        parameters={"profile": profile}, kernel_name="python3", cwd=str(destination.parent),
        progress_bar=False)
    notebook = nbformat.read(destination, as_version=4)
    for cell in notebook.cells:  # the injected cell repeats the parameters; readers see the tagged one
        tags = cell.metadata.setdefault("tags", [])
        if INJECTED_TAG in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(notebook, destination)
    return time.perf_counter() - started


def stage_mathjax(static: Path) -> None:
    """Copy MathJax 3 from the npm registry into ``STATIC/mathjax`` (cached under build/)."""
    cache = ROOT / "build" / "npm"
    bundle = cache / "node_modules" / "mathjax" / "es5"
    if not (bundle / "tex-chtml.js").is_file():
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(cache),
                        MATHJAX_PACKAGE], check=True)
    shutil.copytree(bundle, static / "mathjax", dirs_exist_ok=True)


def build(profile: str, out: Path) -> dict[str, float]:
    """Stage, execute and build the book for ``profile``; return seconds per step."""
    source = out / "src"
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    for item in BOOK_SOURCES:
        copy = shutil.copytree if (ROOT / item).is_dir() else shutil.copy2
        copy(ROOT / item, source / item)
    (source / "ipynb").mkdir()
    stage_mathjax(source / "_mathjax")
    os.environ["PIE_UTILS_ROOT"] = str(ROOT)  # the kernels share the repository's results store
    timings = {}
    for name in chapter_names():
        print(f"executing {name} (profile {profile})", flush=True)
        timings[name] = execute(name, profile, source / "ipynb" / f"{name}.ipynb")
        print(f"  {timings[name]:.0f} s", flush=True)
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "jupyter-book"), "build", "-W", "-n", "--keep-going", str(source)],
                   check=True)
    timings["jupyter-book build"] = time.perf_counter() - started
    (out / "timings.json").write_text(json.dumps({"profile": profile, "seconds": timings}, indent=2) + "\n")
    print(f"book: {source / '_build' / 'html' / 'index.html'}")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="execute the notebooks and build the HTML book")
    build_parser.add_argument("--profile", choices=PROFILES, default="default")
    build_parser.add_argument("--out", type=Path, help="build folder (default: build/book-PROFILE)")
    execute_parser = commands.add_parser("execute", help="execute one chapter notebook (no book build)")
    execute_parser.add_argument("name", choices=chapter_names())
    execute_parser.add_argument("--profile", choices=PROFILES, default="default")
    execute_parser.add_argument("--out", type=Path, help="executed notebook (default: build/NAME-PROFILE.ipynb)")
    ipynb_parser = commands.add_parser("ipynb", help="write the output-free .ipynb copies for Colab/Binder")
    ipynb_parser.add_argument("--check", action="store_true", help="only report stale copies")
    arguments = parser.parse_args(argv)
    if arguments.command == "ipynb":
        stale = write_ipynb(arguments.check)
        return 1 if arguments.check and stale else 0
    if arguments.command == "execute":
        destination = (arguments.out or ROOT / "build" / f"{arguments.name}-{arguments.profile}.ipynb").resolve()
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.environ["PIE_UTILS_ROOT"] = str(ROOT)
        print(f"{arguments.name}: {execute(arguments.name, arguments.profile, destination):.0f} s -> {destination}")
        return 0
    build(arguments.profile, (arguments.out or ROOT / "build" / f"book-{arguments.profile}").resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
