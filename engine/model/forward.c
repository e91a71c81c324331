/*
 * forward: the LLaMA forward pass over a batch of n tokens at positions
 * pos .. pos+n-1 with a float32 KV cache, numerically as llama.cpp's CPU
 * backend with an F32 KV cache and flash attention off:
 *
 *   x = token_embd[tok]                        (dequantized row)
 *   per layer: xn = rmsnorm(x) * attn_norm     (sum of squares in double)
 *              q, k, v = Wq xn, Wk xn, Wv xn   (matmul: activations rounded
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
 * count and any batching. Nothing allocates. The last layer skips
 * everything but K/V for rows whose logits are not wanted (le_ctx_eval_from).
 *
 * Threads: the whole pass is ONE le_pool_run; its workers form a team
 * (team.c) that runs the phases below, taking work items from a shared
 * counter and meeting at a barrier after each phase. Per layer:
 *   1. [norm of x, fused into the conversion of its rows] q/k/v matmul
 *      (one conversion of xn, one work queue for the three weights)
 *   2. RoPE of k, K/V into the cache          (items: kv head x 16 positions)
 *   3. RoPE of q, attention                   (items: 32 queries x kv head,
 *                                              latest -- longest -- first)
 *   4. Wo matmul
 *   5. [norm] gate/up matmul                  (shared conversion)
 *   6. [SwiGLU] down matmul
 * The norm after the last layer is fused into the output matmul; the
 * embedding into the first layer's norm.
 *
 * Single-token decode (n = 1, logits wanted: le_fwd_decode) has its own
 * member loop with 5 barriers per layer instead of 9: each member keeps a
 * private copy of the residual stream and computes the norms, SwiGLU and
 * the activations' conversion itself (a few thousand floats: cheaper than a
 * meeting), phase 2 is folded into 3 (an attention item puts its kv head's
 * K/V first), and each matmul splits its rows into one contiguous range
 * per member (le_matmul_team_own) so every thread streams its own weights.
 * The phases: q/k/v | K/V + attention | Wo | gate/up | down. Batched
 * decode folds phase 2 into 3 the same way.
 *
 * Batched decode (le_forward_rows, le_ctx_decode_batch): the n rows are
 * one token each of n sequences, each with its own context's cache and
 * position; the matmuls are the same (each weight read once for all rows),
 * K/V items are (kv head, row) into the row's cache, attention items one
 * row each over its own cache. A row's arithmetic is the same sequence as
 * when its sequence is decoded alone, so its logits are bit-identical.
 *
 * Memory: K is cached per kv head in blocks of 16 positions, each block
 * dim-major, so the score kernels read one contiguous stream; V per kv head,
 * position-major (model_int.h). Kernels: forward_kernels.c (attention over
 * the cache) and engine/ops (RMSNorm, RoPE, softmax, SwiGLU: the functions
 * training runs too). The element-wise ops are fusion hooks (LE_FUSE_*) the
 * matmul driver runs on each activation row as it converts it, so le_fwd_layer
 * reads as the op list and fusing costs no extra pass over memory.
 *
 * Workload (pp512, one core): 110M model -- matmuls ~88% of the time,
 * attention ~7%; 15M model -- matmuls 65-77% (Q4_0 .. F32), attention
 * (RoPE of q, scores, softmax, weighted sums) 16-24%; the scores and sums
 * run near the FMA peak, the rest is the exp of the softmax and the first
 * touch of q.
 */
#include "model_int.h"

#include "le_err.h"     /* le_err_wrap */
#include "le_kernels.h" /* teams, le_matmul_team */
#include "le_pool.h"    /* le_pool_run, le_pool_nthreads */
#include "le_types.h"   /* le_type_get, le_type_row_size, le_fp16 conversions */

#include <math.h>
#include <string.h>

/* Each member's own view of the pass (shared fields copied, so that the
 * per-layer ones are never written while another member reads them). */
struct le_fwd_job {
    struct le_ctx *c;
    const struct le_fwd_kernels *k; /* attention kernels; k->ops the shared ops */
    const int32_t *tokens;
    int n, pos, first_out;
    int layer, r0; /* the current layer; rows [r0, n) need more than K/V */
    /* Batched decode (le_forward_rows): row r is one token of its own
     * sequence, whose K/V live in rows_c[r]'s cache, at position rpos[r];
     * NULL: rows are positions pos + r of c's one sequence. */
    struct le_ctx *const *rows_c;
    const int *rpos;
};

