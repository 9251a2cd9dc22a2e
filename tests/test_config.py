"""The one validation gate shared by the command line and the notebooks: hand-picked cases, and
1,000 generated invalid parameter sets, each refused naming the parameter before any work."""

import math
import sys
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_utils import assets
from pie_utils.config import (
    _STUDY_KEYS,
    _TRAINING_KEYS,
    SubsetSpec,
    check_subset_fits,
    hyperparameters,
    profile_parameters,
    profiles,
    validate_study,
)
from pie_utils.data import DATASETS
from pie_utils.errors import ParameterError
from pie_utils.pruning import METHODS

VALID = {"dataset": "rotten-tomatoes", "arch": "bilstm", "methods": ["IMP-FT"], "sparsities": [0.9], "seeds": 5}


def test_valid_parameters_take_the_tuned_hyperparameters():
    study = validate_study(VALID)
    tuned = hyperparameters("rotten-tomatoes", "bilstm")
    assert study.training.epochs == tuned["epochs"]
    assert study.training.learning_rate == tuned["learning_rate"]
    assert study.methods == ("IMP-FT",) and study.sparsities == (0.9,) and study.seeds == 5


def test_dense_only_study_has_no_methods_and_sparsity_zero_is_dense():
    study = validate_study({**VALID, "methods": [], "sparsities": [0.0]})
    assert study.methods == () and study.sparsities == ()


def test_a_cuda_device_with_an_ascii_index_is_accepted():
    assert validate_study({**VALID, "device": "cuda:12"}).device == "cuda:12"


@pytest.mark.parametrize(
    "change, parameter, allowed",
    [
        ({"dataset": "imdbb"}, "dataset", "rotten-tomatoes"),
        ({"arch": "gpt"}, "arch", "bilstm"),
        ({"methods": ["IMP-XX"]}, "methods", "IMP-FT"),
        ({"methods": [["IMP-FT"]]}, "methods", "IMP-FT"),  # a list is not a name (and not hashable)
        ({"sparsities": [1.0]}, "sparsities", "[0, 1)"),
        ({"sparsities": [-0.1]}, "sparsities", "[0, 1)"),
        ({"seeds": 0}, "seeds", "integer in 1"),
        ({"seeds": 2.5}, "seeds", "integer in 1"),
        ({"device": "tpu"}, "device", "cuda"),
        ({"device": "cuda:\u00b2"}, "device", "cuda:N"),  # '²'.isdigit() is True; torch.device refuses it
        ({"device": "cuda:\u0663"}, "device", "cuda:N"),  # ARABIC-INDIC DIGIT THREE
        ({"subset": {"n_train": 0}}, "subset.n_train", ">= 1"),
        ({"subset": {"train": 10}}, "subset", "n_train"),
        ({"subset": {1: 2, "a": 3}}, "subset", "n_train"),  # unknown keys of mixed types cannot be sorted as they are
        ({"dataset": "local"}, "data_path", "CSV"),
        ({"learning_rate": float("nan")}, "learning_rate", "finite"),
        ({"learning_rate": 10**400}, "learning_rate", "finite"),  # an int beyond float's range
        ({"grad_clip": 10**400}, "grad_clip", "finite"),
        ({"train_logit_epochs": [99]}, "train_logit_epochs", "epochs in 1.."),
        ({"train_logit_epochs": None}, "train_logit_epochs", "epochs in 1.."),
        ({"train_logit_epochs": 1.5}, "train_logit_epochs", "epochs in 1.."),
        ({"precision": "fp8"}, "precision", "bf16"),
        ({"transfer": "imdb"}, "transfer", "movie-reviews"),
        ({"dataset": "reuters-r8", "transfer": "movie-reviews"}, "transfer", "no transfer partner"),
        ({"transfer_subset": {"n_test": 5}}, "transfer_subset", "sets no transfer"),
        ({"transfer": "movie-reviews", "transfer_subset": {"n_test": 0}}, "transfer_subset.n_test", ">= 1"),
        ({"transfer": "movie-reviews", "transfer_subset": {"test": 5}}, "transfer_subset", "n_test"),
        ({"colour": "red"}, "parameter name", "dataset"),
        ({1: "x", "y": 2}, "parameter name", "dataset"),
    ],
    ids=repr,
)
def test_bad_parameters_are_refused_naming_the_parameter_and_allowed_values(change, parameter, allowed):
    with pytest.raises(ParameterError) as refused:
        validate_study({**VALID, **change})
    assert refused.value.parameter == parameter
    assert allowed in str(refused.value)


