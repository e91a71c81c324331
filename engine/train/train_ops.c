/*
 * train_ops: forward and backward of RMSNorm, RoPE, causal GQA attention,
 * SwiGLU, cross-entropy and the embedding, float32, on the pool.
 *
 * Work per training token is dominated by the GEMMs (train_gemm.c); what is
 * here is O(N*C) except attention, whose products are small GEMMs per
 * (sequence, head) run through the same kernel, and the softmaxes, where exp
 * is a vectorised Cephes-style polynomial (AVX2) or expf (portable path).
 *
 * Determinism: parallel loops only split independent rows, columns or
 * (sequence, kv head) tasks; the reductions over tokens (RMSNorm gain
 * gradients) go through fixed 32-row blocks summed in block order, and the
 * query heads sharing a kv head add into its gradients in head order on one
 * thread. Nothing depends on nth.
 */
#include "train_ops.h"

#include "le_pool.h" /* le_pool_run, le_pool_range, le_pool_nthreads */

#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* Functions for vector helpers: AVX2 and portable versions. */

__attribute__((target("avx2,fma")))
static float dot_avx2(int64_t n, const float *x, const float *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    a0 = _mm256_add_ps(a0, a1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float r = _mm_cvtss_f32(s);
    for (; i < n; i++)
        r += x[i] * y[i];
    return r;
}

static float dot_scalar(int64_t n, const float *x, const float *y) {
    float r = 0.0f;
    for (int64_t i = 0; i < n; i++)
        r += x[i] * y[i];
    return r;
}

/* exp(x) for x in [-88, 88] (Cephes expf: range reduction by ln 2, degree-5
 * polynomial), relative error ~2e-7; clamps outside. */
__attribute__((target("avx2,fma")))
static void vexp_avx2(int64_t n, const float *x, float *y) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-88.3762626647949f);
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f), half = _mm256_set1_ps(0.5f);
    const __m256 c1 = _mm256_set1_ps(0.693359375f), c2 = _mm256_set1_ps(-2.12194440e-4f);
    const __m256 p0 = _mm256_set1_ps(1.9875691500e-4f), p1 = _mm256_set1_ps(1.3981999507e-3f);
    const __m256 p2 = _mm256_set1_ps(8.3334519073e-3f), p3 = _mm256_set1_ps(4.1665795894e-2f);
    const __m256 p4 = _mm256_set1_ps(1.6666665459e-1f), p5 = _mm256_set1_ps(5.0000001201e-1f);
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(x + i), lo), hi);
        __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(v, log2e, half));
        v = _mm256_fnmadd_ps(fx, c1, v);
        v = _mm256_fnmadd_ps(fx, c2, v);
        __m256 z = _mm256_mul_ps(v, v);
        __m256 p = _mm256_fmadd_ps(p0, v, p1);
        p = _mm256_fmadd_ps(p, v, p2);
        p = _mm256_fmadd_ps(p, v, p3);
        p = _mm256_fmadd_ps(p, v, p4);
        p = _mm256_fmadd_ps(p, v, p5);
        p = _mm256_fmadd_ps(p, z, _mm256_add_ps(v, one));
        __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
    }
    for (; i < n; i++)
        y[i] = expf(x[i]);
}

static void vexp_scalar(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}

struct le_tk_vec {
    float (*dot)(int64_t, const float *, const float *);
    void (*vexp)(int64_t, const float *, float *);
};

static struct le_tk_vec le_tk_vec_get(int simd) {
    if (simd && le_tk_cpu_simd())
        return (struct le_tk_vec){dot_avx2, vexp_avx2};
    return (struct le_tk_vec){dot_scalar, vexp_scalar};
}

double le_tk_sumsq(const float *x, int64_t n) {
    double total = 0.0;
    for (int64_t b = 0; b < n; b += 4096) {
        int64_t e = b + 4096 < n ? b + 4096 : n;
        double s = 0.0;
        for (int64_t i = b; i < e; i++)
            s += (double)x[i] * x[i];
        total += s;
    }
    return total;
}

