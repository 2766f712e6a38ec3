"""The linear demo (python -m assignment.linear_demo): real training into a folder of our choosing."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from assignment import linear_demo as demo

REPO = Path(__file__).resolve().parents[1]


def test_demo_trains_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "run"
    result = demo.main(["--epochs", "2", "--out", str(out), "--no-progress", "--seed", "1"])
    printed = capsys.readouterr().out
    assert len(re.findall(r"^epoch +\d+/2: .*train acc .*val acc .*img/s$", printed, re.M)) == 2
    test_acc = float(re.search(r"test acc ([0-9.]+)", printed).group(1))
    assert test_acc > 0.5 and result["test_acc"] == test_acc  # chance is 0.1
    assert result["val_acc"] > 0.5 and result["img_per_s"] > 0

    assert result["plot"] == out / "history.png"
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(out / "softmax_weights.npz", allow_pickle=False) as z:
        assert z["W"].shape == (784, 10) and z["W"].dtype == np.float32 and z["b"].shape == (10,)
        assert z["mean_image"].shape == (784,) and len(z["class_names"]) == 10
        assert z["train_acc_history"].shape == (2,) and z["loss_history"].shape == (50,)
        W, b, mean = z["W"], z["b"], z["mean_image"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # atomic writes left nothing

    # the saved weights and preprocessing classify raw images as well as the demo said
    from assignment.data_utils import load_embedded

    e = load_embedded()
    scores = (e["X_test"].reshape(1000, -1) / np.float32(255) - mean) @ W + b
    assert abs(np.mean(scores.argmax(axis=1) == e["y_test"]) - test_acc) < 0.005


def test_demo_is_deterministic(tmp_path, capsys):
    a = demo.main(["--epochs", "1", "--num-train", "1000", "--out", str(tmp_path / "a"), "--no-progress"])
    b = demo.main(["--epochs", "1", "--num-train", "1000", "--out", str(tmp_path / "b"), "--no-progress"])
    assert a["history"]["loss"] == b["history"]["loss"] and a["test_acc"] == b["test_acc"]


def test_demo_command_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "assignment.linear_demo", "--epochs", "1", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"test acc 0\.[5-9]", proc.stdout), proc.stdout
    assert (tmp_path / "history.png").is_file() and (tmp_path / "softmax_weights.npz").is_file()
    bad = subprocess.run([sys.executable, "-m", "assignment.linear_demo", "--epochs", "0"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--epochs" in bad.stderr
