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
# # Does EL2N measure influence?
#
# **Why it matters.** Chapter 4 (like the paper) ranks training points by EL2N and reads the
# top of that ranking as "the points with the largest influence on generalisation". EL2N
# {cite}`paul2021diet` is the distance between a model's early predictions and the label: a
# measure of how hard a point is to fit. Whether it also ranks points by *influence*, the
# effect of removing a point on the loss, was never measured there.
#
# **Our question.** Against a ground truth of exact leave-one-out (LOO) retraining, does EL2N
# rank training points by their influence? TracIn {cite}`pruthi2020tracin`, a gradient-based
# estimate of the same quantity, is measured beside it as a second proxy.
#
# **The influence targets**, for a training point $i$ with loss $\ell_i$ and fits $\hat\theta$
# (all training points) and $\hat\theta_{-i}$ (all but $i$):
#
# - *self-influence* $S_i = \ell_i(\hat\theta_{-i}) - \ell_i(\hat\theta) \ge 0$: how much the
#   point's own loss rises when it is not trained on (memorisation);
# - *test influence* $T_i = \sum_{t \in \text{test}} [\ell_t(\hat\theta_{-i}) - \ell_t(\hat\theta)]$:
#   how much the summed test loss rises without it (> 0: the point helps generalisation);
# - *PIE influence* $T^{\text{PIE}}_i$: the same sum over the test PIEs only.
#
# **The convex stand-in.** Retraining the BiLSTM once per point is out of reach, and its
# non-convex training would add seed noise larger than one point's effect. So the ground truth
# is computed exactly where it can be, as Koh and Liang {cite}`koh2017influence` did to check
# influence functions: on the frozen 128 features that a trained dense BiLSTM of the main
# study feeds its classifier (the output of its MLP `head`), an L2-regularised logistic
# regression is fitted to convergence and refitted without each of `loo_points` training
# points. The features keep what the BiLSTM learnt from every point, the left-out one
# included, so this measures influence on the last layer only; in the `full` profile a
# leave-*group*-out retraining of the whole BiLSTM complements it.
#
# **Verdict at this build's scale:** {glue:text}`verdict`. The sections below show how it was reached.
#
# ```{glue:figure} key_figure
# ```
#
# *Run time on 2 CPU cores: 40 s with the `default` store trained (measured in a
# `make book` build; training the whole profile from an empty store takes about 29 minutes first).*

# %% tags=["parameters"]
from typing import Optional  # papermill lists a parameter by its annotation, and reads no "X | None"

profile: str = "default"  # ci | default | published | full (pie_utils/profiles.toml)
study: str = "run"  # the study read as the main population (python -m pie_utils profiles)
dataset: Optional[str] = None  # a dataset name or a CSV/Parquet/JSONL file, read whole; None: the profile's
data_path: Optional[str] = None  # a local copy of a hub dataset; None: none
arch: Optional[str] = None  # bilstm | bert; None: the profile's
methods: Optional[list[str]] = None  # pruning methods of the main population; None: the profile's
sparsities: Optional[list[float]] = None  # its sparsities; None: the profile's
seeds: Optional[int] = None  # seeds of every population; None: the profile's
n_resamples: Optional[int] = None  # bootstrap resamples; None: the profile's analysis value
alpha: Optional[float] = None  # family-wise error rate; None: the profile's analysis value
el2n_epoch: Optional[int] = None  # epoch whose training-split logits give EL2N; None: the profile's value
loo_points: Optional[int] = None  # training points left out one at a time; None: the profile's value
group_retrains: Optional[int] = None  # BiLSTM seeds retrained per left-out group, 0: skipped; None: the profile's value
group_store: Optional[str] = None  # absolute path of a store for the leave-group-out runs; None: the main study's store

# %% tags=["hide-input"]
from pie_utils.chapter_inputs import chapter_inputs

populations = chapter_inputs(globals(), claims=[])  # first: refuses a parameter the cell lacks

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue
from scipy.stats import rankdata, spearmanr
from sklearn.preprocessing import StandardScaler

from pie_utils import plots
from pie_utils.claims import claim, describe
from pie_utils.effects import bootstrap_cells
from pie_utils.influence import el2n_scores, per_example_loss
from pie_utils.influence_truth import (
    fit_logistic,
    gradient_norm,
    head_features,
    head_loss,
    leave_one_out,
    tracin_scores,
)
from pie_utils.paired import paired_inference
from pie_utils.pies import find_pies
from pie_utils.pruning import DENSE
from pie_utils.scales import beside_default
from pie_utils.stats import bootstrap
from pie_utils.studies import analysis_parameters, leave_group_out

