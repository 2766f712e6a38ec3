"""Naive reference layers: the functions students write.

Every operation is a pair ``<op>_forward(...) -> (out, cache)`` and
``<op>_backward(dout, cache) -> (dx, ...)``; losses return ``(loss, dx)``. Names, arguments and
return values follow Stanford CS231n assignment2 so that its notebooks carry over.

The contract, for every function here:
- a forward never mutates its inputs (nor a backward its ``dout`` or ``cache``);
- a backward returns gradients with the shapes and dtypes of the inputs they belong to;
- float32 in gives float32 out;
- bad shapes or parameters raise ``ValueError`` naming the argument and the shapes seen.

The argument checks at the top of each function are given; the math between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` is what students write.
"""

import numpy as np

from assignment.checks import (
    conv_output_shape,
    get_param,
    pool_output_shape,
    require_float,
    require_labels,
    require_min_ndim,
    require_mode,
    require_ndim,
    require_shape,
)


def _require_array(name, arr, integers_ok=False):
    """A numpy array of floats (or, with integers_ok, of any real numbers: CS231n passes integer gamma)."""
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(arr).__name__}")
    if not (integers_ok and arr.dtype.kind in "iu"):
        require_float(name, arr)


# ----------------------------------------------------------------------------------------------
# Affine and ReLU
# ----------------------------------------------------------------------------------------------


def affine_forward(x, w, b):
    """Forward pass of an affine (fully connected) layer.

    The input x has shape (N, d_1, ..., d_k): a minibatch of N examples, each of which is
    flattened to a vector of dimension D = d_1 * ... * d_k.

    Inputs:
    - x: input, of shape (N, d_1, ..., d_k)
    - w: weights, of shape (D, M)
    - b: biases, of shape (M,)

    Returns a tuple of:
    - out: output, of shape (N, M)
    - cache: (x, w, b), read only by affine_backward
    """
    for name, arr in (("x", x), ("w", w), ("b", b)):
        _require_array(name, arr)
    require_min_ndim("x", x, 2)
    require_ndim("w", w, 2, "(D, M)")
    D = int(np.prod(x.shape[1:]))
    if w.shape[0] != D:
        raise ValueError(f"w must have shape ({D}, M) to match x of shape {x.shape} (D = {D}), got shape {w.shape}")
    require_shape("b", b, (w.shape[1],), f"to match w of shape {w.shape}")

    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], D) @ w + b
    ### END SOLUTION
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Backward pass of an affine layer.

    Inputs:
    - dout: upstream derivative, of shape (N, M)
    - cache: (x, w, b) from affine_forward

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: gradient with respect to w, of shape (D, M)
    - db: gradient with respect to b, of shape (M,)
    """
    x, w, b = cache
    _require_array("dout", dout)
    require_shape("dout", dout, (x.shape[0], w.shape[1]), "the shape of affine_forward's output")

    ### BEGIN SOLUTION
    x2d = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = x2d.T @ dout
    db = dout.sum(axis=0)
    ### END SOLUTION
    return dx.astype(x.dtype, copy=False), dw.astype(w.dtype, copy=False), db.astype(b.dtype, copy=False)


def relu_forward(x):
    """Forward pass of a layer of rectified linear units, max(0, x).

    Inputs:
    - x: input, of any shape

    Returns a tuple of:
    - out: output, of the same shape and dtype as x
    - cache: x, read only by relu_backward
    """
    _require_array("x", x)

    ### BEGIN SOLUTION
    out = np.maximum(x, 0)
    ### END SOLUTION
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Backward pass of a layer of rectified linear units.

    The derivative at exactly 0 is taken to be 0.

    Inputs:
    - dout: upstream derivative, of the shape of x
    - cache: x, the input of relu_forward

    Returns:
    - dx: gradient with respect to x, of the shape and dtype of x
    """
    x = cache
    _require_array("dout", dout)
    require_shape("dout", dout, x.shape, "the shape of relu_forward's input")

    ### BEGIN SOLUTION
    dx = dout * (x > 0)
    ### END SOLUTION
    return dx.astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------


