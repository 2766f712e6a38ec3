"""benchmarks/torch_fmnist_accuracy.py: the PyTorch accuracy peer of the DeepConvNet CLI run."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

torch = pytest.importorskip("torch")

import torch_fmnist_accuracy  # noqa: E402


def test_trains_and_scores_the_best_validation_epoch(capsys):
    best_val, test = torch_fmnist_accuracy.main(["--data", "embedded", "--num-train", "400", "--epochs", "2"])
    out = capsys.readouterr().out
    assert out.count("val acc") == 3  # two epochs and the summary
    assert f"best val acc {best_val:.4f}; test accuracy of its parameters {test:.4f}" in out
    assert 0.3 < test <= 1.0  # two epochs on 400 images learn something (chance is 0.1)


def test_accuracy_counts_argmax_hits():
    net = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))
    X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 3.0]])
    y = torch.tensor([0, 1, 1, 1])
    assert torch_fmnist_accuracy.accuracy(torch, net, X, y, batch=3) == 0.75
