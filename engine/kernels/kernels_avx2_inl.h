/*
 * kernels_avx2_inl: small inline helpers shared by the AVX2 kernel files
 * (kernels_avx2_q.c, kernels_avx2_k.c): the target attributes and the 8x8
 * dword transpose that interleaves 8 activation rows into panels. Private
 * to engine/kernels; include after le_kernels.h.
 */
#ifndef LE_KERNELS_AVX2_INL_H
#define LE_KERNELS_AVX2_INL_H

#include <immintrin.h> /* AVX2, FMA, F16C intrinsics */

#define LE_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LE_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/* 8x8 transpose of 32-bit elements: r[g] <- (r[0][g], ..., r[7][g]). */
LE_AVX2_INLINE void le_tr8x8(__m256i r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(_mm256_castsi256_ps(r[2 * i]), _mm256_castsi256_ps(r[2 * i + 1]));
        t[2 * i + 1] = _mm256_unpackhi_ps(_mm256_castsi256_ps(r[2 * i]), _mm256_castsi256_ps(r[2 * i + 1]));
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_castps_si256(_mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        r[i + 4] = _mm256_castps_si256(_mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

#endif
