"""Models: CS231n's published checks, gradient checks, and an independent PyTorch oracle."""

import numpy as np
import pytest

from assignment.classifiers.cnn import DeepConvNet, ThreeLayerConvNet
from assignment.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from assignment.gradient_check import eval_numerical_gradient, rel_error


def numeric_grads(model, X, y, h=1e-5):
    return {
        name: eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=h)
        for name in sorted(model.params)
    }


# ---------------------------------------------------------------------------------------------
# TwoLayerNet: two_layer_net.ipynb check 4
# ---------------------------------------------------------------------------------------------


def two_layer_case():
    N, D, H, C = 3, 5, 50, 7
    model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3, seed=0)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    return model, X, np.asarray([0, 5, 1])


def test_two_layer_net_initialization():
    std = 1e-3
    model = TwoLayerNet(input_dim=5, hidden_dim=50, num_classes=7, weight_scale=std, seed=0)
    assert abs(model.params["W1"].std() - std) < std / 10
    assert abs(model.params["W2"].std() - std) < std / 10
    assert np.all(model.params["b1"] == 0) and np.all(model.params["b2"] == 0)


def test_two_layer_net_matches_cs231n_scores_and_losses():
    model, X, y = two_layer_case()
    correct_scores = np.asarray(
        [[11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
         [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
         [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319]])
    assert np.abs(model.loss(X) - correct_scores).sum() < 1e-6
    assert abs(model.loss(X, y)[0] - 3.4702243556) < 1e-10
    model.reg = 1.0
    assert abs(model.loss(X, y)[0] - 26.5948426952) < 1e-10


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_two_layer_net_gradients(reg):
    model, X, y = two_layer_case()
    model.reg = reg
    _, grads = model.loss(X, y)
    for name, num in numeric_grads(model, X, y).items():
        assert rel_error(grads[name], num) < 1e-6, name


# ---------------------------------------------------------------------------------------------
# FullyConnectedNet: FullyConnectedNets.ipynb check 7, BatchNormalization check 16, Dropout check 22
# ---------------------------------------------------------------------------------------------


def fc_case(normalization=None, reg=0.0, models_before=0, **kwargs):
    """The notebook's inputs and weights from its np.random.seed(231) stream: X, y, then W1, W2, W3
    of each model in turn (the notebook's loop builds a model per reg; this is model number
    ``models_before``)."""
    rs = np.random.RandomState(231)
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = rs.randn(N, D)
    y = rs.randint(C, size=(N,))
    model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                              dtype=np.float64, normalization=normalization, **kwargs)
    for _ in range(models_before + 1):
        for i, (fan_in, fan_out) in enumerate([(D, H1), (H1, H2), (H2, C)], start=1):
            model.params[f"W{i}"] = 5e-2 * rs.randn(fan_in, fan_out)
    return model, X, y


@pytest.mark.parametrize(
    "normalization, reg, models_before, want_loss, w_tol",
    [
        (None, 0.0, 0, 2.300479089768492, 1e-4),        # "fine to see an error for W2 on the order of e-5"
        (None, 3.14, 1, 7.052114776533016, 1e-6),
        ("batchnorm", 0.0, 0, 2.2611955101340957, 1e-3),  # "1e-4~1e-10 for W"
        ("batchnorm", 3.14, 1, 6.996533220108303, 1e-3),
    ],
)
def test_fully_connected_net_matches_cs231n(normalization, reg, models_before, want_loss, w_tol):
    model, X, y = fc_case(normalization, reg, models_before)
    loss, grads = model.loss(X, y)
    assert rel_error(loss, want_loss) < 1e-12
    for name, num in numeric_grads(model, X, y).items():
        tol = w_tol if name.startswith("W") else 1e-6
        assert rel_error(grads[name], num) < tol, name


def test_layernorm_net_gradients():
    model, X, y = fc_case("layernorm", 1.1)
    _, grads = model.loss(X, y)
    assert {"gamma1", "beta1", "gamma2", "beta2"} <= set(grads)
    for name, num in numeric_grads(model, X, y).items():
        assert rel_error(grads[name], num) < 1e-4, name


class ReseededLegacyStream:
    """Draws every mask as CS231n does: np.random.seed(seed) then np.random.rand(...)."""

    def __init__(self, seed):
        self.seed = seed

    def random(self, shape):
        return np.random.RandomState(self.seed).random_sample(shape)


@pytest.mark.parametrize("keep, models_before, want_loss", [(1, 0, 2.300479089768492), (0.75, 1, 2.302371489704412),
                                                            (0.5, 2, 2.30427592207859)])
def test_dropout_net_matches_cs231n_with_its_masks(keep, models_before, want_loss):
    model, X, y = fc_case(dropout_keep_ratio=keep, seed=123, models_before=models_before)
    if keep == 0.5:
        # In the notebook every dropout call of the 0.75 model reseeds the global stream with
        # 123; its last call drew the (2, 30) mask of layer 2. The 0.5 model's weights follow.
        rs = np.random.RandomState(123)
        rs.random_sample((2, 30))
        for i, (fan_in, fan_out) in enumerate([(15, 20), (20, 30), (30, 10)], start=1):
            model.params[f"W{i}"] = 5e-2 * rs.randn(fan_in, fan_out)
    if keep != 1:
        del model.dropout_param["seed"]
        model.dropout_param["rng"] = ReseededLegacyStream(123)
    loss, grads = model.loss(X, y)
    assert rel_error(loss, want_loss) < 1e-12
    for name, num in numeric_grads(model, X, y).items():
        assert rel_error(grads[name], num) < (1e-4 if name == "W2" else 1e-5), name


def test_dropout_net_with_seed_is_deterministic_and_without_seed_is_not():
    fixed, X, y = fc_case(dropout_keep_ratio=0.5, seed=5)
    assert fixed.loss(X, y)[0] == fixed.loss(X, y)[0]
    free, _, _ = fc_case(dropout_keep_ratio=0.5)
    free.dropout_param.pop("seed", None)
    assert len({free.loss(X, y)[0] for _ in range(5)}) > 1


def test_fully_connected_net_test_mode_uses_running_stats_and_no_dropout():
    model, X, y = fc_case("batchnorm", dropout_keep_ratio=0.5)
    model.loss(X, y)
    assert model.bn_params[0]["running_mean"].shape == (20,)
    scores = [model.loss(X) for _ in range(2)]
    np.testing.assert_array_equal(scores[0], scores[1])
    assert model.bn_params[0]["mode"] == "test" and model.dropout_param["mode"] == "test"


def test_fully_connected_net_rejects_bad_options():
    with pytest.raises(ValueError, match="normalization"):
        FullyConnectedNet([10], normalization="groupnorm")
    with pytest.raises(ValueError, match="dropout_keep_ratio"):
        FullyConnectedNet([10], dropout_keep_ratio=0)
    with pytest.raises(ValueError, match="dtype"):
        FullyConnectedNet([10], dtype=np.int32)


def test_float32_model_keeps_float32():
    model = FullyConnectedNet([8, 8], input_dim=6, num_classes=3, normalization="batchnorm", seed=0)
    X = np.random.default_rng(0).standard_normal((4, 6))
    _, grads = model.loss(X, np.array([0, 1, 2, 0]))
    assert all(g.dtype == np.float32 for g in grads.values())
    assert model.loss(X).dtype == np.float32


def test_models_are_reproducible_from_their_seed():
    a = FullyConnectedNet([7], input_dim=4, num_classes=3, seed=11)
    b = FullyConnectedNet([7], input_dim=4, num_classes=3, seed=11)
    c = FullyConnectedNet([7], input_dim=4, num_classes=3, seed=12)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])


