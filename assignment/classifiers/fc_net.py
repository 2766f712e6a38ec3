"""Fully connected networks: TwoLayerNet and FullyConnectedNet.

Both follow the Solver's model protocol: ``params`` is a dict of arrays and
``loss(X, y=None)`` returns the scores (N, C) when ``y`` is None, else ``(loss, grads)``
with ``grads`` keyed like ``params``. L2 regularization is ``0.5 * reg * sum(W ** 2)`` over
the weight matrices only (no biases, no gamma or beta); ``reg`` is read at call time.
"""

import numpy as np

from assignment.classifiers.base import Model


class TwoLayerNet(Model):
    """affine - relu - affine - softmax.

    Inputs to the constructor:
    - input_dim: size D of each input (inputs of shape (N, d_1, ..., d_k) are flattened)
    - hidden_dim: size H of the hidden layer
    - num_classes: number C of classes
    - weight_scale: standard deviation of the normal initialization of the weights (biases are 0)
    - reg: L2 regularization strength
    - dtype: dtype of the parameters and of the computation
    - seed: seed of the model's generator (weights); None for fresh entropy
    - backend: "fast" (default) or "naive" layers, see assignment.registry.get_ops

    params: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0,
                 dtype=np.float64, seed=None, backend="fast"):
        super().__init__(reg=reg, dtype=dtype, seed=seed, backend=backend)
        self.params = {
            "W1": self._normal((input_dim, hidden_dim), weight_scale),
            "b1": np.zeros(hidden_dim, dtype=dtype),
            "W2": self._normal((hidden_dim, num_classes), weight_scale),
            "b2": np.zeros(num_classes, dtype=dtype),
        }

    def loss(self, X, y=None):
        """Scores (N, C) when y is None; else (loss, grads). See the module docstring."""
        X = self._input(X)
        ops, p = self.ops, self.params

        ### BEGIN SOLUTION
        hidden, fc1_cache = ops.affine_forward(X, p["W1"], p["b1"])
        hidden, relu_cache = ops.relu_forward(hidden)
        scores, fc2_cache = ops.affine_forward(hidden, p["W2"], p["b2"])
        if y is None:
            return scores
        loss, dscores = ops.softmax_loss(scores, y)
        grads = {}
        dhidden, grads["W2"], grads["b2"] = ops.affine_backward(dscores, fc2_cache)
        dhidden = ops.relu_backward(dhidden, relu_cache)
        _, grads["W1"], grads["b1"] = ops.affine_backward(dhidden, fc1_cache)
        loss += self._add_l2(grads, ("W1", "W2"))
        ### END SOLUTION
        return loss, grads


class FullyConnectedNet(Model):
    """A fully connected network with any number of hidden layers.

    {affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax

    The {...} block repeats L - 1 times for L - 1 hidden layers.

    Inputs to the constructor:
    - hidden_dims: list of the sizes of the hidden layers
    - input_dim: size D of each input
    - num_classes: number C of classes
    - dropout_keep_ratio: probability of KEEPING a hidden unit; 1 means no dropout
    - normalization: None, "batchnorm" or "layernorm"
    - reg: L2 regularization strength
    - weight_scale: standard deviation of the normal initialization of the weights
    - dtype: dtype of the parameters and of the computation (float64 for gradient checks)
    - seed: seed of the model's generator, which draws the weights. As in CS231n, a seed also
      fixes the dropout mask: every forward pass draws the same mask, so that numerical
      gradient checks of a dropout net work. Without a seed, each training forward pass draws
      a fresh mask from the model's generator.
    - backend: "fast" (default) or "naive" layers

    params: W1..WL, b1..bL; with normalization also gamma1..gamma(L-1) (ones) and
    beta1..beta(L-1) (zeros). Layer i maps dims[i-1] to dims[i], dims = [D, *hidden_dims, C].
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None, backend="fast"):
        super().__init__(reg=reg, dtype=dtype, seed=seed, backend=backend)
        if normalization not in (None, "batchnorm", "layernorm"):
            raise ValueError(f"normalization must be None, 'batchnorm' or 'layernorm', got {normalization!r}")
        if not 0 < dropout_keep_ratio <= 1:
            raise ValueError(f"dropout_keep_ratio is the probability of keeping a unit, in (0, 1]; "
                             f"got {dropout_keep_ratio!r}")
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.num_layers = 1 + len(hidden_dims)
        dims = [input_dim, *hidden_dims, num_classes]
        self.params = {}
        for i in range(1, self.num_layers + 1):
            self.params[f"W{i}"] = self._normal((dims[i - 1], dims[i]), weight_scale)
            self.params[f"b{i}"] = np.zeros(dims[i], dtype=dtype)
            if normalization and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(dims[i], dtype=dtype)
                self.params[f"beta{i}"] = np.zeros(dims[i], dtype=dtype)

        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed
            else:
                self.dropout_param["rng"] = self.rng
        # One dict per normalization layer: batch norm keeps its running statistics there.
        self.bn_params = []
        if normalization == "batchnorm":
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        if normalization == "layernorm":
            self.bn_params = [{} for _ in range(self.num_layers - 1)]

    def loss(self, X, y=None):
        """Scores (N, C) when y is None; else (loss, grads). See the module docstring."""
        X = self._input(X)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        if self.normalization == "batchnorm":
            for bn_param in self.bn_params:
                bn_param["mode"] = mode
        ops, p = self.ops, self.params

        ### BEGIN SOLUTION
        caches = []
        out = X
        for i in range(1, self.num_layers):
            out, fc_cache = ops.affine_forward(out, p[f"W{i}"], p[f"b{i}"])
            norm_cache = None
            if self.normalization == "batchnorm":
                out, norm_cache = ops.batchnorm_forward(out, p[f"gamma{i}"], p[f"beta{i}"], self.bn_params[i - 1])
            elif self.normalization == "layernorm":
                out, norm_cache = ops.layernorm_forward(out, p[f"gamma{i}"], p[f"beta{i}"], self.bn_params[i - 1])
            out, relu_cache = ops.relu_forward(out)
            drop_cache = None
            if self.use_dropout:
                out, drop_cache = ops.dropout_forward(out, self.dropout_param)
            caches.append((fc_cache, norm_cache, relu_cache, drop_cache))
        L = self.num_layers
        scores, last_cache = ops.affine_forward(out, p[f"W{L}"], p[f"b{L}"])
        if mode == "test":
            return scores

        loss, dout = ops.softmax_loss(scores, y)
        grads = {}
        dout, grads[f"W{L}"], grads[f"b{L}"] = ops.affine_backward(dout, last_cache)
        for i in range(L - 1, 0, -1):
            fc_cache, norm_cache, relu_cache, drop_cache = caches[i - 1]
            if self.use_dropout:
                dout = ops.dropout_backward(dout, drop_cache)
            dout = ops.relu_backward(dout, relu_cache)
            if self.normalization == "batchnorm":
                dout, grads[f"gamma{i}"], grads[f"beta{i}"] = ops.batchnorm_backward(dout, norm_cache)
            elif self.normalization == "layernorm":
                dout, grads[f"gamma{i}"], grads[f"beta{i}"] = ops.layernorm_backward(dout, norm_cache)
            dout, grads[f"W{i}"], grads[f"b{i}"] = ops.affine_backward(dout, fc_cache)
        loss += self._add_l2(grads, [f"W{i}" for i in range(1, L + 1)])
        ### END SOLUTION
        return loss, grads
