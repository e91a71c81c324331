/*
 * gptq_model: GPTQ of a whole LLaMA file (le_gptq_quantize, see le_gptq.h),
 * sequential over the layers as GPTQ-for-LLaMa's llama_sequential.
 *
 * The calibration windows' residual stream X (windows x ctx x dim) starts
 * as their token embeddings (token_embd as it will be stored: its planned
 * type's round trip) and is carried from layer to layer. Per layer, with
 * true-sequential (the default, GPTQ-for-LLaMa's --true-sequential) four
 * groups are quantized in turn: q/k/v (input: the attention norm's output,
 * one H for the three), attn_output (input: attention), ffn_gate/up (input:
 * the FFN norm's output, one H), ffn_down (input: SwiGLU); each group's H
 * comes from running the block on every window with the groups before it
 * already quantized, stopping at the group's input. Without it, all four
 * H come from one pass with the original weights. Then the block runs once
 * more with all its weights as stored and its output becomes the next
 * layer's input.
 *
 * The block forward reuses the engine's own pieces: le_matmul (the
 * inference matmul driver, so quantized weights round their activations as
 * at inference) and the training ops of engine/train (RMSNorm, RoPE,
 * causal attention with GQA, SwiGLU) on one window at a time. H = (2 / n)
 * sum X^T X over the n windows: each window's X^T X is a float GEMM over
 * its ctx rows (le_tg_gemm), added into a double accumulator in window
 * order. Nothing depends on the thread count.
 *
 * Writing goes through le_quantize (the preset's plan and round-to-nearest
 * for the other tensors, its order and atomic write), which takes the GPTQ
 * matrices' bytes from this file through its supply hook.
 */
#include "le_gptq.h"

#include "le_err.h"
#include "le_gguf.h"
#include "le_model.h"
#include "le_ops.h" /* le_ops_rope_table */
#include "le_pool.h"
#include "train_ops.h"
#include "le_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LE_GM_Q, LE_GM_K, LE_GM_V, LE_GM_O, LE_GM_GATE, LE_GM_UP, LE_GM_DOWN, LE_GM_N };
static const char *const le_gm_names[LE_GM_N] = {"attn_q", "attn_k", "attn_v", "attn_output",
                                                 "ffn_gate", "ffn_up", "ffn_down"};
static const int le_gm_site[LE_GM_N] = {0, 0, 0, 1, 2, 2, 3};

/* One matrix as the block forward uses it. */
struct le_gm_w {
    const void *data;
    int type;
    int64_t rows, cols;
};

/* A matrix of some layer: its source tensor and what it becomes. */
struct le_gm_mat {
    char name[64];
    const struct le_gguf_tensor *src;
    int out_type; /* planned (the GPTQ type when gptq) */
    int gptq;     /* 1: quantized here, bytes in data */
    void *data;   /* GPTQ's bytes, or the round-to-nearest bytes the block uses (owned) */
};

struct le_gm {
    const struct le_gptq_params *p;
    struct le_model *m;
    const struct le_gguf *g;
    struct le_pool *pool;
    int type, ftype, n_gptq;
    int64_t D, Q, KV, F, H, G, hd, T, L;
    float eps;
    struct le_gm_mat *mats; /* L x LE_GM_N */
    float *x;               /* n_windows x T x D */
    /* block scratch (one window) */
    float *xn, *q, *k, *v, *att, *y, *h, *hn, *gate, *up, *act, *rstd, *pr, *attn_scr, *cs, *norm_a, *norm_f;
    void *mm;
    size_t mm_size;
    /* Hessians: per site (dims D, Q, D, F), double, and the float GEMM's */
    double *Hd[4];
    float *xtx;
};

static float *le_gm_falloc(size_t n, int *bad) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    float *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p)
        *bad = 1;
    return p;
}

static void le_gm_free(struct le_gm *s) {
    if (s->mats)
        for (int64_t i = 0; i < s->L * LE_GM_N; i++)
            free(s->mats[i].data);
    free(s->mats), free(s->x);
    float *f[] = {s->xn, s->q, s->k, s->v, s->att, s->y, s->h, s->hn, s->gate, s->up, s->act, s->rstd, s->pr,
                  s->attn_scr, s->cs, s->norm_a, s->norm_f, s->xtx};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        free(f[i]);
    for (int i = 0; i < 4; i++)
        free(s->Hd[i]);
    free(s->mm);
    le_pool_free(s->pool);
    le_model_free(s->m);
}

