"""The layer contract checked without any reference library (runs where torch is absent).

- dtypes, shapes and no mutation: every forward and backward of layers.py and layer_utils.py
  on float32 and float64 inputs returns outputs and gradients of the inputs' dtypes and
  shapes, and modifies neither its inputs nor dout;
- values derived by hand: max-pool gradient routing on ties and overlaps, dropout's mask,
  scaling, seed and test mode, ReLU's derivative at 0, softmax on huge scores.
"""

import numpy as np
import pytest
from conftest import assert_close, assert_unchanged, snapshot

from assignment import layer_utils, layers, registry

pytestmark = pytest.mark.public  # shipped to students (grader.release.public_tests)

DTYPES = [np.float64, np.float32]


def randn(rng, shape, dtype, scale=1.0, shift=0.0):
    return (scale * rng.standard_normal(shape) + shift).astype(dtype)


def check_dtypes(dtype, *arrays):
    for a in arrays:
        assert a.dtype == dtype, f"dtype {a.dtype} != {np.dtype(dtype)}"


# --------------------------------------------------------------------------------------
# dtypes, shapes, no mutation: one row per forward/backward pair
#
# Each case: (forward, backward, array arguments {name: shape}, other arguments builder).
# Gradients come back in the order of the array arguments.

CP = {"stride": 2, "pad": 1}
PP = {"pool_height": 3, "pool_width": 2, "stride": 1}

# The operations of the table (assignment.registry) run from its rows below; these are the rest:
# batchnorm_backward (the table's batch-norm row runs batchnorm_backward_alt) and the sandwich layers.
CASES = {
    "batchnorm": (
        layers.batchnorm_forward,
        layers.batchnorm_backward,
        {"x": (5, 3), "gamma": (3,), "beta": (3,)},
        {"bn_param": lambda: {"mode": "train"}},
    ),
    "affine_relu": (
        layer_utils.affine_relu_forward,
        layer_utils.affine_relu_backward,
        {"x": (2, 3), "w": (3, 4), "b": (4,)},
        {},
    ),
    "affine_bn_relu": (
        layer_utils.affine_bn_relu_forward,
        layer_utils.affine_bn_relu_backward,
        {"x": (4, 3), "w": (3, 2), "b": (2,), "gamma": (2,), "beta": (2,)},
        {"bn_param": lambda: {"mode": "train"}},
    ),
    "affine_ln_relu": (
        layer_utils.affine_ln_relu_forward,
        layer_utils.affine_ln_relu_backward,
        {"x": (4, 3), "w": (3, 2), "b": (2,), "gamma": (2,), "beta": (2,)},
        {"ln_param": dict},
    ),
    "conv_relu": (
        layer_utils.conv_relu_forward,
        layer_utils.conv_relu_backward,
        {"x": (1, 2, 5, 3), "w": (3, 2, 3, 1), "b": (3,)},
        {"conv_param": lambda: dict(CP)},
    ),
    "conv_relu_pool": (
        layer_utils.conv_relu_pool_forward,
        layer_utils.conv_relu_pool_backward,
        {"x": (1, 2, 4, 4), "w": (2, 2, 3, 3), "b": (2,)},
        {"conv_param": lambda: {"stride": 1, "pad": 1}, "pool_param": lambda: dict(PP)},
    ),
    "conv_bn_relu": (
        layer_utils.conv_bn_relu_forward,
        layer_utils.conv_bn_relu_backward,
        {"x": (2, 2, 5, 3), "w": (3, 2, 3, 1), "b": (3,), "gamma": (3,), "beta": (3,)},
        {"conv_param": lambda: dict(CP), "bn_param": lambda: {"mode": "train"}},
    ),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_dtypes_shapes_and_no_mutation(name, dtype, rng):
    forward, backward, shapes, others = CASES[name]
    arrays = {k: randn(rng, s, dtype, shift=0.5) for k, s in shapes.items()}
    kwargs = {**arrays, **{k: make() for k, make in others.items()}}
    before = snapshot(*arrays.values())
    out, cache = forward(**kwargs)
    assert out.dtype == dtype
    dout = randn(rng, out.shape, dtype)
    dout_before = dout.copy()
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert_unchanged(before, tuple(arrays.values()), tuple(arrays))
    np.testing.assert_array_equal(dout, dout_before, err_msg="dout was modified")
    assert len(grads) == len(arrays)
    for (arg, value), grad in zip(arrays.items(), grads, strict=True):
        assert grad.shape == value.shape, f"d{arg}: shape {grad.shape} != {value.shape}"
        assert grad.dtype == dtype, f"d{arg}: dtype {grad.dtype} != {np.dtype(dtype)}"


LAYER_ROWS = [op for op in registry.OPS if not op.is_loss]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", LAYER_ROWS, ids=lambda op: op.name)
def test_table_layer_contract(op, dtype):
    """Every layer of the operation table, on each of its seeded cases: the naive pair's contract."""
    for case in op.cases:
        inputs = case.inputs(dtype)
        before = snapshot(*inputs.arrays, inputs.dout)
        out, grads = op.call("naive", inputs)
        assert out.dtype == dtype and out.shape == case.out_shape, f"{op.name} {case.label}: out {out.dtype}{out.shape}"
        assert_unchanged(before, (*inputs.arrays, inputs.dout), (*op.array_names, "dout"))
        assert len(grads) == len(inputs.arrays)
        for arg, value, grad in zip(op.array_names, inputs.arrays, grads, strict=True):
            assert grad.shape == value.shape, f"{op.name} {case.label} d{arg}: shape {grad.shape} != {value.shape}"
            assert grad.dtype == dtype, f"{op.name} {case.label} d{arg}: dtype {grad.dtype} != {np.dtype(dtype)}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_name", ["svm_loss", "softmax_loss"])
