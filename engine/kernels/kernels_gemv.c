/*
 * kernels_gemv: AVX2 matrix-vector kernels for decode (N < 4 activation
 * rows, one token per step): F32 weights against float activations, Q4_0
 * and Q8_0 against Q8_0 ones; rows [r0, r1) of W against each activation
 * row in turn, 8 rows at a time. The batched gemms (kernels_avx2.c,
 * kernels_avx2_q.c) call these for N = 1 (F32) and N < 4 (Q4_0, Q8_0).
 *
 * Decode reads every weight byte once per token and reuses nothing, so the
 * kernel must keep up with memory: per block of 8 weight rows the work is
 * the integer dot products, a reduction of the 8 rows into one vector and
 * one float step, and nothing else per block (no stack round trips, no
 * per-row reductions). The 8 rows are contiguous, and so are the next 8:
 * while one group is multiplied, the next is prefetched line by line, which
 * more than doubles the rate from memory on Zen 5 (tool_mmbench, 65536 x
 * 768 Q4_0 at N = 1: 25 -> 65 GFLOPS per core) -- the hardware prefetchers
 * do not follow 8 interleaved 18-byte-stride streams far enough ahead.
 *
 * Per-element arithmetic of the quantized kernels is kernels_avx2_q.c's: for each
 * block b in order the exact integer s_b = sum_j w_j y_j, then acc =
 * fmaf(dx_b * dy_b, (float)s_b, acc) from acc = 0. Integer sums are exact
 * however they are formed, so the results are bit-identical to the vec_dot,
 * the batched panels and the scalar reference.
 *
 * Q4_0: two rows' blocks share one vector (row 2p in the low 128-bit lane,
 * 2p+1 in the high one); the unsigned nibbles q (low nibbles: elements
 * 0..15, high: 16..31) meet the activation halves broadcast to both lanes
 * in vpmaddubsw, so sum (q - 8) y = sum q y - 8 sum y, with sum y computed
 * once per block for all 8 rows. Three vphaddd reduce 4 such vectors to the
 * 8 rows' sums in the order 0 2 4 6 1 3 5 7; the row scales are gathered in
 * that order.
 * Q8_0: one row's block per vector, sign trick for vpmaddubsw, and the
 * 8-row hadd tree with a lane exchange.
 */
#include "le_cpu.h" /* le_cpu_has */
#include "le_kernels.h"

#include "kernels_avx2_inl.h" /* LE_AVX2 */

#include <math.h> /* fmaf */

/* Helpers are compiled for AVX2 + AVX-VNNI and instantiated twice through
 * the constant V: V = 0 uses only AVX2 (vpmaddubsw, vpmaddwd), V = 1 the
 * VEX vpdpbusd of AVX-VNNI (Zen 5, Alder Lake and later), which forms the
 * same exact int32 sums of 4 byte products in one instruction (Q4_0 at
 * 2048 x 768, N = 1, one core: ~30 -> ~49 GFLOPS by the wall clock,
 * alternating runs on a loaded machine; Q8_0 about the same). The AVX2
 * entry points (V = 0) hold no VNNI instruction (objdump | grep vpdpbusd). */
#define LE_GV_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c,avxvnni")))
#define LE_GV_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))

/* The longest K in blocks (the per-block activation terms are precomputed
 * on the stack); longer rows take the batched gemm's row lanes. */
#define LE_GV_MAXB 2048

LE_GV_INLINE uint16_t le_gv_ld16(const void *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Per-block activation terms of one Q8_0 row: dy as float and 8 * sum y. */
LE_GV_INLINE void le_gv_act_terms(const le_block_q8_0 *y, int64_t nb, float *dy, int32_t *c8) {
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        dy[b] = _cvtsh_ss(y[b].d);
        __m256i v = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        c8[b] = 8 * _mm_cvtsi128_si32(h);
    }
}

