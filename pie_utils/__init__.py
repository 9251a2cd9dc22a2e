"""pie_utils: train populations of pruned and unpruned text classifiers and find their PIEs.

Modules (one job each):
    config     validated study parameters, profiles, hyperparameters
    assets     pinned, sha256-verified downloads of embedded data and models
    data       datasets with fixed train/validation/test splits
    models     BERT and BiLSTM classifiers and their text encoders
    pruning    the paper's pruning methods (score x schedule) on torch.nn.utils.prune masks
    training   populations of seeds, dense and pruned, with a shared dense prefix
    store      resumable on-disk results keyed by a hash of each run's full spec
    pies       modal labels, pruning-identified exemplars and accuracy on them
    executors  where a study's seeds train: this process or a Ray cluster
    studies    the named studies of a profile, as the notebooks read them
    stats      bootstrap intervals, tests, Holm, and verdict rules
    influence  per-example loss, EL2N and its percentile bins
    hardness   text and model-based difficulty measures
    plots      the book's figure style
    influence_truth  exact leave-one-out influence on a convex stand-in, TracIn, leave-group-out
    human      human sentiment ratings of Rotten Tomatoes snippets, matched to the dataset
    stability  how reproducible PIE sets are across disjoint seed subsets
    shift      PIEs and accuracy in and out of distribution, one bootstrap over both domains
    attributions  integrated-gradients token attributions of dense and pruned models
"""

__version__ = "0.2.0"
