"""Independent reference implementations of the layers, written with PyTorch (CPU, autograd).

Test-only: this module imports ``torch`` at import time, so import it only after
``pytest.importorskip("torch")``. Nothing here calls ``assignment``: every value comes from
torch's own operators and autograd, which makes these functions an oracle for the naive
layers (``assignment.layers``), their fast twins and the GPU twins alike.

Every function takes numpy arrays, runs torch at the dtype of ``x`` (float32 stays float32,
float64 stays float64), copies its inputs (nothing passed in is ever modified, not even the
running statistics in ``bn_param``) and returns numpy arrays. Functions with an upstream
gradient return ``(out, grads)`` where ``grads`` is a tuple with one gradient per
differentiable input, in argument order and of that input's shape:

- ``affine(x, w, b, dout) -> (out, (dx, dw, db))``: ``x`` of shape (N, d1, ..., dk) is
  flattened to (N, D); ``out = x @ w + b``.
- ``relu(x, dout) -> (out, (dx,))``: the gradient at exactly 0 is 0 (torch's convention,
  and CS231n's ``dout * (x > 0)``).
- ``conv(x, w, b, conv_param, dout) -> (out, (dx, dw, db))``: ``F.conv2d`` (cross-correlation,
  zero padding ``conv_param["pad"]`` on each side, ``conv_param["stride"]``).
- ``conv_relu(x, w, b, conv_param, dout) -> (out, (dx, dw, db))``: ``F.relu`` of ``conv``.
- ``max_pool(x, pool_param, dout) -> (out, (dx,))``: ``F.max_pool2d`` with kernel
  (``pool_height``, ``pool_width``), ``stride``, no padding.
- ``sigmoid(x, dout)``, ``tanh(x, dout) -> (out, (dx,))``: ``torch.sigmoid``, ``torch.tanh``.
- ``avg_pool(x, pool_param, dout) -> (out, (dx,))``: ``F.avg_pool2d`` with kernel
  (``pool_height``, ``pool_width``), ``stride``, no padding.
- ``dropout(x, dropout_param, dout) -> (out, (dx,))``: the mask is drawn as the layer contract
  states it, ``np.random.default_rng(seed).random(x.shape) < p``, and applied with torch:
  scaled by 1/p at train time for the "inverted" kind, unscaled for "vanilla"; at test time
  the identity ("inverted") or a product with p ("vanilla"). torch's own dropout draws from
  its own generator, so only the formula is torch's here.
- ``softmax_loss(x, y) -> (loss, dx)``: ``F.cross_entropy``, mean over the N examples.
- ``sigmoid_cross_entropy_loss(x, y) -> (loss, dx)``: ``F.binary_cross_entropy_with_logits`` summed,
  divided by N.
- ``svm_loss(x, y) -> (loss, dx)``: multiclass hinge loss with margin 1 that skips j = y_i,
  mean over N. Built on ``F.multi_margin_loss``, which also divides by the number of
  classes C, so the result is multiplied back by C.
- ``batchnorm(x, gamma, beta, bn_param, dout, return_running=False)
  -> (out, (dx, dgamma, dbeta))``: ``F.batch_norm`` on x of shape (N, D).
  ``bn_param`` as in CS231n: ``mode`` ("train" or "test"), ``eps`` (1e-5), ``momentum`` (0.9),
  ``running_mean`` / ``running_var`` (zeros when absent). Train mode normalises with the batch
  mean and the biased (1/N) variance; test mode with the running statistics. With
  ``return_running=True`` a third item ``(running_mean, running_var)`` is returned: the
  statistics after this call, updated CS231n's way in train mode
  (``momentum * running + (1 - momentum) * batch``, biased batch variance; torch's own
  running-variance update uses the unbiased variance and a flipped momentum, so it is not
  used) and unchanged in test mode.
- ``layernorm(x, gamma, beta, ln_param, dout) -> (out, (dx, dgamma, dbeta))``:
  ``F.layer_norm`` over the D features of each row of x (N, D); ``ln_param.get("eps", 1e-5)``.
- ``spatial_batchnorm(x, gamma, beta, bn_param, dout, return_running=False)
  -> (out, (dx, dgamma, dbeta))``: as ``batchnorm`` for x (N, C, H, W) with per-channel
  statistics over (N, H, W); gamma, beta and running statistics of shape (C,).
- ``spatial_groupnorm(x, gamma, beta, G, gn_param, dout) -> (out, (dx, dgamma, dbeta))``:
  ``F.group_norm`` with G contiguous channel groups per example; gamma and beta of shape
  (1, C, 1, 1) (their gradients too); ``gn_param.get("eps", 1e-5)``.

Loss functions return ``loss`` as a Python float and ``dx`` as an array of x's dtype.
"""

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "affine",
    "avg_pool",
    "batchnorm",
    "conv",
    "conv_relu",
    "dropout",
    "layernorm",
    "max_pool",
    "relu",
    "sigmoid",
    "sigmoid_cross_entropy_loss",
    "softmax_loss",
    "spatial_batchnorm",
    "spatial_groupnorm",
    "svm_loss",
    "tanh",
]


