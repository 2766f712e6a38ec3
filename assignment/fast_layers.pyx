# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Fast CPU twins of the naive layers, and the CS231n-named dispatchers that pick a twin.

``setup.py`` compiles this file into the private module ``assignment._fast_cython`` where a C
compiler works (the extension is optional). Import the twins through ``assignment.fast_layers``:
it serves these, or, where they were not built, their pure-numpy fallback ``assignment._fast_numpy``
under the same names and contract.

Public names (the naive contract of ``assignment.layers``, same arguments, same cache-in /
gradients-out shapes and dtypes, same ``ValueError`` on bad input):

- ``conv_forward_fast(x, w, b, conv_param) -> (out, cache)``
- ``conv_backward_fast(dout, cache) -> (dx, dw, db)``
- ``max_pool_forward_fast(x, pool_param) -> (out, cache)``
- ``max_pool_backward_fast(dout, cache) -> dx``
- ``affine_forward_fast`` / ``affine_backward_fast``, ``relu_forward_fast`` / ``relu_backward_fast``

Each dispatches on the array type: numpy arrays run the ``*_cpu`` twins below; a CuPy array
runs the ``*_gpu`` twin of ``assignment.gpu_layers``, imported only then (importing this module
never imports CuPy).

The affine and ReLU twins are twin regions (the release's markers): in the student release
their bodies call the student's naive layers of ``assignment.layers`` and their kernels are
gone, so this file holds no second copy of those answers. The convolution and max-pool twins
(im2col, col2im, a different algorithm from the naive loops) are given as they are.

How the CPU convolution works (measured on 2 cores, float32 and float64):

- 3x3 stride-1 layers with C >= 16 and F <= C run Winograd F(2x2, 3x3) (2.25x fewer
  multiply-adds; section "Winograd" below); everything else runs im2col + BLAS:

- ``omp_get_max_threads()`` threads (OMP_NUM_THREADS and threadpoolctl limits apply) take
  chunks of images off a shared counter; a chunk's im2col matrix (~1 MiB) stays in L2.
- im2col is written straight from the unpadded input (zeros where a window hangs over the
  border: no padded copy of x), as ``cols[i]`` of shape (C*HH*WW + 1, H'*W') for image i; the
  last row is all ones, so the bias rides in the GEMM as a last column of the weights.
- Forward: ``out[i] = [w | b] @ cols[i]`` lands directly in (F, H', W') order: no transpose.
- Backward: ``[dw | db]^T = sum_i cols[i] @ dout[i]^T`` (summed per chunk, then in chunk
  order: bit-repeatable); dx as a gather (an im2col of dout times the flipped filters, stride 1
  and F <= C) or as ``w^T @ dout[i]`` and a col2im scatter-add into the thread's own images.
- The GEMMs go to the BLAS numpy links, through ``np.matmul`` on views, cut into blocks under
  OpenBLAS's small-matrix size. While our threads run, BLAS is held to one thread.
- The cache is the naive one, (x, w, b, conv_param): backward recomputes im2col (cheaper than
  storing HH*WW copies of the input and reading them back from memory).
- No OpenMP parallel regions: the threads are a small blocking Python thread pool (see
  ``_run_ranges``); the hot loops release the GIL.

Max pooling: direct kernels for any window and stride; the common 2x2 stride-2 case has its own
kernels, written with AVX2 intrinsics for float32 on x86-64 CPUs that have AVX2 (checked at
import) and branch-free scalar code everywhere else, with the same results bit for bit.
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
from assignment.checks import pool_geometry as _pool_geometry
from assignment.checks import require_float_array as _require_array
from assignment.checks import conv_output_shape, require_min_ndim, require_ndim, require_shape

ctypedef fused real:
    float
    double


# ----------------------------------------------------------------------------------------------
# Arrays (the argument checks, in the naive layers' order, are assignment.checks')
# ----------------------------------------------------------------------------------------------


def _as_compute(a, dtype):
    """``a`` as a C-contiguous array of ``dtype``; the same object when it already is one."""
    return np.ascontiguousarray(a, dtype=dtype)


def _is_cupy(a):
    return type(a).__module__.split(".")[0] == "cupy"


# ----------------------------------------------------------------------------------------------
# Threads
# ----------------------------------------------------------------------------------------------

_pool = None
_pool_lock = threading.Lock()
_blas_lock = threading.Lock()
_blas_depth = 0
_blas_limiter = None
_blas_controller = None


def num_threads():
    """Threads the CPU twins use: OpenMP's max for the calling thread (OMP_NUM_THREADS, threadpoolctl)."""
    return max(1, openmp.omp_get_max_threads())


def _executor(n):
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            from concurrent.futures import ThreadPoolExecutor

            old = _pool
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="fast_layers")
            if old is not None:
                old.shutdown(wait=False)
        return _pool


def _blas_single_enter():
    """Hold numpy's BLAS to one thread while our own threads call it (nested calls count)."""
    global _blas_depth, _blas_limiter, _blas_controller
    with _blas_lock:
        if _blas_depth == 0:
            if _blas_controller is None:
                from threadpoolctl import ThreadpoolController

                _blas_controller = ThreadpoolController()
            _blas_limiter = _blas_controller.limit(limits=1, user_api="blas")
        _blas_depth += 1


def _blas_single_exit():
    global _blas_depth, _blas_limiter
    with _blas_lock:
        _blas_depth -= 1
        if _blas_depth == 0:
            _blas_limiter.restore_original_limits()
            _blas_limiter = None


# Below this many elements an elementwise kernel runs on one thread (no hand-off).
_PARALLEL_MIN_ELEMENTS = 1 << 15


def _elementwise_threads(n):
    return num_threads() if n >= _PARALLEL_MIN_ELEMENTS else 1


def _split(n_items, n_parts):
    """Contiguous, near-equal ranges [lo, hi) covering range(n_items)."""
    bounds = [n_items * k // n_parts for k in range(n_parts + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(n_parts) if bounds[k + 1] > bounds[k]]


def _run_ranges(fn, n_items, n_threads, args, blas=True):
    """Run ``fn(lo, hi, thread_index, *args)`` over a split of range(n_items), one range per thread.

    The calling thread runs the first range itself. With one thread nothing is handed off
    and BLAS keeps whatever thread count it has; with more, BLAS is held to one thread while
    they run (``blas=False``: the workers never call BLAS, leave it alone).

    Why Python threads and not OpenMP: the workers call BLAS through np.matmul, which needs
    the GIL between the nogil kernels; and an OpenMP runtime's idle threads spin for
    milliseconds after each parallel region (libgomp's default), which on 2 cores halves
    the next convolution. Idle Python threads block instead of spinning.
    """
    ranges = _split(n_items, n_threads)
    if len(ranges) <= 1:
        for lo, hi in ranges:
            fn(lo, hi, 0, *args)
        return
    pool = _executor(len(ranges) - 1)
    if blas:
        _blas_single_enter()
    try:
        futures = [pool.submit(fn, lo, hi, k + 1, *args) for k, (lo, hi) in enumerate(ranges[1:])]
        first_error = None
        try:
            fn(ranges[0][0], ranges[0][1], 0, *args)
        except BaseException as exc:  # wait for the others before raising
            first_error = exc
        for fut in futures:
            try:
                fut.result()
            except BaseException as exc:
                if first_error is None:
                    first_error = exc
        if first_error is not None:
            raise first_error
    finally:
        if blas:
            _blas_single_exit()


# ----------------------------------------------------------------------------------------------
# im2col / col2im kernels (one image at a time, no GIL)
# ----------------------------------------------------------------------------------------------

# Bytes of im2col matrix one chunk aims at: the chunk's cols (and, backward, dcols) stay in L2.
_CHUNK_BYTES = 1024 * 1024
# Backward computes dx as a gather when F <= _GATHER_MAX_RATIO * C (and stride 1).
_GATHER_MAX_RATIO = 1


cdef inline Py_ssize_t _ow_lo(Py_ssize_t k, Py_ssize_t pad, Py_ssize_t s) noexcept nogil:
    """First output column whose input column ow*s + k - pad is >= 0."""
    if pad - k <= 0:
        return 0
    return (pad - k + s - 1) // s


cdef inline Py_ssize_t _ow_hi(Py_ssize_t k, Py_ssize_t pad, Py_ssize_t s, Py_ssize_t W,
                              Py_ssize_t Wo) noexcept nogil:
    """One past the last output column whose input column ow*s + k - pad is < W."""
    cdef Py_ssize_t t = W - 1 + pad - k
    if t < 0:
        return 0
    t = t // s + 1
    return t if t < Wo else Wo


cdef void _im2col_img(const real* x, real* cols, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                      Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t s, Py_ssize_t pad_h, Py_ssize_t pad_w,
                      Py_ssize_t Ho, Py_ssize_t Wo) noexcept nogil:
    """cols[(c*HH + kh)*WW + kw, oh*Wo + ow] = x[c, oh*s + kh - pad_h, ow*s + kw - pad_w] (0 outside).

    Pads may be negative (a crop). With stride 1 and Wo == W ("same" width) a row of cols is
    the image plane shifted by a constant: one block copy, then the wrapped-around border
    columns are zeroed.
    """
    cdef Py_ssize_t c, kh, kw, oh, ow, ih, lo, hi, off, dy, oh_lo, oh_hi, a, b
    cdef Py_ssize_t P = Ho * Wo
    cdef real* row
    cdef const real* src
    cdef const real* plane
    cdef bint flat = s == 1 and Wo == W
    for c in range(C):
        plane = x + c * H * W
        for kh in range(HH):
            dy = kh - pad_h
            # rows oh whose input row oh*s + dy lies in [0, H)
            oh_lo = 0 if dy >= 0 else (-dy + s - 1) // s
            oh_hi = 0 if H - 1 - dy < 0 else (H - 1 - dy) // s + 1
            if oh_hi > Ho:
                oh_hi = Ho
            if oh_hi < oh_lo:
                oh_hi = oh_lo
            for kw in range(WW):
                off = kw - pad_w
                memset(cols, 0, oh_lo * Wo * sizeof(real))
                memset(cols + oh_hi * Wo, 0, (Ho - oh_hi) * Wo * sizeof(real))
                if flat:
                    # dst[q] = plane[q + dy*W + off] for q in [oh_lo*W, oh_hi*W), clipped to the plane
                    a = oh_lo * W
                    b = oh_hi * W
                    lo = a
                    hi = b
                    if lo + dy * W + off < 0:
                        lo = -(dy * W + off)
                    if hi + dy * W + off > H * W:
                        hi = H * W - dy * W - off
                    if hi > lo:
                        memcpy(cols + lo, plane + lo + dy * W + off, (hi - lo) * sizeof(real))
                    for ow in range(a, lo):
                        cols[ow] = 0
                    for ow in range(hi if hi > a else a, b):
                        cols[ow] = 0
                    if off < 0:
                        for oh in range(oh_lo, oh_hi):
                            for ow in range(-off):
                                cols[oh * W + ow] = 0
                    elif off > 0:
                        for oh in range(oh_lo, oh_hi):
                            for ow in range(W - off, W):
                                cols[oh * W + ow] = 0
                else:
                    lo = _ow_lo(kw, pad_w, s)
                    hi = _ow_hi(kw, pad_w, s, W, Wo)
                    if hi < lo:
                        hi = lo
                    for oh in range(oh_lo, oh_hi):
                        row = cols + oh * Wo
                        src = plane + (oh * s + dy) * W
                        for ow in range(lo):
                            row[ow] = 0
                        if s == 1:
                            memcpy(row + lo, src + lo + off, (hi - lo) * sizeof(real))
                        else:
                            for ow in range(lo, hi):
                                row[ow] = src[ow * s + off]
                        for ow in range(hi, Wo):
                            row[ow] = 0
                cols += P


cdef void _col2im_img(const real* cols, real* dx, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                      Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t s, Py_ssize_t pad,
                      Py_ssize_t Ho, Py_ssize_t Wo) noexcept nogil:
    """The adjoint of _im2col_img: dx[c, ih, iw] = sum of the cols entries that copied x[c, ih, iw]."""
    cdef Py_ssize_t c, kh, kw, oh, ow, ih, lo, hi, off
    cdef Py_ssize_t P = Ho * Wo
    cdef const real* row
    cdef real* dst
    memset(dx, 0, C * H * W * sizeof(real))
    for c in range(C):
        for kh in range(HH):
            for kw in range(WW):
                lo = _ow_lo(kw, pad, s)
                hi = _ow_hi(kw, pad, s, W, Wo)
                off = kw - pad
                for oh in range(Ho):
                    ih = oh * s + kh - pad
                    if ih < 0 or ih >= H:
                        continue
                    row = cols + oh * Wo
                    dst = dx + (c * H + ih) * W
                    if s == 1:
                        dst = dst + off
                        for ow in range(lo, hi):
                            dst[ow] += row[ow]
                    else:
                        for ow in range(lo, hi):
                            dst[ow * s + off] += row[ow]
                cols += P


cdef void _add_rows(real* acc, const real* part, Py_ssize_t m, Py_ssize_t size) noexcept nogil:
    """acc[:size] += part[i, :size] for i < m."""
    cdef Py_ssize_t i, j
    for i in range(m):
        for j in range(size):
            acc[j] += part[i * size + j]


cdef inline real _sum8(const real* a, Py_ssize_t n) noexcept nogil:
    """sum(a[:n]) as 8 interleaved partial sums added pairwise: a fixed order (repeatable), and eight
    independent chains of adds that vectorize, where one running sum is a serial chain of
    dependent adds (strict floating-point order forbids the compiler to reassociate it)."""
    cdef real lane[8]
    cdef Py_ssize_t i, k, n8 = n - n % 8
    for k in range(8):
        lane[k] = 0
    for i in range(0, n8, 8):
        for k in range(8):
            lane[k] += a[i + k]
    for i in range(n8, n):
        lane[i - n8] += a[i]
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]))


