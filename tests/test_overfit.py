"""CS231n's sanity checks on real data: small nets overfit 50 embedded Fashion-MNIST images."""

import numpy as np
import pytest

from assignment.classifiers.cnn import ThreeLayerConvNet
from assignment.classifiers.fc_net import FullyConnectedNet
from assignment.data_utils import get_data
from assignment.solver import Solver


@pytest.fixture(scope="module")
def fifty():
    d = get_data("embedded", num_training=50, dtype=np.float64)
    return {"X_train": d["X_train"], "y_train": d["y_train"], "X_val": d["X_val"][:50], "y_val": d["y_val"][:50]}


@pytest.mark.parametrize(
    "make, rule, lr",
    [
        (lambda: FullyConnectedNet([100, 100], input_dim=784, weight_scale=0.1, dtype=np.float64, seed=0), "sgd", 0.1),
        (lambda: FullyConnectedNet([100] * 4, input_dim=784, weight_scale=0.2, dtype=np.float64, seed=0), "sgd", 0.05),
        (lambda: ThreeLayerConvNet(input_dim=(1, 28, 28), weight_scale=1e-2, seed=0), "adam", 5e-3),
    ],
    ids=["3-layer", "5-layer", "three-layer-convnet"],
)
def test_overfits_fifty_images_within_twenty_epochs(fifty, make, rule, lr):
    solver = Solver(make(), fifty, update_rule=rule, optim_config={"learning_rate": lr}, batch_size=25,
                    num_epochs=20, num_train_samples=None, verbose=False)
    solver.train()
    assert max(solver.train_acc_history) == 1.0
    assert solver.loss_history[-1] < 0.25 * solver.loss_history[0]


def test_initial_softmax_loss_is_about_log_c(fifty):
    model = FullyConnectedNet([100, 100], input_dim=784, weight_scale=1e-3, dtype=np.float64, seed=0)
    loss, _ = model.loss(fifty["X_train"], fifty["y_train"])
    assert abs(loss - np.log(10)) < 1e-3
