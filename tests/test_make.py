"""The Makefile's logic without running its targets, and the system check they start with.

`make -n` prints what a target would run: from a fresh clone, `test`, `book` and `ipynb` check
the system, make the environment, then do their work; with a complete environment they only
check and work. `make publish` and scripts/system_check.py run for real, on tiny folders, a
PATH without the commands they look for and a stub apt-get (no package is installed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "system_check.py"
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def make(*arguments: str, dry: bool = True) -> subprocess.CompletedProcess:
    command = ["make", "--no-print-directory", "-C", str(ROOT), "PYTHON=python3", *arguments]
    return subprocess.run(command[:1] + (["-n"] if dry else []) + command[1:], capture_output=True, text=True)


def lines(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def first(output: list[str], text: str) -> int:
    return next(i for i, line in enumerate(output) if text in line)


def complete_environment(venv: Path) -> Path:
    """A stand-in environment: its python exists and its install stamp is newer than the lock."""
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / ".installed-cpu").write_text("")
    later = max((ROOT / name).stat().st_mtime for name in ("requirements.txt", "pyproject.toml")) + 3600
    os.utime(venv / ".installed-cpu", (later, later))
    return venv


@pytest.mark.parametrize(
    "target, needs, work",
    [
        ("test", "python browser npm", "-m pytest -q"),
        ("book", "python npm", "scripts/book.py build --profile published"),
        ("ipynb", "python", "scripts/book.py ipynb"),
    ],
)
def test_on_a_fresh_clone_a_target_checks_the_system_then_makes_the_environment_then_works(
    tmp_path, target, needs, work
):
    venv = tmp_path / ".venv"
    output = lines(make(target, f"VENV={venv}"))
    check = first(output, "scripts/system_check.py")
    assert output[check].endswith(f"--for {target} --python python3 {needs}")
    steps = [check, first(output, f"python3 -m venv {venv}"), first(output, "-r requirements.txt")]
    steps += [first(output, "--no-deps -e ."), first(output, f"touch {venv}/.installed-cpu"), first(output, work)]
    assert steps == sorted(steps) and check == 0
    assert not venv.exists()  # a dry run


def test_with_a_complete_environment_a_target_installs_nothing(tmp_path):
    venv = complete_environment(tmp_path / ".venv")
    output = lines(make("test", f"VENV={venv}"))
    assert output[0].endswith("--for test --python python3 browser npm")  # Python is checked only to make one
    assert not [line for line in output if "pip install" in line or "-m venv" in line]
    assert output[1:] == [
        f"{venv}/bin/ruff check .",
        f"{venv}/bin/ruff format --check .",
        f"{venv}/bin/python -m pytest -q -n 2 --dist loadfile",
    ]


def test_an_environment_older_than_the_lock_is_installed_again_not_made_again(tmp_path):
    venv = complete_environment(tmp_path / ".venv")
    os.utime(venv / ".installed-cpu", (0, 0))
    output = lines(make("ipynb", f"VENV={venv}"))
    assert first(output, "-r requirements.txt") < first(output, "scripts/book.py ipynb")
    assert not [line for line in output if "-m venv" in line]


def test_a_cpu_setup_keeps_a_cpu_torch_pip_finds_and_else_adds_pytorchs_cpu_index(tmp_path):
    """The lock pins torch without a local version (PyPI and Binder resolve it); a CPU setup asks
    pip which build it would take, and adds the CPU index unless that is a +cpu build."""
    output = "\n".join(
        lines(make("setup", "TORCH=cpu", f"VENV={tmp_path / '.venv'}", "TORCH_INDEX=https://example.org/cpu"))
    )
    assert "--dry-run --no-deps --ignore-installed --quiet --report -" in output
    assert "*+cpu) ;; *) echo" in output and 'extra="--extra-index-url https://example.org/cpu"' in output
    assert "pip install --quiet -r requirements.txt $extra" in output
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("torch==")]
    assert pins == ["torch==2.13.0"]


def test_a_cuda_setup_installs_the_cuda_lock_from_pips_indexes_alone(tmp_path):
    output = lines(make("setup", "TORCH=cuda", f"VENV={tmp_path / '.venv'}"))
    assert [line for line in output if "pip install --quiet -r requirements-cuda.txt $extra" in line]
    assert [line for line in output if 'if [ "cuda" = cpu ]' in line]  # the CPU index is never added
    assert f"touch {tmp_path / '.venv'}/.installed-cuda" in output
    lock = [line for line in (ROOT / "requirements-cuda.txt").read_text().splitlines() if not line.startswith("#")]
    assert lock == ["-r requirements.txt"]  # the same pins; only the index differs


def test_binder_builds_python_3_11_from_the_cpu_lock_with_pytorchs_cpu_index():
    binder = ROOT / "binder"
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    lines_ = [line for line in (binder / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert lines_ == ["--extra-index-url https://download.pytorch.org/whl/cpu", "-r ../requirements.txt"]
    assert "pip install --no-deps -e ." in (binder / "postBuild").read_text()
    assert os.access(binder / "postBuild", os.X_OK)


def test_an_unknown_torch_build_is_refused_naming_the_allowed_ones():
    refused = make("setup", "TORCH=rocm")
    assert refused.returncode != 0 and "TORCH=rocm: allowed: auto, cpu, cuda" in refused.stderr


def test_publish_copies_the_built_html_with_a_nojekyll_and_refuses_an_unbuilt_or_failed_book(tmp_path):
    book, site = tmp_path / "book-ci", tmp_path / "site"
    refused = make("publish", "PROFILE=ci", f"BOOK_DIR={book}", f"PUBLISH_DIR={site}", dry=False)
    assert refused.returncode != 0 and not site.exists()
    assert f"make publish: no built book in {book}/src/_build/html; run: make book PROFILE=ci" in refused.stderr

    html = book / "src" / "_build" / "html"
    (html / "ipynb").mkdir(parents=True)
    (html / "index.html").write_text("<html>index</html>")
    (html / "ipynb" / "01.html").write_text("<html>chapter</html>")
    (book / "timings.json").write_text(json.dumps({"failed": {"08_seed_stability": "ParameterError"}}))
    failed = make("publish", "PROFILE=ci", f"BOOK_DIR={book}", f"PUBLISH_DIR={site}", dry=False)
    assert failed.returncode != 0 and "failed" in failed.stderr and not site.exists()

    (book / "timings.json").write_text(json.dumps({"failed": {}}))
    site.mkdir()
    (site / "stale.html").write_text("from an older build")
    done = make("publish", "PROFILE=ci", f"BOOK_DIR={book}", f"PUBLISH_DIR={site}", dry=False)
    assert done.returncode == 0, done.stderr
    assert sorted(str(p.relative_to(site)) for p in site.rglob("*")) == [
        ".nojekyll",
        "index.html",
        "ipynb",
        "ipynb/01.html",
    ]


# ---------------------------------------------------------------------------------------------
# scripts/system_check.py: standard library only (-I -S: no site-packages), one line when it refuses
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path):
    """A copy of the script in a repository without a MathJax cache, and an empty PATH folder."""
    (tmp_path / "repo" / "scripts").mkdir(parents=True)
    shutil.copy(CHECK, tmp_path / "repo" / "scripts")
    (tmp_path / "bin").mkdir()
    return tmp_path


def executable(path: Path, text: str) -> Path:
    path.write_text("#!/bin/sh\nPATH=/usr/bin:/bin\n" + text)  # the stub's own PATH, not the checked one
    path.chmod(0o755)
    return path


def check(sandbox: Path, *needs: str, install: str = "no", python: str | None = None) -> subprocess.CompletedProcess:
    script = sandbox / "repo" / "scripts" / "system_check.py"
    python_flag = ["--python", python] if python else []
    return subprocess.run(
        [sys.executable, "-I", "-S", str(script), "--for", "test", *python_flag, *needs],
        capture_output=True,
        text=True,
        env={"PATH": str(sandbox / "bin"), "SYSTEM_CHECK_INSTALL": install, "HOME": str(sandbox)},
    )


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_missing_commands_are_refused_in_one_line_naming_the_command_to_run(sandbox):
    line = one_line(check(sandbox, "browser", "npm"))
    assert line.startswith("make test needs chromium and chromedriver") and "npm (MathJax" in line
    assert "apt-get install -y chromium chromium-driver npm" in line
    executable(sandbox / "bin" / "apt-get", "exit 0\n")  # apt-get exists, installing is not allowed
    assert re.search(
        r"; run: (sudo )?apt-get install -y chromium chromium-driver$", one_line(check(sandbox, "browser"))
    )


def test_present_commands_and_a_cached_mathjax_pass_silently(sandbox):
    for command in ("chromium", "chromedriver"):
        executable(sandbox / "bin" / command, "exit 0\n")
    cached = sandbox / "repo" / "build" / "npm" / "node_modules" / "mathjax" / "es5" / "tex-chtml.js"
    cached.parent.mkdir(parents=True)
    cached.write_text("")
    result = check(sandbox, "browser", "npm")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_nothing_to_check_passes_and_an_unknown_need_is_refused(sandbox):
    """`make ipynb` with an environment needs nothing: the script is called with no NEED."""
    assert (check(sandbox).returncode, check(sandbox).stderr) == (0, "")
    refused = check(sandbox, "chromium")
    assert refused.returncode == 2 and "unknown NEED 'chromium'" in refused.stderr


def test_as_root_the_missing_packages_are_installed_with_apt_get(sandbox):
    log = sandbox / "apt.log"
    bin_ = sandbox / "bin"
    executable(
        bin_ / "apt-get",
        f'echo "$DEBIAN_FRONTEND $*" >> {log}\n'
        f'if [ "$1" = install ]; then for c in chromium chromedriver npm; do '
        f'printf "#!/bin/sh\\n" > {bin_}/$c; chmod +x {bin_}/$c; done; fi\n',
    )
    result = check(sandbox, "browser", "npm", install="yes")
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "noninteractive update -qq",
        "noninteractive install -y -qq chromium chromium-driver npm",
    ]
    assert result.stderr.strip() == "make test: installing chromium chromium-driver npm with apt-get"


def test_a_failed_or_empty_install_is_one_line_too(sandbox):
    executable(sandbox / "bin" / "apt-get", 'if [ "$1" = install ]; then exit 100; fi\n')
    assert "'install -y -qq chromium chromium-driver' exited 100" in check(sandbox, "browser", install="yes").stderr
    executable(sandbox / "bin" / "apt-get", "exit 0\n")  # "succeeds" without providing the commands
    result = check(sandbox, "browser", install="yes")
    assert result.returncode == 1 and "still lacks chromium and chromedriver" in result.stderr.splitlines()[-1]


def test_python_must_be_3_11_with_venv_support(sandbox):
    bin_ = sandbox / "bin"
    assert check(sandbox, "python", python=str(executable(bin_ / "py311", "echo 3 11 1\n"))).returncode == 0
    line = one_line(check(sandbox, "python", python=str(executable(bin_ / "py312", "echo 3 12 1\n"))))
    assert "needs Python 3.11" in line and "is Python 3.12" in line and "make test PYTHON=python3.11" in line
    assert "apt-get install -y python3.11 python3.11-venv" in line  # no python3.11 on this PATH
    executable(bin_ / "python3.11", "echo 3 11 1\n")
    assert one_line(check(sandbox, "python", python=str(bin_ / "py312"))).endswith("run: make test PYTHON=python3.11")
    line = one_line(check(sandbox, "python", python=str(executable(bin_ / "py311-bare", "echo 3 11 0\n"))))
    assert "python3.11-venv" in line and "apt-get install -y python3.11-venv" in line


# ---------------------------------------------------------------------------------------------
# make book REPOSITORY_URL=...: the staged _config.yml links to that repository
# ---------------------------------------------------------------------------------------------


def test_the_repository_url_is_a_setting_of_the_staged_config(tmp_path, monkeypatch):
    import yaml

    sys.path.insert(0, str(ROOT / "scripts"))
    import book  # scripts/book.py

    original = yaml.safe_load((ROOT / "_config.yml").read_text())
    monkeypatch.setenv("REPOSITORY_URL", "https://github.com/someone/a-fork/")
    book.stage_sources(tmp_path)
    staged = yaml.safe_load((tmp_path / "_config.yml").read_text())
    assert staged["repository"]["url"] == "https://github.com/someone/a-fork"
    staged["repository"]["url"] = original["repository"]["url"]
    assert staged == original  # nothing else changed, and the repository's own file is untouched
    assert yaml.safe_load((ROOT / "_config.yml").read_text()) == original

    monkeypatch.delenv("REPOSITORY_URL")
    book.stage_sources(tmp_path)
    assert yaml.safe_load((tmp_path / "_config.yml").read_text()) == original
    with pytest.raises(SystemExit, match="expected https://github.com/OWNER/REPO"):
        book.set_repository_url(tmp_path / "_config.yml", "github.com/someone")


# ---------------------------------------------------------------------------------------------
# chapters executed at once: each records its verdicts in a file of its own, merged afterwards
# ---------------------------------------------------------------------------------------------


def test_the_chapters_verdict_files_merge_in_chapter_order_the_later_chapter_winning(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import book  # scripts/book.py

    first, second = book.chapter_names()[1:3]
    columns = "claim,profile,verdict,estimate,low,high,power,seeds,seeds_needed\n"
    (tmp_path / f"{second}.csv").write_text(columns + "b_claim,ci,supported,0.2,0.1,0.3,0.9,4,3\n")
    (tmp_path / f"{first}.csv").write_text(
        columns + "b_claim,ci,inconclusive,0.0,-0.1,0.1,0.5,4,9\na_claim,ci,not supported,-0.2,-0.3,-0.1,0.9,4,3\n"
    )
    (tmp_path / "empty.csv").write_text("")  # not a chapter: ignored
    book.merge_verdicts(tmp_path, tmp_path / "verdicts.csv")
    merged = (tmp_path / "verdicts.csv").read_text().splitlines()
    assert merged[0] == columns.strip()
    assert [line.split(",")[:3] for line in merged[1:]] == [
        ["a_claim", "ci", "not supported"],
        ["b_claim", "ci", "supported"],  # the later chapter's row, as a serial build would leave it
    ]


def test_a_build_with_no_jobs_is_refused_before_any_work():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "book.py"), "build", "--profile", "ci", "--jobs", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2 and "--jobs: 0 is not a whole number >= 1" in result.stderr


def test_chapters_start_longest_first_by_the_last_build_else_the_shipped_times_unknown_ones_first():
    sys.path.insert(0, str(ROOT / "scripts"))
    import book  # scripts/book.py

    last = {"b": {"seconds": 5.0}, "c": {"seconds": 50.0}}
    shipped = {"a": 100.0, "b": 200.0, "d": 1.0}  # b's last time (5 s) overrides its shipped 200 s
    assert book.longest_first(["a", "b", "c", "d", "e"], last, shipped) == ["e", "a", "c", "b", "d"]
    assert book.longest_first(["x", "y"], {}, {}) == ["x", "y"]  # nothing known: the order given


def test_shipped_chapter_times_are_the_profiles_else_the_defaults_and_only_a_complete_build_ships(
    tmp_path, monkeypatch, capsys
):
    sys.path.insert(0, str(ROOT / "scripts"))
    import book  # scripts/book.py

    monkeypatch.setattr(book, "ROOT", tmp_path)
    monkeypatch.setattr(book, "chapter_names", lambda: ["a", "b"])
    (tmp_path / "book" / "data").mkdir(parents=True)
    assert book.reference_seconds("published") == {}  # nothing shipped
    (tmp_path / "book" / "data" / "chapter_seconds_default.json").write_text('{"seconds": {"a": 1.0}}')
    assert book.reference_seconds("published") == {"a": 1.0}  # the default's, until the profile ships its own

    build = tmp_path / "build"
    build.mkdir()
    timings = {"profile": "published", "seconds": {"a": 12.34, "b": 5.0, "train": 8.0}, "failed": {"b": "boom"}}
    (build / "timings.json").write_text(json.dumps(timings))
    assert book.ship_times(build) == 1 and "no complete build" in capsys.readouterr().out  # a chapter failed
    assert book.reference_seconds("published") == {"a": 1.0}
    (build / "timings.json").write_text(json.dumps({**timings, "failed": {}}))
    assert book.ship_times(build) == 0
    assert book.reference_seconds("published") == {"a": 12.3, "b": 5.0}  # chapters only, rounded to 0.1 s
    assert book.reference_seconds("default") == {"a": 1.0}
