"""Models and the Solver on the GPU layer table.

On every machine: the "gpu" table (assignment.gpu_layers) trains on numpy arrays exactly as
the naive layers do. On a GPU (marked ``gpu``): the same run on the device matches the CPU run.
"""

import numpy as np
import pytest

from assignment.classifiers.cnn import DeepConvNet
from assignment.classifiers.fc_net import FullyConnectedNet
from assignment.devices import require_cupy
from assignment.solver import Solver


def small_data(rng, shape, n_train=60, n_val=20, classes=10):
    return {
        "X_train": rng.standard_normal((n_train, *shape)).astype(np.float32),
        "y_train": rng.integers(classes, size=n_train),
        "X_val": rng.standard_normal((n_val, *shape)).astype(np.float32),
        "y_val": rng.integers(classes, size=n_val),
    }


def train(model, data, epochs=2):
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3}, batch_size=20,
                    num_epochs=epochs, verbose=False, seed=4)
    solver.train()
    return solver


def make_models(backend):
    deep = DeepConvNet(dtype=np.float64, seed=1, dropout_keep_ratio=1, backend=backend)
    fc = FullyConnectedNet([12, 12], input_dim=20, normalization="batchnorm", dropout_keep_ratio=0.7,
                           dtype=np.float64, seed=2, backend=backend)
    return deep, fc


def test_gpu_table_on_numpy_trains_like_the_naive_layers():
    rng = np.random.default_rng(0)
    image_data = small_data(rng, (1, 28, 28))
    flat_data = small_data(rng, (20,))
    for naive, twin, data in zip(make_models("naive"), make_models("gpu"), (image_data, flat_data), strict=True):
        want, got = train(naive, data), train(twin, data)
        np.testing.assert_allclose(got.loss_history, want.loss_history, rtol=1e-9)
        assert got.val_acc_history == want.val_acc_history


@pytest.mark.gpu
def test_training_on_the_device_matches_the_cpu_run():
    try:
        cupy = require_cupy()
    except RuntimeError as e:
        pytest.skip(f"no GPU: {e}")
    data = small_data(np.random.default_rng(0), (1, 28, 28))
    cpu = train(DeepConvNet(dtype=np.float64, seed=1, dropout_keep_ratio=1, backend="naive"), data)
    model = DeepConvNet(dtype=np.float64, seed=1, dropout_keep_ratio=1).to("gpu")
    gpu = train(model, {k: cupy.asarray(v) for k, v in data.items()})
    assert all(type(v).__module__.startswith("cupy") for v in model.params.values())
    np.testing.assert_allclose(gpu.loss_history, cpu.loss_history, rtol=1e-7)
    assert gpu.val_acc_history == cpu.val_acc_history
