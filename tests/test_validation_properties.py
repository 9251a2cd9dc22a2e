"""Property-based: every generated invalid parameter set is refused by the one validation gate,
naming the parameter and what is allowed, before anything is read or written."""

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pie_utils.config import validate_study
from pie_utils.data import DATASETS
from pie_utils.errors import ParameterError
from pie_utils.pruning import METHODS

VALID = {"dataset": "rotten-tomatoes", "arch": "bilstm", "methods": ["IMP-FT"], "sparsities": [0.9], "seeds": 3}

junk = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
names = st.text(min_size=1, max_size=12)
bad_sparsity = st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0), st.just(math.nan), st.booleans(),
                         st.text(max_size=4))
bad_count = st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=3), st.booleans(), st.none())

# (field, strategy of invalid values, the parameter name the error must carry)
INVALID = [
    ("dataset", st.one_of(names.filter(lambda n: n not in DATASETS), junk), "dataset"),
    ("arch", st.one_of(names.filter(lambda n: n not in ("bert", "bilstm")), junk), "arch"),
    ("methods", st.lists(names.filter(lambda n: n not in METHODS and n != "dense"), min_size=1, max_size=3), "methods"),
    ("sparsities", st.lists(bad_sparsity, min_size=1, max_size=3), "sparsities"),
    ("seeds", bad_count, "seeds"),
    ("epochs", bad_count, "epochs"),
    ("batch_size", bad_count, "batch_size"),
    ("learning_rate", st.one_of(st.floats(max_value=0), st.just(math.inf), st.just(math.nan), st.text(max_size=3)),
     "learning_rate"),
    ("device", st.one_of(names.filter(lambda n: n not in ("auto", "cpu", "cuda", "mps") and not
                                       (n.startswith("cuda:") and n[5:].isdigit())), junk.filter(lambda v: v is not None)),
     "device"),
    ("precision", st.one_of(names.filter(lambda n: n not in ("fp32", "bf16")), junk), "precision"),
    ("scope", st.one_of(names.filter(lambda n: n not in ("layer", "global")), junk), "scope"),
    ("subset", st.fixed_dictionaries({"n_train": bad_count.filter(lambda v: v is not None)}), "subset.n_train"),
    ("subset", st.fixed_dictionaries({"seed": st.integers(max_value=-1)}), "subset.seed"),
]


@st.composite
def invalid_parameters(draw):
    index = draw(st.integers(0, len(INVALID) - 1))
    field, values, parameter = INVALID[index]
    return {**VALID, field: draw(values)}, parameter


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(case=invalid_parameters())
def test_invalid_parameter_sets_are_refused_naming_the_parameter(case, tmp_path_factory):
    parameters, parameter = case
    store = tmp_path_factory.getbasetemp() / "never-written"
    try:
        validate_study({**parameters, "store": str(store)})
    except ParameterError as refused:
        assert refused.parameter == parameter, (parameters, refused)
        assert "allowed:" in str(refused) and parameter in str(refused)
    else:
        raise AssertionError(f"accepted invalid parameters {parameters}")
    assert not store.exists()


@settings(max_examples=200, deadline=None)
@given(extra=names.filter(lambda n: n not in validate_study(VALID).to_dict() and n not in
                          validate_study(VALID).training.__dataclass_fields__))
def test_unknown_parameter_names_are_refused(extra):
    try:
        validate_study({**VALID, extra: 1})
    except ParameterError as refused:
        assert refused.parameter == "parameter name" and repr(extra) in str(refused)
    else:
        raise AssertionError(f"accepted unknown parameter {extra!r}")
