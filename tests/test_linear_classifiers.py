"""LinearSVM and Softmax: gradients, CS231n sanity checks, training on the embedded data, errors."""

import math

import numpy as np
import pytest

from assignment import data_utils
from assignment.classifiers import LinearClassifier, LinearSVM, Softmax
from assignment.gradient_check import eval_numerical_gradient, rel_error

CLASSES = [LinearSVM, Softmax]


def centred_difference(f, x, h=1e-6):
    """An independent numerical gradient (does not use assignment.gradient_check)."""
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def small_problem(cls, reg_type, reg, seed=0, N=8, D=6, C=4):
    rng = np.random.default_rng(seed)
    model = cls(D, C, reg=reg, reg_type=reg_type, dtype=np.float64, seed=seed)
    # weights away from 0, where |W| is not differentiable, and scores of order 1
    model.params["W"] = rng.choice([-1.0, 1.0], size=(D, C)) * rng.uniform(0.1, 1.0, size=(D, C))
    model.params["b"] = rng.standard_normal(C)
    X = rng.standard_normal((N, D))
    y = rng.integers(0, C, N)
    return model, X, y


@pytest.fixture(scope="module")
def embedded():
    return data_utils.get_data(flatten=True)


@pytest.mark.parametrize("reg", [0.0, 0.7])
@pytest.mark.parametrize("reg_type", ["l2", "l1"])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_gradients_match_numerical(cls, reg_type, reg):
    model, X, y = small_problem(cls, reg_type, reg)
    _, grads = model.loss(X, y)
    for name in ("W", "b"):
        param = model.params[name]
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], param, verbose=False, h=1e-6)
        assert rel_error(grads[name], num) < 1e-7, name
        num2 = centred_difference(lambda: model.loss(X, y)[0], param)
        assert rel_error(grads[name], num2) < 1e-7, name


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_regularization_terms(cls):
    model, X, y = small_problem(cls, "l2", 0.0)
    base, base_grads = model.loss(X, y)
    W = model.params["W"]
    model.reg = 0.3
    l2, l2_grads = model.loss(X, y)
    assert l2 == pytest.approx(base + 0.5 * 0.3 * np.sum(W ** 2), rel=1e-12)
    np.testing.assert_allclose(l2_grads["W"], base_grads["W"] + 0.3 * W, rtol=1e-12)
    np.testing.assert_array_equal(l2_grads["b"], base_grads["b"])  # the bias is not regularized
    model.reg_type = "l1"
    l1, l1_grads = model.loss(X, y)
    assert l1 == pytest.approx(base + 0.3 * np.abs(W).sum(), rel=1e-12)
    np.testing.assert_allclose(l1_grads["W"], base_grads["W"] + 0.3 * np.sign(W), rtol=1e-12)


def test_initial_losses_sanity(embedded):
    """CS231n: with tiny weights the softmax loss is about log(C), the SVM loss about C - 1."""
    X, y = embedded["X_train"][:500], embedded["y_train"][:500]
    softmax = Softmax(784, 10, weight_scale=1e-4, seed=0)
    assert abs(softmax.loss(X, y)[0] - math.log(10)) < 0.02
    svm = LinearSVM(784, 10, weight_scale=1e-4, seed=0)
    assert abs(svm.loss(X, y)[0] - 9.0) < 0.1


@pytest.mark.parametrize("cls,lr", [(Softmax, 0.3), (LinearSVM, 0.05)], ids=["Softmax", "LinearSVM"])
def test_training_reduces_loss_and_beats_chance(cls, lr, embedded):
    model = cls(seed=0)  # shapes from the data, as CS231n's train does
    history = model.train(embedded["X_train"], embedded["y_train"], learning_rate=lr, reg=1e-4,
                          num_iters=150, batch_size=200, seed=1)
    assert len(history) == 150 and model.W.shape == (784, 10) and model.b.shape == (10,)
    assert np.mean(history[-20:]) < 0.5 * np.mean(history[:5])
    val_acc = np.mean(model.predict(embedded["X_val"]) == embedded["y_val"])
    assert val_acc > 0.6, val_acc  # chance is 0.1


