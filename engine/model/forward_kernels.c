/*
 * forward_kernels: the forward pass's own vector kernels -- attention scores
 * and probability-weighted sums over the KV cache in its block layout -- in
 * a scalar reference version and an AVX2+FMA version chosen once at run
 * time. (Softmax, RoPE, SwiGLU and RMSNorm are the shared ops of
 * engine/ops, which training uses too; matrix products with weights go
 * through the matmul driver.)
 *
 * Determinism: every output element of scores / pv is ONE chain of fused
 * multiply-adds in a fixed order (d ascending for scores, position j
 * ascending for pv; pv continues the chain already in out) starting from 0,
 * whichever block (6, 4 or 1 queries, 4 or 1 K blocks, 32, 16 or 8 dims,
 * scalar tail) computes it, so no value depends on how many keys or queries are
 * processed together.
 *
 * Workload: in batched prompt processing attention is ~15% of the flops;
 * the multi-query kernels load each K/V vector once for 6 (or 4) queries
 * and keep 12 (8) FMA chains in flight, and the caller (forward.c) blocks
 * positions so that a K or V chunk stays in L1 across all the groups of a
 * 32-query item. Masked loads/stores only for
 * tails: vmaskmovps stores cost ~10x a plain store on Zen.
 */
#include "model_int.h"

#include "le_cpu.h" /* le_cpu_avx2 */
#include "le_ops.h" /* le_ops_get: softmax, RoPE, SwiGLU, RMSNorm */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LE_FK_X86 1
#endif

/* ---- scalar reference ---- */

static void le_scores_ref(const float *const q[], int nq, const float *kb, int hd, int nblk, float *const s[]) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < LE_KBLK * nblk; j++) {
            const float *k = kb + (int64_t)(j / LE_KBLK) * LE_KBLK * hd + j % LE_KBLK;
            float a = 0;
            for (int d = 0; d < hd; d++)
                a += q[i][d] * k[d * LE_KBLK];
            s[i][j] = a;
        }
}

static void le_pv_ref(const float *const p[], int nq, const float *v, int64_t ldv, int hd, int np,
                      float *const out[]) {
    for (int i = 0; i < nq; i++)
        for (int d = 0; d < hd; d++) {
            float a = out[i][d];
            for (int j = 0; j < np; j++)
                a += p[i][j] * v[j * ldv + d];
            out[i][d] = a;
        }
}

#ifdef LE_FK_X86
#define LE_AVX2 __attribute__((target("avx2,fma")))

/* ---- AVX2: attention ---- */

/* One query against blocks [0, nblk): 4 blocks (8 chains) at a time. */
LE_AVX2 static void le_scores1_avx2(const float *q, const float *kb, int hd, int nblk, float *s) {
    const int64_t bs = (int64_t)LE_KBLK * hd; /* floats per block */
    int b = 0;
    for (; b + 4 <= nblk; b += 4) {
        __m256 a[8];
        for (int i = 0; i < 8; i++)
            a[i] = _mm256_setzero_ps();
        const float *k = kb + b * bs;
        for (int d = 0; d < hd; d++, k += LE_KBLK) {
            __m256 qd = _mm256_broadcast_ss(q + d);
            for (int i = 0; i < 4; i++) {
                a[2 * i] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + i * bs), a[2 * i]);
                a[2 * i + 1] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + i * bs + 8), a[2 * i + 1]);
            }
        }
        for (int i = 0; i < 8; i++)
            _mm256_storeu_ps(s + b * LE_KBLK + 8 * i, a[i]);
    }
    for (; b < nblk; b++) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        const float *k = kb + b * bs;
        for (int d = 0; d < hd; d++, k += LE_KBLK) {
            __m256 qd = _mm256_broadcast_ss(q + d);
            a0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k), a0);
            a1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 8), a1);
        }
        _mm256_storeu_ps(s + b * LE_KBLK, a0);
        _mm256_storeu_ps(s + b * LE_KBLK + 8, a1);
    }
}

/* NQ queries (6 or 4, a constant after inlining) x one block per pass:
 * each K vector is loaded once for NQ queries, and 2*NQ chains in flight
 * cover the FMA latency. */
