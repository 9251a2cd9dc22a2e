# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A PIE, worked by hand
#
# This page builds a {term}`PIE` from scratch, small enough to run in a class in under a minute on
# a laptop: five BiLSTM sentiment classifiers that differ only in their random seed (the *dense*
# {term}`population`), and the same five with 90 % of their weights removed by magnitude before
# training (the *pruned* population at {term}`sparsity` 0.9, method MP-AI, whose
# {term}`schedule` is AI). Every model votes on every test snippet; a snippet is a PIE when the
# two populations' majority votes, their {term}`modal labels <modal label>`, differ. The
# {doc}`glossary <../book/glossary>` defines the terms the chapters use.
#
# Change the parameters below and run all cells to try another method, sparsity or size.
#
# *Run time on 2 CPU cores: about 35 s, training its 10 models included.*

# %% tags=["parameters"]
profile: str = "default"  # where the runs are stored and which device trains them
method: str = "MP-AI"  # any of the paper's eight methods, e.g. "IMP-FT"
sparsity: float = 0.9
seeds: int = 5
n_train: int = 1000  # training snippets (of 10,202)
n_test: int = 300  # test snippets (of 1,275)
epochs: int = 3  # fewer and the BiLSTM predicts one class only

# %%
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from pie_utils.pies import find_pies, modal_labels, vote_counts
from pie_utils.provenance import store_statement
from pie_utils.studies import train

example = train(  # the profile's worked_example study, with this page's parameters
    profile,
    "worked_example",
    methods=[method],
    sparsities=[sparsity],
    seeds=seeds,
    epochs=epochs,
    subset={"n_train": n_train, "n_validation": 200, "n_test": n_test, "seed": 0},
    progress=False,
)
dense = example.predictions("dense", 0.0)  # [seed, example] predicted class
pruned = example.predictions(method, sparsity)
gold = example.labels()
names = example.dataset.label_names
assert dense.shape == pruned.shape == (seeds, n_test)

# %% tags=["remove-input"]
Markdown(store_statement(profile))

# %% [markdown]
# ## Each model's accuracy
#
# The usual summary: each model scored on its own, then averaged over the population.

# %%
accuracy = pd.DataFrame(
    {"dense": (dense == gold).mean(axis=1), "pruned": (pruned == gold).mean(axis=1)},
    index=pd.Index(range(seeds), name="seed"),
)
glue("dense_mean", float(accuracy.dense.mean()), display=False)
glue("pruned_mean", float(accuracy.pruned.mean()), display=False)
accuracy.style.format("{:.3f}")

# %% [markdown]
# Mean accuracy: dense {glue:text}`dense_mean:.3f`, pruned {glue:text}`pruned_mean:.2f`. The
# mean says how much the populations lose, not on which points they disagree.
#
# ## Votes, modal labels and PIEs
#
# The modal label of a population is the class most of its models predict (ties go to the
# lowest class index and are counted). A PIE is a point where the dense and the pruned modal
# labels differ; the gold label plays no part in the definition.

# %%
dense_modal = modal_labels(dense, len(names))
pruned_modal = modal_labels(pruned, len(names))
pies = find_pies(dense, pruned, len(names))
dense_votes, pruned_votes = vote_counts(dense, len(names)), vote_counts(pruned, len(names))
texts = example.texts()
table = pd.DataFrame(
    {
        "text": [t[:90] + ("…" if len(t) > 90 else "") for t in texts],
        "gold": [names[g] for g in gold],
        "dense votes": [" / ".join(f"{names[c]} {v}" for c, v in enumerate(row)) for row in dense_votes],
        "pruned votes": [" / ".join(f"{names[c]} {v}" for c, v in enumerate(row)) for row in pruned_votes],
        "PIE": pies,
    }
)
n_pies = int(pies.sum())
assert 0 <= n_pies <= n_test
glue("n_pies", n_pies, display=False)
glue("pie_share", float(pies.mean()), display=False)
glue("dense_on_pies", float((dense_modal.labels[pies] == gold[pies]).mean()) if n_pies else float("nan"), display=False)
glue(
    "pruned_on_pies", float((pruned_modal.labels[pies] == gold[pies]).mean()) if n_pies else float("nan"), display=False
)
table[table.PIE].head(8) if n_pies else table.head(8)

# %% [markdown]
# {glue:text}`n_pies` of the test snippets are PIEs ({glue:text}`pie_share:.1%`). On them the
# dense majority is right {glue:text}`dense_on_pies:.0%` of the time and the pruned majority
# {glue:text}`pruned_on_pies:.0%`. Five seeds make a noisy vote, so some of these PIEs are seed
# noise rather than pruning. Whether pruning changes more points than seed noise, extra training
# or plain weakening would, and whether those points carry the accuracy loss, is what chapters 1
# and 2 test, seed by seed, by the rules of the claims register.

# %%
counts = pd.Series(
    {"points": n_test, "PIEs": n_pies, "dense ties": dense_modal.n_ties, "pruned ties": pruned_modal.n_ties}
)
assert counts["dense ties"] <= n_test and counts["pruned ties"] <= n_test
counts.to_frame("count")

# %% [markdown]
# ## Exercises
#
# Solutions open with a click; try each first.
#
# ```{exercise}
# :label: worked-sparsity
#
# Run the page again with `sparsity = 0.5`, then with `sparsity = 0.99` (the rest unchanged).
# Before you run it, say in which direction the number of PIEs should move, and why.
# ```
#
# ```{solution} worked-sparsity
# :class: dropdown
#
# Fewer PIEs at 50 % and more at 99 %: the less a pruned model keeps, the further its predictions
# move from the dense models', so more majority votes flip. Neither count alone says that pruning
# *caused* them: five dense seeds already disagree with another five dense seeds on some points
# (seed noise), which is why chapter 2 compares every pruned population with a second dense one.
# ```
#
# ```{exercise}
# :label: worked-ties
#
# With `seeds = 4` the table can show ties. Why can five seeds not tie on this task, and what would
# you do about ties with an even number of seeds?
# ```
#
# ```{solution} worked-ties
# :class: dropdown
#
# Rotten Tomatoes has two classes, so five votes always have a strict majority; four can split
# 2–2. Either use an odd population, as the chapters do (their leave-one-out references have an
# odd number of voters), or state a tie rule and count the tied points, as chapter 2's first
# table does, since a rule chosen after seeing the result could move the PIE count.
# ```
#
# ```{exercise}
# :label: worked-random
#
# Set `method = "RP-AI"` (random pruning at initialisation) at the same 90 %. What does comparing
# it with MP-AI at equal sparsity tell you that either run alone does not?
# ```
#
# ```{solution} worked-random
# :class: dropdown
#
# Both remove the same number of weights; only the criterion differs. If random pruning yields
# more PIEs, the magnitude criterion is part of what protects the dense predictions; if they are
# alike, the amount removed, not which weights, drives the disagreement at this sparsity.
# ```