/* Row r's position and the context whose cache holds its sequence. */
static int64_t le_row_pos(const struct le_fwd_job *j, int64_t r) {
    return j->rows_c ? j->rpos[r] : j->pos + r;
}
static const struct le_ctx *le_row_ctx(const struct le_fwd_job *j, int64_t r) {
    return j->rows_c ? j->rows_c[r] : j->c;
}

/* The pass as given to the pool. */
struct le_fwd_shared {
    struct le_fwd_job in; /* layer, r0 unused */
    struct le_team team;
    int rc; /* member 0's result */
};

/*
 * Fusion hooks: the element-wise op that produces a matmul's input, run on
 * each activation row by the matmul driver as it converts the row to the
 * weight's activation type (the row is in L1 then, and no extra phase or
 * barrier is needed):
 *   EMBED_NORM  x = token_embd[tok]; xn = rmsnorm(x) * w      (layer 0)
 *   ADD_NORM    x += xn (the previous residual branch); xn = rmsnorm(x) * w
 *   SWIGLU      hg = silu(hg) * hu
 */
enum le_fwd_fuse { LE_FUSE_EMBED_NORM, LE_FUSE_ADD_NORM, LE_FUSE_SWIGLU };

/* A hook on activation rows [r0 + a, r0 + b). */
struct le_fwd_hook {
    const struct le_fwd_job *j;
    enum le_fwd_fuse op;
    int64_t r0;
    const float *w; /* the norm's weight */
};

static void le_fwd_hook_rows(void *arg, int64_t a, int64_t b) {
    const struct le_fwd_hook *h = arg;
    const struct le_ctx *c = h->j->c;
    const struct le_model *m = c->m;
    const struct le_ops *ops = h->j->k->ops;
    int64_t D = m->info.dim, F = m->info.ffn;
    for (int64_t r = h->r0 + a; r < h->r0 + b; r++) {
        switch (h->op) {
        case LE_FUSE_SWIGLU:
            ops->swiglu(c->hg + r * F, c->hg + r * F, c->hu + r * F, F);
            break;
        case LE_FUSE_EMBED_NORM: {
            const struct le_type_traits *tt = le_type_get(m->embd.type);
            size_t rb = le_type_row_size(m->embd.type, D);
            tt->to_float((const char *)m->embd.data + (size_t)h->j->tokens[r] * rb, c->x + r * D, D);
            ops->add_rmsnorm(c->x + r * D, NULL, h->w, c->xn + r * D, D, m->info.eps);
            break;
        }
        case LE_FUSE_ADD_NORM:
            ops->add_rmsnorm(c->x + r * D, c->xn + r * D, h->w, c->xn + r * D, D, m->info.eps);
            break;
        }
    }
}

/* Products of the same X (N rows) by the team: weights of one type share
 * one conversion and one work queue; the hook (may be NULL) runs once per
 * row, with the first group. */
static int le_fwd_mm(struct le_member *me, struct le_ctx *c, const struct le_wmat *const *w, float *const *Y,
                     int n, const float *X, int64_t N, struct le_fwd_hook *hook) {
    for (int i = 0; i < n;) {
        struct le_matmul_out o[4];
        int k = 0;
        for (; i + k < n && k < 4 && w[i + k]->type == w[i]->type && w[i + k]->cols == w[i]->cols; k++)
            o[k] = (struct le_matmul_out){.W = w[i + k]->data, .rows = w[i + k]->rows, .Y = Y[i + k]};
        int rc = le_matmul_team(me, w[i]->type, w[i]->cols, X, N, o, k, c->mm_scratch,
                                i == 0 && hook ? le_fwd_hook_rows : NULL, hook);
        if (rc)
            return le_err_wrap(rc, "matmul %s", w[i]->name);
        i += k;
    }
    return LE_OK;
}

static void le_round_f16(float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        v[i] = le_fp16_to_fp32(le_fp32_to_fp16(v[i]));
}