# The ReLU kernels of the fused conv_relu twins. They are twin regions: the student release keeps
# only their signatures (its conv_relu twins call the student's own layers.relu_* instead and
# never reach these).
cdef void _relu_inplace(real* a, Py_ssize_t n) noexcept nogil:
    """a = max(a, 0) elementwise, as np.maximum(a, 0) (NaN stays NaN)."""
    ### BEGIN TWIN: pass
    cdef Py_ssize_t i
    cdef real v
    for i in range(n):
        v = a[i]
        a[i] = 0 if v <= 0 else v
    ### END TWIN


cdef void _relu_mask(const real* dout, const real* y, real* out, Py_ssize_t n) noexcept nogil:
    """out = dout * (y > 0), a product (NaN in dout stays NaN); y is the ReLU's input or its output."""
    ### BEGIN TWIN: pass
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = dout[i] * (1 if y[i] > 0 else 0)
    ### END TWIN


def im2col_cpu(x, Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t stride, Py_ssize_t pad):
    """The im2col matrices the convolution multiplies, for inspection and benchmarks.

    Inputs:
    - x: float32 or float64 input, of shape (N, C, H, W)
    - HH, WW, stride, pad: the filter size and the convolution's stride and zero padding

    Returns:
    - cols: of shape (N, C*HH*WW + 1, H'*W'); cols[n, (c*HH + kh)*WW + kw, i*W' + j] is
      x[n, c, i*stride + kh - pad, j*stride + kw - pad] (0 outside x), the last row is ones
    """
    x = np.ascontiguousarray(x)
    N, C, H, W = x.shape
    _, _, Ho, Wo = conv_output_shape(x.shape, (1, C, HH, WW), (1,), stride, pad)
    cols = np.empty((N, C * HH * WW + 1, Ho * Wo), dtype=x.dtype)
    cols[:, -1, :] = 1
    _im2col_batch(x, cols, HH, WW, stride, pad, Ho, Wo)
    return cols


def col2im_cpu(cols, x_shape, Py_ssize_t HH, Py_ssize_t WW, Py_ssize_t stride, Py_ssize_t pad):
    """The adjoint of im2col_cpu (without its ones row): sums each column entry into dx.

    Inputs:
    - cols: of shape (N, C*HH*WW, H'*W') (a last row of ones may be present: it is ignored)
    - x_shape: (N, C, H, W)

    Returns:
    - dx: of shape x_shape and cols' dtype
    """
    cols = np.ascontiguousarray(cols)
    N, C, H, W = x_shape
    _, _, Ho, Wo = conv_output_shape(x_shape, (1, C, HH, WW), (1,), stride, pad)
    dx = np.empty(x_shape, dtype=cols.dtype)
    _col2im_batch(cols, dx, HH, WW, stride, pad, Ho, Wo)
    return dx


def _im2col_batch(const real[:, :, :, ::1] x, real[:, :, ::1] cols, Py_ssize_t HH, Py_ssize_t WW,
                  Py_ssize_t s, Py_ssize_t pad, Py_ssize_t Ho, Py_ssize_t Wo):
    cdef Py_ssize_t n
    with nogil:
        for n in range(x.shape[0]):
            _im2col_img(&x[n, 0, 0, 0], &cols[n, 0, 0], x.shape[1], x.shape[2], x.shape[3],
                        HH, WW, s, pad, pad, Ho, Wo)


def _col2im_batch(const real[:, :, ::1] cols, real[:, :, :, ::1] dx, Py_ssize_t HH, Py_ssize_t WW,
                  Py_ssize_t s, Py_ssize_t pad, Py_ssize_t Ho, Py_ssize_t Wo):
    cdef Py_ssize_t n
    with nogil:
        for n in range(dx.shape[0]):
            _col2im_img(&cols[n, 0, 0], &dx[n, 0, 0, 0], dx.shape[1], dx.shape[2], dx.shape[3],
                        HH, WW, s, pad, Ho, Wo)


# ----------------------------------------------------------------------------------------------
# Convolution: per-thread workers (hold the GIL only around np.matmul)
# ----------------------------------------------------------------------------------------------


def _conv_fwd_range(Py_ssize_t lo, Py_ssize_t hi, int tid, const real[:, :, :, ::1] x, wb, out3,
                    list bufs, geom, chunks):
    """Take chunks of images off ``chunks`` until none is left: out3[i:e] = wb @ im2col(x[i:e]).

    ``chunks`` is shared by the threads (next() on it is atomic under the GIL), so a thread
    slowed down by the machine does fewer chunks; bufs[tid] is this thread's cols.
    """
    cdef Py_ssize_t HH, WW, s, pad, Ho, Wo
    cdef bint relu
    HH, WW, s, pad, Ho, Wo, blocks, relu = geom
    cols_arr = bufs[tid]
    cdef real[:, :, ::1] cols = cols_arr
    cdef real[:, :, ::1] o3 = out3
    cdef Py_ssize_t C = x.shape[1], H = x.shape[2], W = x.shape[3], N = x.shape[0]
    cdef Py_ssize_t m = cols.shape[0], i, e, j
    while True:
        i = next(chunks) * m
        if i >= N:
            return
        e = min(i + m, N)
        with nogil:
            for j in range(e - i):
                _im2col_img(&x[i + j, 0, 0, 0], &cols[j, 0, 0], C, H, W, HH, WW, s, pad, pad, Ho, Wo)
        _matmul_blocks(wb, cols_arr[: e - i], out3[i:e], blocks)
        if relu:  # while the chunk's output is still in cache
            with nogil:
                _relu_inplace(&o3[i, 0, 0], (e - i) * o3.shape[1] * o3.shape[2])


def _conv_bwd_range(Py_ssize_t lo, Py_ssize_t hi, int tid, const real[:, :, :, ::1] x,
                    const real[:, :, :, ::1] dout, wdx, real[:, :, :, ::1] dx, list bufs, geom, chunks,
                    real[:, :, ::1] slots, const real[:, :, :, ::1] ymask=None):
    """Take chunks of images off ``chunks``: write dx[i:e], and chunk c's [dw | db]^T into slots[c].

    One slot per chunk (summed in chunk order afterwards) keeps dw and db bit-identical
    whichever thread took which chunk.

    dx either as a gather (stride 1: dx[n] = wdx @ im2col(dout[n]) with the flipped filters,
    lands in (C, H, W) order) or as a scatter (dcols = wdx @ dout[n], then col2im).

    With ``ymask`` (a fused ReLU's output or input), each chunk's dout is first masked to
    dout * (ymask > 0) in the thread's buffer, and that is what the chunk differentiates.
    """
    cdef Py_ssize_t HH, WW, s, pad, Ho, Wo
    cdef bint gather
    HH, WW, s, pad, Ho, Wo, gather, blocks, row_blocks = geom
    cols_arr, dcols_arr, part_arr, dT_arr, dm_arr = bufs[tid]
    cdef real[:, :, :, ::1] dm = dm_arr
    cdef const real* dsrc
    cdef real[:, :, ::1] cols = cols_arr
    cdef real[:, :, ::1] dcols = dcols_arr
    cdef real[:, :, ::1] part = part_arr
    cdef Py_ssize_t C = x.shape[1], H = x.shape[2], W = x.shape[3], F = dout.shape[1]
    cdef Py_ssize_t m = cols.shape[0], i, e, j
    cdef Py_ssize_t part_size = part.shape[1] * part.shape[2]
    cdef Py_ssize_t N = x.shape[0], P = Ho * Wo
    dout3 = np.asarray(dout).reshape(N, F, P)
    dx3 = np.asarray(dx).reshape(N, C, H * W)
    cdef Py_ssize_t c
    while True:
        c = next(chunks)
        i = c * m
        if i >= N:
            return
        e = min(i + m, N)
        with nogil:
            for j in range(e - i):
                _im2col_img(&x[i + j, 0, 0, 0], &cols[j, 0, 0], C, H, W, HH, WW, s, pad, pad, Ho, Wo)
        if ymask is None:
            d = dout3[i:e]
            dsrc = &dout[i, 0, 0, 0]
        else:
            with nogil:
                _relu_mask(&dout[i, 0, 0, 0], &ymask[i, 0, 0, 0], &dm[0, 0, 0, 0], (e - i) * F * P)
            d = dm_arr[: e - i].reshape(e - i, F, P)
            dsrc = &dm[0, 0, 0, 0]
        if dT_arr is None:
            dT = d.transpose(0, 2, 1)
        else:
            dT = dT_arr[: e - i]
            np.copyto(dT, d.transpose(0, 2, 1))
        for r0, r1 in row_blocks:
            np.matmul(cols_arr[: e - i, r0:r1], dT, out=part_arr[: e - i, r0:r1])
        with nogil:
            _add_rows(&slots[c, 0, 0], &part[0, 0, 0], e - i, part_size)
        if gather:
            with nogil:
                for j in range(e - i):
                    _im2col_img(dsrc + j * F * P, &dcols[j, 0, 0], F, Ho, Wo, HH, WW, 1,
                                HH - 1 - pad, WW - 1 - pad, H, W)
            _matmul_blocks(wdx, dcols_arr[: e - i], dx3[i:e], blocks)
        else:
            _matmul_blocks(wdx, d, dcols_arr[: e - i], blocks)
            with nogil:
                for j in range(e - i):
                    _col2im_img(&dcols[j, 0, 0], &dx[i + j, 0, 0, 0], C, H, W, HH, WW, s, pad, Ho, Wo)


# OpenBLAS (numpy's wheels) runs GEMMs with M*N*K below about 1e6 through unpacked "small
# matrix" kernels that reach ~105 GFLOP/s float32 per core here, against ~80 for the packed path
# at the per-image im2col shapes: the GEMMs whose N is the number of output pixels are cut into
# column blocks under this size (a no-op cost elsewhere: a few more calls).
_SMALL_GEMM_MNK = 900_000


