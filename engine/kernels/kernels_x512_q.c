/*
 * kernels_x512_q: the batched (N >= 4) matmul for Q8_0 and Q4_0 weights on
 * CPUs with AVX-512 VNNI (vpdpbusd: 64 unsigned x signed byte products
 * summed into 16 int32 lanes per instruction). kernels_avx2_q.c hands its
 * batches here when le_x512q_use() says so; its decode path (N < 4) and
 * vec_dot are unchanged.
 *
 * Arithmetic: exactly kernels_avx2_q.c's per element -- per block b the
 * exact integer s_b = sum_j w_j y_j, then acc = fmaf(dx_b * dy_b,
 * (float)s_b, acc) from acc = 0 -- so results are bit-identical to the
 * AVX2 gemm, the vec_dot and the reference, for any N, tiling or threads.
 * vpdpbusd needs one unsigned operand, so the weights go in as u = w + c
 * (Q4_0: the nibble q, c = 8; Q8_0: w + 128, c = 128) and the integer
 * accumulator starts at -c * sum_j y_j, stored with the activations: s_b
 * comes out exact (|s_b| < 2^21, no int32 overflow, no saturation).
 *
 * Layout: activations are quantized to Q8_0 per row as ggml's CPU backend
 * does, then 16 rows are interleaved per block ("panel", struct le_xpb):
 * dword g of the 16 rows in one zmm, so a broadcast weight dword times one
 * panel vector is one vpdpbusd for 16 activation rows, and the float
 * scaling (cvt, mul, fma) is paid once per 16 elements. Weights are
 * unpacked per chunk of LE_XQ_RCH rows x LE_XQ_SEG blocks into a stack
 * buffer (16 KiB, in L1), every panel passes over it in tiles of LE_XQ_RT
 * rows, the partial sums of earlier segments kept in a float buffer (a
 * float stored and reloaded is exact) and written to Y once per chunk.
 * Working set per segment: the weight buffer and one panel segment (20
 * KiB) in L1, the batch's panel segments (N/16 x 20 KiB) in L2.
 */
#include "le_cpu.h" /* le_cpu_has */
#include "le_kernels.h"

#include "kernels_avx2_inl.h" /* le_tr8x8, le_panel16_gemm */

#define LE_X512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define LE_X512_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

#define LE_XQ_PANEL 16 /* activation rows per panel */
_Static_assert(LE_XQ_PANEL == 16, "le_panel16_gemm takes 16-row panels");
#define LE_XQ_RCH 16   /* weight rows unpacked at a time */
#define LE_XQ_SEG 32   /* blocks per segment */
#define LE_XQ_RT 8     /* weight rows per tile */
#define LE_XQ_PG 32    /* panels per group (the float buffer: 512 columns) */

/* One block of a panel: q[g][c] = bytes 4g..4g+3 of row c's quants; dy the
 * rows' scales (F16-rounded, as floats); nc[c] = -corr * sum of row c's
 * quants (the accumulator's start). Missing rows are zero. */
struct le_xpb {
    int32_t q[8][LE_XQ_PANEL];
    float dy[LE_XQ_PANEL];
    int32_t nc[LE_XQ_PANEL];
};
_Static_assert(sizeof(struct le_xpb) == 640, "panel block is 640 bytes");

int le_x512q_use(int64_t N) {
    return N >= 4 && le_cpu_has(LE_CPU_AVX512VNNI);
}

int64_t le_x512q_act_unit(void) {
    return LE_XQ_PANEL;
}

size_t le_x512q_act_bytes(int64_t K, int64_t N) {
    return (size_t)((N + LE_XQ_PANEL - 1) / LE_XQ_PANEL * (K / LE_QK8_0)) * sizeof(struct le_xpb);
}

/* Panels [u0, u1) of X; corr = 8 (Q4_0) or 128 (Q8_0). */
LE_X512 void le_x512q_act_convert(int q8, const float *X, void *A, int64_t K, int64_t N, int64_t u0, int64_t u1) {
    const int64_t nb = K / LE_QK8_0;
    const int32_t corr = q8 ? 128 : 8;
    for (int64_t u = u0; u < u1; u++) {
        for (int64_t b = 0; b < nb; b++) {
            struct le_xpb *o = (struct le_xpb *)A + u * nb + b;
            _Alignas(32) int8_t qs[LE_XQ_PANEL][32];
            for (int c = 0; c < LE_XQ_PANEL; c++) {
                int64_t n = u * LE_XQ_PANEL + c;
                int32_t sum = 0;
                if (n < N) {
                    float d = le_q8_act_block_avx2(X + n * K + b * LE_QK8_0, qs[c], &sum);
                    o->dy[c] = _cvtsh_ss(_cvtss_sh(d, 0));
                } else {
                    memset(qs[c], 0, 32);
                    o->dy[c] = 0.0f;
                }
                o->nc[c] = -corr * sum;
            }
            for (int h = 0; h < 2; h++) {
                __m256i v[8];
                for (int c = 0; c < 8; c++)
                    v[c] = _mm256_load_si256((const __m256i *)qs[8 * h + c]);
                le_tr8x8(v);
                for (int g = 0; g < 8; g++)
                    _mm256_storeu_si256((__m256i *)&o->q[g][8 * h], v[g]);
            }
        }
    }
}

/* Rows [r0, r0+nr) x blocks [b0, b0+ns) into wq ([row][block] 32 unsigned
 * bytes: Q4_0 q, Q8_0 w + 128) and wd (the scales). */