settings = analysis_parameters(
    profile,
    n_resamples=n_resamples,
    alpha=alpha,
    el2n_epoch=el2n_epoch,
    loo_points=loo_points,
    group_retrains=group_retrains,
)
truth = claim("el2n_influence")
plots.use_style()
main = populations.main()
labels, gold, n_classes = main.labels("train"), main.labels("test"), main.dataset.num_classes
half_a, half_b = main.seed_halves()
# EL2N exactly as chapter 4 takes it: the dense models of half A after `el2n_epoch` epochs
early = main.logits(DENSE, 0.0, split="train", array=f"train_logits_epoch{settings['el2n_epoch']}")
el2n = el2n_scores(early[half_a], labels)
# test PIEs of any (method, sparsity) cell, from every seed: they define a target here, not a selection
dense = main.predictions(DENSE, 0.0)
pies = np.zeros(len(gold), dtype=bool)
for method in main.study.methods:
    for sparsity in main.study.sparsities:
        pies |= find_pies(dense, main.predictions(method, sparsity), n_classes)
# the features come from a dense model of half B, which took no part in EL2N
feature_seed = main.study.seed_range[half_b[0]]
model = main.model(DENSE, 0.0, feature_seed)
raw = {split: head_features(model, main.prepared.encoded[split]) for split in ("train", "validation", "test")}
scaler = StandardScaler().fit(raw["train"])  # constant (dead ReLU) features stay 0
features = {split: scaler.transform(values) for split, values in raw.items()}
assert features["train"].shape == (len(labels), model.head[-2].out_features) and features["test"].shape[0] == len(gold)
assert el2n.shape == labels.shape and pies.any(), "no test PIEs in any cell: the PIE target is undefined"
print(
    f"{len(labels)} training and {len(gold)} test points ({int(pies.sum())} test PIEs in some cell); "
    f"{features['train'].shape[1]} features from dense seed {feature_seed}; EL2N from seeds {half_a.tolist()}"
)

# %% tags=["remove-input"]
Markdown(populations.statement())

# %% [markdown]
# ## Ground truth: exact leave-one-out on the logistic head
#
# The head minimises $C \sum_j \ell_j + \tfrac12 \lVert W \rVert^2$ (scikit-learn's
# objective, intercept unpenalised) by Newton's method; $C$ is the value of a small grid with
# the lowest validation loss. Each refit starts from the full fit and runs to a gradient
# tolerance of 1e-10; we report the largest gradient norm over all fits rather than assume
# convergence. The points are a seeded random sample of the training split.

# %%
grid = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
validation_loss = [
    head_loss(fit_logistic(features["train"], labels, c), features["validation"], main.labels("validation")).mean()
    for c in grid
]
c = grid[int(np.argmin(validation_loss))]
fit = fit_logistic(features["train"], labels, c)
full_gradient = gradient_norm(fit, features["train"], labels)
points = np.sort(np.random.default_rng(0).choice(len(labels), min(settings["loo_points"], len(labels)), replace=False))
loo = leave_one_out(fit, features["train"], labels, points, features["test"], gold)
targets = {
    "self-influence": loo.self_change,
    "test influence": loo.test_change.sum(axis=1),
    "PIE influence": loo.test_change[:, pies].sum(axis=1),
}
assert loo.test_change.shape == (len(points), len(gold)) and np.isfinite(loo.test_change).all()
assert loo.max_gradient_norm < 1e-6, f"a refit stopped at gradient norm {loo.max_gradient_norm:.2g}"
assert (loo.self_change > -1e-9).all(), "a point's own loss fell without it: a refit did not converge"
print(
    f"C = {c:g} (validation losses {np.round(validation_loss, 4).tolist()}); training accuracy "
    f"{(fit.predict(features['train']) == labels).mean():.3f}, test accuracy {(fit.predict(features['test']) == gold).mean():.3f}"
)
print(
    f"{len(points)} leave-one-out refits in {loo.seconds:.1f} s; gradient norm {full_gradient:.1e} at the full fit, "
    f"at most {loo.max_gradient_norm:.1e} over all refits"
)
pd.DataFrame(targets).describe().T[["mean", "std", "min", "50%", "max"]]