/* rows x cols of tensor t in type `to` (malloc'ed), converting as le_quantize does. */
static int le_gm_convert(const struct le_gguf_tensor *t, int to, void **out) {
    int64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    const struct le_type_traits *src = le_type_get(t->type), *dst = le_type_get(to);
    size_t irb = le_type_row_size(t->type, cols), orb = le_type_row_size(to, cols);
    *out = malloc(orb * (size_t)rows + 1);
    float *buf = malloc(sizeof(float) * (size_t)cols);
    if (!*out || !buf || !src || !dst || !src->to_float || !dst->from_float) {
        free(buf);
        return le_err_set(!*out || !buf ? LE_ENOMEM : LE_EUNSUP, "gptq: cannot convert %s to %s", t->name,
                          le_type_name(to));
    }
    for (int64_t r = 0; r < rows; r++) {
        src->to_float((const char *)t->data + (size_t)r * irb, buf, cols);
        dst->from_float(buf, (char *)*out + (size_t)r * orb, cols);
    }
    free(buf);
    return LE_OK;
}

/* Tensor t as floats (malloc'ed). */
static int le_gm_floats(const struct le_gguf_tensor *t, float **out) {
    int64_t cols = t->ne[0], rows = t->ne[1] * t->ne[2] * t->ne[3];
    const struct le_type_traits *tt = le_type_get(t->type);
    *out = malloc(sizeof(float) * (size_t)(cols * rows));
    if (!*out || !tt || !tt->to_float)
        return le_err_set(*out ? LE_EUNSUP : LE_ENOMEM, "gptq: cannot read %s as floats", t->name);
    size_t rb = le_type_row_size(t->type, cols);
    for (int64_t r = 0; r < rows; r++)
        tt->to_float((const char *)t->data + (size_t)r * rb, *out + r * cols, cols);
    return LE_OK;
}

/* The plan: every tensor's type under the preset, layer matrices to the
 * GPTQ type where their rows fit it. */
static int le_gm_plan(struct le_gm *s) {
    const struct le_model_info *mi = le_model_get_info(s->m);
    int64_t n = le_gguf_n_tensors(s->g);
    struct le_quant_tensor *t = calloc((size_t)n + 1, sizeof *t);
    int *types = calloc((size_t)n + 1, sizeof *types);
    int rc = t && types ? LE_OK : le_err_set(LE_ENOMEM, "gptq: out of memory");
    for (int64_t i = 0; !rc && i < n; i++) {
        const struct le_gguf_tensor *gt = le_gguf_tensor(s->g, i);
        t[i] = (struct le_quant_tensor){.name = gt->name, .type = gt->type, .n_dims = gt->n_dims};
        memcpy(t[i].ne, gt->ne, sizeof gt->ne);
    }
    struct le_quant_hparams hp = {(int)mi->n_layers, (int)mi->n_heads, (int)mi->n_kv_heads};
    if (!rc)
        rc = le_quant_plan(t, n, &hp, s->ftype, 0, types);
    int64_t blck = 1;
    le_type_info(s->type, &blck, NULL, NULL);
    for (int64_t l = 0; !rc && l < s->L; l++)
        for (int k = 0; !rc && k < LE_GM_N; k++) {
            struct le_gm_mat *mt = &s->mats[l * LE_GM_N + k];
            snprintf(mt->name, sizeof mt->name, "blk.%lld.%s.weight", (long long)l, le_gm_names[k]);
            int64_t i = 0;
            while (i < n && strcmp(t[i].name, mt->name))
                i++;
            if (i == n) {
                rc = le_err_set(LE_EFORMAT, "%s: no tensor %s", le_gguf_path(s->g), mt->name);
                break;
            }
            mt->src = le_gguf_tensor(s->g, i);
            const struct le_type_traits *tt = le_type_get(mt->src->type);
            if (tt && tt->is_quantized && !s->p->allow_requantize)
                rc = le_err_set(LE_EUNSUP, "%s: tensor %s is already %s; requantizing loses accuracy (allow it "
                                "explicitly)", le_gguf_path(s->g), mt->name, le_type_name(mt->src->type));
            mt->gptq = mt->src->ne[0] % blck == 0;
            mt->out_type = mt->gptq ? s->type : types[i];
            s->n_gptq += mt->gptq;
            if (!rc && !mt->gptq && mt->out_type != mt->src->type)
                rc = le_gm_convert(mt->src, mt->out_type, &mt->data);
        }
    /* the windows' embeddings, as token_embd will be stored */
    const struct le_gguf_tensor *e = le_gguf_find_tensor(s->g, "token_embd.weight");
    int64_t ei = 0;
    while (!rc && ei < n && strcmp(t[ei].name, "token_embd.weight"))
        ei++;
    if (!rc && (!e || ei == n))
        rc = le_err_set(LE_EFORMAT, "%s: no token_embd.weight", le_gguf_path(s->g));
    if (!rc) {
        const struct le_type_traits *src = le_type_get(e->type), *dst = le_type_get(types[ei]);
        size_t rb = le_type_row_size(e->type, s->D);
        void *tmp = malloc(le_type_row_size(types[ei], s->D) + 1);
        int64_t nt = (int64_t)s->p->n_windows * s->T;
        if (!tmp)
            rc = le_err_set(LE_ENOMEM, "gptq: out of memory");
        for (int64_t i = 0; !rc && i < nt; i++) {
            int32_t tok = s->p->windows[i];
            if (tok < 0 || tok >= e->ne[1]) {
                rc = le_err_set(LE_EINVAL, "gptq: calibration token %d outside the vocabulary", (int)tok);
                break;
            }
            float *xr = s->x + i * s->D;
            src->to_float((const char *)e->data + (size_t)tok * rb, xr, s->D);
            if (types[ei] != e->type) {
                dst->from_float(xr, tmp, s->D);
                dst->to_float(tmp, xr, s->D);
            }
        }
        free(tmp);
    }
    free(t), free(types);
    if (!rc && s->n_gptq == 0)
        rc = le_err_set(LE_EINVAL, "gptq: no layer matrix has rows that %s's blocks of %lld divide (dim %lld, "
                        "ffn %lld)%s", le_type_name(s->type), (long long)blck, (long long)s->D, (long long)s->F,
                        blck == 256 ? ": use --bits 4" : "");
    return rc;
}

