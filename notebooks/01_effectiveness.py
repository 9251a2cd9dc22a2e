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
# # Effectiveness: pruned populations keep their mean accuracy
#
# **The paper's claim.** Pruned models keep the accuracy of their unpruned counterparts at
# moderate sparsity (the paper's effectiveness figure, 30 seeds per population), so a summary
# by mean accuracy suggests that pruning costs little.
#
# **Our question.** For each architecture, method and sparsity, how far is the mean test
# accuracy of the pruned population from that of the dense population, and is it within
# 2 percentage points?
#
# **Data.** The paper used IMDB, SNLI, Reuters and AAPD with `bert-base-uncased` and GloVe 840B;
# without a hub we use the embedded Rotten Tomatoes snippets (BiLSTM on GloVe 6B 50-d, and
# MiniLM-L6 as the BERT) and Reuters R8/R52 (single-label, BiLSTM). The paper's own numbers for
# its closest setting (IMDB, sentiment) are shown beside ours; see "Deviations from the paper".

# %% tags=["parameters"]
profile = "default"  # ci | default | extended | full (pie_utils/profiles.toml)
n_resamples = None  # bootstrap resamples; None: the profile's analysis value
alpha = None  # family-wise error rate; None: the profile's analysis value
margin = 0.02  # the largest accuracy change that still counts as "kept"

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown
from myst_nb import glue

from pie_utils import plots
from pie_utils.intervals import outside_note
from pie_utils.pruning import DENSE
from pie_utils.stats import (
    bootstrap,
    equivalence_rule,
    equivalence_verdict,
    overall_rule,
    overall_verdict,
    percentile_interval,
)
from pie_utils.studies import analysis_parameters, project_root, train

settings = analysis_parameters(profile, n_resamples=n_resamples, alpha=alpha)
plots.use_style()
STUDIES = {"run": "BiLSTM", "bert": "MiniLM", "reuters_r8": "BiLSTM", "reuters_r52": "BiLSTM"}
studies = {name: train(profile, name, progress=False) for name in STUDIES}

# %% [markdown]
# ## The rule, before the result
#
# For every cell (study × method × sparsity) we take the change in mean test accuracy, pruned
# minus dense, with a two-level bootstrap: seeds of each population and test examples are
# resampled (examples shared by both populations, so the comparison stays paired). Intervals
# are Bonferroni-adjusted for the number of cells (level 1 − 2α/m, the usual two one-sided
# tests construction for equivalence), so all cells hold together at family-wise level α.

# %%
n_cells = sum(len(s.study.methods) * len(s.study.sparsities) for s in studies.values())
level = 1 - 2 * settings["alpha"] / n_cells
rule = equivalence_rule(margin, what="the change in mean accuracy") + " " + overall_rule()
print(rule)
print(f"{n_cells} cells; interval level {level:.4f}; {settings['n_resamples']} bootstrap resamples.")


# %%
def correctness(trained, method, sparsity):
    """[seed, example] bool: which test points each model of the population gets right."""
    return trained.predictions(method, sparsity) == trained.labels()[None, :]


rows = []
for name, trained in studies.items():
    dense = correctness(trained, DENSE, 0.0)
    rows.append(
        {
            "study": name,
            "arch": STUDIES[name],
            "dataset": trained.study.dataset,
            "method": DENSE,
            "sparsity": 0.0,
            "accuracy": dense.mean(),
            "change": 0.0,
        }
    )
    for method in trained.study.methods:
        for sparsity in trained.study.sparsities:
            pruned = correctness(trained, method, sparsity)
            change = bootstrap(
                [dense, pruned], lambda d, p: p.mean() - d.mean(), n_resamples=settings["n_resamples"], seed=0
            )
            low, high = percentile_interval(change, level)
            rows.append(
                {
                    "study": name,
                    "arch": STUDIES[name],
                    "dataset": trained.study.dataset,
                    "method": method,
                    "sparsity": sparsity,
                    "accuracy": pruned.mean(),
                    "change": pruned.mean() - dense.mean(),
                    "low": low,
                    "high": high,
                    "verdict": equivalence_verdict((low, high), margin),
                }
            )
effectiveness = pd.DataFrame(rows)
cells = effectiveness[effectiveness.method != DENSE]
assert len(cells) == n_cells and cells.accuracy.between(0, 1).all() and cells[["low", "high"]].notna().all().all()
assert (cells.low <= cells.high).all()
(
    cells.assign(sparsity=cells.sparsity.map("{:.0%}".format))
    .set_index(["dataset", "arch", "method", "sparsity"])[["accuracy", "change", "low", "high", "verdict"]]
    .style.format({"accuracy": "{:.3f}", "change": "{:+.3f}", "low": "{:+.3f}", "high": "{:+.3f}"})
)

# %%
Markdown(outside_note(cells, "change", "accuracy changes", label=["dataset", "arch", "method", "sparsity"]))

# %% [markdown]
# ## Our curves beside the paper's
#
# Mean test accuracy per sparsity (error bars: the 95 % bootstrap interval over seeds and
# examples). Right: the paper's own IMDB numbers (mean ± one standard deviation over 30 seeds),
# the closest of its settings to ours.

