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
# **The paper's claim.** PIEs hold many of the training points with the largest influence on
# generalisation, as ranked by EL2N scores (Paul et al., 2021).
#
# **Our question.** Rank the training points by EL2N, taken from the dense population early in
# training, into 20 percentile bins. Do the training-split PIEs fall into the top bins more
# often than chance (5 % of all PIEs per bin), and is the pruned/dense loss ratio highest there?
#
# **Avoiding circularity.** EL2N comes from the dense models of seed half A (after
# `el2n_epoch` epochs); the PIEs and losses from the dense and pruned models of half B.
# EL2N is a proxy for influence, not a measurement of it: this chapter tests where PIEs fall
# on the EL2N ranking, as the paper does.

# %% tags=["parameters"]
profile = "default"  # ci | default | extended | full (pie_utils/profiles.toml)
n_resamples = None  # bootstrap resamples; None: the profile's analysis value
alpha = None  # family-wise error rate; None: the profile's analysis value
el2n_epoch = None  # epoch whose training-split logits give EL2N; None: the profile's value
n_bins = None  # percentile bins; None: the profile's value
top_bins = 2  # the "most influential" points: the top 2 of 20 bins, the top 10 % by EL2N

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.influence import el2n_scores, influence_by_bin, per_example_loss, percentile_bins
from pie_utils.intervals import outside_note
from pie_utils.pies import find_pies
from pie_utils.pruning import DENSE
from pie_utils.stats import (
    apply_verdicts,
    bootstrap,
    bootstrap_p_value,
    overall_rule,
    overall_verdict,
    percentile_interval,
    verdict_rule,
)
from pie_utils.studies import analysis_parameters, train

settings = analysis_parameters(profile, n_resamples=n_resamples, alpha=alpha, el2n_epoch=el2n_epoch, n_bins=n_bins)
plots.use_style()
main = train(profile, progress=False)
assert settings["el2n_epoch"] in main.study.training.train_logit_epochs, (
    f"the dense runs stored training logits after epochs {main.study.training.train_logit_epochs}, "
    f"not after epoch {settings['el2n_epoch']}: add it to train_logit_epochs in the profile"
)
labels, n_classes = main.labels("train"), main.dataset.num_classes
half_a, half_b = main.seed_halves()
early = main.logits(
    DENSE, 0.0, split="train", array=f"train_logits_epoch{settings['el2n_epoch']}"
)  # [seed, example, class]
el2n = el2n_scores(early[half_a], labels)
bins = percentile_bins(el2n, settings["n_bins"])
dense = main.predictions(DENSE, 0.0, split="train")[half_b]
dense_loss = per_example_loss(main.logits(DENSE, 0.0, split="train")[half_b], labels).mean(axis=0)
cells = [(m, s) for m in main.study.methods for s in main.study.sparsities]
assert el2n.shape == labels.shape[:1] and np.all((el2n >= 0) & (el2n <= np.sqrt(2) + 1e-9))
print(
    f"{len(labels)} training points; EL2N after epoch {settings['el2n_epoch']} from seeds {half_a.tolist()}; "
    f"PIEs from seeds {half_b.tolist()}"
)

# %% [markdown]
# ## The rule, before the result
#
# The effect is the share of all training-split PIEs that fall into the top `top_bins` EL2N
# bins, minus the share those bins would get by chance (`top_bins / n_bins`). Its 95 % interval
# and two-sided p-value come from a bootstrap over the seeds of each population and the
# training points (EL2N bins are recomputed in every resample); Holm across cells.

# %%
null_share = top_bins / settings["n_bins"]
print(
    verdict_rule(
        settings["alpha"],
        what=f"the share of PIEs in the top {top_bins} of {settings['n_bins']} EL2N bins minus {null_share:.0%}",
    )
)
print(overall_rule())


def top_share_excess(early_a, dense_b, pruned_b, y):
    """Share of the PIEs (dense_b vs pruned_b) among the top EL2N bins, minus chance."""
    pies = find_pies(dense_b, pruned_b, n_classes)
    if not pies.any():
        return np.nan
    top = percentile_bins(el2n_scores(early_a, y), settings["n_bins"]) >= settings["n_bins"] - top_bins
    return pies[top].sum() / pies.sum() - null_share


