"""Every naive layer and layer_utils sandwich, forward and backward, against the PyTorch oracle.

Each case runs in float64 (tolerance 1e-10) and float32 (1e-4, both relative and scaled to the
largest reference magnitude), on grids that include N=1, non-square inputs and kernels,
stride 2, pad 0 and 2, and overlapping pooling. Every case also checks that the outputs and
gradients keep the input dtype and shapes and that no input (nor dout) was modified.
"""

import numpy as np
import pytest

from assignment import layer_utils, layers

pytest.importorskip("torch")

import oracles  # noqa: E402
from conftest import assert_close, assert_unchanged, snapshot  # noqa: E402

DTYPES = [np.float64, np.float32]


def randn(rng, shape, dtype, scale=1.0, shift=0.0):
    return (scale * rng.standard_normal(shape) + shift).astype(dtype)


def check_dtypes(dtype, *arrays):
    for a in arrays:
        assert a.dtype == dtype, f"dtype {a.dtype} != {np.dtype(dtype)}"


# --------------------------------------------------------------------------------------
# affine, relu


AFFINE_CASES = [  # (N, input dims, M)
    (1, (3,), 1),
    (1, (2, 3), 4),
    (4, (5,), 3),
    (2, (4, 5, 6), 3),
    (3, (2, 1, 3, 2), 7),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,dims,M", AFFINE_CASES)
def test_affine(N, dims, M, dtype, rng):
    D = int(np.prod(dims))
    x, w, b = randn(rng, (N, *dims), dtype), randn(rng, (D, M), dtype), randn(rng, (M,), dtype)
    dout = randn(rng, (N, M), dtype)
    before = snapshot(x, w, b, dout)
    out, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(dout, cache)
    assert_unchanged(before, (x, w, b, dout), ("x", "w", "b", "dout"))
    want_out, (want_dx, want_dw, want_db) = oracles.affine(x, w, b, dout)
    check_dtypes(dtype, out, dx, dw, db)
    assert_close(out, want_out, dtype, "out")
    assert_close(dx, want_dx, dtype, "dx")
    assert_close(dw, want_dw, dtype, "dw")
    assert_close(db, want_db, dtype, "db")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 4), (2, 3, 4, 5)])
def test_relu(shape, dtype, rng):
    x = randn(rng, shape, dtype)
    x.flat[0] = 0.0  # the kink itself: gradient 0, as dout * (x > 0)
    dout = randn(rng, shape, dtype)
    before = snapshot(x, dout)
    out, cache = layers.relu_forward(x)
    dx = layers.relu_backward(dout, cache)
    assert_unchanged(before, (x, dout), ("x", "dout"))
    want_out, (want_dx,) = oracles.relu(x, dout)
    check_dtypes(dtype, out, dx)
    assert_close(out, want_out, dtype, "out")
    assert_close(dx, want_dx, dtype, "dx")


# --------------------------------------------------------------------------------------
# losses


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,C", [(1, 2), (1, 10), (5, 3), (50, 10)])
@pytest.mark.parametrize("loss_name", ["softmax_loss", "svm_loss"])
def test_losses(loss_name, N, C, dtype, rng):
    x = randn(rng, (N, C), dtype)
    y = rng.integers(0, C, size=N)
    before = snapshot(x, y)
    loss, dx = getattr(layers, loss_name)(x, y)
    assert_unchanged(before, (x, y), ("x", "y"))
    want_loss, want_dx = getattr(oracles, loss_name)(x, y)
    check_dtypes(dtype, dx)
    assert np.ndim(loss) == 0
    assert_close(loss, want_loss, dtype, "loss")
    assert_close(dx, want_dx, dtype, "dx")


