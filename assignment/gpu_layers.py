"""GPU twins of the layers, in CuPy, with the naive signatures and cache contract.

Each ``<op>_gpu`` function takes the arrays where they live and returns results there: given
CuPy arrays it runs on the GPU (GEMMs through cuBLAS via ``matmul``), given numpy arrays it runs
the very same code on the CPU, which is how the suite checks these twins on machines without a
GPU. CuPy is imported only when a CuPy array arrives or ``require_cupy()`` is called; without it,
that call says how to install the ``gpu`` extra.

Layouts follow Chainer's CPU/GPU split: im2col is a strided view copied into (N, C*HH*WW, H'*W')
columns, so one batched GEMM yields (N, F, H'*W') directly; col2im and the max-pool backward are
GATHERS (each input pixel sums the column entries that read it, through an index table built
once per geometry and memoized per device), so no atomics and no races.

The twins of the layers students write (affine, ReLU, sigmoid, tanh, both losses, batch, layer
and group normalization, dropout) are twin regions (the release's markers): in the student
release each body becomes one call of the student's own naive layer on host copies of the arrays
(:func:`_on_host`), with the results brought back to the arrays' device, so this file holds no
second copy of the answers. The convolution, max-pool and average-pool twins (im2col, strided
windows and gathers, a different algorithm from the naive loops) are given to students as they
are.

Argument checks live once, in :mod:`assignment.checks`: every twin runs the checks of its naive
layer (``devices=True``: a CuPy array is accepted where the naive layer takes a numpy one), so a
bad argument raises the same ValueError here as there.
"""

import functools

import numpy as np

from assignment import layers  # noqa: F401 - what the twins call in the student release (see _on_host)
from assignment.checks import (
    conv_output_shape,
    device_conv_geometry,
    device_pool_geometry,
    is_array,
    pool_output_shape,
    require_array,
    require_shape,
)
from assignment.devices import array_module, is_cupy, to_host

### BEGIN TWIN
# isort: split
from assignment.checks import (  # used only by the twins of student code
    affine_geometry,
    batchnorm_settings,
    dropout_settings,
    groupnorm_settings,
    layernorm_settings,
    require_scores_and_labels,
    require_scores_and_targets,
    require_spatial_norm_inputs,
)

### END TWIN


def _as_strided(xp, a, shape, strides):
    return xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)


class _HostDraws:
    """A device generator seen from the host: ``random(shape)`` draws on the device, returns numpy.

    The naive dropout takes any ``rng`` with a ``random(shape)`` method, so the draws (and the
    mask) are those the device generator gives.
    """

    def __init__(self, rng):
        self.rng = rng

    def random(self, shape):
        return to_host(self.rng.random(shape))


def _host_value(v):
    if is_array(v):
        return to_host(v)
    if is_cupy(v) and hasattr(v, "random"):
        return _HostDraws(v)
    return v


def _host_dict(d, xp):
    host = {k: _host_value(v) for k, v in d.items()}
    if "seed" in host:
        # A seeded dropout draws on the device from xp.random.default_rng(seed), as the device
        # twins do; the naive rule (seed over rng) then reads that generator.
        host["rng"] = _HostDraws(xp.random.default_rng(host.pop("seed")))
    return host


