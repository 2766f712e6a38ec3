"""The CS231n notebooks' own checks of layers, layer_utils, optim and gradient_check.

Numbers refer to /work/shared/reference/cs231n_notebook_values.md (checks 1, 2, 3, 5, 9, 10,
11, 13, 14, 15, 17, 18, 20, 21, 23, 24, 25 (naive and sandwich cells), 29, 30, 31, 32, 33).
Inputs are the notebooks' literals, and where a notebook calls ``np.random.seed(231)`` and
then ``np.random.randn(...)`` the same stream is drawn from a local
``np.random.RandomState(231)`` in the same order.

Tolerances:
- hard-coded expected arrays (rounded to 8 decimals in the notebooks): ``rel_error < 1e-7``
  and below the cell's stated tolerance, except adam's next_w (check 11) where a correct
  implementation scores 1.1e-7 against the rounded literal; there the cell's own "around
  e-7" is asserted (< 2e-7) and the unrounded value, stored at full precision, is compared at
  1e-12 as well;
- reference outputs printed at full precision: relative error < 1e-12;
- reference outputs printed by numpy with 8 decimals: ``atol=1e-8`` (rounding leaves up to
  5e-9);
- gradient checks: "between a and b" asserts < b; "around e-N (or less)" / "on the order
  of e-N" asserts < 10**-(N-1), i.e. at most that order of magnitude (each test quotes its
  cell).
"""

import numpy as np
import pytest

from assignment import gradient_check, layer_utils, layers, optim
from assignment.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    rel_error,
)

pytestmark = pytest.mark.public  # shipped to students (grader.release.public_tests)


def notebook_rs():
    """The stream the notebooks get from ``np.random.seed(231)``."""
    return np.random.RandomState(231)


def num_grad_array(f, x, dout):
    return eval_numerical_gradient_array(f, x, dout)


# --------------------------------------------------------------------------------------
# 1, 2: affine_forward, relu_forward on linspace inputs


def test_check01_affine_forward():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = layers.affine_forward(x, w, b)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    err = rel_error(out, correct_out)
    assert err < 1e-9  # "around e-9 or less"; correct: 9.8e-10
    assert err < 1e-7


def test_check02_relu_forward():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = layers.relu_forward(x)
    correct_out = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.04545455, 0.13636364],
            [0.22727273, 0.31818182, 0.40909091, 0.5],
        ]
    )
    err = rel_error(out, correct_out)
    assert err < 1e-7  # "on the order of e-8"; correct: 5.0e-8


# --------------------------------------------------------------------------------------
# 3: svm_loss and softmax_loss


@pytest.fixture
def loss_inputs():
    rs = notebook_rs()
    num_classes, num_inputs = 10, 50
    x = 0.001 * rs.randn(num_inputs, num_classes)
    y = rs.randint(num_classes, size=num_inputs)
    return x, y


def test_check03_svm_loss(loss_inputs):
    x, y = loss_inputs
    dx_num = eval_numerical_gradient(lambda x: layers.svm_loss(x, y)[0], x, verbose=False)
    loss, dx = layers.svm_loss(x, y)
    assert abs(loss - 8.99960274909623) / 8.99960274909623 < 1e-12
    assert rel_error(dx_num, dx) < 1e-8  # "around the order of e-9"


def test_check03_softmax_loss(loss_inputs):
    x, y = loss_inputs
    dx_num = eval_numerical_gradient(lambda x: layers.softmax_loss(x, y)[0], x, verbose=False)
    loss, dx = layers.softmax_loss(x, y)
    assert abs(loss - 2.30254584450074) / 2.30254584450074 < 1e-12
    assert rel_error(dx_num, dx) < 1e-7  # "around e-8"


# --------------------------------------------------------------------------------------
# 5: gradient checks of affine_backward, relu_backward, affine_relu (two_layer_net cells 7, 11, 14)


def test_check05_affine_backward():
    rs = notebook_rs()
    x = rs.randn(10, 2, 3)
    w = rs.randn(6, 5)
    b = rs.randn(5)
    dout = rs.randn(10, 5)
    dx_num = num_grad_array(lambda x: layers.affine_forward(x, w, b)[0], x, dout)
    dw_num = num_grad_array(lambda w: layers.affine_forward(x, w, b)[0], w, dout)
    db_num = num_grad_array(lambda b: layers.affine_forward(x, w, b)[0], b, dout)
    _, cache = layers.affine_forward(x, w, b)
    dx, dw, db = layers.affine_backward(dout, cache)
    # "around e-10 or less"
    assert rel_error(dx_num, dx) < 1e-9
    assert rel_error(dw_num, dw) < 1e-9
    assert rel_error(db_num, db) < 1e-9