/* 4 int32 sums per 128-bit lane of the byte products lo*ylo + hi*yhi
 * (lo, hi unsigned < 16, y signed: each vpmaddubsw pair sum fits int16). */
LE_GV_INLINE __m256i le_gv_dot2(const int V, __m256i lo, __m256i ylo, __m256i hi, __m256i yhi) {
    if (V)
        return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), lo, ylo), hi, yhi);
    __m256i t = _mm256_add_epi16(_mm256_maddubs_epi16(lo, ylo), _mm256_maddubs_epi16(hi, yhi));
    return _mm256_madd_epi16(t, _mm256_set1_epi16(1));
}

/* 8 int32 sums of 4 byte products each, a unsigned (<= 127), b signed. */
LE_GV_INLINE __m256i le_gv_dot1(const int V, __m256i a, __m256i b) {
    if (V)
        return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), a, b);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1));
}

/* Q4_0: rows r..r+7 (rows >= R repeat row r; their results are dropped). */
LE_GV_INLINE void le_gv_q4_0_8(const int V, const struct le_gemm_job *j, int64_t r, int R, const le_block_q8_0 *y,
                                 const float *dy, const int32_t *c8, float *out) {
    const int64_t nb = j->K / LE_QK8_0;
    const le_block_q4_0 *w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (const le_block_q4_0 *)((const char *)j->W + (r + (i < R ? i : 0)) * j->w_row_bytes);
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    /* the next 8 rows (contiguous after these) are fetched while these
     * are reduced: 8 * 18 bytes per block */
    const char *pf = (const char *)j->W + (r + 8) * j->w_row_bytes;
    for (int64_t b = 0; b < nb; b++) {
        _mm_prefetch(pf + b * 144, _MM_HINT_T0);
        _mm_prefetch(pf + b * 144 + 64, _MM_HINT_T0);
        _mm_prefetch(pf + b * 144 + 128, _MM_HINT_T0);
        const __m256i ylo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)y[b].qs));
        const __m256i yhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(y[b].qs + 16)));
        __m256i p[4];
        _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
            __m256i v = _mm256_loadu2_m128i((const __m128i *)w[2 * k + 1][b].qs, (const __m128i *)w[2 * k][b].qs);
            __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            p[k] = le_gv_dot2(V, lo, ylo, hi, yhi);
        }
        /* lanes: rows 0 2 4 6 | 1 3 5 7 */
        __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
        s = _mm256_sub_epi32(s, _mm256_set1_epi32(c8[b]));
        uint64_t e = (uint64_t)le_gv_ld16(&w[0][b].d) | (uint64_t)le_gv_ld16(&w[2][b].d) << 16 |
                     (uint64_t)le_gv_ld16(&w[4][b].d) << 32 | (uint64_t)le_gv_ld16(&w[6][b].d) << 48;
        uint64_t o = (uint64_t)le_gv_ld16(&w[1][b].d) | (uint64_t)le_gv_ld16(&w[3][b].d) << 16 |
                     (uint64_t)le_gv_ld16(&w[5][b].d) << 32 | (uint64_t)le_gv_ld16(&w[7][b].d) << 48;
        __m256 dx = _mm256_cvtph_ps(_mm_set_epi64x((long long)o, (long long)e));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(dy[b])), _mm256_cvtepi32_ps(s), acc);
    }
    float t[8];
    _mm256_storeu_ps(t, acc);
    static const int perm[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    for (int i = 0; i < 8; i++)
        if (perm[i] < R)
            out[perm[i]] = t[i];
}