def test_losses_dtype_and_no_mutation(loss_name, dtype, rng):
    x = randn(rng, (4, 3), dtype)
    y = np.array([0, 2, 1, 2])
    before = snapshot(x, y)
    loss, dx = getattr(layers, loss_name)(x, y)
    assert_unchanged(before, (x, y))
    assert np.ndim(loss) == 0 and np.isfinite(loss)
    assert dx.dtype == dtype and dx.shape == x.shape


# --------------------------------------------------------------------------------------
# values derived by hand


def test_relu_derivative_at_zero_is_zero():
    x = np.array([[-1.0, 0.0, 2.0]])
    out, cache = layers.relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(layers.relu_backward(np.full((1, 3), 5.0), cache), [[0.0, 0.0, 5.0]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_on_huge_scores(dtype):
    # Two equal huge scores: probabilities 1/2 each, loss log 2, whatever the offset.
    x = np.array([[1000.0, 1000.0], [-1000.0, -1000.0]], dtype=dtype)
    loss, dx = layers.softmax_loss(x, np.array([0, 1]))
    assert loss == pytest.approx(np.log(2), rel=1e-6)
    np.testing.assert_allclose(dx, [[-0.25, 0.25], [0.25, -0.25]], rtol=1e-6)


def test_svm_by_hand():
    # Row 0 (y=0): margins 2-3+1=0 (not counted), 4-3+1=2 -> 2. Row 1 (y=2): 0-1+1=0, 5-1+1=5 -> 5.
    x = np.array([[3.0, 2.0, 4.0], [0.0, 5.0, 1.0]])
    loss, dx = layers.svm_loss(x, np.array([0, 2]))
    assert loss == pytest.approx((2 + 5) / 2, rel=1e-15)
    np.testing.assert_array_equal(dx, np.array([[-1.0, 0.0, 1.0], [0.0, 1.0, -1.0]]) / 2)


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
# dropout: the mask, scaling, seed and test mode the contract defines


# dropout_forward and dropout_backward of the solution on x = linspace(0.5, 6, 12).reshape(3, 4),
# dout = linspace(-2, 3.5, 12).reshape(3, 4) and rng = np.random.default_rng(5), stored (a released
# test does not compute dropout itself): p -> (out, dx).
DROPOUT_VALUES = {
    0.3: (
        [[0.0, 0.0, 0.0, 6.666666666666667], [8.333333333333334, 0.0, 0.0, 13.333333333333334], [15.0, 0.0, 0.0, 20.0]],
        [[0.0, 0.0, 0.0, -1.6666666666666667], [0.0, 0.0, 0.0, 5.0], [6.666666666666667, 0.0, 0.0, 11.666666666666668]],
    ),
    0.75: (
        [[0.0, 0.0, 2.0, 2.6666666666666665], [3.333333333333333, 4.0, 4.666666666666666, 5.333333333333333],
         [6.0, 0.0, 7.333333333333333, 8.0]],
        [[0.0, 0.0, -1.3333333333333333, -0.6666666666666666], [0.0, 0.6666666666666666, 1.3333333333333333, 2.0],
         [2.6666666666666665, 0.0, 4.0, 4.666666666666666]],
    ),
    1.0: (
        [[0.5, 1.0, 1.5, 2.0], [2.5, 3.0, 3.5, 4.0], [4.5, 5.0, 5.5, 6.0]],
        [[-2.0, -1.5, -1.0, -0.5], [0.0, 0.5, 1.0, 1.5], [2.0, 2.5, 3.0, 3.5]],
    ),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.3, 0.75, 1.0])
def test_dropout_is_inverted_with_keep_probability(p, dtype):
    x = np.linspace(0.5, 6.0, 12).reshape(3, 4).astype(dtype)
    dout = np.linspace(-2.0, 3.5, 12).reshape(3, 4).astype(dtype)
    before = snapshot(x, dout)
    out, cache = layers.dropout_forward(x, {"mode": "train", "p": p, "rng": np.random.default_rng(5)})
    dx = layers.dropout_backward(dout, cache)
    assert_unchanged(before, (x, dout), ("x", "dout"))
    check_dtypes(dtype, out, dx)
    want_out, want_dx = DROPOUT_VALUES[p]
    assert_close(out, want_out, dtype, "out")
    assert_close(dx, want_dx, dtype, "dx")
    if p == 1.0:
        np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("p", [0.3, 0.75])
def test_dropout_keeps_the_units_the_contract_draws(p):
    # The mask the contract defines: the units where rng.random(x.shape) < p survive.
    x = randn(np.random.default_rng(0), (40, 50), np.float64, shift=3.0)
    out, _ = layers.dropout_forward(x, {"mode": "train", "p": p, "rng": np.random.default_rng(5)})
    keep = np.random.default_rng(5).random(x.shape) < p
    np.testing.assert_array_equal(out != 0, keep)
    assert abs(out.mean() - x.mean()) < 0.1 * abs(x.mean())  # inverted: the mean is kept


def test_dropout_seed_gives_the_same_mask_every_call():
    x = np.ones((30, 40))
    param = {"mode": "train", "p": 0.5, "seed": 7}
    out1, _ = layers.dropout_forward(x, param)
    out2, _ = layers.dropout_forward(x, param)
    np.testing.assert_array_equal(out1, out2)
    other, _ = layers.dropout_forward(x, {"mode": "train", "p": 0.5, "seed": 8})
    assert not np.array_equal(out1, other)
    keep = np.random.default_rng(7).random(x.shape) < 0.5
    np.testing.assert_array_equal(out1 != 0, keep)
    assert set(np.unique(out1)) == {0.0, 2.0}


def test_dropout_test_mode_is_identity(rng):
    x = randn(rng, (5, 6), np.float32)
    dout = randn(rng, (5, 6), np.float32)
    out, cache = layers.dropout_forward(x, {"mode": "test", "p": 0.3})
    np.testing.assert_array_equal(out, x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(layers.dropout_backward(dout, cache), dout)
