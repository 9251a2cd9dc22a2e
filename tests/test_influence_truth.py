"""Influence by removal: exact leave-one-out on a logistic head, TracIn, leave-group-out retraining."""

import numpy as np
import pytest

from pie_utils.errors import ParameterError
from pie_utils.influence_truth import fit_logistic, gradient_norm, head_loss, leave_one_out, tracin_scores


def blobs(n, seed, flip=0):
    """Two Gaussian classes in 3-d, means ±1 on the first axis; the first ``flip`` points moved
    deep into their class (±3) and their labels flipped: clear mislabels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    features = rng.normal(size=(n, 3)) + np.outer(2 * labels - 1, [1.0, 0.0, 0.0])
    features[:flip, 0] = 3.0 * (2 * labels[:flip] - 1)
    labels[:flip] = 1 - labels[:flip]
    return features, labels


def test_the_fit_reaches_the_minimum_and_a_moved_fit_does_not():
    x, y = blobs(60, 0)
    fit = fit_logistic(x, y, c=0.5)
    assert gradient_norm(fit, x, y) < 1e-8
    fit.coef_ = fit.coef_ + 0.01
    assert gradient_norm(fit, x, y) > 1e-3


def test_head_loss_is_the_cross_entropy_of_the_fits_probabilities():
    x, y = blobs(40, 1)
    fit = fit_logistic(x, y, c=1.0)
    expected = -np.log(fit.predict_proba(x)[np.arange(len(y)), y])
    np.testing.assert_allclose(head_loss(fit, x, y), expected, rtol=1e-9)


def test_leave_one_out_equals_a_cold_refit_without_the_point():
    x, y = blobs(50, 2, flip=2)
    test_x, test_y = blobs(30, 3)
    fit = fit_logistic(x, y, c=0.5)
    points = np.array([0, 1, 7, 20])
    loo = leave_one_out(fit, x, y, points, test_x, test_y)
    assert loo.self_change.shape == (4,) and loo.test_change.shape == (4, 30)
    for row, point in enumerate(points):
        keep = np.arange(len(y)) != point
        cold = fit_logistic(x[keep], y[keep], c=0.5)
        own = (
            head_loss(cold, x[point : point + 1], y[point : point + 1])[0]
            - head_loss(fit, x[point : point + 1], y[point : point + 1])[0]
        )
        np.testing.assert_allclose(loo.self_change[row], own, atol=1e-9)
        np.testing.assert_allclose(
            loo.test_change[row], head_loss(cold, test_x, test_y) - head_loss(fit, test_x, test_y), atol=1e-9
        )
    # removing a point never lowers its own loss (the full fit minimises the rest plus its loss)
    assert (loo.self_change > 0).all() and loo.max_gradient_norm < 1e-8 and loo.seconds > 0
    # the two flipped labels are the hardest points: the largest self-influence
    assert loo.self_change[:2].min() > loo.self_change[2:].max()


def test_tracin_scores_a_point_as_a_proponent_of_itself():
    x, y = blobs(80, 4)
    points = np.array([3, 10, 11])
    self_scores, test_scores = tracin_scores(x, y, points, x[points], y[points], c=0.5, epochs=3)
    assert self_scores.shape == (3,) and test_scores.shape == (3, 3)
    # a point's influence on the same point as a test example is its self-influence
    np.testing.assert_allclose(np.diag(test_scores), self_scores, rtol=1e-4)
    assert (self_scores > 0).all()
    _, other = tracin_scores(x, y, points, x[:5], y[:5], c=0.5, epochs=3)
    assert other.shape == (3, 5)


def test_bad_input_is_refused_with_the_parameter_named():
    x, y = blobs(20, 5)
    fit = fit_logistic(x, y, c=1.0)
    with pytest.raises(ParameterError, match="c="):
        fit_logistic(x, y, c=0)
    with pytest.raises(ParameterError, match="labels"):
        fit_logistic(x, np.zeros(20, dtype=int), c=1.0)
    with pytest.raises(ParameterError, match="labels"):
        fit_logistic(x, y[:10], c=1.0)
    with pytest.raises(ParameterError, match="points"):
        leave_one_out(fit, x, y, np.array([1, 1]), x, y)
    with pytest.raises(ParameterError, match="points"):
        leave_one_out(fit, x, y, np.array([20]), x, y)
    with pytest.raises(ParameterError, match="epochs"):
        tracin_scores(x, y, np.array([0]), x, y, c=1.0, epochs=0)
