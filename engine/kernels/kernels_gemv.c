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
 * per-row reductions). The hardware prefetchers do not follow 8 interleaved
 * streams far enough ahead: the quantized kernels prefetch the next 8 rows
 * (contiguous) line by line while these are multiplied (65536 x 768 Q4_0 at
 * N = 1: 25 -> 65 GFLOPS per core, tool_mmbench); F32's rows are 4-16x
 * longer, and it prefetches each row a fixed distance ahead (le_gv_pf).
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

/* 8 F16 block scales as floats, lane i from d[i]. */
LE_GV_INLINE __m256 le_gv_scales8(const uint16_t *const d[8]) {
    uint64_t lo = 0, hi = 0;
    _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
        lo |= (uint64_t)le_gv_ld16(d[i]) << 16 * i;
        hi |= (uint64_t)le_gv_ld16(d[i + 4]) << 16 * i;
    }
    return _mm256_cvtph_ps(_mm_set_epi64x((long long)hi, (long long)lo));
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

/* Prefetch of the rows' streams (F32's; the quantized kernels' rows are
 * 4-16x shorter and keep the next-8-rows prefetch, which was faster for
 * them): rows r..r+7 are read side by side, each
 * from its start; row slot i's stream goes on with row i of the next 8
 * rows, and so on. The prefetch runs LE_GV_AHEAD bytes ahead in every slot
 * (column byte c of the rows 8 * q further on), one line per row per call,
 * so every row is the same distance (8 x 1.5 KB of the weights) ahead of
 * its loads. Prefetching the next 8 rows as one linear stream instead (the
 * kernels' first scheme) leaves the last rows' first lines only a row
 * ahead of their use (F32, K = 768: 3 KB, less than the memory latency at
 * this rate), and a whole group of 8 ahead row by row aliases in L1 when a
 * row is a multiple of 4 KB. scripts/bench_gemv_pf.c times the access
 * patterns alone (200 MB of rows, 2 threads, each round against a plain
 * sequential read, medians of 60 rounds; quiet machine): 0.80-0.83 (K =
 * 768) and 0.89-0.90 (K = 2048) of the sequential rate with the linear
 * prefetch, 0.94-1.02 and 0.95-0.98 with this (under load, with ~30 GB/s
 * to share, 1.07 and 1.04 against 1.13 and 1.06). */
#define LE_GV_AHEAD 1536
struct le_gv_pf {
    const char *base; /* row r + 8 q */
    int64_t c, rb;
};

LE_AVX2_INLINE struct le_gv_pf le_gv_pf_init(const struct le_gemm_job *j, int64_t r) {
    struct le_gv_pf p = {.base = (const char *)j->W + r * (int64_t)j->w_row_bytes, .c = LE_GV_AHEAD,
                         .rb = (int64_t)j->w_row_bytes};
    while (p.c >= p.rb)
        p.c -= p.rb, p.base += 8 * p.rb;
    return p;
}

/* One line of each of the 8 row slots, then `step` bytes further on. */
LE_AVX2_INLINE void le_gv_pf_step(struct le_gv_pf *p, int64_t step) {
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) _mm_prefetch(p->base + i * p->rb + p->c, _MM_HINT_T0);
    if ((p->c += step) >= p->rb)
        p->c -= p->rb, p->base += 8 * p->rb;
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
     * are reduced: 8 * 18 bytes per block. (Each row's own stream ahead,
     * le_gv_pf, as F32 does, was 10-20% slower here at 2 threads: 110M
     * tg128, quiet, 2026-12-07.) */
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
        __m256 dx = le_gv_scales8((const uint16_t *const[8]){&w[0][b].d, &w[2][b].d, &w[4][b].d, &w[6][b].d,
                                                              &w[1][b].d, &w[3][b].d, &w[5][b].d, &w[7][b].d});
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
        __m256 dx = le_gv_scales8((const uint16_t *const[8]){&w[0][b].d, &w[1][b].d, &w[2][b].d, &w[3][b].d,
                                                              &w[4][b].d, &w[5][b].d, &w[6][b].d, &w[7][b].d});
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
 * row slot (le_gv_pf). */
LE_AVX2_INLINE void le_gv_f32_8(const struct le_gemm_job *j, int64_t r, int R, const float *a, float *out) {
    const int64_t K = j->K, K8 = K & ~(int64_t)7, rb = (int64_t)j->w_row_bytes;
    const float *w[8];
    for (int i = 0; i < 8; i++)
        w[i] = (const float *)((const char *)j->W + (r + (i < R ? i : 0)) * rb);
    struct le_gv_pf pf = le_gv_pf_init(j, r);
    __m256 acc[8];
    _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K8; k += 16) {
        le_gv_pf_step(&pf, 64);
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
