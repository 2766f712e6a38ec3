"""Every backward, and every layer_utils sandwich, against centred-difference gradients.

Numerical gradients come from ``assignment.gradient_check`` (itself tested in
test_gradient_check.py against functions with known derivatives). Shapes are small so the
whole file runs in seconds; all arrays are float64. Inputs are drawn from a fixed seed and
kept away from ReLU kinks and pooling ties by construction where it matters (continuous
random values make an exact tie or a value within h of 0 a measure-zero event, and the seed
is fixed).

Tolerance: ``rel_error < 1e-7`` (CS231n's bound for a correct backward at h = 1e-5); a wrong
backward is off by O(1).
"""

import numpy as np
import pytest

from assignment import layer_utils, layers
from assignment.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

TOL = 1e-7


def check_grads(forward, args, wrt, dout, analytic, tol=TOL):
    """Compare ``analytic`` (one gradient per name in ``wrt``) with numerical gradients.

    ``forward(**args)`` returns the output array; each argument named in ``wrt`` is perturbed
    on a private copy, so the caller's arrays are untouched.
    """
    assert len(wrt) == len(analytic)
    for name, grad in zip(wrt, analytic, strict=True):
        point = args[name].copy()

        def f(v, name=name):
            return forward(**{**args, name: v})

        num = eval_numerical_gradient_array(f, point, dout)
        assert grad.shape == args[name].shape, f"d{name} shape {grad.shape} != {args[name].shape}"
        err = rel_error(num, grad)
        assert err < tol, f"d{name}: rel_error {err:.3e}"


def randn(rng, *shape, scale=1.0, shift=0.0):
    return scale * rng.standard_normal(shape) + shift


# --------------------------------------------------------------------------------------
# layers.py


@pytest.mark.parametrize("N,dims,M", [(1, (3,), 2), (3, (2, 3), 4), (2, (2, 2, 3), 3)])
def test_affine_backward(N, dims, M, rng):
    D = int(np.prod(dims))
    args = {"x": randn(rng, N, *dims), "w": randn(rng, D, M), "b": randn(rng, M)}
    dout = randn(rng, N, M)
    _, cache = layers.affine_forward(**args)
    grads = layers.affine_backward(dout, cache)
    check_grads(lambda **a: layers.affine_forward(**a)[0], args, ("x", "w", "b"), dout, grads)


def test_relu_backward(rng):
    x = randn(rng, 4, 5)
    x[np.abs(x) < 1e-3] = 0.5  # keep every entry away from the kink
    dout = randn(rng, 4, 5)
    _, cache = layers.relu_forward(x)
    dx = layers.relu_backward(dout, cache)
    check_grads(lambda x: layers.relu_forward(x)[0], {"x": x}, ("x",), dout, (dx,))


@pytest.mark.parametrize("loss_name", ["svm_loss", "softmax_loss"])
@pytest.mark.parametrize("N,C", [(1, 3), (7, 5)])
def test_loss_gradients(loss_name, N, C, rng):
    x = randn(rng, N, C)
    y = rng.integers(0, C, size=N)
    loss_fn = getattr(layers, loss_name)
    _, dx = loss_fn(x, y)
    num = eval_numerical_gradient(lambda x: loss_fn(x, y)[0], x.copy(), verbose=False)
    assert rel_error(num, dx) < TOL


# N=2 is left out on purpose: with two rows x_hat is +-1 whatever x is, so dx is ~eps/d**3 and
# a relative error on it measures only the numerical noise.
@pytest.mark.parametrize("N,D", [(3, 3), (6, 4)])
@pytest.mark.parametrize("backward", ["batchnorm_backward", "batchnorm_backward_alt"])
def test_batchnorm_backward(backward, N, D, rng):
    args = {"x": randn(rng, N, D, scale=5.0, shift=12.0), "gamma": randn(rng, D), "beta": randn(rng, D)}
    dout = randn(rng, N, D)

    def forward(x, gamma, beta):
        return layers.batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]

    _, cache = layers.batchnorm_forward(**args, bn_param={"mode": "train"})
    grads = getattr(layers, backward)(dout, cache)
    check_grads(forward, args, ("x", "gamma", "beta"), dout, grads)


def test_batchnorm_backward_alt_agrees_with_backward(rng):
    x = randn(rng, 30, 8, scale=3.0, shift=-2.0)
    gamma, beta = randn(rng, 8), randn(rng, 8)
    dout = randn(rng, 30, 8)
    _, cache = layers.batchnorm_forward(x, gamma, beta, {"mode": "train", "eps": 1e-3})
    for got, want in zip(
        layers.batchnorm_backward_alt(dout, cache), layers.batchnorm_backward(dout, cache), strict=True
    ):
        assert got.shape == want.shape
        assert rel_error(got, want) < 1e-10


