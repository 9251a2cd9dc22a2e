"""Build the book: execute every chapter notebook with papermill, then jupyter-book build.

    python scripts/book.py build --profile ci|default|published|full [--out build/book-ci] [--force]
                                 [--param NAME:KEY=VALUE ...] [--jobs N]
    python scripts/book.py execute NAME --profile P [--param KEY=VALUE ...]
    python scripts/book.py ship-verdicts [--out build/book-default]
    python scripts/book.py ship-times --out build/book-P
    python scripts/book.py ipynb [--check]

`build` first trains every run of the profile that the store lacks (``python -m pie_utils train
--profile P``: a pool of worker processes, one per core); a profile whose store is published (it
holds a manifest: ``results/published``) trains nothing, the build names what is not published
yet, and a chapter that lacks runs it reads gets a page that says it gives no verdict and why.
Then it stages the book sources in ``OUT/src`` (``_config.yml``, ``_toc.yml``, ``book/``;
``$REPOSITORY_URL``, when set, replaces the ``repository.url`` the staged ``_config.yml`` links
to) and executes each notebook of ``notebooks/`` named in the table of contents into
``OUT/src/ipynb/NAME.ipynb`` with the profile as its parameter and ``PIE_UTILS_NO_TRAIN=1`` (a
chapter trains nothing; one given its own ``--param`` may train what those parameters need),
one chapter per core at a time, each in its own process with its share of the cores as threads
(``--jobs N``: N at a time). It serves MathJax from a local copy and runs ``jupyter-book build
-W -n --keep-going`` into ``OUT/src/_build/html``. Per-notebook times go to ``OUT/timings.json``.

A long build never loses its work to one chapter: every chapter is executed even when another
fails (a failed page shows its error), the HTML is built, a summary names what failed, and the
exit status is 1. A rerun executes only the chapters that failed or whose inputs changed: the
notebook, its parameters, the profile, the library's sources, the lock or a published store's
manifest (``OUT/executed.json``
records a fingerprint of them per chapter; ``--force`` executes every chapter). The results
store is not part of the fingerprint: a stored run is a function of its key.

Each chapter records its primary verdicts in ``OUT/verdicts/NAME.csv``, merged into
``OUT/verdicts.csv``; `ship-verdicts` copies a
complete default build's file over ``book/data/verdicts_default.csv``, the laptop-scale verdicts
every other scale shows beside its own (``pie_utils.scales``), and its chapter times to
``book/data/chapter_seconds_default.json``; `ship-times` ships any complete build's chapter
times (``chapter_seconds_P.json``). Chapters start longest first, by the last build's times,
else by those shipped for the profile (else for the default): a fresh build does not start its
longest chapter last.

`ipynb` writes the output-free ``.ipynb`` copies in ``ipynb/`` that Colab and Binder open (Colab
cannot read jupytext text); `--check` only reports copies that are missing or stale (exit 1).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import hashlib
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

import jupytext
import nbformat
import pandas as pd
import papermill
import yaml

from pie_utils.config import profiles
from pie_utils.errors import NotApplicableError
from pie_utils.manifest import load_manifest
from pie_utils.publication import profile_records
from pie_utils.scales import DEFAULT_SCALE, RECORD_ENV, SHIPPED
from pie_utils.studies import NO_TRAIN_ENV, MissingRunsError, load_study

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
IPYNB = ROOT / "ipynb"
PROFILES = tuple(profiles())  # the profiles file names them; the book builds any of them
BOOK_SOURCES = ("_config.yml", "_toc.yml", "book")
MATHJAX_PACKAGE = "mathjax@3.2.2"
REPOSITORY_ENV = "REPOSITORY_URL"  # the repository the staged _config.yml links to (make book REPOSITORY_URL=...)
INJECTED_TAG = "injected-parameters"  # the cell papermill adds; hidden from readers
VERDICTS = "verdicts.csv"  # the chapters' primary verdict rows of one build (pie_utils.scales)
VERDICT_FOLDER = "verdicts"  # one file per chapter while they run at once; merged into VERDICTS
SHIPPED_SECONDS = "book/data/chapter_seconds_{profile}.json"  # a shipped build's chapter times, per profile
CORES = len(os.sched_getaffinity(0))
LIBRARY_INPUTS = ("pie_utils/**/*.py", "pie_utils/**/*.toml", "pie_utils/**/*.json", "requirements.txt")


def chapter_names() -> list[str]:
    """Notebook names in table-of-contents order (entries ``ipynb/NAME``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [entry["file"] for part in toc.get("parts", []) for entry in part.get("chapters", [])]
    return [Path(f).name for f in files if Path(f).parent.name == "ipynb"]


def colab_install_cell() -> nbformat.NotebookNode:
    """The first cell of every ``.ipynb`` copy: on Colab (only there) it clones the repository
    at the tag of this version and installs the package with its dependency ranges (Colab's
    Python is not the lock's 3.11), then works from the clone, where the chapters find their
    project root. A form cell (``#@title``): Colab shows its title, not its code."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    folder = url.rstrip("/").rsplit("/", 1)[-1]
    source = "\n".join(
        [
            f"#@title Colab only: install the project at v{version} (a few minutes; does nothing elsewhere)",
            "import os",
            "import sys",
            "",
            'if "google.colab" in sys.modules and not os.path.isfile("_toc.yml"):  # not yet in the clone',
            f'    if not os.path.isdir("{folder}"):',
            f"        !git clone --quiet --depth 1 --branch v{version} {url} {folder}",
            f'        %pip install --quiet -e "{folder}[book]"',
            f'    os.chdir("{folder}")',
        ]
    )
    return nbformat.v4.new_code_cell(source, metadata={"cellView": "form", "tags": ["remove-cell"]})


def output_free_copy(name: str) -> str:
    """The ``.ipynb`` text of ``notebooks/NAME.py`` with no outputs, the Colab install cell first."""
    notebook = jupytext.read(NOTEBOOKS / f"{name}.py")
    notebook.cells.insert(0, colab_install_cell())
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


def execute(name: str, profile: str, destination: Path, parameters: dict | None = None) -> float:
    """Execute ``notebooks/NAME.py`` with ``profile`` (and ``parameters``) into ``destination``.

    Returns seconds. On a failing cell papermill raises ``PapermillExecutionError`` after it has
    written the notebook up to that cell, with the error shown; the injected cell is hidden either way.
    """
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            jupytext.read(NOTEBOOKS / f"{name}.py"),
            str(destination),
            parameters={"profile": profile, **(parameters or {})},
            kernel_name="python3",
            cwd=str(destination.parent),
            progress_bar=False,
        )
    finally:
        if destination.is_file():
            hide_injected_cell(destination)
    return time.perf_counter() - started


def execute_chapters(pending: list[tuple], profile: str, verdicts: Path, trains: bool, jobs: int | None = None):
    """Execute the ``pending`` chapters (name, parameters, fingerprint, destination), ``jobs``
    at a time, each in a process of its own; yield each with its outcome as it finishes.

    A chapter reads what `train` stored (``PIE_UTILS_NO_TRAIN=1``) unless it has parameters of
    its own and the profile trains (``trains``), and records its verdicts in ``verdicts/NAME.csv``
    (a file of its own: chapters run at once). With more than one job, each kernel gets an equal
    share of the cores as its thread count, unless ``OMP_NUM_THREADS`` is set: two 2-thread
    kernels on 2 cores spin against each other (benchmarks/README.md).
    """
    jobs = jobs or CORES
    threads = {} if jobs == 1 or "OMP_NUM_THREADS" in os.environ else {"OMP_NUM_THREADS": str(max(1, CORES // jobs))}
    context = multiprocessing.get_context("spawn")  # a clean interpreter: no forked kernel client state
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(jobs, len(pending)) or 1, mp_context=context) as pool:
        futures = {}
        for name, chapter_parameters, stamp, destination in pending:
            (verdicts / f"{name}.csv").unlink(missing_ok=True)  # a chapter that records less leaves nothing old
            environment = {
                NO_TRAIN_ENV: "0" if chapter_parameters and trains else "1",
                RECORD_ENV: str(verdicts / f"{name}.csv"),
                **threads,
            }
            print(f"executing {name} (profile {profile})", flush=True)
            future = pool.submit(run_chapter, name, profile, destination, chapter_parameters, environment)
            futures[future] = (name, chapter_parameters, stamp, destination)
        for future in concurrent.futures.as_completed(futures):
            yield (*futures[future], future.result())


def run_chapter(name: str, profile: str, destination: Path, parameters: dict, environment: dict) -> dict:
    """``execute`` in a worker process with ``environment`` set: ``ok``, ``seconds`` and, when a
    cell raised, the exception's name (``ename``) and its line (``text``)."""
    os.environ.update(environment)
    started = time.perf_counter()
    try:
        return {"ok": True, "seconds": execute(name, profile, destination, parameters)}
    except Exception as error:  # reported by the parent; the other chapters still run
        ename = getattr(error, "ename", type(error).__name__)
        return {"ok": False, "seconds": time.perf_counter() - started, "ename": ename, "text": failure_text(error)}


def merge_verdicts(folder: Path, target: Path) -> None:
    """The chapters' verdict files in ``folder`` as one table at ``target``, a claim recorded by
    two chapters taking the later chapter's row (as one chapter after another would)."""
    order = {name: position for position, name in enumerate(chapter_names())}
    files = sorted((p for p in folder.glob("*.csv") if p.stem in order), key=lambda p: order[p.stem])
    tables = [pd.read_csv(path) for path in files if path.stat().st_size]
    if not tables:
        target.unlink(missing_ok=True)
        return
    merged = pd.concat(tables, ignore_index=True).drop_duplicates("claim", keep="last")
    merged.sort_values("claim").to_csv(target, index=False)


def hide_injected_cell(path: Path) -> None:
    """Tag papermill's injected-parameters cell ``remove-cell``: readers see the parameters cell."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if INJECTED_TAG in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(notebook, path)


@functools.cache  # read once per build: every chapter shares it, and an edit mid-build counts next time
def library_digest() -> str:
    """sha256 of the library's sources, settings and the lock (``LIBRARY_INPUTS``)."""
    digest = hashlib.sha256()
    for path in sorted({p for pattern in LIBRARY_INPUTS for p in ROOT.glob(pattern)}):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fingerprint(name: str, profile: str, parameters: dict, manifest_digest: str = "") -> str:
    """sha256 of what a chapter's executed notebook depends on: besides the results store, except
    a published store's manifest (what is published changes what a chapter shows)."""
    digest = hashlib.sha256(
        json.dumps({"profile": profile, "parameters": parameters, "manifest": manifest_digest}, sort_keys=True).encode()
    )
    digest.update((NOTEBOOKS / f"{name}.py").read_bytes())
    digest.update(library_digest().encode())
    return digest.hexdigest()


def failure_text(error: BaseException) -> str:
    """One line for the summary: the exception a chapter's cell raised."""
    name, value = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    return f"{name}: {value}".splitlines()[0][:300]


def stage_mathjax(static: Path) -> None:
    """Copy MathJax 3 from the npm registry into ``STATIC/mathjax`` (cached under build/)."""
    cache = ROOT / "build" / "npm"
    bundle = cache / "node_modules" / "mathjax" / "es5"
    if not (bundle / "tex-chtml.js").is_file():
        if shutil.which("npm") is None:
            raise SystemExit(
                f"book: the offline book serves MathJax from the npm package {MATHJAX_PACKAGE}, and npm is "
                "not installed; install it (on Debian: sudo apt-get install -y npm) and build again"
            )
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(cache), MATHJAX_PACKAGE],
            check=True,
        )
    shutil.copytree(bundle, static / "mathjax", dirs_exist_ok=True)


