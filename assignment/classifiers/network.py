"""Michael Nielsen's ``network3`` API ("Neural Networks and Deep Learning", chapter 6) on this
package's layers.

The seeds build their networks with it::

    net = Network([
        ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2)),
        FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
    net.SGD(training_data, 60, mini_batch_size, 0.1, validation_data, test_data)

What is the same as in ``network3`` (which runs on Theano):

- ``ConvPoolLayer``: a valid convolution (stride 1, no padding, no bias), a max-pool with
  non-overlapping ``poolsize`` windows (rows and columns that do not fill a window are dropped,
  as Theano's ``ignore_border=True``), then ``+ b``, then the activation. Theano's ``conv2d``
  flips the kernels (a true convolution) and ours cross-correlates: the learned weights absorb
  the flip, so the two networks compute the same family of functions.
- Dropout (``p_dropout``) applies to a layer's *input* during training and keeps each unit with
  probability ``1 - p_dropout``, without rescaling; at test time the input is scaled by
  ``1 - p_dropout``. That is the ``"vanilla"`` kind of ``dropout_forward``.
- Initialization: a ``FullyConnectedLayer``'s w ~ N(0, 1/n_out) (standard deviation
  ``sqrt(1/n_out)``), a ``ConvPoolLayer``'s w ~ N(0, 1/n_out) with
  ``n_out = F * prod(filter) / prod(poolsize)``, every b ~ N(0, 1); a ``SoftmaxLayer`` starts
  at zero.
- The cost: the mean negative log-likelihood of the softmax, plus
  ``0.5 * lmbda * sum(||w||^2) / num_training_batches`` over every layer's w (not the biases).
- ``SGD``: plain minibatch gradient descent at ``eta``; after every epoch the validation
  accuracy, and the test accuracy whenever the validation accuracy is the best so far (ties
  included, as in the seed).

What differs, on purpose:

- The parameters are numpy (or CuPy) arrays named ``W1, b1, W2, b2, ...`` in layer order, and
  the model follows the Solver's protocol (``params``; ``loss(X, y=None)``), so ``Solver`` and
  the gradient checker work on it. ``SGD`` drives a ``Solver``.
- Scores are the ``SoftmaxLayer``'s logits (network3's output is the softmax probabilities; the
  argmax, and so the accuracy, is the same).
- Any batch size runs (Theano compiled one ``mini_batch_size``); ``image_shape[0]`` is ignored.
- Epochs are counted from 1, and after ``SGD`` the network holds the parameters of the epoch
  whose test accuracy it reports.
- Weights come from the network's own seeded generator, not the global numpy state.
"""

import numpy as np
from tqdm.auto import tqdm

from assignment import layers
from assignment.checks import conv_output_shape
from assignment.classifiers.base import Model
from assignment.devices import array_module, require_cupy, to_host
from assignment.solver import Solver, accuracy

# ----------------------------------------------------------------------------------------------
# Activations: callable on arrays like network3's, and each names the layer that computes it
# ----------------------------------------------------------------------------------------------


class Activation:
    """An activation function: ``activation(z)`` computes it on an array; models run it through
    ``forward(ops, z)`` / ``backward(ops, dout, cache)`` with the layer table ``ops`` (naive,
    fast or GPU), so that it runs where the network runs."""

    def __init__(self, name, layer):
        self.__name__ = name
        self.layer = layer  # "relu", "sigmoid", "tanh", or None for the identity

    def __repr__(self):
        return self.__name__

    def __call__(self, z):
        return self.forward(layers, z)[0]

    def forward(self, ops, z):
        if self.layer is None:
            return z, None
        return getattr(ops, f"{self.layer}_forward")(z)

    def backward(self, ops, dout, cache):
        if self.layer is None:
            return dout
        return getattr(ops, f"{self.layer}_backward")(dout, cache)


sigmoid = Activation("sigmoid", "sigmoid")
tanh = Activation("tanh", "tanh")
ReLU = Activation("ReLU", "relu")
linear = Activation("linear", None)
ACTIVATIONS = (sigmoid, tanh, ReLU, linear)


def _require_activation(activation_fn):
    if not isinstance(activation_fn, Activation):
        names = ", ".join(a.__name__ for a in ACTIVATIONS)
        raise ValueError(f"activation_fn must be one of {names} (from assignment.classifiers.network), "
                         f"got {activation_fn!r}")
    return activation_fn


def _require_p_dropout(p_dropout):
    if isinstance(p_dropout, bool) or not isinstance(p_dropout, (int, float)) or not 0 <= p_dropout < 1:
        raise ValueError(f"p_dropout must be a number in [0, 1), got {p_dropout!r}")
    return float(p_dropout)