def _on_host(fn, *args):
    """``fn(*args)`` for a naive layer ``fn`` of ``assignment.layers``, wherever the arrays live.

    With numpy arrays (no CuPy array among ``args``) this is the plain call ``fn(*args)``.
    With CuPy arrays:

    - every array among ``args`` is copied to the host; a dict argument (``bn_param``,
      ``dropout_param``, ...) is copied with its arrays on the host, and a CuPy generator
      (``dropout_param["rng"]``, or ``xp.random.default_rng(seed)`` for a ``seed``) is wrapped so
      that it draws on the device and hands the draws over: the mask is the device twin's;
    - after the call, every array of that host dict (bn_param's running statistics, which the
      naive function writes back) is copied into the CALLER's dict on the caller's device, so
      that dict ends up as it would with a device implementation;
    - each array the call returns at the top level (out, a gradient, dx, ReLU's cache) comes
      back on the device; anything nested (a cache tuple) and a loss (a float) stay as they
      are: a cache stays on the host, where the matching backward, called through here too,
      reads it.
    """
    xp = array_module(*(a for a in args if is_array(a)))
    if xp is np:
        return fn(*args)
    host_args = [_host_dict(a, xp) if isinstance(a, dict) else _host_value(a) for a in args]
    result = fn(*host_args)
    for given, host in zip(args, host_args, strict=True):
        if isinstance(given, dict):
            for key, value in host.items():
                if isinstance(value, np.ndarray):
                    given[key] = xp.asarray(value)
                elif not isinstance(value, _HostDraws):
                    given[key] = value
    if isinstance(result, tuple):
        return tuple(xp.asarray(r) if isinstance(r, np.ndarray) else r for r in result)
    return xp.asarray(result) if isinstance(result, np.ndarray) else result


def _device_key(xp):
    """Memo key of the device arrays live on: 'cpu', or the CUDA device id."""
    return "cpu" if xp is np else int(xp.cuda.Device().id)


_TABLES = {}


def _device_table(xp, builder, *key):
    """An index table built on the host by ``builder(*key)`` once, cached on each device."""
    memo_key = (builder.__name__, _device_key(xp), *key)
    if memo_key not in _TABLES:
        _TABLES[memo_key] = tuple(xp.asarray(t) for t in builder(*key))
    return _TABLES[memo_key]


def _gather_table(targets, num_targets, sources, sentinel):
    """Invert a scatter: row t of the (num_targets, M) result lists the sources s with
    targets[s] == t, padded with ``sentinel`` (which the caller maps to a zero)."""
    order = np.argsort(targets, kind="stable")
    counts = np.bincount(targets, minlength=num_targets)
    width = max(int(counts.max()), 1) if counts.size else 1
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(targets.size) - starts[targets[order]]
    table = np.full((num_targets, width), sentinel, dtype=np.int64)
    table[targets[order], rank] = sources[order]
    return table


@functools.lru_cache(maxsize=64)
def _col2im_table(C, H, W, HH, WW, stride, pad, H_out, W_out):
    """Gather table for col2im: for each pixel of the UNPADDED input, the flat indices into the
    (C*HH*WW) x (H'*W') columns of one image that read it; sentinel C*HH*WW*H'*W'."""
    c, kh, kw, oh, ow = (a.ravel() for a in np.meshgrid(
        np.arange(C), np.arange(HH), np.arange(WW), np.arange(H_out), np.arange(W_out), indexing="ij"))
    h = oh * stride + kh - pad
    w = ow * stride + kw - pad
    inside = (h >= 0) & (h < H) & (w >= 0) & (w < W)                 # reads of the zero padding carry nothing
    sources = np.flatnonzero(inside)
    targets = ((c * H + h) * W + w)[inside]
    return (_gather_table(targets, C * H * W, sources, sentinel=c.size),)


@functools.lru_cache(maxsize=64)
def _pool_backward_table(H, W, PH, PW, stride, H_out, W_out):
    """For each input pixel, the windows covering it (flat window index) and the pixel's
    position k inside each of them; padded with the window H'*W' (a zero) and k = -1."""
    oh, ow, kh, kw = (a.ravel() for a in np.meshgrid(
        np.arange(H_out), np.arange(W_out), np.arange(PH), np.arange(PW), indexing="ij"))
    targets = (oh * stride + kh) * W + (ow * stride + kw)
    sources = _gather_table(targets, H * W, np.arange(targets.size), sentinel=-1)
    padding = sources < 0
    window_table = np.where(padding, H_out * W_out, (oh * W_out + ow)[sources])
    k_table = np.where(padding, -1, (kh * PW + kw)[sources])
    return window_table, k_table


# ----------------------------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------------------------