def stage_sources(source: Path) -> None:
    """Copy the book's prose and configuration into ``source``; executed notebooks stay."""
    for item in BOOK_SOURCES:
        target = source / item
        if target.is_dir():
            shutil.rmtree(target)
        copy = shutil.copytree if (ROOT / item).is_dir() else shutil.copy2
        copy(ROOT / item, target)
    set_repository_url(source / "_config.yml", os.environ.get(REPOSITORY_ENV))
    (source / "ipynb").mkdir(exist_ok=True)


def set_repository_url(config: Path, url: str | None) -> None:
    """Point the staged ``config`` at another repository (``$REPOSITORY_URL``, e.g. a fork):
    its Colab, Binder and source links and the repository button. None or empty keeps the file's."""
    if not url:
        return
    url = url.rstrip("/")
    if not url.startswith("https://") or len(url.split("/")) != 5 or any(c.isspace() for c in url):
        raise SystemExit(
            f"{REPOSITORY_ENV}={url!r}: expected https://github.com/OWNER/REPO (Colab and Binder need GitHub)"
        )
    text = config.read_text()
    current = yaml.safe_load(text)["repository"]["url"]
    if text.count(f"url: {current}\n") != 1:
        raise SystemExit(f"{config}: cannot find repository.url ({current}) to replace")
    config.write_text(text.replace(f"url: {current}\n", f"url: {url}\n"))


