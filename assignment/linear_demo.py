"""The linear demo: train a softmax classifier on the embedded Fashion-MNIST subset, for real.

    python -m assignment.linear_demo [--epochs 15] [--lr 0.5] [--out runs/linear_demo] ...

Runs offline in seconds: minibatch SGD over a few epochs with a progress bar, train and
validation accuracy and throughput (images per second) after each epoch, the test accuracy
at the end; then writes a loss/accuracy plot (``history.png``) and the trained weights with
their preprocessing (``softmax_weights.npz``) into the output folder, each atomically.

The training loop is kept here on purpose, short and visible, with the given update rule
``optim.sgd`` (``LinearClassifier.train``, the students' own loop, is not copied here); the
Solver (``assignment.solver``) is the general one.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from assignment import data_utils, optim
from assignment.classifiers.linear import Softmax
from assignment.io_utils import atomic_open, write_npz


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m assignment.linear_demo", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15, help="passes over the training set (default 15)")
    p.add_argument("--batch-size", type=int, default=200, help="examples per SGD step (default 200)")
    p.add_argument("--lr", type=float, default=0.5, help="SGD learning rate (default 0.5)")
    p.add_argument("--lr-decay", type=float, default=0.9, help="learning rate factor after each epoch")
    p.add_argument("--reg", type=float, default=1e-4, help="regularization strength (default 1e-4)")
    p.add_argument("--reg-type", choices=["l2", "l1"], default="l2")
    p.add_argument("--num-train", type=int, default=None, help="use only this many training images")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialization and the shuffling")
    p.add_argument("--out", default="runs/linear_demo", help="output folder (default runs/linear_demo)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr <= 0:
        p.error("--lr must be positive")
    return args


def accuracy(model, X, y, batch_size=1000):
    """Fraction of X classified as y, evaluated in chunks."""
    hits = sum(int((model.predict(X[i:i + batch_size]) == y[i:i + batch_size]).sum())
               for i in range(0, X.shape[0], batch_size))
    return hits / X.shape[0]


def train(model, data, epochs, batch_size, lr, lr_decay, rng, progress=True, log=print):
    """Minibatch SGD over shuffled epochs; returns the history dict.

    Inputs:
    - model: a classifier with params, loss(X, y) -> (loss, grads) and predict(X)
    - data: get_data's dict with X_* of shape (N, D) and y_* of shape (N,)
    - epochs, batch_size, lr: as their names say; lr is multiplied by lr_decay after each epoch
    - rng: the np.random.Generator that shuffles each epoch
    - progress: show a tqdm bar; log: where the per-epoch lines go

    Returns a dict of lists: "loss" (one per step), "train_acc", "val_acc", "img_per_s" (one
    per epoch).
    """
    X, y = data["X_train"], data["y_train"]
    N = X.shape[0]
    steps = (N + batch_size - 1) // batch_size
    history = {"loss": [], "train_acc": [], "val_acc": [], "img_per_s": []}
    bar = tqdm(total=epochs * steps, disable=not progress, unit="step", leave=False, file=sys.stderr)
    try:
        for epoch in range(1, epochs + 1):
            order = rng.permutation(N)
            seen, t0 = 0, time.perf_counter()
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                loss, grads = model.loss(X[idx], y[idx])
                for name in model.params:  # the given update rule, as the Solver applies it
                    model.params[name], _ = optim.sgd(model.params[name], grads[name], {"learning_rate": lr})
                history["loss"].append(loss)
                seen += idx.size
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss:.3f}")
            rate = seen / max(time.perf_counter() - t0, 1e-9)
            history["img_per_s"].append(rate)
            history["train_acc"].append(accuracy(model, X, y))
            history["val_acc"].append(accuracy(model, data["X_val"], data["y_val"]))
            lr *= lr_decay
            line = (f"epoch {epoch:2d}/{epochs}: loss {loss:.4f}  train acc {history['train_acc'][-1]:.4f}"
                    f"  val acc {history['val_acc'][-1]:.4f}  {rate:,.0f} img/s")
            if progress:
                tqdm.write(line, file=sys.stdout)
            else:
                log(line)
    finally:
        bar.close()
    return history


def save_plot(history, path, title):
    """Loss per step and train/val accuracy per epoch, side by side, as a PNG (Agg, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(history["loss"], lw=0.8)
    ax_loss.set(xlabel="iteration", ylabel="training loss", title="loss")
    epochs = np.arange(1, len(history["train_acc"]) + 1)
    ax_acc.plot(epochs, history["train_acc"], "o-", label="train")
    ax_acc.plot(epochs, history["val_acc"], "o-", label="val")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax_acc.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)


def main(argv=None):
    """Run the demo; returns a dict with the accuracies, timings and the paths written."""
    args = parse_args(argv)
    start = time.perf_counter()
    data = data_utils.get_data("embedded", num_training=args.num_train, flatten=True, dtype=np.float32)
    embedded = data_utils.load_embedded()
    X_raw = embedded["X_train"][: data["X_train"].shape[0]]
    mean_image = (np.mean(X_raw, axis=0, dtype=np.float64) / 255.0).astype(np.float32).reshape(-1)
    D, C = data["X_train"].shape[1], len(embedded["class_names"])
    print(f"embedded Fashion-MNIST subset: {data['X_train'].shape[0]} train, {data['X_val'].shape[0]} val, "
          f"{data['X_test'].shape[0]} test images of {D} pixels, {C} classes")
    print(f"Softmax classifier, {args.reg_type} reg {args.reg:g}, SGD lr {args.lr:g} (x{args.lr_decay:g}/epoch), "
          f"batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}")

    model = Softmax(D, C, reg=args.reg, reg_type=args.reg_type, dtype=np.float32, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    history = train(model, data, args.epochs, args.batch_size, args.lr, args.lr_decay, rng,
                    progress=not args.no_progress)
    train_time = time.perf_counter() - t0
    test_acc = accuracy(model, data["X_test"], data["y_test"])
    mean_rate = float(np.mean(history["img_per_s"]))
    print(f"test acc {test_acc:.4f} (chance {1 / C:.2f}); trained in {train_time:.1f} s, "
          f"{mean_rate:,.0f} img/s on average")

    out = Path(args.out)
    plot_path, weights_path = out / "history.png", out / "softmax_weights.npz"
    save_plot(history, plot_path, f"Softmax on embedded Fashion-MNIST: test acc {test_acc:.3f}")
    arrays = {
        "W": model.params["W"], "b": model.params["b"],
        # to classify raw uint8 images x (N, 28, 28): scores = (x.reshape(N, -1) / 255 - mean_image) @ W + b
        "mean_image": mean_image,
        "class_names": np.array(embedded["class_names"]),
        "loss_history": np.array(history["loss"]),
        "train_acc_history": np.array(history["train_acc"]),
        "val_acc_history": np.array(history["val_acc"]),
        "test_acc": np.array(test_acc),
    }
    write_npz(weights_path, arrays)
    print(f"wrote {plot_path} and {weights_path} ({time.perf_counter() - start:.1f} s in all)")
    return {
        "train_acc": history["train_acc"][-1], "val_acc": history["val_acc"][-1], "test_acc": test_acc,
        "img_per_s": mean_rate, "train_seconds": train_time,
        "plot": plot_path, "weights": weights_path, "history": history,
    }


if __name__ == "__main__":
    main()
