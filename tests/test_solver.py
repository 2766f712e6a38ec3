"""The Solver: CS231n contract, determinism, checkpoints and resume, atomic writes."""

import json
import os

import numpy as np
import pytest

from assignment import io_utils
from assignment.classifiers.fc_net import FullyConnectedNet
from assignment.solver import Solver, plot_history


def blobs(n, centers, rng):
    """Points around well-separated centres: easy enough that a small net classifies them all."""
    y = rng.integers(len(centers), size=n)
    return centers[y] + 0.3 * rng.standard_normal((n, centers.shape[1])), y


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    centers = 4 * rng.standard_normal((3, 6))
    X_train, y_train = blobs(120, centers, rng)
    X_val, y_val = blobs(40, centers, rng)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


def make_model(seed=0):
    return FullyConnectedNet([16], input_dim=6, num_classes=3, weight_scale=0.1, dtype=np.float64, seed=seed)


def make_solver(data, **kwargs):
    options = dict(update_rule="sgd_momentum", optim_config={"learning_rate": 0.05}, batch_size=20,
                   num_epochs=4, verbose=False, seed=1)
    options.update(kwargs)
    return Solver(make_model(), data, **options)


def test_training_learns_and_keeps_histories(data):
    solver = make_solver(data)
    solver.train()
    assert len(solver.loss_history) == 4 * (120 // 20)
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 5   # before training + each epoch
    assert np.mean(solver.loss_history[-3:]) < 0.5 * np.mean(solver.loss_history[:3])
    assert solver.best_val_acc > 0.9
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == pytest.approx(solver.best_val_acc)
    assert len(solver.throughput_history) == 4 and all(t > 0 for t in solver.throughput_history)


def test_model_ends_with_the_best_parameters(data):
    solver = make_solver(data)
    solver.train()
    for name, value in solver.best_params.items():
        np.testing.assert_array_equal(solver.model.params[name], value)


def test_lr_decay_is_applied_once_per_epoch(data):
    solver = make_solver(data, lr_decay=0.5, num_epochs=3)
    solver.train()
    for config in solver.optim_configs.values():
        assert config["learning_rate"] == pytest.approx(0.05 * 0.5**3)


def test_same_seed_same_run_and_other_seed_other_run(data):
    runs = []
    for seed in (1, 1, 2):
        solver = make_solver(data, seed=seed)
        solver.train()
        runs.append(solver.loss_history)
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_each_epoch_visits_every_example_once(data):
    solver = make_solver(data, batch_size=30)
    seen = np.concatenate([solver._minibatch_indices() for solver.iteration in range(4)])
    assert sorted(seen) == list(range(120))


def test_callable_update_rule(data):
    calls = []

    def halve(w, dw, config=None):
        calls.append(1)
        return w - 0.01 * dw, config

    make_solver(data, update_rule=halve, num_epochs=1).train()
    assert len(calls) == 6 * len(make_model().params)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"learning_rate": 1e-3}, "Unrecognized arguments: learning_rate"),
        ({"update_rule": "adamw"}, "update_rule 'adamw'"),
        ({"update_rule": 3}, "update_rule must be"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_raise(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_solver(data, **kwargs)


def test_bad_data_raises(data):
    with pytest.raises(ValueError, match="X_val"):
        Solver(make_model(), {k: v for k, v in data.items() if k != "X_val"})
    with pytest.raises(ValueError, match=r"data\['y_train'\]"):
        Solver(make_model(), {**data, "y_train": data["y_train"][:-1]})


def test_checkpoint_then_resume_continues_exactly(data, tmp_path):
    straight = make_solver(data, update_rule="adam", optim_config={"learning_rate": 1e-2})
    straight.train()

    first = make_solver(data, update_rule="adam", optim_config={"learning_rate": 1e-2}, num_epochs=2,
                        checkpoint_name=str(tmp_path / "run"))
    first.train()
    assert sorted(os.listdir(tmp_path)) == [f"run_epoch_{e}.{ext}" for e in (1, 2) for ext in ("json", "npz")]
    resumed = make_solver(data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                          resume=tmp_path / "run_epoch_2.json")
    assert resumed.epoch == 2 and resumed.optim_configs["W1"]["t"] == 12
    resumed.train()
    assert resumed.loss_history == straight.loss_history
    assert resumed.val_acc_history == straight.val_acc_history
    for name in straight.model.params:
        np.testing.assert_array_equal(resumed.model.params[name], straight.model.params[name])


def test_checkpoint_holds_no_pickle(data, tmp_path):
    solver = make_solver(data, num_epochs=1, checkpoint_name=str(tmp_path / "c"))
    solver.train()
    with np.load(tmp_path / "c_epoch_1.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
    record = json.loads((tmp_path / "c_epoch_1.json").read_text())
    assert record["arrays_sha256"] == io_utils.sha256_of(tmp_path / "c_epoch_1.npz")


def test_resume_rejects_tampered_or_missing_checkpoints(data, tmp_path):
    solver = make_solver(data, num_epochs=1, checkpoint_name=str(tmp_path / "c"))
    solver.train()
    with pytest.raises(FileNotFoundError, match="nope.json"):
        make_solver(data, resume=tmp_path / "nope")
    npz = tmp_path / "c_epoch_1.npz"
    npz.write_bytes(npz.read_bytes()[:-10])
    with pytest.raises(ValueError, match="sha256"):
        make_solver(data, resume=tmp_path / "c_epoch_1.npz")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        make_solver(data, resume=tmp_path / "bad.json")


def test_resume_rejects_another_model(data, tmp_path):
    make_solver(data, num_epochs=1, checkpoint_name=str(tmp_path / "c")).train()
    other = FullyConnectedNet([16, 16], input_dim=6, num_classes=3, dtype=np.float64)
    with pytest.raises(ValueError, match="parameters"):
        Solver(other, data, verbose=False, batch_size=20, resume=tmp_path / "c_epoch_1")


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "results.json"
    io_utils.write_json(path, {"score": 1})

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with io_utils.atomic_open(path, "w") as f:
            f.write('{"score": ')
            raise Boom
    assert json.loads(path.read_text()) == {"score": 1}
    assert os.listdir(tmp_path) == ["results.json"]


def test_plot_history_writes_a_png(data, tmp_path):
    solver = make_solver(data, num_epochs=2)
    solver.train()
    fig = plot_history(solver, tmp_path / "curves.png", title="blobs")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(fig.axes) == 2