# ---------------------------------------------------------------------------------------------
# Convolutional nets
# ---------------------------------------------------------------------------------------------


def test_three_layer_convnet_initial_loss_is_about_log_c():
    rng = np.random.default_rng(0)
    model = ThreeLayerConvNet(input_dim=(3, 16, 16), num_filters=8, seed=0)
    X = rng.standard_normal((20, 3, 16, 16))
    y = rng.integers(10, size=20)
    loss, _ = model.loss(X, y)
    assert abs(loss - np.log(10)) < 0.01
    model.reg = 0.5
    assert model.loss(X, y)[0] > loss


def test_three_layer_convnet_gradients_cs231n_check_27():
    rs = np.random.RandomState(231)
    X = rs.randn(2, 3, 16, 16)
    y = rs.randint(10, size=2)
    model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=(3, 16, 16), hidden_dim=7,
                              dtype=np.float64, seed=0)
    _, grads = model.loss(X, y)
    for name, num in numeric_grads(model, X, y, h=1e-6).items():
        assert rel_error(grads[name], num) < 1e-2, name   # "up to the order of e-2"


def test_deep_convnet_shapes_and_he_init():
    model = DeepConvNet(seed=0)
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes["W1"] == (16, 1, 3, 3) and shapes["W4"] == (32, 32, 3, 3) and shapes["W6"] == (64, 64, 3, 3)
    assert shapes["W7"] == (64 * 4 * 4, 50) and shapes["W8"] == (50, 10)
    for name, fan_in in [("W2", 16 * 9), ("W6", 64 * 9), ("W7", 1024)]:
        assert abs(model.params[name].std() / np.sqrt(2 / fan_in) - 1) < 0.1
    assert all(v.dtype == np.float32 for v in model.params.values())


