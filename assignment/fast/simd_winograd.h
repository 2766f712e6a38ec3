/* Winograd F(2x2, 3x3) transforms in float32 with AVX2, chosen at run time (the Cython kernels
 * _wino_in, _wino_out, _wino_dout and _wino_in_adj of winograd.pxi run everywhere else, and define
 * what these compute). Eight tiles of a tile row per step (AS_TILE_STEPS; two tile rows of 4 tiles
 * per step), through a zero-padded copy of one channel plane (pb) where the Cython kernels clip at
 * the edges. Every value is formed by the same float operations in the same order as in the Cython
 * kernels, so both give the same bits. Declared to Cython in winograd.pxi. */
#ifndef ASSIGNMENT_FAST_SIMD_WINOGRAD_H
#define ASSIGNMENT_FAST_SIMD_WINOGRAD_H

#include "simd.h"

#ifdef AS_X86_AVX2

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

#endif /* ASSIGNMENT_FAST_SIMD_WINOGRAD_H */