static int le_gm_mm(struct le_gm *s, const struct le_gm_w *w, const float *X, float *Y) {
    size_t need = le_matmul_scratch_size(w->type, w->cols, s->T);
    if (need > s->mm_size) {
        void *p = realloc(s->mm, need);
        if (!p)
            return le_err_set(LE_ENOMEM, "gptq: out of memory");
        s->mm = p, s->mm_size = need;
    }
    return le_matmul(s->pool, w->data, w->type, w->rows, w->cols, X, s->T, Y, s->mm);
}

/* H[site] += X^T X for one window's X (T x n). */
static void le_gm_accum(struct le_gm *s, int site, const float *X, int64_t n) {
    le_tg_gemm(s->pool, 1, n, n, s->T, X, 1, n, X, n, 1, s->xtx, n, 0);
    double *H = s->Hd[site];
    for (int64_t i = 0; i < n * n; i++)
        H[i] += (double)s->xtx[i];
}

/* The block of layer il on one window x (T x D): stops after capturing the
 * input of site `upto` (0..3; capture: bit per site), or (upto 4) writes
 * the block's output into x. */
static int le_gm_block(struct le_gm *s, int64_t il, float *x, int upto, int capture) {
    struct le_gm_w w[LE_GM_N];
    for (int k = 0; k < LE_GM_N; k++) {
        const struct le_gm_mat *mt = &s->mats[il * LE_GM_N + k];
        w[k] = (struct le_gm_w){mt->data ? mt->data : mt->src->data, mt->data ? mt->out_type : mt->src->type,
                                mt->src->ne[1], mt->src->ne[0]};
    }
    const float *an = s->norm_a + il * s->D, *fn = s->norm_f + il * s->D;
    int64_t T = s->T, D = s->D;
    int rc;
    le_top_rmsnorm_fwd(s->pool, 1, x, an, s->xn, s->rstd, T, D, s->eps);
    if (capture & 1)
        le_gm_accum(s, 0, s->xn, D);
    if (upto == 0)
        return LE_OK;
    if ((rc = le_gm_mm(s, &w[LE_GM_Q], s->xn, s->q)) || (rc = le_gm_mm(s, &w[LE_GM_K], s->xn, s->k)) ||
        (rc = le_gm_mm(s, &w[LE_GM_V], s->xn, s->v)))
        return rc;
    le_top_rope(s->pool, 1, s->q, T, T, s->H, s->hd, s->cs, 0);
    le_top_rope(s->pool, 1, s->k, T, T, s->G, s->hd, s->cs, 0);
    le_top_attn_fwd(s->pool, 1, s->q, s->k, s->v, s->pr, s->att, 1, T, s->H, s->G, s->hd, s->attn_scr);
    if (capture & 2)
        le_gm_accum(s, 1, s->att, s->Q);
    if (upto == 1)
        return LE_OK;
    if ((rc = le_gm_mm(s, &w[LE_GM_O], s->att, s->y)))
        return rc;
    for (int64_t i = 0; i < T * D; i++)
        s->h[i] = x[i] + s->y[i];
    le_top_rmsnorm_fwd(s->pool, 1, s->h, fn, s->hn, s->rstd, T, D, s->eps);
    if (capture & 4)
        le_gm_accum(s, 2, s->hn, D);
    if (upto == 2)
        return LE_OK;
    if ((rc = le_gm_mm(s, &w[LE_GM_GATE], s->hn, s->gate)) || (rc = le_gm_mm(s, &w[LE_GM_UP], s->hn, s->up)))
        return rc;
    le_top_swiglu_fwd(s->pool, 1, s->gate, s->up, s->act, T * s->F);
    if (capture & 8)
        le_gm_accum(s, 3, s->act, s->F);
    if (upto == 3)
        return LE_OK;
    if ((rc = le_gm_mm(s, &w[LE_GM_DOWN], s->act, s->y)))
        return rc;
    for (int64_t i = 0; i < T * D; i++)
        x[i] = s->h[i] + s->y[i];
    return LE_OK;
}

