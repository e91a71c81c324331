/*
 * forward: the LLaMA forward pass over a batch of n tokens at positions
 * pos .. pos+n-1 with a float32 KV cache, numerically as llama.cpp's CPU
 * backend with an F32 KV cache and flash attention off:
 *
 *   x = token_embd[tok]                        (dequantized row)
 *   per layer: xn = rmsnorm(x) * attn_norm     (sum of squares in double)
 *              q, k, v = Wq xn, Wk xn, Wv xn   (le_matmul: activations rounded
 *                                               to the weight's vec_dot_type)
 *              rope(q), rope(k)                (NORM mode, adjacent pairs)
 *              att = softmax(q k^T / sqrt(hd) + causal mask) v   (GQA)
 *              x += Wo att
 *              xn = rmsnorm(x) * ffn_norm
 *              x += Wdown (silu(Wgate xn) * (Wup xn))
 *   logits = Wout (rmsnorm(x) * output_norm)
 *
 * Every value of a row depends only on that row's inputs and the cache, with
 * a fixed order of operations, so results are bit-identical for any thread
 * count and any batching. Work is split inside ops: matmuls by le_matmul,
 * attention by (row, kv head) items taken from an atomic counter (their cost
 * grows with the position), element-wise ops by rows. Nothing allocates.
 *
 * Workload: for a 110M model at n_ctx 512, matmuls are ~90% of the flops,
 * attention most of the rest; the element-wise ops are memory-bound and cheap.
 */
#include "model_int.h"

#include "le_err.h"   /* le_err_set */
#include "le_pool.h"  /* le_pool_run, le_pool_range */
#include "le_types.h" /* le_type_get, le_type_row_size, le_matmul, le_fp16 conversions */

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LE_FWD_X86 1
#endif

/* ---- attention kernels: a scalar version and an AVX2+FMA one ----
 *
 * scores: s[j] = sum_d q[d] * kt[d*ld + j] for j < np (kt: K transposed),
 * pv:     out[d] = sum_j p[j] * v[j*ldv + d] for d < hd.
 * Every output element is ONE chain of fused multiply-adds in a fixed order
 * (d ascending for scores, j ascending for pv) starting from 0, whether it
 * falls in a 32-wide block, an 8-wide block or the scalar tail; so a value
 * never depends on np, on blocking, or on what else is computed with it.
 */

static void le_scores_ref(const float *q, const float *kt, int64_t ld, int hd, int np, float *s) {
    for (int j = 0; j < np; j++) {
        float a = 0;
        for (int d = 0; d < hd; d++)
            a += q[d] * kt[d * ld + j];
        s[j] = a;
    }
}

static void le_pv_ref(const float *p, const float *v, int64_t ldv, int hd, int np, float *out) {
    for (int d = 0; d < hd; d++) {
        float a = 0;
        for (int j = 0; j < np; j++)
            a += p[j] * v[j * ldv + d];
        out[d] = a;
    }
}

#ifdef LE_FWD_X86
__attribute__((target("avx2,fma"))) static void le_scores_avx2(const float *q, const float *kt, int64_t ld, int hd,
                                                               int np, float *s) {
    int j = 0;
    for (; j + 32 <= np; j += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *k = kt + j;
        for (int d = 0; d < hd; d++, k += ld) {
            __m256 qd = _mm256_broadcast_ss(q + d);
            a0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k), a0);
            a1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 8), a1);
            a2 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 16), a2);
            a3 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + 24), a3);
        }
        _mm256_storeu_ps(s + j, a0);
        _mm256_storeu_ps(s + j + 8, a1);
        _mm256_storeu_ps(s + j + 16, a2);
        _mm256_storeu_ps(s + j + 24, a3);
    }
    for (; j + 8 <= np; j += 8) {
        __m256 a0 = _mm256_setzero_ps();
        const float *k = kt + j;
        for (int d = 0; d < hd; d++, k += ld)
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(q + d), _mm256_loadu_ps(k), a0);
        _mm256_storeu_ps(s + j, a0);
    }
    for (; j < np; j++) {
        float a = 0;
        for (int d = 0; d < hd; d++)
            a = __builtin_fmaf(q[d], kt[d * ld + j], a);
        s[j] = a;
    }
}