def build(
    profile: str, out: Path, parameters: dict[str, dict] | None = None, force: bool = False, jobs: int | None = None
) -> int:
    """Execute every chapter that needs it, ``jobs`` at a time (default: one per core), build the
    HTML, print a summary; return the exit status.

    ``parameters`` maps a chapter name to extra papermill parameters. Status 0 when every
    chapter ran and the strict build passed, 1 otherwise (the HTML is written either way).
    """
    parameters = parameters or {}
    source = out / "src"
    source.mkdir(parents=True, exist_ok=True)
    stage_sources(source)
    stage_mathjax(source / "_mathjax")
    os.environ["PIE_UTILS_ROOT"] = str(ROOT)  # the kernels share the repository's results store
    record_path = out / "executed.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    timings, failed, reused = {}, {}, []
    started = time.perf_counter()
    published = load_manifest(load_study(profile).store)
    if published is None:
        trained = subprocess.run([sys.executable, "-m", "pie_utils", "train", "--profile", profile, "--no-progress"])
        if trained.returncode:  # the chapters still run, and name the runs they lack
            failed["train"] = f"python -m pie_utils train --profile {profile} exited {trained.returncode}"
    else:  # a published store is read as it is: nothing trains
        print(unpublished_summary(profile, published), flush=True)
    timings["train"] = time.perf_counter() - started
    unpublished, pending = [], []
    for name in chapter_names():
        chapter_parameters = parameters.get(name, {})
        stamp = fingerprint(name, profile, chapter_parameters, published.digest if published else "")
        destination = source / "ipynb" / f"{name}.ipynb"
        previous = record.get(name, {})
        if not force and previous.get("ok") and previous.get("fingerprint") == stamp and destination.is_file():
            print(f"{name}: up to date (executed {previous['seconds']:.0f} s)", flush=True)
            timings[name], record[name] = previous["seconds"], previous
            reused.append(name)
            continue
        pending.append((name, chapter_parameters, stamp, destination))
    # longest first, so that a long chapter does not start last and run alone on one core's share
    # of threads
    order = longest_first([name for name, *_ in pending], record, reference_seconds(profile))
    pending.sort(key=lambda chapter: order.index(chapter[0]))
    verdicts = out / VERDICT_FOLDER
    verdicts.mkdir(exist_ok=True)
    for name, _, stamp, destination, outcome in execute_chapters(
        pending, profile, verdicts, trains=published is None, jobs=jobs
    ):
        seconds = timings[name] = outcome["seconds"]
        if outcome["ok"]:
            record[name] = {"fingerprint": stamp, "ok": True, "seconds": seconds}
            print(f"{name}: {seconds:.0f} s", flush=True)
        elif outcome["ename"] == NotApplicableError.__name__:
            write_stub_page(name, destination, NOT_APPLICABLE, outcome["text"])
            record[name] = {"fingerprint": stamp, "ok": True, "seconds": seconds, "not_applicable": True}
            print(f"{name}: not applicable: {outcome['text']}", flush=True)
        elif published is not None and outcome["ename"] == MissingRunsError.__name__:
            write_stub_page(name, destination, UNPUBLISHED, outcome["text"])
            unpublished.append(name)
            record[name] = {"fingerprint": stamp, "ok": False, "seconds": seconds, "unpublished": True}
            print(f"{name}: not published yet: {outcome['text']}", flush=True)
        else:
            failed[name] = outcome["text"]
            record[name] = {"fingerprint": stamp, "ok": False, "seconds": seconds, "error": failed[name]}
            print(f"{name}: FAILED after {seconds:.0f} s: {failed[name]}", flush=True)
        record_path.write_text(json.dumps(record, indent=2) + "\n")  # a killed build keeps what finished
    merge_verdicts(verdicts, out / VERDICTS)
    started = time.perf_counter()
    sphinx = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", "-W", "-n", "--keep-going", str(source)]
    )
    timings["jupyter-book build"] = time.perf_counter() - started
    (out / "timings.json").write_text(
        json.dumps(
            {"profile": profile, "seconds": timings, "reused": reused, "failed": failed, "unpublished": unpublished},
            indent=2,
        )
        + "\n"
    )
    print(f"book: {source / '_build' / 'html' / 'index.html'}")
    print(
        f"summary: {len(chapter_names()) - len(reused) - len(set(failed) - {'train'}) - len(unpublished)} chapters "
        f"executed, {len(reused)} up to date, {len(unpublished)} not published yet, {len(failed)} failed"
    )
    for name, error in failed.items():
        print(f"  FAILED {name}: {error} (its page shows the error; rerun to execute only what failed)")
    if sphinx.returncode:
        print(
            f"  jupyter-book build exited {sphinx.returncode} (warnings are errors here"
            + ("; a failed chapter leaves glue keys undefined)" if failed else ")")
        )
    return 1 if failed or sphinx.returncode else 0


