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
    affine_geometry,
    batchnorm_settings,
    conv_geometry,
    dropout_settings,
    groupnorm_settings,
    layernorm_settings,
    pool_geometry,
    require_array,
    require_scores_and_labels,
    require_scores_and_targets,
    require_shape,
    require_spatial_norm_inputs,
)

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
    D = affine_geometry(x, w, b)

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
    require_array("dout", dout)
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
    require_array("x", x)

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
    require_array("dout", dout)
    require_shape("dout", dout, x.shape, "the shape of relu_forward's input")

    ### BEGIN SOLUTION
    dx = dout * (x > 0)
    ### END SOLUTION
    return dx.astype(x.dtype, copy=False)


def sigmoid_forward(x):
    """Forward pass of a layer of logistic sigmoid units, 1 / (1 + exp(-x)).

    Must not overflow, nor warn, for large |x| (x = -1000 gives 0, x = 1000 gives 1): exp of a
    large positive number overflows, exp of a large negative one underflows quietly to 0.

    Inputs:
    - x: input, of any shape

    Returns a tuple of:
    - out: output, of the same shape and dtype as x, in [0, 1]
    - cache: out, read only by sigmoid_backward (the derivative is out * (1 - out))
    """
    require_array("x", x)

    ### BEGIN SOLUTION
    with np.errstate(under="ignore"):  # exp(-1000) is 0: the right answer, not an error
        z = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))
    ### END SOLUTION
    out = out.astype(x.dtype, copy=False)
    cache = out
    return out, cache


def sigmoid_backward(dout, cache):
    """Backward pass of a layer of logistic sigmoid units.

    Inputs:
    - dout: upstream derivative, of the shape of x
    - cache: out, the output of sigmoid_forward

    Returns:
    - dx: gradient with respect to x, of the shape and dtype of x
    """
    out = cache
    require_array("dout", dout)
    require_shape("dout", dout, out.shape, "the shape of sigmoid_forward's input")

    ### BEGIN SOLUTION
    dx = dout * out * (1 - out)
    ### END SOLUTION
    return dx.astype(out.dtype, copy=False)


def tanh_forward(x):
    """Forward pass of a layer of hyperbolic tangent units.

    Inputs:
    - x: input, of any shape

    Returns a tuple of:
    - out: output, of the same shape and dtype as x, in [-1, 1]
    - cache: out, read only by tanh_backward (the derivative is 1 - out ** 2)
    """
    require_array("x", x)

    ### BEGIN SOLUTION
    out = np.tanh(x)
    ### END SOLUTION
    out = out.astype(x.dtype, copy=False)
    cache = out
    return out, cache


