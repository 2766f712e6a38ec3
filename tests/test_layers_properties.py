"""Hypothesis property tests: random shapes and parameters against the torch oracle or numeric gradients.

Shapes are drawn small (so each example takes milliseconds) but over the whole space the
contract covers: N = 1, non-square inputs and kernels, stride 1-2, pad 0-2, overlapping and
non-overlapping pooling, any group count dividing C. Array contents come from a seeded
generator whose seed hypothesis draws (shrinkable, reproducible); ReLU is also checked on
arrays hypothesis builds itself. Every property also checks that no input was modified.

Normalization layers in float32 are drawn around 0 and with at least 3 values per
normalization group: with 2 values x_hat is +-sqrt(var / (var + eps)) whatever the data, so
dx is an O(eps / var) remainder of cancelling O(1) terms, and an input far from 0 relative
to its spread loses float32 digits in x - mean. Both are properties of float32, not of the
code (torch is no more accurate there); float64 covers every size.
"""

import numpy as np
from conftest import assert_close, assert_unchanged, snapshot
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from assignment import gradient_check, layers

FAST = settings(max_examples=50, deadline=None)


def norm_shift(dtype, M):
    """Offset of the inputs of a normalization test whose groups hold M values (see above)."""
    assume(dtype == np.float64 or M >= 3)
    return 3.0 if dtype == np.float64 else 0.0

seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from([np.float64, np.float32])


def arrays_from(seed, dtype, *shapes, scale=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal(s) + shift).astype(dtype) for s in shapes]


@st.composite
def conv_cases(draw):
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, 3))
    F = draw(st.integers(1, 3))
    HH = draw(st.integers(1, 4))
    WW = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 2))
    pad = draw(st.integers(0, 2))
    # Output sizes first, then the input size that the stride tiles exactly.
    Ho = draw(st.integers(1, 4))
    Wo = draw(st.integers(1, 4))
    H = (Ho - 1) * stride + HH - 2 * pad
    W = (Wo - 1) * stride + WW - 2 * pad
    assume(H >= 1 and W >= 1)
    return (N, C, H, W), (F, C, HH, WW), {"stride": stride, "pad": pad}, (N, F, Ho, Wo)


@st.composite
def pool_cases(draw):
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, 3))
    ph = draw(st.integers(1, 3))
    pw = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    Ho = draw(st.integers(1, 4))
    Wo = draw(st.integers(1, 4))
    H, W = (Ho - 1) * stride + ph, (Wo - 1) * stride + pw
    return (N, C, H, W), {"pool_height": ph, "pool_width": pw, "stride": stride}, (N, C, Ho, Wo)


@FAST
@given(case=conv_cases(), seed=seeds, dtype=dtypes)
def test_conv_matches_torch(oracles, case, seed, dtype):
    x_shape, w_shape, conv_param, out_shape = case
    x, w, b, dout = arrays_from(seed, dtype, x_shape, w_shape, (w_shape[0],), out_shape)
    before = snapshot(x, w, b, dout)
    out, cache = layers.conv_forward_naive(x, w, b, conv_param)
    grads = layers.conv_backward_naive(dout, cache)
    assert_unchanged(before, (x, w, b, dout))
    want_out, want_grads = oracles.conv(x, w, b, conv_param, dout)
    assert out.dtype == dtype
    assert_close(out, want_out, dtype, "out")
    for name, got, want, arg in zip(("dx", "dw", "db"), grads, want_grads, (x, w, b), strict=True):
        assert got.dtype == dtype and got.shape == arg.shape, name
        assert_close(got, want, dtype, name)


@FAST
@given(case=pool_cases(), seed=seeds, dtype=dtypes)
def test_max_pool_matches_torch(oracles, case, seed, dtype):
    x_shape, pool_param, out_shape = case
    x, dout = arrays_from(seed, dtype, x_shape, out_shape)
    before = snapshot(x, dout)
    out, cache = layers.max_pool_forward_naive(x, pool_param)
    dx = layers.max_pool_backward_naive(dout, cache)
    assert_unchanged(before, (x, dout))
    want_out, (want_dx,) = oracles.max_pool(x, pool_param, dout)
    assert out.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape
    assert_close(out, want_out, dtype, "out")
    assert_close(dx, want_dx, dtype, "dx")