def test_check05_relu_backward():
    rs = notebook_rs()
    x = rs.randn(10, 10)
    dout = rs.randn(*x.shape)
    dx_num = num_grad_array(lambda x: layers.relu_forward(x)[0], x, dout)
    _, cache = layers.relu_forward(x)
    dx = layers.relu_backward(dout, cache)
    assert rel_error(dx_num, dx) < 1e-11  # "on the order of e-12"


def test_check05_affine_relu_backward():
    rs = notebook_rs()
    x = rs.randn(2, 3, 4)
    w = rs.randn(12, 10)
    b = rs.randn(10)
    dout = rs.randn(2, 10)
    out, cache = layer_utils.affine_relu_forward(x, w, b)
    dx, dw, db = layer_utils.affine_relu_backward(dout, cache)
    dx_num = num_grad_array(lambda x: layer_utils.affine_relu_forward(x, w, b)[0], x, dout)
    dw_num = num_grad_array(lambda w: layer_utils.affine_relu_forward(x, w, b)[0], w, dout)
    db_num = num_grad_array(lambda b: layer_utils.affine_relu_forward(x, w, b)[0], b, dout)
    assert rel_error(dx_num, dx) < 1e-9  # "around e-10 or less"
    assert rel_error(dw_num, dw) < 1e-9
    assert rel_error(db_num, db) < 1e-9


# --------------------------------------------------------------------------------------
# 9, 10, 11: update rules


def optim_inputs():
    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    return N, D, w, dw


