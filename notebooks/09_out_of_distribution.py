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
# # PIEs out of distribution
#
# **Why it matters.** The paper finds its PIEs on a test split drawn from the training
# distribution. A deployed classifier meets text unlike its training data, and Hooker et al.
# {cite}`hooker2019compressed` found that pruning amplifies the errors of image classifiers on
# corrupted and naturally adversarial images. If pruning's disagreements gather out of distribution, the test-split
# PIE share understates what pruning changes.
#
# **Our question.** Does pruning create more PIEs out of distribution than in distribution,
# beyond dense-vs-dense disagreement? The BiLSTM populations of the main configuration, trained
# on Rotten Tomatoes snippets {cite}`pang2005seeing`, are scored on their own test split (in
# distribution) and on every movie review of Pang & Lee's polarity corpus
# {cite}`pang2004sentimental` (out of distribution, none trained on); where the profile trains
# it, the reverse too: populations trained on movie reviews, scored on every snippet. Class 0
# is rotten/negative and class 1 fresh/positive in both corpora.
#
# **A large shift.** Snippets are one or two sentences; reviews are whole articles. The
# BiLSTM reads at most {glue:text}`train_budget` tokens of a snippet and
# {glue:text}`transfer_budget` of a review, so it meets texts far longer than any it was
# trained on, and {glue:text}`cut_share_ood:.0%` of the reviews are cut at that budget (the
# table below). Dense models lose accuracy out of distribution too, and any loss of accuracy
# brings more disagreement between any two populations. That is why every PIE share here is
# set against a null: how much two dense populations of different seeds disagree on the same
# points.

# %% tags=["parameters"]
profile = "default"  # ci | default | extended | full (pie_utils/profiles.toml)
n_resamples = None  # bootstrap resamples; None: the profile's analysis value
alpha = None  # family-wise error rate; None: the profile's analysis value

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.intervals import interval_text, outside_note
from pie_utils.pruning import DENSE
from pie_utils.shift import DOMAINS, bootstrap_measures, domain_measures, interval_table, pool_domains
from pie_utils.stats import apply_verdicts, bootstrap_p_value, overall_rule, overall_verdict, verdict_rule
from pie_utils.studies import analysis_parameters, study_names, train

settings = analysis_parameters(profile, n_resamples=n_resamples, alpha=alpha)
plots.use_style()
DIRECTIONS = {"ood": "forward", "ood_reverse": "reverse"}  # study → direction; the reverse only where trained
DOMAIN_NAMES = {"id": "in distribution", "ood": "out of distribution"}
studies = {}
for name in DIRECTIONS:
    if name in study_names(profile):
        studies[name] = train(profile, name, progress=False)
    else:
        print(f"Profile {profile!r} has no study {name!r}: the {DIRECTIONS[name]} direction is not measured here.")
assert "ood" in studies and all(s.study.transfer for s in studies.values())


def direction(trained):
    return f"{trained.study.dataset} → {trained.study.transfer}"


def domain_table(trained):
    """What each domain holds and how much of it the BiLSTM reads."""
    rows = []
    for domain, split, corpus, budget in (
        ("id", "test", trained.study.dataset, trained.dataset.max_length),
        ("ood", "transfer", trained.study.transfer, trained.prepared.transfer.max_length),
    ):
        tokens = np.diff(trained.encoded(split).offsets)  # tokens the model reads, after the cut
        rows.append(
            {
                "direction": direction(trained),
                "domain": DOMAIN_NAMES[domain],
                "corpus": corpus,
                "examples": "test split" if split == "test" else "every example (all splits)",
                "n": len(tokens),
                "median tokens read": float(np.median(tokens)),
                "token budget": budget,
                "cut at the budget": float(np.mean(tokens >= budget)),
                "fresh/positive": float(trained.labels(split).mean()),
            }
        )
    return rows


