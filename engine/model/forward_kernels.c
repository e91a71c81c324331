/*
 * forward_kernels: the forward pass's own vector kernels -- attention scores
 * and probability-weighted sums over the KV cache, softmax, RoPE, SwiGLU,
 * RMSNorm -- in a scalar reference version and an AVX2+FMA version chosen
 * once at run time. (Matrix products with weights go through the matmul
 * driver, not through here.)
 *
 * Determinism: every output element of scores / pv is ONE chain of fused
 * multiply-adds in a fixed order (d ascending for scores, position j
 * ascending for pv; pv continues the chain already in out) starting from 0,
 * whichever block (6, 4 or 1 queries, 4 or 1 K blocks, 32, 16 or 8 dims,
 * scalar tail) computes it, so no value depends on how many keys or queries are
 * processed together. Softmax, RoPE and SwiGLU are element-wise except the
 * softmax's exp sum, whose order depends only on the row length.
 *
 * Workload: in batched prompt processing attention is ~15% of the flops;
 * the multi-query kernels load each K/V vector once for 6 (or 4) queries
 * and keep 12 (8) FMA chains in flight, and the caller (forward.c) blocks
 * positions so that a K or V chunk stays in L1 across all the groups of a
 * 32-query item. Masked loads/stores only for
 * tails: vmaskmovps stores cost ~10x a plain store on Zen.
 */
#include "model_int.h"

#include <math.h>

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

static void le_softmax_ref(float *s, int n, float scale) {
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        s[j] *= scale;
        mx = s[j] > mx ? s[j] : mx;
    }
    double sum = 0.0;
    for (int j = 0; j < n; j++) {
        float e = expf(s[j] - mx);
        s[j] = e;
        sum += (double)e;
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++)
        s[j] *= inv;
}

static void le_rope_ref(float *v, const float *cs, int64_t n_heads, int64_t hd) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *x = v + h * hd;
        for (int64_t i = 0; i < hd / 2; i++) {
            float x0 = x[2 * i], x1 = x[2 * i + 1];
            float co = cs[2 * i], si = cs[2 * i + 1];
            x[2 * i] = x0 * co - x1 * si;
            x[2 * i + 1] = x0 * si + x1 * co;
        }
    }
}

static void le_swiglu_ref(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* x += delta (when not NULL); y = (x * scale) * w with scale = 1/sqrt(mean(x^2) + eps),
 * the sum of squares in double (as ggml_compute_forward_rms_norm_f32). */
static void le_add_rmsnorm_ref(float *x, const float *delta, const float *w, float *y, int64_t n, float eps) {
    if (delta)
        for (int64_t i = 0; i < n; i++)
            x[i] += delta[i];
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

static const struct le_fwd_kernels le_fk_ref = {
    le_scores_ref, le_pv_ref, le_softmax_ref, le_rope_ref, le_swiglu_ref, le_add_rmsnorm_ref,
};

#ifdef LE_FK_X86
#define LE_AVX2 __attribute__((target("avx2,fma")))

/* ---- AVX2: attention ---- */

/* Lanes [0, left) set (left may exceed 8). */
LE_AVX2 static inline __m256i le_tail_mask(int left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}


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

/* 6 queries x one block per pass: each K vector is loaded once for 6
 * queries, and 12 chains in flight cover the FMA latency with room. */
LE_AVX2 static void le_scores6_avx2(const float *const q[], const float *kb, int hd, int nblk, float *const s[]) {
    for (int b = 0; b < nblk; b++) {
        __m256 a[6][2];
        _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
        const float *k = kb + (int64_t)b * LE_KBLK * hd;
        for (int d = 0; d < hd; d++, k += LE_KBLK) {
            __m256 k0 = _mm256_loadu_ps(k), k1 = _mm256_loadu_ps(k + 8);
            _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
                __m256 t = _mm256_broadcast_ss(q[i] + d);
                a[i][0] = _mm256_fmadd_ps(t, k0, a[i][0]);
                a[i][1] = _mm256_fmadd_ps(t, k1, a[i][1]);
            }
        }
        _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
            _mm256_storeu_ps(s[i] + b * LE_KBLK, a[i][0]);
            _mm256_storeu_ps(s[i] + b * LE_KBLK + 8, a[i][1]);
        }
    }
}

