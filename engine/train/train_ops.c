/*
 * train_ops: forward and backward of RMSNorm, RoPE, causal GQA attention,
 * SwiGLU, cross-entropy and the embedding, float32, on the pool. The
 * forward of each op is engine/ops' (the inference pass's own functions:
 * RMSNorm, RoPE, softmax, SwiGLU, exp); this file splits the rows over
 * threads and adds the backwards.
 *
 * Work per training token is dominated by the GEMMs (train_gemm.c); what is
 * here is O(N*C) except attention, whose products are small GEMMs per
 * (sequence, head) run through the same kernel, and the softmaxes.
 *
 * Determinism: parallel loops only split independent rows, columns or
 * (sequence, kv head) tasks; the reductions over tokens (RMSNorm gain
 * gradients) go through fixed 32-row blocks summed in block order, and the
 * query heads sharing a kv head add into its gradients in head order on one
 * thread. Nothing depends on nth.
 */
#include "train_ops.h"

#include "le_ops.h"  /* le_ops_get: RMSNorm, RoPE, softmax, SwiGLU, exp, dot (shared with inference) */
#include "le_pool.h" /* le_pool_run, le_pool_range, le_pool_nthreads */

#include <math.h>
#include <stdatomic.h>
#include <string.h>

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
    const struct le_ops *ops;
};

static void rms_fwd_worker(void *arg, int ith, int nth) {
    struct le_rms_job *j = arg;
    int64_t lo, hi;
    le_pool_range(j->N, ith, nth, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) /* no delta: x is only read */
        j->rs[n] = j->ops->add_rmsnorm((float *)(j->x + n * j->C), NULL, j->g, j->y + n * j->C, j->C, j->eps);
}