def _check_scores_and_labels(x, y):
    _require_array("x", x)
    require_ndim("x", x, 2, "(N, C)")
    if not isinstance(y, np.ndarray):
        raise ValueError(f"y must be a numpy array of integer labels, got {type(y).__name__}")
    require_labels(y, x.shape[0], x.shape[1])
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one example, got shape {x.shape}")


def svm_loss(x, y):
    """Multiclass SVM (hinge) loss with margin 1, averaged over the minibatch.

    L = 1/N * sum_i sum_{j != y_i} max(0, x[i, j] - x[i, y_i] + 1)

    Inputs:
    - x: class scores, of shape (N, C); x[i, j] is the score of class j for example i
    - y: integer labels, of shape (N,), with 0 <= y[i] < C

    Returns a tuple of:
    - loss: a scalar (Python float)
    - dx: gradient of the loss with respect to x, of the shape and dtype of x
    """
    _check_scores_and_labels(x, y)

    ### BEGIN SOLUTION
    N = x.shape[0]
    rows = np.arange(N)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / N
    positive = (margins > 0).astype(x.dtype)
    positive[rows, y] = -positive.sum(axis=1)
    dx = positive / N
    ### END SOLUTION
    return float(loss), dx.astype(x.dtype, copy=False)


def softmax_loss(x, y):
    """Softmax (cross-entropy) loss, averaged over the minibatch, computed stably.

    L = -1/N * sum_i log(exp(x[i, y_i]) / sum_j exp(x[i, j]))

    Inputs:
    - x: class scores, of shape (N, C)
    - y: integer labels, of shape (N,), with 0 <= y[i] < C

    Returns a tuple of:
    - loss: a scalar (Python float)
    - dx: gradient of the loss with respect to x, of the shape and dtype of x
    """
    _check_scores_and_labels(x, y)

    ### BEGIN SOLUTION
    N = x.shape[0]
    rows = np.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].sum() / N
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    dx /= N
    ### END SOLUTION
    return float(loss), dx.astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Batch normalization and layer normalization
# ----------------------------------------------------------------------------------------------


def _norm_grads(dx, dgamma, dbeta, x_hat, gamma):
    """(dx, dgamma, dbeta) cast to the dtypes of x (that of x_hat) and of gamma (x's if gamma holds integers)."""
    param_dtype = gamma.dtype if gamma.dtype.kind == "f" else x_hat.dtype
    return (
        dx.astype(x_hat.dtype, copy=False),
        dgamma.astype(param_dtype, copy=False),
        dbeta.astype(param_dtype, copy=False),
    )


def _check_norm_inputs(x, gamma, beta, x_layout="(N, D)"):
    _require_array("x", x)
    for name, arr in (("gamma", gamma), ("beta", beta)):
        _require_array(name, arr, integers_ok=True)
    require_ndim("x", x, 2, x_layout)
    D = x.shape[1]
    require_shape("gamma", gamma, (D,), f"one scale per feature of x, shape {x.shape}")
    require_shape("beta", beta, (D,), f"one shift per feature of x, shape {x.shape}")


