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
# initialisation and data order) and attribute the logit of the gold class to each token. Do
# the attributions move more on PIEs than on other test points?
#
# **How.** Integrated gradients on the embedding layer (captum's `LayerIntegratedGradients`
# {cite}`kokhlikyan2020captum`): from a baseline that replaces every word by the padding token
# (whose embedding is zero) to the input, in `attribution_steps` steps. A token's attribution
# is its share of F(input) − F(baseline); the shares add up to that difference up to captum's
# *convergence delta*, which we report. **Target: the gold class**, for both models: it is one
# fixed output explained by both, chosen by neither. With each model's predicted class the
# target would switch on most PIEs (they are the points where the predictions differ), which
# would make attributions move on PIEs by construction.
#
# **Which models.** The seeds are split into halves (as in chapter 5): PIEs are selected on half
# A; the attributed models are the first `attribution_seeds` of half B, which took no part in
# the selection. Every BiLSTM run keeps its trained weights and masks, and `TrainedStudy.model`
# loads them (the test suite checks that a loaded model gives its run's stored logits exactly).
# Integrated gradients cost seconds per model, so we attribute two cells rather than all:
# IMP-FT, the paper's iterative method, and MP-AI, pruning at initialisation, both at the
# study's highest sparsity, where pruning removes the most weights.
#
# **Which points.** Every test PIE of the two cells, plus `sample_points` test points drawn
# at random; the non-PIEs of a cell are those of the random draw, a uniform sample of them.

# %% tags=["parameters"]
profile = "default"  # ci | default | extended | full (pie_utils/profiles.toml)
n_resamples = None  # bootstrap resamples; None: the profile's analysis value
alpha = None  # family-wise error rate; None: the profile's analysis value
attribution_seeds = None  # attributed seeds of half B; None: the profile's analysis value
attribution_steps = None  # integration steps; None: the profile's analysis value
cell_methods = ["IMP-FT", "MP-AI"]  # the pruned models attributed, each at the study's highest sparsity
sample_points = 300  # test points drawn at random for the comparison (every PIE is added)
shown_pies, shown_others = 4, 2  # texts in the example figure

# %%
import time
from itertools import combinations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from myst_nb import glue
from scipy.special import softmax

from pie_utils import plots
from pie_utils.attributions import attribution_shift, token_attributions
from pie_utils.intervals import outside_note
from pie_utils.models import word_tokenize
from pie_utils.pies import find_pies
from pie_utils.pruning import DENSE
from pie_utils.stats import (
    apply_verdicts,
    bootstrap,
    bootstrap_p_value,
    mann_whitney,
    overall_rule,
    overall_verdict,
    percentile_interval,
    rank_biserial,
    verdict_rule,
)
from pie_utils.studies import analysis_parameters, train

settings = analysis_parameters(
    profile,
    n_resamples=n_resamples,
    alpha=alpha,
    attribution_seeds=attribution_seeds,
    attribution_steps=attribution_steps,
)
plots.use_style()
main = train(profile, progress=False)
assert main.study.arch == "bilstm", "the attributions are taken on the BiLSTM's word embeddings"
gold, n_classes = main.labels(), main.dataset.num_classes
half_a, half_b = main.seed_halves()
assert settings["attribution_seeds"] <= len(half_b), f"half B has {len(half_b)} seeds, fewer than attribution_seeds"
positions = half_b[: settings["attribution_seeds"]]  # positions on the seed axis of the population arrays
sparsity = max(main.study.sparsities)
cells = [method for method in cell_methods if method in main.study.methods]
assert cells, f"none of {cell_methods} is in the study's methods {main.study.methods}"
dense_a = main.predictions(DENSE, 0.0)[half_a]
pies = {method: find_pies(dense_a, main.predictions(method, sparsity)[half_a], n_classes) for method in cells}
sampled = np.zeros(len(gold), dtype=bool)
sampled[np.random.default_rng(0).choice(len(gold), min(sample_points, len(gold)), replace=False)] = True
points = np.flatnonzero(sampled | np.logical_or.reduce(list(pies.values())))  # test positions attributed
in_sample = sampled[points]
encoded = main.prepared.encoded["test"].take(points)
print(
    f"{len(points)} of {len(gold)} test points attributed ({int(sampled.sum())} drawn at random); "
    f"PIEs selected on seeds {half_a.tolist()}: "
    + ", ".join(f"{m} {sparsity:.0%} {int(pies[m].sum())}" for m in cells)
    + f"; attributed seeds {positions.tolist()}, {settings['attribution_steps']} steps"
)

