"""The book on the `ci` profile: every notebook executes and asserts what it produced, the
strict build succeeds, a real headless Chromium shows every chapter with its figures, and the
folder `make publish` makes of it serves every page and figure over HTTP, as a static host would.

One build (about 3 minutes on 2 cores from an empty store; seconds of training once the `ci`
runs are stored) is shared by all tests of this module.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import urllib.parse
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import yaml

from pie_utils.claims import VERDICTS

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = (Path(shutil.which(name) or f"/usr/bin/{name}") for name in ("chromium", "chromedriver"))
sys.path.insert(0, str(ROOT / "scripts"))
import book  # noqa: E402  (scripts/book.py)

CHAPTERS = book.chapter_names()
TABLE_PAGES = ("00_worked_example", "claims_register")  # pages that show tables, not figures
NO_VERDICT = (*TABLE_PAGES, "training_curves")  # pages that decide no claim


FAILING = "08_seed_stability"  # made to fail in the first build by a parameter its settings refuse
TRAINING_LOG = ROOT / "results" / "ci" / "store" / "training.log"  # the ci profile's store


def _build(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "book.py"), "build", "--profile", "ci", "--out", str(out), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict:
    """Two `ci` builds into one folder: the first with one chapter made to fail, then a rerun
    without that parameter. What the first left behind is read before the rerun replaces it."""
    out = tmp_path_factory.mktemp("book-ci")
    log_before = TRAINING_LOG.read_text().splitlines() if TRAINING_LOG.is_file() else []
    first = _build(out, "--param", f"{FAILING}:alpha=2")
    html_root = out / "src" / "_build" / "html" / "ipynb"
    failed_page = (html_root / f"{FAILING}.html").read_text() if (html_root / f"{FAILING}.html").is_file() else ""
    pages = sorted(p.stem for p in html_root.glob("*.html"))
    first_timings = json.loads((out / "timings.json").read_text())
    second = _build(out)
    return {
        "out": out,
        "first": first,
        "failed_page": failed_page,
        "pages": pages,
        "first_timings": first_timings,
        "second": second,
        "second_timings": json.loads((out / "timings.json").read_text()),
        "log": TRAINING_LOG.read_text().splitlines()[len(log_before) :] if TRAINING_LOG.is_file() else [],
    }


@pytest.fixture(scope="module")
def built(builds) -> Path:
    """The staged sources of the complete `ci` build (notebooks executed, HTML under _build/html)."""
    assert builds["second"].returncode == 0, builds["second"].stdout[-3000:] + builds["second"].stderr[-3000:]
    return builds["out"]


def test_a_failing_chapter_leaves_every_other_page_built_and_the_build_names_it(builds):
    first = builds["first"]
    assert first.returncode == 1
    summary = first.stdout[first.stdout.index("summary:") :]
    assert f"FAILED {FAILING}: ParameterError" in summary and "alpha" in summary
    assert [line for line in summary.splitlines() if line.strip().startswith("FAILED")] == [
        line for line in summary.splitlines() if FAILING in line and "FAILED" in line
    ]  # no other chapter failed
    assert builds["pages"] == sorted(CHAPTERS)  # every page written, the failed one included ...
    text = html.unescape(re.sub(r"<[^>]+>", "", builds["failed_page"]))
    assert "ParameterError" in text and "a number in (0, 1)" in text  # ... showing its error
    assert builds["first_timings"]["failed"].keys() == {FAILING}


def test_the_rerun_executes_only_what_failed(builds):
    second = builds["second_timings"]
    assert second["failed"] == {} and sorted(second["reused"]) == sorted(set(CHAPTERS) - {FAILING})
    assert f"executing {FAILING}" in builds["second"].stdout
    assert builds["second"].stdout.count("executing ") == 1


def test_the_train_step_trains_each_run_once_and_the_chapters_train_nothing(builds):
    """Both builds' training went through `python -m pie_utils train`, which trained each run of
    the profile at most once, its derived leave-group-out studies included; the chapters read
    the store (PIE_UTILS_NO_TRAIN=1)."""
    from pie_utils.leave_group_out import derived_studies
    from pie_utils.pool import work_items
    from pie_utils.studies import load_study, study_names

    started = Counter(line.split()[3] for line in builds["log"] if line.split()[2] == "start")
    assert set(started.values()) <= {1}
    studies = [load_study("ci", name) for name in study_names("ci")] + list(derived_studies("ci").values())
    assert len(studies) == 11  # 9 studies and the 2 groups of chapter 6
    assert set(started) <= {item.key for item in work_items(studies)}
    for timings in (builds["first_timings"], builds["second_timings"]):
        assert "train" in timings["seconds"] and "train" not in timings["failed"]


def test_the_table_of_contents_names_every_notebook():
    assert CHAPTERS[0] == "00_worked_example"
    assert sorted(CHAPTERS) == sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))


def test_the_ipynb_copies_for_colab_match_the_notebooks():
    assert book.write_ipynb(check=True) == 0, "run: make ipynb"
    for name in CHAPTERS:
        copy = nbformat.read(ROOT / "ipynb" / f"{name}.ipynb", as_version=4)
        assert all(not cell.get("outputs") for cell in copy.cells if cell.cell_type == "code")
        assert any("parameters" in cell.metadata.get("tags", []) for cell in copy.cells)


def test_each_ipynb_copy_starts_with_a_colab_install_cell_at_this_version():
    """Colab's "Run all" needs the package: the first cell clones the tag of pyproject's version
    and installs it on Colab only; the book never shows it."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for name in CHAPTERS:
        first = nbformat.read(ROOT / "ipynb" / f"{name}.ipynb", as_version=4).cells[0]
        assert first.cell_type == "code" and first.metadata.tags == ["remove-cell"], name
        assert f"--branch v{version} {url}" in first.source and '"google.colab" in sys.modules' in first.source
        assert "[book]" in first.source