/* Functions for RMSNorm. */

struct le_rms_job {
    const float *x, *g, *rstd, *dy;
    float *y, *rs, *dx, *dg, *part;
    int64_t N, C, nblk;
    float eps;
};

static void rms_fwd_worker(void *arg, int ith, int nth) {
    struct le_rms_job *j = arg;
    int64_t lo, hi;
    le_pool_range(j->N, ith, nth, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        const float *x = j->x + n * j->C;
        float *y = j->y + n * j->C;
        double ss = 0.0;
        for (int64_t c = 0; c < j->C; c++)
            ss += (double)x[c] * x[c];
        float r = (float)(1.0 / sqrt(ss / (double)j->C + (double)j->eps));
        j->rs[n] = r;
        for (int64_t c = 0; c < j->C; c++)
            y[c] = x[c] * r * j->g[c];
    }
}

void le_top_rmsnorm_fwd(struct le_pool *pool, const float *x, const float *g, float *y,
                        float *rstd, int64_t N, int64_t C, float eps) {
    struct le_rms_job j = {.x = x, .g = g, .y = y, .rs = rstd, .N = N, .C = C, .eps = eps};
    le_pool_run(pool, rms_fwd_worker, &j);
}

enum { RMS_BLK = 32 };

size_t le_top_rmsnorm_scratch(int64_t N, int64_t C) {
    return (size_t)(((N + RMS_BLK - 1) / RMS_BLK) * C);
}

static void rms_bwd_rows_worker(void *arg, int ith, int nth) {
    struct le_rms_job *j = arg;
    int64_t lo, hi, C = j->C;
    le_pool_range(j->nblk, ith, nth, &lo, &hi);
    for (int64_t b = lo; b < hi; b++) {
        float *part = j->part + b * C;
        memset(part, 0, (size_t)C * sizeof(float));
        int64_t e = (b + 1) * RMS_BLK < j->N ? (b + 1) * RMS_BLK : j->N;
        for (int64_t n = b * RMS_BLK; n < e; n++) {
            const float *x = j->x + n * C, *dy = j->dy + n * C;
            float *dx = j->dx + n * C;
            float r = j->rstd[n];
            double s = 0.0;
            for (int64_t c = 0; c < C; c++)
                s += (double)dy[c] * j->g[c] * x[c];
            float k = (float)(s / (double)C) * r * r * r;
            for (int64_t c = 0; c < C; c++) {
                dx[c] += r * dy[c] * j->g[c] - k * x[c];
                part[c] += dy[c] * x[c] * r;
            }
        }
    }
}

static void rms_bwd_reduce_worker(void *arg, int ith, int nth) {
    struct le_rms_job *j = arg;
    int64_t lo, hi;
    le_pool_range(j->C, ith, nth, &lo, &hi);
    for (int64_t c = lo; c < hi; c++) {
        float s = 0.0f;
        for (int64_t b = 0; b < j->nblk; b++)
            s += j->part[b * j->C + c];
        j->dg[c] += s;
    }
}

void le_top_rmsnorm_bwd(struct le_pool *pool, const float *x, const float *g, const float *rstd,
                        const float *dy, float *dx, float *dg, int64_t N, int64_t C, float *scratch) {
    struct le_rms_job j = {.x = x, .g = g, .rstd = rstd, .dy = dy, .dx = dx, .dg = dg,
                           .part = scratch, .N = N, .C = C, .nblk = (N + RMS_BLK - 1) / RMS_BLK};
    le_pool_run(pool, rms_bwd_rows_worker, &j);
    le_pool_run(pool, rms_bwd_reduce_worker, &j);
}

/* Functions for RoPE. */

void le_top_rope_table(float *cs, float *sn, int64_t T, int64_t D, float base) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < D / 2; i++) {
            double th = (double)t * pow((double)base, -2.0 * (double)i / (double)D);
            cs[t * (D / 2) + i] = (float)cos(th);
            sn[t * (D / 2) + i] = (float)sin(th);
        }
}

