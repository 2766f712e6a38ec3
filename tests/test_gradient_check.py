"""gradient_check: numerical gradients of functions whose derivatives are known in closed form.

Everything else in the suite trusts these functions, so they are checked here against
calculus, not against the layers.
"""

import numpy as np
import pytest

from assignment.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)

pytestmark = pytest.mark.public  # shipped to students (grader.release.public_tests)


def test_eval_numerical_gradient_cubic(rng):
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    grad = eval_numerical_gradient(lambda t: np.sum(t**3), x, verbose=False)
    np.testing.assert_array_equal(x, x0)  # restored after every probe
    assert grad.shape == x.shape
    # Centred differences are exact for cubics up to h**2 * f''' / 6 = h**2 per entry.
    np.testing.assert_allclose(grad, 3 * x0**2, rtol=0, atol=1e-8)


def test_eval_numerical_gradient_nonseparable(rng):
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    grad = eval_numerical_gradient(lambda t: float(t @ A @ t) + np.sin(t).sum(), x.copy(), verbose=False)
    np.testing.assert_allclose(grad, (A + A.T) @ x + np.cos(x), rtol=1e-8, atol=1e-9)


def test_eval_numerical_gradient_step_size():
    # For f = sum(x**3) the centred difference is 3x**2 + h**2 exactly: h is really used.
    x = np.array([0.5, -1.0])
    for h in (1e-2, 1e-3):
        grad = eval_numerical_gradient(lambda t: np.sum(t**3), x.copy(), verbose=False, h=h)
        np.testing.assert_allclose(grad, 3 * x**2 + h**2, rtol=1e-9)


def test_eval_numerical_gradient_verbose_prints(capsys):
    eval_numerical_gradient(lambda t: np.sum(t**2), np.ones(2))
    assert capsys.readouterr().out.strip() != ""
    eval_numerical_gradient(lambda t: np.sum(t**2), np.ones(2), verbose=False)
    assert capsys.readouterr().out == ""


def test_eval_numerical_gradient_array(rng):
    x = rng.standard_normal((2, 3))
    x0 = x.copy()
    W = rng.standard_normal((3, 5))
    df = rng.standard_normal((2, 5))
    grad = eval_numerical_gradient_array(lambda t: np.tanh(t @ W), x, df)
    np.testing.assert_array_equal(x, x0)
    want = (df * (1 - np.tanh(x0 @ W) ** 2)) @ W.T
    np.testing.assert_allclose(grad, want, rtol=1e-7, atol=1e-9)


def test_eval_numerical_gradient_array_closure_over_x(rng):
    # The notebooks' lambdas often ignore their argument and read the array they close
    # over, which works because x is perturbed in place; it must still be restored.
    x = rng.standard_normal(5)
    x0 = x.copy()
    df = rng.standard_normal(5)
    grad = eval_numerical_gradient_array(lambda _: x**2, x, df)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_allclose(grad, 2 * x0 * df, rtol=1e-8, atol=1e-10)


def test_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])

    def f(t):
        if t[0] != 1.0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(f, x, verbose=False)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_grad_check_sparse(rng, capsys):
    x = rng.standard_normal((4, 5))
    x0 = x.copy()

    def f(t):
        return np.sum(np.sin(t))

    errors = grad_check_sparse(f, x, np.cos(x), num_checks=7, seed=0)
    np.testing.assert_array_equal(x, x0)
    assert len(errors) == 7
    assert max(errors) < 1e-8
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 7
    # A wrong analytic gradient is reported as a large relative error.
    bad = grad_check_sparse(f, x, -np.cos(x), num_checks=5, seed=0)
    assert min(bad) > 0.9
    # Same seed, same probes.
    assert grad_check_sparse(f, x, np.cos(x) + 1e-3, num_checks=5, seed=3) == grad_check_sparse(
        f, x, np.cos(x) + 1e-3, num_checks=5, seed=3
    )


def test_rel_error():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    # max over entries of |x - y| / max(1e-8, |x| + |y|)
    x, y = np.array([1.0, -3.0, 0.0]), np.array([1.1, -3.0, 1e-9])
    want = max(0.1 / 2.1, 0.0, 1e-9 / 1e-8)
    assert rel_error(x, y) == pytest.approx(want, rel=1e-12)
    assert rel_error(x, y) == rel_error(y, x)
