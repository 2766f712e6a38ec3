"""Convolutional networks: ThreeLayerConvNet (CS231n) and DeepConvNet (Deep Learning from Scratch, ch. 8).

Both follow the Solver's model protocol (``params``; ``loss(X, y=None)``), take images of
shape (N, C, H, W), regularize the weights with ``0.5 * reg * sum(W ** 2)``, and run on the
layer backend chosen at construction ("fast" by default).
"""

import numpy as np

from assignment.checks import conv_output_shape, pool_output_shape
from assignment.classifiers.base import Model

POOL_2x2 = {"pool_height": 2, "pool_width": 2, "stride": 2}


class ThreeLayerConvNet(Model):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax.

    The convolution has stride 1 and pads (filter_size - 1) // 2 on each side, so that an odd
    filter_size keeps the height and width of the input.

    Inputs to the constructor:
    - input_dim: (C, H, W) of each image; H and W must be even (for the pool)
    - num_filters: number F of convolution filters
    - filter_size: height and width of each filter (odd)
    - hidden_dim: units of the hidden affine layer
    - num_classes: number of classes
    - weight_scale: standard deviation of the normal initialization of the weights (biases are 0)
    - reg: L2 regularization strength
    - dtype: dtype of the parameters and of the computation
    - seed: seed of the model's generator; None for fresh entropy
    - backend: "fast" (default) or "naive"

    params: W1 (F, C, filter_size, filter_size), b1 (F,), W2 (F * H/2 * W/2, hidden_dim),
    b2 (hidden_dim,), W3 (hidden_dim, num_classes), b3 (num_classes,).
    """

    def __init__(self, input_dim=(3, 32, 32), num_filters=32, filter_size=7, hidden_dim=100, num_classes=10,
                 weight_scale=1e-3, reg=0.0, dtype=np.float32, seed=None, backend="fast"):
        super().__init__(reg=reg, dtype=dtype, seed=seed, backend=backend)
        C, H, W = input_dim
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = dict(POOL_2x2)
        w_shape = (num_filters, C, filter_size, filter_size)
        conv_shape = conv_output_shape((1, C, H, W), w_shape, (num_filters,), **self.conv_param)
        _, F, Hp, Wp = pool_output_shape(conv_shape, 2, 2, 2)
        self.params = {
            "W1": self._normal(w_shape, weight_scale),
            "b1": np.zeros(num_filters, dtype=dtype),
            "W2": self._normal((F * Hp * Wp, hidden_dim), weight_scale),
            "b2": np.zeros(hidden_dim, dtype=dtype),
            "W3": self._normal((hidden_dim, num_classes), weight_scale),
            "b3": np.zeros(num_classes, dtype=dtype),
        }

    def loss(self, X, y=None):
        """Scores (N, C) when y is None; else (loss, grads)."""
        X = self._input(X)
        ops, p = self.ops, self.params

        ### BEGIN SOLUTION
        a, conv_cache = ops.conv_forward(X, p["W1"], p["b1"], self.conv_param)
        a, relu1_cache = ops.relu_forward(a)
        a, pool_cache = ops.max_pool_forward(a, self.pool_param)
        h, fc1_cache = ops.affine_forward(a, p["W2"], p["b2"])
        h, relu2_cache = ops.relu_forward(h)
        scores, fc2_cache = ops.affine_forward(h, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = ops.softmax_loss(scores, y)
        grads = {}
        dh, grads["W3"], grads["b3"] = ops.affine_backward(dscores, fc2_cache)
        dh = ops.relu_backward(dh, relu2_cache)
        da, grads["W2"], grads["b2"] = ops.affine_backward(dh, fc1_cache)
        da = ops.max_pool_backward(da, pool_cache)
        da = ops.relu_backward(da, relu1_cache)
        _, grads["W1"], grads["b1"] = ops.conv_backward(da, conv_cache)
        loss += self._add_l2(grads, ("W1", "W2", "W3"))
        ### END SOLUTION
        return loss, grads


# (filters, pad, pool after it?) for the six 3x3 convolutions of DeepConvNet.
DEEP_CONV_LAYERS = ((16, 1, False), (16, 1, True), (32, 1, False), (32, 2, True), (64, 1, False), (64, 1, True))


class DeepConvNet(Model):
    """The "Deep Learning from Scratch" chapter 8 network, for 1x28x28 images by default.

    conv - relu - conv - relu - pool        (16, 16 filters)
    conv - relu - conv - relu - pool        (32, 32 filters; the second pads 2)
    conv - relu - conv - relu - pool        (64, 64 filters)
    affine - relu - dropout - affine - softmax

    Every convolution is 3x3 with stride 1 and pad 1 (conv4: pad 2); every pool is 2x2 with
    stride 2. Weights are He-initialized, N(0, 2 / fan_in); biases are 0.

    Inputs to the constructor:
    - input_dim: (C, H, W) of each image (default (1, 28, 28)); each pool needs an even size
    - hidden_dim: units of the hidden affine layer (default 50)
    - num_classes: number of classes (default 10)
    - dropout_keep_ratio: probability of keeping a hidden unit (default 0.5); 1 for none
    - reg: L2 regularization strength (default 0)
    - dtype: dtype of the parameters and of the computation (default float32)
    - seed: seed of the model's generator, which draws the weights and, during training, a
      fresh dropout mask on every forward pass. Set ``model.dropout_param["seed"]`` to fix
      the mask (for numerical gradient checks).
    - backend: "fast" (default) or "naive"

    params: W1..W6 (F, C, 3, 3) and b1..b6 for the convolutions, W7 (64 * h * w, hidden_dim),
    b7, W8 (hidden_dim, num_classes), b8.
    """

    def __init__(self, input_dim=(1, 28, 28), hidden_dim=50, num_classes=10, dropout_keep_ratio=0.5, reg=0.0,
                 dtype=np.float32, seed=None, backend="fast"):
        super().__init__(reg=reg, dtype=dtype, seed=seed, backend=backend)
        if not 0 < dropout_keep_ratio <= 1:
            raise ValueError(f"dropout_keep_ratio must lie in (0, 1], got {dropout_keep_ratio!r}")
        self.conv_params = []
        self.pool_param = dict(POOL_2x2)
        self.params = {}
        shape = (1, *input_dim)
        for i, (filters, pad, pool) in enumerate(DEEP_CONV_LAYERS, start=1):
            C = shape[1]
            w_shape = (filters, C, 3, 3)
            self.conv_params.append({"stride": 1, "pad": pad})
            shape = conv_output_shape(shape, w_shape, (filters,), stride=1, pad=pad)
            if pool:
                shape = pool_output_shape(shape, 2, 2, 2)
            self.params[f"W{i}"] = self._normal(w_shape, np.sqrt(2.0 / (C * 9)))
            self.params[f"b{i}"] = np.zeros(filters, dtype=dtype)
        flat = int(np.prod(shape[1:]))
        self.params["W7"] = self._normal((flat, hidden_dim), np.sqrt(2.0 / flat))
        self.params["b7"] = np.zeros(hidden_dim, dtype=dtype)
        self.params["W8"] = self._normal((hidden_dim, num_classes), np.sqrt(2.0 / hidden_dim))
        self.params["b8"] = np.zeros(num_classes, dtype=dtype)
        self.use_dropout = dropout_keep_ratio != 1
        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio, "rng": self.rng}

    def loss(self, X, y=None):
        """Scores (N, C) when y is None; else (loss, grads)."""
        X = self._input(X)
        mode = "test" if y is None else "train"
        self.dropout_param["mode"] = mode
        ops, p = self.ops, self.params

        ### BEGIN SOLUTION
        caches = []
        a = X
        for i, (_, _, pool) in enumerate(DEEP_CONV_LAYERS, start=1):
            a, conv_relu_cache = ops.conv_relu_forward(a, p[f"W{i}"], p[f"b{i}"], self.conv_params[i - 1])
            pool_cache = None
            if pool:
                a, pool_cache = ops.max_pool_forward(a, self.pool_param)
            caches.append((conv_relu_cache, pool_cache))
        h, fc1_cache = ops.affine_forward(a, p["W7"], p["b7"])
        h, relu7_cache = ops.relu_forward(h)
        drop_cache = None
        if self.use_dropout:
            h, drop_cache = ops.dropout_forward(h, self.dropout_param)
        scores, fc2_cache = ops.affine_forward(h, p["W8"], p["b8"])
        if mode == "test":
            return scores

        loss, dscores = ops.softmax_loss(scores, y)
        grads = {}
        dh, grads["W8"], grads["b8"] = ops.affine_backward(dscores, fc2_cache)
        if self.use_dropout:
            dh = ops.dropout_backward(dh, drop_cache)
        dh = ops.relu_backward(dh, relu7_cache)
        da, grads["W7"], grads["b7"] = ops.affine_backward(dh, fc1_cache)
        for i in range(len(DEEP_CONV_LAYERS), 0, -1):
            conv_relu_cache, pool_cache = caches[i - 1]
            if pool_cache is not None:
                da = ops.max_pool_backward(da, pool_cache)
            da, grads[f"W{i}"], grads[f"b{i}"] = ops.conv_relu_backward(da, conv_relu_cache)
        loss += self._add_l2(grads, [f"W{i}" for i in range(1, 9)])
        ### END SOLUTION
        return loss, grads
