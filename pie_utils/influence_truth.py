"""How much a training point influences a model, measured by removing it, and TracIn's estimate.

Ground truth for the influence proxies of chapter 4 (EL2N), at two scales:

- on a convex stand-in: frozen features of a trained BiLSTM (``head_features``) under an
  L2-regularised logistic regression (``fit_logistic``), refitted exactly without each of a
  sample of training points (``leave_one_out``); TracIn (captum's ``TracInCPFast``) on a
  logistic head trained by SGD over the same features is the gradient estimate of the same
  quantity (``tracin_scores``);
- on the BiLSTM itself: dense models retrained without a group of training points
  (``pie_utils.studies.leave_group_out``, which trains; this module only computes).

Shapes: ``features[example, feature]`` float64, ``labels[example]`` int class indices 0 … C−1
(single-label only), ``points[point]`` positions in the training split.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from captum.influence import TracInCPFast
from sklearn.linear_model import LogisticRegression

from pie_utils.errors import ParameterError
from pie_utils.influence import per_example_loss
from pie_utils.models import EncodedSplit

TOLERANCE = 1e-10  # Newton's method reaches it in a few steps; LOO loss changes are ~1e-6 and up


@dataclass(frozen=True)
class LeaveOneOut:
    """Exact leave-one-out changes of loss for ``points[point]``.

    Attributes:
        self_change: ``[point]`` loss of the left-out point under the refit minus under the
            full fit (≥ 0 up to solver error: its self-influence).
        test_change: ``[point, test example]`` loss change of every test point when the point
            is left out (> 0: the point helped that test point).
        max_gradient_norm: the largest norm of the objective's gradient over all refits (how
            far from exact convergence the worst refit stopped).
        seconds: wall time of all refits.
    """

    self_change: np.ndarray
    test_change: np.ndarray
    max_gradient_norm: float
    seconds: float


@torch.inference_mode()
def head_features(model: torch.nn.Module, encoded: EncodedSplit, batch_size: int = 256) -> np.ndarray:
    """``[example, feature]`` float64: ``model.head(model.sequence_vector(...))`` of every
    example of ``encoded`` (for the paper's BiLSTM, the 128 ReLU outputs its classifier reads)."""
    if not hasattr(model, "head") or not hasattr(model, "sequence_vector"):
        raise ParameterError("model", type(model).__name__, "a BiLSTMClassifier (it has head and sequence_vector)")
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(encoded), batch_size):
        input_ids, attention_mask = encoded.batch(np.arange(start, min(start + batch_size, len(encoded))))
        out.append(model.head(model.sequence_vector(input_ids.to(device), attention_mask.to(device))).double().cpu())
    return torch.cat(out).numpy()