def batchnorm_forward(x, gamma, beta, bn_param):
    """Forward pass of batch normalization.

    Train mode normalizes each feature by the minibatch mean and the biased (1/N) variance,
    then scales and shifts: out = gamma * (x - mean) / sqrt(var + eps) + beta. It also keeps
    exponentially decaying running averages, written back into bn_param:

        running_mean = momentum * running_mean + (1 - momentum) * sample_mean
        running_var = momentum * running_var + (1 - momentum) * sample_var

    Test mode normalizes with the running averages instead of the batch statistics.

    Inputs:
    - x: data, of shape (N, D)
    - gamma: scale, of shape (D,)
    - beta: shift, of shape (D,)
    - bn_param: dict with
      - mode: 'train' or 'test' (required)
      - eps: constant for numeric stability (default 1e-5)
      - momentum: constant for the running averages (default 0.9)
      - running_mean: array of shape (D,) (zeros if absent; written back)
      - running_var: array of shape (D,) (zeros if absent; written back)

    Returns a tuple of:
    - out: of shape (N, D), dtype of x
    - cache: (mode, x_hat, gamma, inv_std), read by batchnorm_backward(_alt), where
      x_hat = (x - mean) * inv_std is the normalized input and inv_std = 1 / sqrt(var + eps)
      for the statistics the mode used (batch or running).
    """
    _check_norm_inputs(x, gamma, beta)
    mode = get_param(bn_param, "mode", "bn_param")
    require_mode("bn_param", mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(D, dtype=x.dtype))
    require_shape("bn_param['running_mean']", running_mean, (D,), f"one per feature of x, shape {x.shape}")
    require_shape("bn_param['running_var']", running_var, (D,), f"one per feature of x, shape {x.shape}")
    if mode == "train" and N < 1:
        raise ValueError(f"x must hold at least one example in train mode, got shape {x.shape}")

    ### BEGIN SOLUTION
    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    cache = (mode, x_hat, gamma, inv_std)
    ### END SOLUTION

    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out.astype(x.dtype, copy=False), cache


def batchnorm_backward(dout, cache):
    """Backward pass of batch normalization, step by step through the computational graph.

    Inputs:
    - dout: upstream derivative, of shape (N, D)
    - cache: (mode, x_hat, gamma, inv_std) from batchnorm_forward

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, D)
    - dgamma: gradient with respect to gamma, of shape (D,)
    - dbeta: gradient with respect to beta, of shape (D,)
    """
    mode, x_hat, gamma, inv_std = cache
    _require_array("dout", dout)
    require_shape("dout", dout, x_hat.shape, "the shape of batchnorm_forward's output")

    ### BEGIN SOLUTION
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    if mode == "test":
        # The running statistics are constants: only the scaling carries a gradient.
        dx = dx_hat * inv_std
    else:
        # Forward graph: xmu = x - mean; std = sqrt(var + eps); x_hat = xmu / std;
        # var = mean(xmu ** 2); mean = mean(x). Walk it back node by node.
        std = 1 / inv_std
        xmu = x_hat * std
        dxmu = dx_hat * inv_std                                  # x_hat = xmu * inv_std, via xmu
        dinv_std = (dx_hat * xmu).sum(axis=0)                    # ... and via inv_std
        dstd = -dinv_std * inv_std**2                            # inv_std = 1 / std
        dvar = dstd * 0.5 * inv_std                              # std = sqrt(var + eps)
        dxmu = dxmu + 2 * xmu * dvar / N                         # var = mean(xmu ** 2)
        dmean = -dxmu.sum(axis=0)                                # xmu = x - mean
        dx = dxmu + dmean / N                                    # mean = mean(x)
    ### END SOLUTION
    return _norm_grads(dx, dgamma, dbeta, x_hat, gamma)


def batchnorm_backward_alt(dout, cache):
    """Backward pass of batch normalization from the simplified closed form.

    With x_hat the normalized input and g = dout * gamma, the gradient of train mode is

        dx = inv_std / N * (N * g - sum(g) - x_hat * sum(g * x_hat))    (sums over the batch)

    Inputs and outputs as batchnorm_backward.
    """
    mode, x_hat, gamma, inv_std = cache
    _require_array("dout", dout)
    require_shape("dout", dout, x_hat.shape, "the shape of batchnorm_forward's output")

    ### BEGIN SOLUTION
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma
    if mode == "test":
        dx = g * inv_std
    else:
        dx = inv_std / N * (N * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))
    ### END SOLUTION
    return _norm_grads(dx, dgamma, dbeta, x_hat, gamma)