@pytest.mark.parametrize("loss_name", ["softmax_loss", "svm_loss"])
def test_losses_large_scores(loss_name, rng):
    # Scores far from 0 (softmax must be shifted before exp; the hinge is piecewise linear).
    x = randn(rng, (6, 5), np.float64, scale=300.0, shift=1000.0)
    y = rng.integers(0, 5, size=6)
    loss, dx = getattr(layers, loss_name)(x, y)
    want_loss, want_dx = getattr(oracles, loss_name)(x, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    assert_close(loss, want_loss, np.float64, "loss")
    assert_close(dx, want_dx, np.float64, "dx")


# --------------------------------------------------------------------------------------
# batch norm, layer norm


NORM_CASES = [(2, 3), (5, 4), (16, 7), (3, 1)]


def bn_inputs(rng, N, D, dtype):
    x = randn(rng, (N, D), dtype, scale=3.0, shift=2.0)
    gamma = randn(rng, (D,), dtype)
    beta = randn(rng, (D,), dtype)
    dout = randn(rng, (N, D), dtype)
    return x, gamma, beta, dout


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,D", NORM_CASES)
@pytest.mark.parametrize("backward", ["batchnorm_backward", "batchnorm_backward_alt"])
def test_batchnorm_train(backward, N, D, dtype, rng):
    x, gamma, beta, dout = bn_inputs(rng, N, D, dtype)
    running_mean = randn(rng, (D,), dtype)
    running_var = np.abs(randn(rng, (D,), dtype)) + 0.5
    bn_param = {
        "mode": "train",
        "momentum": 0.8,
        "eps": 1e-3,
        "running_mean": running_mean.copy(),
        "running_var": running_var.copy(),
    }
    want_out, want_grads, (want_rm, want_rv) = oracles.batchnorm(
        x, gamma, beta, bn_param, dout, return_running=True
    )
    before = snapshot(x, gamma, beta, dout)
    out, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    grads = getattr(layers, backward)(dout, cache)
    assert_unchanged(before, (x, gamma, beta, dout), ("x", "gamma", "beta", "dout"))
    check_dtypes(dtype, out, *grads)
    assert_close(out, want_out, dtype, "out")
    for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, want_grads, strict=True):
        assert_close(got, want, dtype, name)
    assert_close(bn_param["running_mean"], want_rm, dtype, "running_mean")
    assert_close(bn_param["running_var"], want_rv, dtype, "running_var")