def test_check09_sgd_momentum():
    N, D, w, dw = optim_inputs()
    v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-3, "velocity": v}
    next_w, _ = optim.sgd_momentum(w, dw, config=config)
    expected_next_w = np.asarray(
        [
            [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
            [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
            [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
            [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096],
        ]
    )
    expected_velocity = np.asarray(
        [
            [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
            [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
            [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
            [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096],
        ]
    )
    assert rel_error(next_w, expected_next_w) < 1e-8  # "around e-8 or less"; correct 8.9e-9
    assert rel_error(expected_velocity, config["velocity"]) < 1e-8  # correct 4.3e-9


def test_check10_rmsprop():
    N, D, w, dw = optim_inputs()
    cache = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-2, "cache": cache}
    next_w, _ = optim.rmsprop(w, dw, config=config)
    expected_next_w = np.asarray(
        [
            [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
            [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
            [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
            [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619],
        ]
    )
    expected_cache = np.asarray(
        [
            [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
            [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
            [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
            [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926],
        ]
    )
    assert rel_error(expected_next_w, next_w) < 1e-7  # correct 9.5e-8
    assert rel_error(expected_cache, config["cache"]) < 1e-7  # correct 2.6e-9


def test_check11_adam():
    N, D, w, dw = optim_inputs()
    m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-2, "m": m, "v": v, "t": 5}
    next_w, _ = optim.adam(w, dw, config=config)
    expected_next_w = np.asarray(
        [
            [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
            [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
            [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
            [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459],
        ]
    )
    expected_v = np.asarray(
        [
            [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
            [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
            [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
            [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966],
        ]
    )
    expected_m = np.asarray(
        [
            [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
            [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
            [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
            [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85],
        ]
    )
    # "around e-7 or less"; a correct implementation scores 1.1e-7 on next_w against the
    # 8-decimal literal (t = 5 instead of 6 scores 1.5e-3).
    assert rel_error(expected_next_w, next_w) < 2e-7
    assert rel_error(expected_v, config["v"]) < 1e-7  # correct 4.2e-9
    assert rel_error(expected_m, config["m"]) < 1e-7  # correct 4.2e-9
    assert config["t"] == 6
    # The unrounded value of the documented rule (t incremented before use), stored at full
    # precision (a released test does not compute the update rule itself).
    want = np.asarray(
        [
            [-0.40094747166840083, -0.3483618689667189, -0.2957770321333014, -0.24319298836973444,
             -0.19060976631902593],
            [-0.13802739616704435, -0.08544590975289204, -0.032865340689163525, 0.019714275506843335,
             0.07229290126975907],
            [0.12487049682925762, 0.17744702003811577, 0.2300224261834716, 0.2825966677792994,
             0.33516969433784094],
            [0.3877414521174136, 0.4403118838436444, 0.49288092840074144, 0.5454485204889067,
             0.5980145902433942],
        ]
    )
    assert rel_error(want, next_w) < 1e-12


# --------------------------------------------------------------------------------------
# 13, 14, 15: batch normalization


def test_check13_batchnorm_forward_train():
    rs = notebook_rs()
    N, D1, D2, D3 = 200, 50, 60, 3
    X = rs.randn(N, D1)
    W1 = rs.randn(D1, D2)
    W2 = rs.randn(D2, D3)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    np.testing.assert_allclose(a.std(axis=0), [27.18502186, 34.21455511, 37.68611762], rtol=0, atol=1e-8)

    a_norm, _ = layers.batchnorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})
    np.testing.assert_allclose(a_norm.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(a_norm.std(axis=0), [0.99999999, 1.0, 1.0], rtol=0, atol=1e-8)
    # The exact statement behind the printed stds: gamma * sqrt(var / (var + eps)).
    var = a.var(axis=0)
    assert rel_error(a_norm.std(axis=0), np.sqrt(var / (var + 1e-5))) < 1e-12

    gamma, beta = np.asarray([1.0, 2.0, 3.0]), np.asarray([11.0, 12.0, 13.0])
    a_norm, _ = layers.batchnorm_forward(a, gamma, beta, {"mode": "train"})
    np.testing.assert_allclose(a_norm.mean(axis=0), [11.0, 12.0, 13.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a_norm.std(axis=0), [0.99999999, 1.99999999, 2.99999999], rtol=0, atol=1e-8)
    assert rel_error(a_norm.std(axis=0), gamma * np.sqrt(var / (var + 1e-5))) < 1e-12


def test_check14_batchnorm_forward_test():
    rs = notebook_rs()
    N, D1, D2, D3 = 200, 50, 60, 3
    W1 = rs.randn(D1, D2)
    W2 = rs.randn(D2, D3)
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(D3), np.zeros(D3)
    for _ in range(50):
        X = rs.randn(N, D1)
        layers.batchnorm_forward(np.maximum(0, X.dot(W1)).dot(W2), gamma, beta, bn_param)
    bn_param["mode"] = "test"
    X = rs.randn(N, D1)
    a_norm, _ = layers.batchnorm_forward(np.maximum(0, X.dot(W1)).dot(W2), gamma, beta, bn_param)
    np.testing.assert_allclose(
        a_norm.mean(axis=0), [-0.03927354, -0.04349152, -0.10452688], rtol=0, atol=1e-8
    )
    np.testing.assert_allclose(a_norm.std(axis=0), [1.01531428, 1.01238373, 0.97819988], rtol=0, atol=1e-8)


def batchnorm_backward_inputs(N, D):
    rs = notebook_rs()
    x = 5 * rs.randn(N, D) + 12
    gamma = rs.randn(D)
    beta = rs.randn(D)
    dout = rs.randn(N, D)
    return x, gamma, beta, dout


def test_check15_batchnorm_backward():
    x, gamma, beta, dout = batchnorm_backward_inputs(4, 5)
    bn_param = {"mode": "train"}
    fx = lambda x: layers.batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
    fg = lambda a: layers.batchnorm_forward(x, a, beta, bn_param)[0]  # noqa: E731
    fb = lambda b: layers.batchnorm_forward(x, gamma, b, bn_param)[0]  # noqa: E731
    dx_num = num_grad_array(fx, x, dout)
    da_num = num_grad_array(fg, gamma.copy(), dout)
    db_num = num_grad_array(fb, beta.copy(), dout)
    _, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)
    # "relative errors between 1e-13 and 1e-8"
    assert rel_error(dx_num, dx) < 1e-8
    assert rel_error(da_num, dgamma) < 1e-8
    assert rel_error(db_num, dbeta) < 1e-8


def test_check15_batchnorm_backward_alt_matches():
    x, gamma, beta, dout = batchnorm_backward_inputs(100, 500)
    bn_param = {"mode": "train"}
    _, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    dx1, dgamma1, dbeta1 = layers.batchnorm_backward(dout, cache)
    dx2, dgamma2, dbeta2 = layers.batchnorm_backward_alt(dout, cache)
    # "nearly identical results" (no number stated): both are exact formulas in float64.
    assert rel_error(dx1, dx2) < 1e-10
    assert rel_error(dgamma1, dgamma2) < 1e-12
    assert rel_error(dbeta1, dbeta2) < 1e-12


# --------------------------------------------------------------------------------------
# 17, 18: layer normalization


def test_check17_layernorm_forward():
    rs = notebook_rs()
    N, D1, D2, D3 = 4, 50, 60, 3
    X = rs.randn(N, D1)
    W1 = rs.randn(D1, D2)
    W2 = rs.randn(D2, D3)
    a = np.maximum(0, X.dot(W1)).dot(W2)
    a_norm, _ = layers.layernorm_forward(a, np.ones(D3), np.zeros(D3), {"mode": "train"})
    np.testing.assert_allclose(a_norm.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(
        a_norm.std(axis=1), [0.99999995, 0.99999999, 1.0, 0.99999969], rtol=0, atol=1e-8
    )
    a_norm, _ = layers.layernorm_forward(
        a, np.asarray([3.0, 3.0, 3.0]), np.asarray([5.0, 5.0, 5.0]), {"mode": "train"}
    )
    np.testing.assert_allclose(a_norm.mean(axis=1), [5.0, 5.0, 5.0, 5.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        a_norm.std(axis=1), [2.99999985, 2.99999998, 2.99999999, 2.99999907], rtol=0, atol=1e-8
    )


def test_check18_layernorm_backward():
    x, gamma, beta, dout = batchnorm_backward_inputs(4, 5)
    ln_param = {}
    fx = lambda x: layers.layernorm_forward(x, gamma, beta, ln_param)[0]  # noqa: E731
    fg = lambda a: layers.layernorm_forward(x, a, beta, ln_param)[0]  # noqa: E731
    fb = lambda b: layers.layernorm_forward(x, gamma, b, ln_param)[0]  # noqa: E731
    dx_num = num_grad_array(fx, x, dout)
    da_num = num_grad_array(fg, gamma.copy(), dout)
    db_num = num_grad_array(fb, beta.copy(), dout)
    _, cache = layers.layernorm_forward(x, gamma, beta, ln_param)
    dx, dgamma, dbeta = layers.layernorm_backward(dout, cache)
    # "relative errors between 1e-12 and 1e-8"
    assert rel_error(dx_num, dx) < 1e-8
    assert rel_error(da_num, dgamma) < 1e-8
    assert rel_error(db_num, dbeta) < 1e-8


# --------------------------------------------------------------------------------------
# 20, 21: dropout


DROPOUT_REFERENCE = {  # p (keep): (train-mode mean, fraction of zeros)
    0.25: (10.014059116977283, 0.749784),
    0.4: (9.977917658761159, 0.600796),
    0.7: (9.98781191215943, 0.30074),
}


def test_check20_dropout_forward():
    rs = notebook_rs()
    x = rs.randn(500, 500) + 10
    x_before = x.copy()
    assert abs(x.mean() - 10.000207878477502) / 10.000207878477502 < 1e-12
    for p, (want_mean, want_zeros) in DROPOUT_REFERENCE.items():
        # The notebook's mask is np.random.rand(*x.shape) < p from the stream that drew x;
        # handing the same RandomState to dropout reproduces it draw for draw.
        out, _ = layers.dropout_forward(x, {"mode": "train", "p": p, "rng": rs})
        out_test, _ = layers.dropout_forward(x, {"mode": "test", "p": p})
        assert abs(out.mean() - want_mean) / want_mean < 1e-10, p
        assert (out == 0).mean() == want_zeros, p
        np.testing.assert_array_equal(out_test, x)
        assert out_test.mean() == x.mean()
        assert (out_test == 0).mean() == 0.0
    np.testing.assert_array_equal(x, x_before)


def test_check21_dropout_backward():
    rs = notebook_rs()
    x = rs.randn(10, 10) + 10
    dout = rs.randn(*x.shape)
    dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
    out, cache = layers.dropout_forward(x, dropout_param)
    dx = layers.dropout_backward(dout, cache)
    dx_num = num_grad_array(lambda xx: layers.dropout_forward(xx, dropout_param)[0], x, dout)
    assert rel_error(dx, dx_num) < 1e-10  # "around e-10 or less"
    # Not vacuous: about 80% of the units were dropped, and kept ones were scaled by 1/p.
    assert 0 < (dx == 0).mean() < 1


# --------------------------------------------------------------------------------------
# 23, 24, 25: convolution, pooling and their sandwiches


def test_check23_conv_forward_naive():
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = layers.conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    correct_out = np.array(
        [
            [
                [[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                [[0.50813986, 0.54309974], [0.64082444, 0.67101435]],
            ],
            [
                [[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                [[2.36270298, 2.36904306], [2.38090835, 2.38247847]],
            ],
        ]
    )
    assert rel_error(out, correct_out) < 1e-7  # "around e-8"; correct 2.2e-8


def test_check24_max_pool_forward_naive():
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    out, _ = layers.max_pool_forward_naive(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
    correct_out = np.array(
        [
            [
                [[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]],
            ],
            [
                [[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                [[0.32631579, 0.34105263], [0.38526316, 0.4]],
            ],
        ]
    )
    assert rel_error(out, correct_out) < 1e-7  # "on the order of e-8"; correct 4.2e-8


def test_check25_conv_backward_naive():
    rs = notebook_rs()
    x = rs.randn(4, 3, 5, 5)
    w = rs.randn(2, 3, 3, 3)
    b = rs.randn(2)
    dout = rs.randn(4, 2, 5, 5)
    conv_param = {"stride": 1, "pad": 1}
    dx_num = num_grad_array(lambda x: layers.conv_forward_naive(x, w, b, conv_param)[0], x, dout)
    dw_num = num_grad_array(lambda w: layers.conv_forward_naive(x, w, b, conv_param)[0], w, dout)
    db_num = num_grad_array(lambda b: layers.conv_forward_naive(x, w, b, conv_param)[0], b, dout)
    out, cache = layers.conv_forward_naive(x, w, b, conv_param)
    dx, dw, db = layers.conv_backward_naive(dout, cache)
    # "around e-8 or less"
    assert rel_error(dx, dx_num) < 1e-8
    assert rel_error(dw, dw_num) < 1e-8
    assert rel_error(db, db_num) < 1e-8


def test_check25_max_pool_backward_naive():
    rs = notebook_rs()
    x = rs.randn(3, 2, 8, 8)
    dout = rs.randn(3, 2, 4, 4)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dx_num = num_grad_array(lambda x: layers.max_pool_forward_naive(x, pool_param)[0], x, dout)
    out, cache = layers.max_pool_forward_naive(x, pool_param)
    dx = layers.max_pool_backward_naive(dout, cache)
    assert rel_error(dx, dx_num) < 1e-11  # "on the order of e-12"


def test_check25_conv_relu_pool():
    rs = notebook_rs()
    x = rs.randn(2, 3, 16, 16)
    w = rs.randn(3, 3, 3, 3)
    b = rs.randn(3)
    dout = rs.randn(2, 3, 8, 8)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = layer_utils.conv_relu_pool_forward(x, w, b, conv_param, pool_param)
    dx, dw, db = layer_utils.conv_relu_pool_backward(dout, cache)

    def f(x, w, b):
        return layer_utils.conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0]

    dx_num = num_grad_array(lambda x: f(x, w, b), x, dout)
    dw_num = num_grad_array(lambda w: f(x, w, b), w, dout)
    db_num = num_grad_array(lambda b: f(x, w, b), b, dout)
    # "around e-8 or less"
    assert rel_error(dx_num, dx) < 1e-8
    assert rel_error(dw_num, dw) < 1e-8
    assert rel_error(db_num, db) < 1e-8


def test_check25_conv_relu():
    rs = notebook_rs()
    x = rs.randn(2, 3, 8, 8)
    w = rs.randn(3, 3, 3, 3)
    b = rs.randn(3)
    dout = rs.randn(2, 3, 8, 8)
    conv_param = {"stride": 1, "pad": 1}
    out, cache = layer_utils.conv_relu_forward(x, w, b, conv_param)
    dx, dw, db = layer_utils.conv_relu_backward(dout, cache)
    dx_num = num_grad_array(lambda x: layer_utils.conv_relu_forward(x, w, b, conv_param)[0], x, dout)
    dw_num = num_grad_array(lambda w: layer_utils.conv_relu_forward(x, w, b, conv_param)[0], w, dout)
    db_num = num_grad_array(lambda b: layer_utils.conv_relu_forward(x, w, b, conv_param)[0], b, dout)
    assert rel_error(dx_num, dx) < 1e-8
    assert rel_error(dw_num, dw) < 1e-8
    assert rel_error(db_num, db) < 1e-8


# --------------------------------------------------------------------------------------
# 29-33: spatial batch norm and group norm


def test_check29_spatial_batchnorm_forward_train():
    rs = notebook_rs()
    N, C, H, W = 2, 3, 4, 5
    x = 4 * rs.randn(N, C, H, W) + 10
    bn_param = {"mode": "train"}
    out, _ = layers.spatial_batchnorm_forward(x, np.ones(C), np.zeros(C), bn_param)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), [0.99999962, 0.99999951, 0.9999996], rtol=0, atol=1e-8)
    out, _ = layers.spatial_batchnorm_forward(x, np.asarray([3, 4, 5]), np.asarray([6, 7, 8]), bn_param)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), [6.0, 7.0, 8.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), [2.99999885, 3.99999804, 4.99999798], rtol=0, atol=1e-8)


def test_check30_spatial_batchnorm_forward_test():
    rs = notebook_rs()
    N, C, H, W = 10, 4, 11, 12
    bn_param = {"mode": "train"}
    gamma, beta = np.ones(C), np.zeros(C)
    for _ in range(50):
        x = 2.3 * rs.randn(N, C, H, W) + 13
        layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    x = 2.3 * rs.randn(N, C, H, W) + 13
    a_norm, _ = layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    np.testing.assert_allclose(
        a_norm.mean(axis=(0, 2, 3)), [-0.08034406, 0.07562881, 0.05716371, 0.04378383], rtol=0, atol=1e-8
    )
    np.testing.assert_allclose(
        a_norm.std(axis=(0, 2, 3)), [0.96718744, 1.0299714, 1.02887624, 1.00585577], rtol=0, atol=1e-8
    )


def test_check31_spatial_batchnorm_backward():
    rs = notebook_rs()
    N, C, H, W = 2, 3, 4, 5
    x = 5 * rs.randn(N, C, H, W) + 12
    gamma = rs.randn(C)
    beta = rs.randn(C)
    dout = rs.randn(N, C, H, W)
    bn_param = {"mode": "train"}
    fx = lambda x: layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
    fg = lambda a: layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
    fb = lambda b: layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
    dx_num = num_grad_array(fx, x, dout)
    da_num = num_grad_array(fg, gamma, dout)  # gamma perturbed in place, as in the notebook
    db_num = num_grad_array(fb, beta, dout)
    _, cache = layers.spatial_batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = layers.spatial_batchnorm_backward(dout, cache)
    # "errors of magnitudes between 1e-12~1e-06"
    assert rel_error(dx_num, dx) < 1e-6
    assert rel_error(da_num, dgamma) < 1e-6
    assert rel_error(db_num, dbeta) < 1e-6


def test_check32_spatial_groupnorm_forward():
    rs = notebook_rs()
    N, C, H, W = 2, 6, 4, 5
    G = 2
    x = 4 * rs.randn(N, C, H, W) + 10
    gn_param = {"mode": "train"}
    out, _ = layers.spatial_groupnorm_forward(x, np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1)), G, gn_param)
    out_g = out.reshape((N * G, -1))
    assert out.shape == x.shape
    np.testing.assert_allclose(out_g.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(
        out_g.std(axis=1), [0.99999963, 0.99999948, 0.99999973, 0.99999968], rtol=0, atol=1e-8
    )


def test_check33_spatial_groupnorm_backward():
    rs = notebook_rs()
    N, C, H, W = 2, 6, 4, 5
    G = 2
    x = 5 * rs.randn(N, C, H, W) + 12
    gamma = rs.randn(1, C, 1, 1)
    beta = rs.randn(1, C, 1, 1)
    dout = rs.randn(N, C, H, W)
    gn_param = {}
    fx = lambda x: layers.spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0]  # noqa: E731
    fg = lambda a: layers.spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0]  # noqa: E731
    fb = lambda b: layers.spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0]  # noqa: E731
    dx_num = num_grad_array(fx, x, dout)
    da_num = num_grad_array(fg, gamma, dout)
    db_num = num_grad_array(fb, beta, dout)
    _, cache = layers.spatial_groupnorm_forward(x, gamma, beta, G, gn_param)
    dx, dgamma, dbeta = layers.spatial_groupnorm_backward(dout, cache)
    # "errors of magnitudes between 1e-12 and 1e-07"
    assert rel_error(dx_num, dx) < 1e-7
    assert rel_error(da_num, dgamma) < 1e-7
    assert rel_error(db_num, dbeta) < 1e-7


def test_rel_error_is_the_notebooks_formula():
    # Every tolerance above is read through this function.
    x = np.array([1.0, 0.0, -2.0])
    y = np.array([1.5, 0.0, -2.0])
    assert rel_error(x, y) == pytest.approx(0.5 / 2.5, rel=1e-15)
    assert gradient_check.rel_error(np.zeros(2), np.full(2, 1e-9)) == pytest.approx(0.1, rel=1e-12)
