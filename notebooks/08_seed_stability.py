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
# # How many seeds make a PIE set?
#
# **Why it matters.** A PIE set is defined by the modal labels of two populations, 30 seeds each
# in the paper. The paper never checks how much the set depends on which seeds were trained:
# a set that a second population of the same size would not reproduce says more about the
# seeds than about the points.
#
# **Our question.** Split the trained seeds into two disjoint populations of k seeds each (the
# same k seeds for dense and pruned, so seed s stays paired) and compare the two PIE sets they
# give on the test split. How similar are they (Jaccard), how far above chance, and from which
# k on is a PIE set reproducible?
#
# Two disjoint populations need 2k seeds, so k runs from 1 to half the trained seeds: 2 on
# `ci`, 5 on `default`, 15 on `extended` and `full`. The paper's 30-seed populations would need
# 60 seeds per configuration: they are out of reach here, and the trend below is all we can say
# about them.
#
# **Ties.** PIEs are found exactly as in `pie_utils.pies`: a tied vote goes to the lowest class
# index in both populations. With two classes, every even k can tie; the tie rate is reported,
# and the Jaccard with tied points dropped is shown beside the main one.

# %% tags=["parameters"]
profile = "default"  # ci | default | extended | full (pie_utils/profiles.toml)
n_resamples = None  # bootstrap resamples; None: the profile's analysis value
alpha = None  # family-wise error rate; None: the profile's analysis value
stability_draws = None  # random pairs of disjoint seed subsets per k; None: the profile's value
threshold = 0.5  # the Jaccard a reproducible PIE set must clear

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.intervals import outside_note
from pie_utils.pruning import DENSE
from pie_utils.stability import (
    chance_jaccard,
    disjoint_subsets,
    distinct_pairs,
    example_weights,
    fit_saturation,
    jaccard,
    modal_disagreements,
    modal_ties,
    resampled_draw_means,
)
from pie_utils.stats import (
    apply_verdicts,
    bootstrap_p_value,
    overall_rule,
    overall_verdict,
    percentile_interval,
    verdict_rule,
)
from pie_utils.studies import analysis_parameters, train

