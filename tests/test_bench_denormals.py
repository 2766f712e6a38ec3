"""benchmarks/bench_denormals.py: the subnormal count and one end-to-end run on a small checkpoint."""

import importlib.util
import pathlib

import numpy as np

from assignment.classifiers.cnn import DeepConvNet
from assignment.data_utils import get_data
from assignment.solver import Solver

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "bench_denormals.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_denormals", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_subnormals_counts_only_float32_subnormals():
    bench = _load()
    a = np.array([0.0, 1e-40, -1e-39, 1e-37, 1.0, np.float32(np.finfo(np.float32).tiny)], dtype=np.float32)
    b = np.array([1e-40, 1e-300], dtype=np.float64)  # not float32: not counted at all
    assert bench.subnormals([a, b]) == (2, 6)


def test_runs_on_a_solver_checkpoint(tmp_path, capsys):
    bench = _load()
    data = get_data("embedded")
    small = {"X_train": data["X_train"][:200], "y_train": data["y_train"][:200],
             "X_val": data["X_val"][:100], "y_val": data["y_val"][:100]}
    solver = Solver(DeepConvNet(seed=1), small, update_rule="adam", batch_size=100, num_epochs=1, verbose=False,
                    seed=0, checkpoint_name=str(tmp_path / "run"))
    solver.train()
    assert bench.main([str(tmp_path / "run_epoch_1.json"), "--steps", "1", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "| init |" in out and "| trained |" in out
    assert "epoch 1" in out
