"""DeepConvNet training throughput: ours against the same network in PyTorch, in one run.

    python benchmarks/bench_training.py                         # CPU: fast layers vs PyTorch CPU
    python benchmarks/bench_training.py --device gpu --batch-sizes 100 1000   # CuPy vs PyTorch CUDA

Both sides train the same architecture (He init, adam 1e-3, dropout 0.5, batch B) on the same
images for the same number of steps; the figure is images per second of training steps
(forward, backward, update), after one warm-up step, as the median of --repeats timed runs,
the two sides alternating so that both see the same machine. Prints a markdown table and,
with --write, puts it into BENCHMARKS.md between this benchmark's markers.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import update_section  # noqa: E402

from assignment.classifiers.cnn import DEEP_CONV_LAYERS, DeepConvNet  # noqa: E402
from assignment.data_utils import get_data  # noqa: E402
from assignment.devices import require_cupy, to_host  # noqa: E402
from assignment.solver import Solver  # noqa: E402


def torch_deep_convnet(torch, hidden=50, classes=10, keep=0.5):
    """The same network in PyTorch, with PyTorch's own layers."""
    nn = torch.nn
    layers, channels, size = [], 1, 28
    for filters, pad, pool in DEEP_CONV_LAYERS:
        layers += [nn.Conv2d(channels, filters, 3, padding=pad), nn.ReLU()]
        size = size + 2 * pad - 2
        if pool:
            layers.append(nn.MaxPool2d(2, 2))
            size //= 2
        channels = filters
    layers += [nn.Flatten(), nn.Linear(channels * size * size, hidden), nn.ReLU(), nn.Dropout(1 - keep),
               nn.Linear(hidden, classes)]
    net = nn.Sequential(*layers)
    for m in net:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


def time_ours(model, X, y, batch, steps, xp):
    """Seconds for ``steps`` Solver steps after one warm-up step."""
    data = {"X_train": X[: batch * steps], "y_train": y[: batch * steps], "X_val": X[:batch], "y_val": y[:batch]}
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3}, batch_size=batch,
                    num_epochs=1, verbose=False, seed=0)
    solver._step()
    if xp is not np:
        xp.cuda.Device().synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        solver._step()
    if xp is not np:
        xp.cuda.Device().synchronize()
    return time.perf_counter() - start


def time_torch(torch, net, X, y, batch, steps, device):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    Xt = torch.as_tensor(to_host(X)).to(device)
    yt = torch.as_tensor(to_host(y)).to(device)
    net.train()

    def step(i):
        xb, yb = Xt[i * batch : (i + 1) * batch], yt[i * batch : (i + 1) * batch]
        opt.zero_grad(set_to_none=True)
        loss_fn(net(xb), yb).backward()
        opt.step()

    step(0)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(steps):
        step(i % max(len(Xt) // batch, 1))
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[100])
    p.add_argument("--steps", type=int, default=20, help="timed steps per run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args(argv)

    import torch

    torch.manual_seed(0)
    data = get_data("embedded")
    X, y = data["X_train"], data["y_train"]
    need = max(args.batch_sizes) * args.steps
    reps = -(-need // len(X))
    X, y = np.concatenate([X] * reps)[:need], np.concatenate([y] * reps)[:need]
    xp, torch_device = np, "cpu"
    if args.device == "gpu":
        xp, torch_device = require_cupy(), "cuda"
        X, y = xp.asarray(X), xp.asarray(y)
    torch.set_num_threads(args.threads)

    rows = []
    with threadpool_limits(limits=args.threads):
        for batch in args.batch_sizes:
            ours_s, torch_s = [], []
            for r in range(args.repeats):
                model = DeepConvNet(seed=r)
                if args.device == "gpu":
                    model.to("gpu")
                net = torch_deep_convnet(torch).to(torch_device)
                ours_s.append(time_ours(model, X, y, batch, args.steps, xp))
                torch_s.append(time_torch(torch, net, X, y, batch, args.steps, torch_device))
            ours = batch * args.steps / statistics.median(ours_s)
            theirs = batch * args.steps / statistics.median(torch_s)
            rows.append((batch, ours, theirs))
            print(f"batch {batch}: ours {ours:.0f} img/s, PyTorch {theirs:.0f} img/s, ratio {ours / theirs:.2f}")

    command = " ".join(["python benchmarks/bench_training.py", *(argv if argv is not None else sys.argv[1:])])
    peer = "PyTorch CUDA" if args.device == "gpu" else "PyTorch CPU"
    ours_name = "CuPy twins" if args.device == "gpu" else "fast layers (Cython)"
    where = (f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} threads, torch {torch.__version__}, "
             f"numpy {np.__version__}")
    if args.device == "gpu":
        where += f", {torch.cuda.get_device_name()}"
    lines = [
        f"DeepConvNet training steps (forward, backward, adam), float32, {where}; median of {args.repeats} runs "
        f"of {args.steps} steps each.",
        "",
        f"| batch | ours, {ours_name} (img/s) | {peer} (img/s) | ours / {peer} |",
        "|---:|---:|---:|---:|",
        *[f"| {b} | {o:.0f} | {t:.0f} | {o / t:.2f} |" for b, o, t in rows],
        "",
        f"Command: `{command}`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        update_section(f"training-{args.device}", f"DeepConvNet training throughput ({args.device.upper()})", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