def _im2col(xp, x, HH, WW, stride, pad, H_out, W_out):
    """(N, C, H, W) -> (N, C*HH*WW, H'*W') columns, rows ordered (c, kh, kw) like w.reshape(F, -1)."""
    N, C = x.shape[:2]
    xp_ = xp.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else xp.ascontiguousarray(x)
    sN, sC, sH, sW = xp_.strides
    view = _as_strided(xp, xp_, (N, C, HH, WW, H_out, W_out), (sN, sC, sH, sW, sH * stride, sW * stride))
    return view.reshape(N, C * HH * WW, H_out * W_out)


def conv_forward_gpu(x, w, b, conv_param):
    """Same contract as layers.conv_forward_naive; runs where x lives.

    Returns (out, cache) with cache = (x, w, b, conv_param, cols), cols the im2col matrix.
    """
    (N, F, H_out, W_out), stride, pad = device_conv_geometry(x, w, b, conv_param)
    xp = array_module(x, w, b)
    cols = _im2col(xp, x, w.shape[2], w.shape[3], stride, pad, H_out, W_out)
    out = xp.matmul(w.reshape(F, -1), cols) + b.reshape(1, F, 1)
    return out.reshape(N, F, H_out, W_out), (x, w, b, conv_param, cols)


def conv_backward_gpu(dout, cache):
    """Same contract as layers.conv_backward_naive: returns (dx, dw, db)."""
    x, w, b, conv_param, cols = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    out_shape = conv_output_shape(x.shape, w.shape, b.shape, stride, pad)
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, out_shape, "the shape of conv_forward's output")
    N, F, H_out, W_out = out_shape
    _, C, H, W = x.shape
    _, _, HH, WW = w.shape
    xp = array_module(dout, x)
    g = dout.reshape(N, F, H_out * W_out)
    db = dout.sum(axis=(0, 2, 3)).astype(b.dtype, copy=False)
    K = C * HH * WW
    dw = xp.matmul(g.transpose(1, 0, 2).reshape(F, -1), cols.transpose(0, 2, 1).reshape(-1, K))
    dcols = xp.matmul(w.reshape(F, K).T, g).reshape(N, -1)                       # (N, K*H'*W')
    (table,) = _device_table(xp, _col2im_table, C, H, W, HH, WW, stride, pad, H_out, W_out)
    dcols = xp.concatenate([dcols, xp.zeros((N, 1), dtype=dcols.dtype)], axis=1)  # the sentinel reads 0
    dx = dcols[:, table].sum(axis=2).reshape(x.shape)
    return dx.astype(x.dtype, copy=False), dw.reshape(w.shape).astype(w.dtype, copy=False), db


def conv_relu_forward_gpu(x, w, b, conv_param):
    """Same contract as layer_utils.conv_relu_forward: conv_forward_gpu, then relu_forward_gpu."""
    a, conv_cache = conv_forward_gpu(x, w, b, conv_param)
    out, relu_cache = relu_forward_gpu(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward_gpu(dout, cache):
    """Same contract as layer_utils.conv_relu_backward: returns (dx, dw, db)."""
    conv_cache, relu_cache = cache
    return conv_backward_gpu(relu_backward_gpu(dout, relu_cache), conv_cache)


# ----------------------------------------------------------------------------------------------
# Max and average pooling
# ----------------------------------------------------------------------------------------------


def _pool_windows(xp, x, ph, pw, stride, H_out, W_out):
    """(N, C, H', W', PH, PW): window (i, j) of x as a strided view (of a C-ordered copy if x is not)."""
    N, C = x.shape[:2]
    xc = xp.ascontiguousarray(x)
    sN, sC, sH, sW = xc.strides
    return _as_strided(xp, xc, (N, C, H_out, W_out, ph, pw), (sN, sC, sH * stride, sW * stride, sH, sW))


def max_pool_forward_gpu(x, pool_param):
    """Same contract as layers.max_pool_forward_naive; cache = (x, pool_param, argmax)."""
    (N, C, H_out, W_out), ph, pw, stride = device_pool_geometry(x, pool_param)
    xp = array_module(x)
    windows = _pool_windows(xp, x, ph, pw, stride, H_out, W_out).reshape(N, C, H_out, W_out, ph * pw)
    argmax = windows.argmax(axis=4)                                  # first maximum, like np.argmax
    out = xp.take_along_axis(windows, argmax[..., None], axis=4)[..., 0]
    return out, (x, pool_param, argmax)


def max_pool_backward_gpu(dout, cache):
    """Same contract as layers.max_pool_backward_naive, as a gather over the covering windows."""
    x, pool_param, argmax = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = pool_output_shape(x.shape, ph, pw, stride)
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, (N, C, H_out, W_out), "the shape of max_pool_forward's output")
    _, _, H, W = x.shape
    xp = array_module(dout, x)
    windows, ks = _device_table(xp, _pool_backward_table, H, W, ph, pw, stride, H_out, W_out)
    g = xp.concatenate([dout.reshape(N, C, -1), xp.zeros((N, C, 1), dtype=dout.dtype)], axis=2)
    a = xp.concatenate([argmax.reshape(N, C, -1), xp.full((N, C, 1), -2, dtype=argmax.dtype)], axis=2)
    routed = g[:, :, windows] * (a[:, :, windows] == ks)              # (N, C, H*W, M)
    return routed.sum(axis=3).reshape(x.shape).astype(x.dtype, copy=False)


