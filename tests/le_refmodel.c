/*
 * le_refmodel: the test oracle for the engine's forward pass (see
 * le_refmodel.h). Everything is double, written for clarity, not speed:
 *
 *   h = E[tok]
 *   for each layer:  a = rmsnorm(h) * g_attn
 *                    q, k, v = Wq a, Wk a, Wv a;  rotate (q, k) pairs (2i, 2i+1)
 *                      by angle pos * base^(-2i/hd) / scale
 *                    o_h = sum_{j<=i} softmax_j(q_h . k_{kvh(h)} / sqrt(hd)) v_j
 *                    h += Wo o
 *                    b = rmsnorm(h) * g_ffn
 *                    h += Wd (silu(Wg b) * (Wu b))
 *   logits = Wout (rmsnorm(h) * g_out)
 */
#include "le_refmodel.h"

#include "le_err.h"  /* le_err_set */
#include "le_gguf.h" /* le_gguf_open, metadata and tensors */
#include "le_types.h" /* K-quants: the engine's reference dequantization */

#include <math.h>
#include <stdio.h> /* snprintf */
#include <stdlib.h>
#include <string.h>

struct le_ref_layer {
    double *an, *fn, *wq, *wk, *wv, *wo, *wg, *wu, *wd;
};

struct le_refmodel {
    int D, L, H, KVH, hd, F, V;
    double eps, base, scale;
    double *embd, *out, *on;
    struct le_ref_layer *layers;
};

/* ---- dequantization from the documented layouts (independent of engine/) ---- */

static double le_ref_half(const unsigned char *p) {
    unsigned h = (unsigned)p[0] | ((unsigned)p[1] << 8);
    int s = (h >> 15) & 1, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0)
        v = ldexp((double)m, -24);
    else if (e == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexp((double)(m + 1024), e - 25);
    return s ? -v : v;
}

static double le_ref_bf16(const unsigned char *p) {
    uint32_t u = ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 24);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The K-quants (Q2_K..Q6_K) are dequantized with the engine's reference
 * to_float, which test_types checks bit for bit against llama.cpp. */
static int le_ref_is_kquant(int type) {
    return type >= LE_TYPE_Q2_K && type <= LE_TYPE_Q6_K;
}

static size_t le_ref_row_bytes(int type, int64_t n) {
    switch (type) {
    case 0: return (size_t)n * 4;
    case 1: case 30: return (size_t)n * 2;
    case 8: return (size_t)(n / 32) * 34;
    case 2: return (size_t)(n / 32) * 18;
    default: return le_ref_is_kquant(type) ? le_type_row_size(type, n) : 0;
    }
}

static int le_ref_dequant_k(int type, const unsigned char *p, int64_t n, double *out) {
    const struct le_type_traits *t = le_type_get_ref(type);
    float *f = malloc((size_t)n * sizeof *f);
    if (!t || !f || n % t->blck_size) {
        free(f);
        return -1;
    }
    t->to_float(p, f, n);
    for (int64_t i = 0; i < n; i++)
        out[i] = f[i];
    free(f);
    return 0;
}

/* n elements of type at p into out; returns 0 or -1 for an unknown type. */
static int le_ref_dequant(int type, const unsigned char *p, int64_t n, double *out) {
    switch (type) {
    case 0: /* F32 */
        for (int64_t i = 0; i < n; i++) {
            float f;
            memcpy(&f, p + 4 * i, 4);
            out[i] = f;
        }
        return 0;
    case 1: /* F16 */
        for (int64_t i = 0; i < n; i++)
            out[i] = le_ref_half(p + 2 * i);
        return 0;
    case 30: /* BF16 */
        for (int64_t i = 0; i < n; i++)
            out[i] = le_ref_bf16(p + 2 * i);
        return 0;
    case 8: /* Q8_0: half d, int8 q[32]; x = d q */
        for (int64_t b = 0; b < n / 32; b++) {
            const unsigned char *blk = p + 34 * b;
            double d = le_ref_half(blk);
            for (int i = 0; i < 32; i++)
                out[32 * b + i] = d * (double)(signed char)blk[2 + i];
        }
        return 0;
    case 2: /* Q4_0: half d, 16 bytes; low nibble = element j, high = j + 16; x = d (q - 8) */
        for (int64_t b = 0; b < n / 32; b++) {
            const unsigned char *blk = p + 18 * b;
            double d = le_ref_half(blk);
            for (int i = 0; i < 16; i++) {
                out[32 * b + i] = d * (double)((blk[2 + i] & 15) - 8);
                out[32 * b + i + 16] = d * (double)((blk[2 + i] >> 4) - 8);
            }
        }
        return 0;
    default:
        return le_ref_is_kquant(type) ? le_ref_dequant_k(type, p, n, out) : -1;
    }
}

