"""The one validation gate shared by the command line and the notebooks."""

import pytest

from pie_utils.config import (
    SubsetSpec,
    check_subset_fits,
    hyperparameters,
    profile_parameters,
    profiles,
    validate_study,
)
from pie_utils.errors import ParameterError

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


@pytest.mark.parametrize("change, parameter, allowed", [
    ({"dataset": "imdbb"}, "dataset", "rotten-tomatoes"),
    ({"arch": "gpt"}, "arch", "bilstm"),
    ({"methods": ["IMP-XX"]}, "methods", "IMP-FT"),
    ({"sparsities": [1.0]}, "sparsities", "[0, 1)"),
    ({"sparsities": [-0.1]}, "sparsities", "[0, 1)"),
    ({"seeds": 0}, "seeds", "integer in 1"),
    ({"seeds": 2.5}, "seeds", "integer in 1"),
    ({"device": "tpu"}, "device", "cuda"),
    ({"subset": {"n_train": 0}}, "subset.n_train", ">= 1"),
    ({"subset": {"train": 10}}, "subset", "n_train"),
    ({"dataset": "local"}, "data_path", "CSV"),
    ({"learning_rate": float("nan")}, "learning_rate", "finite"),
    ({"train_logit_epochs": [99]}, "train_logit_epochs", "epochs in 1.."),
    ({"precision": "fp8"}, "precision", "bf16"),
    ({"colour": "red"}, "parameter name", "dataset"),
])
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


@pytest.mark.parametrize("name", ["ci", "default", "extended", "full"])
def test_every_profile_validates(name):
    assert name in profiles()
    study = validate_study(profile_parameters(name))
    assert study.profile == name


def test_unknown_profile_is_refused():
    with pytest.raises(ParameterError, match="profile"):
        profile_parameters("fast")
