# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Fast CPU twins of the naive layers, and the CS231n-named dispatchers that pick a twin.

``setup.py`` compiles this file into the private module ``assignment._fast_cython`` where a C
compiler works (the extension is optional). Import the twins through ``assignment.fast_layers``:
it serves these, or, where they were not built, their pure-numpy fallback ``assignment._fast_numpy``
under the same names and contract.

Public names (the naive contract of ``assignment.layers``, same arguments, same cache-in /
gradients-out shapes and dtypes, same ``ValueError`` on bad input):

- ``conv_forward_fast(x, w, b, conv_param) -> (out, cache)``, ``conv_backward_fast(dout, cache) -> (dx, dw, db)``
- ``conv_relu_forward_fast`` / ``conv_relu_backward_fast`` (the contract of ``layer_utils.conv_relu_*``)
- ``max_pool_forward_fast(x, pool_param) -> (out, cache)``, ``max_pool_backward_fast(dout, cache) -> dx``
- ``avg_pool_forward_fast(x, pool_param) -> (out, cache)``, ``avg_pool_backward_fast(dout, cache) -> dx``
- ``relu_forward_fast`` / ``relu_backward_fast``
- the same names with ``_cpu`` instead of ``_fast``: the CPU twins alone, without the dispatch

Each ``*_fast`` name dispatches on the array type: numpy arrays run the ``*_cpu`` twin; a CuPy
array runs the ``*_gpu`` twin of ``assignment.gpu_layers``, imported only then (importing this
module never imports CuPy). The affine layer has no twin here: ``layers.affine_forward`` (one
GEMM) measured faster than a threaded Cython one, so the naive layer serves as the fast one.

This file is the map; the algorithms are textual includes from ``assignment/fast/``, one module
when compiled, and the AVX2 code is C in headers there:

- ``threads.pxi``: the blocking thread pool that every parallel twin runs its ranges on, and the
  hold that keeps BLAS on one thread meanwhile;
- ``elementwise.pxi``: the ReLU twins, and the ReLU kernels the fused convolution + ReLU applies;
- ``im2col.pxi``: convolution by im2col + BLAS (any filter, stride, pad);
- ``winograd.pxi``: convolution by Winograd F(2x2, 3x3) (3x3 filters, stride 1), with its
  float32 AVX2 transforms in ``simd_winograd.h``;
- ``pooling.pxi``: max and average pooling, with the 2x2/2 max pool in AVX2 in ``simd_pool.h``;
- ``simd.h``: the AVX2 helpers both headers share, and the run-time check (``_simd`` below).