/* Relative output error of W' against W under H: sum_r d_r H d_r^T / sum_r w_r H w_r^T. */
struct le_gm_err {
    const float *W, *Wq;
    const double *H;
    int64_t rows, cols;
    double *num, *den; /* per row */
};

static void le_gm_err_rows(void *arg, int ith, int nth) {
    const struct le_gm_err *e = arg;
    int64_t lo, hi, n = e->cols;
    le_pool_range(e->rows, ith, nth, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        const float *w = e->W + r * n, *q = e->Wq + r * n;
        double num = 0.0, den = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double si = 0.0, ti = 0.0;
            for (int64_t j = 0; j < n; j++) {
                si += e->H[i * n + j] * ((double)w[j] - q[j]);
                ti += e->H[i * n + j] * w[j];
            }
            num += ((double)w[i] - q[i]) * si;
            den += (double)w[i] * ti;
        }
        e->num[r] = num, e->den[r] = den;
    }
}

static double le_gm_rel_err(struct le_pool *pool, const float *W, const float *Wq, const double *H, int64_t rows,
                            int64_t cols, double *tmp) {
    struct le_gm_err e = {W, Wq, H, rows, cols, tmp, tmp + rows};
    le_pool_run(pool, le_gm_err_rows, &e);
    double num = 0.0, den = 0.0;
    for (int64_t r = 0; r < rows; r++)
        num += tmp[r], den += tmp[rows + r];
    return den > 0.0 ? num / den : 0.0;
}

/* GPTQ of the matrices of one site of layer il with H = Hd[site] (scaled to
 * 2/n sum X^T X in place). */