/* Whole tensor as doubles (rows x cols, row-major); NULL and an error if absent. */
static double *le_ref_tensor(const struct le_gguf *g, const char *name, int64_t elems, int *rc) {
    if (*rc)
        return NULL;
    const struct le_gguf_tensor *t = le_gguf_find_tensor(g, name);
    if (!t) {
        *rc = le_err_set(LE_EFORMAT, "refmodel: tensor %s missing", name);
        return NULL;
    }
    int64_t cols = t->ne[0], n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (n != elems) {
        *rc = le_err_set(LE_EFORMAT, "refmodel: tensor %s has %lld elements, want %lld", name, (long long)n,
                         (long long)elems);
        return NULL;
    }
    double *d = malloc((size_t)n * sizeof *d);
    if (!d) {
        *rc = le_err_set(LE_ENOMEM, "refmodel: out of memory");
        return NULL;
    }
    size_t rb = le_ref_row_bytes(t->type, cols);
    for (int64_t r = 0; r < n / cols; r++)
        if (!rb || le_ref_dequant(t->type, (const unsigned char *)t->data + (size_t)r * rb, cols, d + r * cols)) {
            *rc = le_err_set(LE_EUNSUP, "refmodel: tensor %s: type %d not supported", name, t->type);
            free(d);
            return NULL;
        }
    return d;
}

static int le_ref_int(const struct le_gguf *g, const char *key, int dflt, int *out) {
    int64_t v;
    int rc = le_gguf_get_i64(g, key, &v);
    if (rc == LE_ENOTFOUND && dflt >= 0) {
        *out = dflt;
        return 0;
    }
    if (rc)
        return le_err_set(LE_EFORMAT, "refmodel: key %s", key);
    *out = (int)v;
    return 0;
}

static double le_ref_float(const struct le_gguf *g, const char *key, double dflt) {
    float f;
    return le_gguf_get_f32(g, key, &f) == LE_OK ? (double)f : dflt;
}

int le_refmodel_open(struct le_refmodel **out, const char *path) {
    *out = NULL;
    struct le_gguf *g = NULL;
    int rc = le_gguf_open(&g, path);
    if (rc)
        return rc;
    struct le_refmodel *r = calloc(1, sizeof *r);
    if (!r) {
        le_gguf_close(g);
        return le_err_set(LE_ENOMEM, "refmodel: out of memory");
    }
    if ((rc = le_ref_int(g, "llama.embedding_length", -1, &r->D)) ||
        (rc = le_ref_int(g, "llama.block_count", -1, &r->L)) ||
        (rc = le_ref_int(g, "llama.attention.head_count", -1, &r->H)) ||
        (rc = le_ref_int(g, "llama.attention.head_count_kv", r->H, &r->KVH)) ||
        (rc = le_ref_int(g, "llama.feed_forward_length", -1, &r->F)))
        goto done;
    r->hd = r->D / r->H;
    r->eps = le_ref_float(g, "llama.attention.layer_norm_rms_epsilon", 1e-5);
    r->base = le_ref_float(g, "llama.rope.freq_base", 10000.0);
    r->scale = le_ref_float(g, "llama.rope.scaling.factor", 1.0);
    const struct le_gguf_tensor *te = le_gguf_find_tensor(g, "token_embd.weight");
    if (!te) {
        rc = le_err_set(LE_EFORMAT, "refmodel: no token_embd.weight");
        goto done;
    }
    r->V = (int)te->ne[1];
    int64_t D = r->D, KV = (int64_t)r->KVH * r->hd, F = r->F, V = r->V;
    r->embd = le_ref_tensor(g, "token_embd.weight", V * D, &rc);
    r->on = le_ref_tensor(g, "output_norm.weight", D, &rc);
    r->out = le_gguf_find_tensor(g, "output.weight") ? le_ref_tensor(g, "output.weight", V * D, &rc) : NULL;
    r->layers = calloc((size_t)r->L, sizeof *r->layers);
    if (!r->layers && !rc)
        rc = le_err_set(LE_ENOMEM, "refmodel: out of memory");
    char nm[96];
    for (int l = 0; l < r->L && !rc; l++) {
        struct le_ref_layer *y = &r->layers[l];
#define LE_T(s, n) (snprintf(nm, sizeof nm, "blk.%d." s, l), le_ref_tensor(g, nm, (n), &rc))
        y->an = LE_T("attn_norm.weight", D);
        y->fn = LE_T("ffn_norm.weight", D);
        y->wq = LE_T("attn_q.weight", D * D);
        y->wk = LE_T("attn_k.weight", KV * D);
        y->wv = LE_T("attn_v.weight", KV * D);
        y->wo = LE_T("attn_output.weight", D * D);
        y->wg = LE_T("ffn_gate.weight", F * D);
        y->wu = LE_T("ffn_up.weight", F * D);
        y->wd = LE_T("ffn_down.weight", D * F);
#undef LE_T
    }
done:
    le_gguf_close(g);
    if (rc) {
        le_refmodel_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void le_refmodel_free(struct le_refmodel *r) {
    if (!r)
        return;
    for (int l = 0; r->layers && l < r->L; l++) {
        struct le_ref_layer *y = &r->layers[l];
        double *ps[] = {y->an, y->fn, y->wq, y->wk, y->wv, y->wo, y->wg, y->wu, y->wd};
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
            free(ps[i]);
    }
    free(r->layers);
    free(r->embd);
    free(r->out);
    free(r->on);
    free(r);
}

int le_refmodel_n_vocab(const struct le_refmodel *r) { return r->V; }

/* ---- the forward pass ---- */

static void le_ref_rmsnorm(const double *x, const double *w, int n, double eps, double *y) {
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * s * w[i];
}

/* y[rows] = W[rows][cols] x[cols] */
static void le_ref_matvec(const double *W, const double *x, int rows, int cols, double *y) {
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int c = 0; c < cols; c++)
            s += W[(int64_t)r * cols + c] * x[c];
        y[r] = s;
    }
}