# %%
attributions, seconds = {}, {"rebuild": 0.0, "attribute": 0.0}
for position in positions:
    for method, level in [(DENSE, 0.0)] + [(m, sparsity) for m in cells]:
        started = time.perf_counter()
        model = main.model(method, level, main.study.seed_range[position])
        built = time.perf_counter()
        attributions[method, position] = token_attributions(model, encoded, gold[points], settings["attribution_steps"])
        seconds["rebuild"] += built - started
        seconds["attribute"] += time.perf_counter() - built
lengths = encoded.lengths
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
convergence = pd.DataFrame(
    [
        {
            "model": method,
            "seed": int(main.study.seed_range[position]),
            "median_abs_delta": np.median(np.abs(result.delta)),
            "p95_abs_delta": np.percentile(np.abs(result.delta), 95),
            "median_abs_change": np.median(np.abs(result.output_change)),
        }
        for (method, position), result in attributions.items()
    ]
)
convergence["relative"] = convergence.median_abs_delta / convergence.median_abs_change
assert (convergence.relative <= 0.05).all(), "integrated gradients did not converge: raise attribution_steps"
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
# attributed seeds. The same measure between the dense models of two attributed seeds is the
# control below.

# %%
shifts = {
    m: np.stack([attribution_shift(attributions[DENSE, p].values, attributions[m, p].values) for p in positions])
    for m in cells
}  # [seed, point]
pairs = list(combinations(positions, 2))
control_shift = (
    np.stack([attribution_shift(attributions[DENSE, p].values, attributions[DENSE, q].values) for p, q in pairs])
    if pairs
    else None
)  # [seed pair, point]
stratum = pd.qcut(lengths, 5, labels=False, duplicates="drop")  # length quintiles of the attributed points
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
first = positions[0]
pie_any = np.logical_or.reduce([pies[m][points] for m in cells])
rng = np.random.default_rng(1)
short = (lengths >= 4) & (lengths <= 18)
chosen = [
    *rng.permutation(np.flatnonzero(short & pie_any))[:shown_pies],
    *rng.permutation(np.flatnonzero(short & ~pie_any & in_sample))[:shown_others],
]
assert chosen, "no short test point to show"
texts = main.texts()
models = [(DENSE, 0.0)] + [(m, sparsity) for m in cells]
probability = {
    method: softmax(main.logits(method, level)[first], axis=1)[np.arange(len(gold)), gold] for method, level in models
}
fig, axes = plt.subplots(len(chosen), 1, figsize=(11, len(chosen) * (0.3 * len(models) + 1.1)))
for ax, row in zip(np.atleast_1d(axes), chosen):
    point = points[row]
    words = word_tokenize(texts[point])[: main.prepared.encoder.max_length]
    assert len(words) == lengths[row]
    grid = np.stack([attributions[method, first].row(row) for method, _ in models])
    grid = grid / np.maximum(np.abs(grid).max(axis=1, keepdims=True), 1e-12)
    names = [f"{'dense' if m == DENSE else f'{m} {level:.0%}'}  p={probability[m][point]:.2f}" for m, level in models]
    sns.heatmap(
        grid,
        cmap="RdBu_r",
        center=0,
        vmin=-1,
        vmax=1,
        cbar=False,
        xticklabels=words,
        yticklabels=names,
        linewidths=0.5,
        ax=ax,
    )
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.tick_params(axis="y", labelrotation=0, labelsize=8)
    status = "PIE of " + ", ".join(m for m in cells if pies[m][point]) if pie_any[row] else "non-PIE"
    moved = ", ".join(f"{m} {shifts[m][0, row]:.2f}" for m in cells)
    ax.set_title(f"{status} · gold: {main.dataset.label_names[gold[point]]} · shift {moved}", fontsize=9, loc="left")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The rule, before the result
