"""Numerical gradients by centred differences, and the relative error CS231n prints.

Each probe perturbs one entry of ``x`` in place (so ``f`` may close over ``x``), evaluates
``f`` at ``x + h`` and ``x - h``, and puts the entry back before the next probe: when a
function returns, ``x`` holds exactly the values it was given.
"""

import numpy as np

from assignment.checks import require_shape


def rel_error(x, y):
    """Largest relative error between x and y: max |x - y| / max(1e-8, |x| + |y|)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error needs x and y of one shape, got x shape {x.shape} and y shape {y.shape}")
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _probe(f, x, index, h):
    """f at x[index] + h and x[index] - h, restoring x[index] afterwards."""
    old = x[index]
    try:
        x[index] = old + h
        plus = f(x)
        x[index] = old - h
        minus = f(x)
    finally:
        x[index] = old
    return plus, minus


def _require_writable(x):
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        raise ValueError(f"x must be a floating-point numpy array (it is perturbed in place), got {type(x).__name__}"
                         + (f" of dtype {x.dtype}" if isinstance(x, np.ndarray) else ""))


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Numerical gradient of a scalar function f at x.

    Inputs:
    - f: a function of one argument (an array shaped like x) returning a scalar
    - x: the point at which to evaluate the gradient; perturbed in place and restored
    - verbose: print each entry's index and numerical gradient
    - h: half the width of the centred difference

    Returns:
    - grad: an array shaped like x, in float64
    """
    _require_writable(x)
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        plus, minus = _probe(f, x, index, h)
        grad[index] = (plus - minus) / (2 * h)
        if verbose:
            print(index, grad[index])
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Numerical gradient of sum(f(x) * df) at x, for an array-valued f.

    Inputs:
    - f: a function of one argument (an array shaped like x) returning an array shaped like df
    - x: the point; perturbed in place and restored
    - df: the upstream derivative, shaped like f(x)
    - h: half the width of the centred difference

    Returns:
    - grad: an array shaped like x, in float64
    """
    _require_writable(x)
    df = np.asarray(df)
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(*x.shape):
        plus, minus = _probe(f, x, index, h)
        plus, minus = np.asarray(plus), np.asarray(minus)
        require_shape("df", df, plus.shape, "the shape of f(x)")
        grad[index] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5, seed=None, verbose=True):
    """Compare an analytic gradient with numerical ones at a few random entries of x.

    Inputs:
    - f: a function of x returning a scalar
    - x: the point; perturbed in place and restored
    - analytic_grad: the gradient to check, shaped like x
    - num_checks: how many random entries to probe
    - h: half the width of the centred difference
    - seed: seed of the local generator that picks the entries
    - verbose: print numerical, analytic and relative error for each probe

    Returns:
    - the list of relative errors, one per probe
    """
    _require_writable(x)
    analytic_grad = np.asarray(analytic_grad)
    require_shape("analytic_grad", analytic_grad, x.shape, "the shape of x")
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        index = tuple(int(rng.integers(n)) for n in x.shape)
        plus, minus = _probe(f, x, index, h)
        numeric = (plus - minus) / (2 * h)
        analytic = analytic_grad[index]
        error = abs(numeric - analytic) / max(1e-8, abs(numeric) + abs(analytic))
        errors.append(float(error))
        if verbose:
            print(f"numerical: {numeric:f} analytic: {analytic:f}, relative error: {error:e}")
    return errors
