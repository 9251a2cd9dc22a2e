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
# # What changes inside? Token attributions of dense and pruned models
#
# **Why it matters.** The paper describes PIEs from the outside: which points they are and how
# hard they look. It does not ask what a pruned model does differently on them. If pruning
# changes a model's answer on a PIE, does it also change which words the answer rests on, and
# more than on the points where the answer stays the same?
#
# **Our question.** Take a dense BiLSTM and the pruned model of the same seed (same
# initialisation and data order) and attribute the gold class's logit margin to each token. Do
# the attributions move more on PIEs than on other test points, *beyond* what extra training
# alone moves them (dense *s* trained 4E epochs against dense *s*)?
#
# **How.** Integrated gradients on the embedding layer (captum's `LayerIntegratedGradients`
# {cite}`kokhlikyan2020captum`): from a baseline that replaces every word by the padding token
# (whose embedding is zero) to the input, in `attribution_steps` steps. A token's attribution
# is its share of F(input) − F(baseline); the shares add up to that difference up to captum's
# *convergence delta*, which we report. **Target: the gold class's margin** (its logit minus the
# mean logit, half the margin over the other class here), for every model: one fixed output
# explained by all, chosen by none, and blind to a shift common to both logits, which changes
# no prediction. With each model's predicted class the
# target would switch on most PIEs (they are the points where the predictions differ), which
# would make attributions move on PIEs by construction.
#
# **Which models.** The seeds are split into halves (as in chapter 5): PIEs are selected on half
# A; the attributed models are the first `attribution_seeds` of half B, which took no part in
# the selection. Every BiLSTM run keeps its trained weights and masks, and `TrainedStudy.model`
# loads them (the test suite checks that a loaded model gives its run's stored logits exactly).
# Integrated gradients cost seconds per model, so we attribute two cells rather than all:
# IMP-FT, the paper's iterative method (the register's primary cell), and MP-AI, pruning at
# initialisation, both at 90 % sparsity.
#
# **Which points.** Every test PIE of the two cells, plus `sample_points` test points drawn
# at random; the non-PIEs of a cell are those of the random draw, a uniform sample of them.
#
# **Verdict at this build's scale:** {glue:text}`verdict`. The sections below show how it was reached.
#
# ```{glue:figure} key_figure
# ```
#
# *Run time on 2 CPU cores: 201 s from the published store (measured in a `make book`
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
n_resamples: Optional[int] = None  # bootstrap resamples; None: the profile's analysis value
alpha: Optional[float] = None  # error rate of the verdict; None: the profile's analysis value
attribution_seeds: Optional[int] = None  # attributed seeds of half B; None: the profile's analysis value
attribution_steps: Optional[int] = None  # integration steps; None: the profile's analysis value
cell_methods: list[str] = [
    "IMP-FT",
    "MP-AI",
]  # attributed at the primary sparsity (a published store keeps these models only)
sample_points: int = 300  # test points drawn at random for the comparison (every PIE is added)
shown_pies: int = 4  # PIE texts in the example figure
shown_others: int = 2  # other texts in the example figure

# %% tags=["hide-input"]
from pie_utils.chapter_inputs import chapter_inputs

populations = chapter_inputs(globals(), claims=["attribution_shift"])  # first: refuses a parameter the cell lacks

# %%

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.chapters.attributions import (
    CONVERGED,
    attribute_models,
    attributed_points,
    attribution_effect,
    attribution_shifts,
    convergence_table,
    example_panels,
    shift_frame,
    shown_examples,
)
from pie_utils.claims import claim, describe
from pie_utils.effects import in_words
from pie_utils.scales import beside_default
from pie_utils.studies import analysis_parameters

settings = analysis_parameters(
    profile,
    n_resamples=n_resamples,
    alpha=alpha,
    attribution_seeds=attribution_seeds,
    attribution_steps=attribution_steps,
)
plots.use_style()
main = populations.main()
controls = populations.controls(main)
shift_claim = claim("attribution_shift")
assert main.study.arch == "bilstm", "the attributions are taken on the BiLSTM's word embeddings"
gold = main.labels()
half_a, half_b = main.seed_halves()
assert settings["attribution_seeds"] <= len(half_b), f"half B has {len(half_b)} seeds, fewer than attribution_seeds"
positions = half_b[: settings["attribution_seeds"]]  # positions on the seed axis of the population arrays
sparsity = shift_claim.primary_sparsity
cells = [method for method in cell_methods if (method, sparsity) in main.study.cells]
assert shift_claim.primary_method in cells, (
    f"the primary cell {shift_claim.primary_method} at {sparsity:.0%} is not attributed"
)
points, in_sample, pies = attributed_points(main, cells, sparsity, half_a, sample_points)
print(
    f"{len(points)} of {len(gold)} test points attributed ({int(in_sample.sum())} drawn at random); "
    f"PIEs selected on seeds {half_a.tolist()}: "
    + ", ".join(f"{m} {sparsity:.0%} {int(pies[m].sum())}" for m in cells)
    + f"; attributed seeds {positions.tolist()}, {settings['attribution_steps']} steps"
)

# %%
attributions, seconds = attribute_models(
    main, controls.extra_training, positions, cells, sparsity, points, settings["attribution_steps"]
)
lengths = main.prepared.encoded["test"].take(points).lengths
for result in attributions.values():
    assert result.values.shape == (len(points), lengths.max()) and np.isfinite(result.values).all()
    assert not result.values[np.arange(lengths.max())[None, :] >= lengths[:, None]].any(), "attribution on padding"
