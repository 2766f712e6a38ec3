"""The Solver: trains a classification model with minibatch gradient descent.

The model protocol is CS231n's:

- ``model.params``: a dict mapping parameter names to arrays;
- ``model.loss(X, y=None)``: with ``y=None`` returns scores of shape (N, C); with labels
  returns ``(loss, grads)``, ``grads`` keyed like ``model.params``.

Usage::

    solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 1e-3},
                    lr_decay=0.95, num_epochs=10, batch_size=100, print_every=100)
    solver.train()

``data`` holds ``X_train``, ``y_train``, ``X_val``, ``y_val``. After ``train()`` the model holds
the parameters that scored best on the validation set, and ``solver.loss_history``,
``solver.train_acc_history`` and ``solver.val_acc_history`` hold the curves.

Beyond CS231n: minibatches come from a seeded local ``np.random.Generator`` (each epoch
visits the training set in a fresh random order), a tqdm progress bar shows the steps, and
checkpoints are a ``.npz`` of arrays plus a ``.json`` of everything else, written atomically
(never pickle), from which ``Solver(..., resume=path)`` continues training.
"""

import copy
import json
import os
import time

import numpy as np
from tqdm.auto import tqdm

from assignment import optim
from assignment.devices import array_module, to_host
from assignment.io_utils import atomic_open, sha256_of, write_json, write_npz

CHECKPOINT_FORMAT = "assignment-solver-checkpoint"
CHECKPOINT_VERSION = 1

_DEFAULTS = {
    "update_rule": "sgd",
    "optim_config": None,
    "lr_decay": 1.0,
    "batch_size": 100,
    "num_epochs": 10,
    "num_train_samples": 1000,
    "num_val_samples": None,
    "checkpoint_name": None,
    "print_every": 10,
    "verbose": True,
    "progress": None,
    "seed": 0,
    "resume": None,
    "epoch_callback": None,
}