/* 4 queries x one block per pass: each K vector is loaded once for 4 queries. */
LE_AVX2 static void le_scores_avx2(const float *const q[], int nq, const float *kb, int hd, int nblk,
                                   float *const s[]) {
    if (nq == 6) {
        le_scores6_avx2(q, kb, hd, nblk, s);
        return;
    }
    if (nq != 4) {
        for (int i = 0; i < nq; i++)
            le_scores1_avx2(q[i], kb, hd, nblk, s[i]);
        return;
    }
    const float *q0 = q[0], *q1 = q[1], *q2 = q[2], *q3 = q[3];
    for (int b = 0; b < nblk; b++) {
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,
               a31 = a00;
        const float *k = kb + (int64_t)b * LE_KBLK * hd;
        for (int d = 0; d < hd; d++, k += LE_KBLK) {
            __m256 k0 = _mm256_loadu_ps(k), k1 = _mm256_loadu_ps(k + 8), t;
            t = _mm256_broadcast_ss(q0 + d);
            a00 = _mm256_fmadd_ps(t, k0, a00);
            a01 = _mm256_fmadd_ps(t, k1, a01);
            t = _mm256_broadcast_ss(q1 + d);
            a10 = _mm256_fmadd_ps(t, k0, a10);
            a11 = _mm256_fmadd_ps(t, k1, a11);
            t = _mm256_broadcast_ss(q2 + d);
            a20 = _mm256_fmadd_ps(t, k0, a20);
            a21 = _mm256_fmadd_ps(t, k1, a21);
            t = _mm256_broadcast_ss(q3 + d);
            a30 = _mm256_fmadd_ps(t, k0, a30);
            a31 = _mm256_fmadd_ps(t, k1, a31);
        }
        int j = b * LE_KBLK;
        _mm256_storeu_ps(s[0] + j, a00);
        _mm256_storeu_ps(s[0] + j + 8, a01);
        _mm256_storeu_ps(s[1] + j, a10);
        _mm256_storeu_ps(s[1] + j + 8, a11);
        _mm256_storeu_ps(s[2] + j, a20);
        _mm256_storeu_ps(s[2] + j + 8, a21);
        _mm256_storeu_ps(s[3] + j, a30);
        _mm256_storeu_ps(s[3] + j + 8, a31);
    }
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

/* 6 queries x 16 dims per pass (12 chains in flight). */
LE_AVX2 static void le_pv6_avx2(const float *const p[], const float *v, int64_t ldv, int hd, int np,
                                float *const out[]) {
    int d = 0;
    for (; d + 16 <= hd; d += 16) {
        __m256 a[6][2];
        _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
            a[i][0] = _mm256_loadu_ps(out[i] + d);
            a[i][1] = _mm256_loadu_ps(out[i] + d + 8);
        }
        const float *x = v + d;
        for (int j = 0; j < np; j++, x += ldv) {
            __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
            _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
                __m256 t = _mm256_broadcast_ss(p[i] + j);
                a[i][0] = _mm256_fmadd_ps(t, v0, a[i][0]);
                a[i][1] = _mm256_fmadd_ps(t, v1, a[i][1]);
            }
        }
        _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {
            _mm256_storeu_ps(out[i] + d, a[i][0]);
            _mm256_storeu_ps(out[i] + d + 8, a[i][1]);
        }
    }
    if (d < hd)
        for (int i = 0; i < 6; i++)
            le_pv1_avx2(p[i], v + d, ldv, hd - d, np, out[i] + d);
}