# %% [markdown]
# ## The proxies
#
# *EL2N*: chapter 4's score of each sampled point. *TracIn*: a linear head over the same
# features trained by minibatch SGD (20 epochs, learning rate 0.05, batch 32, weight decay
# matching the penalty above) with a checkpoint after each epoch; `TracInCPFast` of captum
# {cite}`kokhlikyan2020captum` gives each point's self-influence and its influence on every
# test loss, summed like the targets.

# %%
started = time.perf_counter()
tracin_self, tracin_test = tracin_scores(features["train"], labels, points, features["test"], gold, c)
tracin_seconds = time.perf_counter() - started
proxies = {
    "EL2N": {target: el2n[points] for target in targets},
    "TracIn": {
        "self-influence": tracin_self,
        "test influence": tracin_test.sum(axis=1),
        "PIE influence": tracin_test[:, pies].sum(axis=1),
    },
}
assert tracin_test.shape == (len(points), len(gold)) and np.isfinite(tracin_test).all() and (tracin_self >= 0).all()
print(f"TracIn over {len(points)} points and {len(gold)} test points in {tracin_seconds:.1f} s")

# %% [markdown]
# ## The rule, before the result
#
# For each (proxy, target) pair: Spearman's ρ over the sampled points with a 95 % bootstrap
# interval resampling points (Bonferroni-simultaneous for the five secondary pairs). A proxy
# *measures* a target when ρ is credibly above 0.3, the conventional lower edge of a moderate
# correlation (Cohen, 1988): below it a proxy shares under a tenth of the target's rank variance,
# and its top decile, which chapter 4 reads as "the most influential points", mostly misses the
# target's top decile (the overlap is in the table: chance is 10 %). The claim of the register is
# judged on EL2N against test influence, the reading chapter 4 rests on.

# %%
Markdown(describe(truth))


# %%
def spearman(proxy, target):
    return spearmanr(proxy, target).statistic