static void le_ref_rope(double *v, int n_heads, int hd, int pos, double base, double scale) {
    for (int h = 0; h < n_heads; h++)
        for (int i = 0; i < hd / 2; i++) {
            double th = (pos / scale) * pow(base, -2.0 * i / hd);
            double c = cos(th), s = sin(th);
            double *x = v + h * hd + 2 * i;
            double x0 = x[0], x1 = x[1];
            x[0] = x0 * c - x1 * s;
            x[1] = x0 * s + x1 * c;
        }
}

/* One layer over all n positions; h is (n, D). */
static void le_ref_layer_fwd(const struct le_refmodel *r, const struct le_ref_layer *y, int n, double *h,
                             double *a, double *q, double *k, double *v, double *o, double *t1, double *t2,
                             double *sc) {
    int D = r->D, hd = r->hd, KV = r->KVH * hd, F = r->F;
    for (int i = 0; i < n; i++) {
        le_ref_rmsnorm(h + (int64_t)i * D, y->an, D, r->eps, a);
        le_ref_matvec(y->wq, a, D, D, q + (int64_t)i * D);
        le_ref_matvec(y->wk, a, KV, D, k + (int64_t)i * KV);
        le_ref_matvec(y->wv, a, KV, D, v + (int64_t)i * KV);
        le_ref_rope(q + (int64_t)i * D, r->H, hd, i, r->base, r->scale);
        le_ref_rope(k + (int64_t)i * KV, r->KVH, hd, i, r->base, r->scale);
    }
    for (int i = 0; i < n; i++) {
        for (int hh = 0; hh < r->H; hh++) {
            int g = hh / (r->H / r->KVH);
            const double *qh = q + (int64_t)i * D + hh * hd;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int d = 0; d < hd; d++)
                    s += qh[d] * k[(int64_t)j * KV + g * hd + d];
                sc[j] = s / sqrt((double)hd);
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j <= i; j++)
                sum += (sc[j] = exp(sc[j] - mx));
            for (int d = 0; d < hd; d++) {
                double s = 0;
                for (int j = 0; j <= i; j++)
                    s += sc[j] / sum * v[(int64_t)j * KV + g * hd + d];
                o[hh * hd + d] = s;
            }
        }
        le_ref_matvec(y->wo, o, D, D, a);
        double *hi = h + (int64_t)i * D;
        for (int d = 0; d < D; d++)
            hi[d] += a[d];
        le_ref_rmsnorm(hi, y->fn, D, r->eps, a);
        le_ref_matvec(y->wg, a, F, D, t1);
        le_ref_matvec(y->wu, a, F, D, t2);
        for (int f = 0; f < F; f++)
            t1[f] = t1[f] / (1.0 + exp(-t1[f])) * t2[f];
        le_ref_matvec(y->wd, t1, D, F, a);
        for (int d = 0; d < D; d++)
            hi[d] += a[d];
    }
}

int le_refmodel_forward(struct le_refmodel *r, const int32_t *tokens, int n, double *logits) {
    int D = r->D, KV = r->KVH * r->hd, F = r->F, V = r->V;
    double *h = malloc(sizeof(double) * (size_t)n * D), *a = malloc(sizeof(double) * D);
    double *q = malloc(sizeof(double) * (size_t)n * D), *k = malloc(sizeof(double) * (size_t)n * KV);
    double *v = malloc(sizeof(double) * (size_t)n * KV), *o = malloc(sizeof(double) * D);
    double *t1 = malloc(sizeof(double) * F), *t2 = malloc(sizeof(double) * F), *sc = malloc(sizeof(double) * n);
    int rc = 0;
    if (!h || !a || !q || !k || !v || !o || !t1 || !t2 || !sc) {
        rc = le_err_set(LE_ENOMEM, "refmodel: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= V) {
            rc = le_err_set(LE_EINVAL, "refmodel: token %d out of range", tokens[i]);
            goto done;
        }
        memcpy(h + (int64_t)i * D, r->embd + (int64_t)tokens[i] * D, sizeof(double) * D);
    }
    for (int l = 0; l < r->L; l++)
        le_ref_layer_fwd(r, &r->layers[l], n, h, a, q, k, v, o, t1, t2, sc);
    const double *wout = r->out ? r->out : r->embd;
    for (int i = 0; i < n; i++) {
        le_ref_rmsnorm(h + (int64_t)i * D, r->on, D, r->eps, a);
        le_ref_matvec(wout, a, V, D, logits + (int64_t)i * V);
    }
done:
    free(h), free(a), free(q), free(k), free(v), free(o), free(t1), free(t2), free(sc);
    return rc;
}
