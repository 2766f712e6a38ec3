# Convolution by im2col + BLAS, any filter, stride and pad: included by assignment/fast_layers.pyx
# (part of the extension assignment._fast_cython), whose conv_*_cpu take this path wherever
# Winograd (winograd.pxi) does not run.
#
# - Threads take chunks of images off a shared counter; a chunk's im2col matrix (~1 MiB) stays in
#   L2 and is consumed by the GEMM there.
# - im2col is written straight from the unpadded input (zeros where a window hangs over the
#   border), as cols[i] of shape (C*HH*WW + 1, H'*W') per image; the last row is all ones, so the
#   bias rides in the GEMM as a last column of the weights: out[i] = [w | b] @ cols[i], already in
#   (F, H', W') order.
# - Backward: [dw | db]^T = sum over chunks of cols[i] @ dout[i]^T (per chunk, then in chunk order:
#   bit-repeatable); dx as a gather (an im2col of dout times the flipped filters; stride 1 and
#   F <= C) or as w^T @ dout[i] and a col2im scatter-add into the thread's own images.
# - The GEMMs go to numpy's BLAS through np.matmul on views, cut into blocks under OpenBLAS's
#   small-matrix size. The cache is the naive one: backward recomputes im2col.
# - With ``relu`` (forward) or ``ymask`` (backward) the same passes are the fused conv + ReLU.


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