def _leaf(a, dtype):
    """A fresh torch tensor (a copy, never a view of the caller's array) requiring grad."""
    return torch.tensor(np.array(a, dtype=dtype), requires_grad=True)


def _const(a, dtype):
    return torch.tensor(np.array(a, dtype=dtype))


def _np(t):
    return np.array(t.detach().numpy())


def _run(out, leaves, dout):
    """Backpropagate ``dout`` through ``out`` and collect the leaves' gradients as numpy."""
    out.backward(_const(dout, out.detach().numpy().dtype))
    return _np(out), tuple(_np(leaf.grad) for leaf in leaves)


def affine(x, w, b, dout):
    dt = np.asarray(x).dtype
    xt, wt, bt = _leaf(x, dt), _leaf(w, dt), _leaf(b, dt)
    out = xt.reshape(xt.shape[0], -1) @ wt + bt
    return _run(out, (xt, wt, bt), dout)


def relu(x, dout):
    dt = np.asarray(x).dtype
    xt = _leaf(x, dt)
    return _run(torch.relu(xt), (xt,), dout)


def conv(x, w, b, conv_param, dout):
    dt = np.asarray(x).dtype
    xt, wt, bt = _leaf(x, dt), _leaf(w, dt), _leaf(b, dt)
    out = F.conv2d(xt, wt, bt, stride=conv_param["stride"], padding=conv_param["pad"])
    return _run(out, (xt, wt, bt), dout)


def conv_relu(x, w, b, conv_param, dout):
    dt = np.asarray(x).dtype
    xt, wt, bt = _leaf(x, dt), _leaf(w, dt), _leaf(b, dt)
    out = F.relu(F.conv2d(xt, wt, bt, stride=conv_param["stride"], padding=conv_param["pad"]))
    return _run(out, (xt, wt, bt), dout)


def _pool(pool2d, x, pool_param, dout):
    xt = _leaf(x, np.asarray(x).dtype)
    kernel = (pool_param["pool_height"], pool_param["pool_width"])
    return _run(pool2d(xt, kernel_size=kernel, stride=pool_param["stride"]), (xt,), dout)


def max_pool(x, pool_param, dout):
    return _pool(F.max_pool2d, x, pool_param, dout)


def sigmoid(x, dout):
    dt = np.asarray(x).dtype
    xt = _leaf(x, dt)
    return _run(torch.sigmoid(xt), (xt,), dout)


def tanh(x, dout):
    dt = np.asarray(x).dtype
    xt = _leaf(x, dt)
    return _run(torch.tanh(xt), (xt,), dout)


def avg_pool(x, pool_param, dout):
    return _pool(F.avg_pool2d, x, pool_param, dout)


