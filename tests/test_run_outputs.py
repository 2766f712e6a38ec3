"""What a training run leaves behind: files with ordinary modes, a plot title that names the data."""

import os
import stat

import pytest

from assignment import io_utils, train


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_training_run_writes_files_a_plain_open_would(tmp_path, monkeypatch, umask_022):
    titles = []
    real_plot = train.plot_history
    monkeypatch.setattr(train, "plot_history", lambda solver, path, title=None: (titles.append(title),
                                                                                  real_plot(solver, path, title))[1])
    out = tmp_path / "run"
    assert train.main(["--model", "twolayer", "--hidden-dims", "20", "--epochs", "1", "--num-train", "200",
                       "--out", str(out), "--no-progress"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["checkpoint_epoch_1.json", "checkpoint_epoch_1.npz", "curves.png", "summary.json"]
    modes = {name: stat.S_IMODE((out / name).stat().st_mode) for name in written}
    assert modes == dict.fromkeys(written, 0o644)
    assert titles == ["TwoLayerNet on the embedded Fashion-MNIST subset, 200 training images (1 epochs)"]


def test_atomic_writes_keep_an_existing_files_mode_and_follow_the_umask(tmp_path):
    path = tmp_path / "shared.json"
    old = os.umask(0o027)
    try:
        io_utils.write_json(path, {"a": 1})
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        os.chmod(path, 0o664)
        io_utils.write_json(path, {"a": 2})
        assert stat.S_IMODE(path.stat().st_mode) == 0o664
    finally:
        os.umask(old)