struct le_rope_job {
    float *x;
    const float *cs, *sn;
    int64_t N, T, nh, D;
    int inverse;
};

static void rope_worker(void *arg, int ith, int nth) {
    struct le_rope_job *j = arg;
    int64_t lo, hi, half = j->D / 2;
    le_pool_range(j->N, ith, nth, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        const float *cs = j->cs + (n % j->T) * half, *sn = j->sn + (n % j->T) * half;
        for (int64_t h = 0; h < j->nh; h++) {
            float *x = j->x + (n * j->nh + h) * j->D;
            for (int64_t i = 0; i < half; i++) {
                float c = cs[i], s = j->inverse ? -sn[i] : sn[i];
                float x0 = x[2 * i], x1 = x[2 * i + 1];
                x[2 * i] = x0 * c - x1 * s;
                x[2 * i + 1] = x0 * s + x1 * c;
            }
        }
    }
}

void le_top_rope(struct le_pool *pool, float *x, int64_t N, int64_t T, int64_t nh, int64_t D,
                 const float *cs, const float *sn, int inverse) {
    struct le_rope_job j = {.x = x, .cs = cs, .sn = sn, .N = N, .T = T, .nh = nh, .D = D, .inverse = inverse};
    le_pool_run(pool, rope_worker, &j);
}

/* Functions for attention. Tasks are (sequence, kv head) pairs, so the query
 * heads sharing a kv head add into its dK/dV in head order on one thread.
 * Every product is a small GEMM through train_gemm's kernel, run inline on
 * the task's thread (pool NULL): S = Q K^T and dP = dO V^T over the full
 * T x T square (the masked half is computed and dropped: at GEMM speed that
 * is cheaper than length-t dot products), then P V, P^T dO, dS K, dS^T Q. */

struct le_attn_job {
    const float *q, *k, *v, *p, *dout;
    float *pw, *out, *dq, *dk, *dv, *scratch;
    int64_t B, T, H, G, D;
    float scale;
    int simd;
    struct le_tk_vec vec;
    atomic_int_fast64_t next;
};

static int64_t attn_gemm_scr(int64_t T, int64_t D) {
    size_t a = le_tg_gemm_scratch(T, T, D), b = le_tg_gemm_scratch(T, D, T);
    return (int64_t)(a > b ? a : b) + 16;
}

size_t le_top_attn_scratch(struct le_pool *pool, int64_t T, int64_t D) {
    int nth = pool ? le_pool_nthreads(pool) : 1;
    return (size_t)nth * (size_t)(T * T + attn_gemm_scr(T, D) + 16);
}

/* Causal softmax of the scores in row t (in place, scaled), zeros past t. */
static void attn_softmax_row(const struct le_attn_job *j, float *row, int64_t t) {
    float m = row[0];
    for (int64_t s = 1; s <= t; s++)
        m = row[s] > m ? row[s] : m;
    for (int64_t s = 0; s <= t; s++)
        row[s] = (row[s] - m) * j->scale;
    j->vec.vexp(t + 1, row, row);
    double sum = 0.0;
    for (int64_t s = 0; s <= t; s++)
        sum += row[s];
    float inv = (float)(1.0 / sum);
    for (int64_t s = 0; s <= t; s++)
        row[s] *= inv;
    memset(row + t + 1, 0, (size_t)(j->T - t - 1) * sizeof(float));
}

