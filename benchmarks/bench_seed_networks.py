"""The seeds' network progression on the full Fashion-MNIST: ours against the same networks in PyTorch.

    python benchmarks/bench_seed_networks.py --framework ours  --threads 1 --json /tmp/seed_ours.json
    python benchmarks/bench_seed_networks.py --framework torch --threads 1 --json /tmp/seed_torch.json
    python benchmarks/bench_seed_networks.py --merge /tmp/seed_ours.json /tmp/seed_torch.json --write

(The first two may run at the same time, one core each; ``--framework both`` runs them in turn.)

Rows, as in Nielsen's chapter 6 (seeds 000 and 004) and "Deep Learning from Scratch" ch. 8:

1. FC 100 sigmoid + softmax (eta 0.1, mini-batch 10);
2. plus ConvPool 20x5x5, pool 2;
3. plus a second ConvPool 40x5x5;
4. ReLU everywhere (eta 0.03, lmbda 0.1);
5. plus dropout 0.5 on the FC layer;
6. DLFS DeepConvNet (adam 1e-3, batch 100), trained by the Solver.

The split is the seeds' (``mnist.pkl.gz``): the first 50000 training images to train on, the last
10000 to validate, the 10000 test images to test; pixels in [0, 1], flat (N, 784). Each row's
PyTorch peer starts from our network's initial parameters (copied), runs the same recipe (plain SGD
and the seed's L2 term, or adam), visits the minibatches in the same order (the Solver's generator,
replayed) and scores the test set at the epoch the seed's rule picks (the best validation accuracy;
ties go to the later epoch for rows 1-5, as network3's ``>=``, and to the earlier for DeepConvNet, as
the Solver's ``>``). Dropout masks differ (each framework draws its own). img/s counts training steps
only; the wall time includes every accuracy check.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_training import torch_deep_convnet  # noqa: E402
from report import update_section  # noqa: E402

from assignment.classifiers.cnn import DeepConvNet  # noqa: E402
from assignment.classifiers.network import (  # noqa: E402
    ConvPoolLayer,
    FullyConnectedLayer,
    Network,
    ReLU,
    SoftmaxLayer,
    sigmoid,
)
from assignment.data_utils import load_fashion_mnist  # noqa: E402
from assignment.io_utils import write_json  # noqa: E402
from assignment.solver import Solver  # noqa: E402

NUM_VALIDATION = 10000
TRAIN_ACC_SAMPLES = 1000  # what the Solver draws each epoch to measure training accuracy (replayed by the peer)


def seed_split(root=None, num_train=None):
    """(training_data, validation_data, test_data) as the seeds' mnist.pkl.gz: (X float32 (N, 784) in [0, 1], y)."""
    X_train, y_train, X_test, y_test = load_fashion_mnist(root)
    X_train = (X_train.reshape(len(X_train), -1) / np.float32(255)).astype(np.float32)
    X_test = (X_test.reshape(len(X_test), -1) / np.float32(255)).astype(np.float32)
    cut = len(X_train) - NUM_VALIDATION
    train = (X_train[:cut], y_train[:cut])
    if num_train is not None:
        train = (train[0][:num_train], train[1][:num_train])
    return train, (X_train[cut:], y_train[cut:]), (X_test, y_test)


def _progression(act, p_dropout=0.0, convs=2, mbs=10):
    layers = []
    if convs >= 1:
        layers.append(ConvPoolLayer(filter_shape=(20, 1, 5, 5), image_shape=(mbs, 1, 28, 28), poolsize=(2, 2),
                                    activation_fn=act))
    if convs >= 2:
        layers.append(ConvPoolLayer(filter_shape=(40, 20, 5, 5), image_shape=(mbs, 20, 12, 12), poolsize=(2, 2),
                                    activation_fn=act))
    n_in = {0: 784, 1: 20 * 12 * 12, 2: 40 * 4 * 4}[convs]
    layers += [FullyConnectedLayer(n_in=n_in, n_out=100, activation_fn=act, p_dropout=p_dropout),
               SoftmaxLayer(n_in=100, n_out=10)]
    return layers