#
# **Test.** Per cell: a Mann–Whitney U test of the shifts of the PIEs against those of the
# non-PIEs in the random sample, with the rank-biserial correlation as the effect (the chance
# that a PIE's shift exceeds a non-PIE's minus the reverse, −1 to 1; the claimed direction is
# positive), a 95 % bootstrap interval over the attributed seeds and the points, and Holm
# across the cells. **Control.** The same comparison for the shift between two *dense* models
# of different attributed seeds: if PIEs also move more there, their attributions are unstable
# under any retraining, not under pruning alone (it needs two attributed seeds). **Length.**
# A cosine between longer vectors tends to be smaller, and PIEs may be longer (chapter 5), so
# we repeat the comparison within quintiles of length: the rank-biserial effect in each
# quintile, averaged with weights equal to its PIEs, with a bootstrap interval and p-value
# (twice the smaller tail of the bootstrap samples at zero), Holm across the cells.

# %%
print(verdict_rule(settings["alpha"], what="the rank-biserial effect of the shift (PIEs against non-PIEs)"))
print(overall_rule())


def pie_effect(shift, is_pie, in_sample):
    """Rank-biserial effect of the per-point mean shift ``shift[seed, point]``: PIEs against sampled non-PIEs."""
    per_point = shift.mean(axis=0)
    return rank_biserial(per_point[is_pie], per_point[~is_pie & in_sample])


def length_matched_effect(shift, is_pie, in_sample, stratum):
    """``pie_effect`` within each length stratum, averaged with weights = the stratum's PIEs."""
    per_point = shift.mean(axis=0)
    effects, weights = [], []
    for k in np.unique(stratum):
        x, y = per_point[is_pie & (stratum == k)], per_point[~is_pie & in_sample & (stratum == k)]
        if len(x) and len(y):
            effects.append(rank_biserial(x, y))
            weights.append(len(x))
    return float(np.average(effects, weights=weights)) if effects else np.nan


def compare(shift, is_pie, in_sample):
    """One row per cell: the rank test and its bootstrap interval, and the length-matched effect."""
    test = mann_whitney(shift.mean(axis=0)[is_pie], shift.mean(axis=0)[~is_pie & in_sample])
    arrays = [shift, is_pie, in_sample, stratum]
    low, high = percentile_interval(bootstrap(arrays[:3], pie_effect, n_resamples=settings["n_resamples"]))
    samples = bootstrap(arrays, length_matched_effect, n_resamples=settings["n_resamples"])
    matched_low, matched_high = percentile_interval(samples)
    return {
        "pies": test.n_x,
        "non_pies": test.n_y,
        "median_pies": test.median_x,
        "median_non_pies": test.median_y,
        "effect": test.effect,
        "low": low,
        "high": high,
        "p_value": test.p_value,
        "matched": length_matched_effect(*arrays),
        "matched_low": matched_low,
        "matched_high": matched_high,
        "matched_p": bootstrap_p_value(samples),
    }


# %%
rows, control_rows = [], []
for method in cells:
    is_pie = pies[method][points]
    assert is_pie.any() and (~is_pie & in_sample).any(), f"{method}: no PIEs or no sampled non-PIEs to compare"
    rows.append({"method": method, "sparsity": sparsity, **compare(shifts[method], is_pie, in_sample)})
    if control_shift is not None:
        control_rows.append({"method": method, "sparsity": sparsity, **compare(control_shift, is_pie, in_sample)})
attribution = apply_verdicts(pd.DataFrame(rows), alpha=settings["alpha"])
control = apply_verdicts(pd.DataFrame(control_rows), alpha=settings["alpha"]) if control_rows else None
MATCHED = ["matched", "matched_low", "matched_high", "matched_p"]  # the length-matched columns, shown apart
matched = apply_verdicts(
    attribution[["method", "sparsity", *MATCHED]],
    p_column="matched_p",
    low="matched_low",
    high="matched_high",
    alpha=settings["alpha"],
)
assert attribution.effect.between(-1, 1).all() and len(attribution) == len(cells)
formats = {
    "sparsity": "{:.0%}",
    "median_pies": "{:.3f}",
    "median_non_pies": "{:.3f}",
    "effect": "{:+.3f}",
    "low": "{:+.3f}",
    "high": "{:+.3f}",
    "p_value": "{:.3g}",
    "p_holm": "{:.3g}",
}
attribution.drop(columns=MATCHED).style.format(formats, na_rep="–")