def layernorm_forward(x, gamma, beta, ln_param):
    """Forward pass of layer normalization.

    Each example is normalized by the mean and biased variance of its own features, then
    scaled and shifted per feature. Train and test behave identically, so no running
    statistics are kept.

    Inputs:
    - x: data, of shape (N, D)
    - gamma: scale, of shape (D,)
    - beta: shift, of shape (D,)
    - ln_param: dict with
      - eps: constant for numeric stability (default 1e-5)

    Returns a tuple of:
    - out: of shape (N, D)
    - cache: (x_hat, gamma, inv_std), read by layernorm_backward; x_hat of shape (N, D) and
      inv_std = 1 / sqrt(var + eps) of shape (N, 1)
    """
    _check_norm_inputs(x, gamma, beta)
    if not isinstance(ln_param, dict):
        raise ValueError(f"ln_param must be a dict, got {type(ln_param).__name__}")
    eps = ln_param.get("eps", 1e-5)
    if x.shape[1] < 1:
        raise ValueError(f"x must have at least one feature, got shape {x.shape}")

    ### BEGIN SOLUTION
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    cache = (x_hat, gamma, inv_std)
    ### END SOLUTION
    return out.astype(x.dtype, copy=False), cache


def layernorm_backward(dout, cache):
    """Backward pass of layer normalization.

    Inputs:
    - dout: upstream derivative, of shape (N, D)
    - cache: (x_hat, gamma, inv_std) from layernorm_forward

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, D)
    - dgamma: gradient with respect to gamma, of shape (D,)
    - dbeta: gradient with respect to beta, of shape (D,)
    """
    x_hat, gamma, inv_std = cache
    _require_array("dout", dout)
    require_shape("dout", dout, x_hat.shape, "the shape of layernorm_forward's output")

    ### BEGIN SOLUTION
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    g = dout * gamma
    dx = inv_std / D * (D * g - g.sum(axis=1, keepdims=True) - x_hat * (g * x_hat).sum(axis=1, keepdims=True))
    ### END SOLUTION
    return _norm_grads(dx, dgamma, dbeta, x_hat, gamma)


# ----------------------------------------------------------------------------------------------
# Dropout
# ----------------------------------------------------------------------------------------------


def dropout_forward(x, dropout_param):
    """Forward pass of inverted dropout.

    At train time each unit is KEPT with probability p and the kept units are scaled by 1/p,
    so the expected output equals the input and test time needs no rescaling: at test time
    the layer is the identity.

    Inputs:
    - x: input, of any shape
    - dropout_param: dict with
      - p: probability of keeping each unit, in (0, 1] (required)
      - mode: 'train' or 'test' (required)
      - seed: optional; when given, the mask comes from np.random.default_rng(seed), so every
        call with the same seed draws the same mask (for gradient checks)
      - rng: optional; a random generator (np.random.Generator, or anything with a
        .random(shape) method) to draw the mask from when there is no seed. Models pass
        their own seeded generator here. Without seed or rng a fresh generator is used.

    Returns a tuple of:
    - out: of the shape and dtype of x
    - cache: (dropout_param, mask); mask of x's shape and dtype holding 0 or 1/p in train
      mode, None in test mode
    """
    _require_array("x", x)
    p = get_param(dropout_param, "p", "dropout_param")
    mode = get_param(dropout_param, "mode", "dropout_param")
    require_mode("dropout_param", mode)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0 < p <= 1:
        raise ValueError(f"dropout_param['p'] is the probability of KEEPING a unit and must lie in (0, 1], got {p!r}")
    if "seed" in dropout_param:
        rng = np.random.default_rng(dropout_param["seed"])
    elif "rng" in dropout_param:
        rng = dropout_param["rng"]
    else:
        rng = np.random.default_rng()

    mask = None
    ### BEGIN SOLUTION
    if mode == "train":
        mask = ((rng.random(x.shape) < p) / p).astype(x.dtype)
        out = x * mask
    else:
        out = x.copy()
    ### END SOLUTION
    cache = (dropout_param, mask)
    return out.astype(x.dtype, copy=False), cache


