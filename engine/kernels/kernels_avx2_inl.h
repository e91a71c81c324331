/*
 * kernels_avx2_inl: small inline helpers shared by the SIMD kernel files
 * (kernels_avx2_q.c, kernels_avx2_k.c, kernels_x512_q.c): the target
 * attributes, the 8x8 dword transpose that interleaves 8 activation rows
 * into panels, the accumulator load/store of 8-row panel tiles and the Y
 * store of 16-row panel gemms. Private to engine/kernels; include after
 * le_kernels.h.
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

/* Y <-> the float accumulators of an 8-row panel tile: acc[i] lane c is
 * Y[n0 + c][r + i], for R rows and the panel's real rows (N - n0, at most
 * 8; missing lanes load as zero). A panel gemm's first K segment starts
 * from zero, later ones continue from the partial sums kept in Y (a float
 * stored and reloaded is exact). Needs le_kernels.h (struct le_gemm_job). */
LE_AVX2_INLINE void le_panel8_acc_io(const struct le_gemm_job *j, int64_t r, int64_t n0, const int R, __m256 *acc,
                                     int store) {
    int64_t nc = j->N - n0 < 8 ? j->N - n0 : 8;
    for (int i = 0; i < R; i++) {
        float t[8] = {0};
        if (store)
            _mm256_storeu_ps(t, acc[i]);
        for (int64_t c = 0; c < nc; c++) {
            float *y = j->Y + (n0 + c) * j->ldy + r + i;
            if (store)
                *y = t[c];
            else
                t[c] = *y;
        }
        if (!store)
            acc[i] = _mm256_loadu_ps(t);
    }
}

/* The float buffer of a 16-row-panel gemm (kernels_x512_q.c, the VNNI part
 * of kernels_avx2_k.c) into Y: buf[(p - p0) * rch * 16 + i * 16 + c] is
 * row rc + i (i < nr) against activation row 16p + c, for panels [p0, p1). */
static inline void le_panel16_store(const struct le_gemm_job *j, const float *buf, int64_t rch, int64_t p0,
                                    int64_t p1, int64_t rc, int64_t nr) {
    for (int64_t p = p0; p < p1; p++) {
        const float *pbuf = buf + (p - p0) * rch * 16;
        const int64_t nc = j->N - p * 16 < 16 ? j->N - p * 16 : 16;
        for (int64_t c = 0; c < nc; c++) {
            float *y = j->Y + (p * 16 + c) * j->ldy + rc;
            for (int64_t i = 0; i < nr; i++)
                y[i] = pbuf[i * 16 + c];
        }
    }
}

#endif