def _check_data(features: np.ndarray, labels: np.ndarray, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    features, labels = np.asarray(features, dtype=np.float64), np.asarray(labels)
    if features.ndim != 2 or len(features) < 2 or not np.isfinite(features).all():
        raise ParameterError(name, f"shape {features.shape}", "a finite [example, feature] array with >= 2 examples")
    if labels.shape != (len(features),) or not np.issubdtype(labels.dtype, np.integer):
        raise ParameterError(
            "labels",
            f"shape {labels.shape}, dtype {labels.dtype}",
            f"[example] = ({len(features)},) int class indices (single-label data)",
        )
    return features, labels


def fit_logistic(features: np.ndarray, labels: np.ndarray, c: float) -> LogisticRegression:
    """L2-regularised logistic regression fitted to convergence by Newton's method.

    Minimises ``c · Σ_i loss_i + ½‖W‖²`` (scikit-learn's objective; the intercept is not
    penalised): a sum, not a mean, so leaving a point out removes exactly its term.
    """
    features, labels = _check_data(features, labels)
    _check_c(c)
    if len(np.unique(labels)) < 2:
        raise ParameterError("labels", "one class only", "at least two classes among the training labels")
    fit = LogisticRegression(C=c, solver="newton-cholesky", tol=TOLERANCE, max_iter=1000)
    return fit.fit(features, labels)


def _check_c(c: float) -> None:
    if isinstance(c, bool) or not (isinstance(c, (int, float)) and np.isfinite(c) and c > 0):
        raise ParameterError("c", c, "a finite number > 0 (inverse regularisation strength)")


def head_logits(fit: LogisticRegression, features: np.ndarray) -> np.ndarray:
    """``[example, class]`` logits of a fitted head (binary: ``[0, z]``, whose softmax is the
    fit's sigmoid), so ``pie_utils.influence.per_example_loss`` applies."""
    scores = fit.decision_function(features)
    return np.stack([np.zeros_like(scores), scores], axis=1) if scores.ndim == 1 else scores


def head_loss(fit: LogisticRegression, features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``[example]`` cross-entropy of a fitted head, from its logits (no log of a rounded 1)."""
    return per_example_loss(head_logits(fit, features)[None], labels)[0]


def gradient_norm(fit: LogisticRegression, features: np.ndarray, labels: np.ndarray) -> float:
    """Euclidean norm of the gradient of ``fit``'s objective (``fit_logistic``) at its solution
    on ``features``/``labels``: 0 at the exact minimum."""
    features, labels = _check_data(features, labels)
    logits = head_logits(fit, features)
    probabilities = np.exp(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))
    residual = probabilities - np.eye(logits.shape[1])[labels]  # d loss / d logits, [example, class]
    if fit.coef_.shape[0] == 1:  # binary: one score z, whose gradient is p(class 1) − y
        residual = residual[:, 1:]
    weights = fit.C * residual.T @ features + fit.coef_
    intercept = fit.C * residual.sum(axis=0)
    return float(np.sqrt((weights**2).sum() + (intercept**2).sum()))


def check_points(points: np.ndarray, n_train: int) -> np.ndarray:
    points = np.asarray(points)
    if (
        points.ndim != 1
        or len(points) == 0
        or not np.issubdtype(points.dtype, np.integer)
        or points.min() < 0
        or points.max() >= n_train
        or len(np.unique(points)) != len(points)
    ):
        raise ParameterError(
            "points",
            f"shape {points.shape}, dtype {points.dtype}",
            f"distinct training positions 0 … {n_train - 1}, one or more",
        )
    return points


def leave_one_out(
    fit: LogisticRegression,
    train_features: np.ndarray,
    train_labels: np.ndarray,
    points: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
) -> LeaveOneOut:
    """Refit ``fit`` (from ``fit_logistic`` on the training data) without each of ``points``.

    Each refit starts from the full fit (a warm start) and runs Newton's method to
    ``TOLERANCE``; the gradient norm of every refit is checked, not assumed.
    """
    train_features, train_labels = _check_data(train_features, train_labels)
    test_features, test_labels = _check_data(test_features, test_labels, "test_features")
    points = check_points(points, len(train_features))
    full_self = head_loss(fit, train_features[points], train_labels[points])
    full_test = head_loss(fit, test_features, test_labels)
    self_change = np.empty(len(points))
    test_change = np.empty((len(points), len(test_labels)))
    worst = gradient_norm(fit, train_features, train_labels)
    started = time.perf_counter()
    for row, point in enumerate(points):
        keep = np.arange(len(train_labels)) != point
        refit = copy.deepcopy(fit).set_params(warm_start=True).fit(train_features[keep], train_labels[keep])
        worst = max(worst, gradient_norm(refit, train_features[keep], train_labels[keep]))
        self_change[row] = (
            head_loss(refit, train_features[point : point + 1], train_labels[point : point + 1])[0] - full_self[row]
        )
        test_change[row] = head_loss(refit, test_features, test_labels) - full_test
    return LeaveOneOut(self_change, test_change, worst, time.perf_counter() - started)


def tracin_scores(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    points: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    c: float,
    epochs: int = 20,
    learning_rate: float = 0.05,
    batch_size: int = 32,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """TracIn self-influence ``[point]`` and influence on each test loss ``[point, test example]``.

    A linear head ``[feature] → [class]`` is trained by minibatch SGD on every training point
    (mean cross-entropy plus weight decay 1 / (c · n), the per-example scale of
    ``fit_logistic``'s penalty), with a checkpoint after each epoch; captum's ``TracInCPFast``
    sums ``learning_rate · ∇loss(point) · ∇loss(z)`` over the checkpoints. A positive test
    score: a step on the point lowers that test loss (a proponent).
    """
    train_features, train_labels = _check_data(train_features, train_labels)
    test_features, test_labels = _check_data(test_features, test_labels, "test_features")
    points = check_points(points, len(train_features))
    _check_c(c)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ParameterError("epochs", epochs, "an integer >= 1")
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    with _one_thread():
        return _tracin(
            train_features,
            train_labels,
            points,
            test_features,
            test_labels,
            n_classes,
            c,
            epochs,
            learning_rate,
            batch_size,
            seed,
        )


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread inside: a linear head gains nothing from intra-op threads, and
    their synchronisation made each step up to 100 times slower on shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _tracin(
    train_features,
    train_labels,
    points,
    test_features,
    test_labels,
    n_classes,
    c,
    epochs,
    learning_rate,
    batch_size,
    seed,
) -> tuple[np.ndarray, np.ndarray]:
    x, y = torch.as_tensor(train_features, dtype=torch.float32), torch.as_tensor(train_labels)
    generator = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], n_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head.reset_parameters()
    optimizer = torch.optim.SGD(
        [{"params": [head.weight], "weight_decay": 1.0 / (c * len(x))}, {"params": [head.bias], "weight_decay": 0.0}],
        lr=learning_rate,
    )
    with tempfile.TemporaryDirectory() as folder:
        checkpoints = []
        for epoch in range(epochs):
            for batch in torch.randperm(len(x), generator=generator).split(batch_size):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(head(x[batch]), y[batch]).backward()
                optimizer.step()
            checkpoints.append(str(Path(folder) / f"epoch{epoch + 1}.pt"))
            torch.save({"model": head.state_dict(), "learning_rate": learning_rate}, checkpoints[-1])
        subset = torch.utils.data.TensorDataset(x[points], y[points])
        tracin = TracInCPFast(
            head,
            head,
            subset,
            checkpoints,
            checkpoints_load_func=_load_checkpoint,
            loss_fn=torch.nn.CrossEntropyLoss(reduction="sum"),
            batch_size=256,
        )
        self_scores = tracin.self_influence()
        test = (torch.as_tensor(test_features, dtype=torch.float32), torch.as_tensor(test_labels))
        test_scores = tracin.influence(test)  # [test example, point]
    return self_scores.double().numpy(), test_scores.T.double().numpy()


def _load_checkpoint(model: torch.nn.Module, path: str) -> float:
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    return state["learning_rate"]