print(f"{len(attributions)} models: {seconds['rebuild']:.0f} s rebuilding, {seconds['attribute']:.0f} s attributing")

# %% [markdown]
# ## Does the integration converge?
#
# For every model: the median and 95th percentile over points of |δ|, captum's convergence
# delta (the sum of a point's attributions minus F(input) − F(baseline)), beside the median
# |F(input) − F(baseline)|. We call the integration converged when the median |δ| is at most
# 5 % of the median |F(input) − F(baseline)| for every model.

# %%
convergence = convergence_table(attributions, main.study.seed_range)
assert (convergence.relative <= CONVERGED).all(), "integrated gradients did not converge: raise attribution_steps"
convergence.style.format(
    {"median_abs_delta": "{:.2g}", "p95_abs_delta": "{:.2g}", "median_abs_change": "{:.3g}", "relative": "{:.1%}"}
)

# %% [markdown]
# ## The shift
#
# For one test point and one seed, the *attribution shift* is 1 − the cosine similarity of the
# dense and the pruned model's per-token attribution vectors: 0 when the pruned model spreads
# its attribution over the words in the same proportions (whatever its scale), 1 when the two
# vectors are orthogonal, 2 when every word's sign flips. A point's shift is its mean over the
# attributed seeds. The same measure between dense *s* and dense *s* trained 4E epochs is the
# control below.

# %%
shifts, control_shift = attribution_shifts(attributions, positions, cells)  # [seed, point] each
for shift in shifts.values():
    assert shift.shape == (len(positions), len(points)) and np.nanmin(shift) >= 0 and np.nanmax(shift) <= 2
print(
    "points with no attribution direction (a zero vector; left out):",
    {m: int(np.isnan(s.mean(axis=0)).sum()) for m, s in shifts.items()},
)

# %% [markdown]
# ## A few texts
#
# Each block is one test text: its words, coloured by their attribution to the gold class
# under the dense model and the two pruned models of the first attributed seed (red pushes
# towards the gold class, blue away). Each row is scaled by its own largest |attribution|, as
# the shift below ignores scale. PIEs are drawn at random among those of 4–18 words, then
# non-PIEs of the random sample; the labels give each model's probability of the gold class.

# %% tags=["hide-input"]
pie_any = np.logical_or.reduce([pies[m][points] for m in cells])  # [attributed point]
rows = shown_examples(lengths, pie_any, in_sample, shown_pies, shown_others)
plots.attribution_heatmaps(
    example_panels(main, attributions, cells, sparsity, pies, shifts, points, rows, positions[0])
)
plt.show()


# %% [markdown]
# ## Do PIEs move more under pruning than under extra training?

# %%
Markdown(describe(shift_claim))

# %%
primary = shift_claim.primary_method
effect = attribution_effect(
    shift_claim,
    shifts[primary],
    control_shift,
    pies[primary][points],
    in_sample,
    settings["n_resamples"],
    settings["alpha"],
)
effect.style.format(
    {c: "{:+.3f}" for c in ("estimate", "low", "high", "sd")} | {"power": "{:.2f}", "p_value": "{:.3f}"}
)

# %% [markdown]
# How far attributions move, per attributed point (mean over attributed seeds), under each
# pruned model and under extra training:

# %% tags=["hide-input"]
grid = sns.catplot(
    data=shift_frame(shifts, control_shift, pies, points, in_sample, sparsity),
    x="comparison",
    y="shift",
    hue="points",
    col="cell",
    kind="box",
    showfliers=False,
    hue_order=["non-PIE", "PIE"],
    palette=["#1b9e77", "#d95f02"],
    sharex=False,
    height=3.6,
    aspect=1.1,
)
for ax in grid.axes.flat:
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("")
grid.set_ylabels("attribution shift (1 − cosine)")
glue("key_figure", grid.figure, display=False)  # the figure the page opens with
plt.show()

# %% [markdown]
# ## Verdict

# %%
row = effect.iloc[0]
glue("verdict", row.verdict, display=False)
glue("numbers", in_words(row), display=False)
glue("cell", f"{primary} at {sparsity:.0%}", display=False)
glue("seeds", len(positions), display=False)
glue("relative_delta", float(convergence.relative.max()), display=False)
glue("steps", settings["attribution_steps"], display=False)
print(row.verdict)

# %% [markdown]
# **Pruning moves the attributions of PIEs more than those of other points, beyond extra
# training: {glue:text}`verdict`** ({glue:text}`cell`, {glue:text}`seeds` attributed seeds). How
# much more PIEs move than the sampled non-PIEs under pruning, minus the same under extra
# training (1 − cosine): {glue:text}`numbers`. With {glue:text}`steps` integration steps the
# median convergence delta was at most {glue:text}`relative_delta:.1%` of the output difference
# it decomposes. Attributions explain the gold class's margin from an all-padding baseline;
# another baseline could rank the points differently.

# %% [markdown]
# ## At both scales
#
# This build's verdicts above those of the laptop scale (`default`), which ship with the book
# (`book/data/verdicts_default.csv`): what a re-run on a laptop should give.

# %%
beside_default(profile, {"attribution_shift": row}).style.format(precision=3, na_rep="")
