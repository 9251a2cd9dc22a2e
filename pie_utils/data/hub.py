"""The paper's datasets from the Hugging Face Hub: IMDB, SNLI, Reuters-21578 (multilabel), AAPD.

Hub repositories (each checked against the hub's own file listings, see the report in the
project history):

=========  ==========================  ===================================================
name       repository (repo_type      files read
           "dataset")
=========  ==========================  ===================================================
imdb       ``stanfordnlp/imdb``         ``plain_text/{train,test}-*.parquet``: ``text``,
                                        ``label`` (0 neg, 1 pos); ``unsupervised`` is ignored
snli       ``stanfordnlp/snli``         ``plain_text/{train,validation,test}-*.parquet``:
                                        ``premise``, ``hypothesis``, ``label`` (0 entailment,
                                        1 neutral, 2 contradiction, -1 no gold label: dropped)
reuters    ``ucirvine/reuters21578``    ``data/reuters21578.tar.gz``: the original SGML files
                                        (``reut2-000.sgm`` ... ``reut2-021.sgm``)
aapd       none confirmed               pass ``path`` (see below)
=========  ==========================  ===================================================

``revision`` (default "main") selects the git revision; the commit actually read is recorded in
the dataset's ``source``. Downloads are cached by ``huggingface_hub`` under
``cache_dir()/hub``.

``path`` replaces the download:

- a local folder laid out like the hub repository (the tests use tiny fixtures of that shape);
- ``hf://datasets/<owner>/<repo>``: another hub repository with the same layout.

Formats accepted in a folder, per dataset:

- imdb, snli: parquet files whose name starts with the split (``train-*.parquet``) or that sit
  in a folder named after it (``train/0000.parquet``, the hub's parquet-conversion layout).
- reuters: ``reuters21578.tar.gz`` or the extracted ``reut2-*.sgm`` files, **or** parquet files
  in the column format of the hub's ModApte loader (``text``, ``topics`` list, optional
  ``title``), one set per split (``train``, ``test``; ``unused`` is ignored).
  ModApte: documents with ``LEWISSPLIT="TRAIN"`` / ``"TEST"`` and ``TOPICS="YES"``. Text =
  title + newline + body. Documents without any topic are dropped, and only topics with at least
  one training and one test document are kept (the usual 90-topic ModApte set); documents left
  without a kept topic are dropped. Counts go to ``source``.
- aapd: parquet files per split with a text column (``text`` or ``abstract``) and a label column
  (``labels`` or ``label``: a list of strings or one whitespace-separated string); or the text
  files of the original release (Yang et al. 2018): ``text_train``/``label_train``,
  ``text_val``/``label_val``, ``text_test``/``label_test`` (one example per line, labels
  separated by spaces).

Label names of the multilabel sets are sorted alphabetically. Where a source has no
validation split (imdb, reuters, an aapd copy without one), 10 % of train becomes validation:
per stratum (class; for multilabel the example's rarest class), in sha256(salt + id) order
(``splitting.stratified_assign``), so the same data always gives the same split.
"""

from __future__ import annotations

import html
import re
import tarfile
from collections import Counter
from pathlib import Path

from pie_utils.assets import AssetError, cache_dir, sha256_of
from pie_utils.data.cache import cache_key, cached_build
from pie_utils.data.spec import DatasetSpec
from pie_utils.data.splitting import (
    RawExamples,
    build_dataset,
    carve_validation,
    deduplicate,
)
from pie_utils.data.types import SPLIT_NAMES, TextDataset
from pie_utils.errors import DataFileError, ParameterError

HF_PREFIX = "hf://datasets/"
DEFAULT_REVISION = "main"

# What to download from each repository (the whole repository for a user-given one).
_ALLOW_PATTERNS = {
    "imdb": ["plain_text/train-*.parquet", "plain_text/test-*.parquet"],
    "snli": ["plain_text/train-*.parquet", "plain_text/validation-*.parquet", "plain_text/test-*.parquet"],
    "reuters": ["data/reuters21578.tar.gz"],
}
_USER_REPO_PATTERNS = ["*.parquet", "*.tar.gz", "*.sgm", "text_*", "label_*"]
_SPLIT_ALIASES = {"train": ("train",), "validation": ("validation", "valid", "val", "dev"), "test": ("test",)}