/* Phase 2. Items: (kv head g, 16-position block of the cache): RoPE of the
 * new k rows' head g, with kv_f16 the rounding of k and v to F16, then V
 * rows copied whole and K transposed within its block (which stays in L1).
 * (q gets its RoPE in the attention item that owns it, while in L1.) */
/* One row's K and V of kv head g into its own sequence's cache. */
/* Position p's K (RoPE'd, rounded like the cache) and V rows of kv head g
 * into cc's caches: V row-major, K transposed in blocks of LE_KBLK
 * positions. c supplies the RoPE table and the cache precision. */
static void le_fwd_kv_put(const struct le_fwd_job *j, const struct le_ctx *cc, int64_t g, int64_t p, float *kr,
                          float *vr) {
    const struct le_ctx *c = j->c;
    int64_t hd = c->m->info.head_dim, n_kv = c->m->info.n_kv_heads;
    float *kb = cc->k_cache + (((int64_t)j->layer * n_kv + g) * cc->n_ctx16 + p / LE_KBLK * LE_KBLK) * hd;
    float *vc = cc->v_cache + ((int64_t)j->layer * n_kv + g) * cc->n_ctx * hd;
    j->k->ops->rope(kr, c->rope + p * hd, 1, hd);
    if (c->kv_f16) {
        le_round_f16(kr, hd);
        le_round_f16(vr, hd);
    }
    memcpy(vc + p * hd, vr, (size_t)hd * sizeof(float));
    for (int64_t d = 0; d < hd; d++)
        kb[d * LE_KBLK + p % LE_KBLK] = kr[d];
}

static void le_fwd_kv_row(const struct le_fwd_job *j, int64_t r, int64_t g) {
    const struct le_ctx *c = j->c;
    int64_t KV = c->m->kv_dim, hd = c->m->info.head_dim;
    le_fwd_kv_put(j, le_row_ctx(j, r), g, le_row_pos(j, r), c->kbuf + r * KV + g * hd, c->vbuf + r * KV + g * hd);
}

/* Decode (one token per sequence, every row past the cache): each
 * attention item (one row, one kv head) puts that row's K/V of the head
 * into its cache first, so no phase and no barrier of its own (phase 2
 * folded into 3). The values are the same: an item reads only its own
 * sequence's cache, whose new row it has just written. */
static int le_fwd_kv_fused(const struct le_fwd_job *j) {
    return j->r0 == 0 && (j->rows_c || j->n == 1);
}

static void le_fwd_rope_kv(struct le_member *me, const struct le_fwd_job *j) {
    struct le_ctx *c = j->c;
    if (j->rows_c) { /* batched decode: items (kv head, row) */
        int64_t n_kv = c->m->info.n_kv_heads, it;
        while ((it = le_team_take(me, n_kv * j->n)) >= 0)
            le_fwd_kv_row(j, it % j->n, it / j->n);
        le_team_barrier(me);
        return;
    }
    const struct le_model *m = c->m;
    int64_t KV = m->kv_dim, hd = m->info.head_dim, n_kv = m->info.n_kv_heads;
    int64_t pos = j->pos, end = pos + j->n;
    int64_t pb0 = pos / LE_KBLK, npb = (end + LE_KBLK - 1) / LE_KBLK - pb0;
    int64_t it;
    while ((it = le_team_take(me, n_kv * npb)) >= 0) {
        int64_t g = it / npb, pb = pb0 + it % npb;
        int64_t p0 = pb * LE_KBLK > pos ? pb * LE_KBLK : pos;
        int64_t p1 = pb * LE_KBLK + LE_KBLK < end ? pb * LE_KBLK + LE_KBLK : end;
        for (int64_t p = p0; p < p1; p++)
            le_fwd_kv_put(j, c, g, p, c->kbuf + (p - pos) * KV + g * hd, c->vbuf + (p - pos) * KV + g * hd);
    }
    le_team_barrier(me);
}