def test_batchnorm_default_running_stats(rng):
    # No running stats given: they start at zeros; default momentum 0.9 and eps 1e-5.
    x, gamma, beta, dout = bn_inputs(rng, 6, 4, np.float64)
    bn_param = {"mode": "train"}
    want_out, _, (want_rm, want_rv) = oracles.batchnorm(x, gamma, beta, {"mode": "train"}, dout, True)
    out, _ = layers.batchnorm_forward(x, gamma, beta, bn_param)
    assert_close(out, want_out)
    assert_close(bn_param["running_mean"], want_rm, what="running_mean")
    assert_close(bn_param["running_var"], want_rv, what="running_var")
    # Independent restatement: 0.9 * 0 + 0.1 * batch statistics (biased variance).
    assert_close(bn_param["running_mean"], 0.1 * x.mean(axis=0))
    assert_close(bn_param["running_var"], 0.1 * x.var(axis=0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_running_stats_over_steps_then_test_mode(dtype, rng):
    D = 5
    gamma, beta = randn(rng, (D,), dtype), randn(rng, (D,), dtype)
    bn_param = {"mode": "train", "momentum": 0.7}
    mirror = {"mode": "train", "momentum": 0.7}
    for _ in range(4):
        x = randn(rng, (8, D), dtype, scale=2.0, shift=1.0)
        dout = randn(rng, (8, D), dtype)
        layers.batchnorm_forward(x, gamma, beta, bn_param)
        _, _, (mirror["running_mean"], mirror["running_var"]) = oracles.batchnorm(
            x, gamma, beta, mirror, dout, return_running=True
        )
        assert_close(bn_param["running_mean"], mirror["running_mean"], dtype, "running_mean")
        assert_close(bn_param["running_var"], mirror["running_var"], dtype, "running_var")

    bn_param["mode"] = mirror["mode"] = "test"
    x = randn(rng, (3, D), dtype, scale=2.0, shift=1.0)
    dout = randn(rng, (3, D), dtype)
    rm, rv = bn_param["running_mean"].copy(), bn_param["running_var"].copy()
    before = snapshot(x, gamma, beta)
    out, _ = layers.batchnorm_forward(x, gamma, beta, bn_param)
    assert_unchanged(before, (x, gamma, beta))
    want_out, _ = oracles.batchnorm(x, gamma, beta, mirror, dout)
    check_dtypes(dtype, out)
    assert_close(out, want_out, dtype, "test-mode out")
    # Test mode leaves the running statistics alone.
    np.testing.assert_array_equal(bn_param["running_mean"], rm)
    np.testing.assert_array_equal(bn_param["running_var"], rv)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,D", [(2, 3), (5, 4), (16, 7), (1, 6)])
def test_layernorm(N, D, dtype, rng):
    x, gamma, beta, dout = bn_inputs(rng, N, D, dtype)
    for ln_param in ({}, {"eps": 1e-2}):
        before = snapshot(x, gamma, beta, dout)
        out, cache = layers.layernorm_forward(x, gamma, beta, dict(ln_param))
        grads = layers.layernorm_backward(dout, cache)
        assert_unchanged(before, (x, gamma, beta, dout), ("x", "gamma", "beta", "dout"))
        want_out, want_grads = oracles.layernorm(x, gamma, beta, ln_param, dout)
        check_dtypes(dtype, out, *grads)
        assert_close(out, want_out, dtype, "out")
        for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, want_grads, strict=True):
            assert_close(got, want, dtype, name)


# --------------------------------------------------------------------------------------
# convolution and pooling


CONV_CASES = [  # N, C, H, W, F, HH, WW, stride, pad
    (1, 1, 5, 5, 1, 3, 3, 1, 0),
    (2, 3, 7, 5, 4, 3, 1, 2, 0),
    (2, 3, 6, 8, 3, 2, 4, 2, 2),
    (3, 2, 5, 7, 2, 5, 3, 1, 2),
    (1, 2, 4, 4, 2, 4, 4, 1, 0),
    (2, 3, 9, 9, 2, 3, 3, 2, 1),
    (1, 2, 3, 6, 3, 1, 2, 2, 2),
]


def conv_ids(case):
    N, C, H, W, F, HH, WW, s, p = case
    return f"x{N}x{C}x{H}x{W}-w{F}x{C}x{HH}x{WW}-s{s}p{p}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=conv_ids)
def test_conv(case, dtype, rng):
    N, C, H, W, F, HH, WW, stride, pad = case
    x, w, b = randn(rng, (N, C, H, W), dtype), randn(rng, (F, C, HH, WW), dtype), randn(rng, (F,), dtype)
    conv_param = {"stride": stride, "pad": pad}
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    dout = randn(rng, (N, F, Ho, Wo), dtype)
    before = snapshot(x, w, b, dout)
    out, cache = layers.conv_forward_naive(x, w, b, conv_param)
    dx, dw, db = layers.conv_backward_naive(dout, cache)
    assert_unchanged(before, (x, w, b, dout), ("x", "w", "b", "dout"))
    assert conv_param == {"stride": stride, "pad": pad}
    want_out, (want_dx, want_dw, want_db) = oracles.conv(x, w, b, conv_param, dout)
    check_dtypes(dtype, out, dx, dw, db)
    assert_close(out, want_out, dtype, "out")
    assert_close(dx, want_dx, dtype, "dx")
    assert_close(dw, want_dw, dtype, "dw")
    assert_close(db, want_db, dtype, "db")


POOL_CASES = [  # N, C, H, W, pool_height, pool_width, stride
    (1, 1, 4, 4, 2, 2, 2),
    (2, 3, 7, 7, 3, 3, 2),
    (2, 2, 5, 8, 3, 2, 2),
    (3, 2, 6, 5, 2, 3, 1),
    (1, 1, 3, 5, 3, 5, 1),
    (2, 1, 9, 7, 3, 3, 2),
]


def pool_ids(case):
    N, C, H, W, ph, pw, s = case
    return f"x{N}x{C}x{H}x{W}-{ph}x{pw}s{s}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_ids)
def test_max_pool(case, dtype, rng):
    N, C, H, W, ph, pw, stride = case
    x = randn(rng, (N, C, H, W), dtype)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    dout = randn(rng, (N, C, 1 + (H - ph) // stride, 1 + (W - pw) // stride), dtype)
    before = snapshot(x, dout)
    out, cache = layers.max_pool_forward_naive(x, pool_param)
    dx = layers.max_pool_backward_naive(dout, cache)
    assert_unchanged(before, (x, dout), ("x", "dout"))
    want_out, (want_dx,) = oracles.max_pool(x, pool_param, dout)
    check_dtypes(dtype, out, dx)
    assert_close(out, want_out, dtype, "out")
    assert_close(dx, want_dx, dtype, "dx")


@pytest.mark.parametrize("case", POOL_CASES, ids=pool_ids)
def test_max_pool_ties_go_to_first_max(case, rng):
    # Few distinct values: many windows hold several maxima. Torch's CPU kernel also picks
    # the first maximum in row-major order within each window.
    N, C, H, W, ph, pw, stride = case
    x = rng.integers(0, 3, size=(N, C, H, W)).astype(np.float64)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    dout = randn(rng, (N, C, 1 + (H - ph) // stride, 1 + (W - pw) // stride), np.float64)
    out, cache = layers.max_pool_forward_naive(x, pool_param)
    dx = layers.max_pool_backward_naive(dout, cache)
    want_out, (want_dx,) = oracles.max_pool(x, pool_param, dout)
    assert_close(out, want_out, np.float64, "out")
    assert_close(dx, want_dx, np.float64, "dx")


# --------------------------------------------------------------------------------------
# spatial batch norm, group norm


SPATIAL_CASES = [(1, 2, 3, 4), (2, 3, 4, 5), (4, 1, 2, 2), (3, 4, 5, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,C,H,W", SPATIAL_CASES)
def test_spatial_batchnorm_train(N, C, H, W, dtype, rng):
    x = randn(rng, (N, C, H, W), dtype, scale=4.0, shift=10.0)
    gamma, beta = randn(rng, (C,), dtype), randn(rng, (C,), dtype)
    dout = randn(rng, (N, C, H, W), dtype)
    bn_param = {"mode": "train", "momentum": 0.6, "eps": 1e-3, "running_mean": np.ones(C, dtype)}
    want_out, want_grads, (want_rm, want_rv) = oracles.spatial_batchnorm(
        x, gamma, beta, bn_param, dout, return_running=True
    )
    before = snapshot(x, gamma, beta, dout)
    out, cache = layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    grads = layers.spatial_batchnorm_backward(dout, cache)
    assert_unchanged(before, (x, gamma, beta, dout), ("x", "gamma", "beta", "dout"))
    check_dtypes(dtype, out, *grads)
    assert_close(out, want_out, dtype, "out")
    for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, want_grads, strict=True):
        assert_close(got, want, dtype, name)
    assert_close(bn_param["running_mean"], want_rm, dtype, "running_mean")
    assert_close(bn_param["running_var"], want_rv, dtype, "running_var")


@pytest.mark.parametrize("dtype", DTYPES)
def test_spatial_batchnorm_test_mode(dtype, rng):
    N, C, H, W = 2, 3, 4, 5
    x = randn(rng, (N, C, H, W), dtype, scale=2.0, shift=3.0)
    gamma, beta = randn(rng, (C,), dtype), randn(rng, (C,), dtype)
    dout = randn(rng, (N, C, H, W), dtype)
    bn_param = {
        "mode": "test",
        "running_mean": randn(rng, (C,), dtype),
        "running_var": np.abs(randn(rng, (C,), dtype)) + 0.1,
    }
    want_out, _ = oracles.spatial_batchnorm(x, gamma, beta, bn_param, dout)
    out, _ = layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    check_dtypes(dtype, out)
    assert_close(out, want_out, dtype, "out")


GN_CASES = [(1, 4, 3, 3, 2), (2, 6, 4, 5, 3), (2, 6, 2, 3, 6), (3, 4, 2, 5, 1), (2, 8, 3, 2, 4)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,C,H,W,G", GN_CASES)
def test_spatial_groupnorm(N, C, H, W, G, dtype, rng):
    x = randn(rng, (N, C, H, W), dtype, scale=5.0, shift=12.0)
    gamma, beta = randn(rng, (1, C, 1, 1), dtype), randn(rng, (1, C, 1, 1), dtype)
    dout = randn(rng, (N, C, H, W), dtype)
    for gn_param in ({}, {"eps": 1e-2}):
        before = snapshot(x, gamma, beta, dout)
        out, cache = layers.spatial_groupnorm_forward(x, gamma, beta, G, dict(gn_param))
        grads = layers.spatial_groupnorm_backward(dout, cache)
        assert_unchanged(before, (x, gamma, beta, dout), ("x", "gamma", "beta", "dout"))
        want_out, want_grads = oracles.spatial_groupnorm(x, gamma, beta, G, gn_param, dout)
        check_dtypes(dtype, out, *grads)
        assert_close(out, want_out, dtype, "out")
        for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, want_grads, strict=True):
            assert_close(got, want, dtype, name)


# --------------------------------------------------------------------------------------
# layer_utils sandwiches: the oracles chained by hand (forward in order, backward reversed)


def oracle_affine_norm_relu(norm, x, w, b, gamma, beta, param, dout):
    a, _ = oracles.affine(x, w, b, np.zeros_like(dout))
    norm_fn = oracles.batchnorm if norm == "bn" else oracles.layernorm
    an, _ = norm_fn(a, gamma, beta, param, np.zeros_like(dout))
    out, (dan,) = oracles.relu(an, dout)
    _, (da, dgamma, dbeta) = norm_fn(a, gamma, beta, param, dan)
    _, (dx, dw, db) = oracles.affine(x, w, b, da)
    return out, (dx, dw, db, dgamma, dbeta)


def oracle_conv_relu(x, w, b, conv_param, dout):
    c, _ = oracles.conv(x, w, b, conv_param, np.zeros_like(dout))
    out, (dc,) = oracles.relu(c, dout)
    return out, oracles.conv(x, w, b, conv_param, dc)[1]


def oracle_conv_relu_pool(x, w, b, conv_param, pool_param, conv_out_shape, dout):
    c, _ = oracles.conv(x, w, b, conv_param, np.zeros(conv_out_shape, x.dtype))
    r, _ = oracles.relu(c, np.zeros_like(c))
    out, (dr,) = oracles.max_pool(r, pool_param, dout)
    _, (dc,) = oracles.relu(c, dr)
    return out, oracles.conv(x, w, b, conv_param, dc)[1]


def oracle_conv_bn_relu(x, w, b, gamma, beta, conv_param, bn_param, dout):
    c, _ = oracles.conv(x, w, b, conv_param, np.zeros_like(dout))
    cn, _ = oracles.spatial_batchnorm(c, gamma, beta, bn_param, np.zeros_like(dout))
    out, (dcn,) = oracles.relu(cn, dout)
    _, (dc, dgamma, dbeta) = oracles.spatial_batchnorm(c, gamma, beta, bn_param, dcn)
    dx, dw, db = oracles.conv(x, w, b, conv_param, dc)[1]
    return out, (dx, dw, db, dgamma, dbeta)


def check_sandwich(dtype, args, got_out, got_grads, want_out, want_grads, names):
    check_dtypes(dtype, got_out, *got_grads)
    assert_close(got_out, want_out, dtype, "out")
    assert len(got_grads) == len(want_grads) == len(names)
    for name, got, want in zip(names, got_grads, want_grads, strict=True):
        assert got.shape == args[name].shape, name
        assert_close(got, want, dtype, "d" + name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_affine_relu_sandwich(dtype, rng):
    args = {"x": randn(rng, (3, 2, 2), dtype), "w": randn(rng, (4, 5), dtype), "b": randn(rng, (5,), dtype)}
    dout = randn(rng, (3, 5), dtype)
    before = snapshot(*args.values(), dout)
    out, cache = layer_utils.affine_relu_forward(**args)
    grads = layer_utils.affine_relu_backward(dout, cache)
    assert_unchanged(before, (*args.values(), dout))
    a, _ = oracles.affine(args["x"], args["w"], args["b"], dout)
    want_out, (da,) = oracles.relu(a, dout)
    want_grads = oracles.affine(args["x"], args["w"], args["b"], da)[1]
    check_sandwich(dtype, args, out, grads, want_out, want_grads, ("x", "w", "b"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", ["bn", "ln"])
def test_affine_norm_relu_sandwich(norm, dtype, rng):
    args = {
        "x": randn(rng, (6, 4), dtype),
        "w": randn(rng, (4, 5), dtype),
        "b": randn(rng, (5,), dtype),
        "gamma": randn(rng, (5,), dtype),
        "beta": randn(rng, (5,), dtype),
    }
    dout = randn(rng, (6, 5), dtype)
    param = {"mode": "train"}
    before = snapshot(*args.values(), dout)
    out, cache = getattr(layer_utils, f"affine_{norm}_relu_forward")(**args, **{f"{norm}_param": param})
    grads = getattr(layer_utils, f"affine_{norm}_relu_backward")(dout, cache)
    assert_unchanged(before, (*args.values(), dout))
    want_out, want_grads = oracle_affine_norm_relu(norm, *args.values(), {"mode": "train"}, dout)
    check_sandwich(dtype, args, out, grads, want_out, want_grads, tuple(args))
    if norm == "bn":
        assert "running_mean" in param and "running_var" in param


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_relu_sandwich(dtype, rng):
    conv_param = {"stride": 2, "pad": 1}
    args = {"x": randn(rng, (2, 3, 5, 7), dtype), "w": randn(rng, (4, 3, 3, 1), dtype), "b": randn(rng, (4,), dtype)}
    dout = randn(rng, (2, 4, 3, 5), dtype)
    before = snapshot(*args.values(), dout)
    out, cache = layer_utils.conv_relu_forward(**args, conv_param=conv_param)
    grads = layer_utils.conv_relu_backward(dout, cache)
    assert_unchanged(before, (*args.values(), dout))
    want_out, want_grads = oracle_conv_relu(*args.values(), conv_param, dout)
    check_sandwich(dtype, args, out, grads, want_out, want_grads, ("x", "w", "b"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_relu_pool_sandwich(dtype, rng):
    conv_param = {"stride": 1, "pad": 2}
    pool_param = {"pool_height": 3, "pool_width": 2, "stride": 2}
    # conv: (1, 2, 5, 6) * (3, 2, 3, 3), pad 2 -> (1, 3, 7, 8); pool 3x2 stride 2 -> (1, 3, 3, 4)
    args = {"x": randn(rng, (1, 2, 5, 6), dtype), "w": randn(rng, (3, 2, 3, 3), dtype), "b": randn(rng, (3,), dtype)}
    dout = randn(rng, (1, 3, 3, 4), dtype)
    before = snapshot(*args.values(), dout)
    out, cache = layer_utils.conv_relu_pool_forward(**args, conv_param=conv_param, pool_param=pool_param)
    grads = layer_utils.conv_relu_pool_backward(dout, cache)
    assert_unchanged(before, (*args.values(), dout))
    want_out, want_grads = oracle_conv_relu_pool(*args.values(), conv_param, pool_param, (1, 3, 7, 8), dout)
    check_sandwich(dtype, args, out, grads, want_out, want_grads, ("x", "w", "b"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_bn_relu_sandwich(dtype, rng):
    conv_param = {"stride": 1, "pad": 0}
    args = {
        "x": randn(rng, (2, 2, 4, 5), dtype),
        "w": randn(rng, (3, 2, 2, 3), dtype),
        "b": randn(rng, (3,), dtype),
        "gamma": randn(rng, (3,), dtype),
        "beta": randn(rng, (3,), dtype),
    }
    dout = randn(rng, (2, 3, 3, 3), dtype)
    bn_param = {"mode": "train"}
    before = snapshot(*args.values(), dout)
    out, cache = layer_utils.conv_bn_relu_forward(**args, conv_param=conv_param, bn_param=bn_param)
    grads = layer_utils.conv_bn_relu_backward(dout, cache)
    assert_unchanged(before, (*args.values(), dout))
    want_out, want_grads = oracle_conv_bn_relu(*args.values(), conv_param, {"mode": "train"}, dout)
    check_sandwich(dtype, args, out, grads, want_out, want_grads, tuple(args))
    assert "running_mean" in bn_param and "running_var" in bn_param
