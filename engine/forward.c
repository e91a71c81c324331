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
 * attention by (row tile, kv head) items taken from an atomic counter (their
 * cost grows with the position), element-wise ops by rows. Nothing
 * allocates. The last layer skips everything but K/V for rows whose logits
 * are not wanted (le_ctx_eval_from).
 *
 * Memory: K is cached transposed per kv head (dim-major, positions
 * contiguous) so the score kernel reads 8 positions per vector; V is cached
 * position-major. Kernels: forward_kernels.c.
 *
 * Workload (pp512, one core): 110M model -- matmuls ~80% of the time,
 * attention ~12%; 15M model -- matmuls ~60%, attention ~20%.
 */
#include "model_int.h"

#include "le_err.h"   /* le_err_set */
#include "le_pool.h"  /* le_pool_run, le_pool_range */
#include "le_types.h" /* le_type_get, le_type_row_size, le_matmul, le_fp16 conversions */

#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* ---- one job description shared by the element-wise and attention ops ---- */

struct le_fwd_job {
    struct le_ctx *c;
    const struct le_fwd_kernels *k;
    int layer, n, pos, r0; /* rows [r0, n) of the batch at positions pos + row */
    const float *norm_w;   /* add_norm: the norm weight */
    const float *delta;    /* add_norm: added to x first, or NULL */
    atomic_int next;       /* attention: next item */
};

/* x[r] += delta[r]; xn[r] = rmsnorm(x[r]) * w over rows [r0, n), as ggml:
 * sum of float squares in double, mean and scale in float, y = (x * scale) * w. */
static void le_job_add_norm(void *arg, int ith, int nth) {
    struct le_fwd_job *j = arg;
    struct le_ctx *c = j->c;
    int64_t D = c->m->info.dim, lo, hi;
    le_pool_range(j->n - j->r0, ith, nth, &lo, &hi);
    for (int64_t r = j->r0 + lo; r < j->r0 + hi; r++)
        j->k->add_rmsnorm(c->x + r * D, j->delta ? j->delta + r * D : NULL, j->norm_w, c->xn + r * D, D,
                          c->m->info.eps);
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

/*
 * One attention item: kv head g and batch rows [ra, rb), i.e. the query
 * vectors (row, head) for the n_rep heads sharing g, in groups of 4 (rows
 * ascending). Scores run 4 queries at a time; the weighted sums over the
 * group's shortest causal length npc too, then each query finishes its own
 * positions [npc, np). Softmax per query (scaled by 1/sqrt(hd)).
 */
static void le_attn_item(const struct le_fwd_job *j, int64_t ra, int64_t rb, int64_t g, float *sbuf) {
    const struct le_ctx *c = j->c;
    const struct le_model *m = c->m;
    const struct le_fwd_kernels *k = j->k;
    int hd = (int)m->info.head_dim;
    int64_t Q = m->q_dim, KV = m->kv_dim, n_rep = m->info.n_heads / m->info.n_kv_heads, T = c->n_ctx;
    const float *kt = c->k_cache + ((int64_t)j->layer * KV + g * hd) * T;
    const float *vc = c->v_cache + (int64_t)j->layer * T * KV + g * hd;
    float scale = 1.0f / sqrtf((float)hd);
    int64_t nq = (rb - ra) * n_rep;
    for (int64_t q0 = 0; q0 < nq; q0 += 4) {
        int ng = nq - q0 < 4 ? (int)(nq - q0) : 4;
        const float *qv[4];
        float *s[4], *out[4];
        int np[4];
        for (int i = 0; i < 4; i++) {
            int64_t qi = q0 + (i < ng ? i : 0), r = ra + qi / n_rep, h = g * n_rep + qi % n_rep;
            qv[i] = c->q + r * Q + h * hd;
            out[i] = c->att + r * Q + h * hd;
            np[i] = (int)(j->pos + r + 1);
            s[i] = sbuf + (int64_t)i * T;
        }
        int npc = np[0];
        /* Scores of all 4 queries up to the longest np: positions past a
         * query's own np are valid cache entries of this batch, their scores
         * are simply not used (each score is its own chain). */
        if (ng == 4)
            k->scores4(qv, kt, T, hd, np[3], s);
        else
            for (int i = 0; i < ng; i++)
                k->scores(qv[i], kt, T, hd, np[i], s[i]);
        for (int i = 0; i < ng; i++)
            k->softmax(s[i], np[i], scale);
        if (ng == 4) {
            k->pv4((const float *const *)s, vc, KV, hd, npc, out);
        } else {
            for (int i = 0; i < ng; i++) {
                for (int d = 0; d < hd; d++)
                    out[i][d] = 0;
                k->pv(s[i], vc, KV, hd, npc, out[i]);
            }
        }
        for (int i = 0; i < ng; i++)
            k->pv(s[i] + npc, vc + (int64_t)npc * KV, KV, hd, np[i] - npc, out[i]);
    }
}

/* Items: (row tile, kv head), latest rows first (they are the longest);
 * a tile has enough rows for 4 query vectors. */
static void le_job_attn(void *arg, int ith, int nth) {
    (void)nth;
    struct le_fwd_job *j = arg;
    const struct le_model *m = j->c->m;
    int64_t n_kv = m->info.n_kv_heads, n_rep = m->info.n_heads / n_kv;
    int64_t rt = n_rep >= 4 ? 1 : 4 / n_rep, nr = j->n - j->r0;
    int64_t tiles = (nr + rt - 1) / rt, items = tiles * n_kv;
    float *sbuf = j->c->scores + (int64_t)ith * 4 * j->c->n_ctx; /* this worker's scores */
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (it >= items)
            break;
        int64_t t = it / n_kv, g = it % n_kv;
        int64_t rb = j->n - t * rt, ra = rb - rt < j->r0 ? j->r0 : rb - rt;
        le_attn_item(j, ra, rb, g, sbuf);
    }
}