/*
 * One attention item: kv head g and query vectors [i0, i1) of the rows
 * [r0, n) x the n_rep heads sharing g, flattened row-major (query i is row
 * r0 + i / n_rep, head g * n_rep + i % n_rep), so causal lengths np ascend
 * with i. Blocked so that K and V stream from memory once per item, not
 * once per 4 queries: scores for chunks of positions x all queries in
 * groups of 6 (or 4); softmax per query (scaled by 1/sqrt(hd)); the weighted sums
 * for chunks of positions x all groups over each group's shortest length,
 * then each query finishes its own positions. Every score and output
 * element is one chain in a fixed order (d, resp. position, ascending), so
 * no value depends on the blocking.
 */
static void le_attn_item(const struct le_fwd_job *j, int64_t i0, int64_t i1, int64_t g, float *sbuf) {
    const struct le_ctx *c = j->c;
    const struct le_model *m = c->m;
    const struct le_fwd_kernels *k = j->k;
    int hd = (int)m->info.head_dim;
    int64_t Q = m->q_dim, n_kv = m->info.n_kv_heads, n_rep = m->info.n_heads / n_kv, T16 = c->n_ctx16;
    /* one cache for the item: rows of one sequence, or (batched decode)
     * the item's one row */
    const struct le_ctx *cc = le_row_ctx(j, j->r0 + i0 / n_rep);
    const float *kb = cc->k_cache + ((int64_t)j->layer * n_kv + g) * cc->n_ctx16 * hd;
    const float *vc = cc->v_cache + ((int64_t)j->layer * n_kv + g) * cc->n_ctx * hd;
    float scale = 1.0f / sqrtf((float)hd);
    int nq = (int)(i1 - i0);
    const float *qv[LE_ATT_QB];
    float *s[LE_ATT_QB], *out[LE_ATT_QB];
    int np[LE_ATT_QB];
    for (int i = 0; i < nq; i++) {
        int64_t r = j->r0 + (i0 + i) / n_rep, h = g * n_rep + (i0 + i) % n_rep;
        qv[i] = c->q + r * Q + h * hd;
        out[i] = c->att + r * Q + h * hd;
        np[i] = (int)(le_row_pos(j, r) + 1);
        s[i] = sbuf + (int64_t)i * T16;
        k->ops->rope(c->q + r * Q + h * hd, c->rope + le_row_pos(j, r) * hd, 1, hd); /* each q vector has one item */
    }
    /* positions per chunk: a chunk of K or V (~16 KB) stays in L1 while
     * every group passes over it */
    int cb = hd >= 256 ? 1 : 256 / hd, cp = cb * LE_KBLK;
    int npmax = np[nq - 1], nblk = (npmax + LE_KBLK - 1) / LE_KBLK;
    for (int b0 = 0; b0 < nblk; b0 += cb) {
        for (int q0 = 0, ng; q0 < nq; q0 += ng) {
            int rem = nq - q0; /* groups of 6, ending in 4s where that avoids single queries */
            ng = rem == 8 || rem < LE_SCORES_Q ? (rem < 4 ? rem : 4) : LE_SCORES_Q;
            /* blocks up to the group's own longest length */
            int gblk = (np[q0 + ng - 1] + LE_KBLK - 1) / LE_KBLK, nb = gblk - b0 < cb ? gblk - b0 : cb;
            if (nb <= 0)
                continue;
            float *sg[LE_SCORES_Q];
            for (int i = 0; i < ng; i++)
                sg[i] = s[q0 + i] + b0 * LE_KBLK;
            k->scores(qv + q0, ng, kb + (int64_t)b0 * LE_KBLK * hd, hd, nb, sg);
        }
    }
    for (int i = 0; i < nq; i++) {
        k->ops->softmax(s[i], np[i], scale);
        memset(out[i], 0, (size_t)hd * sizeof(float));
    }
    /* groups for the weighted sums: 6 (or 4) queries, each group over its
     * shortest length npc, then every query finishes alone */
    int gs[LE_ATT_QB]; /* first query of each query's group */
    for (int q0 = 0, ng; q0 < nq; q0 += ng) {
        int rem = nq - q0;
        ng = rem == 8 || rem < LE_SCORES_Q ? (rem < 4 ? rem : 4) : LE_SCORES_Q;
        for (int i = 0; i < ng; i++)
            gs[q0 + i] = q0;
    }
    for (int p0 = 0; p0 < npmax; p0 += cp) {
        for (int q0 = 0, ng; q0 < nq; q0 += ng) {
            for (ng = 1; q0 + ng < nq && gs[q0 + ng] == q0; ng++)
                ;
            int npc = np[q0], p1 = p0 + cp < npc ? p0 + cp : npc; /* npc: the group's shortest */
            if (p1 <= p0)
                continue;
            const float *pg[LE_SCORES_Q];
            for (int i = 0; i < ng; i++)
                pg[i] = s[q0 + i] + p0;
            k->pv(pg, ng, vc + (int64_t)p0 * hd, hd, hd, p1 - p0, out + q0);
        }
    }
    for (int i = 0; i < nq; i++) {
        int npc = np[gs[i]];
        if (np[i] > npc) {
            const float *pi[1] = {s[i] + npc};
            k->pv(pi, 1, vc + (int64_t)npc * hd, hd, hd, np[i] - npc, out + i);
        }
    }
}

