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
# # BERT vs BiLSTM: which architecture is more prone to PIEs?
#
# The paper finds BERT more prone to PIEs than a BiLSTM. A larger pruning effect in one
# architecture can come from pruning, or only from that architecture losing more accuracy: any
# weakened model disagrees more with its peers. So each architecture's effect is measured over
# its own *accuracy-matched* control (a dense model of the same seed, taken at the epoch of its
# training whose accuracy matches the pruned population's), both trained to their validation
# plateau on the same data, splits and seeds.
#
# Both studies (`bert` and `bilstm_pair` in the profile) use the same Rotten Tomatoes subset and
# prune with MP-AI, which trains as long as the dense run, so extra training is no confound here.
#
# **Verdict at this build's scale:** {glue:text}`verdict`. The sections below show how it was reached.
#
# ```{glue:figure} key_figure
# ```
#
# *Run time on 2 CPU cores: under 10 s from the published store (measured in a `make book`
# build, which trains nothing); with `profile = "default"` it trains that laptop-scale study
# first, about 18 minutes from an empty store.*

# %% tags=["parameters"]
from typing import Optional  # papermill lists a parameter by its annotation, and reads no "X | None"

profile: str = "published"  # ci | default | published | full (pie_utils/profiles.toml)
dataset: Optional[str] = None  # a dataset name or a CSV/Parquet/JSONL file, read whole; None: the profile's
data_path: Optional[str] = None  # a local copy of a hub dataset; None: none
seeds: Optional[int] = None  # seeds of every population; None: the profile's
alpha: Optional[float] = None  # error rate of the verdict; None: the profile's analysis value

# %% tags=["hide-input"]
from pie_utils.chapter_inputs import chapter_inputs

populations = chapter_inputs(globals(), claims=[])  # first: refuses a parameter the cell lacks

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.chapters.architectures import architecture_effect
from pie_utils.claims import claim, describe
from pie_utils.effects import in_words
from pie_utils.scales import beside_default
from pie_utils.studies import analysis_parameters

settings = analysis_parameters(profile, alpha=alpha)
plots.use_style()
bert, bilstm = populations.other("bert"), populations.other("bilstm_pair")
prone = claim("bert_vs_bilstm")
cell = (bert.study.methods[0], bert.study.sparsities[0])

# %% tags=["remove-input"]
Markdown(populations.statement())

# %%
Markdown(describe(prone))

# %%
effect, per_arch = architecture_effect(prone, bert, bilstm, *cell, settings["alpha"])
per_arch.style.format(
    {c: "{:.3f}" for c in per_arch.columns if "accuracy" in c} | {c: "{:+.3f}" for c in ("excess", "low", "high")}
)

# %% [markdown]
# Per architecture: mean test accuracy of the dense and pruned populations, the epoch of dense
# training whose accuracy matches the pruned one's, and the excess disagreement of the pruned
# models over that control (95 % interval). The claim is judged on the difference, seed by seed:

# %%
effect.style.format(
    {c: "{:+.3f}" for c in ("estimate", "low", "high", "sd")} | {"power": "{:.2f}", "p_value": "{:.3f}"}
)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(6, 2.2))
plots.verdict_forest(
    ax, per_arch.rename(columns={"excess": "estimate"}).assign(verdict="estimate per architecture"), "arch", prone.delta
)
ax.set_xlabel(f"excess disagreement over the accuracy-matched control ({cell[0]} at {cell[1]:.0%})")
fig.tight_layout()
glue("key_figure", fig, display=False)  # the figure the page opens with
plt.show()

# %% [markdown]
# ## Verdict

# %%
row = effect.iloc[0]
glue("verdict", row.verdict, display=False)
glue("numbers", in_words(row), display=False)
glue("cell", f"{cell[0]} at {cell[1]:.0%}", display=False)
glue("seeds", int(row.seeds), display=False)
print(row.verdict)

# %% [markdown]
# **BERT is more prone to PIEs than a BiLSTM: {glue:text}`verdict`** ({glue:text}`cell`,
# {glue:text}`seeds` seeds each). MiniLM's excess over its accuracy-matched control minus the
# BiLSTM's: {glue:text}`numbers`. MiniLM is a 6-layer distilled model, not `bert-base-uncased`;
# the `full` profile runs the paper's BERT where a hub is reachable.

# %% [markdown]
# ## At both scales
#
# This build's verdicts above those of the laptop scale (`default`), which ship with the book
# (`book/data/verdicts_default.csv`): what a re-run on a laptop should give.

# %%
beside_default(profile, {"bert_vs_bilstm": row}).style.format(precision=3, na_rep="")