__attribute__((target("avx2,fma"))) static void le_pv_avx2(const float *p, const float *v, int64_t ldv, int hd,
                                                           int np, float *out) {
    int d = 0;
    for (; d + 32 <= hd; d += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
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
        __m256 a0 = _mm256_setzero_ps();
        const float *x = v + d;
        for (int j = 0; j < np; j++, x += ldv)
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + j), _mm256_loadu_ps(x), a0);
        _mm256_storeu_ps(out + d, a0);
    }
    for (; d < hd; d++) {
        float a = 0;
        for (int j = 0; j < np; j++)
            a = __builtin_fmaf(p[j], v[j * ldv + d], a);
        out[d] = a;
    }
}

static int le_fwd_has_avx2(void) {
    static int cached = -1; /* a pure function of the CPU: same answer every time */
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#endif

struct le_vk {
    void (*scores)(const float *q, const float *kt, int64_t ld, int hd, int np, float *s);
    void (*pv)(const float *p, const float *v, int64_t ldv, int hd, int np, float *out);
};

static struct le_vk le_fwd_kernels(void) {
#ifdef LE_FWD_X86
    if (le_fwd_has_avx2())
        return (struct le_vk){le_scores_avx2, le_pv_avx2};
#endif
    return (struct le_vk){le_scores_ref, le_pv_ref};
}

/* ---- one job description shared by the element-wise and attention ops ---- */

struct le_fwd_job {
    struct le_ctx *c;
    struct le_vk vk;
    int layer, n, pos, r0; /* rows [r0, n) of the batch at positions pos + row */
    const float *norm_w;   /* add_norm: the norm weight */
    const float *delta;    /* add_norm: added to x first, or NULL */
    atomic_int next;       /* attention: next item */
};

/* x[r] += delta[r]; xn[r] = rmsnorm(x[r]) * w, as ggml: sum of float squares
 * in double, mean and scale in float, then y = (x * scale) * w. */
static void le_job_add_norm(void *arg, int ith, int nth) {
    struct le_fwd_job *j = arg;
    struct le_ctx *c = j->c;
    int64_t D = c->m->info.dim, lo, hi;
    float eps = c->m->info.eps;
    le_pool_range(j->n - j->r0, ith, nth, &lo, &hi);
    for (int64_t r = j->r0 + lo; r < j->r0 + hi; r++) {
        float *x = c->x + r * D, *y = c->xn + r * D;
        if (j->delta) {
            const float *d = j->delta + r * D;
            for (int64_t i = 0; i < D; i++)
                x[i] += d[i];
        }
        double sum = 0.0;
        for (int64_t i = 0; i < D; i++)
            sum += (double)(x[i] * x[i]);
        float mean = (float)(sum / (double)D);
        float scale = 1.0f / sqrtf(mean + eps);
        for (int64_t i = 0; i < D; i++)
            y[i] = (x[i] * scale) * j->norm_w[i];
    }
}

static void le_rope_row(float *v, const float *cs, int64_t n_heads, int64_t hd) {
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

static void le_round_f16(float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        v[i] = le_fp16_to_fp32(le_fp32_to_fp16(v[i]));
}

/* RoPE on q rows [r0, n) and the new k rows [0, n) (in kbuf); with kv_f16
 * the new K (after RoPE) and V rows are then rounded to F16. */
static void le_job_rope(void *arg, int ith, int nth) {
    struct le_fwd_job *j = arg;
    struct le_ctx *c = j->c;
    const struct le_model *m = c->m;
    int64_t hd = m->info.head_dim, Q = m->q_dim, KV = m->kv_dim, lo, hi;
    int64_t nq = j->n - j->r0, total = nq + j->n;
    le_pool_range(total, ith, nth, &lo, &hi);
    for (int64_t t = lo; t < hi; t++) {
        if (t < nq) {
            int64_t r = j->r0 + t;
            le_rope_row(c->q + r * Q, c->rope + (j->pos + r) * hd, m->info.n_heads, hd);
        } else {
            int64_t r = t - nq;
            le_rope_row(c->kbuf + r * KV, c->rope + (j->pos + r) * hd, m->info.n_kv_heads, hd);
            if (c->kv_f16) {
                le_round_f16(c->kbuf + r * KV, KV);
                le_round_f16(c->v_cache + ((int64_t)j->layer * c->n_ctx + j->pos + r) * KV, KV);
            }
        }
    }
}

/* The new K rows into the transposed cache: line (g, d) gets positions
 * pos .. pos+n-1 contiguously. */
static void le_job_kstore(void *arg, int ith, int nth) {
    struct le_fwd_job *j = arg;
    struct le_ctx *c = j->c;
    int64_t KV = c->m->kv_dim, T = c->n_ctx, lo, hi;
    le_pool_range(KV, ith, nth, &lo, &hi);
    float *kt = c->k_cache + (int64_t)j->layer * KV * T + j->pos;
    for (int64_t e = lo; e < hi; e++) /* e = g * hd + d */
        for (int64_t r = 0; r < j->n; r++)
            kt[e * T + r] = c->kbuf[r * KV + e];
}

/* One attention item: batch row r against cached positions 0 .. pos+r, for
 * the n_rep query heads sharing kv head g. Scores (scaled by 1/sqrt(hd)),
 * softmax (exp sum in double, as ggml_vec_soft_max_f32), then the
 * probability-weighted sum of V. */
static void le_attn_item(const struct le_fwd_job *j, int64_t r, int64_t g, float *s) {
    const struct le_ctx *c = j->c;
    const struct le_model *m = c->m;
    int hd = (int)m->info.head_dim;
    int64_t Q = m->q_dim, KV = m->kv_dim, n_rep = m->info.n_heads / m->info.n_kv_heads, T = c->n_ctx;
    int np = (int)(j->pos + r + 1);
    const float *kt = c->k_cache + ((int64_t)j->layer * KV + g * hd) * T;
    const float *vc = c->v_cache + (int64_t)j->layer * T * KV + g * hd;
    float scale = 1.0f / sqrtf((float)hd);
    for (int64_t h = 0; h < n_rep; h++) {
        const float *q = c->q + r * Q + (g * n_rep + h) * hd;
        float *out = c->att + r * Q + (g * n_rep + h) * hd;
        j->vk.scores(q, kt, T, hd, np, s);
        float mx = -INFINITY;
        for (int p = 0; p < np; p++) {
            s[p] *= scale;
            mx = s[p] > mx ? s[p] : mx;
        }
        double sum = 0.0;
        for (int p = 0; p < np; p++) {
            float e = expf(s[p] - mx);
            s[p] = e;
            sum += (double)e;
        }
        float inv = (float)(1.0 / sum);
        for (int p = 0; p < np; p++)
            s[p] *= inv;
        j->vk.pv(s, vc, KV, hd, np, out);
    }
}

static void le_job_attn(void *arg, int ith, int nth) {
    (void)nth;
    struct le_fwd_job *j = arg;
    const struct le_model *m = j->c->m;
    int64_t n_kv = m->info.n_kv_heads;
    int64_t items = (int64_t)(j->n - j->r0) * n_kv;
    float *sc = j->c->scores + (int64_t)ith * j->c->n_ctx; /* this worker's scores */
    /* Items in reverse row order: the longest (latest positions) first. */
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (it >= items)
            break;
        int64_t rr = it / n_kv, g = it % n_kv;
        le_attn_item(j, j->n - 1 - rr, g, sc);
    }
}

/* hg = silu(hg) * hu over rows [r0, n) (silu(x) = x / (1 + exp(-x))). */
static void le_job_swiglu(void *arg, int ith, int nth) {
    struct le_fwd_job *j = arg;
    struct le_ctx *c = j->c;
    int64_t F = c->m->info.ffn, lo, hi;
    le_pool_range(j->n - j->r0, ith, nth, &lo, &hi);
    for (int64_t r = j->r0 + lo; r < j->r0 + hi; r++) {
        float *g = c->hg + r * F;
        const float *u = c->hu + r * F;
        for (int64_t i = 0; i < F; i++)
            g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

static int le_fwd_matmul(struct le_ctx *c, const struct le_wmat *w, const float *X, int64_t N, float *Y) {
    int rc = le_matmul(c->pool, w->data, w->type, w->rows, w->cols, X, N, Y, c->mm_scratch);
    if (rc)
        return le_err_wrap(rc, "matmul %s", w->name);
    return LE_OK;
}

static void le_fwd_embed(struct le_ctx *c, const int32_t *tokens, int n) {
    const struct le_model *m = c->m;
    const struct le_type_traits *tt = le_type_get(m->embd.type);
    size_t row_bytes = le_type_row_size(m->embd.type, m->info.dim);
    for (int i = 0; i < n; i++)
        tt->to_float((const char *)m->embd.data + (size_t)tokens[i] * row_bytes, c->x + (int64_t)i * m->info.dim,
                     m->info.dim);
}

/* One layer on rows [0, n) for the KV cache and rows [r0, n) beyond it.
 * On entry xn holds rmsnorm(x) * attn_norm; on exit (r0 < n) xn holds the
 * next norm (next_w) of the updated x. */
static int le_fwd_layer(struct le_ctx *c, struct le_fwd_job *j, int il, int n, int pos, int r0,
                        const float *next_w) {
    const struct le_model *m = c->m;
    const struct le_layer *L = &m->layers[il];
    int64_t D = m->info.dim, Q = m->q_dim, KV = m->kv_dim, F = m->info.ffn;
    int64_t base = ((int64_t)il * c->n_ctx + pos) * KV;
    int64_t nr = n - r0;
    int rc;
    if ((rc = le_fwd_matmul(c, &L->wk, c->xn, n, c->kbuf)) ||
        (rc = le_fwd_matmul(c, &L->wv, c->xn, n, c->v_cache + base)))
        return rc;
    if (nr > 0 && (rc = le_fwd_matmul(c, &L->wq, c->xn + r0 * D, nr, c->q + r0 * Q)))
        return rc;
    j->layer = il;
    j->r0 = r0;
    le_pool_run(c->pool, le_job_rope, j);
    le_pool_run(c->pool, le_job_kstore, j);
    if (nr == 0)
        return LE_OK;
    atomic_store(&j->next, 0);
    le_pool_run(c->pool, le_job_attn, j);
    if ((rc = le_fwd_matmul(c, &L->wo, c->att + r0 * Q, nr, c->xn + r0 * D)))
        return rc;
    j->delta = c->xn;
    j->norm_w = L->ffn_norm;
    le_pool_run(c->pool, le_job_add_norm, j);
    if ((rc = le_fwd_matmul(c, &L->wgate, c->xn + r0 * D, nr, c->hg + r0 * F)) ||
        (rc = le_fwd_matmul(c, &L->wup, c->xn + r0 * D, nr, c->hu + r0 * F)))
        return rc;
    le_pool_run(c->pool, le_job_swiglu, j);
    if ((rc = le_fwd_matmul(c, &L->wdown, c->hg + r0 * F, nr, c->xn + r0 * D)))
        return rc;
    j->delta = c->xn;
    j->norm_w = next_w;
    le_pool_run(c->pool, le_job_add_norm, j);
    return LE_OK;
}

int le_forward(struct le_ctx *c, const int32_t *tokens, int n, int pos, int first_out) {
    const struct le_model *m = c->m;
    int64_t D = m->info.dim, V = m->info.n_vocab;
    int nl = (int)m->info.n_layers;
    struct le_fwd_job j = {.c = c, .vk = le_fwd_kernels(), .n = n, .pos = pos, .r0 = 0};
    atomic_init(&j.next, 0);
    le_fwd_embed(c, tokens, n);
    j.delta = NULL;
    j.norm_w = m->layers[0].attn_norm;
    le_pool_run(c->pool, le_job_add_norm, &j);
    for (int il = 0; il < nl; il++) {
        int last = il == nl - 1;
        const float *next_w = last ? m->out_norm : m->layers[il + 1].attn_norm;
        int rc = le_fwd_layer(c, &j, il, n, pos, last ? first_out : 0, next_w);
        if (rc)
            return rc;
    }
    if (first_out < n) {
        int rc = le_fwd_matmul(c, &m->out, c->xn + (int64_t)first_out * D, n - first_out,
                               c->logits + (int64_t)first_out * V);
        if (rc)
            return rc;
    }
    return LE_OK;
}
