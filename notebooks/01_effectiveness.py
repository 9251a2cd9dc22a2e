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
# # Effectiveness: is mean accuracy kept, and does the mean hide the damage?
#
# The paper shows pruned populations whose mean accuracy stays close to the dense one at
# moderate sparsity (its effectiveness figure, 30 seeds per population) and argues that this
# mean hides a subset of points that bear the loss. This chapter judges both claims with the
# rules of the claims register, seed s of each pruned population against seed s of the dense one.
#
# **Data.** The paper used IMDB, SNLI, Reuters and AAPD with `bert-base-uncased` and GloVe 840B;
# without a hub we use the embedded Rotten Tomatoes snippets (BiLSTM on GloVe 6B 50-d, and
# MiniLM-L6 as the BERT) and Reuters R8/R52 (single-label, BiLSTM). The paper's change for the
# matching cell of its closest dataset is shown beside ours; see "Deviations from the paper".
#
# **Verdict at this build's scale:** {glue:text}`verdict` (mean accuracy kept);
# {glue:text}`verdict_joint` (kept, and the mean hides the damage). The sections below show how it was reached.
#
# ```{glue:figure} key_figure
# ```
#
# *Run time on 2 CPU cores: 26 s from the published store (measured in a `make book`
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
    globals(), claims=["effectiveness", "mean_hides"]
)  # first: refuses a parameter the cell lacks

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.chapters.effectiveness import concentration_inputs, effect_of, effectiveness_cells, paper_changes
from pie_utils.claims import claim, describe
from pie_utils.paired import intersection_verdict
from pie_utils.scales import beside_default
from pie_utils.studies import analysis_parameters, project_root, train, with_studies

settings = analysis_parameters(profile, alpha=alpha)
plots.use_style()
studies = {"run": populations.main(), "bert": populations.other("bert")} | {
    name: train(profile, name, progress=False) for name in with_studies(profile, "reuters_r8", "reuters_r52")
}
controls = populations.controls(studies["run"])
kept, hides = claim("effectiveness"), claim("mean_hides")
paper = pd.read_csv(project_root() / "book" / "data" / "paper_effectiveness.csv")

# %% tags=["remove-input"]
Markdown(populations.statement())

# %% [markdown]
# ## Is mean accuracy kept?

# %%
Markdown(describe(kept))

# %%
cells = effectiveness_cells(kept, studies, alpha=settings["alpha"])
cells["paper"] = paper_changes(cells, paper)
primary = cells[cells.primary].iloc[0]
cells.assign(sparsity=cells.sparsity.map("{:.0%}".format)).set_index(["study", "method", "sparsity"])[
    ["dataset", "arch", "dense", "pruned", "estimate", "low", "high", "paper", "power", "p_holm", "verdict"]
].style.format(
    {c: "{:+.3f}" for c in ("estimate", "low", "high", "paper")}
    | {"dense": "{:.3f}", "pruned": "{:.3f}", "power": "{:.2f}", "p_holm": "{:.3f}"}
)

# %% [markdown]
# Each row: the mean over seeds of pruned *s* minus dense *s* (test accuracy, or macro-F1 for
# multilabel data), its interval (95 % for the primary cell, Bonferroni-simultaneous for the
# others), the paper's change in the matching cell of its closest dataset (IMDB for Rotten
# Tomatoes, Reuters for R8/R52; blank where the paper has no such cell), the design's power at Δ
# and the verdict. The dotted line is −Δ.

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 0.32 * len(cells) + 1.2))
labels = cells.assign(label=cells.study + " " + cells.method + " " + cells.sparsity.map("{:.0%}".format))
plots.verdict_forest(ax, labels, "label", kept.delta, kind=kept.kind, paper=cells.paper)
ax.set_xlabel("change in mean test metric, pruned − dense (paired by seed)")
fig.tight_layout()
glue("key_figure", fig, display=False)  # the figure the page opens with
plt.show()

# %% [markdown]
# ## Does the mean hide the damage?
#
# Jointly with the first claim, in its primary cell: where mean accuracy is kept, do the PIEs
# (found without the seed that is scored) lose more than the other points, beyond what a dense
# model weakened to the same accuracy loses on its own disagreement points?

# %%
Markdown(describe(hides))

# %%
hidden = effect_of(
    hides,
    concentration_inputs(hides, studies["run"], controls, kept.primary_method, kept.primary_sparsity),
    alpha=settings["alpha"],
)
hidden.style.format(
    {c: "{:+.3f}" for c in ("estimate", "low", "high", "sd")} | {"power": "{:.2f}", "p_value": "{:.3f}"}
)

# %% [markdown]
# ## Verdicts

# %%
verdict_kept = primary.verdict
verdict_hides = hidden.verdict.iloc[-1]
joint = intersection_verdict([verdict_kept, verdict_hides], [primary.power, hidden.power.iloc[-1]])
glue("verdict", verdict_kept, display=False)
glue("verdict_joint", joint, display=False)
glue("primary_cell", f"{primary.method} at {primary.sparsity:.0%}", display=False)
glue("primary_change", float(primary.estimate), display=False)
glue("primary_low", float(primary.low), display=False)
glue("primary_high", float(primary.high), display=False)
glue("primary_power", float(primary.power), display=False)
glue("seeds", int(primary.seeds), display=False)
glue("delta", kept.delta, display=False)
glue("hides_change", float(hidden.estimate.iloc[-1]), display=False)
glue("matched_epoch", controls.accuracy_matched(float(primary.pruned)).epoch, display=False)
glue("n_cells", len(cells), display=False)
glue("n_kept", int((cells.verdict == "supported").sum()), display=False)
print(f"kept: {verdict_kept}; hides: {verdict_hides}; joint: {joint}")

# %% [markdown]
# **Mean accuracy kept ({glue:text}`primary_cell`, BiLSTM, {glue:text}`seeds` seeds):
# {glue:text}`verdict`.** The paired change is {glue:text}`primary_change:+.3f`
# [{glue:text}`primary_low:+.3f`, {glue:text}`primary_high:+.3f`] against a margin of
# −{glue:text}`delta:.2f`; the design's power at that margin is {glue:text}`primary_power:.2f`.
# {glue:text}`n_kept` of {glue:text}`n_cells` cells pass the same rule with simultaneous intervals.
#
# **The mean hides the damage (jointly with the above): {glue:text}`verdict_joint`.** Against the
# accuracy-matched control, PIEs lose {glue:text}`hides_change:+.3f` more accuracy than the other points
# (the accuracy-matched control is dense training after epoch {glue:text}`matched_epoch`).

# %% [markdown]
# ## At both scales
#
# This build's verdicts above those of the laptop scale (`default`), which ship with the book
# (`book/data/verdicts_default.csv`): what a re-run on a laptop should give.

# %%
beside_default(profile, {"effectiveness": primary, "mean_hides": hidden.iloc[-1]}).style.format(precision=3, na_rep="")