# %%
Markdown(
    outside_note(attribution, "effect", "effects", label="method")
    + " "
    + outside_note(matched, "matched", "length-matched effects", label="method", low="matched_low", high="matched_high")
)

# %% [markdown]
# Within length quintiles:

# %%
matched.style.format(
    {
        "sparsity": "{:.0%}",
        "matched": "{:+.3f}",
        "matched_low": "{:+.3f}",
        "matched_high": "{:+.3f}",
        "matched_p": "{:.3g}",
        "p_holm": "{:.3g}",
    }
)

# %% [markdown]
# The control, the shift between two dense models of different seeds (not measured with one
# attributed seed):

# %%
(
    control.drop(columns=MATCHED).style.format(formats, na_rep="–")
    if control is not None
    else "not measured: one attributed seed"
)

# %% tags=["hide-input"]
frames = []
for method in cells:
    comparisons = {f"dense vs {method} {sparsity:.0%}": shifts[method]}
    if control_shift is not None:
        comparisons["dense vs dense (other seed)"] = control_shift
    for name, shift in comparisons.items():
        keep = pies[method][points] | in_sample
        frames.append(
            pd.DataFrame(
                {
                    "cell": f"{method} {sparsity:.0%}",
                    "comparison": name,
                    "shift": shift.mean(axis=0)[keep],
                    "points": np.where(pies[method][points][keep], "PIE", "non-PIE"),
                }
            )
        )
shown = pd.concat(frames, ignore_index=True)
grid = sns.catplot(
    data=shown,
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
grid.figure.suptitle("How far attributions move, per test point (mean over attributed seeds)", y=1.03, fontsize=10)
plt.show()

# %% [markdown]
# ## Verdict

# %%
verdict = overall_verdict(attribution.verdict)
verdict_control = overall_verdict(control.verdict) if control is not None else "not measured"
verdict_length = overall_verdict(matched.verdict)
largest = attribution.loc[attribution.pies.idxmax()]
glue("verdict", verdict, display=False)
glue("verdict_control", verdict_control, display=False)
glue("verdict_length", verdict_length, display=False)
glue("cell", f"{largest.method} at {largest.sparsity:.0%}", display=False)
glue("median_pies", float(largest.median_pies), display=False)
glue("median_non_pies", float(largest.median_non_pies), display=False)
glue("effect", float(largest.effect), display=False)
glue("low", float(largest.low), display=False)
glue("high", float(largest.high), display=False)
glue("relative_delta", float(convergence.relative.max()), display=False)
glue("steps", settings["attribution_steps"], display=False)
print(verdict, verdict_length, verdict_control)

# %% [markdown]
# **Verdict on "attributions move more on PIEs than on other points": {glue:text}`verdict`.**
# In {glue:text}`cell` the median PIE's attributions move by {glue:text}`median_pies:.2f`
# (1 − cosine) between the dense and the pruned model of the same seed, the median non-PIE's
# by {glue:text}`median_non_pies:.2f`; rank-biserial effect {glue:text}`effect:.2f`
# (95 % interval {glue:text}`low:.2f` to {glue:text}`high:.2f`). With
# {glue:text}`steps` integration steps the median convergence delta was at most
# {glue:text}`relative_delta:.1%` of the output difference it decomposes.
#
# **Within length quintiles** (is it only that PIEs are longer?): {glue:text}`verdict_length`.
# **Control: do PIEs' attributions also move more between two dense seeds?**
# {glue:text}`verdict_control`.
#
# ## What this means
#
# Where the first verdict is *supported*, pruning does more than move a PIE across the decision
# boundary: the pruned model weighs the words of a PIE differently from its dense parent, more
# than it does elsewhere; where the length-matched verdict disagrees with it, text length
# explains much of that. Where the control is also *supported*, PIEs are points whose
# explanations are fragile under any retraining, and the pruned model's new reading of them is
# one more instance of that fragility rather than something pruning alone does. Attributions
# explain the gold-class logit from an all-padding baseline; another baseline or target could
# rank the points differently, and two cells and a few seeds are a small sample of the grid.