/* Phase 3. Items: (tile of up to LE_ATT_QB query vectors, kv head), latest
 * rows first (they are the longest); small batches get smaller tiles so
 * that every member has a few items. */
static void le_fwd_attn(struct le_member *me, const struct le_fwd_job *j) {
    const struct le_ctx *c = j->c;
    int64_t n_kv = c->m->info.n_kv_heads, n_rep = c->m->info.n_heads / n_kv;
    int64_t total = (j->n - j->r0) * n_rep, qb = LE_ATT_QB, it;
    while (qb > 4 && (total + qb - 1) / qb * n_kv < 4 * me->t->nth)
        qb /= 2;
    int fuse = le_fwd_kv_fused(j);
    if (fuse) /* decode: one row (sequence) per item, its K/V put first */
        qb = n_rep;
    int64_t tiles = (total + qb - 1) / qb;
    float *sbuf = c->scores + (int64_t)me->ith * LE_ATT_QB * c->n_ctx16; /* this worker's scores */
    while ((it = le_team_take(me, tiles * n_kv)) >= 0) {
        int64_t t = it / n_kv, g = it % n_kv;
        int64_t i1 = total - t * qb, i0 = i1 - qb < 0 ? 0 : i1 - qb;
        if (fuse)
            le_fwd_kv_row(j, j->r0 + i0 / n_rep, g);
        le_attn_item(j, i0, i1, g, sbuf);
    }
    le_team_barrier(me);
}

/* One matmul of the op list: Y_i = X W_i^T for up to three weights sharing
 * X (rows [r0, n) of its buffer), with an optional fusion hook. */
#define LE_MM(me, j, X, r0, hook, ...)                                                                       \
    le_fwd_mm_list(me, j, X, r0, hook, (const struct le_fwd_w[]){__VA_ARGS__},                            \
                   (int)(sizeof((const struct le_fwd_w[]){__VA_ARGS__}) / sizeof(struct le_fwd_w)))

/* A weight and its output rows (from row r0). */
struct le_fwd_w {
    const struct le_wmat *w;
    float *Y;
    int64_t ldy; /* floats per output row */
};

static int le_fwd_mm_list(struct le_member *me, const struct le_fwd_job *j, float *X, int64_t r0,
                          struct le_fwd_hook *hook, const struct le_fwd_w *ws, int n) {
    const struct le_wmat *w[3];
    float *Y[3];
    for (int i = 0; i < n; i++)
        w[i] = ws[i].w, Y[i] = ws[i].Y + r0 * ws[i].ldy;
    int64_t K = ws[0].w->cols;
    return le_fwd_mm(me, j->c, w, Y, n, X + r0 * K, j->n - r0, hook);
}

/* Layer il: rows [0, n) for the KV cache and rows [r0, n) beyond it. On
 * entry x holds the residual stream after the previous layer (or nothing:
 * the embedding comes with the norm) and xn its delta; on exit (r0 < n)
 * x + xn is this layer's output. The op list (train.c's forward is the
 * same list, unfused):
 *   [embed +] add + attn_norm  ->  k, v (, q) = xn W^T      (hook)
 *   RoPE(k), K/V into the cache
 *   RoPE(q), attention
 *   xn = att Wo^T
 *   add + ffn_norm             ->  hg, hu = xn Wgate^T, xn Wup^T   (hook)
 *   SwiGLU                     ->  xn = hg Wdown^T                 (hook) */