/* Q8_0: rows r..r+7 as above, natural order. */
LE_GV_INLINE void le_gv_q8_0_8(const int V, const struct le_gemm_job *j, int64_t r, int R, const le_block_q8_0 *y,
                                 const float *dy, float *out) {
    const int64_t nb = j->K / LE_QK8_0;
    const le_block_q8_0 *w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (const le_block_q8_0 *)((const char *)j->W + (r + (i < R ? i : 0)) * j->w_row_bytes);
    __m256 acc = _mm256_setzero_ps();
    const char *pf = (const char *)j->W + (r + 8) * j->w_row_bytes; /* the next 8 rows: 272 bytes per block */
    for (int64_t b = 0; b < nb; b++) {
        _Pragma("GCC unroll 5") for (int k = 0; k < 5; k++) _mm_prefetch(pf + b * 272 + 64 * k, _MM_HINT_T0);
        const __m256i yv = _mm256_loadu_si256((const __m256i *)y[b].qs);
        __m256i p[8];
        _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)w[k][b].qs);
            p[k] = le_gv_dot1(V, _mm256_sign_epi8(v, v), _mm256_sign_epi8(yv, v));
        }
        __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
        __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
        __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
        uint64_t lo = (uint64_t)le_gv_ld16(&w[0][b].d) | (uint64_t)le_gv_ld16(&w[1][b].d) << 16 |
                      (uint64_t)le_gv_ld16(&w[2][b].d) << 32 | (uint64_t)le_gv_ld16(&w[3][b].d) << 48;
        uint64_t hi = (uint64_t)le_gv_ld16(&w[4][b].d) | (uint64_t)le_gv_ld16(&w[5][b].d) << 16 |
                      (uint64_t)le_gv_ld16(&w[6][b].d) << 32 | (uint64_t)le_gv_ld16(&w[7][b].d) << 48;
        __m256 dx = _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dx, _mm256_set1_ps(dy[b])), _mm256_cvtepi32_ps(s), acc);
    }
    float t[8];
    _mm256_storeu_ps(t, acc);
    for (int i = 0; i < R; i++)
        out[i] = t[i];
}

/* F32: rows r..r+7 (R valid) against one float row a: one 8-lane
 * accumulator per row over the full groups of 8, the tree ((a0+a1)+(a2+a3))
 * + ((a4+a5)+(a6+a7)) (kernels_avx2.c's le_hsum4 order), then the K % 8
 * tail by fmaf in order. Two groups of 8 per step (one cache line of each
 * row; the same chains, so the same sums), and per step one prefetch per
 * row LE_GV_F32_AHEAD bytes further along that row's stream (row i, then
 * row i of the next 8): every row runs the same distance ahead of its
 * loads. Prefetching the next 8 rows as one linear 8 * 4K-byte stream
 * instead left the last rows' first lines only 4K bytes ahead of their
 * use (K = 768: 3 KB, less than the memory latency at this rate), and a
 * whole tile ahead row by row (8 * 4K bytes) aliases in L1 when 4K is a
 * multiple of 4 KB: streaming 200 MB of 768- and 2048-column rows, 2
 * threads, interleaved with a plain sequential read (/tmp microbenchmark,
 * medians of 60 rounds): 0.80-0.83 and 0.89-0.90 of the sequential rate
 * with the linear tile prefetch, 0.94-1.02 and 0.95-0.98 with this. */
