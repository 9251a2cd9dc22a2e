"""What a make target needs from the system, checked before it starts: one line when it is missing.

    python scripts/system_check.py --for TARGET [--python PYTHON] NEED ...

NEEDs:

- ``python``: PYTHON (the interpreter ``make setup`` makes the virtual environment with) is
  Python 3.11 and can make a virtual environment (``ensurepip``; Debian's ``python3.11-venv``);
- ``browser``: ``chromium`` and ``chromedriver`` on PATH (the test that opens the built book);
- ``npm``: ``npm`` on PATH, for the local MathJax of the offline book (not needed once MathJax
  is cached under ``build/npm/``).

What is missing is installed with ``apt-get`` (Debian's packages) when this runs as root, as CI
does; otherwise the script prints one line naming the exact command to run and exits 1. A wrong
Python version is never installed over: the line says which interpreter to pass
(``make setup PYTHON=python3.11``). ``SYSTEM_CHECK_INSTALL=no`` never installs (even as root),
``yes`` always runs apt-get (for a user allowed to), ``auto`` (the default) installs as root only.

Standard library only: it runs before the virtual environment exists, under any Python 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = (3, 11)
MATHJAX_CACHE = ROOT / "build" / "npm" / "node_modules" / "mathjax" / "es5" / "tex-chtml.js"  # scripts/book.py's
APT = {  # need -> (what it is for, the commands it provides, its Debian packages)
    "browser": ("the browser test of the built book", ("chromium", "chromedriver"), ("chromium", "chromium-driver")),
    "npm": ("MathJax for the offline book", ("npm",), ("npm",)),
    "venv": ("making the virtual environment", (), ("python3.11-venv",)),
}
PROBE = "import sys, importlib.util as u; print(*sys.version_info[:2], int(u.find_spec('ensurepip') is not None))"


def python_state(python: str) -> tuple[str, bool] | None:
    """``("3.11", has_ensurepip)`` of an interpreter, or None when it does not run."""
    try:
        out = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=60).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 3:
        return None
    return f"{out[0]}.{out[1]}", out[2] == "1"


def missing(needs: list[str], python: str, target: str) -> tuple[list[str], str | None]:
    """The needs apt-get can provide that are missing, and a refusal apt-get cannot fix."""
    absent = []
    if "python" in needs:
        state = python_state(python)
        wanted = ".".join(map(str, PYTHON_VERSION))
        if state is None or state[0] != wanted:
            found = "does not run" if state is None else f"is Python {state[0]}"
            other = shutil.which(f"python{wanted}")
            fix = f"run: {target} PYTHON=python{wanted}"
            if not other or other == shutil.which(python):
                fix = f"install Python {wanted} (on Debian: sudo apt-get install -y python{wanted} python{wanted}-venv), then {fix}"
            return [], f"needs Python {wanted} for its virtual environment; {python} {found}; {fix}"
        if not state[1]:
            absent.append("venv")
    for need in needs:
        if need == "npm" and MATHJAX_CACHE.is_file():
            continue
        if need in ("browser", "npm") and not all(shutil.which(command) for command in APT[need][1]):
            absent.append(need)
    return absent, None


def describe(absent: list[str]) -> str:
    parts = []
    for need in absent:
        purpose, commands, packages = APT[need]
        parts.append(f"{' and '.join(commands or packages)} ({purpose})")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--for", dest="target", default="this", help="the make target, for the messages")
    parser.add_argument("--python", default=sys.executable, help="the interpreter for the virtual environment")
    parser.add_argument("needs", nargs="*", metavar="NEED", help="python, browser, npm (none: nothing to check)")
    arguments = parser.parse_args(argv)
    unknown = sorted(set(arguments.needs) - {"python", "browser", "npm"})
    if unknown:  # not argparse's choices=: with nargs="*" it refuses an empty list
        parser.error(f"unknown NEED {unknown[0]!r}; allowed: python, browser, npm")
    target = f"make {arguments.target}"
    absent, refusal = missing(arguments.needs, arguments.python, target)
    if refusal:
        print(f"{target} {refusal}", file=sys.stderr)
        return 1
    if not absent:
        return 0
    packages = [package for need in absent for package in APT[need][2]]
    mode = os.environ.get("SYSTEM_CHECK_INSTALL", "auto")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    apt_get = shutil.which("apt-get")
    install = f"{'' if root else 'sudo '}apt-get install -y {' '.join(packages)}"
    if apt_get is None or mode == "no" or (mode == "auto" and not root):
        how = f"run: {install}" if apt_get else f"install them with your package manager (on Debian: {install})"
        print(f"{target} needs {describe(absent)}; {how}", file=sys.stderr)
        return 1
    print(f"{target}: installing {' '.join(packages)} with apt-get", file=sys.stderr, flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt_get, "update", "-qq"], [apt_get, "install", "-y", "-qq", *packages]):
        done = subprocess.run(command, env=environment, stdout=subprocess.DEVNULL)
        if done.returncode:
            print(f"{target}: '{' '.join(command[1:])}' exited {done.returncode}; run: {install}", file=sys.stderr)
            return 1
    still, _ = missing(arguments.needs, arguments.python, target)
    if still:
        print(f"{target} still lacks {describe(still)} after apt-get installed {' '.join(packages)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