static int le_gm_quant_site(struct le_gm *s, int64_t il, int site) {
    int64_t n = site == 1 ? s->Q : site == 3 ? s->F : s->D;
    double *H = s->Hd[site];
    for (int64_t i = 0; i < n * n; i++)
        H[i] *= 2.0 / s->p->n_windows;
    for (int k = 0; k < LE_GM_N; k++) {
        struct le_gm_mat *mt = &s->mats[il * LE_GM_N + k];
        if (le_gm_site[k] != site || !mt->gptq)
            continue;
        int64_t rows = mt->src->ne[1], cols = mt->src->ne[0];
        size_t rb = le_type_row_size(s->type, cols);
        float *W = NULL, *what = malloc(sizeof(float) * (size_t)(rows * cols));
        double *tmp = malloc(sizeof(double) * 2 * (size_t)rows), loss = 0.0;
        void *rtn = malloc(rb * (size_t)rows);
        free(mt->data);
        mt->data = malloc(rb * (size_t)rows);
        int rc = !what || !tmp || !rtn || !mt->data ? le_err_set(LE_ENOMEM, "gptq: out of memory") : LE_OK;
        if (!rc)
            rc = le_gm_floats(mt->src, &W);
        struct le_gptq_opts o = {.type = s->type, .act_order = s->p->act_order, .damp = s->p->damp};
        if (!rc)
            rc = le_gptq_matrix(s->pool, W, rows, cols, H, &o, mt->data, what, &loss);
        if (!rc && s->p->progress) {
            struct le_gptq_event ev = {.layer = (int)il, .n_layers = (int)s->L, .name = mt->name, .rows = rows,
                                       .cols = cols, .type = s->type, .loss = loss};
            ev.err = le_gm_rel_err(s->pool, W, what, H, rows, cols, tmp);
            const struct le_type_traits *tr = le_type_get_ref(s->type);
            for (int64_t r = 0; r < rows; r++) { /* round-to-nearest, for comparison */
                tr->from_float(W + r * cols, (char *)rtn + (size_t)r * rb, cols);
                tr->to_float((char *)rtn + (size_t)r * rb, what + r * cols, cols);
            }
            ev.err_rtn = le_gm_rel_err(s->pool, W, what, H, rows, cols, tmp);
            s->p->progress(s->p->progress_ud, &ev);
        }
        free(W), free(what), free(tmp), free(rtn);
        if (rc)
            return le_err_wrap(rc, "%s", mt->name);
    }
    return LE_OK;
}

static int le_gm_layer(struct le_gm *s, int64_t il) {
    int64_t dims[4] = {s->D, s->Q, s->D, s->F}, wsz = s->T * s->D;
    int nw = s->p->n_windows, rc = LE_OK;
    int n_pass = s->p->no_true_sequential ? 1 : 4;
    for (int pass = 0; pass < n_pass && !rc; pass++) {
        int capture = n_pass == 1 ? 15 : 1 << pass, upto = n_pass == 1 ? 3 : pass;
        for (int site = 0; site < 4; site++)
            if (capture & (1 << site))
                memset(s->Hd[site], 0, sizeof(double) * (size_t)(dims[site] * dims[site]));
        for (int w = 0; w < nw && !rc; w++) {
            rc = le_gm_block(s, il, s->x + w * wsz, upto, capture);
        }
        for (int site = 0; site < 4 && !rc; site++)
            if (capture & (1 << site))
                rc = le_gm_quant_site(s, il, site);
    }
    for (int w = 0; w < nw && !rc; w++)
        rc = le_gm_block(s, il, s->x + w * wsz, 4, 0);
    return rc;
}

static int le_gm_alloc(struct le_gm *s) {
    int bad = 0;
    int64_t T = s->T, M = s->F > s->D ? s->F : s->D;
    M = M > s->Q ? M : s->Q;
    s->x = le_gm_falloc((size_t)(s->p->n_windows * T * s->D), &bad);
    s->xn = le_gm_falloc((size_t)(T * s->D), &bad);
    s->q = le_gm_falloc((size_t)(T * s->Q), &bad), s->att = le_gm_falloc((size_t)(T * s->Q), &bad);
    s->k = le_gm_falloc((size_t)(T * s->KV), &bad), s->v = le_gm_falloc((size_t)(T * s->KV), &bad);
    s->y = le_gm_falloc((size_t)(T * s->D), &bad), s->h = le_gm_falloc((size_t)(T * s->D), &bad);
    s->hn = le_gm_falloc((size_t)(T * s->D), &bad);
    s->gate = le_gm_falloc((size_t)(T * s->F), &bad), s->up = le_gm_falloc((size_t)(T * s->F), &bad);
    s->act = le_gm_falloc((size_t)(T * s->F), &bad), s->rstd = le_gm_falloc((size_t)T, &bad);
    s->pr = le_gm_falloc((size_t)(s->H * T * T), &bad);
    s->attn_scr = le_gm_falloc(le_top_attn_scratch(s->pool, T), &bad);
    s->cs = le_gm_falloc((size_t)(T * s->hd), &bad);
    s->norm_a = le_gm_falloc((size_t)(s->L * s->D), &bad), s->norm_f = le_gm_falloc((size_t)(s->L * s->D), &bad);
    s->xtx = le_gm_falloc((size_t)(M * M), &bad);
    for (int i = 0; i < 4; i++) {
        int64_t n = i == 1 ? s->Q : i == 3 ? s->F : s->D;
        s->Hd[i] = malloc(sizeof(double) * (size_t)(n * n));
        bad |= !s->Hd[i];
    }
    return bad ? le_err_set(LE_ENOMEM, "gptq: out of memory for the calibration activations") : LE_OK;
}

