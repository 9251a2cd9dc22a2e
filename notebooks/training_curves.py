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
# # Appendix: training curves and the epochs chosen
#
# Every configuration trains for E epochs (the dense run, and each round of the iterative
# schedules), chosen on the validation split alone: the first epoch whose mean validation metric
# over seeds is within a tolerance of the best mean epoch (`pie_utils.metrics.plateau_epoch`,
# run by `scripts/tune.py` before a profile trains; the curves it saw are in
# `pie_utils/profiles.toml`). This page draws the same curves from the dense runs the profile
# trained. The main configuration's are those of its extra-training control (`dense_long`),
# trained to 4E, so they show what training past E does: the accuracy-matched and
# extra-training controls of the chapters read exactly these trajectories.

# %% tags=["parameters"]
profile: str = "published"  # ci | default | published | full (pie_utils/profiles.toml)

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown

from pie_utils import plots
from pie_utils.chapters.training_curves import curve, dense_history, plateau_row
from pie_utils.provenance import store_statement
from pie_utils.studies import MAIN_STUDY, load_study, train, with_studies

plots.use_style()
labels = {
    "dense_long": "main configuration, to 4E",
    "bilstm_pair": "BiLSTM of the MiniLM pair",
    "bert": "MiniLM",
    "reuters_r8": "Reuters R8 BiLSTM",
}
names = with_studies(profile, *labels)
histories = {name: dense_history(train(profile, name, progress=False)) for name in names}
used = {name: load_study(profile, name).training.epochs for name in names}
used["dense_long"] = load_study(profile, MAIN_STUDY).training.epochs  # what the chapters' populations train

# %% tags=["remove-input"]
Markdown(store_statement(profile))

# %% [markdown]
# ## The plateau of each configuration

# %%
plateaus = pd.DataFrame([plateau_row(labels[name], histories[name], used[name]) for name in names])
plateaus.style.format({"best_mean": "{:.3f}", "mean_at_used": "{:.3f}"}).hide(axis="index")

# %% [markdown]
# `epochs_used` is the E the profile trains; `plateau_epoch` is what the rule picks from these
# runs' own curves (often fewer seeds than the tuning used, and on the trained subset).

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.2), squeeze=False)
for ax, name in zip(axes[0], names):
    mean = curve(histories[name])
    ax.fill_between(mean.epoch, mean["mean"] - mean.sd, mean["mean"] + mean.sd, alpha=0.25)
    ax.plot(mean.epoch, mean["mean"], marker="o", markersize=3)
    ax.axvline(used[name], linestyle="--", color="black", linewidth=1, label=f"E = {used[name]} (trained)")
    row = plateaus.set_index("study").loc[labels[name]]
    ax.axvline(row.plateau_epoch, linestyle=":", color="grey", linewidth=1, label=f"plateau {row.plateau_epoch}")
    ax.set_title(labels[name], fontsize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"validation {row.metric} (mean ± sd)")
    ax.legend(fontsize=7)
fig.tight_layout()
plt.show()
