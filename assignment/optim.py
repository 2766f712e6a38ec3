"""First-order update rules.

Every rule has one signature, ``update(w, dw, config=None) -> (next_w, config)``:

- w: the current weights, an array of any shape
- dw: the gradient of the loss with respect to w, of w's shape
- config: a dict of hyperparameters and of the rule's state (moving averages, step count).
  When None a new dict is made; missing keys get the defaults listed per rule. The rule
  writes its new state back into this same dict and returns it, so the Solver keeps one
  config per parameter and passes it back on the next step.

``next_w`` has the shape and dtype of ``w``; ``w`` and ``dw`` are never modified.
"""

import numpy as np

from assignment.checks import require_shape


def _start(w, dw, config, defaults):
    for name, arr in (("w", w), ("dw", dw)):
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"{name} must be a numpy array, got {type(arr).__name__}")
    require_shape("dw", dw, w.shape, "the shape of w")
    if config is None:
        config = {}
    elif not isinstance(config, dict):
        raise ValueError(f"config must be a dict or None, got {type(config).__name__}")
    for key, value in defaults.items():
        config.setdefault(key, value)
    return config


def _state(config, key, w):
    """config[key], zeros of w's shape when absent; must match w's shape."""
    value = config.setdefault(key, np.zeros_like(w))
    require_shape(f"config[{key!r}]", value, w.shape, "the shape of w")
    return value


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent: next_w = w - learning_rate * dw.

    config:
    - learning_rate: scalar (default 1e-2)
    """
    config = _start(w, dw, config, {"learning_rate": 1e-2})
    next_w = w - config["learning_rate"] * dw
    return next_w.astype(w.dtype, copy=False), config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum.

        v = momentum * v - learning_rate * dw
        next_w = w + v

    config:
    - learning_rate: scalar (default 1e-2)
    - momentum: scalar in [0, 1) (default 0.9); 0 gives vanilla SGD
    - velocity: array of w's shape (zeros if absent); state
    """
    config = _start(w, dw, config, {"learning_rate": 1e-2, "momentum": 0.9})
    v = _state(config, "velocity", w)

    ### BEGIN SOLUTION
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    ### END SOLUTION
    config["velocity"] = v
    return next_w.astype(w.dtype, copy=False), config


def nesterov(w, dw, config=None):
    """SGD with Nesterov momentum, in the form that takes the gradient at w itself.

        v_prev = v
        v = momentum * v - learning_rate * dw
        next_w = w - momentum * v_prev + (1 + momentum) * v

    config:
    - learning_rate: scalar (default 1e-2)
    - momentum: scalar in [0, 1) (default 0.9)
    - velocity: array of w's shape (zeros if absent); state
    """
    config = _start(w, dw, config, {"learning_rate": 1e-2, "momentum": 0.9})
    v = _state(config, "velocity", w)

    ### BEGIN SOLUTION
    mu = config["momentum"]
    v_prev = v
    v = mu * v - config["learning_rate"] * dw
    next_w = w - mu * v_prev + (1 + mu) * v
    ### END SOLUTION
    config["velocity"] = v
    return next_w.astype(w.dtype, copy=False), config


def adagrad(w, dw, config=None):
    """Adagrad: per-parameter steps scaled by the root of the summed squared gradients.

        cache = cache + dw ** 2
        next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    config:
    - learning_rate: scalar (default 1e-2)
    - epsilon: small scalar against division by zero (default 1e-8)
    - cache: array of w's shape (zeros if absent); state
    """
    config = _start(w, dw, config, {"learning_rate": 1e-2, "epsilon": 1e-8})
    cache = _state(config, "cache", w)

    ### BEGIN SOLUTION
    cache = cache + dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    ### END SOLUTION
    config["cache"] = cache
    return next_w.astype(w.dtype, copy=False), config


def rmsprop(w, dw, config=None):
    """RMSProp: steps scaled by a moving average of squared gradients.

        cache = decay_rate * cache + (1 - decay_rate) * dw ** 2
        next_w = w - learning_rate * dw / (sqrt(cache) + epsilon)

    config:
    - learning_rate: scalar (default 1e-2)
    - decay_rate: scalar in [0, 1) (default 0.99)
    - epsilon: small scalar against division by zero (default 1e-8)
    - cache: array of w's shape (zeros if absent); state
    """
    config = _start(w, dw, config, {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8})
    cache = _state(config, "cache", w)

    ### BEGIN SOLUTION
    decay = config["decay_rate"]
    cache = decay * cache + (1 - decay) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    ### END SOLUTION
    config["cache"] = cache
    return next_w.astype(w.dtype, copy=False), config


def adam(w, dw, config=None):
    """Adam: moving averages of the gradient and its square, with bias correction.

    The step count t is incremented BEFORE it is used:

        t = t + 1
        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * dw ** 2
        next_w = w - learning_rate * (m / (1 - beta1 ** t)) / (sqrt(v / (1 - beta2 ** t)) + epsilon)

    config:
    - learning_rate: scalar (default 1e-3)
    - beta1: decay of the first moment (default 0.9)
    - beta2: decay of the second moment (default 0.999)
    - epsilon: small scalar against division by zero (default 1e-8)
    - m, v: arrays of w's shape (zeros if absent); state
    - t: number of steps taken (default 0); state
    """
    config = _start(w, dw, config, {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "t": 0})
    m = _state(config, "m", w)
    v = _state(config, "v", w)
    t = config["t"]

    ### BEGIN SOLUTION
    b1, b2 = config["beta1"], config["beta2"]
    t = t + 1
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * dw**2
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    ### END SOLUTION
    config["m"], config["v"], config["t"] = m, v, t
    return next_w.astype(w.dtype, copy=False), config


UPDATE_RULES = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "nesterov": nesterov,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
}