static void attn_fwd_one(struct le_attn_job *j, int64_t b, int64_t g, float *gs) {
    int64_t T = j->T, H = j->H, D = j->D, C = H * D, KC = j->G * D, R = H / j->G;
    const float *k = j->k + b * T * KC + g * D, *v = j->v + b * T * KC + g * D;
    for (int64_t h = g * R; h < (g + 1) * R; h++) {
        const float *q = j->q + b * T * C + h * D;
        float *P = j->pw + (b * H + h) * T * T;
        /* S (T x T) = Q (T x D) . K^T: B(d, s) = k[s*KC + d] */
        le_tg_gemm(NULL, j->simd, T, T, D, q, C, 1, k, 1, KC, P, T, 0, gs);
        for (int64_t t = 0; t < T; t++)
            attn_softmax_row(j, P + t * T, t);
        /* O (T x D) = P . V */
        le_tg_gemm(NULL, j->simd, T, D, T, P, T, 1, v, KC, 1, j->out + b * T * C + h * D, C, 0, gs);
    }
}

static void attn_fwd_worker(void *arg, int ith, int nth) {
    (void)nth;
    struct le_attn_job *j = arg;
    float *base = j->scratch + (size_t)ith * (size_t)(j->T * j->T + attn_gemm_scr(j->T, j->D) + 16);
    float *gs = (float *)(((uintptr_t)(base + j->T * j->T) + 31) & ~(uintptr_t)31);
    for (;;) {
        int64_t task = atomic_fetch_add(&j->next, 1);
        if (task >= j->B * j->G)
            return;
        attn_fwd_one(j, task / j->G, task % j->G, gs);
    }
}

void le_top_attn_fwd(struct le_pool *pool, int simd, const float *q, const float *k, const float *v,
                     float *p, float *out, int64_t B, int64_t T, int64_t H, int64_t G, int64_t D,
                     float *scratch) {
    struct le_attn_job j = {.q = q, .k = k, .v = v, .pw = p, .out = out, .scratch = scratch,
                            .B = B, .T = T, .H = H, .G = G, .D = D,
                            .scale = (float)(1.0 / sqrt((double)D)), .simd = simd, .vec = le_tk_vec_get(simd)};
    atomic_init(&j.next, 0);
    le_pool_run(pool, attn_fwd_worker, &j);
}

static void attn_bwd_one(struct le_attn_job *j, int64_t b, int64_t g, float *dS, float *gs) {
    int64_t T = j->T, H = j->H, D = j->D, C = H * D, KC = j->G * D, R = H / j->G;
    const float *k = j->k + b * T * KC + g * D, *v = j->v + b * T * KC + g * D;
    float *dk = j->dk + b * T * KC + g * D, *dv = j->dv + b * T * KC + g * D;
    for (int64_t h = g * R; h < (g + 1) * R; h++) {
        const float *q = j->q + b * T * C + h * D, *dO = j->dout + b * T * C + h * D;
        const float *P = j->p + (b * H + h) * T * T;
        int acc = h > g * R;
        /* dV (T x D) (+)= P^T . dO: A(s, t) = P[t*T + s] */
        le_tg_gemm(NULL, j->simd, T, D, T, P, 1, T, dO, C, 1, dv, KC, acc, gs);
        /* dP (T x T) = dO . V^T */
        le_tg_gemm(NULL, j->simd, T, T, D, dO, C, 1, v, 1, KC, dS, T, 0, gs);
        for (int64_t t = 0; t < T; t++) {
            const float *pr = P + t * T;
            float *d = dS + t * T;
            float sum = j->vec.dot(t + 1, pr, d);
            for (int64_t s = 0; s <= t; s++)
                d[s] = pr[s] * (d[s] - sum) * j->scale;
            memset(d + t + 1, 0, (size_t)(T - t - 1) * sizeof(float));
        }
        /* dQ (T x D) = dS . K;  dK (T x D) (+)= dS^T . Q */
        le_tg_gemm(NULL, j->simd, T, D, T, dS, T, 1, k, KC, 1, j->dq + b * T * C + h * D, C, 0, gs);
        le_tg_gemm(NULL, j->simd, T, D, T, dS, 1, T, q, C, 1, dk, KC, acc, gs);
    }
}

