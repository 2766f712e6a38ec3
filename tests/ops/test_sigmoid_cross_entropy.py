"""Sigmoid cross-entropy, beyond the table's checks: saturated scores without overflow, nan or warnings,
the formula's limits, the targets it accepts, and seed 004's AND gate learned by one sigmoid neuron."""

import warnings

import numpy as np
import pytest

from assignment import layers

DTYPES = (np.float32, np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_saturated_scores_give_exact_finite_losses_without_warnings(dtype):
    """Right at +-1000 the loss is 0; wrong by 1000 it is 1000 (per example, / N), never inf or nan."""
    x = np.array([1000.0, -1000.0, 1000.0, -1000.0], dtype=dtype)
    y = np.array([1, 0, 0, 1])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        loss, dx = layers.sigmoid_cross_entropy_loss(x, y)
    assert loss == 2000.0 / 4
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, np.array([0.0, 0.0, 1.0, -1.0], dtype=dtype) / 4)


def test_matches_the_textbook_formula_where_that_is_finite():
    """-mean(t log p + (1 - t) log(1 - p)) with p = 1 / (1 + exp(-x)), summed over an example's units."""
    rng = np.random.default_rng(0)
    x = 3 * rng.standard_normal((6, 3))
    y = rng.integers(0, 2, (6, 3))
    p = 1 / (1 + np.exp(-x))
    want = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum() / 6
    loss, dx = layers.sigmoid_cross_entropy_loss(x, y)
    assert loss == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(dx, (p - y) / 6, rtol=1e-12)


@pytest.mark.parametrize("y", [np.array([1, 0, 1]), np.array([True, False, True]), np.array([1.0, 0.0, 1.0])],
                         ids=["int", "bool", "float"])
def test_targets_may_be_integers_booleans_or_floats(y):
    x = np.array([0.5, -2.0, 3.0])
    loss, dx = layers.sigmoid_cross_entropy_loss(x, y)
    want, _ = layers.sigmoid_cross_entropy_loss(x, np.array([1, 0, 1]))
    assert loss == want


@pytest.mark.parametrize(("x", "y", "match"), [
    (np.zeros(3), np.array([0, 1, 2]), "only 0 and 1"),
    (np.zeros(3), np.array([0.0, 0.5, 1.0]), "only 0 and 1"),
    (np.zeros(3), np.array([0, 1]), r"shape of x, \(3,\)"),
    (np.zeros((3, 2)), np.array([0, 1, 1]), r"shape of x, \(3, 2\)"),
    (np.zeros(0), np.zeros(0, dtype=int), "at least one example"),
    (np.zeros(3, dtype=int), np.array([0, 1, 1]), r"\bx\b"),
    (np.zeros(3), [0, 1, 1], "y must be a numpy array"),
    (np.zeros(3), np.array(["0", "1", "1"]), "integers, booleans or floats"),
])
def test_bad_input_is_a_value_error_naming_it(x, y, match):
    with pytest.raises(ValueError, match=match):
        layers.sigmoid_cross_entropy_loss(x, y)


def test_a_sigmoid_neuron_learns_and():
    """Seed 004: one sigmoid neuron, plain gradient descent on the four inputs of AND."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 0, 0, 1])
    rng = np.random.default_rng(0)
    w, b = 0.1 * rng.standard_normal(2), 0.0
    costs = []
    for _ in range(5000):
        loss, dscores = layers.sigmoid_cross_entropy_loss(X @ w + b, y)
        costs.append(loss)
        w -= 1.0 * (X.T @ dscores)
        b -= 1.0 * dscores.sum()
    out, _ = layers.sigmoid_forward(X @ w + b)
    assert out[3] > 0.95 and (out[:3] < 0.05).all(), out
    assert costs[-1] < 0.05 * costs[0] and all(np.diff(costs) <= 1e-12)
