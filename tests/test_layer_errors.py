"""Bad input raises ValueError naming the argument and the shapes seen.

One case per kind of mistake and per public function of layers.py, plus the layer_utils
sandwiches (errors surface from their parts), optim (dw of the wrong shape) and
gradient_check (rel_error of mismatched shapes). Each case states the argument name the
message must contain (as a whole word) and the shapes it must quote, so that the error a
student reads is ours and not a numpy broadcasting error from three frames deeper (numpy's
messages never quote shapes as tuples).
"""

import re

import numpy as np
import pytest

from assignment import gradient_check, layer_utils, layers, optim

pytestmark = pytest.mark.public  # shipped to students (grader.release.public_tests)


def raises_naming(name, *shapes):
    """pytest.raises(ValueError) whose message names ``name`` and quotes every shape."""
    return _RaisesNaming(name, shapes)


class _RaisesNaming:
    def __init__(self, name, shapes):
        self.name, self.shapes = name, shapes
        self._ctx = pytest.raises(ValueError)

    def __enter__(self):
        self._info = self._ctx.__enter__()
        return self._info

    def __exit__(self, *exc):
        suppressed = self._ctx.__exit__(*exc)
        msg = str(self._info.value)
        pattern = r"(?<![\w'\[])" + re.escape(self.name) + r"(?![\w'])"
        assert re.search(pattern, msg), f"message does not name {self.name!r}: {msg!r}"
        for shape in self.shapes:
            assert str(tuple(shape)) in msg, f"message does not quote shape {tuple(shape)}: {msg!r}"
        return suppressed


def a(*shape, dtype=np.float64):
    """A deterministic float array of the given shape."""
    n = int(np.prod(shape)) if shape else 1
    return np.linspace(-1.0, 1.0, n).reshape(shape).astype(dtype)


# --------------------------------------------------------------------------------------
# the helper itself


def test_raises_naming_rejects_a_message_without_the_name():
    with pytest.raises(AssertionError, match="does not name"):
        with raises_naming("gamma"):
            raise ValueError("beta must have shape (3,)")
    with pytest.raises(AssertionError, match="does not quote"):
        with raises_naming("x", (2, 3)):
            raise ValueError("x is wrong")
    with pytest.raises(pytest.fail.Exception):
        with raises_naming("x"):
            pass


# --------------------------------------------------------------------------------------
# affine, relu


def test_affine_forward_x_vs_w():
    x, w, b = a(2, 3, 4), a(10, 5), a(5)
    with raises_naming("w", w.shape):
        layers.affine_forward(x, w, b)


def test_affine_forward_b_vs_w():
    x, w, b = a(2, 12), a(12, 5), a(4)
    with raises_naming("b", b.shape):
        layers.affine_forward(x, w, b)


def test_affine_forward_w_not_2d():
    with raises_naming("w", (12, 5, 1)):
        layers.affine_forward(a(2, 12), a(12, 5, 1), a(5))


def test_affine_forward_x_not_batched():
    with raises_naming("x", (12,)):
        layers.affine_forward(a(12), a(12, 5), a(5))


def test_affine_forward_integer_x():
    with raises_naming("x"):
        layers.affine_forward(np.ones((2, 3), dtype=np.int64), a(3, 2), a(2))


def test_affine_backward_dout_shape():
    _, cache = layers.affine_forward(a(2, 3), a(3, 4), a(4))
    with raises_naming("dout", (2, 5)):
        layers.affine_backward(a(2, 5), cache)


def test_relu_backward_dout_shape():
    _, cache = layers.relu_forward(a(3, 4))
    with raises_naming("dout", (4, 3)):
        layers.relu_backward(a(4, 3), cache)


# --------------------------------------------------------------------------------------
# losses


@pytest.mark.parametrize("loss", [layers.svm_loss, layers.softmax_loss], ids=["svm", "softmax"])
class TestLossErrors:
    def test_label_too_large(self, loss):
        with raises_naming("y"):
            loss(a(3, 4), np.array([0, 4, 1]))

    def test_label_negative(self, loss):
        with raises_naming("y"):
            loss(a(3, 4), np.array([0, -1, 1]))

    def test_labels_wrong_length(self, loss):
        with raises_naming("y", (4,)):
            loss(a(3, 4), np.array([0, 1, 2, 3]))

    def test_labels_wrong_ndim(self, loss):
        with raises_naming("y", (3, 1)):
            loss(a(3, 4), np.array([[0], [1], [2]]))

    def test_labels_float(self, loss):
        with raises_naming("y"):
            loss(a(3, 4), np.array([0.0, 1.0, 2.0]))

    def test_scores_not_2d(self, loss):
        with raises_naming("x", (3, 4, 1)):
            loss(a(3, 4, 1), np.array([0, 1, 2]))