def test_deep_convnet_rejects_images_its_pools_cannot_tile():
    with pytest.raises(ValueError, match="stride"):
        DeepConvNet(input_dim=(3, 32, 32))


def torch_deep_convnet_loss(params, X, y, reg):
    """The same network written independently in PyTorch (no dropout): loss and gradients."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    a = torch.tensor(X)
    for i, pad, pool in [(1, 1, False), (2, 1, True), (3, 1, False), (4, 2, True), (5, 1, False), (6, 1, True)]:
        a = F.relu(F.conv2d(a, t[f"W{i}"], t[f"b{i}"], padding=pad))
        if pool:
            a = F.max_pool2d(a, 2, 2)
    h = F.relu(a.flatten(1) @ t["W7"] + t["b7"])
    scores = h @ t["W8"] + t["b8"]
    loss = F.cross_entropy(scores, torch.tensor(y)) + 0.5 * reg * sum((t[f"W{i}"] ** 2).sum() for i in range(1, 9))
    loss.backward()
    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}


@pytest.mark.parametrize("backend", ["naive", "fast"])
def test_deep_convnet_matches_torch(backend):
    model = DeepConvNet(dtype=np.float64, seed=3, reg=0.05, dropout_keep_ratio=1, backend=backend)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 1, 28, 28))
    y = np.array([2, 9, 4])
    loss, grads = model.loss(X, y)
    want_loss, want = torch_deep_convnet_loss(model.params, X, y, model.reg)
    assert rel_error(loss, want_loss) < 1e-12
    for name in model.params:
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_deep_convnet_dropout_gradient_with_fixed_mask():
    model = DeepConvNet(dtype=np.float64, seed=2)
    model.dropout_param["seed"] = 7
    rng = np.random.default_rng(2)
    X = rng.standard_normal((2, 1, 28, 28))
    y = np.array([3, 8])
    _, grads = model.loss(X, y)
    for name in ("b8", "b7", "b5"):
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False)
        # Entries near 1e-7 carry ~1e-11 of finite-difference noise, hence the absolute floor.
        np.testing.assert_allclose(grads[name], num, rtol=1e-5, atol=1e-9, err_msg=name)
