"""Nielsen's network3 API (assignment/classifiers/network.py): each layer against references written
here, the initialization, the whole network's gradients in float64 on every backend, the seed's SGD
bookkeeping on scripted accuracies, bad input, and one epoch of the seed's second network."""

import numpy as np
import pytest

from assignment import layers, registry
from assignment.classifiers import network as nw
from assignment.classifiers.network import (
    ConvPoolLayer,
    FullyConnectedLayer,
    Network,
    ReLU,
    SoftmaxLayer,
    linear,
    sigmoid,
    tanh,
)
from assignment.data_utils import load_embedded
from assignment.gradient_check import eval_numerical_gradient
from assignment.solver import Solver

ACTS = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "ReLU": lambda z: np.maximum(z, 0),
        "linear": lambda z: z}


def small_net(act=sigmoid, p_dropout=0.0, backend="fast", dtype=np.float64, image=(1, 9, 9), pool=(2, 2)):
    C, H, W = image
    conv = ConvPoolLayer(filter_shape=(3, C, 3, 3), image_shape=(4, C, H, W), poolsize=pool, activation_fn=act)
    n = int(np.prod(conv.out_shape))
    return Network([conv, FullyConnectedLayer(n_in=n, n_out=6, activation_fn=act, p_dropout=p_dropout),
                    SoftmaxLayer(n_in=6, n_out=4, p_dropout=p_dropout)], 4, dtype=dtype, seed=1, backend=backend)