settings = analysis_parameters(profile, n_resamples=n_resamples, alpha=alpha, stability_draws=stability_draws)
plots.use_style()
main = train(profile, progress=False)
n_classes, n_seeds = main.dataset.num_classes, main.study.seeds
dense = main.predictions(DENSE, 0.0)  # [seed, example]
n_examples = dense.shape[1]
sizes = list(range(1, n_seeds // 2 + 1))
cells = [(m, s) for m in main.study.methods for s in main.study.sparsities]
# one example bootstrap shared by every cell and k, so they are resampled alike
weights = example_weights(n_examples, settings["n_resamples"])
assert sizes and weights.shape == (settings["n_resamples"], n_examples)
print(
    f"{n_seeds} seeds → population sizes k = {sizes}; {settings['stability_draws']} draws per k; "
    f"{n_examples} test points; {len(cells)} cells"
)

# %% [markdown]
# ## The rule, before the result
#
# For each cell (method × sparsity) and each k, `stability_draws` random pairs of disjoint
# k-seed subsets are drawn (a seeded generator; the same draws for every cell). The statistic
# is the mean over draws of the Jaccard similarity |A ∩ B| / |A ∪ B| of the two PIE sets. Its
# 95 % interval and p-value come from a bootstrap that resamples the test points (one set of
# indices for all draws) and the draws. Seeds enter through the draws, not by resampling them
# with replacement: a modal label of k models drawn with replacement has fewer distinct
# models and would understate the Jaccard. The interval is therefore conditional on the seeds
# that were trained.
#
# **Threshold.** A PIE set counts as reproducible when the mean Jaccard clears 0.5 (the
# `threshold` parameter), stated
# before looking: for two sets of equal size, J = 0.5 means two thirds of one set reappear in
# the other, so most of a set is about the points and not the seeds. The effect is the mean
# Jaccard minus 0.5; Holm runs across all cells and all k. **Chance** is the expected Jaccard of
# two uniformly random sets of the same sizes (the overlap is hypergeometric), averaged over
# draws: the Jaccard that PIE sets of those sizes would have if they were unrelated.
#
# **Minimum population size.** The smallest k at which every cell is supported. If no k
# within the profile gets there, a power law 1 − J = a·k^(−b) fitted to the mean Jaccard of
# each cell gives the k where the fitted mean would reach 0.5: an extrapolation, and an
# optimistic one (the rule asks the interval, not the mean, to clear 0.5). The fit uses only
# the sizes at which no vote of the cell tied (odd k with two classes): tied votes follow the
# lowest-class rule, not a majority, so even k sit off any smooth trend. With fewer than two
# tie-free sizes there is no fit.
#
# **Verdict question:** "Is a PIE set from a population of the profile's largest k
# reproducible?" Judged on the rows at the largest k, with the rule below.

# %%
print(
    verdict_rule(settings["alpha"], what=f"the mean Jaccard of two disjoint populations' PIE sets minus {threshold:g}")
)
print(overall_rule())

# %%
rows, counts = [], []
for k in sizes:
    first, second = disjoint_subsets(n_seeds, k, settings["stability_draws"], seed=k)
    dense_vs_dense = modal_disagreements(dense, dense, first, second, n_classes)  # [draw, example]
    dense_ties = modal_ties(dense, first, n_classes) | modal_ties(dense, second, n_classes)
    counts.append(
        {
            "cell": "dense vs dense",
            "k": k,
            "count": dense_vs_dense.sum(axis=1).mean(),
            "samples": resampled_draw_means(weights @ dense_vs_dense.T, seed=k),
        }
    )
    for method, sparsity in cells:
        pruned = main.predictions(method, sparsity)
        pies_first = modal_disagreements(dense, pruned, first, first, n_classes)
        pies_second = modal_disagreements(dense, pruned, second, second, n_classes)
        ties = dense_ties | modal_ties(pruned, first, n_classes) | modal_ties(pruned, second, n_classes)
        similarity = jaccard(pies_first, pies_second)  # [draw]
        samples = resampled_draw_means(jaccard(pies_first, pies_second, weights), seed=k)
        low, high = percentile_interval(samples)
        sizes_first, sizes_second = pies_first.sum(axis=1), pies_second.sum(axis=1)
        chance = np.nanmean([chance_jaccard(int(a), int(b), n_examples) for a, b in zip(sizes_first, sizes_second)])
        rows.append(
            {
                "method": method,
                "sparsity": sparsity,
                "k": k,
                "pairs": distinct_pairs(n_seeds, k),
                "pies": (sizes_first + sizes_second).mean() / 2,
                "tie_rate": ties.mean(),
                "jaccard": np.nanmean(similarity),
                "low": low,
                "high": high,
                "chance": chance,
                "jaccard_ties_dropped": np.nanmean(jaccard(pies_first & ~ties, pies_second & ~ties)),
                "effect": np.nanmean(similarity) - threshold,
                "effect_low": low - threshold,
                "effect_high": high - threshold,
                "p_value": bootstrap_p_value(samples, null=threshold),
            }
        )
        pie_samples = resampled_draw_means((weights @ pies_first.T + weights @ pies_second.T) / 2, seed=k)
        counts.append({"cell": f"{method} {sparsity:.0%}", "k": k, "count": rows[-1]["pies"], "samples": pie_samples})
stability = apply_verdicts(pd.DataFrame(rows), low="effect_low", high="effect_high", alpha=settings["alpha"])
pie_counts = pd.DataFrame(counts)
pie_counts[["low", "high"]] = [percentile_interval(s) for s in pie_counts.pop("samples")]
assert len(stability) == len(cells) * len(sizes) and stability.pies.gt(0).all()
assert stability.jaccard.between(0, 1).all() and stability.chance.between(0, 1).all()
assert (stability.low <= stability.high).all() and pie_counts["count"].ge(0).all()
stability.drop(columns=["effect", "effect_low", "effect_high"]).style.format(
    {
        "sparsity": "{:.0%}",
        "pies": "{:.1f}",
        "tie_rate": "{:.1%}",
        "jaccard": "{:.3f}",
        "low": "{:.3f}",
        "high": "{:.3f}",
        "chance": "{:.3f}",
        "jaccard_ties_dropped": "{:.3f}",
        "p_value": "{:.3g}",
        "p_holm": "{:.3g}",
    },
    na_rep="–",
)

# %%
Markdown(
    outside_note(stability, "jaccard", "mean Jaccard similarities", label=["method", "sparsity", "k"])
    + " "
    + outside_note(pie_counts, "count", "mean PIE counts", label=["cell", "k"])
)

# %% [markdown]
# `pairs` is how many distinct pairs of disjoint k-subsets the trained seeds allow; when it is
# smaller than the number of draws, draws repeat. `tie_rate` is the share of test points on
# which any of the four votes (dense and pruned, both populations) tied.

# %% [markdown]
# ## Jaccard against population size
#
# Per cell: the mean Jaccard with its 95 % interval, the chance level for sets of the same
# sizes (dashed) and the 0.5 threshold (grey). Crosses: the Jaccard once every point with a
# tied vote is dropped, where there are ties. Dotted: the power law fitted to the tie-free
# sizes, continued past the largest trained k as an extrapolation.

# %%
tie_free = stability[stability.tie_rate == 0]
fits = {
    cell: fit_saturation(g.k.to_numpy(), g.jaccard.to_numpy()) if g.k.nunique() > 1 else None
    for cell, g in tie_free.groupby(["method", "sparsity"], sort=False)
}
fits = {cell: fits.get(cell) for cell in cells}
reach = {cell: (fit.k_for(threshold) if fit is not None else np.nan) for cell, fit in fits.items()}
reach_column = f"k where the fitted mean reaches {threshold:g} (extrapolated)"
pd.DataFrame(
    [
        {
            "method": m,
            "sparsity": s,
            "scale a": f.scale if f else np.nan,
            "rate b": f.rate if f else np.nan,
            "fitted points": f.points if f else 0,
            reach_column: reach[(m, s)],
        }
        for (m, s), f in fits.items()
    ]
).style.format({"sparsity": "{:.0%}", "scale a": "{:.3f}", "rate b": "{:.3f}", reach_column: "{:.1f}"}, na_rep="–")

# %% tags=["hide-input"]
methods = list(main.study.methods)
fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.8), sharey=True, squeeze=False)
colours = dict(zip(main.study.sparsities, plt.cm.viridis(np.linspace(0.15, 0.75, len(main.study.sparsities)))))
horizon = np.linspace(1, max(2 * sizes[-1], 8), 100)
for ax, method in zip(axes[0], methods):
    for sparsity in main.study.sparsities:
        rows_ = stability[(stability.method == method) & (stability.sparsity == sparsity)]
        colour = colours[sparsity]
        plots.interval_points(
            ax, rows_.k, rows_.jaccard, rows_.low, rows_.high, color=colour, label=f"{sparsity:.0%}", line=True
        )
        ax.plot(rows_.k, rows_.chance, "--", color=colour, linewidth=1)
        tied = rows_[rows_.tie_rate > 0]
        ax.plot(tied.k, tied.jaccard_ties_dropped, "x", color=colour, markersize=7)
        if fits[(method, sparsity)] is not None:
            ax.plot(horizon, fits[(method, sparsity)].predict(horizon), ":", color=colour, linewidth=1)
    ax.axhline(threshold, color="grey", linewidth=1)
    ax.set_title(method, fontsize=10)
    ax.set_xlabel("seeds per population k")
    ax.set_xticks(range(1, int(horizon[-1]) + 1) if any(fits.values()) else sizes)
    ax.set_ylim(0, 1)