def _shape(name, value, length):
    """A tuple of ``length`` positive integers, or a ValueError naming ``name``."""
    try:
        shape = tuple(int(v) for v in value)
    except TypeError:
        shape = ()
    if len(shape) != length or any(v < 1 for v in shape) or any(
            isinstance(v, bool) or int(v) != v for v in value):
        raise ValueError(f"{name} must be {length} positive integers, got {value!r}")
    return shape


# ----------------------------------------------------------------------------------------------
# Layers. Each holds its shapes and settings, draws its initial (w, b), and runs its forward
# and backward on a layer table; the arrays live in the Network's params.
# ----------------------------------------------------------------------------------------------


class _Dropout:
    """network3's dropout of a layer's input: vanilla dropout keeping 1 - p_dropout of the units."""

    p_dropout = 0.0

    def _drop(self, ops, x, mode, rng):
        if not self.p_dropout:
            return x, None
        param = {"mode": mode, "p": 1.0 - self.p_dropout, "kind": "vanilla", "rng": rng}
        return ops.dropout_forward(x, param)

    def _undrop(self, ops, dx, cache):
        return dx if cache is None else ops.dropout_backward(dx, cache)


class FullyConnectedLayer(_Dropout):
    """``activation_fn(dropout(x) @ w + b)``: x (N, n_in) (or (N, ...) of n_in values per example), w
    (n_in, n_out), b (n_out,). Initialized as w ~ N(0, 1/n_out), b ~ N(0, 1)."""

    def __init__(self, n_in, n_out, activation_fn=sigmoid, p_dropout=0.0):
        self.n_in, self.n_out = _shape("n_in, n_out", (n_in, n_out), 2)
        self.activation_fn = _require_activation(activation_fn)
        self.p_dropout = _require_p_dropout(p_dropout)
        self.in_size = self.n_in
        self.out_shape = (self.n_out,)

    def __repr__(self):
        return (f"FullyConnectedLayer(n_in={self.n_in}, n_out={self.n_out}, "
                f"activation_fn={self.activation_fn!r}, p_dropout={self.p_dropout})")

    def init_params(self, model):
        return model._normal((self.n_in, self.n_out), np.sqrt(1.0 / self.n_out)), model._normal((self.n_out,), 1.0)

    def forward(self, ops, x, w, b, mode, rng):
        x, drop_cache = self._drop(ops, x, mode, rng)  # affine_forward flattens each example to n_in
        z, affine_cache = ops.affine_forward(x, w, b)
        a, act_cache = self.activation_fn.forward(ops, z)
        return a, (drop_cache, affine_cache, act_cache)

    def backward(self, ops, da, cache):
        drop_cache, affine_cache, act_cache = cache
        dz = self.activation_fn.backward(ops, da, act_cache)
        dx, dw, db = ops.affine_backward(dz, affine_cache)
        return self._undrop(ops, dx, drop_cache), dw, db


class SoftmaxLayer(_Dropout):
    """The output layer: logits ``dropout(x) @ w + b`` whose softmax gives the class
    probabilities. x (N, n_in), w (n_in, n_out), b (n_out,), both initialized to zero."""

    def __init__(self, n_in, n_out, p_dropout=0.0):
        self.n_in, self.n_out = _shape("n_in, n_out", (n_in, n_out), 2)
        self.p_dropout = _require_p_dropout(p_dropout)
        self.in_size = self.n_in
        self.out_shape = (self.n_out,)

    def __repr__(self):
        return f"SoftmaxLayer(n_in={self.n_in}, n_out={self.n_out}, p_dropout={self.p_dropout})"

    def init_params(self, model):
        return np.zeros((self.n_in, self.n_out), dtype=model.dtype), np.zeros(self.n_out, dtype=model.dtype)

    def forward(self, ops, x, w, b, mode, rng):
        x, drop_cache = self._drop(ops, x, mode, rng)
        scores, affine_cache = ops.affine_forward(x, w, b)
        return scores, (drop_cache, affine_cache)

    def backward(self, ops, dscores, cache):
        drop_cache, affine_cache = cache
        dx, dw, db = ops.affine_backward(dscores, affine_cache)
        return self._undrop(ops, dx, drop_cache), dw, db