static void attn_bwd_worker(void *arg, int ith, int nth) {
    (void)nth;
    struct le_attn_job *j = arg;
    float *dS = j->scratch + (size_t)ith * (size_t)(j->T * j->T + attn_gemm_scr(j->T, j->D) + 16);
    float *gs = (float *)(((uintptr_t)(dS + j->T * j->T) + 31) & ~(uintptr_t)31);
    for (;;) {
        int64_t task = atomic_fetch_add(&j->next, 1);
        if (task >= j->B * j->G)
            return;
        attn_bwd_one(j, task / j->G, task % j->G, dS, gs);
    }
}

void le_top_attn_bwd(struct le_pool *pool, int simd, const float *q, const float *k, const float *v,
                     const float *p, const float *dout, float *dq, float *dk, float *dv,
                     int64_t B, int64_t T, int64_t H, int64_t G, int64_t D, float *scratch) {
    struct le_attn_job j = {.q = q, .k = k, .v = v, .p = p, .dout = dout, .dq = dq, .dk = dk, .dv = dv,
                            .scratch = scratch, .B = B, .T = T, .H = H, .G = G, .D = D,
                            .scale = (float)(1.0 / sqrt((double)D)), .simd = simd, .vec = le_tk_vec_get(simd)};
    atomic_init(&j.next, 0);
    le_pool_run(pool, attn_bwd_worker, &j);
}

/* Functions for SwiGLU. */

struct le_glu_job {
    const float *a, *b, *dh;
    float *h, *da, *db;
    int64_t n;
    struct le_tk_vec vec;
};

enum { GLU_CHUNK = 256 };

static void glu_fwd_worker(void *arg, int ith, int nth) {
    struct le_glu_job *j = arg;
    int64_t lo, hi;
    le_pool_range((j->n + GLU_CHUNK - 1) / GLU_CHUNK, ith, nth, &lo, &hi);
    float e[GLU_CHUNK];
    for (int64_t c = lo; c < hi; c++) {
        int64_t i0 = c * GLU_CHUNK, len = j->n - i0 < GLU_CHUNK ? j->n - i0 : GLU_CHUNK;
        for (int64_t i = 0; i < len; i++)
            e[i] = -j->a[i0 + i];
        j->vec.vexp(len, e, e);
        for (int64_t i = 0; i < len; i++) {
            float a = j->a[i0 + i];
            j->h[i0 + i] = a / (1.0f + e[i]) * j->b[i0 + i];
        }
    }
}

static void glu_bwd_worker(void *arg, int ith, int nth) {
    struct le_glu_job *j = arg;
    int64_t lo, hi;
    le_pool_range((j->n + GLU_CHUNK - 1) / GLU_CHUNK, ith, nth, &lo, &hi);
    float e[GLU_CHUNK];
    for (int64_t c = lo; c < hi; c++) {
        int64_t i0 = c * GLU_CHUNK, len = j->n - i0 < GLU_CHUNK ? j->n - i0 : GLU_CHUNK;
        for (int64_t i = 0; i < len; i++)
            e[i] = -j->a[i0 + i];
        j->vec.vexp(len, e, e);
        for (int64_t i = 0; i < len; i++) {
            float a = j->a[i0 + i], b = j->b[i0 + i], dh = j->dh[i0 + i];
            float s = 1.0f / (1.0f + e[i]);
            j->db[i0 + i] = dh * a * s;
            j->da[i0 + i] = dh * b * s * (1.0f + a * (1.0f - s));
        }
    }
}

void le_top_swiglu_fwd(struct le_pool *pool, int simd, const float *a, const float *b, float *h, int64_t n) {
    struct le_glu_job j = {.a = a, .b = b, .h = h, .n = n, .vec = le_tk_vec_get(simd)};
    le_pool_run(pool, glu_fwd_worker, &j);
}

void le_top_swiglu_bwd(struct le_pool *pool, int simd, const float *a, const float *b, const float *dh,
                       float *da, float *db, int64_t n) {
    struct le_glu_job j = {.a = a, .b = b, .dh = dh, .da = da, .db = db, .n = n, .vec = le_tk_vec_get(simd)};
    le_pool_run(pool, glu_bwd_worker, &j);
}

