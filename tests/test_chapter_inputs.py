"""A chapter's parameters: typed for papermill, unknown ones refused before anything runs, new
data taken through the CLI's gate, and controls that stay paired with a moved main population.

The last two tests execute chapter 8 through papermill: on a tiny CSV of real snippets (it trains
its populations into a temporary store) and with a misspelt parameter (refused, nothing trained).
"""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import papermill
import pytest

from pie_utils.chapter_inputs import READ_PARAMETERS, chapter_inputs, refuse_unknown
from pie_utils.config import profile_parameters
from pie_utils.data import load_dataset
from pie_utils.errors import NotApplicableError, ParameterError
from pie_utils.human import RATED_DATASETS
from pie_utils.studies import ROOT_ENV, load_study

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTERS = sorted(path for path in NOTEBOOKS.glob("[01][0-9]_*.py") if not path.stem.startswith("00"))
# chapter 3 compares the grids of two fixed architectures; chapter 9's claim is about its in/out pair
NOT_DECLARED = {
    "03_bert_vs_bilstm": {"study", "arch", "methods", "sparsities"},
    "09_out_of_distribution": {"dataset", "data_path"},
}


def _namespace(**values) -> dict:
    """What a notebook's globals hold after its parameters cell (annotated) and papermill's
    injected cell (plain assignments, ``injected``)."""
    declared = {"profile": "ci", "study": "run", "dataset": None, "data_path": None, "arch": None}
    declared |= {"methods": None, "sparsities": None, "seeds": None}
    injected = values.pop("injected", {})
    return {"__annotations__": dict.fromkeys(declared, object), "In": [], "Out": {}} | declared | values | injected


def test_a_name_the_parameters_cell_does_not_annotate_is_refused_with_the_declared_ones():
    with pytest.raises(ParameterError) as refused:
        refuse_unknown(_namespace(injected={"datset": "snli"}))
    assert refused.value.value == "datset" and "dataset" in refused.value.allowed and "seeds" in refused.value.allowed
    # IPython's history, private names and imported functions are not parameters
    refuse_unknown(_namespace(_i1="profile = 'ci'", chapter_inputs=chapter_inputs))


def test_no_override_reads_the_profiles_own_studies():
    inputs = chapter_inputs(_namespace(), claims=["seed_stability"])
    assert inputs.changed == {} and inputs.data == {} and inputs.grid == {}
    assert load_study("ci", inputs.study, **inputs.data, **inputs.grid) == load_study("ci")
    assert inputs._control("seed_noise") == {}


def test_a_chapter_given_a_dataset_it_cannot_analyse_says_so_before_loading_anything_else():
    # chapter 7's human ratings are of Rotten Tomatoes snippets: Reuters R8 has none to match
    with pytest.raises(
        NotApplicableError, match="analyses rotten-tomatoes only .*reads reuters-r8, so the chapter is skipped"
    ):
        chapter_inputs(_namespace(dataset="reuters-r8"), claims=["human_disagreement"], datasets=RATED_DATASETS)
    assert chapter_inputs(_namespace(), claims=["human_disagreement"], datasets=RATED_DATASETS).study == "run"


@pytest.mark.parametrize(
    "values, parameter",
    [
        ({"study": "runs"}, "study"),
        ({"seeds": 0}, "seeds"),
        ({"methods": ["IMP-XX"]}, "methods"),
        ({"arch": "gpt"}, "arch"),
        ({"methods": ["MP-AI"]}, "methods, sparsities"),  # drops IMP-FT at 90 %, the verdict's cell
    ],
)
def test_a_bad_value_is_refused_by_the_studys_gate_before_anything_trains(values, parameter, tmp_path):
    with pytest.raises(ParameterError) as refused:
        chapter_inputs(_namespace(**values), claims=["seed_stability"])
    assert refused.value.parameter == parameter


def test_a_missing_file_is_refused_with_the_parameters_that_read_one(tmp_path):
    missing = tmp_path / "snipets.csv"
    with pytest.raises(ParameterError) as refused:
        chapter_inputs(_namespace(dataset=str(missing)))
    assert f"dataset='local', data_path='{missing}'" in refused.value.allowed