@FAST
@given(case=pool_cases(), seed=seeds)
def test_max_pool_backward_matches_numeric(case, seed):
    x_shape, pool_param, out_shape = case
    # Distinct values at least 0.1 apart: a centred difference with h = 1e-5 is exact only
    # when no two entries of a window lie within h of each other.
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.permutation(int(np.prod(x_shape))).reshape(x_shape).astype(np.float64)
    dout = rng.standard_normal(out_shape)
    _, cache = layers.max_pool_forward_naive(x, pool_param)
    dx = layers.max_pool_backward_naive(dout, cache)
    num = gradient_check.eval_numerical_gradient_array(
        lambda t: layers.max_pool_forward_naive(t, pool_param)[0], x.copy(), dout
    )
    assert gradient_check.rel_error(dx, num) < 1e-7


@FAST
@given(
    N=st.integers(1, 4),
    dims=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    M=st.integers(1, 5),
    seed=seeds,
    dtype=dtypes,
)
def test_affine_matches_torch(oracles, N, dims, M, seed, dtype):
    D = int(np.prod(dims))
    x, w, b, dout = arrays_from(seed, dtype, (N, *dims), (D, M), (M,), (N, M))
    before = snapshot(x, w, b, dout)
    out, cache = layers.affine_forward(x, w, b)
    grads = layers.affine_backward(dout, cache)
    assert_unchanged(before, (x, w, b, dout))
    want_out, want_grads = oracles.affine(x, w, b, dout)
    assert_close(out, want_out, dtype, "out")
    for name, got, want, arg in zip(("dx", "dw", "db"), grads, want_grads, (x, w, b), strict=True):
        assert got.dtype == dtype and got.shape == arg.shape, name
        assert_close(got, want, dtype, name)


off_kink = st.floats(1e-3, 1e3) | st.floats(-1e3, -1e-3)


@FAST
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=4, max_side=5), elements=off_kink))
def test_relu_backward_matches_numeric_grad(x):
    dout = np.linspace(-1.0, 2.0, x.size).reshape(x.shape)
    before = snapshot(x, dout)
    out, cache = layers.relu_forward(x)
    dx = layers.relu_backward(dout, cache)
    assert_unchanged(before, (x, dout))
    np.testing.assert_array_equal(out, np.where(x > 0, x, 0.0))
    num = gradient_check.eval_numerical_gradient_array(lambda t: layers.relu_forward(t)[0], x.copy(), dout)
    assert gradient_check.rel_error(dx, num) < 1e-8


@FAST
@given(N=st.integers(2, 6), D=st.integers(1, 5), seed=seeds, dtype=dtypes, momentum=st.floats(0.0, 0.99))
def test_batchnorm_matches_torch(oracles, N, D, seed, dtype, momentum):
    shift = norm_shift(dtype, N)
    x, gamma, beta, dout, rm = arrays_from(seed, dtype, (N, D), (D,), (D,), (N, D), (D,), scale=2.0, shift=shift)
    rv = np.abs(rm) + 0.5
    bn_param = {"mode": "train", "momentum": momentum, "running_mean": rm.copy(), "running_var": rv.copy()}
    want_out, want_grads, (want_rm, want_rv) = oracles.batchnorm(
        x, gamma, beta, bn_param, dout, return_running=True
    )
    before = snapshot(x, gamma, beta, dout)
    out, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    grads = layers.batchnorm_backward(dout, cache)
    grads_alt = layers.batchnorm_backward_alt(dout, cache)
    assert_unchanged(before, (x, gamma, beta, dout))
    assert_close(out, want_out, dtype, "out")
    for name, got, alt, want in zip(("dx", "dgamma", "dbeta"), grads, grads_alt, want_grads, strict=True):
        assert got.dtype == dtype and alt.dtype == dtype, name
        assert_close(got, want, dtype, name)
        assert_close(alt, want, dtype, name + " (alt)")
    assert_close(bn_param["running_mean"], want_rm, dtype, "running_mean")
    assert_close(bn_param["running_var"], want_rv, dtype, "running_var")


@FAST
@given(N=st.integers(1, 5), D=st.integers(2, 6), seed=seeds, dtype=dtypes)
def test_layernorm_matches_torch(oracles, N, D, seed, dtype):
    shift = norm_shift(dtype, D)
    x, gamma, beta, dout = arrays_from(seed, dtype, (N, D), (D,), (D,), (N, D), scale=2.0, shift=shift)
    before = snapshot(x, gamma, beta, dout)
    out, cache = layers.layernorm_forward(x, gamma, beta, {})
    grads = layers.layernorm_backward(dout, cache)
    assert_unchanged(before, (x, gamma, beta, dout))
    want_out, want_grads = oracles.layernorm(x, gamma, beta, {}, dout)
    assert_close(out, want_out, dtype, "out")
    for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, want_grads, strict=True):
        assert got.dtype == dtype, name
        assert_close(got, want, dtype, name)


