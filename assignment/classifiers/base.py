"""What every model shares: dtype, a seeded generator, the layer backend, the device, L2 regularization."""

import numpy as np

from assignment.devices import require_cupy, to_host
from assignment.registry import get_ops


class Model:
    """Base of the classifiers.

    - reg: L2 strength, read at every call of ``loss`` (so ``model.reg = 0.5`` takes effect)
    - dtype: dtype of the parameters; inputs are cast to it
    - seed: seed of ``self.rng``, the model's own ``np.random.Generator``
    - backend: "fast" or "naive", the layer table in ``self.ops`` (see assignment.registry.get_ops)

    ``model.to("gpu")`` moves the parameters to the GPU (CuPy) and switches to the GPU twins;
    ``model.to("cpu")`` moves them back to the chosen backend. Inputs must then live on the
    model's device: the model never copies data between host and device.
    """

    def __init__(self, reg=0.0, dtype=np.float32, seed=None, backend="fast"):
        self.reg = reg
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating-point type, got {self.dtype}")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.backend = backend
        self.ops = get_ops(backend)
        self.device = "cpu"
        self.params = {}

    def to(self, device):
        """Move the parameters (and dropout's generator) to ``device``, "cpu" or "gpu"; returns self."""
        if device == "gpu":
            xp = require_cupy()
            self.params = {k: xp.asarray(v) for k, v in self.params.items()}
            self.ops = get_ops("gpu")
        elif device == "cpu":
            xp = np
            self.params = {k: to_host(v) for k, v in self.params.items()}
            self.ops = get_ops(self.backend)
        else:
            raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}")
        dropout_param = getattr(self, "dropout_param", None)
        if dropout_param and "rng" in dropout_param:
            # Dropout masks are drawn where the activations live, from a generator seeded by ours.
            dropout_param["rng"] = self.rng if xp is np else xp.random.default_rng(int(self.rng.integers(2**63)))
        for bn_param in getattr(self, "bn_params", []):
            for key in ("running_mean", "running_var"):
                if key in bn_param:
                    bn_param[key] = xp.asarray(bn_param[key]) if xp is not np else to_host(bn_param[key])
        self.device = device
        return self

    def _normal(self, shape, std):
        """Weights drawn from N(0, std**2) by the model's generator, in the model's dtype."""
        return (std * self.rng.standard_normal(shape)).astype(self.dtype)

    def _input(self, X):
        if not hasattr(X, "astype"):
            raise ValueError(f"X must be an array, got {type(X).__name__}")
        return X.astype(self.dtype, copy=False)

    def _add_l2(self, grads, weight_names):
        """L2 regularization of the named weights, for every model's loss.

        Adds the penalty's gradient to each named entry of ``grads`` and returns the penalty
        0.5 * reg * sum(W ** 2), summed over the named weights (biases, gamma and beta are not
        regularized). Reads ``self.reg`` at call time.
        """
        ### BEGIN SOLUTION
        penalty = 0.0
        for name in weight_names:
            W = self.params[name]
            penalty = penalty + 0.5 * self.reg * (W * W).sum()
            grads[name] = grads[name] + (self.reg * W).astype(W.dtype, copy=False)
        ### END SOLUTION
        return penalty