def unpublished_summary(profile: str, manifest) -> str:
    """What the published store of ``profile`` still lacks, by study and cell (``make book`` prints it)."""
    missing = [r for r in profile_records(profile) if manifest.entry(r.kind, r.key) is None]
    if not missing:
        return f"published store {manifest.path.parent}: complete ({len(manifest.records)} records); nothing trains"
    studies = Counter(r.studies[0] for r in missing)
    listed = ", ".join(f"{study} {count}" for study, count in studies.items())
    return (
        f"published store {manifest.path.parent.name}: {len(missing)} records not published yet ({listed}; by cell "
        f"in its PROGRESS.md); the chapters that need them give no verdict, and nothing trains"
    )


UNPUBLISHED = (
    "**Not published yet: no verdict.** The published store lacks runs this chapter reads, so it gives no verdict "
    "rather than one from part of its populations.\n\n`{reason}`\n\nThe training goes on; "
    "`results/published/PROGRESS.md` says how far it is, and `make book PROFILE=default` builds this chapter "
    "at laptop scale."
)
NOT_APPLICABLE = (
    "**Not applicable to this profile: no verdict.** This chapter cannot analyse the data its study reads, "
    "so it was skipped rather than run on data it was not made for.\n\n`{reason}`"
)


def write_stub_page(name: str, destination: Path, template: str, reason: str) -> None:
    """Replace a chapter's page by its title and why it gives no verdict (``template``:
    ``UNPUBLISHED`` or ``NOT_APPLICABLE``, filled with ``reason``)."""
    notebook = jupytext.read(NOTEBOOKS / f"{name}.py")
    title = next(c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown")
    body = f"{title}\n\n{template.format(reason=reason)}"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(body)]), destination)


