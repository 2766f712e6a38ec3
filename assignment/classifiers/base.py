"""What every model shares: dtype, a seeded generator, the layer backend, L2 regularization."""

import numpy as np

from assignment.backend import get_ops


class Model:
    """Base of the classifiers.

    - reg: L2 strength, read at every call of ``loss`` (so ``model.reg = 0.5`` takes effect)
    - dtype: dtype of the parameters; inputs are cast to it
    - seed: seed of ``self.rng``, the model's own ``np.random.Generator``
    - backend: "fast" or "naive", the layer table in ``self.ops`` (see assignment.backend)
    """

    def __init__(self, reg=0.0, dtype=np.float32, seed=None, backend="fast"):
        self.reg = reg
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"dtype must be a floating-point type, got {self.dtype}")
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.ops = get_ops(backend)
        self.params = {}

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
            penalty += 0.5 * self.reg * float((W * W).sum())
            grads[name] = grads[name] + (self.reg * W).astype(W.dtype, copy=False)
        ### END SOLUTION
        return penalty