def test_batchnorm_test_mode_gradient_is_affine(rng):
    # In test mode the layer is a fixed affine map of x: out = gamma * (x - rm) / sqrt(rv + eps) + beta.
    x, gamma, beta = randn(rng, 4, 3), randn(rng, 3), randn(rng, 3)
    bn_param = {"mode": "test", "running_mean": randn(rng, 3), "running_var": np.abs(randn(rng, 3)) + 0.2}
    dout = randn(rng, 4, 3)
    num = eval_numerical_gradient_array(
        lambda x: layers.batchnorm_forward(x, gamma, beta, bn_param)[0], x.copy(), dout
    )
    assert rel_error(num, dout * gamma / np.sqrt(bn_param["running_var"] + 1e-5)) < TOL


@pytest.mark.parametrize("N,D", [(1, 4), (3, 5)])
def test_layernorm_backward(N, D, rng):
    args = {"x": randn(rng, N, D, scale=5.0, shift=12.0), "gamma": randn(rng, D), "beta": randn(rng, D)}
    dout = randn(rng, N, D)
    _, cache = layers.layernorm_forward(**args, ln_param={})
    grads = layers.layernorm_backward(dout, cache)
    check_grads(lambda **a: layers.layernorm_forward(**a, ln_param={})[0], args, ("x", "gamma", "beta"), dout, grads)


@pytest.mark.parametrize("p", [0.3, 1.0])
def test_dropout_backward(p, rng):
    x = randn(rng, 6, 7, shift=10.0)
    dout = randn(rng, 6, 7)
    param = {"mode": "train", "p": p, "seed": 3}
    _, cache = layers.dropout_forward(x, param)
    dx = layers.dropout_backward(dout, cache)
    check_grads(lambda x: layers.dropout_forward(x, param)[0], {"x": x}, ("x",), dout, (dx,))


CONV_CASES = [  # N, C, H, W, F, HH, WW, stride, pad
    (1, 1, 3, 3, 1, 2, 2, 1, 0),
    (2, 2, 5, 4, 3, 3, 2, 1, 1),
    (1, 2, 5, 6, 2, 3, 2, 2, 0),
    (2, 1, 3, 5, 2, 1, 3, 2, 2),
]


@pytest.mark.parametrize("N,C,H,W,F,HH,WW,stride,pad", CONV_CASES)
def test_conv_backward(N, C, H, W, F, HH, WW, stride, pad, rng):
    conv_param = {"stride": stride, "pad": pad}
    args = {"x": randn(rng, N, C, H, W), "w": randn(rng, F, C, HH, WW), "b": randn(rng, F)}
    out, cache = layers.conv_forward_naive(**args, conv_param=conv_param)
    dout = randn(rng, *out.shape)
    grads = layers.conv_backward_naive(dout, cache)
    check_grads(
        lambda **a: layers.conv_forward_naive(**a, conv_param=conv_param)[0], args, ("x", "w", "b"), dout, grads
    )


@pytest.mark.parametrize(
    "N,C,H,W,ph,pw,stride", [(1, 1, 4, 4, 2, 2, 2), (2, 2, 5, 5, 3, 3, 2), (1, 2, 4, 5, 2, 3, 1)]
)
def test_max_pool_backward(N, C, H, W, ph, pw, stride, rng):
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    x = randn(rng, N, C, H, W)
    out, cache = layers.max_pool_forward_naive(x, pool_param)
    dout = randn(rng, *out.shape)
    dx = layers.max_pool_backward_naive(dout, cache)
    check_grads(lambda x: layers.max_pool_forward_naive(x, pool_param)[0], {"x": x}, ("x",), dout, (dx,))


@pytest.mark.parametrize("N,C,H,W", [(1, 2, 2, 3), (3, 2, 3, 2)])
def test_spatial_batchnorm_backward(N, C, H, W, rng):
    args = {"x": randn(rng, N, C, H, W, scale=5.0, shift=12.0), "gamma": randn(rng, C), "beta": randn(rng, C)}
    dout = randn(rng, N, C, H, W)

    def forward(x, gamma, beta):
        return layers.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})[0]

    _, cache = layers.spatial_batchnorm_forward(**args, bn_param={"mode": "train"})
    grads = layers.spatial_batchnorm_backward(dout, cache)
    check_grads(forward, args, ("x", "gamma", "beta"), dout, grads)


@pytest.mark.parametrize("N,C,H,W,G", [(1, 4, 2, 2, 2), (2, 6, 2, 3, 3), (2, 2, 3, 2, 1)])
def test_spatial_groupnorm_backward(N, C, H, W, G, rng):
    args = {
        "x": randn(rng, N, C, H, W, scale=5.0, shift=12.0),
        "gamma": randn(rng, 1, C, 1, 1),
        "beta": randn(rng, 1, C, 1, 1),
    }
    dout = randn(rng, N, C, H, W)

    def forward(x, gamma, beta):
        return layers.spatial_groupnorm_forward(x, gamma, beta, G, {})[0]

    _, cache = layers.spatial_groupnorm_forward(**args, G=G, gn_param={})
    grads = layers.spatial_groupnorm_backward(dout, cache)
    check_grads(forward, args, ("x", "gamma", "beta"), dout, grads)