/* hg = silu(hg) * hu over rows [r0, n) (silu(x) = x / (1 + exp(-x))). */
static void le_job_swiglu(void *arg, int ith, int nth) {
    struct le_fwd_job *j = arg;
    struct le_ctx *c = j->c;
    int64_t F = c->m->info.ffn, lo, hi;
    le_pool_range(j->n - j->r0, ith, nth, &lo, &hi);
    for (int64_t r = j->r0 + lo; r < j->r0 + hi; r++)
        j->k->swiglu(c->hg + r * F, c->hu + r * F, F);
}

static int le_fwd_matmul(struct le_ctx *c, const struct le_wmat *w, const float *X, int64_t N, float *Y) {
    int rc = le_matmul(c->pool, w->data, w->type, w->rows, w->cols, X, N, Y, c->mm_scratch);
    if (rc)
        return le_err_wrap(rc, "matmul %s", w->name);
    return LE_OK;
}

/* Several products of the same X (rows [0, N)): weights of one type share
 * one conversion of X and one work queue (le_matmul_multi). */
static int le_fwd_matmuls(struct le_ctx *c, const struct le_wmat *const *w, float *const *Y, int n,
                          const float *X, int64_t N) {
    for (int i = 0; i < n;) {
        struct le_matmul_out o[4];
        int k = 0;
        for (; i + k < n && k < 4 && w[i + k]->type == w[i]->type && w[i + k]->cols == w[i]->cols; k++)
            o[k] = (struct le_matmul_out){.W = w[i + k]->data, .rows = w[i + k]->rows, .Y = Y[i + k]};
        int rc = le_matmul_multi(c->pool, w[i]->type, w[i]->cols, X, N, o, k, c->mm_scratch);
        if (rc)
            return le_err_wrap(rc, "matmul %s", w[i]->name);
        i += k;
    }
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
    {
        const struct le_wmat *w[3] = {&L->wk, &L->wv, &L->wq};
        float *Y[3] = {c->kbuf, c->v_cache + base, c->q};
        /* q joins k and v when all rows need it (not in a last layer that
         * only wants some rows' logits) */
        if ((rc = le_fwd_matmuls(c, w, Y, r0 == 0 ? 3 : 2, c->xn, n)))
            return rc;
        if (r0 > 0 && nr > 0 && (rc = le_fwd_matmul(c, &L->wq, c->xn + r0 * D, nr, c->q + r0 * Q)))
            return rc;
    }
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
    {
        const struct le_wmat *w[2] = {&L->wgate, &L->wup};
        float *Y[2] = {c->hg + r0 * F, c->hu + r0 * F};
        if ((rc = le_fwd_matmuls(c, w, Y, 2, c->xn + r0 * D, nr)))
            return rc;
    }
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
    struct le_fwd_job j = {.c = c, .k = c->kern, .n = n, .pos = pos, .r0 = 0};
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