# %%
rows, tables = [], []
for method, sparsity in cells:
    pruned = main.predictions(method, sparsity, split="train")[half_b]
    pies = find_pies(dense, pruned, n_classes)
    pruned_loss = per_example_loss(main.logits(method, sparsity, split="train")[half_b], labels).mean(axis=0)
    table = influence_by_bin(el2n, pies, dense_loss, pruned_loss, settings["n_bins"]).assign(
        method=method, sparsity=sparsity
    )
    tables.append(table)
    samples = bootstrap([early[half_a], dense, pruned, labels], top_share_excess, n_resamples=settings["n_resamples"])
    low, high = percentile_interval(samples)
    rows.append(
        {
            "method": method,
            "sparsity": sparsity,
            "train_pies": int(pies.sum()),
            "pie_rate": pies.mean(),
            "top_share": table.pie_share.iloc[-top_bins:].sum(),
            "effect": top_share_excess(early[half_a], dense, pruned, labels),
            "low": low,
            "high": high,
            "p_value": bootstrap_p_value(samples),
            "loss_ratio_top": table.loss_ratio.iloc[-top_bins:].mean(),
            "loss_ratio_bottom": table.loss_ratio.iloc[:top_bins].mean(),
        }
    )
bins_table = pd.concat(tables, ignore_index=True)
influence = apply_verdicts(pd.DataFrame(rows), alpha=settings["alpha"])
assert len(bins_table) == len(cells) * settings["n_bins"] and bins_table.n.sum() == len(cells) * len(labels)
assert influence.train_pies.ge(0).all()
influence.style.format(
    {
        "sparsity": "{:.0%}",
        "pie_rate": "{:.3f}",
        "top_share": "{:.1%}",
        "effect": "{:+.3f}",
        "low": "{:+.3f}",
        "high": "{:+.3f}",
        "p_value": "{:.3g}",
        "p_holm": "{:.3g}",
        "loss_ratio_top": "{:.2f}",
        "loss_ratio_bottom": "{:.2f}",
    },
    na_rep="–",
)

# %%
Markdown(outside_note(influence, "effect", "excess top-bin shares", label=["method", "sparsity"]))

# %% [markdown]
# Per bin, for every cell: the share of all training PIEs in the bin (chance: 5 %), the PIE rate
# within the bin (chance: the overall rate) and the ratio of pruned to dense loss.

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
palette = plots.method_palette(main.study.methods)
styles = {s: style for s, style in zip(main.study.sparsities, ["-", "--", ":", "-."] * 3)}
for (method, sparsity), rows_ in bins_table.groupby(["method", "sparsity"], sort=False):
    for ax, column in zip(axes, ["pie_share", "pie_rate", "loss_ratio"]):
        ax.plot(
            rows_.bin + 1,
            rows_[column],
            styles[sparsity],
            color=palette[method],
            marker="o",
            markersize=3,
            label=f"{method} {sparsity:.0%}",
        )
axes[0].axhline(1 / settings["n_bins"], color="black", linewidth=0.8, label="chance")
axes[2].axhline(1.0, color="black", linewidth=0.8)
for ax, title in zip(
    axes, ["share of all training PIEs", "PIE rate within the bin (chance: the overall rate)", "pruned / dense loss"]
):
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(f"EL2N bin (1 = lowest, {settings['n_bins']} = highest)")
axes[0].legend(fontsize=7, ncol=2)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Verdict

# %%
verdict = overall_verdict(influence.verdict)
strongest = influence.loc[influence.effect.idxmax()] if influence.effect.notna().any() else influence.iloc[0]
glue("verdict", verdict, display=False)
glue("cell", f"{strongest.method} at {strongest.sparsity:.0%}", display=False)
glue("top_share", float(strongest.top_share), display=False)
glue("null_share", float(null_share), display=False)
glue("train_pies", int(strongest.train_pies), display=False)
glue("loss_ratio_top", float(strongest.loss_ratio_top), display=False)
glue("loss_ratio_bottom", float(strongest.loss_ratio_bottom), display=False)
print(verdict)

# %% [markdown]
# **Verdict: {glue:text}`verdict`.** In the strongest cell, {glue:text}`cell`, the top 10 % of
# training points by EL2N hold {glue:text}`top_share:.0%` of its {glue:text}`train_pies`
# training-split PIEs (chance: {glue:text}`null_share:.0%`), and pruning multiplies their loss by
# {glue:text}`loss_ratio_top:.2f` against {glue:text}`loss_ratio_bottom:.2f` in the bottom 10 %.