static int le_fwd_layer(struct le_member *me, struct le_fwd_job *j, int il, int r0) {
    struct le_ctx *c = j->c;
    const struct le_layer *L = &c->m->layers[il];
    int64_t D = c->m->info.dim, Q = c->m->q_dim, KV = c->m->kv_dim, F = c->m->info.ffn;
    int rc;
    j->layer = il; /* this member's view */
    j->r0 = r0;
    struct le_fwd_hook attn_norm = {.j = j, .op = il == 0 ? LE_FUSE_EMBED_NORM : LE_FUSE_ADD_NORM, .w = L->attn_norm};
    struct le_fwd_hook ffn_norm = {.j = j, .op = LE_FUSE_ADD_NORM, .r0 = r0, .w = L->ffn_norm};
    struct le_fwd_hook swiglu = {.j = j, .op = LE_FUSE_SWIGLU, .r0 = r0};
    /* q joins k and v when all rows need it (not in a last layer that only
     * wants some rows' logits) */
    if (r0 == 0)
        rc = LE_MM(me, j, c->xn, 0, &attn_norm, {&L->wk, c->kbuf, KV}, {&L->wv, c->vbuf, KV}, {&L->wq, c->q, Q});
    else
        rc = LE_MM(me, j, c->xn, 0, &attn_norm, {&L->wk, c->kbuf, KV}, {&L->wv, c->vbuf, KV});
    if (rc || (r0 > 0 && r0 < j->n && (rc = LE_MM(me, j, c->xn, r0, NULL, {&L->wq, c->q, Q}))))
        return rc;
    if (!le_fwd_kv_fused(j))
        le_fwd_rope_kv(me, j);
    if (r0 == j->n)
        return LE_OK;
    le_fwd_attn(me, j);
    if ((rc = LE_MM(me, j, c->att, r0, NULL, {&L->wo, c->xn, D})) ||
        (rc = LE_MM(me, j, c->xn, r0, &ffn_norm, {&L->wgate, c->hg, F}, {&L->wup, c->hu, F})) ||
        (rc = LE_MM(me, j, c->hg, r0, &swiglu, {&L->wdown, c->xn, D})))
        return rc;
    return LE_OK;
}

/* le_fwd_mm with every member converting X into its own scratch
 * (le_matmul_team_own): no barrier before each group's gemm. */
static int le_fwd_mm_own(struct le_member *me, const struct le_wmat *const *w, float *const *Y, int n, const float *X,
                         void *scratch) {
    for (int i = 0; i < n;) {
        struct le_matmul_out o[4];
        int k = 0;
        for (; i + k < n && k < 4 && w[i + k]->type == w[i]->type && w[i + k]->cols == w[i]->cols; k++)
            o[k] = (struct le_matmul_out){.W = w[i + k]->data, .rows = w[i + k]->rows, .Y = Y[i + k]};
        int rc = le_matmul_team_own(me, w[i]->type, w[i]->cols, X, 1, o, k, scratch);
        if (rc)
            return le_err_wrap(rc, "matmul %s", w[i]->name);
        i += k;
    }
    return LE_OK;
}

/*
 * Single-token decode (one row, logits wanted): the pass with 5 barriers
 * per layer instead of 9. Every member keeps its own copy of the residual
 * stream and computes the element-wise ops that feed a matmul (embedding,
 * add + RMSNorm, SwiGLU) and the activations' conversion itself, into its
 * own buffers (c->priv), so only the matmuls and attention are shared
 * phases: q/k/v | K/V put + attention | Wo | gate/up | down. Each op is
 * the same function on the same values as in le_fwd_layer's hooks (one row
 * there too), so the logits are bit-identical to the general path's, for
 * any thread count. c->x is not written.
 */