# --------------------------------------------------------------------------------------
# batch norm, layer norm


def test_batchnorm_unknown_mode():
    with raises_naming("bn_param['mode']"):
        layers.batchnorm_forward(a(4, 3), a(3), a(3), {"mode": "eval"})


def test_batchnorm_missing_mode():
    with raises_naming("bn_param"):
        layers.batchnorm_forward(a(4, 3), a(3), a(3), {})


def test_batchnorm_gamma_vs_x():
    with raises_naming("gamma", (4,)):
        layers.batchnorm_forward(a(4, 3), a(4), a(3), {"mode": "train"})


def test_batchnorm_beta_vs_x():
    with raises_naming("beta", (2,)):
        layers.batchnorm_forward(a(4, 3), a(3), a(2), {"mode": "train"})


def test_batchnorm_x_not_2d():
    with raises_naming("x", (4, 3, 2)):
        layers.batchnorm_forward(a(4, 3, 2), a(3), a(3), {"mode": "train"})


def test_batchnorm_running_mean_shape():
    with raises_naming("bn_param['running_mean']", (4,)):
        layers.batchnorm_forward(a(4, 3), a(3), a(3), {"mode": "test", "running_mean": a(4)})


@pytest.mark.parametrize("backward", [layers.batchnorm_backward, layers.batchnorm_backward_alt])
def test_batchnorm_backward_dout_shape(backward):
    _, cache = layers.batchnorm_forward(a(4, 3), a(3), a(3), {"mode": "train"})
    with raises_naming("dout", (3, 4)):
        backward(a(3, 4), cache)


def test_layernorm_gamma_vs_x():
    with raises_naming("gamma", (5,)):
        layers.layernorm_forward(a(4, 3), a(5), a(3), {})


def test_layernorm_beta_vs_x():
    with raises_naming("beta", (1, 3)):
        layers.layernorm_forward(a(4, 3), a(3), a(1, 3), {})


def test_layernorm_backward_dout_shape():
    _, cache = layers.layernorm_forward(a(4, 3), a(3), a(3), {})
    with raises_naming("dout", (4, 2)):
        layers.layernorm_backward(a(4, 2), cache)


# --------------------------------------------------------------------------------------
# dropout


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5])
def test_dropout_p_outside_unit_interval(p):
    with raises_naming("dropout_param['p']"):
        layers.dropout_forward(a(3, 4), {"mode": "train", "p": p})


def test_dropout_unknown_mode():
    with raises_naming("dropout_param['mode']"):
        layers.dropout_forward(a(3, 4), {"mode": "predict", "p": 0.5})


def test_dropout_backward_dout_shape():
    _, cache = layers.dropout_forward(a(3, 4), {"mode": "train", "p": 0.5, "seed": 0})
    with raises_naming("dout", (4, 3)):
        layers.dropout_backward(a(4, 3), cache)


# --------------------------------------------------------------------------------------
# convolution


def test_conv_stride_does_not_tile():
    # H + 2*pad - HH = 5 + 2 - 3 = 4 is even, W + 2*pad - WW = 6 + 2 - 3 = 5 is not.
    x, w = a(2, 3, 5, 6), a(4, 3, 3, 3)
    with raises_naming("stride", x.shape, w.shape):
        layers.conv_forward_naive(x, w, a(4), {"stride": 2, "pad": 1})


@pytest.mark.parametrize("stride", [0, -1, 1.0])
def test_conv_stride_not_positive_int(stride):
    with raises_naming("conv_param['stride']"):
        layers.conv_forward_naive(a(1, 1, 4, 4), a(1, 1, 3, 3), a(1), {"stride": stride, "pad": 1})


def test_conv_negative_pad():
    with raises_naming("conv_param['pad']"):
        layers.conv_forward_naive(a(1, 1, 4, 4), a(1, 1, 3, 3), a(1), {"stride": 1, "pad": -1})


