"""Pure-numpy fast twins: what ``assignment.fast_layers`` serves where the compiled ones are absent.

Same public names, arguments, caches, dtypes and ``ValueError`` messages as the compiled Cython
twins (``assignment._fast_cython``, built from ``fast_layers.pyx``); import them through
``assignment.fast_layers``, which picks one of the two. No compiler needed, slower than the Cython
twins, much faster than the naive loops (a convolution is a few copies and GEMMs, with no loop over
pixels).

- ``conv_forward_fast(x, w, b, conv_param) -> (out, cache)``, ``conv_backward_fast(dout, cache) -> (dx, dw, db)``
- ``conv_relu_forward_fast`` / ``conv_relu_backward_fast`` (the contract of ``layer_utils.conv_relu_*``)
- ``max_pool_forward_fast(x, pool_param) -> (out, cache)``, ``max_pool_backward_fast(dout, cache) -> dx``
- ``avg_pool_forward_fast(x, pool_param) -> (out, cache)``, ``avg_pool_backward_fast(dout, cache) -> dx``
- ``relu_forward_fast`` / ``relu_backward_fast``

(No affine twin: ``layers.affine_forward`` is one GEMM already and serves as the fast one.)

Each ``*_fast`` name dispatches on the array type, as the Cython ones do: a CuPy array runs the
GPU twin of ``assignment.gpu_layers`` (imported only then), a numpy array the ``*_cpu`` twin here.

How the convolution works (im2col + BLAS):

- ``_im2col``: the windows of the zero-padded input are a view
  (``numpy.lib.stride_tricks.sliding_window_view``), copied once into ``cols`` of shape
  (C*HH*WW, N*H'*W'): a row per filter tap (c, kh, kw), a column per output pixel of every image.
- Forward: one GEMM, ``out = w (F, C*HH*WW) @ cols``, plus the bias.
- Backward: ``dw = dout (F, N*H'*W') @ cols^T`` (cols recomputed: the cache is the naive one) and
  ``db`` the sum of dout's rows. ``dx``: for stride 1 with F <= C, a gather (dout, zero-padded by
  HH-1-pad, convolved with the flipped filters: an im2col of dout and one GEMM); otherwise
  ``dcols = w^T @ dout`` and ``_col2im``, a loop over the HH*WW filter taps, each adding one
  strided slice into the padded dx.

Max pooling loops over the PH*PW offsets of a window; each step compares the strided slice of x at
that offset, for all windows at once, with the running maximum. A later entry wins only when it is
larger (or NaN over a number), so each window's argmax is its first maximum in row-major order, as
``np.argmax`` in the naive backward picks; overlapping windows add up in the backward pass.

Average pooling adds, for each of the PH*PW offsets of a window, the strided slice of x at that
offset (all windows at once), and scales by 1 / (PH*PW); its backward adds dout / (PH*PW) into the
same slices of dx (overlapping windows add up).

float32 computes in float32 (float16 in float32 too), everything else in float64; results come back
in the dtypes the naive layers return. Inputs are never modified.

The ReLU and conv+ReLU twins are twin regions (the release's markers): in the student
release they call the student's own layers of ``assignment.layers``, as in ``fast_layers.pyx``.
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from assignment import layers
from assignment.checks import compute_dtype as _compute_dtype
from assignment.checks import conv_geometry as _conv_geometry
from assignment.checks import conv_relu_cache, require_shape
from assignment.checks import pool_geometry as _pool_geometry
from assignment.checks import require_array as _require_array

# ----------------------------------------------------------------------------------------------
# Arrays (the argument checks, in the naive layers' order, are assignment.checks')
# ----------------------------------------------------------------------------------------------


def _is_cupy(a):
    return type(a).__module__.split(".")[0] == "cupy"


# ----------------------------------------------------------------------------------------------
# im2col and col2im
# ----------------------------------------------------------------------------------------------


def _pad(a, pad_h, pad_w):
    """``a`` (N, C, H, W) with pad_h zero rows above and below and pad_w zero columns left and right.

    A negative pad crops that many rows (columns) on each side instead. Returns ``a`` itself when
    both pads are 0.
    """
    crop_h, crop_w = max(0, -pad_h), max(0, -pad_w)
    a = a[:, :, crop_h : a.shape[2] - crop_h, crop_w : a.shape[3] - crop_w]
    pad_h, pad_w = max(0, pad_h), max(0, pad_w)
    if pad_h == 0 and pad_w == 0:
        return a
    N, C, H, W = a.shape
    padded = np.zeros((N, C, H + 2 * pad_h, W + 2 * pad_w), dtype=a.dtype)
    padded[:, :, pad_h : pad_h + H, pad_w : pad_w + W] = a
    return padded


def _tap(a, kh, kw, stride, Ho, Wo):
    """The strided view of ``a`` (.., .., Hp, Wp) that filter tap (kh, kw) reads for an Ho x Wo output."""
    return a[:, :, kh : kh + stride * (Ho - 1) + 1 : stride, kw : kw + stride * (Wo - 1) + 1 : stride]


def _im2col(xp, HH, WW, stride, Ho, Wo):
    """The windows of a padded input as one matrix.

    Inputs:
    - xp: the zero-padded input, of shape (N, C, Hp, Wp), with Ho = 1 + (Hp - HH) / stride and
      likewise Wo whole numbers
    - HH, WW, stride: the filter size and the stride

    Returns:
    - cols: of shape (C*HH*WW, N*Ho*Wo), cols[(c*HH + kh)*WW + kw, (n*Ho + i)*Wo + j] =
      xp[n, c, i*stride + kh, j*stride + kw]; read only (it may be a view of xp)
    """
    N, C = xp.shape[:2]
    windows = sliding_window_view(xp, (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]  # (N, C, Ho, Wo, HH, WW)
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(C * HH * WW, N * Ho * Wo)


def _col2im(dcols, x_shape, HH, WW, stride, pad, Ho, Wo):
    """The adjoint of _im2col (of the input padded by ``pad``): dx, each entry the sum of the
    ``dcols`` entries that its copies in cols received.

    Inputs:
    - dcols: of shape (C*HH*WW, N*Ho*Wo), the layout of _im2col
    - x_shape: (N, C, H, W), the shape of the unpadded input

    Returns:
    - dx: of shape x_shape and dcols' dtype
    """
    N, C, H, W = x_shape
    taps = dcols.reshape(C, HH, WW, N, Ho, Wo)
    dxp = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=dcols.dtype)
    for kh in range(HH):
        for kw in range(WW):
            _tap(dxp, kh, kw, stride, Ho, Wo)[...] += taps[:, kh, kw]
    return np.ascontiguousarray(dxp[:, :, pad : pad + H, pad : pad + W].transpose(1, 0, 2, 3))


def _dx_by_gather(dout, w, pad, x_shape):
    """dx of a stride-1 convolution, computed as a convolution of dout.

    dx[n, c, i, j] = sum over f, kh, kw of dout[n, f, i + pad - kh, j + pad - kw] * w[f, c, kh, kw]:
    dout zero-padded by HH-1-pad (WW-1-pad), correlated with the filters flipped in both spatial
    axes and with their F and C axes swapped. One im2col of dout and one GEMM.

    Inputs: dout (N, F, H', W') and w (F, C, HH, WW) of one dtype; pad the forward's pad;
    x_shape (N, C, H, W). Returns dx of shape x_shape.
    """
    N, C, H, W = x_shape
    F, _, HH, WW = w.shape
    w_flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, F * HH * WW)
    cols = _im2col(_pad(dout, HH - 1 - pad, WW - 1 - pad), HH, WW, 1, H, W)
    dx_t = (w_flipped @ cols).reshape(C, N, H, W)
    return np.ascontiguousarray(dx_t.transpose(1, 0, 2, 3))


# ----------------------------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------------------------


def conv_forward_cpu(x, w, b, conv_param):
    """Convolution forward by im2col + one GEMM; the contract of layers.conv_forward_naive.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - w: filter weights, of shape (F, C, HH, WW)
    - b: biases, of shape (F,)
    - conv_param: {"stride": S, "pad": P}; H' = 1 + (H + 2P - HH) / S and likewise W' must be
      whole numbers

    Returns a tuple of:
    - out: of shape (N, F, H', W') and dtype np.result_type(x, w, b)
    - cache: (x, w, b, conv_param), exactly the naive cache
    """
    (N, F, Ho, Wo), stride, pad = _conv_geometry(x, w, b, conv_param)
    out_dtype = np.result_type(x, w, b)
    dt = _compute_dtype(out_dtype)
    _, C, HH, WW = w.shape
    cols = _im2col(_pad(x.astype(dt, copy=False), pad, pad), HH, WW, stride, Ho, Wo)
    out_t = w.reshape(F, C * HH * WW).astype(dt, copy=False) @ cols  # (F, N*H'*W')
    out_t += b.astype(dt, copy=False)[:, None]
    out = np.ascontiguousarray(out_t.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3))
    return out.astype(out_dtype, copy=False), (x, w, b, conv_param)


def conv_backward_cpu(dout, cache):
    """Convolution backward by im2col + GEMMs; the contract of layers.conv_backward_naive.

    Inputs:
    - dout: upstream derivative, of shape (N, F, H', W')
    - cache: (x, w, b, conv_param) from conv_forward_cpu (or conv_forward_naive)

    Returns a tuple of:
    - dx: of x's shape and dtype
    - dw: of w's shape and dtype
    - db: of b's shape and dtype
    """
    x, w, b, conv_param = cache
    (N, F, Ho, Wo), stride, pad = _conv_geometry(x, w, b, conv_param)
    _require_array("dout", dout)
    require_shape("dout", dout, (N, F, Ho, Wo), "the shape of conv_forward_fast's output")
    dt = _compute_dtype(x.dtype, w.dtype, b.dtype)
    _, C, HH, WW = w.shape
    wc = w.astype(dt, copy=False)
    dout_t = np.ascontiguousarray(dout.transpose(1, 0, 2, 3), dtype=dt).reshape(F, N * Ho * Wo)
    cols = _im2col(_pad(x.astype(dt, copy=False), pad, pad), HH, WW, stride, Ho, Wo)
    dw = (dout_t @ cols.T).reshape(w.shape)
    db = dout_t.sum(axis=1)
    if stride == 1 and F <= C:
        dx = _dx_by_gather(dout.astype(dt, copy=False), wc, pad, x.shape)
    else:
        dx = _col2im(wc.reshape(F, C * HH * WW).T @ dout_t, x.shape, HH, WW, stride, pad, Ho, Wo)
    return dx.astype(x.dtype, copy=False), dw.astype(w.dtype, copy=False), db.astype(b.dtype, copy=False)


def _conv_then_relu(x, w, b, conv_param):
    """conv_forward_cpu, then layers.relu_forward: conv_relu_forward_cpu's contract, unfused."""
    a, conv_cache = conv_forward_cpu(x, w, b, conv_param)
    out, relu_cache = layers.relu_forward(a)
    return out, (conv_cache, relu_cache)