void le_top_rmsnorm_fwd(struct le_pool *pool, int simd, const float *x, const float *g, float *y,
                        float *rstd, int64_t N, int64_t C, float eps) {
    struct le_rms_job j = {.x = x, .g = g, .y = y, .rs = rstd, .N = N, .C = C, .eps = eps, .ops = le_ops_get(simd)};
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

struct le_rope_job {
    float *x;
    const float *cs;
    int64_t N, T, nh, D;
    int inverse;
    const struct le_ops *ops;
};

static void rope_worker(void *arg, int ith, int nth) {
    struct le_rope_job *j = arg;
    int64_t lo, hi;
    le_pool_range(j->N, ith, nth, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        const float *cs = j->cs + (n % j->T) * j->D;
        float *x = j->x + n * j->nh * j->D;
        if (!j->inverse) {
            j->ops->rope(x, cs, j->nh, j->D);
            continue;
        }
        for (int64_t i = 0; i < j->nh * j->D; i += 2) { /* the transpose: rotate by -angle */
            float c = cs[i % j->D], sn = cs[i % j->D + 1], x0 = x[i], x1 = x[i + 1];
            x[i] = x0 * c + x1 * sn;
            x[i + 1] = x1 * c - x0 * sn;
        }
    }
}

void le_top_rope(struct le_pool *pool, int simd, float *x, int64_t N, int64_t T, int64_t nh, int64_t D,
                 const float *cs, int inverse) {
    struct le_rope_job j = {.x = x, .cs = cs, .N = N, .T = T, .nh = nh, .D = D, .inverse = inverse,
                            .ops = le_ops_get(simd)};
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
    const struct le_ops *ops;
    void (*one)(struct le_attn_job *j, int64_t b, int64_t g, float *S); /* forward or backward */
    atomic_int_fast64_t next;
};

/* Floats per thread in the scratch: a T x T scores buffer, rounded up to
 * 16 floats (threads' buffers start on cache lines of their own). */
static int64_t attn_thread_scr(int64_t T) {
    return (T * T + 15) / 16 * 16;
}

size_t le_top_attn_scratch(struct le_pool *pool, int64_t T) {
    int nth = pool ? le_pool_nthreads(pool) : 1;
    return (size_t)nth * (size_t)attn_thread_scr(T);
}

/* Causal softmax of the scores in row t (in place, scaled, as inference's
 * attention), zeros past t. */
static void attn_softmax_row(const struct le_attn_job *j, float *row, int64_t t) {
    j->ops->softmax(row, t + 1, j->scale);
    memset(row + t + 1, 0, (size_t)(j->T - t - 1) * sizeof(float));
}

static void attn_fwd_one(struct le_attn_job *j, int64_t b, int64_t g, float *S) {
    (void)S; /* the forward writes its scores into p */
    int64_t T = j->T, H = j->H, D = j->D, C = H * D, KC = j->G * D, R = H / j->G;
    const float *k = j->k + b * T * KC + g * D, *v = j->v + b * T * KC + g * D;
    for (int64_t h = g * R; h < (g + 1) * R; h++) {
        const float *q = j->q + b * T * C + h * D;
        float *P = j->pw + (b * H + h) * T * T;
        /* S (T x T) = Q (T x D) . K^T: B(d, s) = k[s*KC + d] */
        le_tg_gemm(NULL, j->simd, T, T, D, q, C, 1, k, 1, KC, P, T, 0);
        for (int64_t t = 0; t < T; t++)
            attn_softmax_row(j, P + t * T, t);
        /* O (T x D) = P . V */
        le_tg_gemm(NULL, j->simd, T, D, T, P, T, 1, v, KC, 1, j->out + b * T * C + h * D, C, 0);
    }
}

/* Takes (sequence, kv head) tasks until none is left; each thread has its
 * T x T scores buffer in the job's scratch. */
static void attn_worker(void *arg, int ith, int nth) {
    (void)nth;
    struct le_attn_job *j = arg;
    float *S = j->scratch + (size_t)ith * (size_t)attn_thread_scr(j->T);
    for (;;) {
        int64_t task = atomic_fetch_add(&j->next, 1);
        if (task >= j->B * j->G)
            return;
        j->one(j, task / j->G, task % j->G, S);
    }
}

void le_top_attn_fwd(struct le_pool *pool, int simd, const float *q, const float *k, const float *v,
                     float *p, float *out, int64_t B, int64_t T, int64_t H, int64_t G, int64_t D,
                     float *scratch) {
    struct le_attn_job j = {.q = q, .k = k, .v = v, .pw = p, .out = out, .scratch = scratch,
                            .B = B, .T = T, .H = H, .G = G, .D = D,
                            .scale = 1.0f / sqrtf((float)D), .simd = simd, .ops = le_ops_get(simd),
                            .one = attn_fwd_one};
    atomic_init(&j.next, 0);
    le_pool_run(pool, attn_worker, &j);
}

static void attn_bwd_one(struct le_attn_job *j, int64_t b, int64_t g, float *dS) {
    int64_t T = j->T, H = j->H, D = j->D, C = H * D, KC = j->G * D, R = H / j->G;
    const float *k = j->k + b * T * KC + g * D, *v = j->v + b * T * KC + g * D;
    float *dk = j->dk + b * T * KC + g * D, *dv = j->dv + b * T * KC + g * D;
    for (int64_t h = g * R; h < (g + 1) * R; h++) {
        const float *q = j->q + b * T * C + h * D, *dO = j->dout + b * T * C + h * D;
        const float *P = j->p + (b * H + h) * T * T;
        int acc = h > g * R;
        /* dV (T x D) (+)= P^T . dO: A(s, t) = P[t*T + s] */
        le_tg_gemm(NULL, j->simd, T, D, T, P, 1, T, dO, C, 1, dv, KC, acc);
        /* dP (T x T) = dO . V^T */
        le_tg_gemm(NULL, j->simd, T, T, D, dO, C, 1, v, 1, KC, dS, T, 0);
        for (int64_t t = 0; t < T; t++) {
            const float *pr = P + t * T;
            float *d = dS + t * T;
            float sum = j->ops->dot(t + 1, pr, d);
            for (int64_t s = 0; s <= t; s++)
                d[s] = pr[s] * (d[s] - sum) * j->scale;
            memset(d + t + 1, 0, (size_t)(T - t - 1) * sizeof(float));
        }
        /* dQ (T x D) = dS . K;  dK (T x D) (+)= dS^T . Q */
        le_tg_gemm(NULL, j->simd, T, D, T, dS, T, 1, k, KC, 1, j->dq + b * T * C + h * D, C, 0);
        le_tg_gemm(NULL, j->simd, T, D, T, dS, 1, T, q, C, 1, dk, KC, acc);
    }
}

void le_top_attn_bwd(struct le_pool *pool, int simd, const float *q, const float *k, const float *v,
                     const float *p, const float *dout, float *dq, float *dk, float *dv,
                     int64_t B, int64_t T, int64_t H, int64_t G, int64_t D, float *scratch) {
    struct le_attn_job j = {.q = q, .k = k, .v = v, .p = p, .dout = dout, .dq = dq, .dk = dk, .dv = dv,
                            .scratch = scratch, .B = B, .T = T, .H = H, .G = G, .D = D,
                            .scale = 1.0f / sqrtf((float)D), .simd = simd, .ops = le_ops_get(simd),
                            .one = attn_bwd_one};
    atomic_init(&j.next, 0);
    le_pool_run(pool, attn_worker, &j);
}

/* Functions for SwiGLU. */

struct le_glu_job {
    const float *a, *b, *dh;
    float *h, *da, *db;
    int64_t n;
    const struct le_ops *ops;
};

enum { GLU_CHUNK = 256 };

static void glu_fwd_worker(void *arg, int ith, int nth) {
    struct le_glu_job *j = arg;
    int64_t lo, hi;
    le_pool_range((j->n + GLU_CHUNK - 1) / GLU_CHUNK, ith, nth, &lo, &hi);
    for (int64_t c = lo; c < hi; c++) {
        int64_t i0 = c * GLU_CHUNK, len = j->n - i0 < GLU_CHUNK ? j->n - i0 : GLU_CHUNK;
        j->ops->swiglu(j->h + i0, j->a + i0, j->b + i0, len);
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
        j->ops->vexp(len, e, e);
        for (int64_t i = 0; i < len; i++) {
            float a = j->a[i0 + i], b = j->b[i0 + i], dh = j->dh[i0 + i];
            float s = 1.0f / (1.0f + e[i]);
            j->db[i0 + i] = dh * a * s;
            j->da[i0 + i] = dh * b * s * (1.0f + a * (1.0f - s));
        }
    }
}

void le_top_swiglu_fwd(struct le_pool *pool, int simd, const float *a, const float *b, float *h, int64_t n) {
    struct le_glu_job j = {.a = a, .b = b, .h = h, .n = n, .ops = le_ops_get(simd)};
    le_pool_run(pool, glu_fwd_worker, &j);
}

void le_top_swiglu_bwd(struct le_pool *pool, int simd, const float *a, const float *b, const float *dh,
                       float *da, float *db, int64_t n) {
    struct le_glu_job j = {.a = a, .b = b, .dh = dh, .da = da, .db = db, .n = n, .ops = le_ops_get(simd)};
    le_pool_run(pool, glu_bwd_worker, &j);
}

/* Functions for the cross-entropy. */

struct le_xent_job {
    const float *logits;
    const int32_t *tgt;
    float *dl, *loss;
    int64_t N, V;
    float scale;
    const struct le_ops *ops;
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
            j->ops->vexp(len, e, e);
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
                            .N = N, .V = V, .scale = scale, .ops = le_ops_get(simd)};
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
