# Max and average pooling: included by assignment/fast_layers.pyx (part of the extension
# assignment._fast_cython).
#
# Both run over the N*C planes of x, split into ranges over the threads (_run_ranges), with no
# GIL: direct kernels for any window and stride (overlapping windows included), and kernels of
# their own for the common 2x2 stride-2 case. The 2x2/2 max-pool kernels also exist in float32 with
# AVX2 (simd_pool.h), run where _simd is on, with the same results bit for bit.


# ----------------------------------------------------------------------------------------------
# Max pooling
# ----------------------------------------------------------------------------------------------


# The 2x2/2 kernels in float32 with AVX2 (simd_pool.h): the rule of _pool_fwd_2x2 / _pool_bwd_2x2.
cdef extern from "simd_pool.h":
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
    two_by_two = ph == 2 and pw == 2 and s == 2
    _run_ranges(_pool_bwd_kernel, N * C, _elementwise_threads(x.size), (dc, arg, dx, two_by_two), blas=False)
    return dx.astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# Average pooling
# ----------------------------------------------------------------------------------------------
#
# Each output is the sum of its window times q = 1 / (PH*PW), computed in the compute dtype. The
# cache is the naive one, (x, pool_param): the backward needs only x's shape and dtype.


cdef void _avg_fwd_2x2(const real* x, real* out, Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t H,
                       Py_ssize_t W) noexcept nogil:
    """2x2 windows, stride 2, planes [p0, p1): out = ((a + b) + (c + d)) / 4, row pairs summed first.

    The planes' output rows are consecutive (H = 2 H', W = 2 W'), so one loop runs over all of them.
    """
    cdef Py_ssize_t row, j
    cdef Py_ssize_t Ho = H // 2, Wo = W // 2
    cdef const real* r0
    cdef const real* r1
    cdef real* o
    cdef real q = 0.25
    for row in range(p0 * Ho, p1 * Ho):
        r0 = x + 2 * row * W
        r1 = r0 + W
        o = out + row * Wo
        for j in range(Wo):
            o[j] = ((r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1])) * q


cdef void _avg_bwd_2x2(const real* dout, real* dx, Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t H,
                       Py_ssize_t W) noexcept nogil:
    """2x2 windows, stride 2: each dx entry is its window's dout / 4 (the windows tile x: every
    entry written once, no zeroing)."""
    cdef Py_ssize_t row, j
    cdef Py_ssize_t Ho = H // 2, Wo = W // 2
    cdef const real* d
    cdef real* r0
    cdef real v, q = 0.25
    for row in range(p0 * Ho, p1 * Ho):
        d = dout + row * Wo
        r0 = dx + 2 * row * W
        for j in range(Wo):
            v = d[j] * q
            r0[2 * j] = v
            r0[2 * j + 1] = v
        memcpy(r0 + W, r0, W * sizeof(real))


cdef void _avg_fwd_any(const real* x, real* out, real* acc, Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t H,
                       Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t s) noexcept nogil:
    """Any window and stride. Per output row: the window's PH input rows summed into acc (W values),
    then PW neighbours of acc per output, times q."""
    cdef Py_ssize_t p, i, j, k, di, dj
    cdef Py_ssize_t Ho = (H - ph) // s + 1, Wo = (W - pw) // s + 1
    cdef const real* src
    cdef real* o
    cdef real t
    cdef real q = 1
    q = q / (ph * pw)
    for p in range(p0, p1):
        for i in range(Ho):
            src = x + (p * H + i * s) * W
            for k in range(W):
                acc[k] = src[k]
            for di in range(1, ph):
                src = src + W
                for k in range(W):
                    acc[k] += src[k]
            o = out + (p * Ho + i) * Wo
            for j in range(Wo):
                t = acc[j * s]
                for dj in range(1, pw):
                    t += acc[j * s + dj]
                o[j] = t * q