#define LE_GV_F32_AHEAD 1536
LE_AVX2_INLINE void le_gv_f32_8(const struct le_gemm_job *j, int64_t r, int R, const float *a, float *out) {
    const int64_t K = j->K, K8 = K & ~(int64_t)7, rb = (int64_t)j->w_row_bytes;
    const float *w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (const float *)((const char *)j->W + (r + (i < R ? i : 0)) * rb);
    /* the prefetch position: column byte c of the rows 8 * q further on */
    int64_t c = LE_GV_F32_AHEAD, q = 0;
    while (c >= K * 4)
        c -= K * 4, q++;
    __m256 acc[8];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K8; k += 16) {
        const char *pf = (const char *)j->W + (r + 8 * q) * rb + c;
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) _mm_prefetch(pf + i * rb, _MM_HINT_T0);
        if ((c += 64) >= K * 4)
            c -= K * 4, q++;
        const __m256 a0 = _mm256_loadu_ps(a + k), a1 = _mm256_loadu_ps(a + k + 8);
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(w[i] + k), a0, acc[i]);
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(w[i] + k + 8), a1, acc[i]);
    }
    if (k < K8) {
        const __m256 av = _mm256_loadu_ps(a + k);
        _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(w[i] + k), av, acc[i]);
    }
    float t[8];
    for (int h = 0; h < 2; h++) {
        __m256 x = _mm256_hadd_ps(_mm256_hadd_ps(acc[4 * h], acc[4 * h + 1]), _mm256_hadd_ps(acc[4 * h + 2], acc[4 * h + 3]));
        _mm_storeu_ps(t + 4 * h, _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1)));
    }
    for (int i = 0; i < R; i++) {
        float v = t[i];
        for (int64_t k2 = K8; k2 < K; k2++)
            v = fmaf(w[i][k2], a[k2], v);
        out[i] = v;
    }
}

LE_AVX2 void le_gemv_f32_avx2(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    for (int64_t n = 0; n < j->N; n++) {
        const float *a = (const float *)((const char *)j->A + n * j->a_row_bytes);
        for (int64_t r = r0; r < r1; r += 8)
            le_gv_f32_8(j, r, r1 - r < 8 ? (int)(r1 - r) : 8, a, j->Y + n * j->ldy + r);
    }
}

LE_GV_INLINE int le_gv_q4_0(const int V, const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    const int64_t nb = j->K / LE_QK8_0;
    if (nb > LE_GV_MAXB)
        return 0;
    float dy[LE_GV_MAXB];
    int32_t c8[LE_GV_MAXB];
    for (int64_t n = 0; n < j->N; n++) {
        const le_block_q8_0 *y = (const le_block_q8_0 *)((const char *)j->A + n * j->a_row_bytes);
        le_gv_act_terms(y, nb, dy, c8);
        for (int64_t r = r0; r < r1; r += 8)
            le_gv_q4_0_8(V, j, r, r1 - r < 8 ? (int)(r1 - r) : 8, y, dy, c8, j->Y + n * j->ldy + r);
    }
    return 1;
}

LE_GV_INLINE int le_gv_q8_0(const int V, const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    const int64_t nb = j->K / LE_QK8_0;
    if (nb > LE_GV_MAXB)
        return 0;
    float dy[LE_GV_MAXB];
    for (int64_t n = 0; n < j->N; n++) {
        const le_block_q8_0 *y = (const le_block_q8_0 *)((const char *)j->A + n * j->a_row_bytes);
        for (int64_t b = 0; b < nb; b++)
            dy[b] = _cvtsh_ss(y[b].d);
        for (int64_t r = r0; r < r1; r += 8)
            le_gv_q8_0_8(V, j, r, r1 - r < 8 ? (int)(r1 - r) : 8, y, dy, j->Y + n * j->ldy + r);
    }
    return 1;
}

LE_GV_VNNI static int le_gv_q4_0_vnni(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    return le_gv_q4_0(1, j, r0, r1);
}
LE_GV_VNNI static int le_gv_q4_0_plain(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    return le_gv_q4_0(0, j, r0, r1);
}
LE_GV_VNNI static int le_gv_q8_0_vnni(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    return le_gv_q8_0(1, j, r0, r1);
}
LE_GV_VNNI static int le_gv_q8_0_plain(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    return le_gv_q8_0(0, j, r0, r1);
}

int le_gemv_q4_0_avx2(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    return le_cpu_has(LE_CPU_AVXVNNI) ? le_gv_q4_0_vnni(j, r0, r1) : le_gv_q4_0_plain(j, r0, r1);
}
int le_gemv_q8_0_avx2(const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    return le_cpu_has(LE_CPU_AVXVNNI) ? le_gv_q8_0_vnni(j, r0, r1) : le_gv_q8_0_plain(j, r0, r1);
}