def test_training_is_reproducible(embedded):
    X, y = embedded["X_train"][:1000], embedded["y_train"][:1000]
    runs = []
    for _ in range(2):
        model = Softmax(784, 10, seed=3)
        model.train(X, y, learning_rate=0.1, num_iters=20, batch_size=50, seed=4)
        runs.append(model.params["W"].copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    other = Softmax(784, 10, seed=3)
    other.train(X, y, learning_rate=0.1, num_iters=20, batch_size=50, seed=5)
    assert not np.array_equal(other.params["W"], runs[0])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_float32_stays_float32_and_inputs_untouched(cls):
    rng = np.random.default_rng(0)
    model = cls(12, 3, seed=0, reg=0.1)
    X = rng.standard_normal((5, 3, 2, 2)).astype(np.float32)  # image tensors are flattened
    y = np.array([0, 1, 2, 1, 0])
    X0, y0 = X.copy(), y.copy()
    scores = model.loss(X)
    assert scores.shape == (5, 3) and scores.dtype == np.float32
    loss, grads = model.loss(X, y)
    assert isinstance(loss, float)
    assert grads["W"].dtype == np.float32 and grads["W"].shape == (12, 3)
    assert grads["b"].dtype == np.float32 and grads["b"].shape == (3,)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    model.train(X, y, learning_rate=np.float64(0.1), num_iters=3, batch_size=2)
    assert model.params["W"].dtype == np.float32 and model.params["b"].dtype == np.float32
    pred = model.predict(X)
    assert pred.dtype == np.int64 and pred.shape == (5,)


def test_solver_protocol():
    model = Softmax(4, 3, seed=0)
    assert set(model.params) == {"W", "b"}
    new_W = np.ones((4, 3), np.float32)
    model.params["W"] = new_W  # what a Solver's update does
    assert model.W is new_W
    np.testing.assert_allclose(model.loss(np.ones((2, 4), np.float32)), np.full((2, 3), 4.0))


def test_base_class_has_no_data_loss():
    model = LinearClassifier(4, 3)
    with pytest.raises(NotImplementedError, match="data_loss"):
        model.loss(np.zeros((2, 4), np.float32), np.array([0, 1]))


@pytest.mark.parametrize("make,match", [
    (lambda: Softmax(5, 3).loss(np.zeros((2, 4))), r"X has 4 features.*\(5, 3\)"),
    (lambda: Softmax(5, 3).loss(np.zeros(5)), r"X must have shape"),
    (lambda: Softmax(5, 3).loss([[0.0] * 5]), r"X must be a numpy array"),
    (lambda: Softmax().loss(np.zeros((2, 5))), r"no weights yet"),
    (lambda: Softmax(5, 3).loss(np.zeros((2, 5)), np.array([0, 3])), r"y holds labels"),
    (lambda: Softmax(5, 3).loss(np.zeros((2, 5)), np.array([0, 1, 2])), r"y must have shape \(2,\)"),
    (lambda: LinearSVM(5, 3).loss(np.zeros((2, 5)), np.array([0.0, 1.0])), r"y must hold integer"),
    (lambda: Softmax(5, 3, reg_type="l3"), r"reg_type"),
    (lambda: Softmax(5, 3, reg=-1.0), r"reg must be"),
    (lambda: Softmax(5, 3, dtype=np.int32), r"dtype"),
    (lambda: Softmax(5), r"input_dim and num_classes"),
    (lambda: Softmax(0, 3), r"input_dim must be"),
    (lambda: Softmax(5, 3).train(np.zeros((4, 5)), np.zeros(3, np.int64)), r"y must be integer labels of shape \(4,\)"),
    (lambda: Softmax(5, 3).train(np.zeros((4, 5)), np.zeros(4, np.int64), batch_size=0), r"batch_size"),
    (lambda: Softmax(5, 3).train(np.zeros((4, 5)), np.zeros(4, np.int64), num_iters=-1), r"num_iters"),
])
def test_errors_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_trains_under_the_solver(embedded):
    from assignment.solver import Solver

    model = Softmax(784, 10, seed=0)
    data = {k: v[:1000] for k, v in embedded.items()}
    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 0.3}, num_epochs=2,
                    batch_size=100, verbose=False)
    solver.train()
    assert solver.best_val_acc > 0.6 and model.params["W"].dtype == np.float32