def test_conv_missing_stride():
    with raises_naming("conv_param"):
        layers.conv_forward_naive(a(1, 1, 4, 4), a(1, 1, 3, 3), a(1), {"pad": 1})


def test_conv_channels_x_vs_w():
    x, w = a(2, 3, 5, 5), a(4, 2, 3, 3)
    with raises_naming("w", x.shape, w.shape):
        layers.conv_forward_naive(x, w, a(4), {"stride": 1, "pad": 1})


def test_conv_b_vs_w():
    with raises_naming("b", (3,)):
        layers.conv_forward_naive(a(2, 3, 5, 5), a(4, 3, 3, 3), a(3), {"stride": 1, "pad": 1})


def test_conv_x_not_4d():
    with raises_naming("x", (3, 5, 5)):
        layers.conv_forward_naive(a(3, 5, 5), a(4, 3, 3, 3), a(4), {"stride": 1, "pad": 1})


def test_conv_filter_larger_than_padded_input():
    x, w = a(1, 1, 3, 3), a(1, 1, 6, 2)
    with raises_naming("w", x.shape, w.shape):
        layers.conv_forward_naive(x, w, a(1), {"stride": 1, "pad": 1})


def test_conv_backward_dout_shape():
    _, cache = layers.conv_forward_naive(a(2, 3, 5, 5), a(4, 3, 3, 3), a(4), {"stride": 1, "pad": 1})
    with raises_naming("dout", (2, 4, 4, 4)):
        layers.conv_backward_naive(a(2, 4, 4, 4), cache)


# --------------------------------------------------------------------------------------
# pooling


def test_pool_window_larger_than_input():
    x = a(1, 2, 3, 5)
    with raises_naming("pool", x.shape):
        layers.max_pool_forward_naive(x, {"pool_height": 4, "pool_width": 2, "stride": 1})


def test_pool_stride_does_not_tile():
    x = a(1, 2, 5, 6)  # (5 - 2) % 2 == 1
    with raises_naming("stride", x.shape):
        layers.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})


def test_pool_stride_not_positive():
    with raises_naming("pool_param['stride']"):
        layers.max_pool_forward_naive(a(1, 1, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 0})


def test_pool_missing_width():
    with raises_naming("pool_param"):
        layers.max_pool_forward_naive(a(1, 1, 4, 4), {"pool_height": 2, "stride": 2})


def test_pool_x_not_4d():
    with raises_naming("x", (4, 4)):
        layers.max_pool_forward_naive(a(4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2})


def test_pool_backward_dout_shape():
    _, cache = layers.max_pool_forward_naive(a(1, 2, 4, 4), {"pool_height": 2, "pool_width": 2, "stride": 2})
    with raises_naming("dout", (1, 2, 4, 4)):
        layers.max_pool_backward_naive(a(1, 2, 4, 4), cache)


# --------------------------------------------------------------------------------------
# spatial batch norm, group norm


def test_spatial_batchnorm_gamma_vs_channels():
    with raises_naming("gamma", (4,)):
        layers.spatial_batchnorm_forward(a(2, 3, 2, 2), a(4), a(3), {"mode": "train"})


def test_spatial_batchnorm_beta_vs_channels():
    with raises_naming("beta", (1, 3, 1, 1)):
        layers.spatial_batchnorm_forward(a(2, 3, 2, 2), a(3), a(1, 3, 1, 1), {"mode": "train"})


def test_spatial_batchnorm_unknown_mode():
    with raises_naming("bn_param['mode']"):
        layers.spatial_batchnorm_forward(a(2, 3, 2, 2), a(3), a(3), {"mode": "Train"})


def test_spatial_batchnorm_x_not_4d():
    with raises_naming("x", (2, 3)):
        layers.spatial_batchnorm_forward(a(2, 3), a(3), a(3), {"mode": "train"})


def test_spatial_batchnorm_backward_dout_shape():
    _, cache = layers.spatial_batchnorm_forward(a(2, 3, 2, 2), a(3), a(3), {"mode": "train"})
    with raises_naming("dout", (2, 3, 2, 3)):
        layers.spatial_batchnorm_backward(a(2, 3, 2, 3), cache)


@pytest.mark.parametrize("G", [4, 0, 7])
def test_groupnorm_G_not_dividing_C(G):
    x = a(2, 6, 2, 2)
    with raises_naming("G", x.shape):
        layers.spatial_groupnorm_forward(x, a(1, 6, 1, 1), a(1, 6, 1, 1), G, {})