def longest_first(names: list[str], record: dict, reference: dict[str, float]) -> list[str]:
    """``names`` ordered by their seconds in the last build's ``record`` (``executed.json``),
    else in the ``reference`` build's, longest first; chapters known to neither first, in the
    order given."""

    def seconds(name: str) -> float:
        return record.get(name, {}).get("seconds", reference.get(name, float("inf")))

    return sorted(names, key=lambda name: -seconds(name))


def reference_seconds(profile: str) -> dict[str, float]:
    """Chapter → seconds of the shipped build of ``profile``, else of the default one
    (``SHIPPED_SECONDS``; empty without either): a fresh build's order before it has times of
    its own."""
    for shipped in (profile, DEFAULT_SCALE):
        path = ROOT / SHIPPED_SECONDS.format(profile=shipped)
        if path.is_file():
            return json.loads(path.read_text())["seconds"]
    return {}


def complete_build(out: Path) -> dict | None:
    """``OUT/timings.json`` of a build that executed every chapter without failure, else None."""
    path = out / "timings.json"
    timings = json.loads(path.read_text()) if path.is_file() else None
    return None if timings is None or timings["failed"] or timings.get("unpublished") else timings


def ship_times(out: Path) -> int:
    """Write the chapter times of the complete build in ``out`` to ``SHIPPED_SECONDS`` of its
    profile; 1 when ``out`` holds no complete build."""
    timings = complete_build(out)
    if timings is None:
        print(f"ship-times: {out} holds no complete build (every chapter executed, none failed)")
        return 1
    chapters = {name: round(timings["seconds"][name], 1) for name in chapter_names() if name in timings["seconds"]}
    destination = SHIPPED_SECONDS.format(profile=timings["profile"])
    (ROOT / destination).write_text(json.dumps({"profile": timings["profile"], "seconds": chapters}, indent=1) + "\n")
    print(f"ship-times: chapter times of {out} -> {destination}")
    return 0


