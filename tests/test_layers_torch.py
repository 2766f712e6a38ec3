"""Every naive layer, forward and backward, against the PyTorch oracle (tests/oracles.py).

Each case runs in float64 (tolerance 1e-10) and float32 (1e-4, both relative and scaled to the
largest reference magnitude), on grids that include N=1, non-square inputs and kernels,
stride 2, pad 0 and 2, and overlapping pooling. Every case also checks that the outputs and
gradients keep the input dtype and shapes and that no input (nor dout) was modified.
"""

import numpy as np
import pytest

from assignment import layers

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


def test_max_pool_ties_by_hand():
    # A constant input: every window's first element (row-major) takes the gradient.
    x = np.zeros((1, 1, 4, 4))
    dout = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    _, cache = layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = layers.max_pool_backward_naive(dout, cache)
    want = np.zeros((1, 1, 4, 4))
    want[0, 0, 0, 0], want[0, 0, 0, 2], want[0, 0, 2, 0], want[0, 0, 2, 2] = 1, 2, 3, 4
    np.testing.assert_array_equal(dx, want)
    # Overlapping 3x3 windows, stride 1: windows start at (0,0), (0,1), (1,0), (1,1), and
    # their first elements are distinct, so nothing accumulates.
    _, cache = layers.max_pool_forward_naive(x, {"pool_height": 3, "pool_width": 3, "stride": 1})
    dx = layers.max_pool_backward_naive(dout, cache)
    want = np.zeros((1, 1, 4, 4))
    want[0, 0, :2, :2] = dout[0, 0]
    np.testing.assert_array_equal(dx, want)
    # One shared maximum in the middle of four overlapping windows accumulates all of dout.
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = 1.0
    _, cache = layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 1})
    dout = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    dx = layers.max_pool_backward_naive(dout, cache)
    assert dx[0, 0, 1, 1] == 1 + 2 + 4 + 5


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
# dropout (no torch equivalent with a shared mask: checked against its own definition)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.3, 0.75, 1.0])
def test_dropout_is_inverted_with_keep_probability(p, dtype):
    x = randn(np.random.default_rng(0), (40, 50), dtype, shift=3.0)
    dout = randn(np.random.default_rng(1), (40, 50), dtype)
    before = snapshot(x, dout)
    out, cache = layers.dropout_forward(x, {"mode": "train", "p": p, "rng": np.random.default_rng(5)})
    dx = layers.dropout_backward(dout, cache)
    assert_unchanged(before, (x, dout), ("x", "dout"))
    # The mask the contract defines: rng.random(x.shape) < p, scaled by 1/p.
    keep = np.random.default_rng(5).random(x.shape) < p
    check_dtypes(dtype, out, dx)
    assert_close(out, np.where(keep, x / dtype(p), 0), dtype, "out")
    assert_close(dx, np.where(keep, dout / dtype(p), 0), dtype, "dx")
    if p == 1.0:
        np.testing.assert_array_equal(out, x)


def test_dropout_seed_gives_the_same_mask_every_call():
    x = np.ones((30, 40))
    param = {"mode": "train", "p": 0.5, "seed": 7}
    out1, _ = layers.dropout_forward(x, param)
    out2, _ = layers.dropout_forward(x, param)
    np.testing.assert_array_equal(out1, out2)
    other, _ = layers.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 8})
    assert not np.array_equal(out1, other)
    keep = np.random.default_rng(7).random(x.shape) < 0.5
    np.testing.assert_array_equal(out1, np.where(keep, 2.0, 0.0))


def test_dropout_test_mode_is_identity(rng):
    x = randn(rng, (5, 6), np.float32)
    dout = randn(rng, (5, 6), np.float32)
    out, cache = layers.dropout_forward(x, {"mode": "test", "p": 0.3})
    np.testing.assert_array_equal(out, x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(layers.dropout_backward(dout, cache), dout)
