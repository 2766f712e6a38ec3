/* Max pooling 2x2 / stride 2 in float32 with AVX2, chosen at run time (the scalar Cython
 * kernels of pooling.pxi run everywhere else). Same rule as the scalar kernel: the running max is
 * replaced by a strictly larger value or by the first NaN, and the code of the winner (0..3,
 * row-major in the window) is kept. Declared to Cython in pooling.pxi. */
#ifndef ASSIGNMENT_FAST_SIMD_POOL_H
#define ASSIGNMENT_FAST_SIMD_POOL_H

#include "simd.h"

#ifdef AS_X86_AVX2

/* even and odd entries of 16 consecutive floats, each in order (as_split16 of simd.h) */
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

#endif /* ASSIGNMENT_FAST_SIMD_POOL_H */