def ship_verdicts(out: Path) -> int:
    """Copy ``OUT/verdicts.csv`` of a complete default build over the shipped table, and ship
    its chapters' times (``ship_times``); 1 when that build failed, left chapters unexecuted,
    or was of another profile."""
    timings = complete_build(out)
    if timings is None or timings["profile"] != DEFAULT_SCALE:
        print(f"ship-verdicts: {out} holds no complete build of profile {DEFAULT_SCALE}; run make book PROFILE=default")
        return 1
    shutil.copy2(out / VERDICTS, ROOT / SHIPPED)
    print(f"ship-verdicts: {out / VERDICTS} -> {SHIPPED}")
    return ship_times(out)


def parse_parameters(items: list[str]) -> dict[str, dict]:
    """``["NAME:KEY=VALUE", ...]`` → ``{NAME: {KEY: VALUE}}``; VALUE is JSON, else a string."""
    chosen: dict[str, dict] = {}
    names = chapter_names()
    for item in items:
        name, _, assignment = item.partition(":")
        key, equals, text = assignment.partition("=")
        if name not in names or not key or not equals:
            raise ValueError(f"--param: {item!r} is not NAME:KEY=VALUE with NAME one of {', '.join(names)}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        chosen.setdefault(name, {})[key] = value
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="execute the notebooks and build the HTML book")
    build_parser.add_argument("--profile", choices=PROFILES, default="default")
    build_parser.add_argument("--out", type=Path, help="build folder (default: build/book-PROFILE)")
    build_parser.add_argument("--force", action="store_true", help="execute every chapter, even those up to date")
    build_parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE",
        help="a papermill parameter for one chapter (VALUE as JSON), e.g. 08_seed_stability:alpha=0.01",
    )
    build_parser.add_argument(
        "--jobs", type=int, help="chapters executed at once, each in its own process (default: one per core)"
    )
    execute_parser = commands.add_parser("execute", help="execute one chapter notebook (no book build)")
    execute_parser.add_argument("name", choices=chapter_names())
    execute_parser.add_argument("--profile", choices=PROFILES, default="default")
    execute_parser.add_argument("--out", type=Path, help="executed notebook (default: build/NAME-PROFILE.ipynb)")
    execute_parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a papermill parameter (VALUE as JSON), e.g. alpha=0.01",
    )
    ship_parser = commands.add_parser(
        "ship-verdicts",
        help=f"copy the default build's verdicts over {SHIPPED} (what the other scales show beside theirs)",
    )
    ship_parser.add_argument("--out", type=Path, help=f"the default build folder (default: build/book-{DEFAULT_SCALE})")
    times_parser = commands.add_parser(
        "ship-times",
        help="ship a complete build's chapter times: the order a fresh build of its profile starts them in",
    )
    times_parser.add_argument("--out", type=Path, required=True, help="the build folder, e.g. build/book-published")
    ipynb_parser = commands.add_parser("ipynb", help="write the output-free .ipynb copies for Colab/Binder")
    ipynb_parser.add_argument("--check", action="store_true", help="only report stale copies")
    arguments = parser.parse_args(argv)
    try:
        chosen = parse_parameters(
            [f"{arguments.name}:{item}" for item in arguments.param]
            if arguments.command == "execute"
            else getattr(arguments, "param", [])
        )
    except ValueError as error:
        parser.error(str(error))  # exit 2, before any work
    if getattr(arguments, "jobs", None) is not None and arguments.jobs < 1:
        parser.error(f"--jobs: {arguments.jobs} is not a whole number >= 1")
    if arguments.command == "ship-verdicts":
        return ship_verdicts((arguments.out or ROOT / "build" / f"book-{DEFAULT_SCALE}").resolve())
    if arguments.command == "ship-times":
        return ship_times(arguments.out.resolve())
    if arguments.command == "ipynb":
        stale = write_ipynb(arguments.check)
        return 1 if arguments.check and stale else 0
    if arguments.command == "execute":
        destination = (arguments.out or ROOT / "build" / f"{arguments.name}-{arguments.profile}.ipynb").resolve()
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.environ["PIE_UTILS_ROOT"] = str(ROOT)
        seconds = execute(arguments.name, arguments.profile, destination, chosen.get(arguments.name, {}))
        print(f"{arguments.name}: {seconds:.0f} s -> {destination}")
        return 0
    return build(
        arguments.profile,
        (arguments.out or ROOT / "build" / f"book-{arguments.profile}").resolve(),
        chosen,
        arguments.force,
        arguments.jobs,
    )


if __name__ == "__main__":
    sys.exit(main())