# --------------------------------------------------------------------------------------
# layer_utils.py sandwiches


def check_bias_before_norm(forward, args, dout, db):
    """A bias right before batch norm has no effect: its gradient is 0 both ways.

    (A relative error between two zeros measures only rounding, so compare absolutely.)
    """
    num = eval_numerical_gradient_array(lambda v: forward(**{**args, "b": v}), args["b"].copy(), dout)
    assert db.shape == args["b"].shape
    np.testing.assert_allclose(db, 0, atol=1e-10)
    np.testing.assert_allclose(num, 0, atol=1e-6)


def test_affine_relu(rng):
    args = {"x": randn(rng, 3, 2, 2), "w": randn(rng, 4, 5), "b": randn(rng, 5)}
    out, cache = layer_utils.affine_relu_forward(**args)
    dout = randn(rng, *out.shape)
    grads = layer_utils.affine_relu_backward(dout, cache)
    check_grads(lambda **a: layer_utils.affine_relu_forward(**a)[0], args, ("x", "w", "b"), dout, grads)


@pytest.mark.parametrize("norm", ["bn", "ln"])
def test_affine_norm_relu(norm, rng):
    args = {
        "x": randn(rng, 4, 3),
        "w": randn(rng, 3, 5),
        "b": randn(rng, 5),
        "gamma": randn(rng, 5),
        "beta": randn(rng, 5),
    }
    forward = getattr(layer_utils, f"affine_{norm}_relu_forward")
    backward = getattr(layer_utils, f"affine_{norm}_relu_backward")

    def f(**a):
        return forward(**a, **{f"{norm}_param": {"mode": "train"}})[0]

    out, cache = forward(**args, **{f"{norm}_param": {"mode": "train"}})
    dout = randn(rng, *out.shape)
    dx, dw, db, dgamma, dbeta = backward(dout, cache)
    if norm == "bn":
        check_bias_before_norm(f, args, dout, db)
        check_grads(f, args, ("x", "w", "gamma", "beta"), dout, (dx, dw, dgamma, dbeta))
    else:
        check_grads(f, args, ("x", "w", "b", "gamma", "beta"), dout, (dx, dw, db, dgamma, dbeta))


def test_conv_relu(rng):
    conv_param = {"stride": 1, "pad": 1}
    args = {"x": randn(rng, 2, 2, 4, 3), "w": randn(rng, 3, 2, 3, 2), "b": randn(rng, 3)}
    out, cache = layer_utils.conv_relu_forward(**args, conv_param=conv_param)
    dout = randn(rng, *out.shape)
    grads = layer_utils.conv_relu_backward(dout, cache)
    check_grads(
        lambda **a: layer_utils.conv_relu_forward(**a, conv_param=conv_param)[0], args, ("x", "w", "b"), dout, grads
    )


def test_conv_relu_pool(rng):
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    args = {"x": randn(rng, 2, 2, 4, 4), "w": randn(rng, 2, 2, 3, 3), "b": randn(rng, 2)}
    out, cache = layer_utils.conv_relu_pool_forward(**args, conv_param=conv_param, pool_param=pool_param)
    dout = randn(rng, *out.shape)
    grads = layer_utils.conv_relu_pool_backward(dout, cache)

    def f(**a):
        return layer_utils.conv_relu_pool_forward(**a, conv_param=conv_param, pool_param=pool_param)[0]

    check_grads(f, args, ("x", "w", "b"), dout, grads)


def test_conv_bn_relu(rng):
    conv_param = {"stride": 2, "pad": 1}
    args = {
        "x": randn(rng, 2, 2, 5, 5),
        "w": randn(rng, 3, 2, 3, 3),
        "b": randn(rng, 3),
        "gamma": randn(rng, 3),
        "beta": randn(rng, 3),
    }

    def f(**a):
        return layer_utils.conv_bn_relu_forward(**a, conv_param=conv_param, bn_param={"mode": "train"})[0]

    out, cache = layer_utils.conv_bn_relu_forward(**args, conv_param=conv_param, bn_param={"mode": "train"})
    dout = randn(rng, *out.shape)
    dx, dw, db, dgamma, dbeta = layer_utils.conv_bn_relu_backward(dout, cache)
    check_bias_before_norm(f, args, dout, db)
    check_grads(f, args, ("x", "w", "gamma", "beta"), dout, (dx, dw, dgamma, dbeta))