def dropout_backward(dout, cache):
    """Backward pass of inverted dropout.

    Inputs:
    - dout: upstream derivative, of the shape of x
    - cache: (dropout_param, mask) from dropout_forward

    Returns:
    - dx: gradient with respect to x, of the shape of x
    """
    dropout_param, mask = cache
    _require_array("dout", dout)
    if mask is not None:
        require_shape("dout", dout, mask.shape, "the shape of dropout_forward's input")

    ### BEGIN SOLUTION
    if dropout_param["mode"] == "train":
        dx = dout * mask
    else:
        dx = dout.copy()
    ### END SOLUTION
    return dx if mask is None else dx.astype(mask.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Convolution and pooling
# ----------------------------------------------------------------------------------------------


def _conv_geometry(x, w, b, conv_param):
    for name, arr in (("x", x), ("w", w), ("b", b)):
        _require_array(name, arr)
    stride = get_param(conv_param, "stride", "conv_param")
    pad = get_param(conv_param, "pad", "conv_param")
    return conv_output_shape(x.shape, w.shape, b.shape, stride, pad), stride, pad


def conv_forward_naive(x, w, b, conv_param):
    """Forward pass of a convolutional layer, with loops.

    The input has N examples, each with C channels, height H and width W. Each of the F
    filters spans all C channels and has height HH and width WW. As in every deep-learning
    library this is a cross-correlation: the filter is not flipped.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - w: filter weights, of shape (F, C, HH, WW)
    - b: biases, of shape (F,)
    - conv_param: dict with
      - stride: pixels between adjacent receptive fields, horizontally and vertically
      - pad: zero padding added on each of the four sides of x (x itself is not modified)

    The stride must tile the padded input exactly:
      H' = 1 + (H + 2 * pad - HH) / stride
      W' = 1 + (W + 2 * pad - WW) / stride
    must both be whole numbers, or a ValueError is raised.

    Returns a tuple of:
    - out: output, of shape (N, F, H', W')
    - cache: (x, w, b, conv_param), read only by conv_backward_naive
    """
    (N, F, H_out, W_out), stride, pad = _conv_geometry(x, w, b, conv_param)

    ### BEGIN SOLUTION
    _, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    w_rows = w.reshape(F, -1)
    out = np.empty((N, F, H_out, W_out), dtype=np.result_type(x, w, b))
    for i in range(H_out):
        for j in range(W_out):
            window = xp[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
            out[:, :, i, j] = window.reshape(N, -1) @ w_rows.T + b
    ### END SOLUTION
    cache = (x, w, b, conv_param)
    return out, cache


def conv_backward_naive(dout, cache):
    """Backward pass of a convolutional layer, with loops.

    Inputs:
    - dout: upstream derivative, of shape (N, F, H', W')
    - cache: (x, w, b, conv_param) from conv_forward_naive

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    - dw: gradient with respect to w, of shape (F, C, HH, WW)
    - db: gradient with respect to b, of shape (F,)
    """
    x, w, b, conv_param = cache
    out_shape, stride, pad = _conv_geometry(x, w, b, conv_param)
    _require_array("dout", dout)
    require_shape("dout", dout, out_shape, "the shape of conv_forward_naive's output")

    ### BEGIN SOLUTION
    N, F, H_out, W_out = out_shape
    _, C, H, W = x.shape
    _, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    w_rows = w.reshape(F, -1)
    dw_rows = np.zeros(w_rows.shape, dtype=np.result_type(x, dout))
    for i in range(H_out):
        for j in range(W_out):
            hs, ws = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            g = dout[:, :, i, j]                                   # (N, F)
            dw_rows += g.T @ xp[:, :, hs, ws].reshape(N, -1)
            dxp[:, :, hs, ws] += (g @ w_rows).reshape(N, C, HH, WW)
    dx = dxp[:, :, pad : pad + H, pad : pad + W]
    dw = dw_rows.reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3))
    ### END SOLUTION
    return dx.astype(x.dtype), dw.astype(w.dtype, copy=False), db.astype(b.dtype, copy=False)


