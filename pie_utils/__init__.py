"""pie_utils: train populations of pruned and unpruned text classifiers and find their PIEs.

Modules (one job each), in the layers of the README's "Flow of data" (an import only points
to its own layer or an earlier one; tests/test_architecture.py checks it):
    errors, assets     the error types; pinned, sha256-verified downloads of embedded data and models
    data               datasets with fixed train/validation/test splits (registry, readers, cache)
    models             BERT and BiLSTM classifiers, their encoders and encoded-split cache
    pruning            the paper's pruning methods as tables: scores x schedules
    metrics            accuracy and macro-F1 of logits
    config             validated study and analysis parameters, profiles, hyperparameters
    store              resumable on-disk results keyed by a hash of each run's full spec
    runs               a run's identity (spec, key), a study's prepared data, populations read back
    devices            the device a study trains on
    evaluation         kept models loaded back; stored runs scored on another dataset afterwards
    pies               modal labels, pruning-identified exemplars and accuracy on them
    stats, intervals   bootstrap intervals, tests, Holm, verdict rules; estimates beside intervals
    paired             inference over whole seeds: paired contrasts, sign-flip tests, power, verdicts
    influence          per-example loss, EL2N and its percentile bins
    influence_truth    exact leave-one-out influence on a convex stand-in, TracIn
    hardness           text and model-based difficulty measures (a table of measures)
    human              human sentiment ratings of Rotten Tomatoes snippets, matched to the dataset
    stability          how reproducible PIE sets are across disjoint seed subsets
    shift              PIEs and accuracy in and out of distribution, one bootstrap over both domains
    attributions       integrated-gradients token attributions of dense and pruned models
    summary            a trained study as one PIE table
    plots              the book's figure style and interval helpers
    training           populations of seeds, dense and pruned, with a shared dense prefix
    pool               every run of several studies, trained by a pool of local worker processes
    studies            the named studies of a profile, as the notebooks read them; leave-group-out
    housekeeping       what a store holds and what no profile refers to (store status, store gc)
    prefetch           everything a profile reads fetched into the cache first, checked offline
    cli                python -m pie_utils
"""

__version__ = "0.3.0"