def test_every_notebook_ran_to_the_end_and_glued_a_valid_verdict(built):
    timings = json.loads((built / "timings.json").read_text())
    assert timings["profile"] == "ci" and set(CHAPTERS) <= set(timings["seconds"])
    for name in CHAPTERS:
        notebook = nbformat.read(built / "src" / "ipynb" / f"{name}.ipynb", as_version=4)
        outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and "remove-cell" in injected[0].metadata.tags
        assert 'profile = "ci"' in injected[0].source
        glued = {
            o.metadata["scrapbook"]["name"]: o.data[o.metadata["scrapbook"].get("mime_prefix", "") + "text/plain"]
            for o in outputs
            if o.output_type == "display_data" and "scrapbook" in o.get("metadata", {})
        }
        verdicts = {key: value.strip("'\"") for key, value in glued.items() if key.startswith("verdict")}
        assert name in NO_VERDICT or verdicts, f"{name} glued no verdict"
        assert set(verdicts.values()) <= set(VERDICTS) | {"not measured"}, (name, verdicts)


def test_the_html_hides_the_injected_cell_and_links_the_notebooks(built):
    page = (built / "src" / "_build" / "html" / "ipynb" / "01_effectiveness.html").read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", page))  # code is highlighted span by span
    assert 'profile = "ci"' not in text  # the injected cell is removed ...
    assert 'profile: str = "published"' in text  # ... while the parameters cell stays
    assert "colab.research.google.com/github/" in page and "/blob/main/ipynb/01_effectiveness.ipynb" in page
    assert "mybinder.org/v2/gh/" in page and "ipynb/01_effectiveness.ipynb" in page
    assert "_sources/ipynb/01_effectiveness.ipynb" in page  # the .ipynb download
    intro = (built / "src" / "_build" / "html" / "book" / "intro.html").read_text()  # the page with math
    assert "_static/mathjax/tex-chtml.js" in intro and "cdn.jsdelivr.net" not in intro + page