def _pool_geometry(x, pool_param):
    _require_array("x", x)
    ph = get_param(pool_param, "pool_height", "pool_param")
    pw = get_param(pool_param, "pool_width", "pool_param")
    stride = get_param(pool_param, "stride", "pool_param")
    return pool_output_shape(x.shape, ph, pw, stride), ph, pw, stride


def max_pool_forward_naive(x, pool_param):
    """Forward pass of max pooling, with loops.

    There is no padding. Windows may overlap (stride < window) and need not be square.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - pool_param: {"pool_height": PH, "pool_width": PW, "stride": S}

    The stride must tile the input: (H - PH) and (W - PW) must be divisible by S.

    Returns a tuple of:
    - out: of shape (N, C, 1 + (H - PH) // S, 1 + (W - PW) // S)
    - cache: (x, pool_param), read only by max_pool_backward_naive
    """
    (N, C, H_out, W_out), ph, pw, stride = _pool_geometry(x, pool_param)

    ### BEGIN SOLUTION
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            out[:, :, i, j] = window.max(axis=(2, 3))
    ### END SOLUTION
    cache = (x, pool_param)
    return out, cache


def max_pool_backward_naive(dout, cache):
    """Backward pass of max pooling, with loops.

    Each window routes its upstream derivative to the position of its maximum; when several
    positions tie, to the first of them in row-major order (as np.argmax picks). Where
    windows overlap, the derivatives they route to one position add up.

    Inputs:
    - dout: upstream derivative, of shape (N, C, H', W')
    - cache: (x, pool_param) from max_pool_forward_naive

    Returns:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    """
    x, pool_param = cache
    out_shape, ph, pw, stride = _pool_geometry(x, pool_param)
    _require_array("dout", dout)
    require_shape("dout", dout, out_shape, "the shape of max_pool_forward_naive's output")

    ### BEGIN SOLUTION
    N, C, H_out, W_out = out_shape
    dx = np.zeros_like(x)
    for i in range(H_out):
        for j in range(W_out):
            hs, ws = slice(i * stride, i * stride + ph), slice(j * stride, j * stride + pw)
            window = x[:, :, hs, ws].reshape(N, C, ph * pw)
            first_max = window.argmax(axis=2)[:, :, None]
            routed = np.zeros(window.shape, dtype=x.dtype)
            np.put_along_axis(routed, first_max, dout[:, :, i, j][:, :, None], axis=2)
            dx[:, :, hs, ws] += routed.reshape(N, C, ph, pw)
    ### END SOLUTION
    return dx


# ----------------------------------------------------------------------------------------------
# Spatial batch normalization and group normalization
# ----------------------------------------------------------------------------------------------


