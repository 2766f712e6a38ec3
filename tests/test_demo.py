"""`make demo`: DeepConvNet on the embedded data, for real, into a folder of our choosing."""

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_demo_trains_deepconvnet_and_writes_its_outputs(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "assignment.demo", "--epochs", "1", "--num-train", "1000", "--out", str(tmp_path),
         "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "DeepConvNet" in proc.stdout and "fast layers" in proc.stdout
    assert re.search(r"\(Epoch 1 / 1\) train acc: .* val_acc: .* \d+ img/s", proc.stdout), proc.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"] == "deepconvnet" and summary["epochs"] == 1 and summary["train_images"] == 1000
    assert summary["test_acc"] > 0.25       # chance is 0.1; one epoch on 1000 images reaches about 0.4
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    written = {p.name for p in tmp_path.glob("checkpoint_epoch_1.*")}
    assert written == {"checkpoint_epoch_1.json", "checkpoint_epoch_1.npz"}
    assert not list(tmp_path.glob(".*.tmp"))


def test_demo_rejects_bad_arguments():
    bad = subprocess.run([sys.executable, "-m", "assignment.demo", "--epochs", "-1"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "--epochs" in bad.stderr