/* The layers' norm weights as floats. */
static int le_gm_norms(struct le_gm *s) {
    for (int64_t l = 0; l < s->L; l++)
        for (int k = 0; k < 2; k++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%lld.%s.weight", (long long)l, k ? "ffn_norm" : "attn_norm");
            const struct le_gguf_tensor *t = le_gguf_find_tensor(s->g, name);
            const struct le_type_traits *tt = t ? le_type_get(t->type) : NULL;
            if (!t || !tt || !tt->to_float || t->ne[0] != s->D)
                return le_err_set(LE_EFORMAT, "%s: no usable %s", le_gguf_path(s->g), name);
            tt->to_float(t->data, (k ? s->norm_f : s->norm_a) + l * s->D, s->D);
        }
    return LE_OK;
}

static int le_gm_supply(void *ud, const char *name, int *type, const void **data) {
    const struct le_gm *s = ud;
    for (int64_t i = 0; i < s->L * LE_GM_N; i++)
        if (s->mats[i].gptq && !strcmp(s->mats[i].name, name)) {
            *type = s->mats[i].out_type;
            *data = s->mats[i].data;
            return 1;
        }
    return 0;
}

int le_gptq_quantize(const char *in_path, const char *out_path, const struct le_gptq_params *p,
                     struct le_quant_stats *stats) {
    if (!in_path || !out_path || !p || !p->windows || p->n_windows <= 0 || p->ctx <= 0)
        return le_err_set(LE_EINVAL, "gptq: bad arguments");
    struct le_gm s = {.p = p};
    int rc = le_gptq_type(p->bits, p->group_size, p->sym, &s.type, NULL);
    if (rc)
        return rc;
    s.ftype = le_gptq_ftype(s.type);
    if ((rc = le_model_open(&s.m, in_path)))
        return rc;
    const struct le_model_info *mi = le_model_get_info(s.m);
    s.g = le_model_gguf(s.m);
    s.D = mi->dim, s.H = mi->n_heads, s.G = mi->n_kv_heads, s.hd = mi->head_dim, s.F = mi->ffn;
    s.Q = s.H * s.hd, s.KV = s.G * s.hd, s.T = p->ctx, s.L = mi->n_layers, s.eps = mi->eps;
    rc = le_pool_new(&s.pool, p->n_threads);
    if (!rc) {
        s.mats = calloc((size_t)(s.L * LE_GM_N), sizeof *s.mats);
        rc = s.mats ? le_gm_alloc(&s) : le_err_set(LE_ENOMEM, "gptq: out of memory");
    }
    if (!rc)
        rc = le_gm_norms(&s);
    if (!rc)
        rc = le_gm_plan(&s);
    const struct le_gguf_tensor *rf = rc ? NULL : le_gguf_find_tensor(s.g, "rope_freqs.weight");
    if (rf && (rf->type != LE_TYPE_F32 || rf->ne[0] != s.hd / 2))
        rc = le_err_set(LE_EFORMAT, "%s: rope_freqs.weight is not %lld F32 values", in_path, (long long)(s.hd / 2));
    if (!rc)
        le_ops_rope_table(s.cs, s.T, s.hd, mi->rope_base, 1.0f / mi->rope_scale, rf ? (const float *)rf->data : NULL);
    for (int64_t l = 0; !rc && l < s.L; l++)
        rc = le_gm_layer(&s, l);
    if (!rc) {
        struct le_quant_params qp = {.ftype = s.ftype, .allow_requantize = p->allow_requantize,
                                     .n_threads = p->n_threads, .progress = p->write_progress,
                                     .progress_ud = p->write_ud, .supply = le_gm_supply, .supply_ud = &s};
        rc = le_quantize(in_path, out_path, &qp, stats);
    }
    le_gm_free(&s);
    return rc;
}
