"""Do float32 training steps slow down late in training? Steps at a trained checkpoint against steps at init.

    python benchmarks/bench_denormals.py RUN/checkpoint_epoch_20.json [--write]

Subnormal floats (|x| < 1.2e-38 in float32) take a slow path on x86 unless flush-to-zero is on,
and a long run can fill weights, Adam's moments or gradients with them. This benchmark takes a
checkpoint written by the Solver (``python -m assignment.train ... --out RUN``). It restores the
parameters and Adam's state, so the steps it times are the steps of that epoch. It times DeepConvNet
training steps from that state and from a fresh initialization in turns (A B A B ...), on the same
embedded Fashion-MNIST images, and reports the two throughputs and their ratio. It also counts
the subnormal values in the parameters, Adam's moments and one step's gradients. Prints a
markdown table and, with --write, puts it into BENCHMARKS.md between this benchmark's markers.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import update_section  # noqa: E402

from assignment.classifiers.cnn import DeepConvNet  # noqa: E402
from assignment.data_utils import get_data  # noqa: E402
from assignment.solver import Solver  # noqa: E402

TINY = np.finfo(np.float32).tiny


def subnormals(arrays):
    """(number of subnormal entries, number of entries) over float32 arrays."""
    n_sub = n_all = 0
    for a in arrays:
        a = np.asarray(a)
        if a.dtype != np.float32:
            continue
        n_sub += int(np.count_nonzero((a != 0) & (np.abs(a) < TINY)))
        n_all += a.size
    return n_sub, n_all


def make_solver(X, y, batch, steps, checkpoint=None):
    data = {"X_train": X[: batch * steps], "y_train": y[: batch * steps], "X_val": X[:batch], "y_val": y[:batch]}
    solver = Solver(DeepConvNet(seed=0), data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                    batch_size=batch, num_epochs=1, verbose=False, seed=0)
    if checkpoint is not None:
        solver.load_checkpoint(checkpoint)
    return solver


def time_steps(solver, steps):
    start = time.perf_counter()
    for _ in range(steps):
        solver._step()
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a Solver checkpoint (.json) of a DeepConvNet run, batch 100")
    p.add_argument("--steps", type=int, default=20, help="timed steps per run")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args(argv)

    with open(os.path.splitext(args.checkpoint)[0] + ".json") as f:
        record = json.load(f)
    batch = record["batch_size"]
    data = get_data("embedded")
    need = batch * args.steps
    reps = -(-need // len(data["X_train"]))
    X = np.concatenate([data["X_train"]] * reps)[:need]
    y = np.concatenate([data["y_train"]] * reps)[:need]

    with threadpool_limits(limits=args.threads):
        trained = make_solver(X, y, batch, args.steps, args.checkpoint)
        fresh = make_solver(X, y, batch, args.steps)
        counts = {}
        for name, solver in (("trained", trained), ("init", fresh)):
            solver._step()  # warm-up (and the first Adam moments of the fresh model)
            _, grads = solver.model.loss(X[:batch], y[:batch])
            moments = [v for config in solver.optim_configs.values() for k, v in config.items() if k in ("m", "v")]
            counts[name] = {"params": subnormals(solver.model.params.values()), "adam": subnormals(moments),
                            "grads": subnormals(grads.values())}
        times = {"trained": [], "init": []}
        for _ in range(args.repeats):
            times["trained"].append(time_steps(trained, args.steps))
            times["init"].append(time_steps(fresh, args.steps))
    rate = {k: batch * args.steps / statistics.median(v) for k, v in times.items()}
    ratio = rate["trained"] / rate["init"]
    print(f"trained {rate['trained']:.0f} img/s, init {rate['init']:.0f} img/s, ratio {ratio:.2f}")

    def frac(c):
        return f"{c[0]} of {c[1]}"

    command = " ".join(["python benchmarks/bench_denormals.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [
        f"DeepConvNet training steps (forward, backward, adam), float32, batch {batch}, {platform.machine()}, "
        f"{os.cpu_count()} cores, {args.threads} threads; median of {args.repeats} runs of {args.steps} steps each, "
        f"the two states taking turns. *trained*: the parameters and Adam state of the checkpoint (epoch "
        f"{record['epoch']}, best val acc {record['best_val_acc']:.4f}); *init*: a fresh DeepConvNet(seed=0).",
        "",
        "| state | img/s | subnormal params | subnormal Adam moments | subnormal gradients (one step) |",
        "|---|---:|---:|---:|---:|",
        *[f"| {name} | {rate[name]:.0f} | {frac(counts[name]['params'])} | {frac(counts[name]['adam'])} | "
          f"{frac(counts[name]['grads'])} |" for name in ("init", "trained")],
        "",
        f"trained / init throughput: {ratio:.2f}",
        "",
        f"Command: `{command}`",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        update_section("denormals", "Late-training float32 steps: subnormals and throughput", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