class Solver:
    """Trains ``model`` on ``data``; see the module docstring.

    Required arguments:
    - model: an object with ``params`` and ``loss(X, y=None)`` as above
    - data: dict with X_train (N_train, ...), y_train (N_train,), X_val (N_val, ...), y_val (N_val,)

    Optional keyword arguments:
    - update_rule: a name in ``optim.UPDATE_RULES`` or a callable ``(w, dw, config) -> (next_w, config)``
      (default "sgd")
    - optim_config: hyperparameters passed to the update rule; each parameter gets its own copy
    - lr_decay: after each epoch the learning rate is multiplied by this (default 1.0)
    - batch_size: minibatch size (default 100)
    - num_epochs: epochs to train for (default 10)
    - num_train_samples: training examples to measure training accuracy on (default 1000;
      None for all)
    - num_val_samples: validation examples to measure accuracy on (default None: all)
    - checkpoint_name: when set, a checkpoint ``<checkpoint_name>_epoch_<e>.{npz,json}`` is
      written after every epoch
    - print_every: print the training loss every this many iterations (default 10)
    - verbose: print progress; False silences everything (default True)
    - progress: show a tqdm progress bar (default: same as verbose)
    - seed: seed of the Solver's generator, which orders the minibatches and subsamples
      the accuracy checks (default 0)
    - resume: path of a checkpoint (.json or .npz, or the common prefix) to continue from
    - epoch_callback: called as ``epoch_callback(solver)`` after each epoch, once that epoch's
      accuracies are in the histories and before its checkpoint is written (default None)

    Unknown keyword arguments raise ValueError.
    """

    def __init__(self, model, data, **kwargs):
        unknown = sorted(set(kwargs) - set(_DEFAULTS))
        if unknown:
            raise ValueError(f"Unrecognized arguments: {', '.join(unknown)} (known: {', '.join(sorted(_DEFAULTS))})")
        options = {**_DEFAULTS, **kwargs}
        self.model = model
        self._check_data(data)
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]

        self.update_rule = options["update_rule"]
        if isinstance(self.update_rule, str):
            if self.update_rule not in optim.UPDATE_RULES:
                raise ValueError(
                    f"update_rule {self.update_rule!r} is not one of {sorted(optim.UPDATE_RULES)} (or pass a callable)"
                )
            self._update = optim.UPDATE_RULES[self.update_rule]
        elif callable(self.update_rule):
            self._update = self.update_rule
        else:
            raise ValueError(f"update_rule must be a name or a callable, got {type(self.update_rule).__name__}")
        self.optim_config = dict(options["optim_config"] or {})
        self.lr_decay = options["lr_decay"]
        self.batch_size = int(options["batch_size"])
        self.num_epochs = int(options["num_epochs"])
        if self.batch_size < 1 or self.num_epochs < 0:
            raise ValueError(
                f"batch_size must be >= 1 and num_epochs >= 0, got {self.batch_size} and {self.num_epochs}"
            )
        self.num_train_samples = options["num_train_samples"]
        self.num_val_samples = options["num_val_samples"]
        self.checkpoint_name = options["checkpoint_name"]
        self.print_every = options["print_every"]
        self.verbose = options["verbose"]
        self.progress = self.verbose if options["progress"] is None else options["progress"]
        self.epoch_callback = options["epoch_callback"]
        if self.epoch_callback is not None and not callable(self.epoch_callback):
            raise ValueError(f"epoch_callback must be callable, got {type(self.epoch_callback).__name__}")
        self.seed = options["seed"]
        self.rng = np.random.default_rng(self.seed)
        self._reset()
        if options["resume"] is not None:
            self.load_checkpoint(options["resume"])

    @staticmethod
    def _check_data(data):
        for key in ("X_train", "y_train", "X_val", "y_val"):
            if key not in data:
                raise ValueError(f"data must contain {key!r}, got keys {sorted(data)}")
        for split in ("train", "val"):
            X, y = data[f"X_{split}"], data[f"y_{split}"]
            if len(y.shape) != 1 or X.shape[0] != y.shape[0]:
                raise ValueError(
                    f"data['X_{split}'] of shape {X.shape} needs labels data['y_{split}'] of shape "
                    f"({X.shape[0]},), got shape {y.shape}"
                )
        if data["X_train"].shape[0] == 0:
            raise ValueError("data['X_train'] holds no examples")

    def _reset(self):
        """Book-keeping; called by the constructor, not by hand."""
        self.epoch = 0
        self.iteration = 0
        self.best_val_acc = 0.0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.throughput_history = []
        self.optim_configs = {name: copy.deepcopy(self.optim_config) for name in self.model.params}
        self._order = None

    @property
    def iterations_per_epoch(self):
        return max(self.X_train.shape[0] // self.batch_size, 1)

    def _minibatch_indices(self):
        """Indices of the next minibatch: a fresh random order each epoch, no repeats within it.

        The order is drawn on the host and moved, once per epoch, to the device the training
        data lives on, so that a step indexes device arrays with device indices.
        """
        num_train = self.X_train.shape[0]
        k = self.iteration % self.iterations_per_epoch
        if k == 0 or self._order is None:
            self._order = array_module(self.X_train).asarray(self.rng.permutation(num_train))
        return self._order[k * self.batch_size : (k + 1) * self.batch_size]

    def _step(self):
        """One gradient update; records the loss."""
        idx = self._minibatch_indices()
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        self.loss_history.append(float(loss))
        for name, w in self.model.params.items():
            next_w, next_config = self._update(w, grads[name], self.optim_configs[name])
            self.model.params[name] = next_w
            self.optim_configs[name] = next_config
        return len(idx)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of examples of X whose highest score is the label in y.

        Inputs:
        - X: data, of shape (N, ...)
        - y: labels, of shape (N,)
        - num_samples: when set and smaller than N, accuracy on that many examples drawn
          (without replacement) by the Solver's generator
        - batch_size: examples per forward pass

        Returns:
        - acc: a float in [0, 1]
        """
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            idx = array_module(X).asarray(self.rng.choice(N, num_samples, replace=False))
            X, y = X[idx], y[idx]
        return accuracy(self.model, X, y, batch_size)

    def _record_accuracy(self):
        train_acc = self.check_accuracy(self.X_train, self.y_train, num_samples=self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        if val_acc > self.best_val_acc or not self.best_params:
            self.best_val_acc = max(val_acc, self.best_val_acc)
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        return train_acc, val_acc

    def _say(self, message):
        if self.verbose:
            tqdm.write(message)

    def train(self):
        """Runs the optimization for the remaining epochs; leaves the best parameters in the model."""
        per_epoch = self.iterations_per_epoch
        num_iterations = self.num_epochs * per_epoch
        if not self.val_acc_history:
            train_acc, val_acc = self._record_accuracy()
            self._say(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}")
        bar = tqdm(total=num_iterations, initial=self.iteration, disable=not self.progress, unit="it",
                   desc="train", leave=False)
        try:
            epoch_start, epoch_images = time.perf_counter(), 0
            while self.iteration < num_iterations:
                epoch_images += self._step()
                self.iteration += 1
                bar.update(1)
                bar.set_postfix(loss=f"{self.loss_history[-1]:.4f}", refresh=False)
                if self.print_every and self.iteration % self.print_every == 0:
                    self._say(f"(Iteration {self.iteration} / {num_iterations}) loss: {self.loss_history[-1]:f}")
                if self.iteration % per_epoch == 0:
                    seconds = time.perf_counter() - epoch_start
                    self.throughput_history.append(epoch_images / max(seconds, 1e-12))
                    self.epoch += 1
                    for config in self.optim_configs.values():
                        if "learning_rate" in config:
                            config["learning_rate"] *= self.lr_decay
                    train_acc, val_acc = self._record_accuracy()
                    self._say(
                        f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; val_acc: {val_acc:f}; "
                        f"{self.throughput_history[-1]:.0f} img/s"
                    )
                    if self.epoch_callback is not None:
                        self.epoch_callback(self)
                    if self.checkpoint_name:
                        self.save_checkpoint(f"{self.checkpoint_name}_epoch_{self.epoch}")
                    epoch_start, epoch_images = time.perf_counter(), 0
        finally:
            bar.close()
        if self.best_params:
            self.model.params = {k: v.copy() for k, v in self.best_params.items()}

    # ------------------------------------------------------------------------------------------
    # Checkpoints: <prefix>.npz holds every array, <prefix>.json everything else and the
    # sha256 of the .npz. The .npz is written first and the .json last, each atomically, so a
    # .json always describes a complete .npz.
    # ------------------------------------------------------------------------------------------

    def save_checkpoint(self, prefix):
        """Write ``<prefix>.npz`` and ``<prefix>.json``; returns the path of the .json."""
        prefix = os.fspath(prefix)
        arrays, scalars = {}, {}
        for name, value in self.model.params.items():
            arrays[f"params/{name}"] = to_host(value)
        for name, value in self.best_params.items():
            arrays[f"best_params/{name}"] = to_host(value)
        for name, config in self.optim_configs.items():
            scalars[name] = {}
            for key, value in config.items():
                if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
                    arrays[f"optim/{name}/{key}"] = to_host(value)
                else:
                    scalars[name][key] = value.item() if hasattr(value, "item") else value
        npz_path = prefix + ".npz"
        digest = write_npz(npz_path, arrays)
        record = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "arrays": os.path.basename(npz_path),
            "arrays_sha256": digest,
            "model": type(self.model).__name__,
            "update_rule": self.update_rule if isinstance(self.update_rule, str) else None,
            "epoch": self.epoch,
            "iteration": self.iteration,
            "batch_size": self.batch_size,
            "num_epochs": self.num_epochs,
            "lr_decay": self.lr_decay,
            "best_val_acc": self.best_val_acc,
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
            "throughput_history": self.throughput_history,
            "optim_scalars": scalars,
            "rng_state": self.rng.bit_generator.state,
        }
        json_path = prefix + ".json"
        write_json(json_path, record)
        return json_path

    def load_checkpoint(self, path):
        """Restore model parameters, optimizer state, histories and the generator from a checkpoint."""
        path = os.fspath(path)
        prefix, ext = os.path.splitext(path)
        if ext not in (".json", ".npz"):
            prefix = path
        json_path = prefix + ".json"
        try:
            with open(json_path) as f:
                record = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"checkpoint {json_path} does not exist") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"checkpoint {json_path} is not valid JSON: {e}") from None
        if record.get("format") != CHECKPOINT_FORMAT or record.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{json_path} is not a version-{CHECKPOINT_VERSION} Solver checkpoint")
        npz_path = os.path.join(os.path.dirname(json_path), record["arrays"])
        if not os.path.exists(npz_path):
            raise FileNotFoundError(f"checkpoint arrays {npz_path} (named by {json_path}) do not exist")
        if sha256_of(npz_path) != record["arrays_sha256"]:
            raise ValueError(f"checkpoint arrays {npz_path} do not match the sha256 recorded in {json_path}")
        if record["batch_size"] != self.batch_size:
            raise ValueError(f"checkpoint {json_path} was trained with batch_size {record['batch_size']}, "
                             f"this Solver has {self.batch_size}")

        with np.load(npz_path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        params, best, states = {}, {}, {}
        for key, value in arrays.items():
            kind, _, rest = key.partition("/")
            if kind == "params":
                params[rest] = value
            elif kind == "best_params":
                best[rest] = value
            elif kind == "optim":
                name, _, state_key = rest.partition("/")
                states.setdefault(name, {})[state_key] = value
        if set(params) != set(self.model.params):
            raise ValueError(f"checkpoint {json_path} holds parameters {sorted(params)}, "
                             f"the model has {sorted(self.model.params)}")
        like = self.model.params
        for name, value in params.items():
            if value.shape != like[name].shape:
                raise ValueError(
                    f"checkpoint parameter {name} has shape {value.shape}, the model's has {like[name].shape}"
                )
        xp = array_module(*like.values())
        self.model.params = {k: xp.asarray(v) for k, v in params.items()}
        self.best_params = {k: xp.asarray(v) for k, v in best.items()}
        self.optim_configs = {}
        for name in self.model.params:
            config = dict(record["optim_scalars"].get(name, {}))
            config.update({k: xp.asarray(v) for k, v in states.get(name, {}).items()})
            self.optim_configs[name] = config
        self.epoch = record["epoch"]
        self.iteration = record["iteration"]
        self.best_val_acc = record["best_val_acc"]
        self.loss_history = list(record["loss_history"])
        self.train_acc_history = list(record["train_acc_history"])
        self.val_acc_history = list(record["val_acc_history"])
        self.throughput_history = list(record.get("throughput_history", []))
        self.rng.bit_generator.state = record["rng_state"]
        self._order = None


def accuracy(model, X, y, batch_size=100):
    """Fraction of the examples of X whose highest score (``model.loss(X)``) is their label in y;
    0.0 for no examples. Scores are computed ``batch_size`` examples at a time."""
    N = X.shape[0]
    if N == 0:
        return 0.0
    correct = 0
    for start in range(0, N, batch_size):
        scores = model.loss(X[start : start + batch_size])
        correct += int((scores.argmax(axis=1) == y[start : start + batch_size]).sum())
    return correct / N


def plot_history(solver, path=None, title=None):
    """Plot a Solver's training loss and train/val accuracy per epoch.

    Inputs:
    - solver: a Solver after (some) training, or any object with loss_history,
      train_acc_history and val_acc_history
    - path: when given, the figure is saved there as a PNG (atomically)
    - title: an optional figure title

    Returns the matplotlib Figure (shown inline in a notebook).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(11, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(solver.loss_history, ".", markersize=2, alpha=0.5, label="minibatch loss")
    if len(solver.loss_history) >= 20:
        k = max(len(solver.loss_history) // 50, 5)
        smooth = np.convolve(solver.loss_history, np.ones(k) / k, mode="valid")
        ax_loss.plot(np.arange(k - 1, len(solver.loss_history)), smooth, label=f"mean of {k}")
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("training loss")
    ax_loss.legend()
    epochs = np.arange(len(solver.train_acc_history))
    ax_acc.plot(epochs, solver.train_acc_history, "o-", label="train")
    ax_acc.plot(epochs, solver.val_acc_history, "o-", label="val")
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
    return fig
