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
# **The paper's claim.** PIEs are longer and semantically more complex than the average point.
#
# **Our question.** Do test-split PIEs differ from non-PIEs on length, readability, lexical
# diversity, word rarity and a model-based difficulty, in the claimed direction?
#
# The paper's hardness measures were not recovered, so we choose and describe ours below.
# Readability is computed only for corpora with sentence punctuation (Rotten Tomatoes has it;
# Reuters R8/R52 are letters only). PIEs are selected on seed half A; the model-based
# difficulty comes from the dense models of half B, which took no part in the selection.

# %% tags=["parameters"]
profile = "default"  # ci | default | extended | full (pie_utils/profiles.toml)
n_resamples = None  # bootstrap resamples; None: the profile's analysis value
alpha = None  # family-wise error rate; None: the profile's analysis value

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.hardness import MEASURES, hardness_features, model_difficulty
from pie_utils.intervals import outside_note
from pie_utils.pies import find_pies
from pie_utils.pruning import DENSE
from pie_utils.stats import (
    apply_verdicts,
    bootstrap,
    mann_whitney,
    overall_rule,
    overall_verdict,
    percentile_interval,
    rank_biserial,
    verdict_rule,
)
from pie_utils.studies import analysis_parameters, train

settings = analysis_parameters(profile, n_resamples=n_resamples, alpha=alpha)
plots.use_style()
main = train(profile, progress=False)
gold, n_classes = main.labels(), main.dataset.num_classes
half_a, half_b = main.seed_halves()
features = hardness_features(main.texts("test"), main.texts("train"))
features["model_difficulty"] = model_difficulty(main.logits(DENSE, 0.0)[half_b], gold)
DIRECTIONS = {name: measure.claimed_direction for name, measure in MEASURES.items()}  # +1: PIEs claimed higher
measured = [f for f in DIRECTIONS if features[f].notna().any()]
assert len(features) == len(gold) and "length_words" in measured and (features.length_words > 0).all()
pd.DataFrame(
    {
        "measure": list(MEASURES),
        "what it is": [measure.description for measure in MEASURES.values()],
        "claimed direction for PIEs": [{1: "higher", -1: "lower"}[DIRECTIONS[f]] for f in MEASURES],
        "computed here": [f in measured for f in MEASURES],
    }
)

# %% [markdown]
# ## The rule, before the result
#
# For every cell (method × sparsity × measure): a Mann–Whitney U test of PIEs against
# non-PIEs, with the rank-biserial correlation as its effect size (the chance that a PIE scores
# higher than a non-PIE minus the reverse; −1 to 1) and a 95 % bootstrap interval over test
# points; Holm across all cells. The claim's direction is applied per measure (readability:
# lower means harder). The paper's claim is judged on length and the three text measures; the
# model-based difficulty is reported beside it.

# %%
print(
    verdict_rule(settings["alpha"], what="the rank-biserial effect (signed so that the claimed direction is positive)")
)
print(overall_rule())


# %%
def pie_effect(values, mask):
    mask = mask.astype(bool)
    return rank_biserial(values[mask], values[~mask])


dense = main.predictions(DENSE, 0.0)
rows = []
for method in main.study.methods:
    for sparsity in main.study.sparsities:
        pies = find_pies(dense[half_a], main.predictions(method, sparsity)[half_a], n_classes)
        for feature in measured:
            values = features[feature].to_numpy(dtype=float)
            direction = DIRECTIONS[feature]
            if 0 < pies.sum() < len(pies):
                test = mann_whitney(values[pies], values[~pies])
                samples = direction * bootstrap([values, pies], pie_effect, n_resamples=settings["n_resamples"])
                low, high = percentile_interval(samples)
                effect, p_value = direction * test.effect, test.p_value
                median_pies, median_rest = test.median_x, test.median_y
            else:
                effect = p_value = low = high = median_pies = median_rest = np.nan
            rows.append(
                {
                    "method": method,
                    "sparsity": sparsity,
                    "measure": feature,
                    "pies": int(pies.sum()),
                    "median_pies": median_pies,
                    "median_non_pies": median_rest,
                    "effect": effect,
                    "low": low,
                    "high": high,
                    "p_value": p_value,
                }
            )