def avg_pool_forward_gpu(x, pool_param):
    """Same contract as layers.avg_pool_forward_naive: the mean of each strided window;
    cache = (x, pool_param), the naive layer's."""
    (N, C, H_out, W_out), ph, pw, stride = device_pool_geometry(x, pool_param)
    xp = array_module(x)
    out = _pool_windows(xp, x, ph, pw, stride, H_out, W_out).mean(axis=(4, 5))
    return out.astype(x.dtype, copy=False), (x, pool_param)


def avg_pool_backward_gpu(dout, cache):
    """Same contract as layers.avg_pool_backward_naive (its cache (x, pool_param) too).

    PH * PW strided adds: add (kh, kw) hands every window's share dout / (PH * PW) to the
    pixel at offset (kh, kw) of that window. Within one add no two windows reach the same
    pixel (the offsets are stride apart), so overlapping windows sum without atomics or races.
    """
    x, pool_param = cache
    out_shape, ph, pw, stride = device_pool_geometry(x, pool_param)
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, out_shape, "the shape of avg_pool_forward's output")
    _, _, H_out, W_out = out_shape
    xp = array_module(dout, x)
    share = dout / (ph * pw)
    dx = xp.zeros(x.shape, dtype=x.dtype)
    rows, cols = stride * (H_out - 1) + 1, stride * (W_out - 1) + 1   # the span of H' (W') offsets
    for kh in range(ph):
        for kw in range(pw):
            dx[:, :, kh : kh + rows : stride, kw : kw + cols : stride] += share
    return dx


# ----------------------------------------------------------------------------------------------
# Affine, ReLU, losses
# ----------------------------------------------------------------------------------------------


def affine_forward_gpu(x, w, b):
    """Same contract as layers.affine_forward; cache = (x, w, b)."""
    ### BEGIN TWIN: return _on_host(layers.affine_forward, x, w, b)
    D = affine_geometry(x, w, b, devices=True)
    return x.reshape(x.shape[0], D) @ w + b, (x, w, b)
    ### END TWIN


def affine_backward_gpu(dout, cache):
    """Same contract as layers.affine_backward: returns (dx, dw, db)."""
    ### BEGIN TWIN: return _on_host(layers.affine_backward, dout, cache)
    x, w, b = cache
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, (x.shape[0], w.shape[1]), "the shape of affine_forward's output")
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    return dx.astype(x.dtype, copy=False), dw.astype(w.dtype, copy=False), dout.sum(axis=0).astype(b.dtype, copy=False)
    ### END TWIN


def relu_forward_gpu(x):
    """Same contract as layers.relu_forward; cache = x."""
    ### BEGIN TWIN: return _on_host(layers.relu_forward, x)
    require_array("x", x, devices=True)
    return array_module(x).maximum(x, 0), x
    ### END TWIN