def dropout(x, dropout_param, dout):
    dt = np.asarray(x).dtype
    xt = _leaf(x, dt)
    p, kind = dropout_param["p"], dropout_param.get("kind", "inverted")
    if dropout_param["mode"] == "train":
        keep = np.random.default_rng(dropout_param["seed"]).random(np.shape(x)) < p
        out = xt * _const(keep, dt) / (p if kind == "inverted" else 1.0)
    else:
        out = xt * (1.0 if kind == "inverted" else p)
    return _run(out, (xt,), dout)


def _loss_and_grad(loss, xt):
    loss.backward()
    return float(loss.item()), _np(xt.grad)


def softmax_loss(x, y):
    dt = np.asarray(x).dtype
    xt = _leaf(x, dt)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    return _loss_and_grad(F.cross_entropy(xt, yt, reduction="mean"), xt)


def svm_loss(x, y):
    dt = np.asarray(x).dtype
    xt = _leaf(x, dt)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    num_classes = xt.shape[1]
    loss = F.multi_margin_loss(xt, yt, p=1, margin=1.0, reduction="mean") * num_classes
    return _loss_and_grad(loss, xt)


def sigmoid_cross_entropy_loss(x, y):
    dt = np.asarray(x).dtype
    xt = _leaf(x, dt)
    yt = torch.as_tensor(np.asarray(y)).to(xt.dtype)
    N = xt.shape[0]
    loss = F.binary_cross_entropy_with_logits(xt, yt, reduction="sum") / N
    return _loss_and_grad(loss, xt)


def _batchnorm_nd(x, gamma, beta, bn_param, dout, return_running, reduce_dims):
    """Shared body of ``batchnorm`` (reduce over dim 0) and ``spatial_batchnorm`` (0, 2, 3)."""
    dt = np.asarray(x).dtype
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    channels = np.asarray(x).shape[1]
    running_mean = _const(bn_param.get("running_mean", np.zeros(channels)), dt)
    running_var = _const(bn_param.get("running_var", np.zeros(channels)), dt)
    xt, gt, bt = _leaf(x, dt), _leaf(gamma, dt), _leaf(beta, dt)
    if mode == "train":
        out = F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
        with torch.no_grad():
            batch_mean = xt.mean(dim=reduce_dims)
            batch_var = xt.var(dim=reduce_dims, unbiased=False)
        new_mean = momentum * running_mean + (1 - momentum) * batch_mean
        new_var = momentum * running_var + (1 - momentum) * batch_var
    elif mode == "test":
        out = F.batch_norm(xt, running_mean, running_var, gt, bt, training=False, eps=eps)
        new_mean, new_var = running_mean, running_var
    else:
        raise ValueError(f"oracle: unknown bn_param['mode'] {mode!r}")
    out, grads = _run(out, (xt, gt, bt), dout)
    if return_running:
        return out, grads, (_np(new_mean), _np(new_var))
    return out, grads


def batchnorm(x, gamma, beta, bn_param, dout, return_running=False):
    return _batchnorm_nd(x, gamma, beta, bn_param, dout, return_running, reduce_dims=(0,))


def spatial_batchnorm(x, gamma, beta, bn_param, dout, return_running=False):
    return _batchnorm_nd(x, gamma, beta, bn_param, dout, return_running, reduce_dims=(0, 2, 3))


def layernorm(x, gamma, beta, ln_param, dout):
    dt = np.asarray(x).dtype
    xt, gt, bt = _leaf(x, dt), _leaf(gamma, dt), _leaf(beta, dt)
    out = F.layer_norm(xt, (xt.shape[1],), gt, bt, eps=ln_param.get("eps", 1e-5))
    return _run(out, (xt, gt, bt), dout)


def spatial_groupnorm(x, gamma, beta, G, gn_param, dout):
    dt = np.asarray(x).dtype
    xt, gt, bt = _leaf(x, dt), _leaf(gamma, dt), _leaf(beta, dt)
    channels = xt.shape[1]
    out = F.group_norm(
        xt, G, gt.reshape(channels), bt.reshape(channels), eps=gn_param.get("eps", 1e-5)
    )
    return _run(out, (xt, gt, bt), dout)
