"""Epochs per seed counted from a study's grid, and the Reproduce page's GPU estimate built on them."""

from pathlib import Path

from pie_utils.budget import EpochCount, epochs_per_seed
from pie_utils.studies import load_study

REPRODUCE = Path(__file__).resolve().parent.parent / "book" / "reproduce.md"


def test_the_papers_grid_trains_91_e_per_seed_ours_and_116_e_retraining_every_dense_prefix():
    # 8 methods x 5 sparsities: 5 branch from dense with 3 rounds of E (IMP, IIBP, IRP-FT;
    # IMP, IIBP-WR), 3 prune at initialisation and train E; plus the dense run's E
    full = load_study("full", "bert")
    assert len(full.methods) == 8 and len(full.sparsities) == 5
    assert (
        epochs_per_seed(full)
        == EpochCount(ours=1 + 5 * (5 * 3 + 3), original=1 + 5 * (5 * 4 + 3))
        == EpochCount(91, 116)
    )


def test_a_small_grid_counts_each_cell_once():
    ci = load_study("ci")  # IMP-FT and MP-AI at 50 and 90 %
    assert epochs_per_seed(ci) == EpochCount(ours=1 + 2 * (3 + 1), original=1 + 2 * (4 + 1))
    assert epochs_per_seed(load_study("ci", "dense_long")) == EpochCount(1, 1)


def test_the_reproduce_page_states_the_counts_of_the_full_profile():
    count, page = epochs_per_seed(load_study("full", "bert")), REPRODUCE.read_text()
    assert f"**{count.ours} E**" in page and f"**{count.original} E**" in page
