# Winograd F(2x2, 3x3), for 3x3 stride-1 convolutions: included by assignment/fast_layers.pyx (part
# of the extension assignment._fast_cython), whose conv_*_cpu take this path where _use_winograd
# says it is the faster one.
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


# ----------------------------------------------------------------------------------------------
# The transforms, one image at a time, no GIL (the float32 AVX2 versions: simd_winograd.h)
# ----------------------------------------------------------------------------------------------


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



# The same four transforms in float32 with AVX2 (simd_winograd.h), run where _simd is on: the same
# float operations in the same order as the Cython kernels above, so the same bits.
cdef extern from "simd_winograd.h":
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


# ----------------------------------------------------------------------------------------------
# Weights, buffers, per-thread workers and the entry points
# ----------------------------------------------------------------------------------------------

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