class ConvPoolLayer:
    """``activation_fn(max_pool(conv(x, w)) + b)``: a valid convolution (stride 1, no padding),
    a max-pool over non-overlapping ``poolsize`` windows (leftover rows and columns dropped),
    then the bias and the activation. No dropout (as in network3).

    - filter_shape: (F, C, HH, WW), the shape of w
    - image_shape: (mini_batch_size, C, H, W); the input is reshaped to (N, C, H, W) for any N
    - poolsize: (PH, PW), square (PH == PW); (1, 1) for no pooling
    - activation_fn: sigmoid (default), tanh, ReLU or linear

    Initialized as w ~ N(0, 1/n_out) with n_out = F * HH * WW / (PH * PW), and b ~ N(0, 1) of shape (F,).
    Theano's conv2d flips the kernels and this layer does not; learned weights absorb the flip.
    """

    def __init__(self, filter_shape, image_shape, poolsize=(2, 2), activation_fn=sigmoid):
        self.filter_shape = _shape("filter_shape", filter_shape, 4)
        self.image_shape = _shape("image_shape", image_shape, 4)
        self.poolsize = _shape("poolsize", poolsize, 2)
        self.activation_fn = _require_activation(activation_fn)
        F, C, HH, WW = self.filter_shape
        _, C_img, H, W = self.image_shape
        if C != C_img:
            raise ValueError(f"filter_shape {self.filter_shape} has {C} input channels but image_shape "
                             f"{self.image_shape} has {C_img}")
        PH, PW = self.poolsize
        if PH != PW:
            raise ValueError(f"poolsize must be square, got {self.poolsize}")
        _, _, Hc, Wc = conv_output_shape((1, C, H, W), self.filter_shape, (F,), 1, 0)
        if Hc < PH or Wc < PW:
            raise ValueError(f"poolsize {self.poolsize} is larger than the convolution's output {Hc}x{Wc} "
                             f"(image_shape {self.image_shape}, filter_shape {self.filter_shape})")
        self.conv_shape = (F, Hc, Wc)
        self.crop = (Hc // PH * PH, Wc // PW * PW)
        self.in_size = C * H * W
        self.out_shape = (F, Hc // PH, Wc // PW)
        self.conv_param = {"stride": 1, "pad": 0}
        self.pool_param = {"pool_height": PH, "pool_width": PW, "stride": PH}

    def __repr__(self):
        return (f"ConvPoolLayer(filter_shape={self.filter_shape}, image_shape={self.image_shape}, "
                f"poolsize={self.poolsize}, activation_fn={self.activation_fn!r})")

    def init_params(self, model):
        F, _, HH, WW = self.filter_shape
        n_out = F * HH * WW / (self.poolsize[0] * self.poolsize[1])
        return model._normal(self.filter_shape, np.sqrt(1.0 / n_out)), model._normal((F,), 1.0)

    def forward(self, ops, x, w, b, mode, rng):
        x_shape = x.shape
        x = x.reshape(x.shape[0], *self.image_shape[1:])
        xp = array_module(x)
        conv, conv_cache = ops.conv_forward(x, w, xp.zeros_like(b), self.conv_param)
        Hk, Wk = self.crop
        cropped = conv[:, :, :Hk, :Wk] if (Hk, Wk) != conv.shape[2:] else conv
        pooled, pool_cache = ops.max_pool_forward(cropped, self.pool_param)
        a, act_cache = self.activation_fn.forward(ops, pooled + b.reshape(1, -1, 1, 1))
        return a, (conv_cache, pool_cache, act_cache, conv.shape, x_shape)

    def backward(self, ops, da, cache):
        conv_cache, pool_cache, act_cache, conv_shape, x_shape = cache
        dz = self.activation_fn.backward(ops, da, act_cache)
        db = dz.sum(axis=(0, 2, 3))
        dcropped = ops.max_pool_backward(dz, pool_cache)
        Hk, Wk = self.crop
        if (Hk, Wk) != tuple(conv_shape[2:]):
            xp = array_module(dcropped)
            dconv = xp.zeros(conv_shape, dtype=dcropped.dtype)
            dconv[:, :, :Hk, :Wk] = dcropped
        else:
            dconv = dcropped
        dx, dw, _ = ops.conv_backward(dconv, conv_cache)
        return dx.reshape(x_shape), dw, db


LAYER_TYPES = (ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer)


# ----------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------


def best_epoch_tracker():
    """The seed's bookkeeping of the best epoch, as a function of one epoch's results.

    Returns ``update(epoch, validation_accuracy, test_accuracy_fn) -> bool``, which records the
    epoch when its validation accuracy is at least the best so far (a tie counts, as in
    network3's ``>=``), and then calls ``test_accuracy_fn()`` (None: no test data) for the
    test accuracy at that epoch. ``update.result`` holds ``{"best_validation_accuracy",
    "best_epoch", "test_accuracy"}``.
    """
    result = {"best_validation_accuracy": 0.0, "best_epoch": None, "test_accuracy": None}

    def update(epoch, validation_accuracy, test_accuracy_fn=None):
        if validation_accuracy < result["best_validation_accuracy"]:
            return False
        result["best_validation_accuracy"] = validation_accuracy
        result["best_epoch"] = epoch
        result["test_accuracy"] = None if test_accuracy_fn is None else test_accuracy_fn()
        return True

    update.result = result
    return update


class Network(Model):
    """A stack of network3 layers, ending with a SoftmaxLayer.

    Inputs to the constructor:
    - layers: a list of ConvPoolLayer, FullyConnectedLayer and SoftmaxLayer; each layer's input
      size must be the previous layer's output size, and the last must be a SoftmaxLayer
    - mini_batch_size: the seed's minibatch size (SGD's default; any batch size runs)
    - dtype: dtype of the parameters and of the computation (default float32)
    - seed: seed of the network's generator, which draws the initial weights and the dropout
      masks (default 0)
    - backend: "fast" (default), "naive" (the layers students write) or "gpu" (moves the
      network to the GPU: needs CuPy and a device)

    params: W1, b1, W2, b2, ... in layer order (layer k's w and b).
    ``reg`` is the L2 strength per minibatch, ``lmbda / num_training_batches``; SGD sets it.
    """

    def __init__(self, layers, mini_batch_size, dtype=np.float32, seed=0, backend="fast"):
        if backend not in ("naive", "fast", "gpu"):
            raise ValueError(f"backend must be 'naive', 'fast' or 'gpu', got {backend!r}")
        super().__init__(reg=0.0, dtype=dtype, seed=seed, backend="fast" if backend == "gpu" else backend)
        self.layers = list(layers)
        self.mini_batch_size = _shape("mini_batch_size", (mini_batch_size,), 1)[0]
        self._check_layers()
        for k, layer in enumerate(self.layers, start=1):
            w, b = layer.init_params(self)
            self.params[f"W{k}"], self.params[f"b{k}"] = w, b
        self.dropout_param = {"rng": self.rng}  # where the masks are drawn (Model.to moves it)
        if backend == "gpu":
            self.to("gpu")

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Network([\n  {inner}], mini_batch_size={self.mini_batch_size})"

    def _check_layers(self):
        if not self.layers:
            raise ValueError("layers must hold at least a SoftmaxLayer, got an empty list")
        for k, layer in enumerate(self.layers, start=1):
            if not isinstance(layer, LAYER_TYPES):
                raise ValueError(f"layer {k} must be a ConvPoolLayer, FullyConnectedLayer or SoftmaxLayer, "
                                 f"got {type(layer).__name__}")
        if not isinstance(self.layers[-1], SoftmaxLayer):
            raise ValueError(f"the last layer must be a SoftmaxLayer, got {self.layers[-1]!r}")
        for k in range(1, len(self.layers)):
            prev, layer = self.layers[k - 1], self.layers[k]
            size = int(np.prod(prev.out_shape))
            if layer.in_size != size:
                raise ValueError(f"layer {k + 1} ({layer!r}) takes {layer.in_size} inputs per example, but "
                                 f"layer {k} gives {size} (shape {prev.out_shape})")

    @property
    def input_size(self):
        return self.layers[0].in_size

    @property
    def num_classes(self):
        return self.layers[-1].n_out

    def loss(self, X, y=None):
        """Scores (N, n_out) when y is None (test mode: dropout scales); else (loss, grads)
        with dropout masks drawn (train mode). X: (N, input_size) or (N, C, H, W) of that size."""
        if not hasattr(X, "shape") or len(X.shape) < 1 or int(np.prod(X.shape[1:])) != self.input_size:
            raise ValueError(f"X must have shape (N, {self.input_size}) or (N, ...) with {self.input_size} "
                             f"values per example, got shape {getattr(X, 'shape', type(X).__name__)}")
        X = self._input(X)
        mode = "test" if y is None else "train"
        ops, p, rng = self.ops, self.params, self.dropout_param["rng"]
        caches = []
        a = X
        for k, layer in enumerate(self.layers, start=1):
            a, cache = layer.forward(ops, a, p[f"W{k}"], p[f"b{k}"], mode, rng)
            caches.append(cache)
        if mode == "test":
            return a
        loss, da = ops.softmax_loss(a, y)
        grads = {}
        for k in range(len(self.layers), 0, -1):
            da, grads[f"W{k}"], grads[f"b{k}"] = self.layers[k - 1].backward(ops, da, caches[k - 1])
        loss += self._add_l2(grads, [f"W{k}" for k in range(1, len(self.layers) + 1)])
        return loss, grads

    def accuracy(self, X, y, batch_size=1000):
        """Fraction of the examples of X (N, ...) whose highest score is their label y (N,)."""
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"X of shape {X.shape} needs labels of shape ({X.shape[0]},), got {y.shape}")
        if X.shape[0] == 0:
            raise ValueError("X holds no examples")
        return accuracy(self, X, y, batch_size)

    def _data(self, name, data):
        """A (X, y) pair, on the network's device; a ValueError naming ``name`` otherwise."""
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise ValueError(f"{name} must be a pair (X, y), got {type(data).__name__}")
        X, y = data
        if not (hasattr(X, "shape") and hasattr(y, "shape")):
            raise ValueError(f"{name} must hold two arrays, got {type(X).__name__} and {type(y).__name__}")
        if len(X.shape) < 2 or int(np.prod(X.shape[1:])) != self.input_size:
            raise ValueError(f"{name}: X must have shape (N, {self.input_size}) or (N, ...) of that size, "
                             f"got shape {X.shape}")
        if len(y.shape) != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"{name}: y must have shape ({X.shape[0]},), got shape {y.shape}")
        if X.shape[0] == 0:
            raise ValueError(f"{name} holds no examples")
        if self.device == "gpu":
            xp = require_cupy()
            return xp.asarray(X), xp.asarray(y)
        return to_host(X), to_host(y)

    def SGD(self, training_data, epochs, mini_batch_size, eta, validation_data, test_data=None, lmbda=0.0,
            verbose=True, progress=None, seed=0):
        """Train with minibatch SGD, as network3's ``Network.SGD``.

        Inputs:
        - training_data, validation_data, test_data: ``(X, y)`` pairs, X of shape (N, 784) as in
          the seeds (or (N, C, H, W)), y integer labels (N,); test_data may be None
        - epochs: number of passes over the training data
        - mini_batch_size: examples per gradient step
        - eta: the learning rate
        - lmbda: L2 strength; the cost adds ``0.5 * lmbda * sum(||w||^2) / num_training_batches``
        - verbose: print the seed's per-epoch lines; progress: show a progress bar (default: verbose)
        - seed: seed of the Solver's generator (the minibatch order)

        Returns ``{"best_validation_accuracy", "best_epoch", "test_accuracy", "solver"}``:
        the best validation accuracy, the epoch (from 1) it was reached, the test accuracy at that
        epoch (None without test data) and the Solver that ran (its histories). The network then
        holds the parameters of that epoch.
        """
        X_train, y_train = self._data("training_data", training_data)
        X_val, y_val = self._data("validation_data", validation_data)
        test = None if test_data is None else self._data("test_data", test_data)
        epochs = _shape("epochs", (epochs,), 1)[0]
        mini_batch_size = _shape("mini_batch_size", (mini_batch_size,), 1)[0]
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta > 0:
            raise ValueError(f"eta must be a positive number, got {eta!r}")
        if isinstance(lmbda, bool) or not isinstance(lmbda, (int, float)) or lmbda < 0:
            raise ValueError(f"lmbda must be a non-negative number, got {lmbda!r}")
        num_training_batches = max(X_train.shape[0] // mini_batch_size, 1)
        self.reg = lmbda / num_training_batches

        update = best_epoch_tracker()
        best_params = {}
        say = tqdm.write if verbose else (lambda message: None)

        def after_epoch(solver):
            validation_accuracy = solver.val_acc_history[-1]
            say(f"Epoch {solver.epoch}: validation accuracy {validation_accuracy:.2%}")
            test_fn = None if test is None else (lambda: self.accuracy(*test))
            if update(solver.epoch, validation_accuracy, test_fn):
                best_params.clear()
                best_params.update({k: v.copy() for k, v in self.params.items()})
                say("This is the best validation accuracy to date.")
                if test is not None:
                    say(f"The corresponding test accuracy is {update.result['test_accuracy']:.2%}")

        solver = Solver(self, {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val},
                        update_rule="sgd", optim_config={"learning_rate": float(eta)}, batch_size=mini_batch_size,
                        num_epochs=epochs, num_train_samples=1000, print_every=0, verbose=False,
                        progress=verbose if progress is None else progress, seed=seed,
                        epoch_callback=after_epoch)
        solver.train()
        if best_params:
            self.params = best_params
        result = dict(update.result)
        say("Finished training network.")
        say(f"Best validation accuracy of {result['best_validation_accuracy']:.2%} obtained at epoch "
            f"{result['best_epoch']}")
        if result["test_accuracy"] is not None:
            say(f"Corresponding test accuracy of {result['test_accuracy']:.2%}")
        result["solver"] = solver
        return result