axes[0][0].set_ylabel("Jaccard of the two PIE sets")
axes[0][0].legend(title="sparsity (dashed: chance;\n×: tied points dropped)", fontsize=8, title_fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## PIE count against population size
#
# The mean number of PIEs of a k-seed population, with a 95 % interval over test points and
# draws. Black: how many test points two disjoint dense populations of k seeds disagree on
# (the paper's dense-vs-dense null): the part of a PIE count that seed noise alone would give.

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7.5, 4.2))
pie_cells = [cell for cell in dict.fromkeys(pie_counts.cell) if cell != "dense vs dense"]
palette = {"dense vs dense": "black", **dict(zip(pie_cells, plt.cm.tab10(np.arange(len(pie_cells)))))}
plots.interval_plot(ax, pie_counts, x="k", y="count", low="low", high="high", hue="cell", dodge=0.04, palette=palette)
ax.set_xlabel("seeds per population k")
ax.set_ylabel(f"PIEs among {n_examples} test points")
ax.set_xticks(sizes)
ax.legend(fontsize=7, ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Verdict

# %%
largest = stability[stability.k == sizes[-1]]
verdict = overall_verdict(largest.verdict)
supported_everywhere = [k for k in sizes if (stability[stability.k == k].verdict == "supported").all()]
recommended = (
    f"k = {supported_everywhere[0]}"
    if supported_everywhere
    else f"more than {sizes[-1]} (none of k ≤ {sizes[-1]} clears 0.5 in every cell)"
)
finite_reach = [r for r in reach.values() if np.isfinite(r)]
if any(fit is None for fit in fits.values()):
    extrapolated = "not fitted (fewer than two tie-free population sizes in some cell)"
elif len(finite_reach) < len(reach):
    extrapolated = "never, in some cell (its fitted trend does not rise to the threshold)"
elif max(finite_reach) > 100:  # a fit to k ≤ 15 says nothing precise that far out
    extrapolated = "beyond 100 seeds per population in the slowest cell (its fitted trend is too flat to say where)"
else:
    extrapolated = f"about {max(finite_reach):.0f} seeds per population in the slowest cell"
glue("verdict", verdict, display=False)
glue("largest_k", sizes[-1], display=False)
glue("threshold", threshold, display=False)
glue("largest_tie_rate", float(largest.tie_rate.max()), display=False)
glue("recommended_k", recommended, display=False)
glue("extrapolated_k", extrapolated, display=False)
glue("min_jaccard", float(largest.jaccard.min()), display=False)
glue("max_jaccard", float(largest.jaccard.max()), display=False)
glue("min_low", float(largest.low.min()), display=False)
glue("max_chance", float(largest.chance.max()), display=False)
glue("pies_at_k1", float(stability[stability.k == 1].pies.mean()), display=False)
glue("pies_at_largest", float(largest.pies.mean()), display=False)
glue(
    "dense_noise",
    float(pie_counts[(pie_counts.cell == "dense vs dense") & (pie_counts.k == sizes[-1])]["count"].iloc[0]),
    display=False,
)
print(verdict, recommended, extrapolated)

# %% [markdown]
# **Verdict on "a PIE set from a population of {glue:text}`largest_k` seeds is reproducible":
# {glue:text}`verdict`.** At that size two disjoint populations give PIE sets with a mean Jaccard
# between {glue:text}`min_jaccard:.2f` and {glue:text}`max_jaccard:.2f` across cells (lowest lower
# bound {glue:text}`min_low:.2f`, threshold {glue:text}`threshold:.2f`); unrelated sets of the same
# sizes would share at most {glue:text}`max_chance:.2f` by chance. Up to
# {glue:text}`largest_tie_rate:.0%` of the test points had a tied vote at that size. Minimum
# population size by the rule: {glue:text}`recommended_k`. Where the fitted trend reaches the
# threshold (an extrapolation, not a measurement): {glue:text}`extrapolated_k`.
#
# ## What this means
#
# A cell has on average {glue:text}`pies_at_k1:.1f` PIEs from single models and
# {glue:text}`pies_at_largest:.1f` from {glue:text}`largest_k`-seed populations, while two dense
# populations of {glue:text}`largest_k` seeds disagree on {glue:text}`dense_noise:.1f` test points
# with no pruning at all: that many PIEs could come from seed noise alone. A PIE
# set describes the points only as far as other seeds reproduce it, and the verdict above says
# whether the populations this profile trains get there. The paper's 30-seed sets lie beyond
# what can be checked with disjoint populations here.
