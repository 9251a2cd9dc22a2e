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
# # Hardness: are PIEs longer and more complex?
#
# The paper finds PIEs longer and semantically more complex than the average point. Any model
# that loses accuracy loses it first on the points it found hard, so the comparison that
# isolates pruning is not PIEs against all other points but the points *pruned* model *s*
# changes against the points each control model *s* changes (seed noise, extra training, an
# equally accurate less trained dense model). Complexity is measured within length quintiles, so
# that a longer text does not count as a more complex one.
#
# The paper's hardness measures were not recovered, so we choose and describe ours below. At
# snippet length (one or two sentences) readability formulas are outside the text lengths they
# were calibrated on; word rarity is the register's primary measure of complexity.
#
# **Verdicts at this build's scale:** length {glue:text}`verdict_length`; complexity
# {glue:text}`verdict_complexity`. The sections below show how they were reached.
#
# ```{glue:figure} key_figure
# ```
#
# *Run time on 2 CPU cores: 25 s from the published store (measured in a `make book`
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

# %% tags=["hide-input"]
from pie_utils.chapter_inputs import chapter_inputs

populations = chapter_inputs(
    globals(), claims=["hardness_length", "hardness_complexity"]
)  # first: refuses a parameter the cell lacks

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.chapters.hardness import LENGTH, measure_cells
from pie_utils.claims import claim, describe
from pie_utils.effects import in_words
from pie_utils.hardness import MEASURES, TEXT_MEASURES, hardness_features
from pie_utils.scales import beside_default
from pie_utils.studies import analysis_parameters

settings = analysis_parameters(profile, alpha=alpha)
plots.use_style()
main = populations.main()
controls = populations.controls(main)
longer, complex_ = claim("hardness_length"), claim("hardness_complexity")
features = hardness_features(main.texts("test"), main.texts("train"))
FORMATS = {c: "{:+.3f}" for c in ("estimate", "low", "high", "sd")} | {"power": "{:.2f}", "p_value": "{:.3f}"}

# %% tags=["remove-input"]
Markdown(populations.statement())

# %% [markdown]
# ## The measures

# %%
pd.DataFrame(
    {
        "measure": TEXT_MEASURES,
        "what it is": [MEASURES[m].description for m in TEXT_MEASURES],
        "median on the test split": [features[m].median() for m in TEXT_MEASURES],
    }
)

# %% [markdown]
# ## Longer?

# %%
Markdown(describe(longer))

# %%
length = measure_cells(longer, main, controls, features, [LENGTH], settings["alpha"])
length.style.format(FORMATS)

# %% [markdown]
# ## More complex, at equal length?

# %%
Markdown(describe(complex_))

# %%
complexity = measure_cells(
    complex_, main, controls, features, ["word_rarity", "lexical_diversity", "readability"], settings["alpha"]
)
complexity.style.format(FORMATS)

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 2.6))
plots.verdict_forest(ax, pd.concat([length, complexity], ignore_index=True), "measure", longer.delta)
ax.set_xlabel("mean on pruned s's disagreement points minus the deciding control's (sd)")
fig.tight_layout()
glue("key_figure", fig, display=False)  # the figure the page opens with
plt.show()

# %% [markdown]
# A measure's sign follows its definition: higher word rarity and lexical diversity mean a more
# complex text, *higher* readability (Flesch Reading Ease) an easier one. Only word rarity carries
# the verdict; the others are secondary, with simultaneous intervals.

# %% [markdown]
# ## Verdicts

# %%
length_row, rarity_row = length.iloc[0], complexity.iloc[0]
glue("cell", f"{longer.primary_method} at {longer.primary_sparsity:.0%}", display=False)
glue("seeds", int(length_row.seeds), display=False)
glue("verdict_length", length_row.verdict, display=False)
glue("length_numbers", in_words(length_row), display=False)
glue("length_deciding", length_row.decided_by.replace("_", " "), display=False)
glue("verdict_complexity", rarity_row.verdict, display=False)
glue("complexity_numbers", in_words(rarity_row), display=False)
glue("complexity_deciding", rarity_row.decided_by.replace("_", " "), display=False)
print(length_row.verdict, rarity_row.verdict)

# %% [markdown]
# In {glue:text}`cell` ({glue:text}`seeds` seeds):
#
# - **PIEs are longer: {glue:text}`verdict_length`.** Mean length, in standard deviations, of the
#   points pruned models change minus those the deciding control ({glue:text}`length_deciding`)
#   changes: {glue:text}`length_numbers`.
# - **PIEs are more complex: {glue:text}`verdict_complexity`.** The same for word rarity within
#   length quintiles, against {glue:text}`complexity_deciding`: {glue:text}`complexity_numbers`.

# %% [markdown]
# ## At both scales
#
# This build's verdicts above those of the laptop scale (`default`), which ship with the book
# (`book/data/verdicts_default.csv`): what a re-run on a laptop should give.

# %%
beside_default(profile, {"hardness_length": length_row, "hardness_complexity": rarity_row}).style.format(
    precision=3, na_rep=""
)
