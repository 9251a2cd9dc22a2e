"""The claims register: complete, consistent, and refusing entries it could not judge."""

import dataclasses

import pytest

from pie_utils.claims import CONTROLS, DECISION_RULES, KINDS, REGISTER, claim, register_table
from pie_utils.errors import ParameterError
from pie_utils.pruning import METHODS


def test_every_chapter_of_the_book_decides_at_least_one_claim_and_ids_are_unique():
    assert sorted({entry.chapter for entry in REGISTER}) == list(range(1, 11))
    assert len({entry.id for entry in REGISTER}) == len(REGISTER)
    assert {entry.source for entry in REGISTER} == {"paper", "book"}
    assert all(entry.source == "paper" for entry in REGISTER if entry.chapter <= 5)


def test_primary_cells_name_real_methods_and_sparsities():
    for entry in REGISTER:
        assert entry.primary_method is None or entry.primary_method in METHODS, entry.id
        assert entry.primary_sparsity is None or 0 < entry.primary_sparsity < 1, entry.id


def test_pruning_effects_on_disagreement_are_judged_against_every_control():
    for claim_id in ("pie_excess", "influence", "hardness_length", "human_disagreement"):
        assert claim(claim_id).controls == tuple(CONTROLS)


def test_the_rule_is_stated_per_kind_with_the_undecided_cases():
    assert set(DECISION_RULES) == set(KINDS)
    for entry in REGISTER:
        assert entry.rule.startswith(DECISION_RULES[entry.kind]) and "underpowered at this scale" in entry.rule


def test_the_register_table_has_one_row_per_claim_in_chapter_order():
    table = register_table()
    assert table.id.tolist() == [entry.id for entry in REGISTER]
    assert table.chapter.is_monotonic_increasing
    assert table.loc[table.id == "effectiveness", "controls"].item() == "none"


def test_an_entry_it_could_not_judge_is_refused_naming_the_field():
    entry = REGISTER[0]
    for field, value in (("kind", "bigger"), ("sign", 0), ("delta", 0.0), ("controls", ("luck",))):
        with pytest.raises(ParameterError, match=field):
            dataclasses.replace(entry, **{field: value})
    with pytest.raises(ParameterError, match="claim_id"):
        claim("no such claim")