def test_subset_larger_than_a_split_is_refused(tmp_path):
    class FakeSplit(list):
        pass

    class FakeDataset:
        name = "toy"

        def split(self, name):
            return FakeSplit(range(10))

    check_subset_fits(SubsetSpec(n_train=10), FakeDataset())
    with pytest.raises(ParameterError, match=r"subset.n_test=11.*1\.\.10"):
        check_subset_fits(SubsetSpec(n_test=11), FakeDataset())
    with pytest.raises(ParameterError, match=r"^invalid transfer_subset.n_train=11"):
        check_subset_fits(SubsetSpec(n_train=11), FakeDataset(), "transfer_subset")


@pytest.mark.parametrize("name", ["ci", "default", "published", "full"])
def test_every_profile_validates(name):
    assert name in profiles()
    study = validate_study(profile_parameters(name))
    assert study.profile == name


def test_unknown_profile_is_refused():
    with pytest.raises(ParameterError, match="profile"):
        profile_parameters("fast")


# ---- generated invalid parameter sets ----------------------------------------------------------------

KNOWN_KEYS = _STUDY_KEYS | _TRAINING_KEYS
BASE = {
    "dataset": "rotten-tomatoes",
    "arch": "bilstm",
    "methods": ["IMP-FT", "MP-AI"],
    "sparsities": [0.5, 0.9],
    "seeds": 2,
    "epochs": 1,
    "batch_size": 32,
    "threads": 1,
    "device": "cpu",
    "subset": {"n_train": 120, "n_validation": 40, "n_test": 40, "seed": 0},
}

small_ints = st.integers(-1000, 1000)
beyond_float = st.integers(2**1024, 2**1100)  # float() of these overflows
scalars = st.one_of(st.none(), st.booleans(), small_ints, beyond_float, st.floats(allow_nan=True), st.text(max_size=6))
mixed_keys = st.one_of(st.text(max_size=3), small_ints, st.none())  # keys of several types cannot be sorted together
# junk of any JSON-ish type, nested: lists hold lists (unhashable), dicts have keys of mixed types
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(mixed_keys, inner, max_size=2)),
    max_leaves=4,
)
words = st.text(st.characters(codec="utf-8"), max_size=12)


def not_in(allowed):
    return st.one_of(
        words.filter(lambda w: w not in allowed), junk.filter(lambda v: not isinstance(v, str) or v not in allowed)
    )


def cuda_index(text):
    return text.startswith("cuda:") and text[5:].isascii() and text[5:].isdigit()


