"""Linear classifiers: scores = X W + b, with a hinge (LinearSVM) or cross-entropy (Softmax) loss.

In the spirit of CS231n assignment1, on the Solver's model protocol: ``model.params`` holds
``W`` (D, C) and ``b`` (C,); ``model.loss(X)`` returns scores, ``model.loss(X, y)`` returns
``(loss, grads)``. The data losses are ``assignment.layers.svm_loss`` / ``softmax_loss``
(mean over the minibatch); the regularization applies to ``W`` only:

- ``reg_type="l2"``: ``0.5 * reg * sum(W ** 2)``, gradient ``reg * W``
- ``reg_type="l1"``: ``reg * sum(|W|)``, gradient ``reg * sign(W)`` (a subgradient; 0 at 0)

``train`` runs plain minibatch SGD with the classifier's own generator, like CS231n's
``LinearClassifier.train``; the Solver can train these models too.
"""

import numpy as np

from assignment import layers

REG_TYPES = ("l2", "l1")


class LinearClassifier:
    """Base of LinearSVM and Softmax; subclasses say which data loss they use.

    Inputs:
    - input_dim: D, the number of features per example (None: set by the first ``train``)
    - num_classes: C (None: ``max(y) + 1`` at the first ``train``, as in CS231n)
    - weight_scale: standard deviation of the initial weights W ~ N(0, weight_scale**2); b = 0
    - reg: regularization strength (>= 0), read at every call of ``loss``
    - reg_type: "l2" or "l1"
    - dtype: dtype of the parameters, scores and gradients; inputs are cast to it
    - seed: seed of ``self.rng``, the classifier's own np.random.Generator (initialization and,
      unless ``train`` gets a seed of its own, minibatch sampling)

    Attributes:
    - params: {"W": (D, C), "b": (C,)}, both of ``dtype``; ``W`` and ``b`` read them
    """

    def __init__(self, input_dim=None, num_classes=None, weight_scale=1e-3, reg=0.0, reg_type="l2",
                 dtype=np.float32, seed=None):
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating-point type, got {self.dtype}")
        if reg_type not in REG_TYPES:
            raise ValueError(f"reg_type must be one of {REG_TYPES}, got {reg_type!r}")
        self.reg = _check_reg(reg)
        self.reg_type = reg_type
        self.weight_scale = float(weight_scale)
        self.rng = np.random.default_rng(seed)
        self.params = {}
        if (input_dim is None) != (num_classes is None):
            raise ValueError(
                f"give both input_dim and num_classes or neither, got input_dim={input_dim!r}, "
                f"num_classes={num_classes!r}"
            )
        if input_dim is not None:
            self._init_params(input_dim, num_classes)

    # --- parameters ---------------------------------------------------------------------------

    def _init_params(self, input_dim, num_classes):
        for name, value in (("input_dim", input_dim), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        W = self.weight_scale * self.rng.standard_normal((int(input_dim), int(num_classes)))
        self.params = {"W": W.astype(self.dtype), "b": np.zeros(int(num_classes), dtype=self.dtype)}

    @property
    def W(self):
        return self.params.get("W")

    @property
    def b(self):
        return self.params.get("b")

    def _rows(self, X):
        """X as (N, D) rows of the model's dtype: (N, d1, ..., dk) is flattened like affine_forward."""
        if not isinstance(X, np.ndarray):
            raise ValueError(f"X must be a numpy array, got {type(X).__name__}")
        if X.ndim < 2:
            raise ValueError(f"X must have shape (N, D) or (N, d1, ..., dk), got shape {X.shape}")
        if not self.params:
            raise ValueError("the classifier has no weights yet: give input_dim and num_classes, or train it")
        D = self.params["W"].shape[0]
        if int(np.prod(X.shape[1:])) != D:
            raise ValueError(
                f"X has {int(np.prod(X.shape[1:]))} features per example (shape {X.shape}) but W has "
                f"shape {self.params['W'].shape}, i.e. D = {D}"
            )
        return X.reshape(X.shape[0], D).astype(self.dtype, copy=False)

    # --- the model protocol -------------------------------------------------------------------

    def data_loss(self, scores, y):
        """(loss, dscores) of the subclass's loss for scores (N, C) and labels y (N,)."""
        raise NotImplementedError(f"{type(self).__name__}.data_loss: use LinearSVM or Softmax")

    def loss(self, X, y=None):
        """Scores, or loss and gradients, of a minibatch.

        Inputs:
        - X: examples, of shape (N, D) (or (N, d1, ..., dk) with d1 * ... * dk = D)
        - y: integer labels, of shape (N,), with 0 <= y[i] < C; or None

        Returns:
        - if y is None: scores, of shape (N, C), of the model's dtype
        - else a tuple of:
          - loss: a float, the mean data loss plus the regularization of W
          - grads: {"W": (D, C), "b": (C,)}, gradients of the loss, of the model's dtype
        """
        X = self._rows(X)
        W, b = self.params["W"], self.params["b"]
        ### BEGIN SOLUTION
        scores = X @ W + b
        ### END SOLUTION
        if y is None:
            return scores
        data_loss, dscores = self.data_loss(scores, y)
        ### BEGIN SOLUTION
        dW = X.T @ dscores
        db = dscores.sum(axis=0)
        if self.reg_type == "l2":
            reg_loss = 0.5 * self.reg * float(np.sum(W.astype(np.float64) ** 2))
            dW += self.reg * W
        else:
            reg_loss = self.reg * float(np.sum(np.abs(W), dtype=np.float64))
            dW += self.reg * np.sign(W)
        ### END SOLUTION
        grads = {"W": dW.astype(self.dtype, copy=False), "b": db.astype(self.dtype, copy=False)}
        return data_loss + reg_loss, grads

    def predict(self, X):
        """Predicted labels, int64 of shape (N,): the class with the highest score."""
        return np.argmax(self.loss(X), axis=1).astype(np.int64)

    # --- CS231n's own training loop -----------------------------------------------------------

    def train(self, X, y, learning_rate=1e-3, reg=None, num_iters=100, batch_size=200, seed=None,
              verbose=False):
        """Minibatch SGD: each step samples batch_size examples and moves W, b against the gradient.

        Inputs:
        - X: training examples, of shape (N, D) (or (N, d1, ..., dk))
        - y: integer labels, of shape (N,)
        - learning_rate: the SGD step size
        - reg: if given, sets ``self.reg`` first; None keeps it
        - num_iters: the number of steps
        - batch_size: examples per step (sampled without replacement within a step; with
          replacement when batch_size > N)
        - seed: seed of a fresh local np.random.Generator for the sampling; None uses self.rng
        - verbose: print the loss every 100 steps

        Returns:
        - loss_history: a list of num_iters floats, the minibatch loss at each step
        """
        if not isinstance(X, np.ndarray) or X.ndim < 2:
            raise ValueError(f"X must be a numpy array of shape (N, D), got {getattr(X, 'shape', type(X))}")
        if not isinstance(y, np.ndarray) or y.shape != (X.shape[0],) or y.dtype.kind not in "iu":
            raise ValueError(
                f"y must be integer labels of shape ({X.shape[0]},) to match X {X.shape}, "
                f"got {getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}"
            )
        if X.shape[0] == 0:
            raise ValueError(f"X must hold at least one example, got shape {X.shape}")
        for name, value in (("num_iters", num_iters), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if reg is not None:
            self.reg = _check_reg(reg)
        if not self.params:
            self._init_params(int(np.prod(X.shape[1:])), int(y.max()) + 1)
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        N = X.shape[0]
        loss_history = []
        for it in range(num_iters):
            ### BEGIN SOLUTION
            idx = rng.choice(N, size=batch_size, replace=batch_size > N)
            loss, grads = self.loss(X[idx], y[idx])
            for name, grad in grads.items():
                self.params[name] = (self.params[name] - learning_rate * grad).astype(self.dtype, copy=False)
            ### END SOLUTION
            loss_history.append(loss)
            if verbose and it % 100 == 0:
                print(f"iteration {it} / {num_iters}: loss {loss:f}")
        return loss_history


class LinearSVM(LinearClassifier):
    """A linear classifier with the multiclass SVM (hinge, margin 1) loss."""

    def data_loss(self, scores, y):
        return layers.svm_loss(scores, y)


class Softmax(LinearClassifier):
    """A linear classifier with the softmax (cross-entropy) loss."""

    def data_loss(self, scores, y):
        return layers.softmax_loss(scores, y)


def _check_reg(reg):
    if isinstance(reg, bool) or not isinstance(reg, (int, float, np.integer, np.floating)) or not reg >= 0:
        raise ValueError(f"reg must be a non-negative number, got {reg!r}")
    return float(reg)
