"""The fast path (``PopulationTrainer``) and the plain baseline of ``benchmarks/`` train the same model.

Both train a BiLSTM on 200 real Rotten Tomatoes snippets from the same initial weights, on the
same batches, at one thread; the fast path reads dynamically padded, length-bucketed batches
through an embedding layer, the baseline reads word vectors looked up per batch, padded to 64
words, with pruning by ``torch.nn.utils.prune`` hooks and FT runs that train their first epoch
again. Both then run the same ``BiLSTMClassifier`` (one unpacked LSTM per direction, the
backward one over each row's real tokens reversed).

Tolerance: the two compute the same function over differently padded batches, so float sums
may run in another order and logits may differ by float32 rounding, compounded over the
training steps. Measured on this case with pie_utils 0.2.0: at most 6e-8, after one dense epoch
and after IMP-FT's four epochs alike. The tests allow 1e-4, so other CPUs and BLAS builds pass
while a real difference fails: magnitude-pruning the one-step-stale weight that
``torch.nn.utils.prune`` keeps as ``module.weight`` (a mistake the baseline first made) moved
the IMP logits by 0.01 (WR) to 0.6 (FT). Predictions must agree on every test example whose
logit margin exceeds 2e-4, i.e. wherever a 1e-4 change per logit cannot flip the class.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package

from benchmarks.measure import run_baseline, run_fast_path  # noqa: E402
from pie_utils.config import validate_study  # noqa: E402

TOLERANCE = 1e-4
SMALL = {
    "dataset": "rotten-tomatoes",
    "arch": "bilstm",
    "seeds": 1,
    "epochs": 1,
    "threads": 1,
    "device": "cpu",
    "subset": {"n_train": 200, "n_validation": 40, "n_test": 150, "seed": 0},
}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_same_model(study, tmp_path):
    fast, _ = run_fast_path(study, store_root=str(tmp_path / "store"))
    baseline, _ = run_baseline(study)
    assert list(fast.test_logits) == list(baseline.test_logits)
    np.testing.assert_array_equal(fast.train_lengths, baseline.train_lengths)  # the same real tokens
    for run, ours in fast.test_logits.items():
        theirs = baseline.test_logits[run]
        assert ours.shape == theirs.shape == (150, 2)
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOLERANCE, err_msg=str(run))
        margin = np.abs(ours[:, 1] - ours[:, 0])
        clear = margin > 2 * TOLERANCE
        np.testing.assert_array_equal(ours.argmax(axis=1)[clear], theirs.argmax(axis=1)[clear], err_msg=str(run))
    np.testing.assert_array_equal(fast.runs.test_accuracy.to_numpy(), baseline.runs.test_accuracy.to_numpy())
    return fast, baseline


def test_dense_run_gives_the_same_test_logits(tmp_path):
    study = validate_study({**SMALL, "store": str(tmp_path / "unused")})
    fast, baseline = assert_same_model(study, tmp_path)
    assert list(fast.runs.method) == ["dense"]
    # one epoch reads every real token once, in both paths
    assert fast.train_tokens == baseline.train_tokens == int(fast.train_lengths.sum())


def test_imp_ft_run_gives_the_same_test_logits(tmp_path):
    """Hook pruning on the live weights and retraining the first epoch match the stored-checkpoint branch."""
    study = validate_study({**SMALL, "methods": ["IMP-FT"], "sparsities": [0.5], "store": str(tmp_path / "unused")})
    fast, baseline = assert_same_model(study, tmp_path)
    epoch = int(fast.train_lengths.sum())
    # fast: the dense epoch once, then three FT rounds; baseline: the FT run repeats the dense epoch
    assert (fast.train_tokens, baseline.train_tokens) == (4 * epoch, 5 * epoch)