# %% tags=["hide-input"]
paper = pd.read_csv(project_root() / "book" / "data" / "paper_effectiveness.csv")
imdb = paper[(paper.dataset == "IMDB") & (paper.metric == "accuracy")]
shown_methods = sorted(set(cells.method))
n_panels = len(studies) + 1
fig, grid = plt.subplots(2, (n_panels + 1) // 2, figsize=(4.2 * ((n_panels + 1) // 2), 7.6), squeeze=False)
axes = grid.ravel()[:n_panels]
for spare in grid.ravel()[n_panels:]:
    spare.remove()
for ax, (name, trained) in zip(axes, studies.items()):
    dense = correctness(trained, DENSE, 0.0)
    curve = []
    for method in trained.study.methods:
        curve.append(
            {
                "method": method,
                "sparsity": 0.0,
                "mean": dense.mean(),
                **dict(
                    zip(
                        ("low", "high"),
                        percentile_interval(
                            bootstrap([dense], lambda d: d.mean(), n_resamples=settings["n_resamples"])
                        ),
                    )
                ),
            }
        )
        for sparsity in trained.study.sparsities:
            pruned = correctness(trained, method, sparsity)
            samples = bootstrap([pruned], lambda p: p.mean(), n_resamples=settings["n_resamples"])
            curve.append(
                {
                    "method": method,
                    "sparsity": sparsity,
                    "mean": pruned.mean(),
                    **dict(zip(("low", "high"), percentile_interval(samples))),
                }
            )
    plots.interval_plot(ax, pd.DataFrame(curve), "sparsity", "mean", "low", "high", "method", dodge=0.012)
    ax.set_title(f"ours: {trained.study.dataset}, {STUDIES[name]}", fontsize=10)
    ax.set_xlabel("sparsity")
    ax.set_ylabel("test accuracy")
paper_panel = imdb[imdb.method.isin(shown_methods) & (imdb.sparsity_percent <= 90)].copy()
paper_panel["sparsity"] = paper_panel.sparsity_percent / 100
paper_panel["label"] = paper_panel.architecture + " " + paper_panel.method
for (arch, method), rows_ in paper_panel.groupby(["architecture", "method"]):
    axes[-1].errorbar(
        rows_.sparsity,
        rows_["mean"],
        yerr=rows_["std"],
        fmt="o-" if arch == "BERT" else "s--",
        capsize=3,
        markersize=4,
        linewidth=1,
        color=plots.method_palette([method])[method],
        label=f"{arch} {method}",
    )
axes[-1].set_title("paper: IMDB, 30 seeds (mean ± sd)", fontsize=10)
axes[-1].set_xlabel("sparsity")
axes[0].legend(fontsize=8, loc="lower left")
axes[-1].legend(fontsize=7, loc="lower left")
fig.tight_layout()
plt.show()

# %% [markdown]
# Side by side, as numbers: the change in mean accuracy, pruned minus dense, in the paper
# (IMDB) and here (Rotten Tomatoes), for the same methods and sparsities.

# %%
paper_change = imdb.merge(
    imdb[imdb.sparsity_percent == 0][["architecture", "method", "mean"]],
    on=["architecture", "method"],
    suffixes=("", "_dense"),
).assign(paper_change=lambda t: t["mean"] - t["mean_dense"], sparsity=lambda t: t.sparsity_percent / 100)
ours = cells[cells.study.isin(["run", "bert"])][["arch", "method", "sparsity", "change"]]
ours = ours.assign(architecture=ours.arch.map({"BiLSTM": "BiLSTM", "MiniLM": "BERT"}))
comparison = ours.merge(
    paper_change[["architecture", "method", "sparsity", "paper_change"]],
    on=["architecture", "method", "sparsity"],
    how="left",
)
assert len(comparison) == len(ours)
comparison.rename(columns={"change": "ours (Rotten Tomatoes)", "paper_change": "paper (IMDB)"}).drop(
    columns="architecture"
).style.format({"sparsity": "{:.0%}", "ours (Rotten Tomatoes)": "{:+.3f}", "paper (IMDB)": "{:+.3f}"})

# %% [markdown]
# ## Verdict

# %%
verdict = overall_verdict(cells.verdict)
counts = cells.verdict.value_counts()
worst = cells.loc[cells.change.idxmin()]
glue("verdict", verdict, display=False)
glue("n_cells", n_cells, display=False)
glue("n_kept", int(counts.get("supported", 0)), display=False)
glue("worst_change", float(worst.change), display=False)
glue("worst_cell", f"{worst.method} at {worst.sparsity:.0%} ({worst.dataset}, {worst.arch})", display=False)
glue(
    "dense_accuracy",
    float(effectiveness[(effectiveness.study == "run") & (effectiveness.method == DENSE)].accuracy.iloc[0]),
    display=False,
)
print(f"Verdict: {verdict}. {counts.to_dict()}")

# %% [markdown]
# **Verdict: {glue:text}`verdict`.** In {glue:text}`n_kept` of {glue:text}`n_cells` cells the
# pruned population's mean accuracy is within ±2 points of the dense one by the rule above; the
# largest change is {glue:text}`worst_change:+.2f` ({glue:text}`worst_cell`). The dense BiLSTM
# population on Rotten Tomatoes reaches {glue:text}`dense_accuracy:.3f` mean accuracy. The
# chapters that follow ask where the points that change lie.