def load_hub(
    spec: DatasetSpec, path: str | None = None, revision: str | None = None, cache: bool = True
) -> TextDataset:
    """The hub dataset of ``spec`` (see the module docstring), from the hub or from ``path``."""
    name = spec.name
    folder, origin = resolve_source(spec, path, revision)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and _is_data_file(p))
    key = cache_key(name, origin, *(f"{p.relative_to(folder)}:{sha256_of(p)}" for p in files))

    def build() -> TextDataset:
        raw, label_names, note = _READERS[name](folder)
        examples, report = deduplicate(raw)
        if "validation" not in set(examples.origins):
            note += "; validation = 10% of train (stratified, id-hash order)"
        assignment = carve_validation(examples)
        source = f"{origin}: {note}; {report.describe()}"
        dataset = build_dataset(name, examples, assignment, label_names, spec.multilabel, spec.max_length, source)
        for split_name in SPLIT_NAMES:
            if len(dataset.split(split_name)) == 0:
                raise DataFileError(f"{origin}: the {split_name} split of {name!r} is empty")
        return dataset

    return cached_build(name, key, build, cache)


def _is_data_file(path: Path) -> bool:
    """Files a reader may use (their hashes key the parsed-dataset cache)."""
    return (
        path.suffix in (".parquet", ".sgm")
        or path.name.endswith(".tar.gz")
        or path.name.startswith(("text_", "label_"))
    )


def hub_files(spec: DatasetSpec, path: str | None) -> tuple[str, list[str]] | None:
    """``(repository, file patterns)`` to download for ``spec`` read from ``path``; None when
    ``path`` is a local folder."""
    if path is not None and not str(path).startswith(HF_PREFIX):
        return None
    if path is None:
        if spec.hub_repo is None:
            raise ParameterError(
                "path",
                None,
                f"for {spec.name!r} no hub repository is confirmed: a local folder "
                f"holding the data, or '{HF_PREFIX}<owner>/<repo>'",
            )
        return spec.hub_repo, _ALLOW_PATTERNS[spec.name]
    repo = str(path)[len(HF_PREFIX) :].strip("/")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise ParameterError("path", path, f"'{HF_PREFIX}<owner>/<repo>'")
    return repo, _USER_REPO_PATTERNS


def resolve_source(spec: DatasetSpec, path: str | None, revision: str | None) -> tuple[Path, str]:
    """The folder to read and a one-line description of where it came from."""
    name = spec.name
    remote = hub_files(spec, path)
    if remote is not None:
        repo, patterns = remote
        return download(repo, revision or DEFAULT_REVISION, patterns)
    if revision is not None:
        raise ParameterError("revision", revision, "None when path is a local folder")
    folder = Path(path)
    if not folder.is_dir():
        raise ParameterError(
            "path",
            path,
            f"an existing folder laid out like the hub repository of {name!r}, or '{HF_PREFIX}<owner>/<repo>'",
        )
    return folder, f"local folder {folder.name}"


def download(
    repo: str, revision: str, patterns: list[str], repo_type: str = "dataset", local_only: bool = False
) -> tuple[Path, str]:
    """Download the files of hub repository ``repo`` matching ``patterns`` into
    ``cache_dir()/hub``; ``local_only``: only find them there (``AssetError`` when absent)."""
    url = f"huggingface.co/{'datasets/' if repo_type == 'dataset' else ''}{repo}"
    local_copy = "path= a local folder laid out like it" if repo_type == "dataset" else "a local checkpoint directory"
    try:
        from huggingface_hub import snapshot_download

        folder = Path(
            snapshot_download(
                repo,
                repo_type=repo_type,
                revision=revision,
                cache_dir=cache_dir() / "hub",
                allow_patterns=patterns,
                local_files_only=local_only,
            )
        )
    except Exception as error:  # offline, unknown repo or revision, ...
        raise AssetError(
            f"could not {'find' if local_only else 'download'} {url} at revision {revision!r}: "
            f"{type(error).__name__}: {error}. Without a hub connection, fetch it first where one is "
            f"reachable (python -m pie_utils prefetch) or pass {local_copy}"
        ) from error
    if not any(p.is_file() for p in folder.rglob("*")):
        raise AssetError(f"{url} at {revision!r} has no file matching {patterns}")
    commit = folder.name if re.fullmatch(r"[0-9a-f]{40}", folder.name) else "unknown"
    return folder, f"{url} revision {revision} (commit {commit})"