def _relu_then_conv_backward(dout, cache):
    """layers.relu_backward, then conv_backward_cpu: conv_relu_backward_cpu's contract, unfused."""
    conv_cache, y = conv_relu_cache(cache)
    return conv_backward_cpu(layers.relu_backward(dout, y), conv_cache)


def conv_relu_forward_cpu(x, w, b, conv_param):
    """Convolution, then ReLU; the contract of layer_utils.conv_relu_forward.

    Inputs: x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param as conv_forward_naive.

    Returns a tuple of:
    - out: max(0, conv(x)), of shape (N, F, H', W') and dtype np.result_type(x, w, b)
    - cache: ((x, w, b, conv_param), out). The ReLU's cache is its output rather than its input:
      out > 0 exactly where the input is > 0, which is all a ReLU backward reads, so
      layer_utils.conv_relu_backward takes this cache, and conv_relu_backward_cpu takes theirs.
    """
    ### BEGIN TWIN: return _conv_then_relu(x, w, b, conv_param)
    out, conv_cache = conv_forward_cpu(x, w, b, conv_param)
    np.maximum(out, 0, out=out)  # out is a new array: rectified in place
    return out, (conv_cache, out)
    ### END TWIN


def conv_relu_backward_cpu(dout, cache):
    """Backward of conv_relu_forward_cpu; the contract of layer_utils.conv_relu_backward.

    Inputs:
    - dout: upstream derivative, of shape (N, F, H', W')
    - cache: from conv_relu_forward_cpu or layer_utils.conv_relu_forward

    Returns a tuple of (dx, dw, db), in the shapes and dtypes of x, w and b.
    """
    conv_cache, y = conv_relu_cache(cache)
    x, w, b, conv_param = conv_cache
    out_shape = _conv_geometry(x, w, b, conv_param)[0]
    _require_array("dout", dout)
    require_shape("dout", dout, out_shape, "the shape of conv_relu_forward_fast's output")
    _require_array("cache[1]", y)
    require_shape("cache[1]", y, out_shape, "the shape of conv_relu_forward_fast's output")
    ### BEGIN TWIN: return _relu_then_conv_backward(dout, cache)
    with np.errstate(invalid="ignore"):  # a product, as the naive one: NaN and inf * 0 give NaN
        masked = dout * (y > 0)
    return conv_backward_cpu(masked, conv_cache)
    ### END TWIN