def tanh_backward(dout, cache):
    """Backward pass of a layer of hyperbolic tangent units.

    Inputs:
    - dout: upstream derivative, of the shape of x
    - cache: out, the output of tanh_forward

    Returns:
    - dx: gradient with respect to x, of the shape and dtype of x
    """
    out = cache
    require_array("dout", dout)
    require_shape("dout", dout, out.shape, "the shape of tanh_forward's input")

    ### BEGIN SOLUTION
    dx = dout * (1 - out * out)
    ### END SOLUTION
    return dx.astype(out.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------



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
    require_scores_and_labels(x, y)

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
    require_scores_and_labels(x, y)

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


def sigmoid_cross_entropy_loss(x, y):
    """Binary cross-entropy of sigmoid units, summed over each example's scores, averaged over
    the minibatch, computed stably.

    With p = sigmoid(x) and targets t in {0, 1}:
    L = -1/N * sum [t * log(p) + (1 - t) * log(1 - p)]
      = 1/N * sum [max(x, 0) - x * t + log(1 + exp(-|x|))]

    The second form never overflows (exp(-|x|) lies in (0, 1]) and never takes the log of 0,
    so x = 1000 with t = 0 gives a loss of 1000 / N, not inf or nan.

    Inputs:
    - x: scores (logits), of shape (N,) for one unit per example, or (N, d_1, ..., d_k)
    - y: targets, of the shape of x, each 0 or 1 (integers, booleans or floats)

    Returns a tuple of:
    - loss: a scalar (Python float)
    - dx: gradient of the loss with respect to x, of the shape and dtype of x: (p - t) / N
    """
    require_scores_and_targets(x, y)

    ### BEGIN SOLUTION
    N = x.shape[0]
    t = y.astype(x.dtype)
    with np.errstate(under="ignore"):  # exp(-1000) is 0: the right answer, not an error
        softplus = np.log1p(np.exp(-np.abs(x)))
    loss = (np.maximum(x, 0) - x * t + softplus).sum() / N
    p, _ = sigmoid_forward(x)
    dx = (p - t) / N
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
    mode, eps, momentum, running_mean, running_var = batchnorm_settings(x, gamma, beta, bn_param)

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
    require_array("dout", dout)
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
    require_array("dout", dout)
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
    eps = layernorm_settings(x, gamma, beta, ln_param)

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
    require_array("dout", dout)
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
    """Forward pass of dropout, inverted (the default) or vanilla.

    At train time each unit is KEPT with probability p. Inverted dropout scales the kept units
    by 1/p, so the expected output equals the input and test time needs no rescaling: at test
    time the layer is the identity. Vanilla dropout (the original paper's, and Nielsen's
    network3) does not scale at train time; at test time it multiplies every unit by p instead.

    Inputs:
    - x: input, of any shape
    - dropout_param: dict with
      - p: probability of keeping each unit, in (0, 1] (required)
      - mode: 'train' or 'test' (required)
      - kind: 'inverted' (the default when absent) or 'vanilla'
      - seed: optional; when given, the mask comes from np.random.default_rng(seed), so every
        call with the same seed draws the same mask (for gradient checks)
      - rng: optional; a random generator (np.random.Generator, or anything with a
        .random(shape) method) to draw the mask from when there is no seed. Models pass
        their own seeded generator here. Without seed or rng a fresh generator is used.

    Returns a tuple of:
    - out: of the shape and dtype of x
    - cache: (dropout_param, mask); mask of x's shape and dtype holding 0 or 1/p (inverted) or
      0 or 1 (vanilla) in train mode, None in test mode
    """
    p, mode, kind = dropout_settings(x, dropout_param)
    if "seed" in dropout_param:
        rng = np.random.default_rng(dropout_param["seed"])
    elif "rng" in dropout_param:
        rng = dropout_param["rng"]
    else:
        rng = np.random.default_rng()

    mask = None
    ### BEGIN SOLUTION
    if mode == "train":
        keep = rng.random(x.shape) < p
        mask = (keep / p if kind == "inverted" else keep).astype(x.dtype)
        out = x * mask
    elif kind == "inverted":
        out = x.copy()
    else:
        out = x * p
    ### END SOLUTION
    cache = (dropout_param, mask)
    return out.astype(x.dtype, copy=False), cache


def dropout_backward(dout, cache):
    """Backward pass of dropout, inverted or vanilla (``dropout_param["kind"]``).

    Inputs:
    - dout: upstream derivative, of the shape of x
    - cache: (dropout_param, mask) from dropout_forward

    Returns:
    - dx: gradient with respect to x, of the shape of x
    """
    dropout_param, mask = cache
    require_array("dout", dout)
    if mask is not None:
        require_shape("dout", dout, mask.shape, "the shape of dropout_forward's input")

    ### BEGIN SOLUTION
    if dropout_param["mode"] == "train":
        dx = dout * mask
    elif dropout_param.get("kind", "inverted") == "inverted":
        dx = dout.copy()
    else:
        dx = dout * dropout_param["p"]
    ### END SOLUTION
    return dx.astype(dout.dtype if mask is None else mask.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Convolution and pooling
# ----------------------------------------------------------------------------------------------


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
    (N, F, H_out, W_out), stride, pad = conv_geometry(x, w, b, conv_param)

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
    out_shape, stride, pad = conv_geometry(x, w, b, conv_param)
    require_array("dout", dout)
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
    (N, C, H_out, W_out), ph, pw, stride = pool_geometry(x, pool_param)

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
    out_shape, ph, pw, stride = pool_geometry(x, pool_param)
    require_array("dout", dout)
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


def avg_pool_forward_naive(x, pool_param):
    """Forward pass of average (mean) pooling, with loops.

    The same windows as max pooling: no padding; they may overlap (stride < window) and need
    not be square.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - pool_param: {"pool_height": PH, "pool_width": PW, "stride": S}

    The stride must tile the input: (H - PH) and (W - PW) must be divisible by S.

    Returns a tuple of:
    - out: the mean of each window, of shape (N, C, 1 + (H - PH) // S, 1 + (W - PW) // S)
    - cache: (x, pool_param), read only by avg_pool_backward_naive
    """
    (N, C, H_out, W_out), ph, pw, stride = pool_geometry(x, pool_param)

    ### BEGIN SOLUTION
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]
            out[:, :, i, j] = window.mean(axis=(2, 3))
    ### END SOLUTION
    cache = (x, pool_param)
    return out, cache


def avg_pool_backward_naive(dout, cache):
    """Backward pass of average pooling, with loops.

    Each window spreads its upstream derivative evenly over its PH * PW positions; where
    windows overlap, the shares one position receives add up.

    Inputs:
    - dout: upstream derivative, of shape (N, C, H', W')
    - cache: (x, pool_param) from avg_pool_forward_naive

    Returns:
    - dx: gradient with respect to x, of shape (N, C, H, W) and x's dtype
    """
    x, pool_param = cache
    out_shape, ph, pw, stride = pool_geometry(x, pool_param)
    require_array("dout", dout)
    require_shape("dout", dout, out_shape, "the shape of avg_pool_forward_naive's output")

    ### BEGIN SOLUTION
    N, C, H_out, W_out = out_shape
    dx = np.zeros_like(x)
    per_position = dout / (ph * pw)
    for i in range(H_out):
        for j in range(W_out):
            dx[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw] += per_position[:, :, i, j, None, None]
    ### END SOLUTION
    return dx


# ----------------------------------------------------------------------------------------------
# Spatial batch normalization and group normalization
# ----------------------------------------------------------------------------------------------


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
    require_spatial_norm_inputs(x, gamma, beta)

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
    require_array("dout", dout)
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
    eps = groupnorm_settings(x, gamma, beta, G, gn_param)
    N, C, H, W = x.shape

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
    require_array("dout", dout)
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