def _chromium(profile: Path):
    """Headless Debian Chromium driven by chromedriver, with a fresh profile folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "install Debian's chromium and chromium-driver (make test does, as root; else it names the command)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--allow-file-access-from-files",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def test_each_chapter_page_leads_with_its_verdicts_and_key_figure(built):
    """Before the parameters and the first section: the claim, this build's verdicts (glued text
    from the verdict cell) and an image (the glued key figure)."""
    for name in CHAPTERS:
        if not name[:2].isdigit() or name.startswith("00"):
            continue
        page = (built / "src" / "_build" / "html" / "ipynb" / f"{name}.html").read_text()
        top = page[: page.index("tag_parameters")]
        verdicts = re.findall(r'<span class="pasted-text">([^<]+)</span>', top)
        assert verdicts and set(verdicts) <= set(VERDICTS) | {"not measured"}, (name, verdicts)
        assert "<img" in top, name


def test_exercises_hide_their_solutions_and_terms_link_to_the_glossary(built):
    html_root = built / "src" / "_build" / "html"
    for name in ("00_worked_example", "02_frequency", "08_seed_stability", "09_out_of_distribution"):
        page = (html_root / "ipynb" / f"{name}.html").read_text()
        exercises, solutions = (
            page.count('class="exercise admonition"'),
            page.count('class="solution dropdown admonition"'),
        )
        assert exercises >= 2 and solutions == exercises, (name, exercises, solutions)  # a dropdown: closed
    glossary = (html_root / "book" / "glossary.html").read_text()
    assert all(f'id="term-{term}"' in glossary for term in ("PIE", "Modal-label", "EL2N", "Underpowered"))
    assert 'href="../book/glossary.html#term-PIE"' in (html_root / "ipynb" / "00_worked_example.html").read_text()


def test_chromium_shows_every_chapter_with_its_figures(built, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _chromium(tmp_path / "profile")
    try:
        html_root = built / "src" / "_build" / "html"
        for name in CHAPTERS:
            driver.get((html_root / "ipynb" / f"{name}.html").as_uri())
            loaded = "return document.readyState === 'complete' && document.URL.endsWith('" + name + ".html')"
            WebDriverWait(driver, 30).until(
                lambda d, script=loaded: d.execute_script(script), f"{name} did not finish loading"
            )
            title = driver.execute_script("return document.querySelector('main h1')?.textContent || ''")
            images = driver.execute_script(
                "return Array.from(document.querySelectorAll('article.bd-article img')).map("
                "i => [i.complete, i.naturalWidth, i.naturalHeight])"
            )
            assert title.strip(), f"{name}: no heading rendered"
            if name not in TABLE_PAGES:
                assert images and all(done and w > 100 and h > 100 for done, w, h in images), (name, images)
        driver.get((html_root / "book" / "intro.html").as_uri())
        typeset = WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.querySelectorAll('mjx-container').length"),
            "MathJax (served from _static) did not typeset the PIE definition",
        )
        assert typeset >= 1
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


class _Recorded(http.server.SimpleHTTPRequestHandler):
    """Serves a folder as a static host does; records each request's path and status, logs nothing."""

    def log_request(self, code="-", size="-"):
        self.server.served.append((urllib.parse.urlsplit(self.path).path, int(code)))

    def log_message(self, *arguments):
        pass


def test_the_published_folder_serves_every_page_and_figure(built, tmp_path):
    """`make publish` copies the built book into the folder a static host serves as it is (with
    `.nojekyll`, so GitHub Pages serves `_static/` and `_images/`). Over HTTP, every page loads,
    every image on it loads, every chapter shows a figure, every link within the site names a
    file that is there, the math typesets, and no request is answered with an error."""
    from selenium.webdriver.support.ui import WebDriverWait

    site = tmp_path / "site"
    made = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "publish", "PROFILE=ci", f"BOOK_DIR={built}"]
        + [f"PUBLISH_DIR={site}", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert (site / ".nojekyll").is_file() and (site / "index.html").is_file()
    pages = sorted(str(p.relative_to(site)) for p in site.rglob("*.html") if not {"_sources", "_static"} & set(p.parts))
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    assert {f"{name}.html" for name in files} <= set(pages)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Recorded, directory=str(site)))
    server.served = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    driver = _chromium(tmp_path / "profile")
    try:
        for page in pages:
            driver.get(base + page)
            WebDriverWait(driver, 30).until(
                lambda d: d.execute_script(
                    "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"
                ),
                f"{page} did not finish loading",
            )
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.currentSrc, i.naturalWidth])"
            )
            assert all(width > 0 for _, width in images), (page, images)
            if page.startswith("ipynb/") and page.removeprefix("ipynb/").removesuffix(".html") not in TABLE_PAGES:
                assert [src for src, _ in images if "/_images/" in src], f"{page} shows no figure"
            for link in driver.execute_script(
                "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
            ):
                if link.startswith(base):
                    target = site / urllib.parse.unquote(urllib.parse.urlsplit(link).path[1:])
                    assert (target / "index.html" if target.is_dir() else target).is_file(), (page, link)
        driver.get(base + "book/intro.html")
        typeset = WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.querySelectorAll('mjx-container').length"),
            "MathJax (served from _static) did not typeset the PIE definition over HTTP",
        )
        assert typeset >= 1
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    errors = sorted({(path, code) for path, code in server.served if code >= 400 and path != "/favicon.ico"})
    assert not errors, errors
    assert len({path for path, _ in server.served}) > len(pages)  # the pages, and what they loaded
