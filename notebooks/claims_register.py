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
# # The claims register
#
# Every chapter decides one or two claims, each by a rule fixed before the runs that judge it were
# trained (`pie_utils/claims.py`; the repository's history shows when). This page is that
# register, read from the library: the chapters show the same entries and compute their verdicts
# from them, and no sentence of the book retypes a number of it.
#
# **Inference over whole seeds.** Seed *s* of every population shares its initial weights and
# data order with dense seed *s*, so a pruning effect is a per-seed contrast: model *s* against
# the modal label of the dense models *without* seed *s* (an odd number of voters, so two classes
# cannot tie), minus the same for a control model *s*. The mean contrast gets a Student-t
# interval and an exact sign-flip p-value over whole seeds; an effect is claimed only when it
# exceeds **every** control (seed noise, extra training, an equally accurate less trained dense
# model). With 5 seeds or fewer the sign-flip test cannot reach 5 % at all, and such a design
# decides nothing.
#
# **Verdicts.** *Supported* and *not supported* as the rule of each claim's kind says;
# *inconclusive at this scale* when the interval decides neither way although the design had at
# least 80 % power to detect Δ; *underpowered at this scale* when it had less. Power is always
# prospective, at Δ, never at the observed effect.
#
# *Run time on 2 CPU cores: 11 s from the published store (measured in a `make book`
# build, which trains nothing); with `profile = "default"` it trains that laptop-scale study
# first, about 18 minutes from an empty store.*

# %% tags=["parameters"]
profile: str = "published"  # ci | default | published | full; the register is the same for all
a_a_subsets: int = 200  # random seed subsets of the A/A check on this profile's runs

# %% tags=["hide-input"]
from IPython.display import Markdown

from pie_utils.chapters.calibration import a_a_table
from pie_utils.claims import CONTROLS, DECISION_RULES, UNDECIDED_RULE, register_table
from pie_utils.studies import analysis_parameters, train

# %%
table = register_table()
table[["chapter", "id", "source", "claim", "kind", "delta", "unit", "reference", "controls"]]

# %% [markdown]
# ## The rules, by kind

# %%
Markdown("\n".join(f"- **{kind}**: {rule}; {UNDECIDED_RULE}." for kind, rule in DECISION_RULES.items()))

# %% [markdown]
# ## The controls

# %%
Markdown("\n".join(f"- **{name.replace('_', ' ')}**: {text}." for name, text in CONTROLS.items()))

# %% [markdown]
# ## Every entry in full

# %%
table[["id", "estimand", "primary", "test", "why_delta"]].style.hide(axis="index")

# %% [markdown]
# ## Does the test keep its error rate on real runs? (A/A)
#
# The simulation tests of the suite check the calibration on synthetic data. On real runs, the
# profile's dense models and their seed-noise retrains (the same initial weights, another data
# order and dropout) are exchangeable seed by seed, so every difference the chapters' paired
# test finds between them is a false positive. On random subsets of their seeds, it should
# reject in no more than a share α of them. The subsets overlap, so this estimates the error
# rate of a design of that size from one pair of populations; it is not a count of
# independent tests.

# %%
alpha = analysis_parameters(profile)["alpha"]
a_a_table(train(profile, progress=False), train(profile, "seed_noise", progress=False), a_a_subsets, alpha)