# ----------------------------------------------------------------------------------------------
# Max pooling
# ----------------------------------------------------------------------------------------------


def max_pool_forward_cpu(x, pool_param):
    """Max pooling forward, all windows at once; the contract of layers.max_pool_forward_naive.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - pool_param: {"pool_height": PH, "pool_width": PW, "stride": S}; (H - PH) and (W - PW)
      must be divisible by S. Windows may overlap.

    Returns a tuple of:
    - out: of shape (N, C, 1 + (H - PH) // S, 1 + (W - PW) // S) and x's dtype
    - cache: (x, pool_param, argmax), read by max_pool_backward_cpu. argmax has out's shape and
      holds, as int32, the row-major position kh * PW + kw within its window of each window's
      first maximum (NaN counts as the maximum).
    """
    (N, C, Ho, Wo), ph, pw, stride = _pool_geometry(x, pool_param)
    xc = x.astype(_compute_dtype(x.dtype), copy=False)
    out = _tap(xc, 0, 0, stride, Ho, Wo).copy()
    argmax = np.zeros((N, C, Ho, Wo), dtype=np.int32)
    for k in range(1, ph * pw):
        v = _tap(xc, k // pw, k % pw, stride, Ho, Wo)
        wins = (v > out) | (np.isnan(v) & ~np.isnan(out))  # strictly larger, or the first NaN
        np.copyto(out, v, where=wins)
        np.copyto(argmax, k, where=wins)
    return out.astype(x.dtype, copy=False), (x, pool_param, argmax)


def max_pool_backward_cpu(dout, cache):
    """Max pooling backward; the contract of layers.max_pool_backward_naive.

    Inputs:
    - dout: upstream derivative, of shape (N, C, H', W')
    - cache: (x, pool_param, argmax) from max_pool_forward_cpu, or the naive (x, pool_param)

    Returns:
    - dx: of x's shape and dtype; each window's derivative goes to its first max (row-major),
      and overlapping windows add up.
    """
    if not isinstance(cache, tuple) or len(cache) not in (2, 3):
        raise ValueError("cache must be the (x, pool_param, argmax) of max_pool_forward_fast "
                         "or the (x, pool_param) of max_pool_forward_naive")
    if len(cache) == 2:  # the naive cache: find the argmax again
        cache = max_pool_forward_cpu(*cache)[1]
    x, pool_param, argmax = cache
    out_shape, ph, pw, stride = _pool_geometry(x, pool_param)
    _require_array("dout", dout)
    require_shape("dout", dout, out_shape, "the shape of max_pool_forward_fast's output")
    dt = _compute_dtype(x.dtype)
    dc = dout.astype(dt, copy=False)
    zero = np.zeros((), dtype=dt)
    _, _, Ho, Wo = out_shape
    grad = np.zeros(x.shape, dtype=dt)
    for k in range(ph * pw):
        # one offset: the windows' entries at it are distinct, so one slice takes every window's share
        _tap(grad, k // pw, k % pw, stride, Ho, Wo)[...] += np.where(argmax == k, dc, zero)
    return grad.astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Average pooling
# ----------------------------------------------------------------------------------------------


def avg_pool_forward_cpu(x, pool_param):
    """Average pooling forward, all windows at once; the contract of layers.avg_pool_forward_naive.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - pool_param: {"pool_height": PH, "pool_width": PW, "stride": S}; (H - PH) and (W - PW)
      must be divisible by S. Windows may overlap.

    Returns a tuple of:
    - out: the mean of each window, of shape (N, C, 1 + (H - PH) // S, 1 + (W - PW) // S) and x's dtype
    - cache: (x, pool_param), exactly the naive cache
    """
    (N, C, Ho, Wo), ph, pw, stride = _pool_geometry(x, pool_param)
    dt = _compute_dtype(x.dtype)
    xc = x.astype(dt, copy=False)
    # One strided slice per window offset, all windows at once (a mean over a sliding_window_view's
    # last two axes measured 10-20x slower: its reduction runs PW elements at a time).
    out = _tap(xc, 0, 0, stride, Ho, Wo).copy()
    for k in range(1, ph * pw):
        out += _tap(xc, k // pw, k % pw, stride, Ho, Wo)
    out *= dt.type(1 / (ph * pw))
    return out.astype(x.dtype, copy=False), (x, pool_param)


def avg_pool_backward_cpu(dout, cache):
    """Average pooling backward; the contract of layers.avg_pool_backward_naive.

    Inputs:
    - dout: upstream derivative, of shape (N, C, H', W')
    - cache: (x, pool_param) from avg_pool_forward_cpu or avg_pool_forward_naive

    Returns:
    - dx: of x's shape and dtype; each window spreads dout / (PH*PW) over its positions, and
      overlapping windows add up.
    """
    if not isinstance(cache, tuple) or len(cache) != 2:
        raise ValueError("cache must be the (x, pool_param) of avg_pool_forward_fast or of avg_pool_forward_naive")
    x, pool_param = cache
    out_shape, ph, pw, stride = _pool_geometry(x, pool_param)
    _require_array("dout", dout)
    require_shape("dout", dout, out_shape, "the shape of avg_pool_forward_fast's output")
    dt = _compute_dtype(x.dtype)
    share = dout.astype(dt) / dt.type(ph * pw)
    _, _, Ho, Wo = out_shape
    grad = np.zeros(x.shape, dtype=dt)
    for k in range(ph * pw):
        # one offset: the windows' entries at it are distinct, so one slice takes every window's share
        _tap(grad, k // pw, k % pw, stride, Ho, Wo)[...] += share
    return grad.astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# ReLU
# ----------------------------------------------------------------------------------------------


def relu_forward_cpu(x):
    """ReLU forward, max(0, x); the contract of layers.relu_forward.

    Inputs:
    - x: input, of any shape

    Returns a tuple of:
    - out: of x's shape and dtype
    - cache: x
    """
    _require_array("x", x)
    ### BEGIN TWIN: return layers.relu_forward(x)
    return np.maximum(x, 0), x
    ### END TWIN


def relu_backward_cpu(dout, cache):
    """ReLU backward; the contract of layers.relu_backward.

    Inputs:
    - dout: upstream derivative, of x's shape
    - cache: x, the input of relu_forward

    Returns:
    - dx: of x's shape and dtype
    """
    x = cache
    _require_array("dout", dout)
    require_shape("dout", dout, x.shape, "the shape of relu_forward's input")
    ### BEGIN TWIN: return layers.relu_backward(dout, cache)
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as in the naive product, without a warning
        return dout.astype(x.dtype, copy=False) * (x > 0)
    ### END TWIN


# ----------------------------------------------------------------------------------------------
# CS231n names: dispatch on the array type
# ----------------------------------------------------------------------------------------------


def _where_the_array_lives(cpu, gpu_name, contract):
    """The CS231n-named dispatcher of one twin: ``assignment.gpu_layers.<gpu_name>`` for a CuPy first
    argument (imported only then), else ``cpu``; ``contract`` names the naive function it keeps."""

    def fast(first, *rest):
        if _is_cupy(first):
            from assignment import gpu_layers

            return getattr(gpu_layers, gpu_name)(first, *rest)
        return cpu(first, *rest)

    fast.__name__ = fast.__qualname__ = gpu_name.replace("_gpu", "_fast")
    fast.__doc__ = f"Same contract as {contract}; runs where its first array lives (numpy: CPU, CuPy: GPU)."
    return fast


conv_forward_fast = _where_the_array_lives(conv_forward_cpu, "conv_forward_gpu", "layers.conv_forward_naive")
conv_backward_fast = _where_the_array_lives(conv_backward_cpu, "conv_backward_gpu", "layers.conv_backward_naive")
conv_relu_forward_fast = _where_the_array_lives(conv_relu_forward_cpu, "conv_relu_forward_gpu",
                                                "layer_utils.conv_relu_forward")
conv_relu_backward_fast = _where_the_array_lives(conv_relu_backward_cpu, "conv_relu_backward_gpu",
                                                 "layer_utils.conv_relu_backward")
max_pool_forward_fast = _where_the_array_lives(max_pool_forward_cpu, "max_pool_forward_gpu",
                                               "layers.max_pool_forward_naive")
max_pool_backward_fast = _where_the_array_lives(max_pool_backward_cpu, "max_pool_backward_gpu",
                                                "layers.max_pool_backward_naive")
avg_pool_forward_fast = _where_the_array_lives(avg_pool_forward_cpu, "avg_pool_forward_gpu",
                                               "layers.avg_pool_forward_naive")
avg_pool_backward_fast = _where_the_array_lives(avg_pool_backward_cpu, "avg_pool_backward_gpu",
                                                "layers.avg_pool_backward_naive")
relu_forward_fast = _where_the_array_lives(relu_forward_cpu, "relu_forward_gpu", "layers.relu_forward")
relu_backward_fast = _where_the_array_lives(relu_backward_cpu, "relu_backward_gpu", "layers.relu_backward")