def reference_conv_pool(x, w, b, pool, act):
    """Valid cross-correlation by loops, max over non-overlapping pool windows (leftovers dropped), + b, act."""
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = H - HH + 1, W - WW + 1
    conv = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    conv[n, f, i, j] = (x[n, :, i:i + HH, j:j + WW] * w[f]).sum()
    P = pool
    out = np.zeros((N, F, Ho // P, Wo // P))
    for i in range(Ho // P):
        for j in range(Wo // P):
            out[:, :, i, j] = conv[:, :, i * P:(i + 1) * P, j * P:(j + 1) * P].max(axis=(2, 3))
    return ACTS[act.__name__](out + b.reshape(1, -1, 1, 1))


# ----------------------------------------------------------------------------------------------
# Layers against references
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("act", [sigmoid, tanh, ReLU, linear], ids=lambda a: a.__name__)
@pytest.mark.parametrize("image", [(1, 9, 9), (2, 10, 11)], ids=["tiles", "leftover-rows"])
@pytest.mark.parametrize("backend", ["naive", "fast"])
def test_conv_pool_layer(act, image, backend):
    """10x11 input, 3x3 filter: 8x9 conv output; pool 2 drops the last column, as Theano's ignore_border."""
    layer = ConvPoolLayer(filter_shape=(3, image[0], 3, 3), image_shape=(5, *image), poolsize=(2, 2),
                          activation_fn=act)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, int(np.prod(image))))  # flat, as the seeds feed it
    w, b = rng.standard_normal(layer.filter_shape), rng.standard_normal(3)
    out, _ = layer.forward(registry.get_ops(backend), x, w, b, "train", rng)
    want = reference_conv_pool(x.reshape(5, *image), w, b, 2, act)
    assert out.shape == (5, *layer.out_shape) == want.shape
    np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", [sigmoid, tanh, ReLU, linear], ids=lambda a: a.__name__)
def test_fully_connected_and_softmax_layers(act):
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((7, 2, 3, 4)), rng.standard_normal((24, 5)), rng.standard_normal(5)
    ops = registry.get_ops("fast")
    out, _ = FullyConnectedLayer(24, 5, activation_fn=act).forward(ops, x, w, b, "test", rng)
    np.testing.assert_allclose(out, ACTS[act.__name__](x.reshape(7, 24) @ w + b), rtol=1e-12)
    scores, _ = SoftmaxLayer(24, 5).forward(ops, x, w, b, "test", rng)
    np.testing.assert_allclose(scores, x.reshape(7, 24) @ w + b, rtol=1e-12)


@pytest.mark.parametrize("cls", [FullyConnectedLayer, SoftmaxLayer])
def test_dropout_of_the_input_keeps_one_minus_p_and_scales_at_test(cls):
    """network3: train keeps each input unit with probability 1 - p_dropout, unscaled; test scales by 1 - p."""
    layer = cls(400, 3, p_dropout=0.25) if cls is SoftmaxLayer else cls(400, 3, activation_fn=linear, p_dropout=0.25)
    x, w, b = np.ones((50, 400)), np.zeros((400, 3)), np.zeros(3)
    w[:, 0] = 1.0  # column 0 counts the kept units
    ops = registry.get_ops("fast")
    out, cache = layer.forward(ops, x, w, b, "train", np.random.default_rng(2))
    kept = out[:, 0]
    assert set(np.unique(kept)) <= set(range(401))
    assert abs(kept.mean() / 400 - 0.75) < 0.01  # 20000 draws: the standard error is 0.003
    test_out, _ = layer.forward(ops, x, w, b, "test", np.random.default_rng(2))
    np.testing.assert_allclose(test_out[:, 0], 0.75 * 400)
    dx, _, _ = layer.backward(ops, np.tile([1.0, 0, 0], (50, 1)), cache)
    mask = dx != 0  # the gradient reaches the kept units only, unscaled
    np.testing.assert_array_equal(mask.sum(axis=1), kept)
    np.testing.assert_array_equal(dx[mask], 1.0)


def test_initialization_is_the_seeds():
    """w ~ N(0, 1/n_out) (ConvPool: n_out = F * HH * WW / pool area), b ~ N(0, 1), softmax zero."""
    net = Network([ConvPoolLayer((40, 20, 5, 5), (10, 20, 12, 12), (2, 2)),
                   FullyConnectedLayer(640, 300), SoftmaxLayer(300, 10)], 10, seed=3)
    p = net.params
    assert p["W1"].shape == (40, 20, 5, 5) and p["b1"].shape == (40,)
    assert abs(p["W1"].std() / np.sqrt(1 / (40 * 25 / 4)) - 1) < 0.03  # 20000 draws
    assert abs(p["W2"].std() / np.sqrt(1 / 300) - 1) < 0.02  # 192000 draws
    assert abs(p["b2"].std() - 1) < 0.1 and abs(p["b2"].mean()) < 0.2
    assert not p["W3"].any() and not p["b3"].any()
    assert all(v.dtype == np.float32 for v in p.values())
    same = Network([FullyConnectedLayer(640, 300), SoftmaxLayer(300, 10)], 10, seed=3).params["W1"]
    again = Network([FullyConnectedLayer(640, 300), SoftmaxLayer(300, 10)], 10, seed=3).params["W1"]
    np.testing.assert_array_equal(same, again)


# ----------------------------------------------------------------------------------------------
# The network: gradients, backends, the cost
# ----------------------------------------------------------------------------------------------


def _max_grad_error(net, X, y, mask_seed):
    """Largest |numerical - analytic| / max(1, max |numerical|) over every parameter; the dropout
    masks are drawn from a generator seeded afresh before every call, so each call sees the same ones."""
    def run():
        net.dropout_param["rng"] = np.random.default_rng(mask_seed)
        return net.loss(X, y)

    _, grads = run()
    worst = 0.0
    for name, value in net.params.items():
        num = eval_numerical_gradient(lambda _: run()[0], value, verbose=False, h=1e-6)
        scale = max(1.0, np.abs(num).max())
        worst = max(worst, np.abs(num - grads[name]).max() / scale)
    return worst


@pytest.mark.parametrize("act", [sigmoid, tanh, ReLU, linear], ids=lambda a: a.__name__)
@pytest.mark.parametrize("backend", ["naive", "fast"])
def test_network_gradient_check_float64(act, backend):
    net = small_net(act, p_dropout=0.3, backend=backend, image=(2, 10, 11))
    rng = np.random.default_rng(4)
    net.params["W3"] = rng.standard_normal(net.params["W3"].shape)  # the zero start hides W2's gradient
    net.reg = 0.2
    X, y = rng.standard_normal((5, 220)), rng.integers(0, 4, 5)
    assert _max_grad_error(net, X, y, mask_seed=5) < 1e-7


def test_backends_agree():
    """naive, fast and the GPU twins (run on numpy arrays) give one loss and one set of gradients."""
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((6, 81)), rng.integers(0, 4, 6)
    results = []
    for backend in ("naive", "fast", "gpu-host"):
        net = small_net(ReLU, p_dropout=0.5, backend="fast" if backend == "gpu-host" else backend)
        if backend == "gpu-host":
            net.ops = registry.get_ops("gpu")
        net.params["W3"] = np.random.default_rng(7).standard_normal(net.params["W3"].shape)
        net.dropout_param["rng"] = np.random.default_rng(8)
        results.append(net.loss(X, y) + (net.loss(X),))
    (loss0, grads0, scores0), *others = results
    for loss, grads, scores in others:
        assert loss == pytest.approx(loss0, rel=1e-12)
        np.testing.assert_allclose(scores, scores0, rtol=1e-10, atol=1e-12)
        for name in grads0:
            np.testing.assert_allclose(grads[name], grads0[name], rtol=1e-9, atol=1e-12)


def test_cost_is_mean_log_likelihood_plus_the_seeds_l2():
    net = small_net(sigmoid)
    rng = np.random.default_rng(9)
    X, y = rng.standard_normal((8, 81)), rng.integers(0, 4, 8)
    net.params["W3"] = rng.standard_normal(net.params["W3"].shape)
    scores = net.loss(X)
    shifted = scores - scores.max(axis=1, keepdims=True)
    nll = -(shifted[np.arange(8), y] - np.log(np.exp(shifted).sum(axis=1))).mean()
    assert net.loss(X, y)[0] == pytest.approx(nll, rel=1e-12)
    lmbda, num_batches = 0.1, 5000
    net.reg = lmbda / num_batches
    l2 = sum((net.params[f"W{k}"] ** 2).sum() for k in (1, 2, 3))
    assert net.loss(X, y)[0] == pytest.approx(nll + 0.5 * lmbda * l2 / num_batches, rel=1e-12)


def test_params_are_named_in_layer_order_and_the_solver_trains_it():
    net = small_net(ReLU, dtype=np.float32)
    assert list(net.params) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    rng = np.random.default_rng(10)
    X, y = rng.standard_normal((40, 81)).astype(np.float32), rng.integers(0, 4, 40)
    solver = Solver(net, {"X_train": X, "y_train": y, "X_val": X, "y_val": y}, optim_config={"learning_rate": 0.1},
                    batch_size=10, num_epochs=100, verbose=False, seed=0)
    solver.train()  # 40 random points, 4 random labels: it overfits them
    assert solver.loss_history[-1] < 0.1 * solver.loss_history[0]
    assert solver.best_val_acc == 1.0
    assert net.params["W1"].dtype == np.float32


# ----------------------------------------------------------------------------------------------
# SGD: the seed's bookkeeping
# ----------------------------------------------------------------------------------------------


def test_best_epoch_tracker_takes_ties_and_tests_only_at_a_best():
    update = nw.best_epoch_tracker()
    tested = []

    def test_fn():
        tested.append(len(tested))
        return 0.1 * len(tested)

    for epoch, val in enumerate([0.5, 0.7, 0.6, 0.7, 0.65], start=1):
        update(epoch, val, test_fn)
    assert update.result == {"best_validation_accuracy": 0.7, "best_epoch": 4, "test_accuracy": pytest.approx(0.3)}
    assert len(tested) == 3  # epochs 1, 2 and 4


def test_sgd_reports_the_test_accuracy_of_the_best_validation_epoch(monkeypatch, capsys):
    """Scripted validation accuracies: best at epoch 3 (a tie with epoch 2 goes to the later one)."""
    net = small_net(ReLU, dtype=np.float32)
    rng = np.random.default_rng(11)
    train = (rng.standard_normal((20, 81)).astype(np.float32), rng.integers(0, 4, 20))
    valid = (rng.standard_normal((7, 81)).astype(np.float32), rng.integers(0, 4, 7))
    test = (rng.standard_normal((9, 81)).astype(np.float32), rng.integers(0, 4, 9))
    val_script = iter([0.1, 0.5, 0.8, 0.8, 0.3])  # epoch 0 (before training), then epochs 1-4
    test_script = iter([0.41, 0.42, 0.43])
    snapshots = {}
    real_check = Solver.check_accuracy

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        if X is self.X_val:
            snapshots[self.epoch] = {k: v.copy() for k, v in self.model.params.items()}
            return next(val_script)
        return real_check(self, X, y, num_samples, batch_size)

    monkeypatch.setattr(Solver, "check_accuracy", check_accuracy)
    monkeypatch.setattr(Network, "accuracy", lambda self, X, y, batch_size=1000: next(test_script))
    result = net.SGD(train, 4, 5, 0.01, valid, test, progress=False)
    assert (result["best_validation_accuracy"], result["best_epoch"], result["test_accuracy"]) == (0.8, 3, 0.43)
    for name, value in net.params.items():  # the network keeps the parameters of the reported epoch
        np.testing.assert_array_equal(value, snapshots[3][name])
    out = capsys.readouterr().out
    assert "Epoch 3: validation accuracy 80.00%" in out
    assert out.count("This is the best validation accuracy to date.") == 3
    assert "The corresponding test accuracy is 43.00%" in out
    assert "Best validation accuracy of 80.00% obtained at epoch 3" in out


def test_sgd_sets_the_seeds_l2_per_minibatch_and_takes_shaped_or_flat_x():
    net = small_net(sigmoid, dtype=np.float32)
    rng = np.random.default_rng(12)
    X = rng.standard_normal((30, 1, 9, 9)).astype(np.float32)
    y = rng.integers(0, 4, 30)
    result = net.SGD((X, y), 1, 10, 0.1, (X.reshape(30, 81), y), None, lmbda=0.6, verbose=False)
    assert net.reg == pytest.approx(0.6 / 3)
    assert result["test_accuracy"] is None and result["best_epoch"] == 1
    assert len(result["solver"].loss_history) == 3


# ----------------------------------------------------------------------------------------------
# Bad input: a ValueError naming what is wrong
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "match"), [
    (lambda: Network([FullyConnectedLayer(784, 100), SoftmaxLayer(30, 10)], 10), r"layer 2 .* takes 30 .* gives 100"),
    (lambda: Network([FullyConnectedLayer(784, 10)], 10), "last layer must be a SoftmaxLayer"),
    (lambda: Network([], 10), "at least a SoftmaxLayer"),
    (lambda: Network(["fc", SoftmaxLayer(3, 2)], 10), "layer 1 must be"),
    (lambda: Network([SoftmaxLayer(3, 2)], 0), "mini_batch_size"),
    (lambda: Network([SoftmaxLayer(3, 2)], 10, backend="cuda"), "backend"),
    (lambda: FullyConnectedLayer(784, 100, activation_fn=np.tanh), "activation_fn must be one of"),
    (lambda: FullyConnectedLayer(784, 100, p_dropout=1.0), "p_dropout"),
    (lambda: FullyConnectedLayer(784, 0), "n_in, n_out"),
    (lambda: ConvPoolLayer((20, 3, 5, 5), (10, 1, 28, 28)), "3 input channels .* has 1"),
    (lambda: ConvPoolLayer((20, 1, 5, 5), (10, 1, 28, 28), poolsize=(2, 3)), "poolsize must be square"),
    (lambda: ConvPoolLayer((20, 1, 5, 5), (10, 1, 28, 28), poolsize=(25, 25)), "larger than the convolution"),
    (lambda: ConvPoolLayer((20, 1, 5), (10, 1, 28, 28)), "filter_shape must be 4"),
])
def test_bad_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_bad_data():
    net = small_net(sigmoid, dtype=np.float32)
    X, y = np.zeros((10, 81), np.float32), np.zeros(10, np.int64)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 81\)"):
        net.loss(np.zeros((10, 80)))
    with pytest.raises(ValueError, match="training_data must be a pair"):
        net.SGD(X, 1, 10, 0.1, (X, y))
    with pytest.raises(ValueError, match=r"validation_data: y must have shape \(10,\)"):
        net.SGD((X, y), 1, 10, 0.1, (X, y[:9]))
    with pytest.raises(ValueError, match="eta must be a positive number"):
        net.SGD((X, y), 1, 10, 0.0, (X, y))
    with pytest.raises(ValueError, match="lmbda"):
        net.SGD((X, y), 1, 10, 0.1, (X, y), lmbda=-1)


