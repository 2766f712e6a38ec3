"""Train a model from the command line.

    python -m assignment.train --model deepconvnet --data fashion-mnist --epochs 20

prints train/val accuracy and throughput (img/s) per epoch, the test accuracy of the best
parameters at the end, and writes into --out: a checkpoint per epoch (.npz + .json), the
loss/accuracy plot (curves.png) and summary.json. Everything is written atomically.
"""

import argparse
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from assignment.data_utils import get_data
from assignment.devices import require_cupy
from assignment.io_utils import write_json
from assignment.solver import Solver, plot_history

MODELS = ("deepconvnet", "threelayerconvnet", "fc", "twolayer")
DATASETS = ("embedded", "fashion-mnist", "mnist", "cifar10")
DATA_TITLES = {"embedded": "the embedded Fashion-MNIST subset", "fashion-mnist": "Fashion-MNIST", "mnist": "MNIST",
               "cifar10": "CIFAR-10"}


def build_model(name, data, args):
    """The model called ``name``, sized for the images in ``data``."""
    from assignment.classifiers.cnn import DeepConvNet, ThreeLayerConvNet
    from assignment.classifiers.fc_net import FullyConnectedNet, TwoLayerNet

    input_dim = data["X_train"].shape[1:]
    flat = int(np.prod(input_dim))
    common = dict(reg=args.reg, dtype=args.dtype, seed=args.seed, backend=args.backend)
    if name == "deepconvnet":
        return DeepConvNet(input_dim=input_dim, **common)
    if name == "threelayerconvnet":
        return ThreeLayerConvNet(input_dim=input_dim, weight_scale=args.weight_scale or 1e-2, **common)
    if name == "fc":
        return FullyConnectedNet(args.hidden_dims, input_dim=flat, weight_scale=args.weight_scale or 5e-2,
                                 normalization=args.normalization, **common)
    if name == "twolayer":
        return TwoLayerNet(input_dim=flat, hidden_dim=args.hidden_dims[0], weight_scale=args.weight_scale or 1e-3,
                           **common)
    raise ValueError(f"--model must be one of {MODELS}, got {name!r}")


def parse_args(argv=None, **defaults):
    p = argparse.ArgumentParser(prog="python -m assignment.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=MODELS, default="deepconvnet")
    p.add_argument("--data", choices=DATASETS, default="embedded")
    p.add_argument("--data-root", default=None, help="directory of the data files (else the environment/defaults)")
    p.add_argument("--num-train", type=int, default=None, help="training examples to use (default: all)")
    p.add_argument("--num-val", type=int, default=None, help="validation examples (default: per data set)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--update-rule", default="adam")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--lr-decay", type=float, default=1.0, help="learning-rate factor after each epoch")
    p.add_argument("--reg", type=float, default=0.0, help="L2 strength")
    p.add_argument("--weight-scale", type=float, default=None)
    p.add_argument("--hidden-dims", type=int, nargs="+", default=[100, 100], help="hidden sizes of fc / twolayer")
    p.add_argument("--normalization", choices=["batchnorm", "layernorm"], default=None)
    p.add_argument("--backend", choices=["fast", "naive"], default="fast", help="CPU layers (the GPU has its own)")
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="gpu: CuPy on a CUDA device")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (default: all cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/train", help="directory for checkpoints, plot and summary")
    p.add_argument("--resume", default=None, help="checkpoint (.json) to continue from")
    p.add_argument("--print-every", type=int, default=0, help="print the loss every N iterations (0: never)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(**defaults)
    args = p.parse_args(argv)
    if args.epochs < 0 or args.batch_size < 1:
        p.error("--epochs must be >= 0 and --batch-size >= 1")
    return args


def run(args):
    """Train as ``args`` say; returns the summary dict (also written to OUT/summary.json)."""
    started = time.perf_counter()
    data = get_data(args.data, root=args.data_root, num_training=args.num_train, num_validation=args.num_val,
                    dtype=np.dtype(args.dtype))
    n_train, n_val, n_test = (data[f"y_{s}"].shape[0] for s in ("train", "val", "test"))
    print(f"data: {args.data}, {n_train} train / {n_val} val / {n_test} test images of shape "
          f"{data['X_train'].shape[1:]}")
    model = build_model(args.model, data, args)
    if args.device == "gpu":
        cupy = require_cupy()
        data = {k: cupy.asarray(v) for k, v in data.items()}     # once; the training loop never copies
        model.to("gpu")
    print(f"model: {type(model).__name__} ({sum(v.size for v in model.params.values()):,} parameters, "
          f"{args.dtype}, {model.ops.name} layers on the {args.device})")
    os.makedirs(args.out, exist_ok=True)
    solver = Solver(
        model, data,
        update_rule=args.update_rule,
        optim_config={"learning_rate": args.lr},
        lr_decay=args.lr_decay,
        batch_size=args.batch_size,
        num_epochs=args.epochs,
        num_train_samples=1000,
        checkpoint_name=os.path.join(args.out, "checkpoint"),
        print_every=args.print_every,
        progress=not args.no_progress,
        seed=args.seed,
        resume=args.resume,
    )
    with threadpool_limits(limits=args.threads):
        train_started = time.perf_counter()
        solver.train()
        train_seconds = time.perf_counter() - train_started
        test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
    print(f"test accuracy of the best parameters: {test_acc:.4f}")
    plot_history(solver, os.path.join(args.out, "curves.png"),
                 title=f"{type(model).__name__} on {DATA_TITLES.get(args.data, args.data)}, "
                       f"{n_train} training images ({args.epochs} epochs)")
    summary = {
        "model": args.model,
        "data": args.data,
        "epochs": solver.epoch,
        "train_images": n_train,
        "dtype": args.dtype,
        "backend": model.ops.name,
        "device": args.device,
        "threads": args.threads,
        "seed": args.seed,
        "best_val_acc": solver.best_val_acc,
        "test_acc": test_acc,
        "train_acc_history": solver.train_acc_history,
        "val_acc_history": solver.val_acc_history,
        "throughput_img_per_s": solver.throughput_history,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - started,
    }
    write_json(os.path.join(args.out, "summary.json"), summary)
    print(f"wrote {args.out}/curves.png, {args.out}/summary.json and per-epoch checkpoints")
    return summary


def main(argv=None, **defaults):
    args = parse_args(argv, **defaults)
    try:
        run(args)
    except (FileNotFoundError, RuntimeError) as e:     # missing data, no GPU: say so, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