def _column_blocks(Py_ssize_t rows, Py_ssize_t inner, Py_ssize_t cols):
    """[(c0, c1), ...] splitting ``cols`` so that rows * inner * (c1 - c0) <= _SMALL_GEMM_MNK."""
    cdef Py_ssize_t n = max(1, -(-(rows * inner * cols) // _SMALL_GEMM_MNK))
    cdef Py_ssize_t width = -(-cols // n)
    if width < 8:
        width = min(cols, 8)
    return [(c0, min(cols, c0 + width)) for c0 in range(0, cols, width)]


def _matmul_blocks(a, b, out, blocks):
    """out[..., c0:c1] = a @ b[..., c0:c1] for each column block."""
    if len(blocks) == 1:
        np.matmul(a, b, out=out)
        return
    for c0, c1 in blocks:
        np.matmul(a, b[:, :, c0:c1], out=out[:, :, c0:c1])


def _chunk_images(N, n_threads, bytes_per_image, budget=None):
    """Images per chunk: as many as fit ``budget`` bytes (default _CHUNK_BYTES), at least one, and
    at least 4 chunks per thread."""
    budget = _CHUNK_BYTES if budget is None else budget
    share = max(1, -(-N // (4 * max(1, n_threads))))
    return int(max(1, min(share, budget // max(1, bytes_per_image))))


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


def conv_forward_im2col(x, w, b, conv_param):
    """Convolution forward by im2col + BLAS (any filter, stride and pad); conv_forward_cpu's contract."""
    return _conv_forward_im2col(x, w, b, conv_param, False)


def _conv_forward_im2col(x, w, b, conv_param, bint relu):
    """conv_forward_im2col, followed by a ReLU on each chunk's output when ``relu``."""
    (N, F, Ho, Wo), s, pad = _conv_geometry(x, w, b, conv_param)
    out_dtype = np.result_type(x, w, b)
    dt = _compute_dtype(out_dtype)
    xc = _as_compute(x, dt)
    _, C, HH, WW = w.shape
    K = C * HH * WW
    P = Ho * Wo
    wb = np.empty((F, K + 1), dtype=dt)
    wb[:, :K] = w.reshape(F, K)
    wb[:, K] = b
    out = np.empty((N, F, Ho, Wo), dtype=dt)
    if N:
        nt = num_threads()
        m = _chunk_images(N, nt, (K + 1) * P * dt.itemsize)
        nt = min(nt, N)
        bufs = []
        for _ in range(nt):
            cols = np.empty((m, K + 1, P), dtype=dt)
            cols[:, K, :] = 1
            bufs.append(cols)
        geom = (HH, WW, s, pad, Ho, Wo, _column_blocks(F, K + 1, P), relu)
        _run_ranges(_conv_fwd_range, nt, nt, (xc, wb, out.reshape(N, F, P), bufs, geom, itertools.count()))
    if out.dtype != out_dtype:
        out = out.astype(out_dtype)
    return out, (x, w, b, conv_param)


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


def conv_backward_im2col(dout, cache):
    """Convolution backward by im2col + BLAS; conv_backward_cpu's contract."""
    return _conv_backward_im2col(dout, cache, None)


def _conv_backward_im2col(dout, cache, ymask):
    """conv_backward_im2col of dout * (ymask > 0) when ymask (same shape as dout) is given."""
    x, w, b, conv_param = cache
    (N, F, Ho, Wo), s, pad = _conv_geometry(x, w, b, conv_param)
    _require_array("dout", dout)
    require_shape("dout", dout, (N, F, Ho, Wo), "the shape of conv_forward_fast's output")
    dt = _compute_dtype(x.dtype, w.dtype, b.dtype)
    xc = _as_compute(x, dt)
    _, C, H, W = x.shape
    _, _, HH, WW = w.shape
    K = C * HH * WW
    P = Ho * Wo
    dc = _as_compute(dout, dt)
    wc = _as_compute(w, dt)
    # dx as a gather (an im2col of dout, stride 1 only) when that matrix, F*HH*WW rows, is not
    # much larger than the scatter's C*HH*WW rows.
    gather = s == 1 and F <= _GATHER_MAX_RATIO * C
    if gather:
        wdx = np.ascontiguousarray(wc[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, F * HH * WW))
        dcols_shape = (F * HH * WW, H * W)
    else:
        wdx = wc.reshape(F, K).T
        dcols_shape = (K, P)
    dx = np.empty((N, C, H, W), dtype=dt)
    acc_total = np.zeros((K + 1, F), dtype=dt)
    if N:
        nt = num_threads()
        m = _chunk_images(N, nt, ((K + 1) * P + dcols_shape[0] * dcols_shape[1]) * dt.itemsize)
        nt = min(nt, N)
        bufs = []
        for _ in range(nt):
            cols = np.empty((m, K + 1, P), dtype=dt)
            cols[:, K, :] = 1
            bufs.append((cols, np.empty((m,) + dcols_shape, dtype=dt), np.empty((m, K + 1, F), dtype=dt),
                         # dout^T copied contiguous (faster GEMM) unless the GEMM is tiny next to it
                         np.empty((m, P, F), dtype=dt) if K + 1 >= F else None,
                         np.empty((m, F, Ho, Wo), dtype=dt) if ymask is not None else None))
        blocks = _column_blocks(wdx.shape[0], wdx.shape[1], dcols_shape[1])
        # [dw | db]^T = cols @ dout^T, cut into row blocks of cols for the same small-GEMM reason
        geom = (HH, WW, s, pad, Ho, Wo, gather, blocks, _column_blocks(P, F, K + 1))
        slots = np.zeros((-(-N // m), K + 1, F), dtype=dt)
        _run_ranges(_conv_bwd_range, nt, nt, (xc, dc, wdx, dx, bufs, geom, itertools.count(), slots,
                                              None if ymask is None else _as_compute(ymask, dt)))
        acc_total = slots.sum(axis=0)
    dw = acc_total[:K].T.reshape(w.shape).astype(w.dtype)
    db = acc_total[K].astype(b.dtype)
    return dx.astype(x.dtype, copy=False), dw, db


def _conv_then_relu(x, w, b, conv_param):
    """conv_forward_cpu, then layers.relu_forward: conv_relu_forward_cpu's contract, unfused."""
    a, conv_cache = conv_forward_cpu(x, w, b, conv_param)
    out, relu_cache = layers.relu_forward(a)
    return out, (conv_cache, relu_cache)


def _relu_then_conv_backward(dout, cache):
    """layers.relu_backward, then conv_backward_cpu: conv_relu_backward_cpu's contract, unfused."""
    conv_cache, y = _conv_relu_cache(cache)
    return conv_backward_cpu(layers.relu_backward(dout, y), conv_cache)


def _conv_relu_cache(cache):
    """(conv cache, ReLU array) out of a conv_relu cache, or a ValueError that says what it needs."""
    if not isinstance(cache, tuple) or len(cache) != 2 or not isinstance(cache[0], tuple) or len(cache[0]) != 4:
        raise ValueError("cache must be the ((x, w, b, conv_param), relu_cache) of conv_relu_forward_fast "
                         "or of layer_utils.conv_relu_forward")
    return cache


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
    ### BEGIN TWIN: return _relu_then_conv_backward(dout, cache)
    conv_cache, y = _conv_relu_cache(cache)
    x, w, b, conv_param = conv_cache
    (N, F, Ho, Wo), s, pad = _conv_geometry(x, w, b, conv_param)
    _require_array("dout", dout)
    require_shape("dout", dout, (N, F, Ho, Wo), "the shape of conv_relu_forward_fast's output")
    _require_array("cache[1]", y)
    require_shape("cache[1]", y, (N, F, Ho, Wo), "the shape of conv_relu_forward_fast's output")
    if _use_winograd(x.shape[1], F, w.shape[2], w.shape[3], s):
        return _conv_backward_winograd(dout, conv_cache, y)
    return _conv_backward_im2col(dout, conv_cache, y)
    ### END TWIN


# ----------------------------------------------------------------------------------------------
# Winograd F(2x2, 3x3): 3x3 stride-1 convolutions
# ----------------------------------------------------------------------------------------------
#
# Lavin and Gray's minimal filtering: a 2x2 block of outputs of a 3x3 correlation is
# A^T [(G g G^T) * (B^T d B)] A for the 4x4 input tile d under it, so each of the 16 positions of
# the transformed tile is one GEMM over channels, M[k] = U[k] @ V[k] with U[k] of shape (F, C) and
# V[k] of shape (C, tiles): 16*F*C multiply-adds per 2x2 outputs instead of im2col's 4*9*F*C
# (2.25x fewer). The backward pass is the exact adjoint of the forward one: dM = A dY A^T, then
# dU[k] = dM[k] @ V[k]^T (dw = G^T dU G) and dV[k] = U[k]^T @ dM[k] (dx = B dV B^T summed over the
# overlapping tiles). Tiles past the output's edge (odd H' or W') are computed and dropped.
# The transforms only add and subtract (G holds halves), so the rounding is that of a direct
# convolution: measured 1e-7 relative in float32, 1e-15 in float64, against the float64 naive layer.


def _require_winograd(w, s):
    if w.shape[2:] != (3, 3) or s != 1:
        raise ValueError(f"the Winograd convolution takes 3x3 filters with stride 1, got w of shape {w.shape} "
                         f"and conv_param['stride'] = {s}")


# Winograd runs where it measured faster than im2col (the layer benchmark, 2 cores,
# float32 and float64): 3x3 stride 1 with at least 16 input channels and no more filters than
# input channels (DeepConvNet's conv2, conv4, conv6: 5-30% faster). With F = 2C (conv3, conv5)
# the im2col path was as fast or faster; with few channels the transforms cost more than the GEMMs.
_WINOGRAD_MIN_CHANNELS = 16


def _use_winograd(C, F, HH, WW, s):
    return HH == 3 and WW == 3 and s == 1 and C >= _WINOGRAD_MIN_CHANNELS and F <= C

cdef void _wino_in(const real* x, real* V, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t pad,
                   Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t CT,
                   real* scratch) noexcept nogil:
    """The input transform of F(2x2, 3x3) for one image x (C, H, W).

    V[4i + j, c, t0 + ty*TW + tx] = (B^T d B)[i, j] for the 4x4 tile d = x[c] at rows 2ty - pad..+3
    and columns 2tx - pad..+3 (zeros outside the image). V's rows are Tcap apart, its 16 planes CT
    apart. scratch holds 8 * (2*TW + 2) values. Per tile row: the four input rows (zero-padded)
    go through B^T column by column, then B row by row, each a loop over tx that compilers vectorize.
    """
    cdef Py_ssize_t Wp = 2 * TW + 2
    cdef Py_ssize_t c, ty, i, k, tx, rr, kl, kh
    cdef real* zero = scratch
    cdef real* tr = scratch + 4 * Wp
    cdef const real* src[4]
    cdef const real* r0
    cdef const real* r1
    cdef const real* r2
    cdef const real* r3
    cdef real* ti
    cdef real* o0
    cdef real* o1
    cdef real* o2
    cdef real* o3
    cdef const real* plane
    kl = pad if pad < Wp else Wp
    kh = W + pad if W + pad < Wp else Wp
    if kh < kl:
        kh = kl
    for k in range(Wp):
        zero[k] = 0
    # the transformed rows are zero in the columns that lie wholly in the padding
    for i in range(4):
        for k in range(kl):
            tr[i * Wp + k] = 0
        for k in range(kh, Wp):
            tr[i * Wp + k] = 0
    for c in range(C):
        plane = x + c * H * W
        for ty in range(TH):
            for i in range(4):
                rr = 2 * ty - pad + i
                # src[i][k] is the input at padded column k (only kl <= k < kh is read)
                src[i] = zero if rr < 0 or rr >= H else plane + rr * W - pad
            r0 = src[0]
            r1 = src[1]
            r2 = src[2]
            r3 = src[3]
            # one store stream per loop (the compiler then vectorizes with a cheap overlap check)
            o0 = tr
            for k in range(kl, kh):
                o0[k] = r0[k] - r2[k]
            o0 = tr + Wp
            for k in range(kl, kh):
                o0[k] = r1[k] + r2[k]
            o0 = tr + 2 * Wp
            for k in range(kl, kh):
                o0[k] = r2[k] - r1[k]
            o0 = tr + 3 * Wp
            for k in range(kl, kh):
                o0[k] = r1[k] - r3[k]
            for i in range(4):
                ti = tr + i * Wp
                o0 = V + 4 * i * CT + c * Tcap + t0 + ty * TW
                for tx in range(TW):
                    o0[tx] = ti[2 * tx] - ti[2 * tx + 2]
                o0 = o0 + CT
                for tx in range(TW):
                    o0[tx] = ti[2 * tx + 1] + ti[2 * tx + 2]
                o0 = o0 + CT
                for tx in range(TW):
                    o0[tx] = ti[2 * tx + 2] - ti[2 * tx + 1]
                o0 = o0 + CT
                for tx in range(TW):
                    o0[tx] = ti[2 * tx + 1] - ti[2 * tx + 3]


cdef void _wino_in_adj(const real* dV, real* dx, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t pad,
                       Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t CT,
                       real* scratch) noexcept nogil:
    """The adjoint of _wino_in: dx[c] = the sum over tiles of B g B^T placed at (2ty - pad, 2tx - pad),
    g the tile's 16 values in dV. scratch holds 16 * TW + 4 * (2*TW + 2) values.

    Every loop below writes one stream, so that compilers vectorize it.
    """
    cdef Py_ssize_t Wp = 2 * TW + 2
    cdef Py_ssize_t c, ty, i, j, tx, rr, kl, kh, base
    cdef real* E = scratch
    cdef real* acc = scratch + 16 * TW
    cdef real* o
    cdef real* e0
    cdef real* e1
    cdef real* e2
    cdef real* e3
    cdef const real* g0
    cdef const real* g1
    cdef const real* g2
    cdef const real* g3
    memset(dx, 0, C * H * W * sizeof(real))
    kl = pad if pad < Wp else Wp
    kh = W + pad if W + pad < Wp else Wp
    if kh < kl:
        kh = kl
    for c in range(C):
        for ty in range(TH):
            base = c * Tcap + t0 + ty * TW
            # rows: E[i, j] = (B g)[i, j]: g0, g1 - g2 + g3, g1 + g2 - g0, -g3 over the planes 4i' + j
            for j in range(4):
                g0 = dV + j * CT + base
                g1 = g0 + 4 * CT
                g2 = g1 + 4 * CT
                g3 = g2 + 4 * CT
                o = E + j * TW
                for tx in range(TW):
                    o[tx] = g0[tx]
                o = E + (4 + j) * TW
                for tx in range(TW):
                    o[tx] = g1[tx] - g2[tx] + g3[tx]
                o = E + (8 + j) * TW
                for tx in range(TW):
                    o[tx] = g1[tx] + g2[tx] - g0[tx]
                o = E + (12 + j) * TW
                for tx in range(TW):
                    o[tx] = -g3[tx]
            # columns: tile tx adds s0, s1 - s2 + s3, s1 + s2 - s0, -s3 at columns 2tx .. 2tx + 3
            for i in range(4):
                e0 = E + 4 * i * TW
                e1 = e0 + TW
                e2 = e1 + TW
                e3 = e2 + TW
                o = acc + i * Wp
                o[0] = e0[0]
                for tx in range(1, TW):
                    o[2 * tx] = e0[tx] + e1[tx - 1] + e2[tx - 1] - e0[tx - 1]
                o[2 * TW] = e1[TW - 1] + e2[TW - 1] - e0[TW - 1]
                for tx in range(TW):
                    o[2 * tx + 1] = e1[tx] - e2[tx] + e3[tx]
                o[2 * TW + 1] = 0
                for tx in range(1, TW + 1):
                    o[2 * tx + 1] -= e3[tx - 1]
            for i in range(4):
                rr = 2 * ty - pad + i
                if rr < 0 or rr >= H:
                    continue
                o = dx + (c * H + rr) * W - pad
                e0 = acc + i * Wp
                for j in range(kl, kh):
                    o[j] += e0[j]


cdef void _wino_out(const real* M, real* out, const real* bias, Py_ssize_t F, Py_ssize_t Ho, Py_ssize_t Wo,
                    Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t FT,
                    real* scratch) noexcept nogil:
    """out[f, 2ty + i, 2tx + j] = (A^T m A)[i, j] + bias[f], m the 16 values of M[:, f, t0 + ty*TW + tx].
    scratch holds 12 * TW values. One store stream per loop."""
    cdef Py_ssize_t f, ty, tx, j
    cdef real* S = scratch
    cdef real* y = scratch + 8 * TW
    cdef real* o
    cdef real* s0
    cdef real* s1
    cdef real* s2
    cdef real* s3
    cdef const real* m0
    cdef const real* m1
    cdef const real* m2
    cdef const real* m3
    cdef real bf
    for f in range(F):
        bf = bias[f]
        for ty in range(TH):
            # rows of A^T m: S[0, j] = m0j + m1j + m2j, S[1, j] = m1j - m2j - m3j
            for j in range(4):
                m0 = M + j * FT + f * Tcap + t0 + ty * TW
                m1 = m0 + 4 * FT
                m2 = m1 + 4 * FT
                m3 = m2 + 4 * FT
                o = S + j * TW
                for tx in range(TW):
                    o[tx] = m0[tx] + m1[tx] + m2[tx]
                o = S + (4 + j) * TW
                for tx in range(TW):
                    o[tx] = m1[tx] - m2[tx] - m3[tx]
            for j in range(2):
                s0 = S + 4 * j * TW
                s1 = s0 + TW
                s2 = s1 + TW
                s3 = s2 + TW
                o = y + 2 * j * TW
                for tx in range(TW):
                    o[tx] = s0[tx] + s1[tx] + s2[tx] + bf
                o = o + TW
                for tx in range(TW):
                    o[tx] = s1[tx] - s2[tx] - s3[tx] + bf
                if 2 * ty + j < Ho:
                    o = out + (f * Ho + 2 * ty + j) * Wo
                    s0 = y + 2 * j * TW
                    s1 = s0 + TW
                    for tx in range(Wo // 2):
                        o[2 * tx] = s0[tx]
                        o[2 * tx + 1] = s1[tx]
                    if Wo % 2:
                        o[Wo - 1] = s0[TW - 1]


cdef void _wino_dout(const real* dout, real* dM, Py_ssize_t F, Py_ssize_t Ho, Py_ssize_t Wo,
                     Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t FT,
                     real* scratch) noexcept nogil:
    """The adjoint of _wino_out (bias aside): dM[:, f, t] = A dY A^T for dout's 2x2 tile dY (zeros
    past the edge). scratch holds 8 * TW values. One store stream per loop."""
    cdef Py_ssize_t f, ty, tx, i
    cdef real* Y = scratch
    cdef real* R = scratch + 4 * TW
    cdef real* o
    cdef const real* row
    cdef const real* p
    cdef const real* q
    cdef const real* y0
    cdef const real* y1
    cdef Py_ssize_t base
    for f in range(F):
        for ty in range(TH):
            # Y = the tile rows split into even and odd columns: y00, y01, y10, y11 (0 past the edge)
            for i in range(2):
                o = Y + 2 * i * TW
                if 2 * ty + i < Ho:
                    row = dout + (f * Ho + 2 * ty + i) * Wo
                    for tx in range(Wo // 2):
                        o[tx] = row[2 * tx]
                    for tx in range(Wo // 2):
                        o[TW + tx] = row[2 * tx + 1]
                    if Wo % 2:
                        o[TW - 1] = row[Wo - 1]
                        o[2 * TW - 1] = 0
                else:
                    for tx in range(2 * TW):
                        o[tx] = 0
            # rows of A dY: R[i] = (p_i, q_i) = y0, y0 + y1, y0 - y1, -y1 (each an even and an odd part)
            for i in range(2):
                y0 = Y + i * TW
                y1 = Y + (2 + i) * TW
                o = R + i * TW
                for tx in range(TW):
                    o[tx] = y0[tx] + y1[tx]
                o = R + (2 + i) * TW
                for tx in range(TW):
                    o[tx] = y0[tx] - y1[tx]
            base = f * Tcap + t0 + ty * TW
            for i in range(4):
                if i == 0:
                    p = Y
                    q = Y + TW
                elif i == 1:
                    p = R
                    q = R + TW
                elif i == 2:
                    p = R + 2 * TW
                    q = R + 3 * TW
                else:
                    p = Y + 2 * TW
                    q = Y + 3 * TW
                # columns: p, p + q, p - q, -q (row 3 of A dY is -y1: both signs flip)
                o = dM + 4 * i * FT + base
                if i < 3:
                    for tx in range(TW):
                        o[tx] = p[tx]
                    o = o + FT
                    for tx in range(TW):
                        o[tx] = p[tx] + q[tx]
                    o = o + FT
                    for tx in range(TW):
                        o[tx] = p[tx] - q[tx]
                    o = o + FT
                    for tx in range(TW):
                        o[tx] = -q[tx]
                else:
                    for tx in range(TW):
                        o[tx] = -p[tx]
                    o = o + FT
                    for tx in range(TW):
                        o[tx] = -p[tx] - q[tx]
                    o = o + FT
                    for tx in range(TW):
                        o[tx] = q[tx] - p[tx]
                    o = o + FT
                    for tx in range(TW):
                        o[tx] = q[tx]


cdef extern from *:
    """
    /* Winograd F(2x2, 3x3) transforms in float32 with AVX2, chosen at run time (the Cython kernels
     * _wino_in, _wino_out, _wino_dout and _wino_in_adj run everywhere else, and define what these
     * compute). Eight tiles of a tile row per step (AS_TILE_STEPS; two tile rows of 4 tiles per step),
     * through a zero-padded copy of one channel plane (pb) where the Cython kernels clip at the edges.
     * Every value is formed by the same float operations in the same order as in the Cython kernels,
     * so both give the same bits. */
    #if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    #include <immintrin.h>
    #include <string.h>

    static int as_avx2_available(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    }

    /* even and odd entries of the 16 floats lo, hi, each in order */
    __attribute__((target("avx2")))
    static inline void as_split16(__m256 lo, __m256 hi, __m256* even, __m256* odd) {
        __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
        __m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
        *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
        *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
    }

    /* the inverse: the 16 floats even[0], odd[0], even[1], ... as lo, hi */
    __attribute__((target("avx2")))
    static inline void as_zip16(__m256 even, __m256 odd, __m256* lo, __m256* hi) {
        __m256 a = _mm256_unpacklo_ps(even, odd), b = _mm256_unpackhi_ps(even, odd);
        *lo = _mm256_permute2f128_ps(a, b, 0x20);
        *hi = _mm256_permute2f128_ps(a, b, 0x31);
    }

    /* a mask of the first n of 8 lanes (n clamped to 0..8) */
    __attribute__((target("avx2")))
    static inline __m256i as_lanes(Py_ssize_t n) {
        int k = n < 0 ? 0 : n > 8 ? 8 : (int)n;
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }

    __attribute__((target("avx2")))
    static inline void as_put(float* p, __m256 v, Py_ssize_t n) {  /* the first n (<= 8 or more) lanes */
        if (n >= 8) _mm256_storeu_ps(p, v);
        else _mm256_maskstore_ps(p, as_lanes(n), v);
    }

    __attribute__((target("avx2")))
    static inline __m256 as_get(const float* p, Py_ssize_t n) {  /* the first n lanes, zeros after */
        if (n >= 8) return _mm256_loadu_ps(p);
        return _mm256_maskload_ps(p, as_lanes(n));
    }

    /* The padded plane copy (pb) of one channel: Hp rows of Wpb floats, the tile rows' 2*TH + 2 rows
     * and 2*TW + 2 columns with room for whole 16-float loads past them; the image's pixels that
     * tiles cover are its first nh rows and nw columns, at (pad, pad). */
    static void as_plane(Py_ssize_t H, Py_ssize_t W, Py_ssize_t pad, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t* Hp,
                         Py_ssize_t* Wpb, Py_ssize_t* nh, Py_ssize_t* nw) {
        *Hp = 2 * TH + 2;
        *Wpb = 2 * ((TW + 8) / 8 * 8) + 24;
        *nh = H < *Hp - pad ? H : *Hp - pad;
        *nw = W < 2 * TW + 2 - pad ? W : 2 * TW + 2 - pad;
        if (*nh < 0) *nh = 0;
        if (*nw < 0) *nw = 0;
    }

    /* floats of pb */
    static Py_ssize_t as_wino_scratch(Py_ssize_t TH, Py_ssize_t TW) {
        Py_ssize_t Hp, Wpb, nh, nw;
        as_plane(0, 0, 0, TH, TW, &Hp, &Wpb, &nh, &nw);
        return Hp * Wpb;
    }

    __attribute__((target("avx2")))
    static inline void as_copy(float* dst, const float* src, Py_ssize_t n) {
        Py_ssize_t k = 0;
        for (; k + 8 <= n; k += 8)
            _mm256_storeu_ps(dst + k, _mm256_loadu_ps(src + k));
        if (k < n)
            as_put(dst + k, as_get(src + k, n - k), n - k);
    }

    /* The tile rows of a transform: 8 tiles from tx, the last step moved back to end at TW (it
     * recomputes a few tiles, which writes the same values again) where TW >= 8; masked to TW tiles
     * below that. step(tx, n) does n <= 8 tiles from tx. */
    #define AS_TILE_STEPS(TW, step)                                      \
        if ((TW) < 8) {                                                  \
            step(0, (TW));                                               \
        } else {                                                         \
            for (Py_ssize_t tx_ = 0;; tx_ += 8) {                        \
                if (tx_ + 8 > (TW)) tx_ = (TW) - 8;                      \
                step(tx_, 8);                                            \
                if (tx_ + 8 >= (TW)) break;                              \
            }                                                            \
        }

    /* row i of B^T d for the rows r0..r3 of the tile: r0 - r2, r1 + r2, r2 - r1, r1 - r3 */
    __attribute__((target("avx2")))
    static inline __m256 as_bt_row(int i, const float* r0, const float* r1, const float* r2, const float* r3,
                                   Py_ssize_t k) {
        switch (i) {
        case 0: return _mm256_sub_ps(_mm256_loadu_ps(r0 + k), _mm256_loadu_ps(r2 + k));
        case 1: return _mm256_add_ps(_mm256_loadu_ps(r1 + k), _mm256_loadu_ps(r2 + k));
        case 2: return _mm256_sub_ps(_mm256_loadu_ps(r2 + k), _mm256_loadu_ps(r1 + k));
        default: return _mm256_sub_ps(_mm256_loadu_ps(r1 + k), _mm256_loadu_ps(r3 + k));
        }
    }

    /* the columns of (B^T d) B from a row's tile columns 0..3 (e, o, e2, o2), to 4 planes CT apart */
    __attribute__((target("avx2")))
    static inline void as_bt_cols(__m256 e, __m256 o, __m256 e2, __m256 o2, float* p, Py_ssize_t CT, Py_ssize_t n) {
        as_put(p, _mm256_sub_ps(e, e2), n);
        as_put(p + CT, _mm256_add_ps(o, e2), n);
        as_put(p + 2 * CT, _mm256_sub_ps(e2, o), n);
        as_put(p + 3 * CT, _mm256_sub_ps(o, o2), n);
    }

    /* _wino_in */
    __attribute__((target("avx2")))
    static void as_wino_in_f32(const float* x, float* V, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t pad, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap,
                               Py_ssize_t CT, float* pb) {
        Py_ssize_t Hp, Wpb, nh, nw;
        as_plane(H, W, pad, TH, TW, &Hp, &Wpb, &nh, &nw);
        memset(pb, 0, Hp * Wpb * sizeof(float));  /* the border stays zero; the inside is rewritten */
        for (Py_ssize_t c = 0; c < C; ++c) {
            for (Py_ssize_t r = 0; r < nh; ++r)
                as_copy(pb + (r + pad) * Wpb + pad, x + (c * H + r) * W, nw);
            Py_ssize_t ty = 0;
            if (TW == 4) {
                /* two tile rows per step: lanes 0-3 tile row ty, 4-7 tile row ty + 1 (adjacent in V) */
                for (; ty + 2 <= TH; ty += 2) {
                    const float* r = pb + 2 * ty * Wpb;
                    float* v = V + c * Tcap + t0 + ty * TW;
                    for (int i = 0; i < 4; ++i) {
                        __m256 a0 = as_bt_row(i, r, r + Wpb, r + 2 * Wpb, r + 3 * Wpb, 0);
                        __m256 a2 = as_bt_row(i, r, r + Wpb, r + 2 * Wpb, r + 3 * Wpb, 2);
                        __m256 b0 = as_bt_row(i, r + 2 * Wpb, r + 3 * Wpb, r + 4 * Wpb, r + 5 * Wpb, 0);
                        __m256 b2 = as_bt_row(i, r + 2 * Wpb, r + 3 * Wpb, r + 4 * Wpb, r + 5 * Wpb, 2);
                        __m256 lo = _mm256_permute2f128_ps(a0, b0, 0x20), hi = _mm256_permute2f128_ps(a0, b0, 0x31);
                        __m256 lo2 = _mm256_permute2f128_ps(a2, b2, 0x20), hi2 = _mm256_permute2f128_ps(a2, b2, 0x31);
                        as_bt_cols(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)),
                                   _mm256_shuffle_ps(lo2, hi2, _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm256_shuffle_ps(lo2, hi2, _MM_SHUFFLE(3, 1, 3, 1)), v + 4 * i * CT, CT, 8);
                    }
                }
            }
            for (; ty < TH; ++ty) {
                const float* r0 = pb + 2 * ty * Wpb;
                const float* r1 = r0 + Wpb;
                const float* r2 = r1 + Wpb;
                const float* r3 = r2 + Wpb;
                float* v = V + c * Tcap + t0 + ty * TW;
                #define AS_IN_STEP(tx, n)                                                               \
                    for (int i = 0; i < 4; ++i) {                                                       \
                        __m256 e, o, e2, o2;  /* columns 2tx, 2tx+1, 2tx+2, 2tx+3 of each tile */       \
                        const Py_ssize_t k = 2 * (tx);                                                  \
                        as_split16(as_bt_row(i, r0, r1, r2, r3, k), as_bt_row(i, r0, r1, r2, r3, k + 8), &e, &o); \
                        as_split16(as_bt_row(i, r0, r1, r2, r3, k + 2), as_bt_row(i, r0, r1, r2, r3, k + 10), &e2, &o2); \
                        as_bt_cols(e, o, e2, o2, v + 4 * i * CT + (tx), CT, (n));                       \
                    }
                AS_TILE_STEPS(TW, AS_IN_STEP)
                #undef AS_IN_STEP
            }
        }
    }

    /* A^T m A + bias for the 16 planes at m (FT apart), 8 tiles: the output rows' even and odd columns */
    __attribute__((target("avx2")))
    static inline void as_at_tiles(const float* m, Py_ssize_t FT, Py_ssize_t n, __m256 bf, __m256* even, __m256* odd) {
        __m256 s[8];  /* rows of A^T m: s[j] = m0j + m1j + m2j, s[4 + j] = m1j - m2j - m3j */
        for (int j = 0; j < 4; ++j) {
            __m256 m0 = as_get(m + j * FT, n), m1 = as_get(m + (4 + j) * FT, n);
            __m256 m2 = as_get(m + (8 + j) * FT, n), m3 = as_get(m + (12 + j) * FT, n);
            s[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
            s[4 + j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
        }
        for (int j = 0; j < 2; ++j) {
            const __m256* q = s + 4 * j;
            even[j] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(q[0], q[1]), q[2]), bf);
            odd[j] = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(q[1], q[2]), q[3]), bf);
        }
    }

    /* _wino_out */
    __attribute__((target("avx2")))
    static void as_wino_out_f32(const float* M, float* out, const float* bias, Py_ssize_t F, Py_ssize_t Ho,
                                Py_ssize_t Wo, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap,
                                Py_ssize_t FT) {
        for (Py_ssize_t f = 0; f < F; ++f) {
            const __m256 bf = _mm256_set1_ps(bias[f]);
            float* plane = out + f * Ho * Wo;
            Py_ssize_t ty = 0;
            if (TW == 4) {
                for (; ty + 2 <= TH; ty += 2) {  /* lanes 0-3 tile row ty, 4-7 tile row ty + 1 */
                    __m256 even[2], odd[2];
                    as_at_tiles(M + f * Tcap + t0 + ty * TW, FT, 8, bf, even, odd);
                    for (int j = 0; j < 2; ++j) {
                        __m256 a = _mm256_unpacklo_ps(even[j], odd[j]), b = _mm256_unpackhi_ps(even[j], odd[j]);
                        if (2 * ty + j < Ho)
                            as_put(plane + (2 * ty + j) * Wo, _mm256_permute2f128_ps(a, b, 0x20), Wo);
                        if (2 * ty + 2 + j < Ho)
                            as_put(plane + (2 * ty + 2 + j) * Wo, _mm256_permute2f128_ps(a, b, 0x31), Wo);
                    }
                }
            }
            for (; ty < TH; ++ty) {
                const float* m = M + f * Tcap + t0 + ty * TW;
                #define AS_OUT_STEP(tx, n)                                                  \
                    {                                                                       \
                        __m256 even[2], odd[2], lo, hi;                                     \
                        as_at_tiles(m + (tx), FT, (n), bf, even, odd);                      \
                        for (int j = 0; j < 2 && 2 * ty + j < Ho; ++j) {                    \
                            float* o = plane + (2 * ty + j) * Wo + 2 * (tx);                \
                            Py_ssize_t cols = Wo - 2 * (tx);                                \
                            as_zip16(even[j], odd[j], &lo, &hi);                            \
                            as_put(o, lo, cols);                                            \
                            if (cols > 8)                                                   \
                                as_put(o + 8, hi, cols - 8);                                \
                        }                                                                   \
                    }
                AS_TILE_STEPS(TW, AS_OUT_STEP)
                #undef AS_OUT_STEP
            }
        }
    }

    /* A dY A^T from the tile rows' even and odd columns (e0, o0: first row; e1, o1: second row), 8 tiles,
     * to 16 planes FT apart: rows y0, y0 + y1, y0 - y1, -y1, each then as columns p, p + q, p - q, -q */
    __attribute__((target("avx2")))
    static inline void as_a_tiles(__m256 e0, __m256 o0, __m256 e1, __m256 o1, float* d, Py_ssize_t FT, Py_ssize_t n) {
        const __m256 sign = _mm256_set1_ps(-0.0f);
        __m256 p[3] = {e0, _mm256_add_ps(e0, e1), _mm256_sub_ps(e0, e1)};
        __m256 q[3] = {o0, _mm256_add_ps(o0, o1), _mm256_sub_ps(o0, o1)};
        for (int i = 0; i < 3; ++i) {
            float* r = d + 4 * i * FT;
            as_put(r, p[i], n);
            as_put(r + FT, _mm256_add_ps(p[i], q[i]), n);
            as_put(r + 2 * FT, _mm256_sub_ps(p[i], q[i]), n);
            as_put(r + 3 * FT, _mm256_xor_ps(q[i], sign), n);
        }
        __m256 np = _mm256_xor_ps(e1, sign);
        float* r = d + 12 * FT;
        as_put(r, np, n);
        as_put(r + FT, _mm256_sub_ps(np, o1), n);
        as_put(r + 2 * FT, _mm256_sub_ps(o1, e1), n);
        as_put(r + 3 * FT, o1, n);
    }

    /* _wino_dout */
    __attribute__((target("avx2")))
    static void as_wino_dout_f32(const float* dout, float* dM, Py_ssize_t F, Py_ssize_t Ho, Py_ssize_t Wo,
                                 Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t FT) {
        const __m256 zero = _mm256_setzero_ps();
        for (Py_ssize_t f = 0; f < F; ++f) {
            const float* plane = dout + f * Ho * Wo;
            Py_ssize_t ty = 0;
            if (TW == 4) {
                for (; ty + 2 <= TH; ty += 2) {  /* lanes 0-3 tile row ty, 4-7 tile row ty + 1 */
                    __m256 e[2], o[2];
                    for (int i = 0; i < 2; ++i) {  /* the tile rows' first and second rows */
                        __m256 a = 2 * ty + i < Ho ? as_get(plane + (2 * ty + i) * Wo, Wo) : zero;
                        __m256 b = 2 * ty + 2 + i < Ho ? as_get(plane + (2 * ty + 2 + i) * Wo, Wo) : zero;
                        __m256 lo = _mm256_permute2f128_ps(a, b, 0x20), hi = _mm256_permute2f128_ps(a, b, 0x31);
                        e[i] = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
                        o[i] = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
                    }
                    as_a_tiles(e[0], o[0], e[1], o[1], dM + f * Tcap + t0 + ty * TW, FT, 8);
                }
            }
            for (; ty < TH; ++ty) {
                const float* y0 = plane + 2 * ty * Wo;
                const int has1 = 2 * ty + 1 < Ho;
                float* d = dM + f * Tcap + t0 + ty * TW;
                #define AS_DOUT_STEP(tx, n)                                                                      \
                    {                                                                                            \
                        const Py_ssize_t cols = Wo - 2 * (tx);                                                   \
                        __m256 e0, o0, e1 = zero, o1 = zero;  /* even and odd columns, zero past the edge */    \
                        as_split16(as_get(y0 + 2 * (tx), cols), as_get(y0 + 2 * (tx) + 8, cols - 8), &e0, &o0); \
                        if (has1)                                                                                \
                            as_split16(as_get(y0 + Wo + 2 * (tx), cols), as_get(y0 + Wo + 2 * (tx) + 8, cols - 8), \
                                       &e1, &o1);                                                                \
                        as_a_tiles(e0, o0, e1, o1, d + (tx), FT, (n));                                           \
                    }
                AS_TILE_STEPS(TW, AS_DOUT_STEP)
                #undef AS_DOUT_STEP
            }
        }
    }

    /* _wino_in_adj */
    __attribute__((target("avx2")))
    static void as_wino_in_adj_f32(const float* dV, float* dx, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                                   Py_ssize_t pad, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap,
                                   Py_ssize_t CT, float* pb) {
        Py_ssize_t Hp, Wpb, nh, nw;
        as_plane(H, W, pad, TH, TW, &Hp, &Wpb, &nh, &nw);
        const __m256 sign = _mm256_set1_ps(-0.0f);
        const __m256i up = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
        const __m256i last = _mm256_set1_epi32(7);
        for (Py_ssize_t c = 0; c < C; ++c) {
            for (Py_ssize_t ty = 0; ty < TH; ++ty) {
                const float* g = dV + c * Tcap + t0 + ty * TW;
                __m256 carry[16];  /* each e row's last lane of the previous step: e[tx - 1] */
                for (int k = 0; k < 16; ++k)
                    carry[k] = _mm256_setzero_ps();
                /* lanes tx = 0 .. TW: lane TW (e = 0 there) gives the columns 2TW and 2TW+1 */
                for (Py_ssize_t tx = 0; tx <= TW; tx += 8) {
                    const Py_ssize_t n = TW - tx;
                    __m256 e[16];  /* rows of B g: e[j] = g0j, e[4+j] = g1j - g2j + g3j, e[8+j] = g1j + g2j - g0j, e[12+j] = -g3j */
                    for (int j = 0; j < 4; ++j) {
                        __m256 g0 = as_get(g + j * CT + tx, n), g1 = as_get(g + (4 + j) * CT + tx, n);
                        __m256 g2 = as_get(g + (8 + j) * CT + tx, n), g3 = as_get(g + (12 + j) * CT + tx, n);
                        e[j] = g0;
                        e[4 + j] = _mm256_add_ps(_mm256_sub_ps(g1, g2), g3);
                        e[8 + j] = _mm256_sub_ps(_mm256_add_ps(g1, g2), g0);
                        e[12 + j] = _mm256_xor_ps(g3, sign);
                    }
                    for (int i = 0; i < 4; ++i) {
                        __m256 prev[4];  /* e[4i + j] one lane up: lane t holds e[4i + j][t - 1] */
                        for (int j = 0; j < 4; ++j) {
                            prev[j] = _mm256_blend_ps(_mm256_permutevar8x32_ps(e[4 * i + j], up), carry[4 * i + j], 1);
                            carry[4 * i + j] = _mm256_permutevar8x32_ps(e[4 * i + j], last);
                        }
                        /* columns 2t: e0[t] + e1[t-1] + e2[t-1] - e0[t-1]; 2t+1: e1[t] - e2[t] + e3[t] - e3[t-1] */
                        __m256 even = _mm256_sub_ps(_mm256_add_ps(_mm256_add_ps(e[4 * i], prev[1]), prev[2]), prev[0]);
                        __m256 odd = _mm256_sub_ps(_mm256_add_ps(_mm256_sub_ps(e[4 * i + 1], e[4 * i + 2]), e[4 * i + 3]), prev[3]);
                        __m256 lo, hi;
                        as_zip16(even, odd, &lo, &hi);
                        /* rows 2ty and 2ty+1 already hold tile row ty-1's part (from ty = 1 on): add to them;
                           rows 2ty+2 and 2ty+3 are new: store */
                        float* o = pb + (2 * ty + i) * Wpb + 2 * tx;
                        if (i < 2 && ty > 0) {
                            lo = _mm256_add_ps(_mm256_loadu_ps(o), lo);
                            hi = _mm256_add_ps(_mm256_loadu_ps(o + 8), hi);
                        }
                        _mm256_storeu_ps(o, lo);
                        _mm256_storeu_ps(o + 8, hi);
                    }
                }
            }
            float* plane = dx + c * H * W;
            for (Py_ssize_t r = 0; r < H; ++r) {
                Py_ssize_t done = 0;
                if (r < nh) {
                    as_copy(plane + r * W, pb + (r + pad) * Wpb + pad, nw);
                    done = nw;
                }
                if (done < W)
                    memset(plane + r * W + done, 0, (W - done) * sizeof(float));
            }
        }
    }
    #else
    static int as_avx2_available(void) { return 0; }
    static Py_ssize_t as_wino_scratch(Py_ssize_t TH, Py_ssize_t TW) { return 0; }
    static void as_wino_in_f32(const float* x, float* V, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                               Py_ssize_t pad, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap,
                               Py_ssize_t CT, float* pb) {}
    static void as_wino_out_f32(const float* M, float* out, const float* bias, Py_ssize_t F, Py_ssize_t Ho,
                                Py_ssize_t Wo, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap,
                                Py_ssize_t FT) {}
    static void as_wino_dout_f32(const float* dout, float* dM, Py_ssize_t F, Py_ssize_t Ho, Py_ssize_t Wo,
                                 Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t FT) {}
    static void as_wino_in_adj_f32(const float* dV, float* dx, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W,
                                   Py_ssize_t pad, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap,
                                   Py_ssize_t CT, float* pb) {}
    #endif
    """
    int as_avx2_available() noexcept nogil
    Py_ssize_t as_wino_scratch(Py_ssize_t TH, Py_ssize_t TW) noexcept nogil
    void as_wino_in_f32(const float* x, float* V, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t pad,
                        Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t CT,
                        float* pb) noexcept nogil
    void as_wino_out_f32(const float* M, float* out, const float* bias, Py_ssize_t F, Py_ssize_t Ho, Py_ssize_t Wo,
                         Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t FT) noexcept nogil
    void as_wino_dout_f32(const float* dout, float* dM, Py_ssize_t F, Py_ssize_t Ho, Py_ssize_t Wo, Py_ssize_t TH,
                          Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t FT) noexcept nogil
    void as_wino_in_adj_f32(const float* dV, float* dx, Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t pad,
                            Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t t0, Py_ssize_t Tcap, Py_ssize_t CT,
                            float* pb) noexcept nogil


# Whether the float32 kernels with an AVX2 version (the Winograd transforms, the 2x2/2 pool) run it
# (x86-64 with AVX2, checked at import); tests switch it off to compare with the Cython kernels.
cdef bint _simd = as_avx2_available()


def _set_simd(bint enabled):
    """Use the AVX2 float32 kernels (where the CPU has them) or the Cython ones; returns the setting
    in force before."""
    global _simd
    before = _simd
    _simd = enabled and as_avx2_available()
    return before


_WINO_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
# Bytes of transformed tiles one chunk aims at: forward V and M (L2-sized); backward V, dM and dV,
# larger, because a chunk's dU = dM @ V^T has the chunk's tiles as its inner dimension and a
# 64x64 output per plane: with 2 MiB rather than 512 KiB, the 64->64 8x8 layer's backward
# went from 6.7 to 5.6 ms at 2 threads (the 16->16 28x28 one did not change).
_WINO_CHUNK_BYTES = 512 * 1024
_WINO_BWD_CHUNK_BYTES = 2048 * 1024


def _wino_weights(w, dt):
    """U[4a + b, f, c] = (G w[f, c] G^T)[a, b], contiguous (16, F, C)."""
    F, C = w.shape[:2]
    G = _WINO_G.astype(dt)
    t = np.tensordot(w, G, axes=([3], [1]))  # (F, C, 3, 4): w[f, c] G^T
    U = np.tensordot(G, t, axes=([1], [2]))  # (4, F, C, 4): G w[f, c] G^T, rows first
    return np.ascontiguousarray(U.transpose(0, 3, 1, 2), dtype=dt).reshape(16, F, C)


def _planes(rows, cols, dt):
    """An empty (16, rows, cols) array whose 16 planes lie a cache line more than rows*cols apart,
    so that a tile's 16 values never land in one cache set (4 KiB aliasing)."""
    plane = rows * cols + 64 // dt.itemsize
    flat = np.empty(16 * plane, dtype=dt)
    strides = (plane * dt.itemsize, cols * dt.itemsize, dt.itemsize)
    return np.lib.stride_tricks.as_strided(flat, (16, rows, cols), strides)


def _wino_fwd_range(Py_ssize_t lo, Py_ssize_t hi, int tid, const real[:, :, :, ::1] x, U,
                    const real[::1] bias, real[:, :, :, ::1] out, list bufs, geom, chunks):
    cdef Py_ssize_t pad, TH, TW, m, Ho, Wo
    cdef bint relu
    pad, TH, TW, m, Ho, Wo, relu = geom
    V_arr, M_arr = bufs[tid]
    cdef real[:, :, :] V = V_arr
    cdef real[:, :, :] M = M_arr
    cdef Py_ssize_t C = x.shape[1], H = x.shape[2], W = x.shape[3], N = x.shape[0], F = out.shape[1]
    cdef Py_ssize_t Tcap = V.shape[2], TPI = TH * TW, i, e, j, nt
    scratch_arr = np.empty(max(12 * TW + 8 * (2 * TW + 2), as_wino_scratch(TH, TW)), dtype=V_arr.dtype)
    cdef real[::1] scratch = scratch_arr
    while True:
        i = next(chunks) * m
        if i >= N:
            return
        e = min(i + m, N)
        nt = (e - i) * TPI
        with nogil:
            for j in range(e - i):
                if real is float and _simd:
                    as_wino_in_f32(&x[i + j, 0, 0, 0], &V[0, 0, 0], C, H, W, pad, TH, TW, j * TPI, Tcap,
                                   V.strides[0] // sizeof(real), &scratch[0])
                else:
                    _wino_in(&x[i + j, 0, 0, 0], &V[0, 0, 0], C, H, W, pad, TH, TW, j * TPI, Tcap,
                             V.strides[0] // sizeof(real), &scratch[0])
        if nt == Tcap:
            np.matmul(U, V_arr, out=M_arr)
        else:
            np.matmul(U, V_arr[:, :, :nt], out=M_arr[:, :, :nt])
        with nogil:
            for j in range(e - i):
                if real is float and _simd:
                    as_wino_out_f32(&M[0, 0, 0], &out[i + j, 0, 0, 0], &bias[0], F, Ho, Wo, TH, TW, j * TPI, Tcap,
                                    M.strides[0] // sizeof(real))
                else:
                    _wino_out(&M[0, 0, 0], &out[i + j, 0, 0, 0], &bias[0], F, Ho, Wo, TH, TW, j * TPI, Tcap,
                              M.strides[0] // sizeof(real), &scratch[0])
                if relu:  # while the image's output is still in cache
                    _relu_inplace(&out[i + j, 0, 0, 0], F * Ho * Wo)


def _wino_bwd_range(Py_ssize_t lo, Py_ssize_t hi, int tid, const real[:, :, :, ::1] x,
                    const real[:, :, :, ::1] dout, UT, real[:, :, :, ::1] dx, list bufs, geom, chunks, slots,
                    const real[:, :, :, ::1] ymask=None, real[:, ::1] db_slots=None):
    """With ``ymask`` (a fused ReLU's output or input), each image's dout is first masked to
    dout * (ymask > 0), and chunk c's sum of it over images and pixels goes to db_slots[c]."""
    cdef Py_ssize_t pad, TH, TW, m, Ho, Wo
    pad, TH, TW, m, Ho, Wo = geom
    V_arr, dM_arr, dV_arr, dimg_arr = bufs[tid]
    cdef real[:, :, ::1] dimg = dimg_arr
    cdef Py_ssize_t f
    cdef const real* src
    cdef real[:, :, :] V = V_arr
    cdef real[:, :, :] dM = dM_arr
    cdef real[:, :, :] dV = dV_arr
    cdef Py_ssize_t C = x.shape[1], H = x.shape[2], W = x.shape[3], N = x.shape[0], F = dout.shape[1]
    cdef Py_ssize_t Tcap = V.shape[2], TPI = TH * TW, i, e, j, nt, c
    scratch_arr = np.empty(max(16 * TW + 8 * (2 * TW + 2), as_wino_scratch(TH, TW)), dtype=V_arr.dtype)
    cdef real[::1] scratch = scratch_arr
    while True:
        c = next(chunks)
        i = c * m
        if i >= N:
            return
        e = min(i + m, N)
        nt = (e - i) * TPI
        with nogil:
            for j in range(e - i):
                src = &dout[i + j, 0, 0, 0]
                if ymask is not None:
                    _relu_mask(src, &ymask[i + j, 0, 0, 0], &dimg[0, 0, 0], F * Ho * Wo)
                    for f in range(F):
                        db_slots[c, f] += _sum8(&dimg[f, 0, 0], Ho * Wo)
                    src = &dimg[0, 0, 0]
                if real is float and _simd:
                    as_wino_in_f32(&x[i + j, 0, 0, 0], &V[0, 0, 0], C, H, W, pad, TH, TW, j * TPI, Tcap,
                                   V.strides[0] // sizeof(real), &scratch[0])
                    as_wino_dout_f32(src, &dM[0, 0, 0], F, Ho, Wo, TH, TW, j * TPI, Tcap, dM.strides[0] // sizeof(real))
                else:
                    _wino_in(&x[i + j, 0, 0, 0], &V[0, 0, 0], C, H, W, pad, TH, TW, j * TPI, Tcap,
                             V.strides[0] // sizeof(real), &scratch[0])
                    _wino_dout(src, &dM[0, 0, 0], F, Ho, Wo, TH, TW, j * TPI, Tcap,
                               dM.strides[0] // sizeof(real), &scratch[0])
        if nt == Tcap:
            Vs, dMs, dVs = V_arr, dM_arr, dV_arr
        else:
            Vs, dMs, dVs = V_arr[:, :, :nt], dM_arr[:, :, :nt], dV_arr[:, :, :nt]
        np.matmul(dMs, Vs.transpose(0, 2, 1), out=slots[c])
        np.matmul(UT, dMs, out=dVs)
        with nogil:
            for j in range(e - i):
                if real is float and _simd:
                    as_wino_in_adj_f32(&dV[0, 0, 0], &dx[i + j, 0, 0, 0], C, H, W, pad, TH, TW, j * TPI, Tcap,
                                       dV.strides[0] // sizeof(real), &scratch[0])
                else:
                    _wino_in_adj(&dV[0, 0, 0], &dx[i + j, 0, 0, 0], C, H, W, pad, TH, TW, j * TPI, Tcap,
                                 dV.strides[0] // sizeof(real), &scratch[0])


def conv_forward_winograd(x, w, b, conv_param):
    """Convolution forward by Winograd F(2x2, 3x3), for 3x3 filters with stride 1 (any pad).

    The contract of conv_forward_cpu (same cache); conv_forward_cpu takes this path where it is
    the faster one (see _use_winograd).
    """
    return _conv_forward_winograd(x, w, b, conv_param, False)


def _conv_forward_winograd(x, w, b, conv_param, bint relu):
    """conv_forward_winograd, followed by a ReLU on each image's output when ``relu``."""
    (N, F, Ho, Wo), s, pad = _conv_geometry(x, w, b, conv_param)
    _require_winograd(w, s)
    out_dtype = np.result_type(x, w, b)
    dt = _compute_dtype(out_dtype)
    xc = _as_compute(x, dt)
    C = x.shape[1]
    TH, TW = (Ho + 1) // 2, (Wo + 1) // 2
    U = _wino_weights(_as_compute(w, dt), dt)
    bias = _as_compute(b, dt)
    out = np.empty((N, F, Ho, Wo), dtype=dt)
    if N:
        nt = num_threads()
        m = _chunk_images(N, nt, 16 * (C + F) * TH * TW * dt.itemsize, _WINO_CHUNK_BYTES)
        nt = min(nt, N)
        bufs = [(_planes(C, m * TH * TW, dt), _planes(F, m * TH * TW, dt)) for _ in range(nt)]
        geom = (pad, TH, TW, m, Ho, Wo, relu)
        _run_ranges(_wino_fwd_range, nt, nt, (xc, U, bias, out, bufs, geom, itertools.count()))
    if out.dtype != out_dtype:
        out = out.astype(out_dtype)
    return out, (x, w, b, conv_param)


def conv_backward_winograd(dout, cache):
    """Convolution backward by Winograd F(2x2, 3x3): the exact adjoint of conv_forward_winograd.

    The contract of conv_backward_cpu; takes either forward's cache.
    """
    return _conv_backward_winograd(dout, cache, None)


def _conv_backward_winograd(dout, cache, ymask):
    """conv_backward_winograd of dout * (ymask > 0) when ymask (same shape as dout) is given."""
    x, w, b, conv_param = cache
    (N, F, Ho, Wo), s, pad = _conv_geometry(x, w, b, conv_param)
    _require_winograd(w, s)
    _require_array("dout", dout)
    require_shape("dout", dout, (N, F, Ho, Wo), "the shape of conv_forward_fast's output")
    dt = _compute_dtype(x.dtype, w.dtype, b.dtype)
    xc = _as_compute(x, dt)
    dc = _as_compute(dout, dt)
    C, H, W = x.shape[1:]
    TH, TW = (Ho + 1) // 2, (Wo + 1) // 2
    U = _wino_weights(_as_compute(w, dt), dt)
    UT = np.ascontiguousarray(U.transpose(0, 2, 1))
    dx = np.empty((N, C, H, W), dtype=dt)
    dU = np.zeros((16, F, C), dtype=dt)
    if N:
        nt = num_threads()
        m = _chunk_images(N, nt, 16 * (2 * C + F) * TH * TW * dt.itemsize, _WINO_BWD_CHUNK_BYTES)
        nt = min(nt, N)
        bufs = [(_planes(C, m * TH * TW, dt), _planes(F, m * TH * TW, dt), _planes(C, m * TH * TW, dt),
                 np.empty((F, Ho, Wo), dtype=dt) if ymask is not None else None)
                for _ in range(nt)]
        n_chunks = -(-N // m)
        slots = np.empty((n_chunks, 16, F, C), dtype=dt)
        db_slots = np.zeros((n_chunks, F), dtype=dt) if ymask is not None else None
        geom = (pad, TH, TW, m, Ho, Wo)
        _run_ranges(_wino_bwd_range, nt, nt, (xc, dc, UT, dx, bufs, geom, itertools.count(), slots,
                                              None if ymask is None else _as_compute(ymask, dt), db_slots))
        dU = slots.sum(axis=0)
    G = _WINO_G.astype(dt)
    dw = np.einsum("au,abfc,bv->fcuv", G, dU.reshape(4, 4, F, C), G, optimize=True)
    if ymask is None:
        db = dc.sum(axis=(0, 2, 3))
    elif N:
        db = db_slots.sum(axis=0)
    else:
        db = np.zeros(F, dtype=dt)
    return dx.astype(x.dtype, copy=False), dw.astype(w.dtype), db.astype(b.dtype)


# ----------------------------------------------------------------------------------------------
# Max pooling
# ----------------------------------------------------------------------------------------------


cdef extern from *:
    """
    /* Max pooling 2x2 / stride 2 in float32 with AVX2, chosen at run time (the scalar Cython
     * kernels run everywhere else). Same rule as the scalar kernel: the running max is replaced
     * by a strictly larger value or by the first NaN, and the code of the winner (0..3, row-major
     * in the window) is kept. */
    #if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    #include <immintrin.h>
    #include <string.h>

    /* even and odd entries of 16 consecutive floats, each in order (as_split16: the Winograd block) */
    __attribute__((target("avx2")))
    static inline void as_deinterleave(const float* p, __m256* even, __m256* odd) {
        as_split16(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), even, odd);
    }

    /* lanes where v replaces m: v > m, or v is NaN and m is not */
    __attribute__((target("avx2")))
    static inline __m256 as_beats(__m256 v, __m256 m) {
        __m256 gt = _mm256_cmp_ps(v, m, _CMP_GT_OQ);
        __m256 nan_over_number = _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(m, m, _CMP_ORD_Q));
        return _mm256_or_ps(gt, nan_over_number);
    }

    __attribute__((target("avx2")))
    static inline __m128 as_beats4(__m128 v, __m128 m) {
        __m128 gt = _mm_cmp_ps(v, m, _CMP_GT_OQ);
        __m128 nan_over_number = _mm_and_ps(_mm_cmp_ps(v, v, _CMP_UNORD_Q), _mm_cmp_ps(m, m, _CMP_ORD_Q));
        return _mm_or_ps(gt, nan_over_number);
    }

    static inline void as_pool_fwd_one(const float* r0, const float* r1, float* o, unsigned char* a) {
        float m = r0[0], v;
        int k = 0, t;
        v = r0[1]; t = (v > m) | ((v != v) & (m == m)); m = t ? v : m; k = t ? 1 : k;
        v = r1[0]; t = (v > m) | ((v != v) & (m == m)); m = t ? v : m; k = t ? 2 : k;
        v = r1[1]; t = (v > m) | ((v != v) & (m == m)); m = t ? v : m; k = t ? 3 : k;
        *o = m;
        *a = (unsigned char)k;
    }

    /* planes [p0, p1) of (H, W) planes; H and W even */
    __attribute__((target("avx2")))
    static void as_pool_fwd_2x2_f32(const float* x, float* out, unsigned char* arg, Py_ssize_t p0, Py_ssize_t p1,
                                    Py_ssize_t H, Py_ssize_t W) {
        const Py_ssize_t Ho = H / 2, Wo = W / 2;
        const __m256 one = _mm256_castsi256_ps(_mm256_set1_epi32(1));
        const __m256 two = _mm256_castsi256_ps(_mm256_set1_epi32(2));
        const __m256 three = _mm256_castsi256_ps(_mm256_set1_epi32(3));
        for (Py_ssize_t row = p0 * Ho; row < p1 * Ho; ++row) {  /* output rows of all planes, in order */
            const float* r0 = x + 2 * row * W;
            const float* r1 = r0 + W;
            float* o = out + row * Wo;
            unsigned char* a = arg + row * Wo;
            Py_ssize_t j = 0;
            for (; j + 8 <= Wo; j += 8) {
                __m256 a0, a1, b0, b1, t;
                as_deinterleave(r0 + 2 * j, &a0, &a1);
                as_deinterleave(r1 + 2 * j, &b0, &b1);
                __m256 m = a0, k = _mm256_setzero_ps();
                t = as_beats(a1, m); m = _mm256_blendv_ps(m, a1, t); k = _mm256_blendv_ps(k, one, t);
                t = as_beats(b0, m); m = _mm256_blendv_ps(m, b0, t); k = _mm256_blendv_ps(k, two, t);
                t = as_beats(b1, m); m = _mm256_blendv_ps(m, b1, t); k = _mm256_blendv_ps(k, three, t);
                _mm256_storeu_ps(o + j, m);
                __m256i ki = _mm256_castps_si256(k);
                __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(ki), _mm256_extracti128_si256(ki, 1));
                _mm_storel_epi64((__m128i*)(a + j), _mm_packus_epi16(w16, w16));
            }
            for (; j + 4 <= Wo; j += 4) {
                __m128 l0 = _mm_loadu_ps(r0 + 2 * j), h0 = _mm_loadu_ps(r0 + 2 * j + 4);
                __m128 l1 = _mm_loadu_ps(r1 + 2 * j), h1 = _mm_loadu_ps(r1 + 2 * j + 4);
                __m128 a1 = _mm_shuffle_ps(l0, h0, _MM_SHUFFLE(3, 1, 3, 1));
                __m128 b0 = _mm_shuffle_ps(l1, h1, _MM_SHUFFLE(2, 0, 2, 0));
                __m128 b1 = _mm_shuffle_ps(l1, h1, _MM_SHUFFLE(3, 1, 3, 1));
                __m128 m = _mm_shuffle_ps(l0, h0, _MM_SHUFFLE(2, 0, 2, 0)), k = _mm_setzero_ps(), t;
                t = as_beats4(a1, m); m = _mm_blendv_ps(m, a1, t); k = _mm_blendv_ps(k, _mm256_castps256_ps128(one), t);
                t = as_beats4(b0, m); m = _mm_blendv_ps(m, b0, t); k = _mm_blendv_ps(k, _mm256_castps256_ps128(two), t);
                t = as_beats4(b1, m); m = _mm_blendv_ps(m, b1, t); k = _mm_blendv_ps(k, _mm256_castps256_ps128(three), t);
                _mm_storeu_ps(o + j, m);
                __m128i w16 = _mm_packs_epi32(_mm_castps_si128(k), _mm_castps_si128(k));
                int bytes = _mm_cvtsi128_si32(_mm_packus_epi16(w16, w16));
                memcpy(a + j, &bytes, 4);
            }
            for (; j < Wo; ++j)
                as_pool_fwd_one(r0 + 2 * j, r1 + 2 * j, o + j, a + j);
        }
    }

    /* writes every entry of the planes' dx (the windows tile them) */
    __attribute__((target("avx2")))
    static void as_pool_bwd_2x2_f32(const float* dout, const unsigned char* arg, float* dx, Py_ssize_t p0,
                                    Py_ssize_t p1, Py_ssize_t H, Py_ssize_t W) {
        const Py_ssize_t Ho = H / 2, Wo = W / 2;
        const __m256i c1 = _mm256_set1_epi32(1), c2 = _mm256_set1_epi32(2), c3 = _mm256_set1_epi32(3);
        for (Py_ssize_t row = p0 * Ho; row < p1 * Ho; ++row) {
            float* r0 = dx + 2 * row * W;
            float* r1 = r0 + W;
            const float* d = dout + row * Wo;
            const unsigned char* a = arg + row * Wo;
            Py_ssize_t j = 0;
            for (; j + 8 <= Wo; j += 8) {
                __m256 g = _mm256_loadu_ps(d + j);
                __m256i k = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)(a + j)));
                __m256 v0 = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, _mm256_setzero_si256())));
                __m256 v1 = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, c1)));
                __m256 v2 = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, c2)));
                __m256 v3 = _mm256_and_ps(g, _mm256_castsi256_ps(_mm256_cmpeq_epi32(k, c3)));
                __m256 lo = _mm256_unpacklo_ps(v0, v1), hi = _mm256_unpackhi_ps(v0, v1);
                _mm256_storeu_ps(r0 + 2 * j, _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_storeu_ps(r0 + 2 * j + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
                lo = _mm256_unpacklo_ps(v2, v3);
                hi = _mm256_unpackhi_ps(v2, v3);
                _mm256_storeu_ps(r1 + 2 * j, _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_storeu_ps(r1 + 2 * j + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
            }
            for (; j + 4 <= Wo; j += 4) {
                int bytes;
                memcpy(&bytes, a + j, 4);
                __m128 g = _mm_loadu_ps(d + j);
                __m128i k = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(bytes));
                __m128 v0 = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm_setzero_si128())));
                __m128 v1 = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm256_castsi256_si128(c1))));
                __m128 v2 = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm256_castsi256_si128(c2))));
                __m128 v3 = _mm_and_ps(g, _mm_castsi128_ps(_mm_cmpeq_epi32(k, _mm256_castsi256_si128(c3))));
                _mm_storeu_ps(r0 + 2 * j, _mm_unpacklo_ps(v0, v1));
                _mm_storeu_ps(r0 + 2 * j + 4, _mm_unpackhi_ps(v0, v1));
                _mm_storeu_ps(r1 + 2 * j, _mm_unpacklo_ps(v2, v3));
                _mm_storeu_ps(r1 + 2 * j + 4, _mm_unpackhi_ps(v2, v3));
            }
            for (; j < Wo; ++j) {
                float win[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                win[a[j] & 3] = d[j];
                r0[2 * j] = win[0];
                r0[2 * j + 1] = win[1];
                r1[2 * j] = win[2];
                r1[2 * j + 1] = win[3];
            }
        }
    }
    #else
    static void as_pool_fwd_2x2_f32(const float* x, float* out, unsigned char* arg, Py_ssize_t p0, Py_ssize_t p1,
                                    Py_ssize_t H, Py_ssize_t W) {}
    static void as_pool_bwd_2x2_f32(const float* dout, const unsigned char* arg, float* dx, Py_ssize_t p0,
                                    Py_ssize_t p1, Py_ssize_t H, Py_ssize_t W) {}
    #endif
    """
    void as_pool_fwd_2x2_f32(const float* x, float* out, unsigned char* arg, Py_ssize_t p0, Py_ssize_t p1,
                             Py_ssize_t H, Py_ssize_t W) noexcept nogil
    void as_pool_bwd_2x2_f32(const float* dout, const unsigned char* arg, float* dx, Py_ssize_t p0,
                             Py_ssize_t p1, Py_ssize_t H, Py_ssize_t W) noexcept nogil


cdef inline bint _beats(real v, real m) noexcept nogil:
    """v replaces the running max m: strictly larger, or the first NaN (np.argmax's rule)."""
    return v > m or (v != v and m == m)


cdef void _pool_fwd_2x2(const real* x, real* out, unsigned char* arg, Py_ssize_t p0, Py_ssize_t p1,
                        Py_ssize_t H, Py_ssize_t W) noexcept nogil:
    """2x2 windows, stride 2: arg holds 0..3, the row-major position of the first max.

    Branch-free (the comparisons of random data mispredict half the time): each step keeps
    the running max and its position through selects.
    """
    cdef Py_ssize_t p, i, j
    cdef Py_ssize_t Ho = H // 2, Wo = W // 2
    cdef const real* r0
    cdef const real* r1
    cdef real* o
    cdef unsigned char* a
    cdef real m, v
    cdef int k, t
    for p in range(p0, p1):
        for i in range(Ho):
            r0 = x + (p * H + 2 * i) * W
            r1 = r0 + W
            o = out + (p * Ho + i) * Wo
            a = arg + (p * Ho + i) * Wo
            for j in range(Wo):
                m = r0[2 * j]
                k = 0
                v = r0[2 * j + 1]
                t = (v > m) | ((v != v) & (m == m))
                m = v if t else m
                k = 1 if t else k
                v = r1[2 * j]
                t = (v > m) | ((v != v) & (m == m))
                m = v if t else m
                k = 2 if t else k
                v = r1[2 * j + 1]
                t = (v > m) | ((v != v) & (m == m))
                m = v if t else m
                k = 3 if t else k
                o[j] = m
                a[j] = <unsigned char>k


cdef void _pool_bwd_2x2(const real* dout, const unsigned char* arg, real* dx, Py_ssize_t p0,
                        Py_ssize_t p1, Py_ssize_t H, Py_ssize_t W) noexcept nogil:
    """Writes every entry of dx (the windows tile the input), so dx need not be zeroed.

    Branch-free: the derivative is written into a 4-slot window at its argmax, then copied out.
    """
    cdef Py_ssize_t p, i, j
    cdef Py_ssize_t Ho = H // 2, Wo = W // 2
    cdef real* r0
    cdef real* r1
    cdef const real* d
    cdef const unsigned char* a
    cdef real win[4]
    for p in range(p0, p1):
        for i in range(Ho):
            r0 = dx + (p * H + 2 * i) * W
            r1 = r0 + W
            d = dout + (p * Ho + i) * Wo
            a = arg + (p * Ho + i) * Wo
            for j in range(Wo):
                win[0] = 0
                win[1] = 0
                win[2] = 0
                win[3] = 0
                win[a[j] & 3] = d[j]
                r0[2 * j] = win[0]
                r0[2 * j + 1] = win[1]
                r1[2 * j] = win[2]
                r1[2 * j + 1] = win[3]


cdef void _pool_fwd_any(const real* x, real* out, int* arg, Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t H,
                        Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t s) noexcept nogil:
    """Any window and stride: arg holds the flat index ih*W + iw, within its plane, of the first max."""
    cdef Py_ssize_t p, i, j, di, dj, best
    cdef Py_ssize_t Ho = (H - ph) // s + 1, Wo = (W - pw) // s + 1
    cdef const real* plane
    cdef real m, v
    for p in range(p0, p1):
        plane = x + p * H * W
        for i in range(Ho):
            for j in range(Wo):
                best = (i * s) * W + j * s
                m = plane[best]
                for di in range(ph):
                    for dj in range(pw):
                        v = plane[(i * s + di) * W + j * s + dj]
                        if _beats(v, m):
                            m = v
                            best = (i * s + di) * W + j * s + dj
                out[(p * Ho + i) * Wo + j] = m
                arg[(p * Ho + i) * Wo + j] = <int>best


cdef void _pool_bwd_any(const real* dout, const int* arg, real* dx, Py_ssize_t p0, Py_ssize_t p1,
                        Py_ssize_t HW, Py_ssize_t HoWo) noexcept nogil:
    """dx zeroed per plane, then each window adds its derivative at its argmax (overlaps add up)."""
    cdef Py_ssize_t p, q
    cdef real* plane
    for p in range(p0, p1):
        plane = dx + p * HW
        memset(plane, 0, HW * sizeof(real))
        for q in range(HoWo):
            plane[arg[p * HoWo + q]] += dout[p * HoWo + q]


def _pool_fwd_kernel(Py_ssize_t p0, Py_ssize_t p1, int tid, const real[:, :, :, ::1] x,
                     real[:, :, :, ::1] out, arg, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t s):
    """Planes [p0, p1) of the flattened (N*C) planes."""
    cdef Py_ssize_t H = x.shape[2], W = x.shape[3]
    cdef unsigned char[:, :, :, ::1] a8
    cdef int[:, :, :, ::1] a32
    if p1 <= p0:
        return
    if ph == 2 and pw == 2 and s == 2:
        a8 = arg
        with nogil:
            if real is float and _simd:
                as_pool_fwd_2x2_f32(&x[0, 0, 0, 0], &out[0, 0, 0, 0], &a8[0, 0, 0, 0], p0, p1, H, W)
            else:
                _pool_fwd_2x2(&x[0, 0, 0, 0], &out[0, 0, 0, 0], &a8[0, 0, 0, 0], p0, p1, H, W)
    else:
        a32 = arg
        with nogil:
            _pool_fwd_any(&x[0, 0, 0, 0], &out[0, 0, 0, 0], &a32[0, 0, 0, 0], p0, p1, H, W, ph, pw, s)


def _pool_bwd_kernel(Py_ssize_t p0, Py_ssize_t p1, int tid, const real[:, :, :, ::1] dout, arg,
                     real[:, :, :, ::1] dx, bint two_by_two):
    cdef Py_ssize_t H = dx.shape[2], W = dx.shape[3]
    cdef unsigned char[:, :, :, ::1] a8
    cdef int[:, :, :, ::1] a32
    if p1 <= p0:
        return
    if two_by_two:
        a8 = arg
        with nogil:
            if real is float and _simd:
                as_pool_bwd_2x2_f32(&dout[0, 0, 0, 0], &a8[0, 0, 0, 0], &dx[0, 0, 0, 0], p0, p1, H, W)
            else:
                _pool_bwd_2x2(&dout[0, 0, 0, 0], &a8[0, 0, 0, 0], &dx[0, 0, 0, 0], p0, p1, H, W)
    else:
        a32 = arg
        with nogil:
            _pool_bwd_any(&dout[0, 0, 0, 0], &a32[0, 0, 0, 0], &dx[0, 0, 0, 0], p0, p1, H * W,
                          dout.shape[2] * dout.shape[3])


def max_pool_forward_cpu(x, pool_param):
    """Max pooling forward on the CPU; the contract of layers.max_pool_forward_naive.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - pool_param: {"pool_height": PH, "pool_width": PW, "stride": S}; (H - PH) and (W - PW)
      must be divisible by S. Windows may overlap.

    Returns a tuple of:
    - out: of shape (N, C, 1 + (H - PH) // S, 1 + (W - PW) // S) and x's dtype
    - cache: (x, pool_param, argmax), read by max_pool_backward_cpu. argmax has out's shape:
      uint8 codes 0..3 (row-major position in the window) for 2x2 windows of stride 2, else
      int32 flat indices ih * W + iw within each (H, W) plane.
    """
    (N, C, Ho, Wo), ph, pw, s = _pool_geometry(x, pool_param)
    dt = _compute_dtype(x.dtype)
    xc = _as_compute(x, dt)
    out = np.empty((N, C, Ho, Wo), dtype=dt)
    fast = ph == 2 and pw == 2 and s == 2
    arg = np.empty((N, C, Ho, Wo), dtype=np.uint8 if fast else np.int32)
    _run_ranges(_pool_fwd_kernel, N * C, _elementwise_threads(x.size), (xc, out, arg, ph, pw, s), blas=False)
    return out.astype(x.dtype, copy=False), (x, pool_param, arg)


def max_pool_backward_cpu(dout, cache):
    """Max pooling backward on the CPU; the contract of layers.max_pool_backward_naive.

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
    x, pool_param, arg = cache
    out_shape, ph, pw, s = _pool_geometry(x, pool_param)
    N, C = out_shape[:2]
    _require_array("dout", dout)
    require_shape("dout", dout, out_shape, "the shape of max_pool_forward_fast's output")
    dt = _compute_dtype(x.dtype)
    dc = _as_compute(dout, dt)
    dx = np.empty(x.shape, dtype=dt)
    _run_ranges(_pool_bwd_kernel, N * C, _elementwise_threads(x.size), (dc, arg, dx, ph == 2 and pw == 2 and s == 2),
                blas=False)
    return dx.astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# ReLU and affine
# ----------------------------------------------------------------------------------------------

### BEGIN TWIN
cdef void _relu_fwd(const real* x, real* out, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef real v
    for i in range(lo, hi):
        v = x[i]
        out[i] = 0 if v <= 0 else v          # NaN stays NaN, as np.maximum(x, 0)


cdef void _relu_bwd(const real* dout, const real* x, real* dx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(lo, hi):
        dx[i] = dout[i] * (1 if x[i] > 0 else 0)   # a product, as dout * (x > 0): NaN * 0 is NaN


def _relu_fwd_kernel(Py_ssize_t lo, Py_ssize_t hi, int tid, const real[::1] x, real[::1] out):
    if hi > lo:
        with nogil:
            _relu_fwd(&x[0], &out[0], lo, hi)


def _relu_bwd_kernel(Py_ssize_t lo, Py_ssize_t hi, int tid, const real[::1] dout, const real[::1] x,
                     real[::1] dx):
    if hi > lo:
        with nogil:
            _relu_bwd(&dout[0], &x[0], &dx[0], lo, hi)


### END TWIN


def relu_forward_cpu(x):
    """ReLU forward on the CPU, max(0, x); the contract of layers.relu_forward.

    Inputs:
    - x: input, of any shape

    Returns a tuple of:
    - out: of x's shape and dtype
    - cache: x
    """
    ### BEGIN TWIN: return layers.relu_forward(x)
    _require_array("x", x)
    if x.dtype not in (np.float32, np.float64):
        return np.maximum(x, 0), x
    xc = np.ascontiguousarray(x)
    out = np.empty(x.shape, dtype=x.dtype)
    _run_ranges(_relu_fwd_kernel, x.size, _elementwise_threads(x.size), (xc.reshape(-1), out.reshape(-1)),
                blas=False)
    return out, x
    ### END TWIN


def relu_backward_cpu(dout, cache):
    """ReLU backward on the CPU; the contract of layers.relu_backward.

    Inputs:
    - dout: upstream derivative, of x's shape
    - cache: x, the input of relu_forward

    Returns:
    - dx: of x's shape and dtype
    """
    ### BEGIN TWIN: return layers.relu_backward(dout, cache)
    x = cache
    _require_array("dout", dout)
    require_shape("dout", dout, x.shape, "the shape of relu_forward's input")
    if x.dtype not in (np.float32, np.float64):
        return (dout * (x > 0)).astype(x.dtype, copy=False)
    xc = np.ascontiguousarray(x)
    dc = np.ascontiguousarray(dout, dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype)
    _run_ranges(_relu_bwd_kernel, x.size, _elementwise_threads(x.size),
                (dc.reshape(-1), xc.reshape(-1), dx.reshape(-1)), blas=False)
    return dx
    ### END TWIN


### BEGIN TWIN
def _affine_checks(x, w, b):
    for name, arr in (("x", x), ("w", w), ("b", b)):
        _require_array(name, arr)
    require_min_ndim("x", x, 2)
    require_ndim("w", w, 2, "(D, M)")
    D = int(np.prod(x.shape[1:]))
    if w.shape[0] != D:
        raise ValueError(f"w must have shape ({D}, M) to match x of shape {x.shape} (D = {D}), got shape {w.shape}")
    require_shape("b", b, (w.shape[1],), f"to match w of shape {w.shape}")
    return D


# GEMMs smaller than this many multiply-adds run on the calling thread with BLAS held to one
# thread: waking OpenBLAS's pool for them costs more than it saves, and its idle threads then
# spin for ~0.1 s, halving whatever parallel work (our convolutions) comes next on 2 cores.
_AFFINE_SERIAL_MACS = 1 << 23


def _affine_fwd_range(lo, hi, tid, x2d, w, b, out):
    np.matmul(x2d[lo:hi], w, out=out[lo:hi])
    out[lo:hi] += b


def _affine_bwd_part(lo, hi, tid, nt, x2d, w, dout, dx2d, dw):
    """Thread tid's rows of dx (split over N) and of dw (split over D)."""
    N, D = x2d.shape
    n0, n1 = N * tid // nt, N * (tid + 1) // nt
    d0, d1 = D * tid // nt, D * (tid + 1) // nt
    if n1 > n0:
        np.matmul(dout[n0:n1], w.T, out=dx2d[n0:n1])
    if d1 > d0:
        np.matmul(x2d[:, d0:d1].T, dout, out=dw[d0:d1])


def _affine_threads(N, D, M):
    if N * D * M < _AFFINE_SERIAL_MACS:
        return 1
    return min(num_threads(), max(1, N))


def _run_serial_blas1(fn, *args):
    _blas_single_enter()
    try:
        fn(*args)
    finally:
        _blas_single_exit()


### END TWIN


def affine_forward_cpu(x, w, b):
    """Affine forward on the CPU; the contract of layers.affine_forward.

    Inputs:
    - x: input, of shape (N, d_1, ..., d_k), D = d_1 * ... * d_k
    - w: weights, of shape (D, M)
    - b: biases, of shape (M,)

    Returns a tuple of:
    - out: of shape (N, M) and dtype np.result_type(x, w, b)
    - cache: (x, w, b)
    """
    ### BEGIN TWIN: return layers.affine_forward(x, w, b)
    # The rows of out are split over our threads, each calling BLAS on one thread.
    D = _affine_checks(x, w, b)
    N, M = x.shape[0], w.shape[1]
    dt = np.result_type(x, w, b)
    x2d = x.reshape(N, D)
    wc, bc = w.astype(dt, copy=False), b.astype(dt, copy=False)
    out = np.empty((N, M), dtype=dt)
    nt = _affine_threads(N, D, M)
    if nt == 1:
        _run_serial_blas1(_affine_fwd_range, 0, N, 0, x2d, wc, bc, out)
    else:
        _run_ranges(_affine_fwd_range, N, nt, (x2d, wc, bc, out))
    return out, (x, w, b)
    ### END TWIN


def affine_backward_cpu(dout, cache):
    """Affine backward on the CPU; the contract of layers.affine_backward.

    Inputs:
    - dout: upstream derivative, of shape (N, M)
    - cache: (x, w, b) from affine_forward

    Returns a tuple of:
    - dx: of x's shape and dtype
    - dw: of w's shape and dtype
    - db: of b's shape and dtype
    """
    ### BEGIN TWIN: return layers.affine_backward(dout, cache)
    x, w, b = cache
    _require_array("dout", dout)
    require_shape("dout", dout, (x.shape[0], w.shape[1]), "the shape of affine_forward's output")
    N, M = dout.shape
    D = w.shape[0]
    dt = np.result_type(x, w, dout)
    x2d = x.reshape(N, D).astype(dt, copy=False)
    wc, dc = w.astype(dt, copy=False), dout.astype(dt, copy=False)
    dx2d = np.empty((N, D), dtype=dt)
    dw = np.empty((D, M), dtype=dt)
    nt = _affine_threads(N, D, M)
    if nt == 1:
        _run_serial_blas1(_affine_bwd_part, 0, 1, 0, 1, x2d, wc, dc, dx2d, dw)
    else:
        _run_ranges(lambda lo, hi, tid, *a: _affine_bwd_part(lo, hi, tid, nt, *a), nt, nt,
                    (x2d, wc, dc, dx2d, dw))
    db = dout.sum(axis=0)
    return (dx2d.reshape(x.shape).astype(x.dtype, copy=False), dw.astype(w.dtype, copy=False),
            db.astype(b.dtype, copy=False))
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


def affine_forward_fast(x, w, b):
    """Same contract as layers.affine_forward; runs where x lives."""
    if _is_cupy(x):
        from assignment import gpu_layers

        return gpu_layers.affine_forward_gpu(x, w, b)
    return affine_forward_cpu(x, w, b)


def affine_backward_fast(dout, cache):
    """Same contract as layers.affine_backward; runs where dout lives."""
    if _is_cupy(dout):
        from assignment import gpu_layers

        return gpu_layers.affine_backward_gpu(dout, cache)
    return affine_backward_cpu(dout, cache)