def test_activations_are_callable_like_network3s():
    z = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(sigmoid(z), 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(ReLU(z), np.maximum(z, 0))
    np.testing.assert_allclose(tanh(z), np.tanh(z))
    np.testing.assert_array_equal(linear(z), z)
    assert layers.sigmoid_forward(z)[0] is not None  # the activation runs the student's layer


# ----------------------------------------------------------------------------------------------
# The seed's second network, one epoch on the embedded data
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_one_epoch_of_the_seeds_conv_pool_network_on_the_embedded_data():
    data = load_embedded()
    flat = {k: (data[f"X_{k}"].reshape(-1, 784) / np.float32(255), data[f"y_{k}"]) for k in ("train", "val", "test")}
    mbs = 10
    net = Network([ConvPoolLayer(image_shape=(mbs, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2)),
                   FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100),
                   SoftmaxLayer(n_in=100, n_out=10)], mbs)
    result = net.SGD(flat["train"], 1, mbs, 0.1, flat["val"], flat["test"], verbose=False)
    # After one epoch on 5000 images the seed's network is far above chance (0.10) on held-out data.
    assert result["best_epoch"] == 1
    assert result["best_validation_accuracy"] > 0.5 and result["test_accuracy"] > 0.5
    assert result["solver"].loss_history[-1] < result["solver"].loss_history[0]