def top_decile_overlap(proxy, target):
    """Share of the proxy's top 10 % of points that are in the target's top 10 % (chance: 10 %)."""
    k = max(1, len(proxy) // 10)
    return len(np.intersect1d(np.argsort(proxy)[-k:], np.argsort(target)[-k:])) / k


bootstrapped = {}
for proxy_name, by_target in proxies.items():
    for target_name, target in targets.items():
        proxy = by_target[target_name]
        samples = bootstrap([proxy, target], spearman, n_resamples=settings["n_resamples"])
        bootstrapped[(proxy_name, target_name)] = (spearman(proxy, target), samples)
table = bootstrap_cells(truth, bootstrapped, ("EL2N", "test influence"), ("proxy", "target"), settings["alpha"])
table = table.rename(columns={"estimate": "rho"})
table["top_overlap"] = [top_decile_overlap(proxies[p][t], targets[t]) for p, t in zip(table.proxy, table.target)]
assert len(table) == 6 and table.rho.between(-1, 1).all() and table.top_overlap.between(0, 1).all()
table.style.format(
    {
        "rho": "{:+.3f}",
        "low": "{:+.3f}",
        "high": "{:+.3f}",
        "sd": "{:.3f}",
        "power": "{:.2f}",
        "p_value": "{:.3g}",
        "top_overlap": "{:.0%}",
    }
)

# %% [markdown]
# Each point's rank under the proxy against its rank under the target (percentiles; a perfect
# proxy puts every point on the diagonal):

# %% tags=["hide-input"]
fig, axes = plt.subplots(2, 3, figsize=(11, 7.5), sharex=True, sharey=True)
for row_axes, (proxy_name, by_target) in zip(axes, proxies.items()):
    for ax, (target_name, target) in zip(row_axes, targets.items()):
        cell = table[(table.proxy == proxy_name) & (table.target == target_name)].iloc[0]
        x, y = rankdata(by_target[target_name]) / len(points), rankdata(target) / len(points)
        ax.scatter(x, y, s=12, alpha=0.6, color=plots.DENSE_COLOUR if proxy_name == "EL2N" else "#1b9e77")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--")
        ax.set_title(
            f"{proxy_name} vs LOO {target_name}\nρ = {cell.rho:+.2f} [{cell.low:+.2f}, {cell.high:+.2f}]\n"
            f"{cell.verdict}",
            fontsize=9,
        )
        ax.set_xlabel(f"{proxy_name} rank (percentile)")
        ax.set_ylabel("LOO rank (percentile)")
fig.tight_layout()
glue("key_figure", fig, display=False)  # the figure the page opens with
plt.show()

# %% [markdown]
# ## Verdict on the convex stand-in

# %%
cells = {(p, t): v for p, t, v in zip(table.proxy, table.target, table.verdict)}
short = {"self-influence": "self", "test influence": "test", "PIE influence": "pies"}
verdict_el2n = cells["EL2N", "test influence"]
el2n_test = table[(table.proxy == "EL2N") & (table.target == "test influence")].iloc[0]
reading = {
    "supported": "on the convex stand-in, EL2N bins can be read as bins of influence on the test loss",
    "not supported": "on the convex stand-in, EL2N ranks points by how hard they are to fit rather than by "
    "their influence on the test loss; whether that holds for the whole BiLSTM is what leave-group-out "
    "retraining tests",
    "inconclusive at this scale": "at this scale we cannot tell whether EL2N bins rank points by their "
    "influence on the test loss, even on the convex stand-in",
    "underpowered at this scale": "this scale cannot tell whether EL2N bins rank points by their "
    "influence on the test loss, even on the convex stand-in",
}[el2n_test.verdict]
glue("verdict", verdict_el2n, display=False)
for (proxy_name, target_name), value in cells.items():
    glue(f"verdict_{proxy_name.lower()}_{short[target_name]}", value, display=False)
    cell = table[(table.proxy == proxy_name) & (table.target == target_name)].iloc[0]
    for column in ("rho", "low", "high", "top_overlap"):
        glue(f"{column}_{proxy_name.lower()}_{short[target_name]}", float(cell[column]), display=False)
glue("rho_el2n_abs_test", float(spearman(el2n[points], np.abs(targets["test influence"]))), display=False)
glue("chapter4_reading", reading, display=False)
glue("loo_points", len(points), display=False)
glue("loo_seconds", float(loo.seconds), display=False)
glue("max_gradient_norm", float(loo.max_gradient_norm), display=False)
glue("c", float(c), display=False)
glue("threshold", float(truth.reference), display=False)
print(verdict_el2n, cells)

# %% [markdown]
# **Verdict on "EL2N ranks training points by their influence on the test loss" (on the convex
# stand-in): {glue:text}`verdict`.**
# Over {glue:text}`loo_points` exact leave-one-out refits (taking {glue:text}`loo_seconds:.0f` s,
# the worst gradient norm {glue:text}`max_gradient_norm:.1e`, $C$ = {glue:text}`c:g`), EL2N's
# Spearman correlation is {glue:text}`rho_el2n_self:+.2f` [{glue:text}`low_el2n_self:+.2f`,
# {glue:text}`high_el2n_self:+.2f`] with self-influence ({glue:text}`verdict_el2n_self`),
# {glue:text}`rho_el2n_test:+.2f` [{glue:text}`low_el2n_test:+.2f`, {glue:text}`high_el2n_test:+.2f`]
# with test influence ({glue:text}`verdict_el2n_test`) and {glue:text}`rho_el2n_pies:+.2f`
# [{glue:text}`low_el2n_pies:+.2f`, {glue:text}`high_el2n_pies:+.2f`] with PIE influence
# ({glue:text}`verdict_el2n_pies`), against the threshold {glue:text}`threshold:.1f`. With the
# size of test influence, whatever its sign, EL2N's ρ is {glue:text}`rho_el2n_abs_test:+.2f`.
# TracIn reaches {glue:text}`rho_tracin_self:+.2f` ({glue:text}`verdict_tracin_self`),
# {glue:text}`rho_tracin_test:+.2f` ({glue:text}`verdict_tracin_test`) and
# {glue:text}`rho_tracin_pies:+.2f` ({glue:text}`verdict_tracin_pies`).

# %% [markdown]
# ## Leave-group-out retraining of the BiLSTM (`full` profile)
#
# The stand-in keeps the BiLSTM's features fixed. Here whole dense BiLSTMs are retrained with
# the library's trainer (their own store keys, so they resume) without a group of training
# points: the top decile by EL2N, or a random decile of the same size, on `group_retrains`
# seeds of half B each. The effect is, seed by seed, the mean test loss after removing the top
# EL2N decile minus after removing the random one (a paired t interval and exact sign-flip
# p-value over seeds); it is set against the seed noise, the standard deviation over seeds of
# the full-data dense models' mean test loss. If EL2N ranks influence on generalisation,
# removing its top decile should raise the test loss more. This check is secondary: the register
# judges the claim on the convex stand-in above.

# %%
group_size = len(labels) // 10
if settings["group_retrains"] == 0:
    group_summary = f"not run in the {profile} profile (group_retrains = 0)"
    print(f"Skipped: {group_summary}; the full profile runs it.")
else:
    positions = half_b[: settings["group_retrains"]]
    assert len(positions) == settings["group_retrains"], (
        f"group_retrains = {settings['group_retrains']} but half B holds {len(half_b)} seeds"
    )
    seeds = [main.study.seed_range[p] for p in positions]
    groups = {
        "top EL2N decile": np.argsort(el2n, kind="stable")[-group_size:],
        "random decile": np.sort(np.random.default_rng(0).choice(len(labels), group_size, replace=False)),
    }
    started = time.perf_counter()
    losses, train_seconds = {}, 0.0
    for name, removed in groups.items():
        logits, seconds = leave_group_out(main, removed, seeds, store=group_store)
        losses[name] = per_example_loss(logits, gold)  # [seed, test example]
        train_seconds += float(seconds.sum())
    elapsed = time.perf_counter() - started
    full_loss = per_example_loss(main.logits(DENSE, 0.0), gold)  # every seed, trained on all points
    seed_sd = float(full_loss.mean(axis=1).std(ddof=1))
    paired = paired_inference(losses["top EL2N decile"].mean(axis=1) - losses["random decile"].mean(axis=1))
    effect, low, high = paired.estimate, paired.low, paired.high
    group_table = pd.DataFrame(
        [
            {
                "removed": name,
                "points": group_size,
                "retrains": len(seeds),
                "mean test loss": loss.mean(),
                "change vs same seeds on all points": loss.mean() - full_loss[positions].mean(),
                "change / seed sd": (loss.mean() - full_loss[positions].mean()) / seed_sd,
            }
            for name, loss in losses.items()
        ]
    )
    assert all(loss.shape == (len(seeds), len(gold)) for loss in losses.values())
    group_summary = (
        f"{2 * len(seeds)} retrains ({train_seconds:.0f} s of training; {elapsed:.0f} s in this run): removing "
        f"the top EL2N decile changed the mean test loss by {effect:+.4f} [{low:+.4f}, {high:+.4f}] against "
        f"removing a random decile (sign-flip p = {paired.p_value:.3f}), with seed noise (sd) {seed_sd:.4f}"
    )
    print(group_summary)
    display(group_table)
glue("group_summary", group_summary, display=False)

# %% tags=["hide-input"]
if settings["group_retrains"] > 0:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    shown = {"all points": full_loss[positions], **losses}
    ax.boxplot([loss.mean(axis=1) for loss in shown.values()], tick_labels=list(shown), showmeans=True)
    ax.set_ylabel("mean test loss per seed")
    ax.set_title(f"Dense BiLSTMs of seeds {seeds}, retrained without each group", fontsize=10)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# **Does removing the top EL2N decile hurt generalisation more than a random decile?**
# {glue:text}`group_summary`.
#
# ## What this means
#
# On the convex stand-in, EL2N as an influence measure is {glue:text}`verdict`: with the
# influence on the test loss, the quantity chapter 4 means by "influence on generalisation",
# its verdict is {glue:text}`verdict_el2n_test` (ρ = {glue:text}`rho_el2n_test:+.2f`; its top
# decile holds {glue:text}`top_overlap_el2n_test:.0%` of the top decile by leave-one-out
# influence, chance 10 %). For chapter 4 this means that {glue:text}`chapter4_reading`.
# TracIn, built to estimate influence, is a yardstick for how well any cheap proxy does here:
# with test influence it is {glue:text}`verdict_tracin_test`. The whole-model check, leave-group-out
# retraining: {glue:text}`group_summary`.

# %% [markdown]
# ## At both scales
#
# This build's verdicts above those of the laptop scale (`default`), which ship with the book
# (`book/data/verdicts_default.csv`): what a re-run on a laptop should give.

# %%
beside_default(profile, {"el2n_influence": el2n_test}).style.format(precision=3, na_rep="")