# key -> (what the table calls it, layers builder, eta, lmbda, mini-batch size)
ROWS = {
    "fc": ("1. FC 100 sigmoid + softmax", lambda: _progression(sigmoid, convs=0), 0.1, 0.0, 10),
    "conv1": ("2. + ConvPool 20x5x5, pool 2", lambda: _progression(sigmoid, convs=1), 0.1, 0.0, 10),
    "conv2": ("3. + ConvPool 40x5x5", lambda: _progression(sigmoid, convs=2), 0.1, 0.0, 10),
    "relu": ("4. ReLU everywhere", lambda: _progression(ReLU, convs=2), 0.03, 0.1, 10),
    "dropout": ("5. + dropout 0.5 on the FC layer", lambda: _progression(ReLU, p_dropout=0.5, convs=2), 0.03, 0.1, 10),
    "deepconvnet": ("6. DLFS DeepConvNet", None, 1e-3, 0.0, 100),
}
DEFAULT_EPOCHS = {"fc": 15, "conv1": 15, "conv2": 15, "relu": 15, "dropout": 15, "deepconvnet": 8}


def build_network(key, dtype=np.float32):
    _, builder, _, _, mbs = ROWS[key]
    if builder is None:
        return DeepConvNet(seed=0, dtype=dtype)
    return Network(builder(), mbs, dtype=dtype, seed=0)


# ----------------------------------------------------------------------------------------------
# Ours
# ----------------------------------------------------------------------------------------------


def run_ours(key, data, epochs):
    train, valid, test = data
    _, _, eta, lmbda, mbs = ROWS[key]
    net = build_network(key)
    start = time.perf_counter()
    if key == "deepconvnet":
        shaped = [(X.reshape(-1, 1, 28, 28), y) for X, y in data]
        solver = Solver(net, {"X_train": shaped[0][0], "y_train": shaped[0][1], "X_val": shaped[1][0],
                              "y_val": shaped[1][1]}, update_rule="adam", optim_config={"learning_rate": eta},
                        batch_size=mbs, num_epochs=epochs, num_train_samples=TRAIN_ACC_SAMPLES, verbose=False,
                        progress=False, seed=0)
        solver.train()  # leaves the parameters of the best validation epoch (the first of ties)
        history = solver.val_acc_history[1:]
        best_epoch = 1 + int(np.argmax(history))
        test_acc = solver.check_accuracy(*shaped[2])
        best_val = max(history)
    else:
        result = net.SGD(train, epochs, mbs, eta, valid, test, lmbda=lmbda, verbose=False, progress=False, seed=0)
        solver = result["solver"]
        history = solver.val_acc_history[1:]
        best_epoch, test_acc = result["best_epoch"], result["test_accuracy"]
        best_val = result["best_validation_accuracy"]
    wall = time.perf_counter() - start
    images = solver.iterations_per_epoch * mbs
    step_seconds = sum(images / t for t in solver.throughput_history)
    return {"key": key, "epochs": epochs, "val_history": history, "best_epoch": best_epoch,
            "best_val": best_val, "test_acc": test_acc, "wall_s": wall, "img_per_s": images * epochs / step_seconds}


# ----------------------------------------------------------------------------------------------
# The PyTorch peer: the same networks in PyTorch's functional API, from the same initial parameters
# ----------------------------------------------------------------------------------------------


def _torch_forward(torch, net, params, x, train):
    """network3's forward in PyTorch, reading the layer specs of our ``net``; logits."""
    F = torch.nn.functional
    acts = {"sigmoid": torch.sigmoid, "ReLU": torch.relu, "tanh": torch.tanh, "linear": lambda z: z}
    a = x
    for k, layer in enumerate(net.layers, start=1):
        w, b = params[f"W{k}"], params[f"b{k}"]
        if isinstance(layer, ConvPoolLayer):
            a = a.reshape(a.shape[0], *layer.image_shape[1:])
            z = F.max_pool2d(F.conv2d(a, w), layer.poolsize[0]) + b.reshape(1, -1, 1, 1)
            a = acts[layer.activation_fn.__name__](z)
            continue
        a = a.reshape(a.shape[0], -1)
        keep = 1.0 - layer.p_dropout
        if layer.p_dropout:
            a = a * torch.bernoulli(torch.full_like(a, keep)) if train else a * keep
        z = a @ w + b
        a = z if isinstance(layer, SoftmaxLayer) else acts[layer.activation_fn.__name__](z)
    return a