/* 4 queries x 16 dims per pass: each V vector is loaded once for 4 queries. */
LE_AVX2 static void le_pv_avx2(const float *const p[], int nq, const float *v, int64_t ldv, int hd, int np,
                               float *const out[]) {
    if (nq == 6) {
        le_pv6_avx2(p, v, ldv, hd, np, out);
        return;
    }
    if (nq != 4) {
        for (int i = 0; i < nq; i++)
            le_pv1_avx2(p[i], v, ldv, hd, np, out[i]);
        return;
    }
    const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];
    int d = 0;
    for (; d + 16 <= hd; d += 16) {
        __m256 a00 = _mm256_loadu_ps(out[0] + d), a01 = _mm256_loadu_ps(out[0] + d + 8);
        __m256 a10 = _mm256_loadu_ps(out[1] + d), a11 = _mm256_loadu_ps(out[1] + d + 8);
        __m256 a20 = _mm256_loadu_ps(out[2] + d), a21 = _mm256_loadu_ps(out[2] + d + 8);
        __m256 a30 = _mm256_loadu_ps(out[3] + d), a31 = _mm256_loadu_ps(out[3] + d + 8);
        const float *x = v + d;
        for (int j = 0; j < np; j++, x += ldv) {
            __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8), t;
            t = _mm256_broadcast_ss(p0 + j);
            a00 = _mm256_fmadd_ps(t, v0, a00);
            a01 = _mm256_fmadd_ps(t, v1, a01);
            t = _mm256_broadcast_ss(p1 + j);
            a10 = _mm256_fmadd_ps(t, v0, a10);
            a11 = _mm256_fmadd_ps(t, v1, a11);
            t = _mm256_broadcast_ss(p2 + j);
            a20 = _mm256_fmadd_ps(t, v0, a20);
            a21 = _mm256_fmadd_ps(t, v1, a21);
            t = _mm256_broadcast_ss(p3 + j);
            a30 = _mm256_fmadd_ps(t, v0, a30);
            a31 = _mm256_fmadd_ps(t, v1, a31);
        }
        _mm256_storeu_ps(out[0] + d, a00);
        _mm256_storeu_ps(out[0] + d + 8, a01);
        _mm256_storeu_ps(out[1] + d, a10);
        _mm256_storeu_ps(out[1] + d + 8, a11);
        _mm256_storeu_ps(out[2] + d, a20);
        _mm256_storeu_ps(out[2] + d + 8, a21);
        _mm256_storeu_ps(out[3] + d, a30);
        _mm256_storeu_ps(out[3] + d + 8, a31);
    }
    if (d < hd)
        for (int i = 0; i < 4; i++)
            le_pv1_avx2(p[i], v + d, ldv, hd - d, np, out[i] + d);
}

/* ---- AVX2: exp, softmax, SwiGLU ---- */

/* expf to ~1 ulp (Cephes' polynomial after a range reduction by ln 2);
 * inputs are clamped to [-87.3, 88.3]. Element-wise. */
LE_AVX2 static inline __m256 le_exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* Full vectors plainly, the last partial one masked (masked stores are
 * slow on some CPUs, so they are kept to one per pass). */