/* Functions for the cross-entropy. */

struct le_xent_job {
    const float *logits;
    const int32_t *tgt;
    float *dl, *loss;
    int64_t N, V;
    float scale;
    struct le_tk_vec vec;
};

static void xent_worker(void *arg, int ith, int nth) {
    struct le_xent_job *j = arg;
    int64_t lo, hi, V = j->V;
    le_pool_range(j->N, ith, nth, &lo, &hi);
    float e[GLU_CHUNK];
    for (int64_t n = lo; n < hi; n++) {
        const float *l = j->logits + n * V;
        float *d = j->dl ? j->dl + n * V : NULL;
        float m = l[0];
        for (int64_t v = 1; v < V; v++)
            m = l[v] > m ? l[v] : m;
        float lt = l[j->tgt[n]];
        double sum = 0.0;
        for (int64_t v0 = 0; v0 < V; v0 += GLU_CHUNK) {
            int64_t len = V - v0 < GLU_CHUNK ? V - v0 : GLU_CHUNK;
            for (int64_t i = 0; i < len; i++)
                e[i] = l[v0 + i] - m;
            j->vec.vexp(len, e, e);
            for (int64_t i = 0; i < len; i++)
                sum += e[i];
            if (d)
                memcpy(d + v0, e, (size_t)len * sizeof(float));
        }
        j->loss[n] = (float)((double)m + log(sum) - (double)lt);
        if (d) {
            float k = (float)((double)j->scale / sum);
            for (int64_t v = 0; v < V; v++)
                d[v] *= k;
            d[j->tgt[n]] -= j->scale;
        }
    }
}

double le_top_xent(struct le_pool *pool, int simd, const float *logits, const int32_t *targets,
                   float *dlogits, float *row_loss, int64_t N, int64_t V, float scale) {
    struct le_xent_job j = {.logits = logits, .tgt = targets, .dl = dlogits, .loss = row_loss,
                            .N = N, .V = V, .scale = scale, .vec = le_tk_vec_get(simd)};
    le_pool_run(pool, xent_worker, &j);
    double s = 0.0;
    for (int64_t n = 0; n < N; n++)
        s += row_loss[n];
    return s;
}

/* Functions for the embedding. */

struct le_emb_job {
    const float *E, *dx;
    float *out, *dE;
    const int32_t *tok;
    int64_t N, C;
};

static void emb_fwd_worker(void *arg, int ith, int nth) {
    struct le_emb_job *j = arg;
    int64_t lo, hi;
    le_pool_range(j->N, ith, nth, &lo, &hi);
    for (int64_t n = lo; n < hi; n++)
        memcpy(j->out + n * j->C, j->E + (int64_t)j->tok[n] * j->C, (size_t)j->C * sizeof(float));
}

static void emb_bwd_worker(void *arg, int ith, int nth) {
    struct le_emb_job *j = arg;
    int64_t lo, hi;
    le_pool_range(j->C, ith, nth, &lo, &hi);
    for (int64_t n = 0; n < j->N; n++) {
        float *dst = j->dE + (int64_t)j->tok[n] * j->C;
        const float *src = j->dx + n * j->C;
        for (int64_t c = lo; c < hi; c++)
            dst[c] += src[c];
    }
}

void le_top_embed_fwd(struct le_pool *pool, const float *E, const int32_t *tok, float *out,
                      int64_t N, int64_t C) {
    struct le_emb_job j = {.E = E, .tok = tok, .out = out, .N = N, .C = C};
    le_pool_run(pool, emb_fwd_worker, &j);
}

void le_top_embed_bwd(struct le_pool *pool, float *dE, const int32_t *tok, const float *dx,
                      int64_t N, int64_t C) {
    struct le_emb_job j = {.dE = dE, .tok = tok, .dx = dx, .N = N, .C = C};
    le_pool_run(pool, emb_bwd_worker, &j);
}