domains = pd.DataFrame([row for trained in studies.values() for row in domain_table(trained)])
assert (domains.n > 0).all() and domains["fresh/positive"].between(0, 1).all()
forward = domains[domains.direction == direction(studies["ood"])].set_index("domain")
glue("train_budget", int(forward.loc[DOMAIN_NAMES["id"], "token budget"]), display=False)
glue("transfer_budget", int(forward.loc[DOMAIN_NAMES["ood"], "token budget"]), display=False)
glue("median_tokens_id", float(forward.loc[DOMAIN_NAMES["id"], "median tokens read"]), display=False)
glue("median_tokens_ood", float(forward.loc[DOMAIN_NAMES["ood"], "median tokens read"]), display=False)
glue("cut_share_ood", float(forward.loc[DOMAIN_NAMES["ood"], "cut at the budget"]), display=False)
domains.style.format({"median tokens read": "{:.0f}", "cut at the budget": "{:.1%}", "fresh/positive": "{:.1%}"})

# %% [markdown]
# ## The rule, before the result
#
# The seeds of each study split into half A and half B. A pruned run of seed s starts from the
# initial weights and data order of dense run s, so no comparison pairs a population with its
# own seeds:
#
# - **PIEs**: points where the modal label of dense half A differs from that of pruned half B;
# - **null**: points where the modal labels of dense half A and dense half B differ: PIE-like
#   disagreement with no pruning, between populations of the same sizes (ties go to the lowest
#   class in both);
# - **accuracy on PIEs and non-PIEs** comes from the models that took no part in selecting
#   them: pruned half A and dense half B.
#
# The **effect** of a cell (method × sparsity) is the difference in differences
# (PIE share − null share) out of distribution minus (PIE share − null share) in distribution:
# positive when pruning adds more disagreement out of distribution than in it, beyond what
# another set of dense seeds adds. Its 95 % interval and two-sided p-value come from a bootstrap
# over the seeds of each of the four populations and over the points (both domains pooled, so
# a resample draws each model once for both domains; see `pie_utils.shift`). Holm runs across
# every cell of both directions. Each direction gets one verdict from its cells.

# %%
print(
    verdict_rule(
        settings["alpha"], what="the out-of-distribution minus in-distribution change of (PIE share − null share)"
    )
)
print(overall_rule())

# %%
rows, intervals, balance = [], [], []
for name, trained in studies.items():
    n_classes = trained.dataset.num_classes
    half_a, half_b = trained.seed_halves()
    [gold, dense], ood = pool_domains(
        [trained.labels("test"), trained.predictions(DENSE, 0.0, "test")],
        [trained.labels("transfer"), trained.predictions(DENSE, 0.0, "transfer")],
    )
    assert dense.shape == (trained.study.seeds, len(gold)) and 0 < ood.sum() < len(ood)
    for method in trained.study.methods:
        for sparsity in trained.study.sparsities:
            [pruned], _ = pool_domains(
                [trained.predictions(method, sparsity, "test")], [trained.predictions(method, sparsity, "transfer")]
            )
            arrays = [dense[half_a], dense[half_b], pruned[half_a], pruned[half_b], gold, ood]
            point = domain_measures(*arrays, num_classes=n_classes)
            samples = bootstrap_measures(
                arrays, lambda *a, n=n_classes: domain_measures(*a, num_classes=n), n_resamples=settings["n_resamples"]
            )
            cell = {"study": name, "direction": direction(trained), "method": method, "sparsity": sparsity}
            for population, predictions in ((DENSE, dense), ("pruned", pruned)):
                balance += [
                    {
                        **cell,
                        "population": population,
                        "domain": DOMAIN_NAMES[domain],
                        "predicts class 1": float((predictions[:, mask] == 1).mean()),
                    }
                    for domain, mask in zip(DOMAINS, (~ood, ood))
                ]
            table = interval_table(point, samples).assign(**cell)
            intervals.append(table)
            effect = table.set_index("measure").loc["effect"]
            rows.append(
                {
                    **cell,
                    **{k: point[k] for k in ("pie_share_id", "pie_share_ood", "null_share_id", "null_share_ood")},
                    "effect": point["effect"],
                    "low": effect.low,
                    "high": effect.high,
                    "p_value": bootstrap_p_value(samples["effect"].to_numpy()),
                }
            )
