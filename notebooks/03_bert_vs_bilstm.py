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
# # BERT vs BiLSTM: which architecture is more prone to PIEs?
#
# **The paper's claim.** BERT is more prone to PIEs than a BiLSTM.
#
# **Our question.** On the same data, subset, splits, seeds, pruning methods and sparsities,
# is the PIE share of a pruned MiniLM population (our BERT) larger than that of a pruned BiLSTM
# population of equal size?
#
# Both studies (`bert` and `bilstm_pair` in the profile) train on the same Rotten Tomatoes
# subset, so the test points are the same and the comparison is paired point by point.

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
from pie_utils.intervals import outside_note
from pie_utils.pies import modal_labels
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

settings = analysis_parameters(profile, n_resamples=n_resamples, alpha=alpha)
plots.use_style()
archs = {
    "MiniLM (BERT)": train(profile, "bert", progress=False),
    "BiLSTM": train(profile, "bilstm_pair", progress=False),
}
bert, bilstm = archs.values()
assert bert.study.seeds == bilstm.study.seeds, "populations must be of equal size"
assert bert.dataset.fingerprint() == bilstm.dataset.fingerprint(), "both studies must use the same data and splits"
assert (bert.study.methods, bert.study.sparsities) == (bilstm.study.methods, bilstm.study.sparsities)
gold, n_classes = bert.labels(), bert.dataset.num_classes
cells = [(m, s) for m in bert.study.methods for s in bert.study.sparsities]
print(f"{len(gold)} test points, {bert.study.seeds} seeds per population, cells: {cells}")

# %% [markdown]
# ## The rule, before the result
#
# For each method and sparsity, the effect is the PIE share of MiniLM minus the PIE share of
# the BiLSTM (dense population vs pruned population, all seeds). Its 95 % interval and
# two-sided p-value come from a bootstrap that resamples the seeds of all four populations and
# the test points (shared, so the two architectures stay paired); p-values are Holm-adjusted
# across cells.

# %%
print(verdict_rule(settings["alpha"], what="the PIE share of MiniLM minus that of the BiLSTM"))
print(overall_rule())


# %%
def pie_share(dense, pruned):
    return float(np.mean(modal_labels(dense, n_classes).labels != modal_labels(pruned, n_classes).labels))


def share_difference(bert_dense, bert_pruned, lstm_dense, lstm_pruned):
    return pie_share(bert_dense, bert_pruned) - pie_share(lstm_dense, lstm_pruned)


rows = []
for method, sparsity in cells:
    populations = [
        bert.predictions(DENSE, 0.0),
        bert.predictions(method, sparsity),
        bilstm.predictions(DENSE, 0.0),
        bilstm.predictions(method, sparsity),
    ]
    samples = bootstrap(populations, share_difference, n_resamples=settings["n_resamples"])
    low, high = percentile_interval(samples)
    accuracy = [(p == gold).mean() for p in populations]
    rows.append(
        {
            "method": method,
            "sparsity": sparsity,
            "pie_share_minilm": pie_share(*populations[:2]),
            "pie_share_bilstm": pie_share(*populations[2:]),
            "effect": share_difference(*populations),
            "low": low,
            "high": high,
            "p_value": bootstrap_p_value(samples),
            "accuracy_drop_minilm": accuracy[0] - accuracy[1],
            "accuracy_drop_bilstm": accuracy[2] - accuracy[3],
            "dense_accuracy_minilm": accuracy[0],
            "dense_accuracy_bilstm": accuracy[2],
        }
    )
comparison = apply_verdicts(pd.DataFrame(rows), alpha=settings["alpha"])
assert len(comparison) == len(cells)
assert comparison[["pie_share_minilm", "pie_share_bilstm"]].stack().between(0, 1).all()
comparison.style.format(
    {c: "{:.3f}" for c in comparison.columns if c.startswith(("pie_share", "accuracy", "dense"))}
    | {
        "sparsity": "{:.0%}",
        "effect": "{:+.3f}",
        "low": "{:+.3f}",
        "high": "{:+.3f}",
        "p_value": "{:.3g}",
        "p_holm": "{:.3g}",
    }
)

# %%
Markdown(outside_note(comparison, "effect", "differences of PIE share", label=["method", "sparsity"]))

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
labels = [f"{m} {s:.0%}" for m, s in cells]
x = np.arange(len(cells))
for ax, (metric, title) in zip(
    axes, [("pie_share", "PIE share (dense vs pruned)"), ("accuracy_drop", "mean accuracy drop")]
):
    ax.bar(x - 0.2, comparison[f"{metric}_minilm"], width=0.4, label="MiniLM (BERT)", color="#7570b3")
    ax.bar(x + 0.2, comparison[f"{metric}_bilstm"], width=0.4, label="BiLSTM", color="#e6ab02")
    ax.set_xticks(x, labels, rotation=20)
    ax.set_title(title, fontsize=10)
    ax.axhline(0, color="black", linewidth=0.8)
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Verdict

# %%
verdict = overall_verdict(comparison.verdict)
strongest = comparison.loc[comparison.effect.abs().idxmax()]
glue("verdict", verdict, display=False)
glue("cell", f"{strongest.method} at {strongest.sparsity:.0%}", display=False)
glue("share_minilm", float(strongest.pie_share_minilm), display=False)
glue("share_bilstm", float(strongest.pie_share_bilstm), display=False)
glue("low", float(strongest.low), display=False)
glue("high", float(strongest.high), display=False)
glue("seeds", bert.study.seeds, display=False)
print(verdict)

# %% [markdown]
# **Verdict: {glue:text}`verdict`.** With {glue:text}`seeds` seeds per population, the largest
# difference is at {glue:text}`cell`: PIE share {glue:text}`share_minilm:.2f` for MiniLM against
# {glue:text}`share_bilstm:.2f` for the BiLSTM (95 % interval of the difference
# {glue:text}`low:+.2f` to {glue:text}`high:+.2f`). MiniLM is a 6-layer distilled model, not
# `bert-base-uncased`; the `full` profile runs the paper's BERT where a hub is reachable.
