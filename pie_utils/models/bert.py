"""``BertClassifier``: a pretrained BERT encoder with a dropout + linear head."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch
from torch import nn

from pie_utils.errors import ParameterError
from pie_utils.models.spec import EMBEDDED_CHECKPOINT, POOLINGS


def resolve_checkpoint(checkpoint: str) -> tuple[str, bool]:
    """``(location, local)`` for ``from_pretrained``: the embedded MiniLM's cached folder, an
    existing local directory, or else the string as a hub id (``local`` False)."""
    if checkpoint == EMBEDDED_CHECKPOINT:
        from pie_utils.assets import fetch_asset

        return str(fetch_asset("minilm")), True
    path = Path(checkpoint).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ParameterError("checkpoint", checkpoint, "a directory with a Hugging Face config.json")
        return str(path), True
    if path.is_absolute() or checkpoint.startswith((".", "~")):
        raise ParameterError("checkpoint", checkpoint, f"{EMBEDDED_CHECKPOINT}, an existing directory or a hub id")
    return checkpoint, False


# what a BERT checkpoint needs from a hub repository (the tokenizer's files and the weights);
# python -m pie_utils prefetch downloads these, from_pretrained reads them
CHECKPOINT_FILES = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
]


def pretrained_source(checkpoint: str, revision: str | None = None) -> tuple[str, dict]:
    """``(location, keyword arguments)`` for ``from_pretrained`` of a model or its tokenizer.

    Local checkpoints (the embedded MiniLM, a directory) are read offline and take no revision.
    A hub id is read at ``revision`` (None: ``main``) from ``cache_dir()/hub``, the cache
    every hub download of this project shares (``PIE_UTILS_CACHE`` moves it).
    """
    location, local = resolve_checkpoint(checkpoint)
    if local:
        if revision is not None:
            raise ParameterError("checkpoint_revision", revision, f"None for the local checkpoint {checkpoint}")
        return location, {"local_files_only": True}
    from pie_utils.assets import cache_dir

    return location, {"revision": revision or "main", "cache_dir": str(cache_dir() / "hub")}


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' load report and progress bars (e.g. the unused pooler weights of
    a checkpoint loaded without its pooler), restoring the caller's settings afterwards."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_pretrained_bert(checkpoint: str, pooling: str, revision: str | None = None) -> nn.Module:
    """The pretrained encoder (``AutoModel``, float32, SDPA attention), with its pooler only
    when ``pooling == "cls-pooler"``. Offline for the embedded checkpoint and directories; a
    hub id at ``revision`` (see ``pretrained_source``)."""
    if pooling not in POOLINGS:
        raise ParameterError("pooling", pooling, POOLINGS)
    from transformers import AutoModel

    location, source = pretrained_source(checkpoint, revision)
    with _quiet_transformers():
        return AutoModel.from_pretrained(
            location,
            add_pooling_layer=pooling == "cls-pooler",
            attn_implementation="sdpa",
            dtype=torch.float32,
            **source,
        )


def token_types_from_separator(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, sep_token_id: int
) -> torch.Tensor:
    """Segment ids ``[batch, time]``: 0 up to and including the first ``[SEP]`` of each row, 1
    after it, 0 on padding. Equals the tokenizer's ``token_type_ids`` for ``[CLS] a [SEP]`` and
    ``[CLS] a [SEP] b [SEP]`` inputs (a single text has nothing real after its only [SEP])."""
    is_sep = (input_ids == sep_token_id).long()
    before = torch.cumsum(is_sep, dim=1) - is_sep  # separators strictly before each position
    return (before > 0).long() * attention_mask.long()


class BertClassifier(nn.Module):
    """BERT encoder → sequence vector → dropout → ``Linear(hidden, num_labels)``.

    Sequence vector: ``cls-pooler`` = the pooler's ``tanh(W h_[CLS] + b)`` (the paper);
    ``mean`` = the mean of the last hidden states over real (mask 1) tokens; padding never
    contributes. The head's dropout rate is ``config.hidden_dropout_prob``; its weight is drawn
    from N(0, ``config.initializer_range``²) and its bias is zero (as in Hugging Face's
    sequence classifiers).

    Build it with ``build_model``. Attributes: ``bert`` (the encoder), ``dropout``,
    ``classifier``.
    """

    def __init__(self, bert: nn.Module, num_labels: int, pooling: str, sep_token_id: int | None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ParameterError("pooling", pooling, POOLINGS)
        if pooling == "cls-pooler" and getattr(bert, "pooler", None) is None:
            raise ParameterError("pooling", pooling, "mean (this encoder was built without a pooler)")
        config = bert.config
        self.bert = bert
        self.pooling = pooling
        self.sep_token_id = sep_token_id
        self.derive_token_types = sep_token_id is not None and getattr(config, "type_vocab_size", 1) > 1
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, mean=0.0, std=config.initializer_range)
        nn.init.zeros_(self.classifier.bias)
        self.train()  # from_pretrained leaves the encoder in eval mode; make the whole model agree

    def sequence_vector(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``[batch, hidden]`` the pooled representation the head reads."""
        if token_type_ids is None and self.derive_token_types:
            token_type_ids = token_types_from_separator(input_ids, attention_mask, self.sep_token_id)
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        if self.pooling == "cls-pooler":
            return out.pooler_output
        hidden = out.last_hidden_state
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits ``[batch, num_labels]`` for ``input_ids``/``attention_mask`` ``[batch, time]``.

        ``token_type_ids`` may be omitted: they are then derived from the first ``[SEP]``.
        """
        return self.classifier(self.dropout(self.sequence_vector(input_ids, attention_mask, token_type_ids)))

    def prunable_parameters(self) -> list[tuple[str, nn.Module, str]]:
        """The weight matrices pruning may mask: ``[(module name, module, "weight"), ...]``.

        Every ``nn.Linear`` weight inside the encoder: per layer query, key, value, attention
        output, intermediate and output dense (6 per layer); plus the pooler dense when
        ``pooling == "cls-pooler"`` (with ``mean`` the pooler does not exist). Not listed:
        biases, the word/position/token-type embeddings, LayerNorm weights (kept dense; the
        original code also masked LayerNorm γ) and the final ``classifier``.
        """
        return [
            (f"bert.{name}", module, "weight")
            for name, module in self.bert.named_modules()
            if isinstance(module, nn.Linear)
        ]