LE_AVX2 static void le_softmax_avx2(float *s, int n, float scale) {
    __m256 vs = _mm256_set1_ps(scale), vmx = _mm256_set1_ps(-INFINITY);
    int n8 = n & ~7, left = n - n8;
    __m256i m = le_tail_mask(left);
    /* max of the raw scores: scale > 0 and rounding is monotonic, so
     * max(s) * scale equals the max of the scaled scores exactly */
    for (int j = 0; j < n8; j += 8)
        vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(s + j));
    if (left)
        vmx = _mm256_blendv_ps(vmx, _mm256_max_ps(vmx, _mm256_maskload_ps(s + n8, m)), _mm256_castsi256_ps(m));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(vmx), _mm256_extractf128_ps(vmx, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    __m256 mx = _mm256_set1_ps(_mm_cvtss_f32(h) * scale);
    __m256d sum0 = _mm256_setzero_pd(), sum1 = sum0;
    for (int j = 0; j < n8; j += 8) {
        __m256 e = le_exp8(_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(s + j), vs), mx));
        _mm256_storeu_ps(s + j, e);
        sum0 = _mm256_add_pd(sum0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum1 = _mm256_add_pd(sum1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    if (left) {
        __m256 e = le_exp8(_mm256_sub_ps(_mm256_mul_ps(_mm256_maskload_ps(s + n8, m), vs), mx));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(s + n8, m, e);
        sum0 = _mm256_add_pd(sum0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum1 = _mm256_add_pd(sum1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(sum0, sum1));
    __m256 inv = _mm256_set1_ps((float)(1.0 / ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))));
    for (int j = 0; j < n8; j += 8)
        _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), inv));
    if (left)
        _mm256_maskstore_ps(s + n8, m, _mm256_mul_ps(_mm256_maskload_ps(s + n8, m), inv));
}

/* The reference's operations exactly (two products, then one subtraction
 * or addition per element, no FMA), 4 pairs at a time. */
LE_AVX2 static void le_rope_avx2(float *v, const float *cs, int64_t n_heads, int64_t hd) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *x = v + h * hd;
        int64_t i = 0;
        for (; i + 8 <= hd; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i), c = _mm256_loadu_ps(cs + i);
            __m256 t1 = _mm256_mul_ps(_mm256_moveldup_ps(xv), c);                            /* x0c, x0s */
            __m256 t2 = _mm256_mul_ps(_mm256_movehdup_ps(xv), _mm256_permute_ps(c, 0xB1)); /* x1s, x1c */
            _mm256_storeu_ps(x + i, _mm256_addsub_ps(t1, t2));
        }
        for (; i < hd; i += 2) {
            float x0 = x[i], x1 = x[i + 1], co = cs[i], si = cs[i + 1];
            x[i] = x0 * co - x1 * si;
            x[i + 1] = x0 * si + x1 * co;
        }
    }
}

LE_AVX2 static inline __m256 le_swiglu8(__m256 x, __m256 u) {
    __m256 e = le_exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
    return _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

/* Full vectors plainly (masked stores cost ~10x a plain one on Zen), the
 * tail masked; element-wise, so the split changes no value. */
LE_AVX2 static void le_swiglu_avx2(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(g + i, le_swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        __m256i m = le_tail_mask((int)(n - i));
        _mm256_maskstore_ps(g + i, m, le_swiglu8(_mm256_maskload_ps(g + i, m), _mm256_maskload_ps(u + i, m)));
    }
}

/* The same with the squares summed in 4 double lanes (a fixed order for a
 * given n). */
LE_AVX2 static void le_add_rmsnorm_avx2(float *x, const float *delta, const float *w, float *y, int64_t n,
                                        float eps) {
    int64_t n8 = n & ~(int64_t)7, i = 0;
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    for (; i < n8; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (delta) {
            v = _mm256_add_ps(v, _mm256_loadu_ps(delta + i));
            _mm256_storeu_ps(x + i, v);
        }
        __m256 sq = _mm256_mul_ps(v, v);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(s0, s1));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) {
        if (delta)
            x[i] += delta[i];
        sum += (double)(x[i] * x[i]);
    }
    float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i < n8; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
    for (; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
}

static const struct le_fwd_kernels le_fk_avx2 = {
    le_scores_avx2, le_pv_avx2, le_softmax_avx2, le_rope_avx2, le_swiglu_avx2, le_add_rmsnorm_avx2,
};
#endif

const struct le_fwd_kernels *le_fwd_kernels_get(void) {
#ifdef LE_FK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &le_fk_avx2;
#endif
    return &le_fk_ref;
}

const struct le_fwd_kernels *le_fwd_kernels_ref(void) { return &le_fk_ref; }
