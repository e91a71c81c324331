/*
 * kernels_avx2_inl: small inline helpers shared by the SIMD kernel files
 * (kernels_avx2_q.c, kernels_avx2_k.c, kernels_x512_q.c): the target
 * attributes, the 8x8 dword transpose that interleaves 8 activation rows
 * into panels, the accumulator load/store of 8-row panel tiles, and the
 * blocking loop and Y store of the 16-row panel gemms. Private to engine/kernels; include after
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

/* The float accumulators of a 16-row-panel tile of R rows: acc[r] <- row r
 * of buf (16 floats; zero at the first K segment), and back. */
#define LE_X512F_INLINE static inline __attribute__((always_inline, target("avx512f")))
LE_X512F_INLINE void le_panel16_acc_load(__m512 *acc, const int R, const float *buf, int first) {
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) acc[r] =
        first ? _mm512_setzero_ps() : _mm512_loadu_ps(buf + r * 16);
}
LE_X512F_INLINE void le_panel16_acc_store(const __m512 *acc, const int R, float *buf) {
    _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) _mm512_storeu_ps(buf + r * 16, acc[r]);
}

/* The blocking loop of the 16-row-panel gemms (kernels_x512_q.c, the VNNI
 * part of kernels_avx2_k.c), one for both: rows [r0, r1) in chunks of rch;
 * panels (16 activation rows each) in groups of pg, whose partial sums stay
 * in buf (pg * rch * 16 floats) and go to Y once per chunk and group; the
 * nb K blocks in segments of seg, each unpacked once per chunk and group
 * (unpack: rows rc.. of W, nr of them) and passed under every panel of the
 * group by tiles of rt rows, then single rows (tile_rt, tile_1: rows i.. of
 * the chunk x panel p, partial sums in buf, zero first when b0 = 0). ctx is
 * the caller's: its weight buffers and activations. */
typedef void (*le_panel16_unpack_fn)(void *ctx, int64_t rc, int64_t nr, int64_t b0, int64_t ns);
typedef void (*le_panel16_tile_fn)(void *ctx, int64_t i, int64_t p, int64_t b0, int64_t ns, float *buf, int first);
struct le_panel16_loop {
    int64_t rch, seg, rt, pg, nb;
    le_panel16_unpack_fn unpack;
    le_panel16_tile_fn tile_rt, tile_1;
};

static inline __attribute__((always_inline)) void le_panel16_gemm(const struct le_gemm_job *j, int64_t r0, int64_t r1,
                                                                  const struct le_panel16_loop L, void *ctx,
                                                                  float *buf) {
    const int64_t npan = (j->N + 15) / 16;
    for (int64_t rc = r0; rc < r1; rc += L.rch) {
        const int64_t nr = r1 - rc < L.rch ? r1 - rc : L.rch;
        for (int64_t p0 = 0; p0 < npan; p0 += L.pg) {
            const int64_t p1 = p0 + L.pg < npan ? p0 + L.pg : npan;
            for (int64_t b0 = 0; b0 < L.nb; b0 += L.seg) {
                const int64_t ns = L.nb - b0 < L.seg ? L.nb - b0 : L.seg;
                L.unpack(ctx, rc, nr, b0, ns);
                for (int64_t p = p0; p < p1; p++) {
                    float *pbuf = buf + (p - p0) * L.rch * 16;
                    int64_t i = 0;
                    for (; i + L.rt <= nr; i += L.rt)
                        L.tile_rt(ctx, i, p, b0, ns, pbuf + i * 16, b0 == 0);
                    for (; i < nr; i++)
                        L.tile_1(ctx, i, p, b0, ns, pbuf + i * 16, b0 == 0);
                }
            }
            le_panel16_store(j, buf, L.rch, p0, p1, rc, nr);
        }
    }
}

#endif