cdef void _avg_bwd_any(const real* dout, real* dx, real* acc, Py_ssize_t p0, Py_ssize_t p1, Py_ssize_t H,
                       Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t s) noexcept nogil:
    """The adjoint of _avg_fwd_any: dx zeroed per plane; per output row, its shares dout * q spread
    over PW neighbours of acc (overlaps add up), then acc added to the window's PH rows of dx."""
    cdef Py_ssize_t p, i, j, k, di, dj
    cdef Py_ssize_t Ho = (H - ph) // s + 1, Wo = (W - pw) // s + 1
    cdef const real* d
    cdef real* dst
    cdef real v, q = 1
    q = q / (ph * pw)
    for p in range(p0, p1):
        memset(dx + p * H * W, 0, H * W * sizeof(real))
        for i in range(Ho):
            d = dout + (p * Ho + i) * Wo
            memset(acc, 0, W * sizeof(real))
            for j in range(Wo):
                v = d[j] * q
                for dj in range(pw):
                    acc[j * s + dj] += v
            dst = dx + (p * H + i * s) * W
            for di in range(ph):
                for k in range(W):
                    dst[k] += acc[k]
                dst = dst + W


def _avg_fwd_kernel(Py_ssize_t p0, Py_ssize_t p1, int tid, const real[:, :, :, ::1] x, real[:, :, :, ::1] out,
                    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t s):
    """Planes [p0, p1) of the flattened (N*C) planes."""
    cdef Py_ssize_t H = x.shape[2], W = x.shape[3]
    cdef real[::1] acc
    if p1 <= p0:
        return
    if ph == 2 and pw == 2 and s == 2:
        with nogil:
            _avg_fwd_2x2(&x[0, 0, 0, 0], &out[0, 0, 0, 0], p0, p1, H, W)
    else:
        acc = np.empty(W, dtype=np.asarray(out).dtype)
        with nogil:
            _avg_fwd_any(&x[0, 0, 0, 0], &out[0, 0, 0, 0], &acc[0], p0, p1, H, W, ph, pw, s)


def _avg_bwd_kernel(Py_ssize_t p0, Py_ssize_t p1, int tid, const real[:, :, :, ::1] dout, real[:, :, :, ::1] dx,
                    Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t s):
    cdef Py_ssize_t H = dx.shape[2], W = dx.shape[3]
    cdef real[::1] acc
    if p1 <= p0:
        return
    if ph == 2 and pw == 2 and s == 2:
        with nogil:
            _avg_bwd_2x2(&dout[0, 0, 0, 0], &dx[0, 0, 0, 0], p0, p1, H, W)
    else:
        acc = np.empty(W, dtype=np.asarray(dx).dtype)
        with nogil:
            _avg_bwd_any(&dout[0, 0, 0, 0], &dx[0, 0, 0, 0], &acc[0], p0, p1, H, W, ph, pw, s)


def avg_pool_forward_cpu(x, pool_param):
    """Average pooling forward on the CPU; the contract of layers.avg_pool_forward_naive.

    Inputs:
    - x: input, of shape (N, C, H, W)
    - pool_param: {"pool_height": PH, "pool_width": PW, "stride": S}; (H - PH) and (W - PW)
      must be divisible by S. Windows may overlap.

    Returns a tuple of:
    - out: the mean of each window, of shape (N, C, 1 + (H - PH) // S, 1 + (W - PW) // S) and x's dtype
    - cache: (x, pool_param), exactly the naive cache
    """
    (N, C, Ho, Wo), ph, pw, s = _pool_geometry(x, pool_param)
    dt = _compute_dtype(x.dtype)
    xc = _as_compute(x, dt)
    out = np.empty((N, C, Ho, Wo), dtype=dt)
    _run_ranges(_avg_fwd_kernel, N * C, _elementwise_threads(x.size), (xc, out, ph, pw, s), blas=False)
    return out.astype(x.dtype, copy=False), (x, pool_param)


def avg_pool_backward_cpu(dout, cache):
    """Average pooling backward on the CPU; the contract of layers.avg_pool_backward_naive.

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
    out_shape, ph, pw, s = _pool_geometry(x, pool_param)
    N, C = out_shape[:2]
    _require_array("dout", dout)
    require_shape("dout", dout, out_shape, "the shape of avg_pool_forward_fast's output")
    dt = _compute_dtype(x.dtype)
    dc = _as_compute(dout, dt)
    dx = np.empty(x.shape, dtype=dt)
    _run_ranges(_avg_bwd_kernel, N * C, _elementwise_threads(x.size), (dc, dx, ph, pw, s), blas=False)
    return dx.astype(x.dtype, copy=False)