def _check_spatial_x(x):
    _require_array("x", x)
    require_ndim("x", x, 4, "(N, C, H, W)")


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Forward pass of spatial batch normalization.

    Each channel is normalized over the batch and both spatial axes (N * H * W values),
    exactly as batchnorm_forward normalizes each feature over the batch.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - gamma: scale, of shape (C,)
    - beta: shift, of shape (C,)
    - bn_param: as for batchnorm_forward (mode required; eps, momentum, running_mean and
      running_var of shape (C,))

    Returns a tuple of:
    - out: of shape (N, C, H, W)
    - cache: (x_shape, bn_cache): the shape of x, and the cache of batchnorm_forward on the
      (N * H * W, C) view of x
    """
    _check_spatial_x(x)
    C = x.shape[1]
    for name, arr in (("gamma", gamma), ("beta", beta)):
        _require_array(name, arr, integers_ok=True)
        require_shape(name, arr, (C,), f"one per channel of x, shape {x.shape}")

    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    columns = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out_columns, bn_cache = batchnorm_forward(columns, gamma, beta, bn_param)
    out = out_columns.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    ### END SOLUTION
    cache = (x.shape, bn_cache)
    return out, cache


def spatial_batchnorm_backward(dout, cache):
    """Backward pass of spatial batch normalization.

    Inputs:
    - dout: upstream derivative, of shape (N, C, H, W)
    - cache: (x_shape, bn_cache) from spatial_batchnorm_forward

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    - dgamma: gradient with respect to gamma, of shape (C,)
    - dbeta: gradient with respect to beta, of shape (C,)
    """
    x_shape, bn_cache = cache
    _require_array("dout", dout)
    require_shape("dout", dout, x_shape, "the shape of spatial_batchnorm_forward's output")

    ### BEGIN SOLUTION
    N, C, H, W = x_shape
    dcolumns = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx_columns, dgamma, dbeta = batchnorm_backward_alt(dcolumns, bn_cache)
    dx = dx_columns.reshape(N, H, W, C).transpose(0, 3, 1, 2)
    ### END SOLUTION
    return dx, dgamma, dbeta


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Forward pass of spatial group normalization.

    The C channels of each example are split into G contiguous groups of C // G channels;
    each group is normalized by its own mean and biased variance (over its channels and all
    spatial positions), then each channel is scaled and shifted.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - gamma: scale, of shape (1, C, 1, 1)
    - beta: shift, of shape (1, C, 1, 1)
    - G: number of groups, a positive integer dividing C
    - gn_param: dict with
      - eps: constant for numeric stability (default 1e-5)

    Returns a tuple of:
    - out: of shape (N, C, H, W)
    - cache: (G, x_hat, gamma, inv_std), read by spatial_groupnorm_backward; x_hat of x's
      shape, inv_std = 1 / sqrt(var + eps) of shape (N, G, 1)
    """
    _check_spatial_x(x)
    N, C, H, W = x.shape
    for name, arr in (("gamma", gamma), ("beta", beta)):
        _require_array(name, arr, integers_ok=True)
        require_shape(name, arr, (1, C, 1, 1), f"one per channel of x, shape {x.shape}")
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < 1 or C % G:
        raise ValueError(f"G must be a positive integer dividing the {C} channels of x (shape {x.shape}), got {G!r}")
    if not isinstance(gn_param, dict):
        raise ValueError(f"gn_param must be a dict, got {type(gn_param).__name__}")
    eps = gn_param.get("eps", 1e-5)

    ### BEGIN SOLUTION
    groups = x.reshape(N, G, -1)
    mean = groups.mean(axis=2, keepdims=True)
    var = groups.var(axis=2, keepdims=True)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = ((groups - mean) * inv_std).reshape(x.shape)
    out = gamma * x_hat + beta
    cache = (G, x_hat, gamma, inv_std)
    ### END SOLUTION
    return out.astype(x.dtype, copy=False), cache


def spatial_groupnorm_backward(dout, cache):
    """Backward pass of spatial group normalization.

    Inputs:
    - dout: upstream derivative, of shape (N, C, H, W)
    - cache: (G, x_hat, gamma, inv_std) from spatial_groupnorm_forward

    Returns a tuple of:
    - dx: gradient with respect to x, of shape (N, C, H, W)
    - dgamma: gradient with respect to gamma, of shape (1, C, 1, 1)
    - dbeta: gradient with respect to beta, of shape (1, C, 1, 1)
    """
    G, x_hat, gamma, inv_std = cache
    _require_array("dout", dout)
    require_shape("dout", dout, x_hat.shape, "the shape of spatial_groupnorm_forward's output")

    ### BEGIN SOLUTION
    N = dout.shape[0]
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)
    g = (dout * gamma).reshape(N, G, -1)
    xg = x_hat.reshape(N, G, -1)
    M = g.shape[2]
    dx = inv_std / M * (M * g - g.sum(axis=2, keepdims=True) - xg * (g * xg).sum(axis=2, keepdims=True))
    dx = dx.reshape(dout.shape)
    ### END SOLUTION
    return _norm_grads(dx, dgamma, dbeta, x_hat, gamma)