def relu_backward_gpu(dout, cache):
    """Same contract as layers.relu_backward."""
    ### BEGIN TWIN: return _on_host(layers.relu_backward, dout, cache)
    x = cache
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, x.shape, "the shape of relu_forward's input")
    return (dout * (x > 0)).astype(x.dtype, copy=False)
    ### END TWIN


def sigmoid_forward_gpu(x):
    """Same contract as layers.sigmoid_forward; cache = out."""
    ### BEGIN TWIN: return _on_host(layers.sigmoid_forward, x)
    require_array("x", x, devices=True)
    xp = array_module(x)
    a = xp.abs(x)
    # z = exp(-|x|) in [0, 1] never overflows. Past `limit` it would underflow (a FloatingPointError
    # under np.errstate(all="raise")), so there it is exp(-limit) * 0 = 0; NaN stays NaN.
    limit = float(np.floor(-np.log(np.finfo(x.dtype).tiny)))
    z = (xp.exp(-xp.minimum(a, limit)) * (a < limit)).astype(x.dtype, copy=False)
    out = xp.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)
    return out, out
    ### END TWIN


def sigmoid_backward_gpu(dout, cache):
    """Same contract as layers.sigmoid_backward."""
    ### BEGIN TWIN: return _on_host(layers.sigmoid_backward, dout, cache)
    out = cache
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, out.shape, "the shape of sigmoid_forward's input")
    return (dout * out * (1 - out)).astype(out.dtype, copy=False)
    ### END TWIN


def tanh_forward_gpu(x):
    """Same contract as layers.tanh_forward; cache = out."""
    ### BEGIN TWIN: return _on_host(layers.tanh_forward, x)
    require_array("x", x, devices=True)
    out = array_module(x).tanh(x)
    return out, out
    ### END TWIN


def tanh_backward_gpu(dout, cache):
    """Same contract as layers.tanh_backward."""
    ### BEGIN TWIN: return _on_host(layers.tanh_backward, dout, cache)
    out = cache
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, out.shape, "the shape of tanh_forward's input")
    return (dout * (1 - out * out)).astype(out.dtype, copy=False)
    ### END TWIN


def softmax_loss_gpu(x, y):
    """Same contract as layers.softmax_loss. On a GPU the loss may stay there as a 0-d array; the
    Solver turns it into a float when it logs it."""
    ### BEGIN TWIN: return _on_host(layers.softmax_loss, x, y)
    require_scores_and_labels(x, y, devices=True)
    xp = array_module(x, y)
    N = x.shape[0]
    rows = xp.arange(N)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].sum() / N
    dx = xp.exp(log_probs)
    dx[rows, y] -= 1
    dx /= N
    return (float(loss) if xp is np else loss), dx.astype(x.dtype, copy=False)
    ### END TWIN


def svm_loss_gpu(x, y):
    """Same contract as layers.svm_loss (the loss as for softmax_loss_gpu)."""
    ### BEGIN TWIN: return _on_host(layers.svm_loss, x, y)
    require_scores_and_labels(x, y, devices=True)
    xp = array_module(x, y)
    N = x.shape[0]
    rows = xp.arange(N)
    margins = xp.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / N
    positive = (margins > 0).astype(x.dtype)
    positive[rows, y] = -positive.sum(axis=1)
    return (float(loss) if xp is np else loss), (positive / N).astype(x.dtype, copy=False)
    ### END TWIN


def sigmoid_cross_entropy_loss_gpu(x, y):
    """Same contract as layers.sigmoid_cross_entropy_loss (the loss as for softmax_loss_gpu)."""
    ### BEGIN TWIN: return _on_host(layers.sigmoid_cross_entropy_loss, x, y)
    require_scores_and_targets(x, y, devices=True)
    xp = array_module(x, y)
    N = x.shape[0]
    t = y.astype(x.dtype)
    a = xp.abs(x)
    limit = float(np.floor(-np.log(np.finfo(x.dtype).tiny)))  # as in sigmoid_forward_gpu: no underflow
    z = (xp.exp(-xp.minimum(a, limit)) * (a < limit)).astype(x.dtype, copy=False)
    loss = (xp.maximum(x, 0) - x * t + xp.log1p(z)).sum() / N
    p = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
    dx = (p - t) / N
    return (float(loss) if xp is np else loss), dx.astype(x.dtype, copy=False)
    ### END TWIN