# ----------------------------------------------------------------------------------------------
# On a GPU (skipped without CuPy and a device)
# ----------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_network_on_the_gpu_matches_the_host_and_trains():
    from fast_backends import cupy_device

    cupy = cupy_device()
    rng = np.random.default_rng(13)
    X, y = rng.standard_normal((6, 81)), rng.integers(0, 4, 6)
    host, device = small_net(ReLU), small_net(ReLU, backend="gpu")
    assert device.device == "gpu" and all(isinstance(v, cupy.ndarray) for v in device.params.values())
    for net in (host, device):
        net.params["W3"] = net.params["W3"] + 0.5  # non-zero, the same on both
    loss, grads = host.loss(X, y)
    d_loss, d_grads = device.loss(cupy.asarray(X), cupy.asarray(y))
    assert float(d_loss) == pytest.approx(loss, rel=1e-10)
    for name in grads:
        np.testing.assert_allclose(cupy.asnumpy(d_grads[name]), grads[name], rtol=1e-8, atol=1e-12)
    train = (rng.standard_normal((40, 81)).astype(np.float32), rng.integers(0, 4, 40))
    result = small_net(ReLU, p_dropout=0.5, dtype=np.float32, backend="gpu").SGD(train, 2, 10, 0.05, train, train,
                                                                               verbose=False)
    assert result["best_epoch"] in (1, 2) and 0.0 <= result["test_accuracy"] <= 1.0