Below: the convolution entry points, which pick Winograd or im2col per layer (``_use_winograd``),
and the dispatchers. The twin regions (the release's markers) in this file and in
``elementwise.pxi`` keep the ReLU out of the student release: there the fused twins compose the
convolution with the student's own ``layers.relu_forward`` / ``relu_backward``.
"""

cimport cython
from libc.string cimport memcpy, memset
cimport openmp

import itertools
import threading

import numpy as np

from assignment import layers
from assignment.checks import compute_dtype as _compute_dtype
from assignment.checks import conv_geometry as _conv_geometry
from assignment.checks import conv_relu_cache, require_shape
from assignment.checks import pool_geometry as _pool_geometry
from assignment.checks import require_array as _require_array

ctypedef fused real:
    float
    double


# ----------------------------------------------------------------------------------------------
# Arrays (the argument checks, in the naive layers' order, are assignment.checks') and SIMD
# ----------------------------------------------------------------------------------------------


def _as_compute(a, dtype):
    """``a`` as a C-contiguous array of ``dtype``; the same object when it already is one."""
    return np.ascontiguousarray(a, dtype=dtype)


def _is_cupy(a):
    return type(a).__module__.split(".")[0] == "cupy"


cdef extern from "simd.h":
    int as_avx2_available() noexcept nogil


# Whether the float32 kernels with an AVX2 version (the Winograd transforms, the 2x2/2 max pool) run
# it (x86-64 with AVX2, checked at import); tests switch it off to compare with the Cython kernels.
cdef bint _simd = as_avx2_available()


def _set_simd(bint enabled):
    """Use the AVX2 float32 kernels (where the CPU has them) or the Cython ones; returns the setting
    in force before."""
    global _simd
    before = _simd
    _simd = enabled and as_avx2_available()
    return before


# ----------------------------------------------------------------------------------------------
# The algorithms
# ----------------------------------------------------------------------------------------------

include "fast/threads.pxi"
include "fast/elementwise.pxi"
include "fast/im2col.pxi"
include "fast/winograd.pxi"
include "fast/pooling.pxi"


# ----------------------------------------------------------------------------------------------
# Convolution: Winograd or im2col, per layer
# ----------------------------------------------------------------------------------------------


def conv_forward_cpu(x, w, b, conv_param):
    """Convolution forward on the CPU; the contract of layers.conv_forward_naive.

    Winograd F(2x2, 3x3) for the 3x3 stride-1 shapes where it is faster (_use_winograd),
    im2col + BLAS (conv_forward_im2col) for everything else.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - w: filter weights, of shape (F, C, HH, WW)
    - b: biases, of shape (F,)
    - conv_param: {"stride": S, "pad": P}; H' = 1 + (H + 2P - HH) / S and likewise W' must be
      whole numbers

    Returns a tuple of:
    - out: of shape (N, F, H', W') and dtype np.result_type(x, w, b)
    - cache: (x, w, b, conv_param), exactly the naive cache (the two backwards take either)
    """
    (N, F, Ho, Wo), s, pad = _conv_geometry(x, w, b, conv_param)
    if _use_winograd(x.shape[1], F, w.shape[2], w.shape[3], s):
        return conv_forward_winograd(x, w, b, conv_param)
    return conv_forward_im2col(x, w, b, conv_param)



def conv_backward_cpu(dout, cache):
    """Convolution backward on the CPU; the contract of layers.conv_backward_naive.

    Inputs:
    - dout: upstream derivative, of shape (N, F, H', W')
    - cache: (x, w, b, conv_param) from conv_forward_cpu (or conv_forward_naive)

    Returns a tuple of:
    - dx: of x's shape and dtype
    - dw: of w's shape and dtype
    - db: of b's shape and dtype
    """
    x, w, b, conv_param = cache
    (N, F, Ho, Wo), s, pad = _conv_geometry(x, w, b, conv_param)
    if _use_winograd(x.shape[1], F, w.shape[2], w.shape[3], s):
        return conv_backward_winograd(dout, cache)
    return conv_backward_im2col(dout, cache)



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
    """Convolution, then ReLU, in one pass on the CPU; the contract of layer_utils.conv_relu_forward.

    The ReLU runs on each chunk of the convolution's output while it is still in cache, so the
    output is written once and no second array is made.

    Inputs: x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param as conv_forward_naive.

    Returns a tuple of:
    - out: max(0, conv(x)), of shape (N, F, H', W') and dtype np.result_type(x, w, b)
    - cache: ((x, w, b, conv_param), out). The ReLU's cache is its output rather than its
      input: out > 0 exactly where the input is > 0, which is all a ReLU backward reads, so
      layer_utils.conv_relu_backward takes this cache, and conv_relu_backward_cpu takes theirs.
    """
    ### BEGIN TWIN: return _conv_then_relu(x, w, b, conv_param)
    (N, F, Ho, Wo), s, pad = _conv_geometry(x, w, b, conv_param)
    if _use_winograd(x.shape[1], F, w.shape[2], w.shape[3], s):
        out, conv_cache = _conv_forward_winograd(x, w, b, conv_param, True)
    else:
        out, conv_cache = _conv_forward_im2col(x, w, b, conv_param, True)
    return out, (conv_cache, out)
    ### END TWIN


def conv_relu_backward_cpu(dout, cache):
    """Backward of conv_relu_forward_cpu; the contract of layer_utils.conv_relu_backward.

    The ReLU's mask is applied to each chunk of dout inside the convolution's backward pass.

    Inputs:
    - dout: upstream derivative, of shape (N, F, H', W')
    - cache: from conv_relu_forward_cpu or layer_utils.conv_relu_forward

    Returns a tuple of (dx, dw, db), in the shapes and dtypes of x, w and b.
    """
    conv_cache, y = conv_relu_cache(cache)
    x, w, b, conv_param = conv_cache
    (N, F, Ho, Wo), s, pad = _conv_geometry(x, w, b, conv_param)
    _require_array("dout", dout)
    require_shape("dout", dout, (N, F, Ho, Wo), "the shape of conv_relu_forward_fast's output")
    _require_array("cache[1]", y)
    require_shape("cache[1]", y, (N, F, Ho, Wo), "the shape of conv_relu_forward_fast's output")
    ### BEGIN TWIN: return _relu_then_conv_backward(dout, cache)
    if _use_winograd(x.shape[1], F, w.shape[2], w.shape[3], s):
        return _conv_backward_winograd(dout, conv_cache, y)
    return _conv_backward_im2col(dout, conv_cache, y)
    ### END TWIN


# ----------------------------------------------------------------------------------------------
# CS231n names: dispatch on the array type
# ----------------------------------------------------------------------------------------------


def conv_forward_fast(x, w, b, conv_param):
    """Same contract as layers.conv_forward_naive; runs where x lives (numpy: CPU, CuPy: GPU)."""
    if _is_cupy(x):
        from assignment import gpu_layers

        return gpu_layers.conv_forward_gpu(x, w, b, conv_param)
    return conv_forward_cpu(x, w, b, conv_param)


def conv_backward_fast(dout, cache):
    """Same contract as layers.conv_backward_naive; runs where dout lives."""
    if _is_cupy(dout):
        from assignment import gpu_layers

        return gpu_layers.conv_backward_gpu(dout, cache)
    return conv_backward_cpu(dout, cache)


def conv_relu_forward_fast(x, w, b, conv_param):
    """Same contract as layer_utils.conv_relu_forward; runs where x lives."""
    if _is_cupy(x):
        from assignment import gpu_layers

        return gpu_layers.conv_relu_forward_gpu(x, w, b, conv_param)
    return conv_relu_forward_cpu(x, w, b, conv_param)


def conv_relu_backward_fast(dout, cache):
    """Same contract as layer_utils.conv_relu_backward; runs where dout lives."""
    if _is_cupy(dout):
        from assignment import gpu_layers

        return gpu_layers.conv_relu_backward_gpu(dout, cache)
    return conv_relu_backward_cpu(dout, cache)


def max_pool_forward_fast(x, pool_param):
    """Same contract as layers.max_pool_forward_naive; runs where x lives."""
    if _is_cupy(x):
        from assignment import gpu_layers

        return gpu_layers.max_pool_forward_gpu(x, pool_param)
    return max_pool_forward_cpu(x, pool_param)


def max_pool_backward_fast(dout, cache):
    """Same contract as layers.max_pool_backward_naive; runs where dout lives."""
    if _is_cupy(dout):
        from assignment import gpu_layers

        return gpu_layers.max_pool_backward_gpu(dout, cache)
    return max_pool_backward_cpu(dout, cache)


def avg_pool_forward_fast(x, pool_param):
    """Same contract as layers.avg_pool_forward_naive; runs where x lives."""
    if _is_cupy(x):
        from assignment import gpu_layers

        return gpu_layers.avg_pool_forward_gpu(x, pool_param)
    return avg_pool_forward_cpu(x, pool_param)


def avg_pool_backward_fast(dout, cache):
    """Same contract as layers.avg_pool_backward_naive; runs where dout lives."""
    if _is_cupy(dout):
        from assignment import gpu_layers

        return gpu_layers.avg_pool_backward_gpu(dout, cache)
    return avg_pool_backward_cpu(dout, cache)


def relu_forward_fast(x):
    """Same contract as layers.relu_forward; runs where x lives."""
    if _is_cupy(x):
        from assignment import gpu_layers

        return gpu_layers.relu_forward_gpu(x)
    return relu_forward_cpu(x)


def relu_backward_fast(dout, cache):
    """Same contract as layers.relu_backward; runs where dout lives."""
    if _is_cupy(dout):
        from assignment import gpu_layers

        return gpu_layers.relu_backward_gpu(dout, cache)
    return relu_backward_cpu(dout, cache)