# ----------------------------------------------------------------------------------------------
# Normalization and dropout
# ----------------------------------------------------------------------------------------------

### BEGIN TWIN
def _normalize(xp, x, axis, eps):
    mean = x.mean(axis=axis, keepdims=True)
    var = x.var(axis=axis, keepdims=True)
    inv_std = 1 / xp.sqrt(var + eps)
    return (x - mean) * inv_std, inv_std, mean, var


def _normalized_dx(g, x_hat, inv_std, axis):
    """dx of x_hat = (x - mean(x)) * inv_std for upstream g = dL/dx_hat, stats over ``axis``."""
    M = int(np.prod([g.shape[a] for a in (axis if isinstance(axis, tuple) else (axis,))]))
    return inv_std / M * (M * g - g.sum(axis=axis, keepdims=True) - x_hat * (g * x_hat).sum(axis=axis, keepdims=True))


### END TWIN


def batchnorm_forward_gpu(x, gamma, beta, bn_param):
    """Same contract as layers.batchnorm_forward; cache = (mode, x_hat, gamma, inv_std)."""
    ### BEGIN TWIN: return _on_host(layers.batchnorm_forward, x, gamma, beta, bn_param)
    mode, eps, momentum, running_mean, running_var = batchnorm_settings(x, gamma, beta, bn_param, devices=True)
    xp = array_module(x)
    if mode == "train":
        x_hat, inv_std, mean, var = _normalize(xp, x, 0, eps)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean[0]
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var[0]
    else:
        inv_std = 1 / xp.sqrt(running_var + eps)
        x_hat = (x - running_mean) * inv_std
        bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    out = gamma * x_hat + beta
    return out.astype(x.dtype, copy=False), (mode, x_hat, gamma, inv_std)
    ### END TWIN


def batchnorm_backward_gpu(dout, cache):
    """Same contract as layers.batchnorm_backward(_alt): returns (dx, dgamma, dbeta)."""
    ### BEGIN TWIN: return _on_host(layers.batchnorm_backward_alt, dout, cache)
    mode, x_hat, gamma, inv_std = cache
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, x_hat.shape, "the shape of batchnorm_forward's output")
    g = dout * gamma
    dx = g * inv_std if mode == "test" else _normalized_dx(g, x_hat, inv_std, 0)
    return layers._norm_grads(dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0), x_hat, gamma)
    ### END TWIN


def spatial_batchnorm_forward_gpu(x, gamma, beta, bn_param):
    """Same contract as layers.spatial_batchnorm_forward; cache = (x_shape, bn_cache)."""
    ### BEGIN TWIN: return _on_host(layers.spatial_batchnorm_forward, x, gamma, beta, bn_param)
    require_spatial_norm_inputs(x, gamma, beta, devices=True)
    N, C, H, W = x.shape
    out, bn_cache = batchnorm_forward_gpu(x.transpose(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_param)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), (x.shape, bn_cache)
    ### END TWIN


def spatial_batchnorm_backward_gpu(dout, cache):
    """Same contract as layers.spatial_batchnorm_backward."""
    ### BEGIN TWIN: return _on_host(layers.spatial_batchnorm_backward, dout, cache)
    x_shape, bn_cache = cache
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, x_shape, "the shape of spatial_batchnorm_forward's output")
    N, C, H, W = x_shape
    dx, dgamma, dbeta = batchnorm_backward_gpu(dout.transpose(0, 2, 3, 1).reshape(-1, C), bn_cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
    ### END TWIN


def layernorm_forward_gpu(x, gamma, beta, ln_param):
    """Same contract as layers.layernorm_forward; cache = (x_hat, gamma, inv_std)."""
    ### BEGIN TWIN: return _on_host(layers.layernorm_forward, x, gamma, beta, ln_param)
    eps = layernorm_settings(x, gamma, beta, ln_param, devices=True)
    x_hat, inv_std, _, _ = _normalize(array_module(x), x, 1, eps)
    return (gamma * x_hat + beta).astype(x.dtype, copy=False), (x_hat, gamma, inv_std)
    ### END TWIN


def layernorm_backward_gpu(dout, cache):
    """Same contract as layers.layernorm_backward."""
    ### BEGIN TWIN: return _on_host(layers.layernorm_backward, dout, cache)
    x_hat, gamma, inv_std = cache
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, x_hat.shape, "the shape of layernorm_forward's output")
    dx = _normalized_dx(dout * gamma, x_hat, inv_std, 1)
    return layers._norm_grads(dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0), x_hat, gamma)
    ### END TWIN


