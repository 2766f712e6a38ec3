"""Sigmoid and tanh, beyond the table's checks: saturation without overflow or warnings, exact limits."""

import warnings

import numpy as np
import pytest

from assignment import layers

DTYPES = (np.float32, np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sigmoid_at_plus_minus_1000_neither_overflows_nor_warns(dtype):
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        out, cache = layers.sigmoid_forward(x)
        dx = layers.sigmoid_backward(np.ones_like(x), cache)
    assert out.dtype == dtype and dx.dtype == dtype
    assert out[0] == 0.0 and out[2] == 0.5 and out[-1] == 1.0
    assert dx[0] == 0.0 and dx[-1] == 0.0 and dx[2] == 0.25


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sigmoid_is_a_shifted_tanh(dtype):
    """sigmoid(x) = (1 + tanh(x / 2)) / 2, an identity the layer does not use."""
    x = np.linspace(-12, 12, 97).astype(dtype)
    out, _ = layers.sigmoid_forward(x)
    tol = 1e-6 if dtype == np.float32 else 1e-14  # absolute too: 1 + tanh cancels where sigmoid is tiny
    np.testing.assert_allclose(out, 0.5 * (1 + np.tanh(x / 2)), rtol=tol, atol=tol)


def test_tanh_saturates_without_warnings():
    x = np.array([-1000.0, 0.0, 1000.0])
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out, cache = layers.tanh_forward(x)
        dx = layers.tanh_backward(np.ones(3), cache)
    np.testing.assert_array_equal(out, [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(dx, [0.0, 1.0, 0.0])


@pytest.mark.parametrize("forward", [layers.sigmoid_forward, layers.tanh_forward], ids=["sigmoid", "tanh"])
def test_the_cache_is_the_output(forward):
    """The backward reads the output (both derivatives are functions of it), so the cache holds it."""
    x = np.random.default_rng(0).standard_normal((3, 4))
    out, cache = forward(x)
    np.testing.assert_array_equal(cache, out)