shift = apply_verdicts(pd.DataFrame(rows), alpha=settings["alpha"])
intervals = pd.concat(intervals, ignore_index=True)
intervals["cell"] = intervals.method + " " + intervals.sparsity.map("{:.0%}".format)
n_cells = sum(len(s.study.methods) * len(s.study.sparsities) for s in studies.values())
shares = ["pie_share_id", "pie_share_ood", "null_share_id", "null_share_ood"]
assert len(shift) == n_cells and shift[shares].stack().between(0, 1).all()
assert shift.effect.between(-2, 2).all() and (shift.low <= shift.high).all()
assert intervals[intervals.measure.str.contains("accuracy")].value.dropna().between(0, 1).all()
shift.drop(columns="study").style.format(
    {
        "sparsity": "{:.0%}",
        "pie_share_id": "{:.3f}",
        "pie_share_ood": "{:.3f}",
        "null_share_id": "{:.3f}",
        "null_share_ood": "{:.3f}",
        "effect": "{:+.3f}",
        "low": "{:+.3f}",
        "high": "{:+.3f}",
        "p_value": "{:.3g}",
        "p_holm": "{:.3g}",
    },
    na_rep="–",
)

# %%
Markdown(
    outside_note(shift, "effect", "effects", label=["study", "method", "sparsity"])
    + " "
    + outside_note(intervals, "value", "shares and accuracies", label=["study", "cell", "measure"])
)

# %% [markdown]
# Mean accuracy of the dense and pruned models (both halves) in each domain, with 95 %
# intervals, and how often they predict class 1 (fresh/positive; half the points of each
# domain carry it, give or take the shares in the first table). A pruned population that
# predicts one class almost everywhere makes a PIE of every point where the dense models
# predict the other class: its PIE share then follows the dense models' class balance, which
# can move with the domain.

# %%
accuracy = intervals[intervals.measure.isin([f"{p}_accuracy_{d}" for p in (DENSE, "pruned") for d in DOMAINS])].copy()
accuracy["population"] = accuracy.measure.str.split("_").str[0]
accuracy["domain"] = accuracy.measure.str.split("_").str[-1].map(DOMAIN_NAMES)
accuracy["accuracy (95 % interval)"] = [
    interval_text(v, lo, hi) for v, lo, hi in zip(accuracy.value, accuracy.low, accuracy.high)
]
balance = pd.DataFrame(balance)
balance["cell"] = balance.method + " " + balance.sparsity.map("{:.0%}".format)
assert balance["predicts class 1"].between(0, 1).all() and len(balance) == 4 * n_cells
balance["predicts class 1"] = balance["predicts class 1"].map("{:.1%}".format)
accuracy.merge(balance, on=["direction", "cell", "population", "domain"]).pivot_table(
    index=["direction", "cell", "population"],
    columns="domain",
    values=["accuracy (95 % interval)", "predicts class 1"],
    aggfunc="first",
    sort=False,
)

# %% [markdown]
# ## PIE share and the null, in and out of distribution
#
# Top: per cell, the PIE share (colour) and the dense-vs-dense null (grey) in distribution
# (circles) and out of it (squares), with 95 % intervals. Bottom: the effect, the
# out-of-distribution increase of the PIE share beyond the null's, coloured by its verdict.

# %% tags=["hide-input"]
VERDICT_COLOURS = {"supported": "#1b9e77", "not supported": "#d95f02", "inconclusive at this scale": "#7570b3"}
pie_colour, null_colour = "#1f77b4", plots.DENSE_COLOUR
names = list(studies)
most_cells = max(len(shift[shift.study == n]) for n in names)
panel_width = min(14.0, max(7.0, 3.0 + 0.35 * most_cells))


