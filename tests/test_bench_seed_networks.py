"""benchmarks/bench_seed_networks.py: its PyTorch peer is the same network as ours, step for step."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

torch = pytest.importorskip("torch")

import bench_seed_networks as bench  # noqa: E402

from assignment.data_utils import load_embedded  # noqa: E402


def small_split(n_train=2000, n_val=200, n_test=200):
    d = load_embedded()
    flat = {k: (d[f"X_{k}"].reshape(-1, 784) / np.float32(255)).astype(np.float32) for k in ("train", "val", "test")}
    return ((flat["train"][:n_train], d["y_train"][:n_train]), (flat["val"][:n_val], d["y_val"][:n_val]),
            (flat["test"][:n_test], d["y_test"][:n_test]))


@pytest.mark.parametrize("key", ["fc", "conv1", "conv2", "relu", "dropout"])
def test_the_peer_computes_our_loss_and_gradients(key):
    """Same parameters, same batch, test-mode dropout: the same logits, and in train mode without dropout
    masks (p_dropout set to 0 on both sides) the same loss and gradients, in float64."""
    net = bench.build_network(key, dtype=np.float64)
    rng = np.random.default_rng(0)
    for name in net.params:  # the softmax layer starts at zero: random values exercise every gradient
        net.params[name] = 0.5 * rng.standard_normal(net.params[name].shape)
    X, y = rng.random((7, 784)), rng.integers(0, 10, 7)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    logits = bench._torch_forward(torch, net, params, torch.as_tensor(X), train=False)
    np.testing.assert_allclose(logits.detach().numpy(), net.loss(X), rtol=1e-10, atol=1e-10)
    for layer in net.layers:
        layer.p_dropout = 0.0
    net.reg = 0.01
    loss, grads = net.loss(X, y)
    t_loss = torch.nn.functional.cross_entropy(bench._torch_forward(torch, net, params, torch.as_tensor(X), True),
                                               torch.as_tensor(y))
    t_loss = t_loss + 0.5 * net.reg * sum((params[k] ** 2).sum() for k in params if k.startswith("W"))
    t_grads = dict(zip(params, torch.autograd.grad(t_loss, list(params.values())), strict=True))
    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    for name in grads:
        np.testing.assert_allclose(grads[name], t_grads[name].numpy(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("key", ["fc", "conv1"])
def test_ours_and_the_peer_train_alike(key):
    """No dropout, no kinks: from one initialization and one minibatch order, two epochs give the same
    validation curve (float32 rounding apart) and the same reported epoch."""
    data = small_split()
    ours = bench.run_ours(key, data, 2)
    theirs = bench.run_torch(torch, key, data, 2)
    np.testing.assert_allclose(ours["val_history"], theirs["val_history"], atol=0.011)  # 2 of 200 images
    assert ours["best_epoch"] == theirs["best_epoch"]
    assert ours["test_acc"] == pytest.approx(theirs["test_acc"], abs=0.011)
    assert ours["val_history"][-1] > 0.3  # it learned: chance is 0.1


def test_deepconvnet_rows_start_from_our_weights():
    data = small_split(n_train=200, n_val=100, n_test=100)
    ours = bench.run_ours("deepconvnet", data, 1)
    theirs = bench.run_torch(torch, "deepconvnet", data, 1)
    for run in (ours, theirs):
        assert run["best_epoch"] == 1 and 0.0 <= run["test_acc"] <= 1.0 and run["img_per_s"] > 0


def test_the_table_reports_the_gap_and_the_command():
    run = {"epochs": 3, "val_history": [0.5, 0.6, 0.6], "best_epoch": 3, "best_val": 0.6, "test_acc": 0.85,
           "wall_s": 60.0, "img_per_s": 1000.0}
    other = dict(run, test_acc=0.8420, img_per_s=500.0)
    text = bench.table({"fc": run}, {"fc": other}, "here", "`cmd`")
    row = next(line for line in text.splitlines() if line.startswith("| 1. FC"))
    assert "| 0.8500 (3) | 0.8420 (3) | +0.80 | **no** |" in row and row.endswith("| 1000 | 500 | 2.00 |")
    assert text.startswith("Command: `cmd`")
    assert "Rows within 0.5 points of their PyTorch peer: 0 of 1." in text