@FAST
@given(
    N=st.integers(1, 3),
    C=st.integers(1, 3),
    H=st.integers(1, 4),
    W=st.integers(1, 4),
    seed=seeds,
    dtype=dtypes,
)
def test_spatial_batchnorm_matches_torch(oracles, N, C, H, W, seed, dtype):
    assume(N * H * W >= 2)
    shift = norm_shift(dtype, N * H * W)
    x, gamma, beta, dout = arrays_from(seed, dtype, (N, C, H, W), (C,), (C,), (N, C, H, W), scale=2.0, shift=shift)
    before = snapshot(x, gamma, beta, dout)
    bn_param = {"mode": "train"}
    want_out, want_grads, (want_rm, want_rv) = oracles.spatial_batchnorm(
        x, gamma, beta, bn_param, dout, return_running=True
    )
    out, cache = layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    grads = layers.spatial_batchnorm_backward(dout, cache)
    assert_unchanged(before, (x, gamma, beta, dout))
    assert_close(out, want_out, dtype, "out")
    for name, got, want in zip(("dx", "dgamma", "dbeta"), grads, want_grads, strict=True):
        assert got.dtype == dtype, name
        assert_close(got, want, dtype, name)
    assert_close(bn_param["running_mean"], want_rm, dtype, "running_mean")
    assert_close(bn_param["running_var"], want_rv, dtype, "running_var")


@st.composite
def groupnorm_cases(draw):
    G = draw(st.integers(1, 4))
    C = G * draw(st.integers(1, 3))
    N, H, W = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    assume(C // G * H * W >= 2)
    return (N, C, H, W), G


@FAST
@given(case=groupnorm_cases(), seed=seeds, dtype=dtypes)
def test_spatial_groupnorm_matches_torch(oracles, case, seed, dtype):
    (N, C, H, W), G = case
    shift = norm_shift(dtype, C // G * H * W)
    x, gamma, beta, dout = arrays_from(
        seed, dtype, (N, C, H, W), (1, C, 1, 1), (1, C, 1, 1), (N, C, H, W), scale=2.0, shift=shift
    )
    before = snapshot(x, gamma, beta, dout)
    out, cache = layers.spatial_groupnorm_forward(x, gamma, beta, G, {})
    grads = layers.spatial_groupnorm_backward(dout, cache)
    assert_unchanged(before, (x, gamma, beta, dout))
    want_out, want_grads = oracles.spatial_groupnorm(x, gamma, beta, G, {}, dout)
    assert_close(out, want_out, dtype, "out")
    for name, got, want, arg in zip(("dx", "dgamma", "dbeta"), grads, want_grads, (x, gamma, beta), strict=True):
        assert got.dtype == dtype and got.shape == arg.shape, name
        assert_close(got, want, dtype, name)


@FAST
@given(N=st.integers(1, 6), C=st.integers(2, 6), seed=seeds, dtype=dtypes)
def test_losses_match_torch(oracles, N, C, seed, dtype):
    (x,) = arrays_from(seed, dtype, (N, C), scale=2.0)
    y = np.random.default_rng(seed + 1).integers(0, C, size=N)
    before = snapshot(x, y)
    for name in ("svm_loss", "softmax_loss"):
        loss, dx = getattr(layers, name)(x, y)
        want_loss, want_dx = getattr(oracles, name)(x, y)
        assert dx.dtype == dtype, name
        assert_close(loss, want_loss, dtype, name)
        assert_close(dx, want_dx, dtype, name + " dx")
    assert_unchanged(before, (x, y))


@FAST
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=6),
    p=st.floats(0.05, 1.0),
    seed=seeds,
    dtype=dtypes,
)
def test_dropout_mask_and_scaling(shape, p, seed, dtype):
    (x,) = arrays_from(seed, dtype, shape, shift=5.0)
    before = snapshot(x)
    out, cache = layers.dropout_forward(x, {"mode": "train", "p": p, "seed": seed})
    assert_unchanged(before, (x,))
    keep = np.random.default_rng(seed).random(x.shape) < p
    assert out.dtype == dtype
    assert_close(out, np.where(keep, x / p, 0).astype(dtype), dtype, "out")
    dx = layers.dropout_backward(np.ones_like(x), cache)
    assert_close(dx, np.where(keep, 1 / p, 0).astype(dtype), dtype, "dx")
