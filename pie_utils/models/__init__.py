"""BERT and BiLSTM text classifiers and the encoders that feed them.

Typical use::

    spec = ModelSpec(arch="bilstm")                  # or ModelSpec(arch="bert")
    encoder = build_encoder(spec, dataset)           # tokenizer (+ vocabulary for the BiLSTM)
    encoded = encode_dataset(encoder, dataset)       # {split: EncodedSplit}, cached on disk
    model = build_model(spec, dataset.num_classes, seed, encoder)
    input_ids, attention_mask = encoded["train"].batch(positions)
    logits = model(input_ids, attention_mask)        # [batch, num_labels]
    model.prunable_parameters()                      # [(module name, module, parameter name)]

Importing this package does not import transformers; building a BERT does.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from pie_utils.data.types import TextDataset
from pie_utils.errors import ParameterError
from pie_utils.models.bert import (
    BertClassifier,
    load_pretrained_bert,
    resolve_checkpoint,
)
from pie_utils.models.bilstm import BiLSTMClassifier
from pie_utils.models.encoded_cache import encode_dataset, encoded_cache_path
from pie_utils.models.encoding import (
    OOV_INDEX,
    PAD_INDEX,
    BertEncoder,
    BiLSTMEncoder,
    TextEncoder,
    build_bilstm_vocabulary,
    word_tokenize,
)
from pie_utils.models.ragged import EncodedSplit
from pie_utils.models.spec import ModelSpec, default_pooling
from pie_utils.models.vectors import WordVectors, load_word_vectors

__all__ = [
    "OOV_INDEX",
    "PAD_INDEX",
    "BertClassifier",
    "BertEncoder",
    "BiLSTMClassifier",
    "BiLSTMEncoder",
    "EncodedSplit",
    "ModelSpec",
    "TextEncoder",
    "WordVectors",
    "build_bilstm_vocabulary",
    "build_encoder",
    "build_model",
    "default_pooling",
    "encode_dataset",
    "encoded_cache_path",
    "load_pretrained_bert",
    "load_word_vectors",
    "resolve_checkpoint",
    "word_tokenize",
]


def build_encoder(spec: ModelSpec, dataset: TextDataset, extra_texts: Iterable[str] = ()) -> TextEncoder:
    """The encoder for ``spec`` on ``dataset``, truncating to ``spec.max_length`` (None: the
    dataset's ``max_length``).

    bert: the checkpoint's fast tokenizer (``BertEncoder``). bilstm: loads ``spec.vectors`` and
    builds the vocabulary of the words of ``dataset`` and ``extra_texts`` (``BiLSTMEncoder``;
    its ``embedding_matrix`` goes into the model).
    """
    if not isinstance(spec, ModelSpec):
        raise ParameterError("spec", type(spec).__name__, "a ModelSpec")
    max_length = spec.resolved_max_length(dataset.max_length)
    if spec.arch == "bert":
        return BertEncoder.from_checkpoint(spec.checkpoint, max_length, spec.checkpoint_revision)
    return BiLSTMEncoder.from_dataset(dataset, spec.vectors, max_length, extra_texts)


def build_model(spec: ModelSpec, num_labels: int, seed: int, encoder: TextEncoder | None = None) -> nn.Module:
    """A freshly initialised classifier for ``spec`` with ``num_labels`` outputs.

    Deterministic in ``seed``: the same seed gives bitwise-identical weights; another seed
    gives other head (and LSTM) weights, while a BERT's pretrained encoder weights are the
    checkpoint's whatever the seed. The caller's RNG state is left as it was (the CPU generator
    is forked and seeded inside; no CUDA generator is touched). The model is on the CPU.

    ``encoder``: the ``build_encoder`` result. Required for bilstm (it holds the embedding
    matrix); optional for bert (it supplies the ``[SEP]`` id used to derive token types; when
    omitted the tokenizer is loaded again).
    """
    if not isinstance(spec, ModelSpec):
        raise ParameterError("spec", type(spec).__name__, "a ModelSpec")
    if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1:
        raise ParameterError("num_labels", num_labels, "a positive int")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError("seed", seed, "an int >= 0")
    if spec.arch == "bert":
        if encoder is not None and not isinstance(encoder, BertEncoder):
            raise ParameterError("encoder", type(encoder).__name__, "a BertEncoder (from build_encoder) or None")
        wanted = (spec.checkpoint, spec.checkpoint_revision)
        if encoder is not None and (encoder.checkpoint, encoder.revision) != wanted:
            given = f"{encoder.checkpoint}@{encoder.revision}"
            raise ParameterError("encoder", given, f"an encoder of checkpoint {wanted[0]}@{wanted[1]}")
        if encoder is None:
            encoder = BertEncoder.from_checkpoint(spec.checkpoint, spec.max_length or 2, spec.checkpoint_revision)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            bert = load_pretrained_bert(spec.checkpoint, spec.pooling, spec.checkpoint_revision)
            torch.default_generator.manual_seed(seed)  # the head depends on the seed only
            return BertClassifier(bert, num_labels, spec.pooling, encoder.sep_token_id)
    if not isinstance(encoder, BiLSTMEncoder):
        raise ParameterError(
            "encoder", type(encoder).__name__, "the BiLSTMEncoder from build_encoder (it holds the embeddings)"
        )
    if encoder.vectors != spec.vectors:
        raise ParameterError("encoder", encoder.vectors, f"an encoder built with vectors={spec.vectors}")
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return BiLSTMClassifier(encoder.embedding_matrix, num_labels, spec.hidden_size, spec.num_layers, spec.head)