bad_count = st.one_of(
    st.integers(-1000, 0),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.booleans(),
    st.none(),
    st.lists(small_ints, max_size=2),
)
bad_rate = st.one_of(
    st.floats(max_value=0.0),
    st.sampled_from([math.inf, -math.inf, math.nan]),
    st.integers(-1000, 0),
    beyond_float,
    st.text(max_size=4),
    st.booleans(),
    st.none(),
    st.lists(st.floats(0.1, 1), max_size=2),
)
bad_fraction = st.one_of(
    st.floats(max_value=-1e-12),
    st.floats(min_value=1.0),
    st.sampled_from([math.nan, math.inf]),
    st.integers(1, 10**30),
    st.integers(-(10**30), -1),
    st.booleans(),
    st.text(max_size=4),
    st.none(),
)
bad_sparsities = st.one_of(
    st.tuples(st.lists(st.floats(0.01, 0.99), max_size=2), bad_fraction).map(lambda t: [*t[0], t[1]]),
    bad_fraction.filter(lambda v: not isinstance(v, (int, float)) or isinstance(v, bool)),  # a scalar of a wrong type
    st.dictionaries(st.text(max_size=2), st.floats(0.1, 0.9), min_size=1, max_size=2),
)
bad_methods = st.one_of(
    st.lists(words.filter(lambda w: w not in METHODS), min_size=1, max_size=3),
    st.tuples(
        st.lists(st.sampled_from(sorted(METHODS)), max_size=2),
        junk.filter(lambda v: v not in METHODS if isinstance(v, str) else True),
    ).map(lambda t: [*t[0], t[1]]),
    words.filter(lambda w: w not in METHODS),  # one name, as a bare string
    st.one_of(small_ints, st.floats(), st.booleans(), st.dictionaries(mixed_keys, scalars, max_size=2)),
)
subset_key = st.sampled_from(["n_train", "n_validation", "n_test"])
bad_subset = st.one_of(
    st.one_of(small_ints, st.text(max_size=4), st.lists(small_ints, max_size=2), st.floats(), st.booleans()),
    st.builds(lambda k, v: {**BASE["subset"], k: v}, subset_key, bad_count.filter(lambda v: v is not None)),
    st.builds(
        lambda v: {**BASE["subset"], "seed": v},
        st.one_of(st.integers(-1000, -1), st.floats(), st.text(max_size=3), st.booleans(), st.none()),
    ),
    st.builds(
        lambda extra: {**BASE["subset"], **extra},
        st.dictionaries(mixed_keys.filter(lambda k: k not in BASE["subset"]), small_ints, min_size=1, max_size=3),
    ),
)
bad_epochs_list = st.one_of(
    st.lists(
        st.one_of(st.integers(-5, 0), st.integers(2, 50), st.floats(), st.text(max_size=2), st.booleans(), junk),
        min_size=1,
        max_size=3,
    ).filter(lambda epochs: epochs != [1] * len(epochs)),
    small_ints,
    st.floats(),
    st.none(),
    st.text(max_size=3),
)
bad_device = st.one_of(
    words.filter(lambda w: w not in ("auto", "cpu", "cuda", "mps") and not cuda_index(w)),
    st.sampled_from(["CPU", "cuda:", "cuda:x", "cuda:-1", "gpu", "tpu", "cuda 0", " cpu"]),
    st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=2)  # digits of other scripts: '²', '٣'
    .filter(lambda digits: not digits.isascii())
    .map(lambda digits: "cuda:" + digits),
    junk.filter(lambda v: not isinstance(v, str)),
)
not_text = st.one_of(st.sampled_from(["", " ", "\t\n"]), junk.filter(lambda v: not isinstance(v, str)))

# field → (strategy of invalid values, names the refusal may carry): validation stops at the first
BAD_FIELDS = {
    "dataset": (not_in(DATASETS), {"dataset"}),
    "arch": (not_in(("bert", "bilstm")), {"arch"}),
    "methods": (bad_methods, {"methods"}),
    "sparsities": (bad_sparsities, {"sparsities"}),
    "seeds": (bad_count, {"seeds"}),
    "epochs": (bad_count, {"epochs"}),
    "batch_size": (bad_count, {"batch_size"}),
    "eval_batch_size": (bad_count, {"eval_batch_size"}),
    "impact_examples": (bad_count, {"impact_examples"}),
    "threads": (bad_count, {"threads"}),
    "first_seed": (bad_count.filter(lambda v: v != 0 or isinstance(v, bool)), {"first_seed"}),
    "learning_rate": (bad_rate, {"learning_rate"}),
    "grad_clip": (bad_rate, {"grad_clip"}),
    "train_logit_epochs": (bad_epochs_list, {"train_logit_epochs"}),
    "precision": (not_in(("fp32", "bf16")), {"precision"}),
    "scope": (not_in(("layer", "global")), {"scope"}),
    "pooling": (not_in(("cls-pooler", "mean")).filter(lambda v: v is not None), {"pooling"}),
    "device": (bad_device, {"device"}),
    "subset": (bad_subset, {"subset", "subset.n_train", "subset.n_validation", "subset.n_test", "subset.seed"}),
    "checkpoint": (not_text, {"checkpoint"}),
    "vectors": (not_text, {"vectors"}),
    "profile": (not_text, {"profile"}),
    "accept_other_versions": (
        st.one_of(small_ints, st.text(max_size=3), st.none(), st.floats()),
        {"accept_other_versions"},
    ),
    "data_path": (
        st.one_of(st.text(min_size=1, max_size=8).filter(str.strip), junk.filter(lambda v: v is not None)),
        {"data_path"},
    ),  # the embedded dataset takes no path
    "revision": (
        st.one_of(st.text(min_size=1, max_size=8), junk.filter(lambda v: v is not None)),
        {"revision", "data_path"},
    ),
}
unknown_key = st.one_of(st.text(max_size=15), small_ints, st.none()).filter(lambda k: k not in KNOWN_KEYS)