def _torch_accuracy(torch, forward, X, y, batch=1000):
    with torch.no_grad():
        hits = sum(int((forward(X[i:i + batch]).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(X), batch))
    return hits / len(X)


def run_torch(torch, key, data, epochs):
    train, valid, test = data
    _, _, eta, lmbda, mbs = ROWS[key]
    ours = build_network(key)
    torch.manual_seed(0)
    X, y = (torch.as_tensor(a) for a in train)
    Xv, yv = (torch.as_tensor(a) for a in valid)
    Xt, yt = (torch.as_tensor(a) for a in test)
    N = len(X)
    per_epoch = max(N // mbs, 1)
    rng = np.random.default_rng(0)  # replays the Solver's generator: accuracy sample, then the epoch's order
    if key == "deepconvnet":
        X, Xv, Xt = (a.reshape(-1, 1, 28, 28) for a in (X, Xv, Xt))
        model = torch_deep_convnet(torch)
        linears = [m for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        with torch.no_grad():
            for k, m in enumerate(linears, start=1):
                W = ours.params[f"W{k}"]
                m.weight.copy_(torch.as_tensor(W.T if W.ndim == 2 else W))
                m.bias.copy_(torch.as_tensor(ours.params[f"b{k}"]))
        opt = torch.optim.Adam(model.parameters(), lr=eta)
        loss_fn = torch.nn.CrossEntropyLoss()

        def forward(x):
            model.eval()
            return model(x)

        def step(idx):
            model.train()
            opt.zero_grad(set_to_none=True)
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()

        def snapshot():
            return {k: v.clone() for k, v in model.state_dict().items()}

        def restore(state):
            model.load_state_dict(state)
    else:
        params = {k: torch.tensor(v, requires_grad=True) for k, v in ours.params.items()}
        weights = [params[k] for k in params if k.startswith("W")]
        reg = lmbda / per_epoch

        def forward(x):
            return _torch_forward(torch, ours, params, x, train=False)

        def step(idx):
            logits = _torch_forward(torch, ours, params, X[idx], train=True)
            loss = torch.nn.functional.cross_entropy(logits, y[idx])
            if reg:
                loss = loss + 0.5 * reg * sum((w * w).sum() for w in weights)
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                for p, g in zip(params.values(), grads, strict=True):
                    p -= eta * g

        def snapshot():
            return {k: v.detach().clone() for k, v in params.items()}

        def restore(state):
            with torch.no_grad():
                for k, v in state.items():
                    params[k].copy_(v)

    start = time.perf_counter()
    step_seconds, history = 0.0, []
    best_val, best_epoch, test_acc, best_state = -1.0, None, None, None
    def replay_accuracy_sample():
        if N > TRAIN_ACC_SAMPLES:
            rng.choice(N, TRAIN_ACC_SAMPLES, replace=False)

    replay_accuracy_sample()
    for epoch in range(1, epochs + 1):
        order = torch.as_tensor(rng.permutation(N))
        t0 = time.perf_counter()
        for k in range(per_epoch):
            step(order[k * mbs:(k + 1) * mbs])
        step_seconds += time.perf_counter() - t0
        replay_accuracy_sample()
        val = _torch_accuracy(torch, forward, Xv, yv)
        history.append(val)
        better = val > best_val if key == "deepconvnet" else val >= best_val
        if better:
            best_val, best_epoch = val, epoch
            if key == "deepconvnet":
                best_state = snapshot()
            else:
                test_acc = _torch_accuracy(torch, forward, Xt, yt)
    if key == "deepconvnet":
        restore(best_state)
        test_acc = _torch_accuracy(torch, forward, Xt, yt)
    wall = time.perf_counter() - start
    return {"key": key, "epochs": epochs, "val_history": history, "best_epoch": best_epoch, "best_val": best_val,
            "test_acc": test_acc, "wall_s": wall, "img_per_s": per_epoch * mbs * epochs / step_seconds}


# ----------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------


def recipe(key):
    _, _, eta, lmbda, mbs = ROWS[key]
    if key == "deepconvnet":
        return f"adam {eta:g}, batch {mbs}"
    return f"SGD eta {eta:g}, mini-batch {mbs}" + (f", lmbda {lmbda:g}" if lmbda else "")


def table(ours, theirs, meta, command):
    lines = [
        f"Command: {command}",
        "",
        f"Full Fashion-MNIST in the seeds' split (50000 train / 10000 validation / 10000 test, pixels in [0, 1]), "
        f"float32; {meta}. Test accuracy at the best validation epoch (its epoch in brackets); the PyTorch peer is "
        "the same network from the same initial parameters, with the same recipe, epochs and minibatch order "
        "(module docstring of the script). img/s counts training steps only; the wall time includes the accuracy "
        "checks. The seeds train 60 epochs; the budgets here are the epochs column.",
        "",
        "| network | recipe | epochs | ours: test acc | PyTorch: test acc | ours - PyTorch (points) | within 0.5 | "
        "ours: wall | PyTorch: wall | ours img/s | PyTorch img/s | ours / PyTorch (img/s) |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for key in ROWS:
        if key not in ours or key not in theirs:
            continue
        o, t = ours[key], theirs[key]
        diff = 100 * (o["test_acc"] - t["test_acc"])
        lines.append(
            f"| {ROWS[key][0]} | {recipe(key)} | {o['epochs']} | {o['test_acc']:.4f} ({o['best_epoch']}) | "
            f"{t['test_acc']:.4f} ({t['best_epoch']}) | {diff:+.2f} | {'yes' if abs(diff) <= 0.5 else '**no**'} | "
            f"{o['wall_s'] / 60:.1f} min | {t['wall_s'] / 60:.1f} min | {o['img_per_s']:.0f} | {t['img_per_s']:.0f} | "
            f"{o['img_per_s'] / t['img_per_s']:.2f} |")
    both = [key for key in ROWS if key in ours and key in theirs]
    close = sum(abs(ours[k]["test_acc"] - theirs[k]["test_acc"]) <= 0.005 for k in both)
    lines += ["", f"Rows within 0.5 points of their PyTorch peer: {close} of {len(both)}.",
              "", "Validation accuracy per epoch:", ""]
    for key in ROWS:
        for name, runs in (("ours", ours), ("PyTorch", theirs)):
            if key in runs:
                curve = " ".join(f"{v:.4f}" for v in runs[key]["val_history"])
                lines.append(f"- {ROWS[key][0]}, {name}: {curve}")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", choices=["ours", "torch", "both"], default="both")
    p.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    p.add_argument("--epochs", type=int, default=None, help="epochs for every row (default: DEFAULT_EPOCHS)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--num-train", type=int, default=None, help="training images (default: all 50000)")
    p.add_argument("--json", help="write the runs here")
    p.add_argument("--merge", nargs="+", help="JSON files of earlier runs to make the table from")
    p.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = p.parse_args(argv)

    runs = {"ours": {}, "torch": {}}
    metas = []
    if args.merge:
        for path in args.merge:
            with open(path) as f:
                record = json.load(f)
            for name in ("ours", "torch"):
                runs[name].update(record["runs"][name])
            metas.append(record["meta"])
    else:
        data = seed_split(num_train=args.num_train)
        import torch

        torch.set_num_threads(args.threads)
        meta = (f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} thread(s) per framework, "
                f"torch {torch.__version__}, numpy {np.__version__}")
        metas.append(meta)
        with threadpool_limits(limits=args.threads):
            for key in args.rows:
                epochs = args.epochs or DEFAULT_EPOCHS[key]
                for name in ("ours", "torch"):
                    if args.framework not in (name, "both"):
                        continue
                    run = run_ours(key, data, epochs) if name == "ours" else run_torch(torch, key, data, epochs)
                    runs[name][key] = run
                    print(f"{ROWS[key][0]}, {name}: test acc {run['test_acc']:.4f} at epoch {run['best_epoch']} "
                          f"(best val {run['best_val']:.4f}); {run['wall_s'] / 60:.1f} min, "
                          f"{run['img_per_s']:.0f} img/s", flush=True)
        if args.json:
            write_json(args.json, {"meta": meta, "runs": runs, "argv": argv if argv is not None else sys.argv[1:]})
    command_args = argv if argv is not None else sys.argv[1:]
    command = "`" + " ".join(["python benchmarks/bench_seed_networks.py", *command_args]) + "`"
    if args.merge:
        sources = []
        for path in args.merge:
            with open(path) as f:
                sources.append("`python benchmarks/bench_seed_networks.py " + " ".join(json.load(f)["argv"]) + "`")
        command = ", then ".join(sources) + f" (at the same time), then {command}"
    text = table(runs["ours"], runs["torch"], "; ".join(dict.fromkeys(metas)), command)
    print(text)
    if args.write:
        update_section("seed-networks", "Seed networks", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
