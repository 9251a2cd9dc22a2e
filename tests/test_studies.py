"""Named studies of a profile: inheritance from the main study, store paths, analysis settings."""

from pathlib import Path

import pytest

from pie_utils.config import profiles
from pie_utils.errors import ParameterError
from pie_utils.studies import analysis_parameters, load_study, project_root, study_names


def test_every_study_of_every_profile_validates():
    for profile in profiles():
        names = study_names(profile)
        assert names[0] == "run" and "analysis" not in names
        for name in names:
            load_study(profile, name)


def test_a_study_inherits_the_main_study_and_overrides_what_it_names(tmp_path, monkeypatch):
    monkeypatch.setenv("PIE_UTILS_ROOT", str(tmp_path))
    main, bert = load_study("ci", "run"), load_study("ci", "bert")
    assert bert.arch == "bert" and main.arch == "bilstm"
    assert bert.dataset == main.dataset and (bert.threads, main.threads) == (1, 2)  # bert overrides threads
    assert bert.subset.n_train == 120 and main.subset.n_train == 1000
    assert Path(bert.store) == tmp_path / "results" / "ci" / "store" == Path(main.store)
    assert load_study("ci", "bert", seeds=3).seeds == 3


def test_the_project_root_is_found_from_a_subfolder(tmp_path, monkeypatch):
    monkeypatch.delenv("PIE_UTILS_ROOT", raising=False)
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert project_root() == tmp_path.resolve()


def test_unknown_studies_and_bad_analysis_settings_are_refused():
    with pytest.raises(ParameterError, match="study"):
        load_study("ci", "analysis")
    with pytest.raises(ParameterError, match="profile"):
        load_study("nightly")
    assert analysis_parameters("ci")["n_resamples"] == 200
    assert analysis_parameters("ci", n_resamples=None, alpha=0.01) == {**analysis_parameters("ci"), "alpha": 0.01}
    with pytest.raises(ParameterError, match="alpha"):
        analysis_parameters("ci", alpha=1.5)
    with pytest.raises(ParameterError, match="n_bins"):
        analysis_parameters("ci", n_bins=0)
    with pytest.raises(ParameterError, match="analysis parameter"):
        analysis_parameters("ci", bins=20)
    assert analysis_parameters("ci", group_retrains=0)["group_retrains"] == 0  # 0: leave-group-out not run
    with pytest.raises(ParameterError, match="loo_points.*>= 1"):
        analysis_parameters("ci", loo_points=0)
    with pytest.raises(ParameterError, match="group_retrains.*>= 0"):
        analysis_parameters("ci", group_retrains=-1)


def test_seed_halves_split_positions_with_the_extra_seed_in_half_a():
    from pie_utils.studies import TrainedStudy

    halves = TrainedStudy(load_study("ci", seeds=5, first_seed=3), prepared=None, table=None).seed_halves()
    assert [h.tolist() for h in halves] == [[0, 1, 2], [3, 4]]  # positions on the seed axis, not seed numbers