LE_AVX2 static inline __attribute__((always_inline)) void le_scoresq_avx2(const int NQ, const float *const q[],
                                                                          const float *kb, int hd, int nblk,
                                                                          float *const s[]) {
    for (int b = 0; b < nblk; b++) {
        __m256 a[LE_SCORES_Q][2];
        _Pragma("GCC unroll 6") for (int i = 0; i < NQ; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
        const float *k = kb + (int64_t)b * LE_KBLK * hd;
        for (int d = 0; d < hd; d++, k += LE_KBLK) {
            __m256 k0 = _mm256_loadu_ps(k), k1 = _mm256_loadu_ps(k + 8);
            _Pragma("GCC unroll 6") for (int i = 0; i < NQ; i++) {
                __m256 t = _mm256_broadcast_ss(q[i] + d);
                a[i][0] = _mm256_fmadd_ps(t, k0, a[i][0]);
                a[i][1] = _mm256_fmadd_ps(t, k1, a[i][1]);
            }
        }
        _Pragma("GCC unroll 6") for (int i = 0; i < NQ; i++) {
            _mm256_storeu_ps(s[i] + b * LE_KBLK, a[i][0]);
            _mm256_storeu_ps(s[i] + b * LE_KBLK + 8, a[i][1]);
        }
    }
}

LE_AVX2 static void le_scores_avx2(const float *const q[], int nq, const float *kb, int hd, int nblk,
                                   float *const s[]) {
    if (nq == 6)
        le_scoresq_avx2(6, q, kb, hd, nblk, s);
    else if (nq == 4)
        le_scoresq_avx2(4, q, kb, hd, nblk, s);
    else
        for (int i = 0; i < nq; i++)
            le_scores1_avx2(q[i], kb, hd, nblk, s[i]);
}

/* One query: continues out[d]'s chain over positions 0 .. np-1. */
LE_AVX2 static void le_pv1_avx2(const float *p, const float *v, int64_t ldv, int hd, int np, float *out) {
    int d = 0;
    for (; d + 32 <= hd; d += 32) {
        __m256 a0 = _mm256_loadu_ps(out + d), a1 = _mm256_loadu_ps(out + d + 8);
        __m256 a2 = _mm256_loadu_ps(out + d + 16), a3 = _mm256_loadu_ps(out + d + 24);
        const float *x = v + d;
        for (int j = 0; j < np; j++, x += ldv) {
            __m256 pj = _mm256_broadcast_ss(p + j);
            a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(x), a0);
            a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(x + 8), a1);
            a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(x + 16), a2);
            a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(x + 24), a3);
        }
        _mm256_storeu_ps(out + d, a0);
        _mm256_storeu_ps(out + d + 8, a1);
        _mm256_storeu_ps(out + d + 16, a2);
        _mm256_storeu_ps(out + d + 24, a3);
    }
    for (; d + 8 <= hd; d += 8) {
        __m256 a0 = _mm256_loadu_ps(out + d);
        const float *x = v + d;
        for (int j = 0; j < np; j++, x += ldv)
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(x), a0);
        _mm256_storeu_ps(out + d, a0);
    }
    for (; d < hd; d++) {
        float a = out[d];
        for (int j = 0; j < np; j++)
            a = __builtin_fmaf(p[j], v[j * ldv + d], a);
        out[d] = a;
    }
}

/* NQ queries (6 or 4, a constant after inlining) x 16 dims per pass: each
 * V vector is loaded once for NQ queries (2*NQ chains in flight). */
LE_AVX2 static inline __attribute__((always_inline)) void le_pvq_avx2(const int NQ, const float *const p[],
                                                                      const float *v, int64_t ldv, int hd, int np,
                                                                      float *const out[]) {
    int d = 0;
    for (; d + 16 <= hd; d += 16) {
        __m256 a[LE_SCORES_Q][2];
        _Pragma("GCC unroll 6") for (int i = 0; i < NQ; i++) {
            a[i][0] = _mm256_loadu_ps(out[i] + d);
            a[i][1] = _mm256_loadu_ps(out[i] + d + 8);
        }
        const float *x = v + d;
        for (int j = 0; j < np; j++, x += ldv) {
            __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
            _Pragma("GCC unroll 6") for (int i = 0; i < NQ; i++) {
                __m256 t = _mm256_broadcast_ss(p[i] + j);
                a[i][0] = _mm256_fmadd_ps(t, v0, a[i][0]);
                a[i][1] = _mm256_fmadd_ps(t, v1, a[i][1]);
            }
        }
        _Pragma("GCC unroll 6") for (int i = 0; i < NQ; i++) {
            _mm256_storeu_ps(out[i] + d, a[i][0]);
            _mm256_storeu_ps(out[i] + d + 8, a[i][1]);
        }
    }
    if (d < hd)
        for (int i = 0; i < NQ; i++)
            le_pv1_avx2(p[i], v + d, ldv, hd - d, np, out[i] + d);
}

LE_AVX2 static void le_pv_avx2(const float *const p[], int nq, const float *v, int64_t ldv, int hd, int np,
                               float *const out[]) {
    if (nq == 6)
        le_pvq_avx2(6, p, v, ldv, hd, np, out);
    else if (nq == 4)
        le_pvq_avx2(4, p, v, ldv, hd, np, out);
    else
        for (int i = 0; i < nq; i++)
            le_pv1_avx2(p[i], v, ldv, hd, np, out[i]);
}

#endif

struct le_fwd_kernels le_fwd_kernels_get(int simd) {
#ifdef LE_FK_X86
    if (simd && le_cpu_avx2())
        return (struct le_fwd_kernels){le_scores_avx2, le_pv_avx2, le_ops_get(1)};
#endif
    return (struct le_fwd_kernels){le_scores_ref, le_pv_ref, le_ops_get(0)};
}