def test_groupnorm_gamma_shape():
    with raises_naming("gamma", (6,)):
        layers.spatial_groupnorm_forward(a(2, 6, 2, 2), a(6), a(1, 6, 1, 1), 2, {})


def test_groupnorm_beta_shape():
    with raises_naming("beta", (1, 3, 1, 1)):
        layers.spatial_groupnorm_forward(a(2, 6, 2, 2), a(1, 6, 1, 1), a(1, 3, 1, 1), 2, {})


def test_groupnorm_backward_dout_shape():
    _, cache = layers.spatial_groupnorm_forward(a(2, 6, 2, 2), a(1, 6, 1, 1), a(1, 6, 1, 1), 3, {})
    with raises_naming("dout", (2, 6, 2, 1)):
        layers.spatial_groupnorm_backward(a(2, 6, 2, 1), cache)


# --------------------------------------------------------------------------------------
# layer_utils: the parts' checks surface unchanged


def test_affine_relu_forward_b_vs_w():
    with raises_naming("b", (3,)):
        layer_utils.affine_relu_forward(a(2, 4), a(4, 5), a(3))


def test_affine_bn_relu_forward_gamma():
    with raises_naming("gamma", (4,)):
        layer_utils.affine_bn_relu_forward(a(2, 4), a(4, 5), a(5), a(4), a(5), {"mode": "train"})


def test_affine_bn_relu_forward_mode():
    with raises_naming("bn_param['mode']"):
        layer_utils.affine_bn_relu_forward(a(2, 4), a(4, 5), a(5), a(5), a(5), {"mode": "xyz"})


def test_affine_ln_relu_forward_beta():
    with raises_naming("beta", (6,)):
        layer_utils.affine_ln_relu_forward(a(2, 4), a(4, 5), a(5), a(5), a(6), {})


def test_conv_relu_forward_stride():
    x, w = a(1, 1, 5, 5), a(1, 1, 2, 2)
    with raises_naming("stride", x.shape, w.shape):
        layer_utils.conv_relu_forward(x, w, a(1), {"stride": 2, "pad": 0})


def test_conv_relu_pool_forward_pool_window():
    # conv keeps 3x3, then a 4x4 window cannot fit.
    with raises_naming("pool", (1, 1, 3, 3)):
        layer_utils.conv_relu_pool_forward(
            a(1, 1, 3, 3),
            a(1, 1, 3, 3),
            a(1),
            {"stride": 1, "pad": 1},
            {"pool_height": 4, "pool_width": 4, "stride": 1},
        )


def test_conv_bn_relu_forward_gamma():
    with raises_naming("gamma", (3,)):
        layer_utils.conv_bn_relu_forward(
            a(2, 1, 4, 4), a(2, 1, 3, 3), a(2), a(3), a(2), {"stride": 1, "pad": 1}, {"mode": "train"}
        )


def test_sandwich_backward_dout_shape():
    _, cache = layer_utils.conv_relu_pool_forward(
        a(1, 1, 4, 4), a(2, 1, 3, 3), a(2), {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    )
    with raises_naming("dout", (1, 2, 4, 4)):
        layer_utils.conv_relu_pool_backward(a(1, 2, 4, 4), cache)


# --------------------------------------------------------------------------------------
# optim, gradient_check


@pytest.mark.parametrize("rule", sorted(optim.UPDATE_RULES))
def test_update_rule_dw_shape(rule):
    w, dw = a(3, 4), a(4, 3)
    config = {}
    with raises_naming("dw", dw.shape):
        optim.UPDATE_RULES[rule](w, dw, config)


@pytest.mark.parametrize("rule,key", [("sgd_momentum", "velocity"), ("rmsprop", "cache"), ("adam", "m")])
def test_update_rule_state_shape(rule, key):
    with raises_naming(f"config['{key}']", (2, 2)):
        optim.UPDATE_RULES[rule](a(3, 4), a(3, 4), {key: a(2, 2)})


def test_rel_error_mismatched_shapes():
    with raises_naming("x", (2, 3), (3, 2)):
        gradient_check.rel_error(a(2, 3), a(3, 2))


def test_eval_numerical_gradient_array_df_shape():
    with raises_naming("df", (3,)):
        gradient_check.eval_numerical_gradient_array(lambda x: 2 * x, a(2, 2), a(3))