def spatial_groupnorm_forward_gpu(x, gamma, beta, G, gn_param):
    """Same contract as layers.spatial_groupnorm_forward; cache = (G, x_hat, gamma, inv_std)."""
    ### BEGIN TWIN: return _on_host(layers.spatial_groupnorm_forward, x, gamma, beta, G, gn_param)
    eps = groupnorm_settings(x, gamma, beta, G, gn_param, devices=True)
    N = x.shape[0]
    x_hat, inv_std, _, _ = _normalize(array_module(x), x.reshape(N, G, -1), 2, eps)
    x_hat = x_hat.reshape(x.shape)
    return (gamma * x_hat + beta).astype(x.dtype, copy=False), (G, x_hat, gamma, inv_std)
    ### END TWIN


def spatial_groupnorm_backward_gpu(dout, cache):
    """Same contract as layers.spatial_groupnorm_backward."""
    ### BEGIN TWIN: return _on_host(layers.spatial_groupnorm_backward, dout, cache)
    G, x_hat, gamma, inv_std = cache
    require_array("dout", dout, devices=True)
    require_shape("dout", dout, x_hat.shape, "the shape of spatial_groupnorm_forward's output")
    N = dout.shape[0]
    g = (dout * gamma).reshape(N, G, -1)
    dx = _normalized_dx(g, x_hat.reshape(N, G, -1), inv_std, 2).reshape(dout.shape)
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3), keepdims=True)
    return layers._norm_grads(dx, dgamma, dout.sum(axis=(0, 2, 3), keepdims=True), x_hat, gamma)
    ### END TWIN


def dropout_forward_gpu(x, dropout_param):
    """Same contract as layers.dropout_forward (p = KEEP probability; dropout_param["kind"]
    'inverted', the default, or 'vanilla').

    The mask is drawn where x lives: from ``xp.random.default_rng(seed)`` when the param has a
    seed, else from ``dropout_param["rng"]`` (a generator of x's device), else a fresh one.
    """
    ### BEGIN TWIN: return _on_host(layers.dropout_forward, x, dropout_param)
    p, mode, kind = dropout_settings(x, dropout_param, devices=True)
    if mode == "test":
        out = x.copy() if kind == "inverted" else (x * p).astype(x.dtype, copy=False)
        return out, (dropout_param, None)
    xp = array_module(x)
    if "seed" in dropout_param:
        rng = xp.random.default_rng(dropout_param["seed"])
    else:
        rng = dropout_param.get("rng") or xp.random.default_rng()
    if kind == "inverted":
        mask = ((rng.random(x.shape) < p) / p).astype(x.dtype)
    else:
        mask = (rng.random(x.shape) < p).astype(x.dtype)
    return x * mask, (dropout_param, mask)
    ### END TWIN


def dropout_backward_gpu(dout, cache):
    """Same contract as layers.dropout_backward."""
    ### BEGIN TWIN: return _on_host(layers.dropout_backward, dout, cache)
    dropout_param, mask = cache
    require_array("dout", dout, devices=True)
    if mask is not None:
        require_shape("dout", dout, mask.shape, "the shape of dropout_forward's input")
        return (dout * mask).astype(mask.dtype, copy=False)
    if dropout_param.get("kind", "inverted") == "inverted":
        return dout.copy()
    return (dout * dropout_param["p"]).astype(dout.dtype, copy=False)
    ### END TWIN