hardness = apply_verdicts(pd.DataFrame(rows), alpha=settings["alpha"])
hardness.loc[hardness.p_value.isna(), "verdict"] = "inconclusive at this scale"
assert len(hardness) == len(main.study.methods) * len(main.study.sparsities) * len(measured)
assert hardness.effect.dropna().between(-1, 1).all()
hardness.style.format(
    {
        "sparsity": "{:.0%}",
        "median_pies": "{:.3g}",
        "median_non_pies": "{:.3g}",
        "effect": "{:+.3f}",
        "low": "{:+.3f}",
        "high": "{:+.3f}",
        "p_value": "{:.3g}",
        "p_holm": "{:.3g}",
    },
    na_rep="–",
)

# %%
Markdown(outside_note(hardness, "effect", "effects", label=["measure", "method", "sparsity"]))

# %% tags=["hide-input"]
heat = hardness.assign(cell=hardness.method + " " + hardness.sparsity.map("{:.0%}".format)).pivot(
    index="cell", columns="measure", values="effect"
)[measured]
marks = (
    hardness.assign(cell=hardness.method + " " + hardness.sparsity.map("{:.0%}".format))
    .pivot(index="cell", columns="measure", values="verdict")[measured]
    .replace({"supported": "✓", "not supported": "✗", "inconclusive at this scale": "?"})
)
fig, ax = plt.subplots(figsize=(8, 0.45 * len(heat) + 1.5))
sns.heatmap(
    heat,
    annot=heat.round(2).astype(str) + " " + marks,
    fmt="",
    cmap="RdBu_r",
    center=0,
    vmin=-0.5,
    vmax=0.5,
    cbar_kws={"label": "rank-biserial effect (claimed direction > 0)"},
    ax=ax,
)
ax.set_title("PIEs vs non-PIEs: ✓ supported, ✗ not supported, ? inconclusive", fontsize=10)
ax.set_ylabel("")
fig.tight_layout()
plt.show()

# %% [markdown]
# Distributions in the cell with the most PIEs:

# %% tags=["hide-input"]
counts = hardness.drop_duplicates(["method", "sparsity"]).set_index(["method", "sparsity"]).pies
method, sparsity = counts.idxmax()
pies = find_pies(dense[half_a], main.predictions(method, sparsity)[half_a], n_classes)
shown = features[measured].assign(points=np.where(pies, "PIE", "non-PIE")).melt(id_vars="points", var_name="measure")
grid = sns.catplot(
    data=shown,
    x="points",
    y="value",
    col="measure",
    kind="box",
    sharey=False,
    height=3.0,
    aspect=0.7,
    palette=["#1b9e77", "#d95f02"],
    hue="points",
    order=["non-PIE", "PIE"],
    showfliers=False,
)
grid.figure.suptitle(
    f"{method} at {sparsity:.0%}: {int(pies.sum())} PIEs of {len(pies)} test points", y=1.03, fontsize=10
)
plt.show()

# %% [markdown]
# ## Verdict

# %%
claim_measures = [f for f in ("length_words", "readability", "lexical_diversity", "word_rarity") if f in measured]
per_measure = {f: overall_verdict(hardness[hardness.measure == f].verdict) for f in measured}
verdict = overall_verdict(hardness[hardness.measure.isin(claim_measures)].verdict)
length = hardness[
    (hardness.measure == "length_words") & (hardness.method == method) & (hardness.sparsity == sparsity)
].iloc[0]
glue("verdict", verdict, display=False)
for feature in DIRECTIONS:
    glue(f"verdict_{feature}", per_measure.get(feature, "not measured"), display=False)
glue("cell", f"{method} at {sparsity:.0%}", display=False)
glue("median_length_pies", float(length.median_pies), display=False)
glue("median_length_rest", float(length.median_non_pies), display=False)
print(verdict, per_measure)

# %% [markdown]
# **Verdict on "PIEs are longer and more complex": {glue:text}`verdict`.** Per measure: length
# {glue:text}`verdict_length_words`, readability {glue:text}`verdict_readability`, lexical diversity {glue:text}`verdict_lexical_diversity`, word
# rarity {glue:text}`verdict_word_rarity`, model-based difficulty
# {glue:text}`verdict_model_difficulty`. In {glue:text}`cell` the median PIE has
# {glue:text}`median_length_pies:.0f` words against {glue:text}`median_length_rest:.0f` for the
# other points.
