"""benchmarks/torch_fmnist_accuracy.py: the PyTorch accuracy peer of the DeepConvNet CLI run."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

torch = pytest.importorskip("torch")

import torch_fmnist_accuracy  # noqa: E402


def test_trains_and_scores_the_best_validation_epoch(capsys):
    import re

    from assignment.data_utils import get_data

    best_val, test, net = torch_fmnist_accuracy.main(["--data", "embedded", "--num-train", "400", "--epochs", "3"])
    out = capsys.readouterr().out
    epochs = [float(v) for v in re.findall(r"epoch \d+: val acc ([0-9.]+)", out)]
    assert len(epochs) == 3
    assert best_val == max(epochs)
    assert f"best val acc {best_val:.4f}; test accuracy of its parameters {test:.4f}" in out
    assert 0.3 < test <= 1.0  # three epochs on 400 images learn something (chance is 0.1)
    # the parameters scored are the best epoch's, not the last one's
    data = get_data("embedded", num_training=400)
    val = torch_fmnist_accuracy.accuracy(torch, net, torch.as_tensor(data["X_val"]), torch.as_tensor(data["y_val"]))
    assert val == best_val


def test_accuracy_counts_argmax_hits():
    net = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    y = torch.tensor([0, 1, 1, 1])
    assert torch_fmnist_accuracy.accuracy(torch, net, X, y, batch=3) == 0.75


def test_scores_the_best_epochs_parameters_when_a_later_epoch_is_worse(monkeypatch):
    """Validation accuracies scripted 0.5, 0.9, 0.6: the net scored on the test set is epoch 2's."""
    script, states = [0.5, 0.9, 0.6, 0.77], []

    def scripted(torch_, net, X, y, batch=1000):
        states.append({k: v.clone() for k, v in net.state_dict().items()})
        return script[len(states) - 1]

    monkeypatch.setattr(torch_fmnist_accuracy, "accuracy", scripted)
    best_val, test, net = torch_fmnist_accuracy.main(["--data", "embedded", "--num-train", "200", "--epochs", "3"])
    assert (best_val, test) == (0.9, 0.77)
    assert not all(torch.equal(states[1][k], states[2][k]) for k in states[1])  # epoch 3 did change the net
    for k, v in net.state_dict().items():
        assert torch.equal(v, states[1][k]), k