@st.composite
def invalid_parameter_sets(draw):
    """(parameters, names the refusal may carry): 1-3 bad fields, sometimes unknown names (of
    mixed types) too, sometimes not a mapping at all."""
    if draw(st.sampled_from([False] * 29 + [True])):  # (hypothesis favours early elements: True goes last)
        return draw(st.one_of(st.lists(scalars, max_size=3), scalars)), {"parameters"}
    fields = draw(st.permutations(sorted(BAD_FIELDS)))[: draw(st.sampled_from([1, 1, 2, 3]))]
    parameters = dict(BASE)
    allowed_names = set()
    for field in fields:
        values, names = BAD_FIELDS[field]
        parameters[field] = draw(values)
        allowed_names |= names
    if draw(st.sampled_from([False] * 9 + [True])):
        for key in draw(st.lists(unknown_key, min_size=1, max_size=2)):
            parameters[key] = draw(junk)
        allowed_names = {"parameter name"}  # unknown names are refused first
    return parameters, allowed_names


def test_1000_generated_invalid_parameter_sets_are_all_refused_naming_the_parameter(tmp_path, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()

    def no_download(*args, **kwargs):
        raise AssertionError("validation started a download")

    monkeypatch.setattr(assets, "_download", no_download)
    refused = Counter()

    @settings(
        max_examples=1000,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=invalid_parameter_sets())
    def check(case):
        parameters, names = case
        if isinstance(parameters, dict) and "store" not in parameters:
            parameters = {**parameters, "store": str(store)}
        try:
            validate_study(parameters)
        except ParameterError as error:
            message = str(error)
            assert error.parameter in names, (parameters, message)
            assert message.startswith(f"invalid {error.parameter}=") and "; allowed: " in message
            assert message.split("; allowed: ", 1)[1].strip(), message  # the allowed values are spelled out
            refused[error.parameter] += 1
        else:
            raise AssertionError(f"accepted invalid parameters {parameters!r}")
        assert list(store.iterdir()) == []  # nothing written

    check()  # any other exception (TypeError, OverflowError, ...) fails here, with hypothesis's smallest example
    print(f"refused {sum(refused.values())} invalid parameter sets: {dict(refused.most_common())}", file=sys.stderr)
    assert sum(refused.values()) >= 1000
    assert {
        "dataset",
        "arch",
        "methods",
        "sparsities",
        "seeds",
        "device",
        "parameter name",
        "parameters",
        "learning_rate",
        "train_logit_epochs",
    } <= set(refused)
    assert any(name.startswith("subset") for name in refused)


def test_a_parameter_error_survives_pickling_with_its_fields():
    import pickle

    from pie_utils.errors import ParameterError

    error = pickle.loads(pickle.dumps(ParameterError("seeds", 0, "an integer >= 1")))
    assert (error.parameter, error.value, error.allowed) == ("seeds", 0, "an integer >= 1")
    assert str(error) == "invalid seeds=0; allowed: an integer >= 1"