def test_a_file_as_the_dataset_is_read_whole_in_every_study_without_the_transfer(tmp_path, snippets_csv):
    snippets = snippets_csv(tmp_path / "snippets.csv", per_class=5)
    inputs = chapter_inputs(_namespace(dataset=str(snippets), seeds=3))
    assert inputs.data == {"dataset": "local", "data_path": str(snippets), "seeds": 3, "subset": {}, "transfer": None}
    for kind in ("seed_noise", "extra_training"):
        assert inputs._control(kind) == inputs.data
    assert "`dataset='local'`" in inputs.statement() and "subset" not in inputs.statement()


def test_controls_of_a_chosen_study_take_its_configuration_and_scale_the_extra_training():
    """Chosen `bilstm_pair` (600 snippets, E = 10, 4 seeds in `default`): seed noise is that
    configuration dense with noise stream 1, the extra-training control 4E = 40 epochs of it."""
    inputs = chapter_inputs(_namespace(profile="default", study="bilstm_pair"))
    pair = profile_parameters("default", "bilstm_pair")
    for kind, name in (("seed_noise", "seed_noise"), ("extra_training", "dense_long")):
        control = load_study("default", name, **inputs._control(kind))
        assert (control.subset, control.seeds) == (load_study("default", "bilstm_pair").subset, pair["seeds"])
        assert (control.methods, control.sparsities) == ((), ())
    assert load_study("default", "seed_noise", **inputs._control("seed_noise")).noise_stream == 1
    assert load_study("default", "dense_long", **inputs._control("extra_training")).training.epochs == 40


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_every_chapter_parameter_has_a_type_papermill_lists(path, tmp_path):
    parameters = papermill.inspect_notebook(_ipynb(path, tmp_path))
    assert all(p["inferred_type_name"] != "None" for p in parameters.values()), parameters
    expected = set(READ_PARAMETERS) - NOT_DECLARED.get(path.stem, set())
    assert expected <= set(parameters), expected - set(parameters)


def test_a_chapter_runs_on_a_local_csv_and_refuses_a_misspelt_parameter(tmp_path, monkeypatch, snippets_csv):
    """Chapter 8 on 100 real snippets per class, 4 seeds of dense and IMP-FT 90 %: it trains
    them into a store under a temporary project root and says what was changed."""
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = _ipynb(NOTEBOOKS / "08_seed_stability.py", tmp_path)
    with pytest.raises(papermill.PapermillExecutionError) as refused:
        papermill.execute_notebook(
            notebook, str(tmp_path / "bad.ipynb"), parameters={"profile": "ci", "datset": "x"}, progress_bar=False
        )
    assert refused.value.ename == "ParameterError" and "datset" in refused.value.evalue
    assert "dataset" in refused.value.evalue and not (tmp_path / "results").exists()

    snippets = snippets_csv(tmp_path / "snippets.csv", per_class=100)
    chosen = {"dataset": str(snippets), "seeds": 4, "methods": ["IMP-FT"], "sparsities": [0.9]}
    papermill.execute_notebook(
        notebook, str(tmp_path / "out.ipynb"), parameters={"profile": "ci", **chosen}, progress_bar=False
    )
    text = (tmp_path / "out.ipynb").read_text()
    assert "Changed from profile `ci`" in text and "`seeds=4`" in text
    metas = [json.loads(p.read_text()) for p in (tmp_path / "results" / "ci" / "store" / "runs").glob("*/meta.json")]
    assert sorted((m["spec"]["method"], m["spec"]["seed"]) for m in metas) == sorted(
        (method, seed) for method in ("dense", "IMP-FT") for seed in range(4)
    )
    local = load_dataset("local", path=str(snippets))
    assert {m["spec"]["dataset"]["fingerprint"] for m in metas} == {local.fingerprint()}


def _ipynb(path, folder):
    target = folder / f"{path.stem}.ipynb"
    jupytext.write(jupytext.read(path), target)
    return str(target)