LE_X512_INLINE void le_xq_unpack(const int q8, const struct le_gemm_job *j, int64_t r0, int64_t nr, int64_t b0,
                                 int64_t ns, uint8_t *wq, float *wd) {
    for (int64_t r = 0; r < nr; r++) {
        const char *row = (const char *)j->W + (r0 + r) * j->w_row_bytes;
        for (int64_t b = 0; b < ns; b++) {
            __m256i q;
            uint16_t d;
            if (q8) {
                const le_block_q8_0 *x = (const le_block_q8_0 *)row + b0 + b;
                d = x->d;
                q = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x->qs), _mm256_set1_epi8((char)0x80));
            } else {
                const le_block_q4_0 *x = (const le_block_q4_0 *)row + b0 + b;
                d = x->d;
                __m128i t = _mm_loadu_si128((const __m128i *)x->qs);
                q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
            }
            wd[r * ns + b] = _cvtsh_ss(d);
            _mm256_store_si256((__m256i *)(wq + (r * ns + b) * 32), q);
        }
    }
}

LE_X512_INLINE int32_t le_xq_ld32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* R rows (wq, wd with row stride ns) x one panel over ns blocks; acc[r]
 * holds the 16 columns of row r. Two integer chains per row (even and odd
 * dwords): the sum is exact either way. */
LE_X512_INLINE void le_xq_tile(const int R, const uint8_t *wq, const float *wd, int64_t ns,
                               const struct le_xpb *P, __m512 acc[LE_XQ_RT]) {
    for (int64_t b = 0; b < ns; b++) {
        const struct le_xpb *pb = P + b;
        __m512i s0[LE_XQ_RT], s1[LE_XQ_RT];
        const __m512i nc = _mm512_loadu_si512(pb->nc);
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            s0[r] = nc;
            s1[r] = _mm512_setzero_si512();
        }
        _Pragma("GCC unroll 8") for (int g = 0; g < 8; g += 2) {
            const __m512i a0 = _mm512_loadu_si512(pb->q[g]), a1 = _mm512_loadu_si512(pb->q[g + 1]);
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
                const uint8_t *w = wq + (r * ns + b) * 32 + 4 * g;
                s0[r] = _mm512_dpbusd_epi32(s0[r], _mm512_set1_epi32(le_xq_ld32(w)), a0);
                s1[r] = _mm512_dpbusd_epi32(s1[r], _mm512_set1_epi32(le_xq_ld32(w + 4)), a1);
            }
        }
        const __m512 dy = _mm512_loadu_ps(pb->dy);
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {
            const __m512 d = _mm512_mul_ps(_mm512_set1_ps(wd[r * ns + b]), dy);
            acc[r] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_add_epi32(s0[r], s1[r])), acc[r]);
        }
    }
}

/* Tile of R rows (row i0 of the chunk) x panel p: partial sums in buf
 * (zero at the first segment). */
LE_X512_INLINE void le_xq_tile_io(const int R, const uint8_t *wq, const float *wd, int64_t ns,
                                  const struct le_xpb *P, float *buf, int first) {
    __m512 acc[LE_XQ_RT];
    le_panel16_acc_load(acc, R, buf, first);
    le_xq_tile(R, wq, wd, ns, P, acc);
    le_panel16_acc_store(acc, R, buf);
}

/* What the tiles and the unpacking of le_x512q_gemm share. */
struct le_xq_ctx {
    const struct le_gemm_job *j;
    const struct le_xpb *A;
    uint8_t *wq;
    float *wd;
    int64_t nb;
    int q8;
};

LE_X512 static void le_xq_seg(void *c, int64_t rc, int64_t nr, int64_t b0, int64_t ns) {
    const struct le_xq_ctx *x = c;
    le_xq_unpack(x->q8, x->j, rc, nr, b0, ns, x->wq, x->wd);
}
LE_X512 static void le_xq_tile8(void *c, int64_t i, int64_t p, int64_t b0, int64_t ns, float *buf, int first) {
    const struct le_xq_ctx *x = c;
    le_xq_tile_io(LE_XQ_RT, x->wq + i * ns * 32, x->wd + i * ns, ns, x->A + p * x->nb + b0, buf, first);
}
LE_X512 static void le_xq_tile1(void *c, int64_t i, int64_t p, int64_t b0, int64_t ns, float *buf, int first) {
    const struct le_xq_ctx *x = c;
    le_xq_tile_io(1, x->wq + i * ns * 32, x->wd + i * ns, ns, x->A + p * x->nb + b0, buf, first);
}

/* Rows [r0, r1) x all N (the blocking: le_panel16_gemm). */
LE_X512 void le_x512q_gemm(int q8, const struct le_gemm_job *j, int64_t r0, int64_t r1) {
    _Alignas(64) uint8_t wq[LE_XQ_RCH * LE_XQ_SEG * 32];
    float wd[LE_XQ_RCH * LE_XQ_SEG];
    _Alignas(64) float buf[LE_XQ_PG * LE_XQ_RCH * LE_XQ_PANEL]; /* [panel][row][16] */
    struct le_xq_ctx x = {j, j->A, wq, wd, j->K / LE_QK8_0, q8};
    const struct le_panel16_loop L = {LE_XQ_RCH, LE_XQ_SEG, LE_XQ_RT, LE_XQ_PG, x.nb, le_xq_seg, le_xq_tile8,
                                      le_xq_tile1};
    le_panel16_gemm(j, r0, r1, L, &x, buf);
}
