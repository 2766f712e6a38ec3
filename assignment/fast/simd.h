/* The AVX2 helpers that the float32 kernels of simd_winograd.h and simd_pool.h share, and the
 * run-time check that picks them.
 *
 * Part of the extension assignment._fast_cython: Cython includes this header into the C it makes
 * of assignment/fast_layers.pyx (`cdef extern from "simd.h"`), after Python.h (Py_ssize_t).
 *
 * Every AVX2 function is compiled with __attribute__((target("avx2"))), so the extension builds for
 * baseline x86-64 and runs anywhere: the Cython module calls these functions only where
 * as_avx2_available() said yes at import (and tests can switch them off, _set_simd). On other CPUs
 * and compilers AS_X86_AVX2 is undefined and the headers declare stubs that are never called. */
#ifndef ASSIGNMENT_FAST_SIMD_H
#define ASSIGNMENT_FAST_SIMD_H

#include <Python.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define AS_X86_AVX2 1
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

__attribute__((target("avx2")))
static inline void as_copy(float* dst, const float* src, Py_ssize_t n) {
    Py_ssize_t k = 0;
    for (; k + 8 <= n; k += 8)
        _mm256_storeu_ps(dst + k, _mm256_loadu_ps(src + k));
    if (k < n)
        as_put(dst + k, as_get(src + k, n - k), n - k);
}

#else
static int as_avx2_available(void) { return 0; }
#endif

#endif /* ASSIGNMENT_FAST_SIMD_H */
