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
# # Influence: do PIEs gather among the most influential training points?
#
# The paper finds that PIEs hold many of the training points with the largest influence on
# generalisation, as ranked by EL2N scores (Paul et al., 2021). High-EL2N points are the ones
# the models are least sure of early in training, and any weakened or differently trained model
# changes its mind there first. So the question is whether *pruning* concentrates its
# disagreement on the top EL2N decile more than seed noise, extra training and an equally
# accurate, less trained dense model do.
#
# **No model grades its own selection.** For seed *s*, EL2N comes from the dense models without
# *s* (after `el2n_epoch` epochs), and the disagreement of model *s* is counted against the modal
# label of the dense models without *s*. EL2N is a proxy for influence, not a measurement of it:
# chapter 6 checks it against leave-one-out retraining.
#
# **Verdict at this build's scale:** {glue:text}`verdict`. The sections below show how it was reached.
#
# ```{glue:figure} key_figure
# ```
#
# *Run time on 2 CPU cores: 173 s from the published store (measured in a `make book`
# build, which trains nothing); with `profile = "default"` it trains that laptop-scale study
# first, about 18 minutes from an empty store.*

# %% tags=["parameters"]
from typing import Optional  # papermill lists a parameter by its annotation, and reads no "X | None"

profile: str = "published"  # ci | default | published | full (pie_utils/profiles.toml)
study: str = "run"  # the study read as the main population (python -m pie_utils profiles)
dataset: Optional[str] = None  # a dataset name or a CSV/Parquet/JSONL file, read whole; None: the profile's
data_path: Optional[str] = None  # a local copy of a hub dataset; None: none
arch: Optional[str] = None  # bilstm | bert; None: the profile's
methods: Optional[list[str]] = None  # pruning methods of the main population; None: the profile's
sparsities: Optional[list[float]] = None  # its sparsities; None: the profile's
seeds: Optional[int] = None  # seeds of every population; None: the profile's
alpha: Optional[float] = None  # error rate of each verdict; None: the profile's analysis value
el2n_epoch: Optional[int] = None  # epoch whose training-split logits give EL2N; None: the profile's value
n_bins: Optional[int] = None  # EL2N percentile bins of the per-bin view; None: the profile's value

# %% tags=["hide-input"]
from pie_utils.chapter_inputs import chapter_inputs

populations = chapter_inputs(globals(), claims=["influence"])  # first: refuses a parameter the cell lacks

# %% tags=["hide-input"]
from functools import partial

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.chapters.effectiveness import effect_of, every_cell
from pie_utils.chapters.influence import bins_of, influence_inputs
from pie_utils.claims import claim, describe
from pie_utils.effects import in_words
from pie_utils.scales import beside_default
from pie_utils.studies import analysis_parameters

settings = analysis_parameters(profile, alpha=alpha, el2n_epoch=el2n_epoch, n_bins=n_bins)
plots.use_style()
main = populations.main()
controls = populations.controls(main)
influence = claim("influence")
primary = (influence.primary_method, influence.primary_sparsity)
inputs = partial(influence_inputs, el2n_epoch=settings["el2n_epoch"])
FORMATS = {c: "{:+.3f}" for c in ("estimate", "low", "high", "sd")} | {"power": "{:.2f}", "p_value": "{:.3f}"}

# %% tags=["remove-input"]
Markdown(populations.statement())

# %%
Markdown(describe(influence))

# %%
primary_table = effect_of(influence, inputs(influence, main, controls, *primary), settings["alpha"])
primary_table.style.format(FORMATS)

# %% [markdown]
# Every cell against the control that decides it (intervals simultaneous over the secondary cells):

# %%
cells = every_cell(influence, main, controls, inputs, settings["alpha"])
cells.style.format(FORMATS | {"sparsity": "{:.0%}"})

# %% [markdown]
# ## The paper's view: loss ratio by EL2N bin
#
# Per seed *s*, the training points are ranked into bins by the EL2N of the other seeds; in each
# bin, the mean loss of pruned *s* over that of dense *s*; the line is the mean over seeds with
# its 95 % interval. A ratio that rises with EL2N is what the paper reports; the controls above
# say whether pruning adds to what weakening alone would do.

# %%
bins = pd.concat([bins_of(main, m, s, settings["el2n_epoch"], settings["n_bins"]) for m, s in main.study.cells])

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3.8))
palette = plots.method_palette(main.study.methods)
for (method, sparsity), rows in bins.groupby(["method", "sparsity"], sort=False):
    plots.interval_points(
        ax,
        rows.bin,
        rows.loss_ratio,
        rows.low,
        rows.high,
        color=palette[method],
        line=True,
        filled=sparsity == max(main.study.sparsities),
        label=f"{method} {sparsity:.0%}",
    )
ax.axhline(1.0, color="black", linewidth=0.8)
ax.set_xlabel(f"EL2N bin (1 = lowest, {settings['n_bins']} = highest)")
ax.set_xticks(range(1, settings["n_bins"] + 1, max(1, settings["n_bins"] // 10)))
ax.set_ylabel("pruned / dense loss (paired by seed)")
ax.legend(fontsize=8)
fig.tight_layout()
glue("key_figure", fig, display=False)  # the figure the page opens with
plt.show()

# %% [markdown]
# ## Verdict

# %%
row = primary_table.iloc[-1]
glue("verdict", row.verdict, display=False)
glue("numbers", in_words(row), display=False)
glue("cell", f"{primary[0]} at {primary[1]:.0%}", display=False)
glue("deciding", row.decided_by.replace("_", " "), display=False)
glue("seeds", int(row.seeds), display=False)
print(row.verdict)

# %% [markdown]
# **PIEs hold many of the most influential training points: {glue:text}`verdict`**
# ({glue:text}`cell`, {glue:text}`seeds` seeds). The disagreement of pruned models on the top EL2N
# decile, beyond the control that decides it ({glue:text}`deciding`), as a share of those points:
# {glue:text}`numbers`.

# %% [markdown]
# ## At both scales
#
# This build's verdicts above those of the laptop scale (`default`), which ship with the book
# (`book/data/verdicts_default.csv`): what a re-run on a laptop should give.

# %%
beside_default(profile, {"influence": row}).style.format(precision=3, na_rep="")