static int le_fwd_decode(struct le_member *me, struct le_fwd_job *j) {
    struct le_ctx *c = j->c;
    const struct le_model *m = c->m;
    const struct le_ops *ops = j->k->ops;
    int64_t D = m->info.dim, F = m->info.ffn, DF = D > F ? D : F;
    float eps = m->info.eps;
    float *px = c->priv + me->ith * c->priv_stride, *pxn = px + (D + 15) / 16 * 16;
    void *pa = pxn + (DF + 15) / 16 * 16;
    const struct le_type_traits *tt = le_type_get(m->embd.type);
    tt->to_float((const char *)m->embd.data + (size_t)j->tokens[0] * le_type_row_size(m->embd.type, D), px, D);
    int rc = LE_OK;
    for (int il = 0; il < (int)m->info.n_layers && !rc; il++) {
        const struct le_layer *L = &m->layers[il];
        j->layer = il;
        j->r0 = 0;
        ops->add_rmsnorm(px, il == 0 ? NULL : c->xn, L->attn_norm, pxn, D, eps);
        const struct le_wmat *wqkv[3] = {&L->wk, &L->wv, &L->wq}, *wo[1] = {&L->wo}, *wgu[2] = {&L->wgate, &L->wup},
                             *wd[1] = {&L->wdown};
        float *yqkv[3] = {c->kbuf, c->vbuf, c->q}, *yo[1] = {c->xn}, *ygu[2] = {c->hg, c->hu};
        if ((rc = le_fwd_mm_own(me, wqkv, yqkv, 3, pxn, pa)))
            break;
        le_fwd_attn(me, j);
        if ((rc = le_fwd_mm_own(me, wo, yo, 1, c->att, pa)))
            break;
        ops->add_rmsnorm(px, c->xn, L->ffn_norm, pxn, D, eps);
        if ((rc = le_fwd_mm_own(me, wgu, ygu, 2, pxn, pa)))
            break;
        ops->swiglu(pxn, c->hg, c->hu, F);
        rc = le_fwd_mm_own(me, wd, yo, 1, pxn, pa);
    }
    if (!rc) { /* add + output_norm -> logits */
        const struct le_wmat *wout[1] = {&m->out};
        float *ylog[1] = {c->logits};
        ops->add_rmsnorm(px, c->xn, m->out_norm, pxn, D, eps);
        rc = le_fwd_mm_own(me, wout, ylog, 1, pxn, pa);
    }
    return rc;
}

static void le_fwd_member(void *arg, int ith, int nth) {
    (void)nth;
    struct le_fwd_shared *sh = arg;
    struct le_fwd_job jl = sh->in, *j = &jl;
    struct le_ctx *c = j->c;
    const struct le_model *m = c->m;
    struct le_member me = {.t = &sh->team, .ith = ith, .base = 0};
    int nl = (int)m->info.n_layers, rc = LE_OK;
    if (j->n == 1 && !j->rows_c && j->first_out == 0) {
        rc = le_fwd_decode(&me, j);
        if (ith == 0)
            sh->rc = rc;
        return;
    }
    for (int il = 0; il < nl && !rc; il++)
        rc = le_fwd_layer(&me, j, il, il == nl - 1 ? j->first_out : 0);
    if (!rc && j->first_out < j->n) { /* add + output_norm -> logits = xn Wout^T */
        struct le_fwd_hook out_norm = {.j = j, .op = LE_FUSE_ADD_NORM, .r0 = j->first_out, .w = m->out_norm};
        rc = LE_MM(&me, j, c->xn, j->first_out, &out_norm, {&m->out, c->logits, m->info.n_vocab});
    }
    if (ith == 0)
        sh->rc = rc;
}

int le_forward_rows(struct le_ctx *c, const int32_t *tokens, int n, struct le_ctx *const *rows_c,
                    const int *rpos) {
    struct le_fwd_shared sh = {
        .in = {.c = c, .k = &c->kern, .tokens = tokens, .n = n, .rows_c = rows_c, .rpos = rpos}};
    le_team_init(&sh.team, le_pool_nthreads(c->pool));
    le_pool_run(c->pool, le_fwd_member, &sh);
    return sh.rc;
}

int le_forward(struct le_ctx *c, const int32_t *tokens, int n, int pos, int first_out) {
    struct le_fwd_shared sh = {
        .in = {.c = c, .k = &c->kern, .tokens = tokens, .n = n, .pos = pos, .first_out = first_out}};
    le_team_init(&sh.team, le_pool_nthreads(c->pool));
    le_pool_run(c->pool, le_fwd_member, &sh);
    return sh.rc;
}