# ---------------------------------------------------------------------------------------------
# Finding and reading files
# ---------------------------------------------------------------------------------------------


def split_of(path: Path, root: Path) -> str | None:
    """The split a data file belongs to, from its name or its folder; None if not one of ours."""
    candidates = re.split(r"[-_.]", path.name.split(".")[0])
    candidates += list(reversed(path.relative_to(root).parts[:-1]))
    for candidate in candidates:
        for split, aliases in _SPLIT_ALIASES.items():
            if candidate.lower() in aliases:
                return split
    return None


def parquet_files(folder: Path) -> dict[str, list[Path]]:
    """Parquet files under ``folder`` by split; files of other splits (unsupervised) skipped."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.rglob("*.parquet")):
        split = split_of(path, folder)
        if split is not None:
            found.setdefault(split, []).append(path)
    return found


def read_columns(path: Path, needed: list[str], optional: tuple[str, ...] = ()) -> dict:
    """Columns of a parquet file as Python lists; DataFileError naming a missing column."""
    import pyarrow.parquet as pq

    try:
        schema_names = pq.read_schema(path).names
    except Exception as error:
        raise DataFileError(f"{path.name}: not a readable parquet file ({error})") from None
    missing = [c for c in needed if c not in schema_names]
    if missing:
        raise DataFileError(f"{path.name}: missing column(s) {', '.join(missing)}; found: {', '.join(schema_names)}")
    wanted = needed + [c for c in optional if c in schema_names]
    table = pq.read_table(path, columns=wanted)
    return {c: table.column(c).to_pylist() for c in wanted}


def _require(found: dict[str, list[Path]], splits: tuple[str, ...], folder: Path, name: str):
    missing = [s for s in splits if s not in found]
    if missing:
        raise DataFileError(
            f"{folder.name}: no parquet file for split(s) {', '.join(missing)} of "
            f"{name!r} (expected e.g. plain_text/{missing[0]}-00000-of-00001"
            f".parquet)"
        )


def _text(value, path: Path, row: int, column: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataFileError(f"{path.name}: row {row} has an empty or missing {column!r}")
    return value


# ---------------------------------------------------------------------------------------------
# The four readers: folder -> (RawExamples, label names, note)
# ---------------------------------------------------------------------------------------------


def read_imdb(folder: Path) -> tuple[RawExamples, tuple[str, ...], str]:
    """IMDB parquet files (``text``, ``label`` 0/1), splits train and test."""
    found = parquet_files(folder)
    _require(found, ("train", "test"), folder, "imdb")
    raw = RawExamples()
    for split in ("train", "test"):
        for path in found[split]:
            columns = read_columns(path, ["text", "label"])
            for row, (text, label) in enumerate(zip(columns["text"], columns["label"]), 1):
                if label not in (0, 1):
                    raise DataFileError(
                        f"{path.name}: row {row} has label {label!r}; expected 0 (negative) or 1 (positive)"
                    )
                raw.add(_text(text, path, row, "text"), int(label), origin=split)
    return raw, ("negative", "positive"), "parquet text,label"


def read_snli(folder: Path) -> tuple[RawExamples, tuple[str, ...], str]:
    """SNLI parquet files (``premise``, ``hypothesis``, ``label``); label -1 rows dropped."""
    found = parquet_files(folder)
    _require(found, ("train", "validation", "test"), folder, "snli")
    raw = RawExamples(pairs=True)
    dropped = Counter()
    for split in ("train", "validation", "test"):
        for path in found[split]:
            columns = read_columns(path, ["premise", "hypothesis", "label"])
            rows = zip(columns["premise"], columns["hypothesis"], columns["label"])
            for row, (premise, hypothesis, label) in enumerate(rows, 1):
                if label == -1:
                    dropped[split] += 1
                    continue
                if label not in (0, 1, 2):
                    raise DataFileError(f"{path.name}: row {row} has label {label!r}; expected 0, 1, 2 or -1")
                raw.add(
                    _text(premise, path, row, "premise"),
                    int(label),
                    origin=split,
                    text_pair=_text(hypothesis, path, row, "hypothesis"),
                )
    note = "label -1 (no gold label) rows dropped: " + ", ".join(
        f"{dropped[s]} {s}" for s in ("train", "validation", "test")
    )
    return raw, ("entailment", "neutral", "contradiction"), note


_REUTERS_DOC = re.compile(r"<REUTERS(?P<attrs>[^>]*)>(?P<body>.*?)</REUTERS>", re.S)
_ATTRIBUTE = re.compile(r'([A-Z]+)="([^"]*)"')
_TOPICS = re.compile(r"<TOPICS>(.*?)</TOPICS>", re.S)
_D = re.compile(r"<D>(.*?)</D>", re.S)
_TEXT = re.compile(r"<TEXT(?P<attrs>[^>]*)>(?P<body>.*?)</TEXT>", re.S)
_TITLE = re.compile(r"<TITLE>(.*?)</TITLE>", re.S)
_BODY = re.compile(r"<BODY>(.*?)</BODY>", re.S)
_TAG = re.compile(r"<[^>]+>")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MODAPTE = {"TRAIN": "train", "TEST": "test"}


def _clean_sgml(text: str) -> str:
    return _CONTROL.sub("", html.unescape(text)).strip()


def parse_reuters_sgml(content: str) -> list[tuple[str, str, list[str]]]:
    """(ModApte split, text, topics) of each ModApte document in one ``reut2-*.sgm`` file.

    A document is in ModApte when TOPICS="YES" and LEWISSPLIT is TRAIN or TEST. Its text is
    the TITLE and the BODY joined by a newline (the bare TEXT for untagged documents), with SGML
    entities decoded and control characters removed.
    """
    documents = []
    for match in _REUTERS_DOC.finditer(content):
        attributes = dict(_ATTRIBUTE.findall(match.group("attrs")))
        split = _MODAPTE.get(attributes.get("LEWISSPLIT", ""))
        if attributes.get("TOPICS") != "YES" or split is None:
            continue
        body = match.group("body")
        topics_block = _TOPICS.search(body)
        topics = [t.strip() for t in _D.findall(topics_block.group(1))] if topics_block else []
        text_block = _TEXT.search(body)
        text = ""
        if text_block:
            inner = text_block.group("body")
            title, main = _TITLE.search(inner), _BODY.search(inner)
            if title or main:
                parts = [_clean_sgml(m.group(1)) for m in (title, main) if m]
                text = "\n".join(p for p in parts if p)
            else:
                text = _clean_sgml(_TAG.sub(" ", inner))
        documents.append((split, text, topics))
    return documents


def _reuters_documents(folder: Path) -> tuple[list[tuple[str, str, list[str]]], str]:
    archives = sorted(folder.rglob("reuters21578.tar.gz"))
    sgml_files = sorted(folder.rglob("reut2-*.sgm"))
    documents = []
    if archives:
        with tarfile.open(archives[0]) as bundle:
            members = sorted(
                (m for m in bundle.getmembers() if m.isfile() and re.search(r"reut2-\d+\.sgm$", m.name)),
                key=lambda m: m.name,
            )
            for member in members:
                content = bundle.extractfile(member).read().decode("latin-1")
                documents += parse_reuters_sgml(content)
        return documents, f"{archives[0].name} ({len(members)} SGML files)"
    if sgml_files:
        for path in sgml_files:
            documents += parse_reuters_sgml(path.read_bytes().decode("latin-1"))
        return documents, f"{len(sgml_files)} reut2-*.sgm files"
    found = parquet_files(folder)
    _require(found, ("train", "test"), folder, "reuters")
    for split in ("train", "test"):
        for path in found[split]:
            columns = read_columns(path, ["text", "topics"], optional=("title",))
            titles = columns.get("title", [None] * len(columns["text"]))
            for text, topics, title in zip(columns["text"], columns["topics"], titles):
                parts = [p.strip() for p in (title, text) if isinstance(p, str) and p.strip()]
                documents.append((split, "\n".join(parts), list(topics or [])))
    return documents, "parquet text,topics"


def read_reuters(folder: Path) -> tuple[RawExamples, tuple[str, ...], str]:
    """Reuters-21578 ModApte, multilabel (see the module docstring for the filtering)."""
    documents, note = _reuters_documents(folder)
    if not documents:
        raise DataFileError(f"{folder.name}: no ModApte documents found")
    in_split = {s: {t for split, _, topics in documents if split == s for t in topics} for s in ("train", "test")}
    label_names = tuple(sorted(in_split["train"] & in_split["test"]))
    index = {t: i for i, t in enumerate(label_names)}
    raw = RawExamples()
    no_topic = no_kept_topic = empty = 0
    for split, text, topics in documents:
        if not topics:
            no_topic += 1
            continue
        kept = tuple(sorted({index[t] for t in topics if t in index}))
        if not kept:
            no_kept_topic += 1
            continue
        if not text.strip():
            empty += 1
            continue
        raw.add(text, kept, origin=split)
    note += (
        f"; ModApte {len(documents)} documents: {no_topic} without topics, "
        f"{no_kept_topic} with only topics missing from train or test, {empty} without "
        f"text dropped; {len(label_names)} topics"
    )
    return raw, label_names, note


def _label_list(value, path: Path, row: int) -> list[str]:
    if isinstance(value, str):
        labels = value.split()
    elif isinstance(value, (list, tuple)):
        labels = [str(v).strip() for v in value]
    else:
        labels = []
    if not labels or not all(labels):
        raise DataFileError(f"{path.name}: row {row} has no labels")
    return labels


def read_aapd(folder: Path) -> tuple[RawExamples, tuple[str, ...], str]:
    """AAPD from parquet files or the original text files (see the module docstring)."""
    rows: list[tuple[str, str, list[str]]] = []
    text_files = {s: folder / f"text_{s}" for s in ("train", "val", "test")}
    if all(p.is_file() for p in text_files.values()):
        split_names = {"train": "train", "val": "validation", "test": "test"}
        for short, split in split_names.items():
            text_path, label_path = folder / f"text_{short}", folder / f"label_{short}"
            if not label_path.is_file():
                raise DataFileError(f"{folder.name}: {text_path.name} has no {label_path.name}")
            texts = text_path.read_text(encoding="utf-8").splitlines()
            labels = label_path.read_text(encoding="utf-8").splitlines()
            if len(texts) != len(labels):
                raise DataFileError(f"{text_path.name} has {len(texts)} lines but {label_path.name} has {len(labels)}")
            for row, (text, label) in enumerate(zip(texts, labels), 1):
                rows.append((split, _text(text, text_path, row, "text"), _label_list(label, label_path, row)))
        note = "text_{train,val,test} + label_{train,val,test}"
    else:
        found = parquet_files(folder)
        _require(found, ("train", "test"), folder, "aapd")
        for split, paths in found.items():
            for path in paths:
                import pyarrow.parquet as pq

                names = pq.read_schema(path).names
                text_column = next((c for c in ("text", "abstract") if c in names), "text")
                label_column = next((c for c in ("labels", "label") if c in names), "labels")
                columns = read_columns(path, [text_column, label_column])
                pairs = zip(columns[text_column], columns[label_column])
                for row, (text, label) in enumerate(pairs, 1):
                    rows.append((split, _text(text, path, row, text_column), _label_list(label, path, row)))
        note = "parquet text + label lists"
    label_names = tuple(sorted({label for _, _, labels in rows for label in labels}))
    index = {t: i for i, t in enumerate(label_names)}
    raw = RawExamples()
    for split, text, labels in rows:
        raw.add(text, tuple(sorted({index[label] for label in labels})), origin=split)
    return raw, label_names, f"{note}; {len(label_names)} labels"


_READERS = {"imdb": read_imdb, "snli": read_snli, "reuters": read_reuters, "aapd": read_aapd}