def dodged(ax, table, series, width=0.7):
    """Points with 95 % intervals at x = cell, one dodged series per label → (measure, colour, marker, filled)."""
    cells = list(dict.fromkeys(table.cell))
    for i, (label, (measure, colour, marker, filled)) in enumerate(series.items()):
        shown = table[table.measure == measure].set_index("cell").loc[cells]
        x = np.arange(len(cells)) + (i - (len(series) - 1) / 2) * width / len(series)
        plots.interval_points(
            ax,
            x,
            shown.value,
            shown.low,
            shown.high,
            color=colour,
            marker=marker,
            filled=filled,
            label=label,
            capsize=2,
        )
    ax.set_xticks(range(len(cells)), cells, rotation=90 if len(cells) > 8 else 0)
    ax.grid(axis="x", visible=False)  # a grid line would run through the middle series


share_series = {
    "PIEs, in distribution": ("pie_share_id", pie_colour, "o", True),
    "PIEs, out of distribution": ("pie_share_ood", pie_colour, "s", True),
    "null, in distribution": ("null_share_id", null_colour, "o", True),
    "null, out of distribution": ("null_share_ood", null_colour, "s", True),
}
fig, axes = plt.subplots(
    2 * len(names), 1, figsize=(panel_width, 6.5 * len(names)), height_ratios=[3, 2] * len(names), squeeze=False
)
for index, name in enumerate(names):
    top, bottom = axes[2 * index][0], axes[2 * index + 1][0]
    dodged(top, intervals[intervals.study == name], share_series)
    top.set_title(direction(studies[name]), fontsize=10)
    top.set_ylabel("share of the domain's points")
    top.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    cells_ = shift[shift.study == name].reset_index(drop=True)
    for i, row in cells_.iterrows():
        plots.interval_points(
            bottom, [i], [row.effect], [row.low], [row.high], color=VERDICT_COLOURS[row.verdict], label=row.verdict
        )
    bottom.axhline(0, color="black", linewidth=0.8)
    bottom.grid(axis="x", visible=False)
    bottom.set_xticks(
        range(len(cells_)),
        cells_.method + " " + cells_.sparsity.map("{:.0%}".format),
        rotation=90 if len(cells_) > 8 else 0,
    )
    bottom.set_ylabel("effect (ood − id excess)")
    handles = dict(zip(*reversed(bottom.get_legend_handles_labels())))  # one legend entry per verdict
    bottom.legend(handles.values(), handles.keys(), fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Accuracy on PIEs and non-PIEs in each domain
#
# Mean accuracy with 95 % intervals of the pruned half A (colour) and the dense half B (grey),
# which took no part in selecting the PIEs, on the PIEs (filled) and the other points (open)
# of each domain; the dashed line is chance for two balanced classes. Each of the two
# populations shares seeds with one side of the selection (pruned A with dense A, dense B with
# pruned B), so each leans a little toward that side's labels.

# %% tags=["hide-input"]
fig, axes = plt.subplots(
    len(names),
    2,
    figsize=(2 * min(8.0, max(4.5, 2.5 + 0.3 * most_cells)), 3.8 * len(names)),
    squeeze=False,
    sharey=True,
)
for row_axes, name in zip(axes, names):
    for ax, domain in zip(row_axes, DOMAINS):
        series = {
            "pruned A on PIEs": (f"pruned_accuracy_pies_{domain}", pie_colour, "o", True),
            "pruned A on non-PIEs": (f"pruned_accuracy_non_pies_{domain}", pie_colour, "o", False),
            "dense B on PIEs": (f"dense_accuracy_pies_{domain}", null_colour, "s", True),
            "dense B on non-PIEs": (f"dense_accuracy_non_pies_{domain}", null_colour, "s", False),
        }
        dodged(ax, intervals[intervals.study == name], series)
        ax.axhline(0.5, color="black", linewidth=0.8, linestyle="--")
        ax.set_title(DOMAIN_NAMES[domain], fontsize=10)
        ax.set_ylim(0, 1)
    row_axes[0].set_ylabel(f"{direction(studies[name])}\nmean accuracy")
    row_axes[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Verdict

# %%
verdicts = {
    study: overall_verdict(shift[shift.study == study].verdict) if study in studies else "not measured"
    for study in DIRECTIONS
}
first = shift[shift.study == "ood"].sort_values("effect", ascending=False).iloc[0]
values = (
    intervals[(intervals.study == "ood") & (intervals.method == first.method) & (intervals.sparsity == first.sparsity)]
    .set_index("measure")
    .value
)
glue("verdict", verdicts["ood"], display=False)
glue("verdict_reverse", verdicts["ood_reverse"], display=False)
glue("cell", f"{first.method} at {first.sparsity:.0%}", display=False)
for measure in (
    "dense_accuracy_id",
    "dense_accuracy_ood",
    "pruned_accuracy_id",
    "pruned_accuracy_ood",
    "pie_share_id",
    "pie_share_ood",
    "null_share_id",
    "null_share_ood",
    "effect",
    "pruned_accuracy_pies_id",
    "pruned_accuracy_non_pies_id",
    "pruned_accuracy_pies_ood",
    "pruned_accuracy_non_pies_ood",
):
    glue(measure, float(values[measure]), display=False)
glue("effect_low", float(first.low), display=False)
glue("effect_high", float(first.high), display=False)
print(verdicts, f"largest forward effect: {first.method} {first.sparsity:.0%}")

# %% [markdown]
# **Verdict on "pruning creates more PIEs out of distribution than in distribution, beyond
# dense-vs-dense disagreement": {glue:text}`verdict`** (Rotten Tomatoes → movie reviews).
# The reverse direction (movie reviews → Rotten Tomatoes): {glue:text}`verdict_reverse`.
#
# In the cell with the largest effect, {glue:text}`cell`, the PIE share goes from
# {glue:text}`pie_share_id:.2f` in distribution to {glue:text}`pie_share_ood:.2f` out of it,
# while two dense populations disagree on {glue:text}`null_share_id:.2f` and
# {glue:text}`null_share_ood:.2f` of the points; the effect is {glue:text}`effect:+.2f`
# (95 % interval {glue:text}`effect_low:+.2f` to {glue:text}`effect_high:+.2f`).

# %% [markdown]
# ## What this means
#
# The models read snippets of at most {glue:text}`train_budget` tokens in training (median
# {glue:text}`median_tokens_id:.0f` in the test split) and reviews of a median
# {glue:text}`median_tokens_ood:.0f` tokens out of distribution, {glue:text}`cut_share_ood:.0%`
# of them cut at {glue:text}`transfer_budget`. Dense accuracy falls from
# {glue:text}`dense_accuracy_id:.3f` to {glue:text}`dense_accuracy_ood:.3f` and pruned accuracy
# from {glue:text}`pruned_accuracy_id:.2f` to {glue:text}`pruned_accuracy_ood:.2f` in
# {glue:text}`cell`, so both kinds of model are less sure out of distribution and disagree more
# there whether pruned or not. The verdict, {glue:text}`verdict`, says whether pruning adds
# disagreement beyond that. On PIEs the pruned models score {glue:text}`pruned_accuracy_pies_id:.2f`
# in distribution and {glue:text}`pruned_accuracy_pies_ood:.2f` out of it, against
# {glue:text}`pruned_accuracy_non_pies_id:.2f` and {glue:text}`pruned_accuracy_non_pies_ood:.2f`
# on the other points. A shift this large (other text lengths, other writing) is a hard test;
# a milder shift could behave differently, and this chapter does not measure one.
