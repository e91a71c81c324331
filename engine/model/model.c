/*
 * model: loads a LLaMA-architecture model -- a GGUF, or any format
 * le_format presents as a GGUF view (weights stay in place in the mmap), checks every hyperparameter and tensor shape/type the forward pass
 * relies on, and plans a context's memory once (KV cache, RoPE table,
 * activation scratch for n_batch rows, matmul scratch) so that le_ctx_eval
 * never allocates. The forward pass itself is in forward.c.
 *
 * Hyperparameters follow llama.cpp's llama loader: llama.embedding_length,
 * block_count, attention.head_count, feed_forward_length, context_length and
 * attention.layer_norm_rms_epsilon are required; head_count_kv defaults to
 * head_count, rope.freq_base to 10000, linear rope scaling comes from
 * rope.scaling.factor (or the older rope.scale_linear).
 */
#include "model_int.h"

#include "le_err.h"    /* le_err_set, LE_E* */
#include "le_format.h" /* le_format_open: any weight format as a GGUF view */
#include "le_gguf.h"   /* metadata and tensor accessors */
#include "le_mem.h"    /* le_mem_fmt: the memory plan's message */
#include "le_ops.h"    /* le_ops_rope_table */
#include "le_pool.h"  /* le_pool_nthreads */
#include "le_tok.h"   /* le_tok_from_gguf */
#include "le_types.h" /* le_type_get, le_matmul_scratch_size */

#include <math.h>
#include <stdio.h> /* snprintf */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h> /* madvise: le_model_prefault */
#include <unistd.h>   /* sysconf */

/* ---- metadata helpers ---- */

static int le_model_req_i64(const struct le_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    int rc = le_gguf_get_i64(g, key, out);
    if (rc == LE_ENOTFOUND)
        return le_err_set(LE_EFORMAT, "%s: required key %s is missing", le_gguf_path(g), key);
    if (rc)
        return le_err_set(LE_EFORMAT, "%s: key %s is not an integer", le_gguf_path(g), key);
    if (*out < lo || *out > hi)
        return le_err_set(LE_EFORMAT, "%s: key %s = %lld is out of range [%lld, %lld]", le_gguf_path(g), key,
                          (long long)*out, (long long)lo, (long long)hi);
    return LE_OK;
}

static int le_model_opt_i64(const struct le_gguf *g, const char *key, int64_t lo, int64_t hi, int64_t dflt,
                            int64_t *out) {
    if (le_gguf_find_key(g, key) < 0) {
        *out = dflt;
        return LE_OK;
    }
    return le_model_req_i64(g, key, lo, hi, out);
}

static int le_model_opt_f32(const struct le_gguf *g, const char *key, float dflt, int required, float *out) {
    int rc = le_gguf_get_f32(g, key, out);
    if (rc == LE_ENOTFOUND) {
        if (required)
            return le_err_set(LE_EFORMAT, "%s: required key %s is missing", le_gguf_path(g), key);
        *out = dflt;
        return LE_OK;
    }
    if (rc)
        return le_err_set(LE_EFORMAT, "%s: key %s is not a float", le_gguf_path(g), key);
    if (!isfinite(*out))
        return le_err_set(LE_EFORMAT, "%s: key %s is not finite", le_gguf_path(g), key);
    return LE_OK;
}

/* Copies a string value into buf (truncated, NUL-terminated); "" if absent. */
static void le_model_str(const struct le_gguf *g, const char *key, char *buf, size_t cap) {
    const char *s;
    uint64_t len;
    buf[0] = 0;
    if (le_gguf_get_str(g, key, &s, &len) != LE_OK)
        return;
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, s, (size_t)len);
    buf[len] = 0;
}

/* ---- tensor helpers ---- */

/* Finds name with exactly 1 or 2 dims (cols, rows); rows == 0 means 1-D. */
static int le_model_tensor(const struct le_gguf *g, const char *name, int64_t cols, int64_t rows, int required,
                           const struct le_gguf_tensor **out) {
    const struct le_gguf_tensor *t = le_gguf_find_tensor(g, name);
    *out = t;
    if (!t) {
        if (required)
            return le_err_set(LE_EFORMAT, "%s: required tensor %s is missing", le_gguf_path(g), name);
        return LE_OK;
    }
    int64_t want_rows = rows ? rows : 1;
    int extra = 0;
    for (int d = 2; d < 4; d++)
        extra |= t->ne[d] != 1;
    if (t->ne[0] != cols || t->ne[1] != want_rows || extra)
        return le_err_set(LE_EFORMAT, "%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                          le_gguf_path(g), name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                          (long long)t->ne[3], (long long)cols, (long long)want_rows);
    return LE_OK;
}

static int le_model_vec(const struct le_gguf *g, const char *name, int64_t n, int required, const float **out) {
    const struct le_gguf_tensor *t;
    *out = NULL;
    int rc = le_model_tensor(g, name, n, 0, required, &t);
    if (rc || !t)
        return rc;
    if (t->type != LE_TYPE_F32)
        return le_err_set(LE_EUNSUP, "%s: tensor %s has type %s; only f32 is supported for vectors",
                          le_gguf_path(g), name, le_type_name(t->type));
    *out = t->data;
    return LE_OK;
}

static int le_model_mat(const struct le_gguf *g, const char *name, int64_t rows, int64_t cols, int required,
                        struct le_wmat *w) {
    const struct le_gguf_tensor *t;
    memset(w, 0, sizeof *w);
    int rc = le_model_tensor(g, name, cols, rows, required, &t);
    if (rc || !t)
        return rc;
    const struct le_type_traits *tt = le_type_get(t->type);
    if (!tt || !tt->vec_dot || !tt->to_float)
        return le_err_set(LE_EUNSUP, "%s: tensor %s has type %s (%d), which this engine does not support yet",
                          le_gguf_path(g), name, le_type_name(t->type), t->type);
    if (cols % tt->blck_size != 0)
        return le_err_set(LE_EFORMAT, "%s: tensor %s: row length %lld is not a multiple of %s's block size %d",
                          le_gguf_path(g), name, (long long)cols, tt->name, tt->blck_size);
    w->data = t->data;
    w->type = t->type;
    w->rows = rows;
    w->cols = cols;
    w->name = t->name;
    return LE_OK;
}

/* ---- loading ---- */

static int le_model_hparams(struct le_model *m) {
    const struct le_gguf *g = m->g;
    struct le_model_info *in = &m->info;
    int64_t v;
    int rc;
    le_model_str(g, "general.architecture", in->arch, sizeof in->arch);
    if (le_gguf_find_key(g, "general.architecture") < 0)
        return le_err_set(LE_EFORMAT, "%s: required key general.architecture is missing", le_gguf_path(g));
    if (strcmp(in->arch, "llama") != 0)
        return le_err_set(LE_EUNSUP, "%s: architecture '%s' is not supported (only 'llama')", le_gguf_path(g),
                          in->arch);
    le_model_str(g, "general.name", in->name, sizeof in->name);
    const int64_t big = (int64_t)1 << 24;
    if ((rc = le_model_req_i64(g, "llama.embedding_length", 1, big, &in->dim)) ||
        (rc = le_model_req_i64(g, "llama.block_count", 1, 4096, &in->n_layers)) ||
        (rc = le_model_req_i64(g, "llama.attention.head_count", 1, 4096, &in->n_heads)) ||
        (rc = le_model_opt_i64(g, "llama.attention.head_count_kv", 1, 4096, in->n_heads, &in->n_kv_heads)) ||
        (rc = le_model_req_i64(g, "llama.feed_forward_length", 1, big, &in->ffn)) ||
        (rc = le_model_req_i64(g, "llama.context_length", 1, (int64_t)1 << 30, &in->ctx_train)))
        return rc;
    if ((rc = le_model_opt_i64(g, "llama.expert_count", 0, 1 << 20, 0, &v))) /* wrong type or range: refused */
        return rc;
    if (v > 0)
        return le_err_set(LE_EUNSUP, "%s: mixture-of-experts models (llama.expert_count = %lld) are not supported",
                          le_gguf_path(g), (long long)v);
    if (in->n_heads % in->n_kv_heads != 0)
        return le_err_set(LE_EFORMAT, "%s: head_count %lld is not a multiple of head_count_kv %lld",
                          le_gguf_path(g), (long long)in->n_heads, (long long)in->n_kv_heads);
    int64_t hd_default = in->dim % in->n_heads == 0 ? in->dim / in->n_heads : 0;
    if ((rc = le_model_opt_i64(g, "llama.attention.key_length", 2, 1 << 16, hd_default, &in->head_dim)))
        return rc;
    if ((rc = le_model_opt_i64(g, "llama.attention.value_length", 2, 1 << 16, in->head_dim, &v)))
        return rc;
    if (in->head_dim == 0)
        return le_err_set(LE_EFORMAT, "%s: embedding_length %lld is not a multiple of head_count %lld",
                          le_gguf_path(g), (long long)in->dim, (long long)in->n_heads);
    if (v != in->head_dim || in->head_dim % 2)
        return le_err_set(LE_EUNSUP, "%s: head dims (key %lld, value %lld) must be equal and even",
                          le_gguf_path(g), (long long)in->head_dim, (long long)v);
    if ((rc = le_model_opt_i64(g, "llama.rope.dimension_count", 1, 1 << 16, in->head_dim, &v)))
        return rc;
    if (v != in->head_dim)
        return le_err_set(LE_EUNSUP, "%s: partial rotary embeddings (rope.dimension_count %lld != head dim %lld)",
                          le_gguf_path(g), (long long)v, (long long)in->head_dim);
    if ((rc = le_model_opt_f32(g, "llama.rope.freq_base", 10000.0f, 0, &in->rope_base)) ||
        (rc = le_model_opt_f32(g, "llama.attention.layer_norm_rms_epsilon", 0, 1, &in->eps)))
        return rc;
    if (in->rope_base <= 0 || in->eps < 0)
        return le_err_set(LE_EFORMAT, "%s: rope.freq_base must be > 0 and the rms epsilon >= 0", le_gguf_path(g));
    char stype[32];
    le_model_str(g, "llama.rope.scaling.type", stype, sizeof stype);
    if (stype[0] && strcmp(stype, "linear") != 0 && strcmp(stype, "none") != 0)
        return le_err_set(LE_EUNSUP, "%s: rope scaling type '%s' is not supported (only linear)", le_gguf_path(g),
                          stype);
    float scale = 0;
    if (le_gguf_find_key(g, "llama.rope.scaling.factor") >= 0)
        rc = le_model_opt_f32(g, "llama.rope.scaling.factor", 0, 1, &scale);
    else
        rc = le_model_opt_f32(g, "llama.rope.scale_linear", 0, 0, &scale);
    if (rc)
        return rc;
    if (scale < 0)
        return le_err_set(LE_EFORMAT, "%s: negative rope scaling factor", le_gguf_path(g));
    if (!strcmp(stype, "none"))
        scale = 0;
    in->rope_scale = scale == 0 ? 1.0f : scale;
    if ((rc = le_model_opt_i64(g, "general.file_type", 0, 1 << 20, -1, &v)))
        return rc;
    in->ftype = (int)v;
    return LE_OK;
}

static int le_model_layer(struct le_model *m, int il) {
    const struct le_gguf *g = m->g;
    struct le_layer *L = &m->layers[il];
    int64_t D = m->info.dim, F = m->info.ffn;
    char name[96];
    int rc;
#define LE_NAME(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
    if ((rc = le_model_vec(g, LE_NAME("attn_norm.weight"), D, 1, &L->attn_norm)) ||
        (rc = le_model_vec(g, LE_NAME("ffn_norm.weight"), D, 1, &L->ffn_norm)) ||
        (rc = le_model_mat(g, LE_NAME("attn_q.weight"), m->q_dim, D, 1, &L->wq)) ||
        (rc = le_model_mat(g, LE_NAME("attn_k.weight"), m->kv_dim, D, 1, &L->wk)) ||
        (rc = le_model_mat(g, LE_NAME("attn_v.weight"), m->kv_dim, D, 1, &L->wv)) ||
        (rc = le_model_mat(g, LE_NAME("attn_output.weight"), D, m->q_dim, 1, &L->wo)) ||
        (rc = le_model_mat(g, LE_NAME("ffn_gate.weight"), F, D, 1, &L->wgate)) ||
        (rc = le_model_mat(g, LE_NAME("ffn_up.weight"), F, D, 1, &L->wup)) ||
        (rc = le_model_mat(g, LE_NAME("ffn_down.weight"), D, F, 1, &L->wdown)))
        return rc;
    static const char *const biases[] = {"attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.bias",
                                         "ffn_gate_inp.weight"};
    for (size_t i = 0; i < sizeof biases / sizeof biases[0]; i++) {
        snprintf(name, sizeof name, "blk.%d.%s", il, biases[i]);
        if (le_gguf_find_tensor(g, name))
            return le_err_set(LE_EUNSUP, "%s: tensor %s is not supported (biases / experts)", le_gguf_path(g), name);
    }
#undef LE_NAME
    return LE_OK;
}

static int le_model_tensors(struct le_model *m) {
    const struct le_gguf *g = m->g;
    struct le_model_info *in = &m->info;
    int rc;
    const struct le_gguf_tensor *te = le_gguf_find_tensor(g, "token_embd.weight");
    if (!te)
        return le_err_set(LE_EFORMAT, "%s: required tensor token_embd.weight is missing", le_gguf_path(g));
    if (te->ne[1] < 1 || te->ne[1] > INT32_MAX)
        return le_err_set(LE_EFORMAT, "%s: token_embd.weight has %lld rows", le_gguf_path(g), (long long)te->ne[1]);
    in->n_vocab = te->ne[1];
    if ((rc = le_model_mat(g, "token_embd.weight", in->n_vocab, in->dim, 1, &m->embd)) ||
        (rc = le_model_mat(g, "output.weight", in->n_vocab, in->dim, 0, &m->out)) ||
        (rc = le_model_vec(g, "output_norm.weight", in->dim, 1, &m->out_norm)) ||
        (rc = le_model_vec(g, "rope_freqs.weight", in->head_dim / 2, 0, &m->rope_freqs)))
        return rc;
    in->tied = m->out.data == NULL;
    if (in->tied)
        m->out = m->embd;
    m->layers = calloc((size_t)in->n_layers, sizeof *m->layers);
    if (!m->layers)
        return le_err_set(LE_ENOMEM, "out of memory loading %s", le_gguf_path(g));
    for (int il = 0; il < in->n_layers; il++)
        if ((rc = le_model_layer(m, il)))
            return rc;
    in->main_type = m->layers[0].wq.type;
    in->n_params = 0;
    for (int64_t i = 0; i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        in->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    }
    in->n_params_nonembed = in->n_params - in->n_vocab * in->dim * (in->tied ? 1 : 2);
    return LE_OK;
}

int le_model_open(struct le_model **out, const char *path) { return le_model_open_ex(out, path, NULL); }

int le_model_open_ex(struct le_model **out, const char *path, const struct le_format_opts *opts) {
    *out = NULL;
    struct le_model *m = calloc(1, sizeof *m);
    if (!m)
        return le_err_set(LE_ENOMEM, "out of memory opening %s", path);
    /* The one seam for other sources: every format arrives as a GGUF view. */
    int rc = le_format_open(&m->g, path, opts);
    if (rc)
        goto fail;
    if ((rc = le_model_hparams(m)))
        goto fail;
    m->q_dim = m->info.n_heads * m->info.head_dim;
    m->kv_dim = m->info.n_kv_heads * m->info.head_dim;
    if ((rc = le_model_tensors(m)))
        goto fail;
    m->info.file_size = le_gguf_file_size(m->g);
    if (le_gguf_find_key(m->g, "tokenizer.ggml.model") >= 0) {
        if ((rc = le_tok_from_gguf(&m->tok, m->g))) {
            le_err_wrap(rc, "%s: tokenizer", path);
            goto fail;
        }
    }
    *out = m;
    return LE_OK;
fail:
    le_model_free(m);
    return rc;
}

void le_model_free(struct le_model *m) {
    if (!m)
        return;
    le_tok_free(m->tok);
    free(m->layers);
    le_gguf_close(m->g);
    free(m);
}

const struct le_model_info *le_model_get_info(const struct le_model *m) { return &m->info; }
const struct le_tok *le_model_tok(const struct le_model *m) { return m->tok; }
const struct le_gguf *le_model_gguf(const struct le_model *m) { return m->g; }

static double le_wmat_bytes(const struct le_wmat *w) {
    return (double)le_type_row_size(w->type, w->cols) * (double)w->rows;
}

double le_model_weight_bytes(const struct le_model *m) {
    int64_t D = m->info.dim;
    double b = le_wmat_bytes(&m->out) + (double)D * sizeof(float) * (2.0 * (double)m->info.n_layers + 1);
    for (int64_t l = 0; l < m->info.n_layers; l++) {
        const struct le_layer *L = &m->layers[l];
        b += le_wmat_bytes(&L->wq) + le_wmat_bytes(&L->wk) + le_wmat_bytes(&L->wv) + le_wmat_bytes(&L->wo) +
             le_wmat_bytes(&L->wgate) + le_wmat_bytes(&L->wup) + le_wmat_bytes(&L->wdown);
    }
    return b;
}

/* ---- contexts ---- */

static size_t le_ctx_bytes(size_t nfloat) { return (nfloat * sizeof(float) + 63) / 64 * 64; }

static float *le_ctx_alloc(size_t nfloat, int *fail) {
    size_t bytes = le_ctx_bytes(nfloat);
    void *p = bytes ? aligned_alloc(64, bytes) : NULL;
    if (!p)
        *fail = 1;
    return p;
}

static size_t le_ctx_mm_scratch(const struct le_model *m, int64_t n) {
    size_t s = le_matmul_scratch_size(m->out.type, m->info.dim, n);
    for (int64_t il = 0; il < m->info.n_layers; il++) {
        const struct le_layer *L = &m->layers[il];
        const struct le_wmat *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->wgate, &L->wup, &L->wdown};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
            size_t t = le_matmul_scratch_size(ws[i]->type, ws[i]->cols, n);
            if (t > s)
                s = t;
        }
    }
    return s;
}

/* The float buffers of a context, in the order le_ctx_sizes lists them. */
enum { LE_CB_K, LE_CB_V, LE_CB_KBUF, LE_CB_VBUF, LE_CB_ROPE, LE_CB_X, LE_CB_XN, LE_CB_Q, LE_CB_ATT, LE_CB_HG,
       LE_CB_HU, LE_CB_SCORES, LE_CB_LOGITS, LE_CB_PRIV, LE_CB_N };

/* Floats of one worker's private decode buffers (model_int.h: priv), each
 * part a multiple of 16 floats (64 bytes). */
static size_t le_ctx_priv_stride(const struct le_model *m) {
    size_t D = (size_t)m->info.dim, F = (size_t)m->info.ffn, DF = D > F ? D : F;
    size_t conv = (le_ctx_mm_scratch(m, 1) + 64 + 3) / 4; /* bytes, aligned to 64 inside */
    return (D + 15) / 16 * 16 + (DF + 15) / 16 * 16 + (conv + 15) / 16 * 16;
}

/* Floats of each buffer (model_int.h gives their shapes); the one place
 * both le_ctx_new and le_ctx_mem_plan take them from. n_batch <= n_ctx. */
static void le_ctx_sizes(const struct le_model *m, int n_ctx, int n_batch, int nth, size_t sz[LE_CB_N]) {
    const struct le_model_info *in = &m->info;
    size_t T = (size_t)n_ctx, B = (size_t)n_batch, D = (size_t)in->dim, Q = (size_t)m->q_dim;
    size_t KV = (size_t)m->kv_dim, F = (size_t)in->ffn, V = (size_t)in->n_vocab, L = (size_t)in->n_layers;
    size_t T16 = (T + LE_KBLK - 1) / LE_KBLK * LE_KBLK;
    sz[LE_CB_K] = L * T16 * KV;
    sz[LE_CB_V] = L * T * KV;
    sz[LE_CB_KBUF] = sz[LE_CB_VBUF] = B * KV;
    sz[LE_CB_ROPE] = T * (size_t)in->head_dim;
    sz[LE_CB_X] = B * D;
    sz[LE_CB_XN] = B * (D > Q ? D : Q);
    sz[LE_CB_Q] = sz[LE_CB_ATT] = B * Q;
    sz[LE_CB_HG] = sz[LE_CB_HU] = B * F;
    sz[LE_CB_SCORES] = (size_t)nth * LE_ATT_QB * T16;
    sz[LE_CB_LOGITS] = B * V;
    sz[LE_CB_PRIV] = (size_t)nth * le_ctx_priv_stride(m);
}

int le_ctx_mem_plan(const struct le_model *m, int n_ctx, int n_batch, int nthreads, struct le_ctx_mem *out) {
    memset(out, 0, sizeof *out);
    if (n_ctx < 1 || n_batch < 1 || n_ctx > (1 << 24) || nthreads < 1)
        return le_err_set(LE_EINVAL, "context size %d, batch size %d and threads %d must be positive", n_ctx,
                          n_batch, nthreads);
    if (n_batch > n_ctx)
        n_batch = n_ctx;
    size_t sz[LE_CB_N];
    le_ctx_sizes(m, n_ctx, n_batch, nthreads, sz);
    out->weights = m->info.file_size;
    out->kv = le_ctx_bytes(sz[LE_CB_K]) + le_ctx_bytes(sz[LE_CB_V]);
    for (int i = LE_CB_KBUF; i < LE_CB_N; i++)
        out->scratch += le_ctx_bytes(sz[i]);
    out->scratch += (le_ctx_mm_scratch(m, n_batch) + 64) / 64 * 64;
    out->total = out->weights + out->kv + out->scratch;
    return LE_OK;
}

int le_ctx_mem_check(const struct le_ctx_mem *p, int n_ctx, uint64_t avail, const char *source) {
    if (p->total <= avail)
        return LE_OK;
    char t[32], w[32], k[32], s[32], a[32];
    le_mem_fmt(p->total, t, sizeof t);
    le_mem_fmt(p->weights, w, sizeof w);
    le_mem_fmt(p->kv, k, sizeof k);
    le_mem_fmt(p->scratch, s, sizeof s);
    le_mem_fmt(avail, a, sizeof a);
    return le_err_set(LE_ENOMEM, "a context of %d positions needs %s (weights %s mapped + KV cache %s + scratch %s) "
                      "but only %s is available (%s): use a smaller context or free memory", n_ctx, t, w, k, s, a,
                      source ? source : "available memory");
}

/* Maps the weights' pages into the page tables before the first forward
 * pass, in the kernel (MADV_POPULATE_READ, split over the pool's threads),
 * as llama.cpp's MAP_POPULATE does: the 7.2 GB Q8_0 7B file, warm in the
 * page cache, cost 1.2 s of system time paged in by faults, 0.55 s populated
 * (scripts/bench big's first-token row). On a cold cache this reads the file
 * in order instead of in fault order. A hint: where the kernel lacks it
 * (before Linux 5.14) the forward pass faults the pages in as before. */
struct le_prefault {
    const char *lo;
    int64_t pages;
    long pg;
};

static void le_model_prefault_part(void *arg, int ith, int nth) {
    const struct le_prefault *p = arg;
    int64_t a, b;
    le_pool_range(p->pages, ith, nth, &a, &b);
#ifdef MADV_POPULATE_READ
    if (b > a && madvise((void *)(p->lo + a * p->pg), (size_t)(b - a) * (size_t)p->pg, MADV_POPULATE_READ) != 0)
        return; /* a hint only */
#else
    (void)a;
    (void)b;
#endif
}

static void le_model_prefault(struct le_model *m, struct le_pool *pool) {
    if (m->prefaulted)
        return;
    m->prefaulted = 1;
    const char *lo = NULL, *hi = NULL;
    for (int64_t i = 0; i < le_gguf_n_tensors(m->g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(m->g, i);
        const char *d = t->data;
        if (!d || !t->nbytes)
            continue;
        if (!lo || d < lo)
            lo = d;
        if (!hi || d + t->nbytes > hi)
            hi = d + t->nbytes;
    }
    long pg = sysconf(_SC_PAGESIZE);
    if (!lo || pg <= 0)
        return;
    struct le_prefault p = {(const char *)((uintptr_t)lo & ~(uintptr_t)(pg - 1)), 0, pg};
    p.pages = (int64_t)((hi - p.lo + pg - 1) / pg);
    le_pool_run(pool, le_model_prefault_part, &p);
}

int le_ctx_new(struct le_ctx **out, struct le_model *m, int n_ctx, int n_batch, struct le_pool *pool) {
    *out = NULL;
    if (n_ctx < 1 || n_batch < 1 || n_ctx > (1 << 24))
        return le_err_set(LE_EINVAL, "context size %d and batch size %d must be positive", n_ctx, n_batch);
    if (n_batch > n_ctx)
        n_batch = n_ctx;
    struct le_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return le_err_set(LE_ENOMEM, "out of memory creating a context");
    const struct le_model_info *in = &m->info;
    c->m = m;
    c->pool = pool;
    c->n_ctx = n_ctx;
    c->n_batch = n_batch;
    c->nth = le_pool_nthreads(pool);
    c->n_ctx16 = (n_ctx + LE_KBLK - 1) / LE_KBLK * LE_KBLK;
    size_t sz[LE_CB_N];
    le_ctx_sizes(m, n_ctx, n_batch, c->nth, sz);
    float **bufs[LE_CB_N] = {&c->k_cache, &c->v_cache, &c->kbuf, &c->vbuf, &c->rope, &c->x, &c->xn,
                             &c->q, &c->att, &c->hg, &c->hu, &c->scores, &c->logits, &c->priv};
    int fail = 0;
    for (int i = 0; i < LE_CB_N; i++)
        *bufs[i] = le_ctx_alloc(sz[i], &fail);
    c->priv_stride = (int64_t)le_ctx_priv_stride(m);
    c->mm_scratch_size = le_ctx_mm_scratch(m, (int64_t)n_batch);
    c->mm_scratch = aligned_alloc(64, (c->mm_scratch_size + 64) / 64 * 64);
    if (fail || !c->mm_scratch) {
        le_ctx_free(c);
        return le_err_set(LE_ENOMEM, "out of memory for a context of %d positions (batch %d)", n_ctx, n_batch);
    }
    /* Score kernels read whole 16-position blocks (their values past a
     * query's length are never used): keep them finite from the start. */
    memset(c->k_cache, 0, sz[LE_CB_K] * sizeof(float));
    le_ops_rope_table(c->rope, n_ctx, in->head_dim, in->rope_base, 1.0f / in->rope_scale, m->rope_freqs);
    c->kern = le_fwd_kernels_get(1);
    le_model_prefault(m, pool);
    *out = c;
    return LE_OK;
}

void le_ctx_free(struct le_ctx *c) {
    if (!c)
        return;
    free(c->k_cache);
    free(c->v_cache);
    free(c->kbuf);
    free(c->vbuf);
    free(c->rope);
    free(c->x);
    free(c->xn);
    free(c->q);
    free(c->att);
    free(c->hg);
    free(c->hu);
    free(c->scores);
    free(c->logits);
    free(c->priv);
    free(c->mm_scratch);
    free(c);
}

int le_ctx_n_ctx(const struct le_ctx *c) { return c->n_ctx; }
int le_ctx_n_batch(const struct le_ctx *c) { return c->n_batch; }
int le_ctx_n_cached(const struct le_ctx *c) { return c->n_cached; }
struct le_pool *le_ctx_pool(const struct le_ctx *c) { return c->pool; }
int le_ctx_kv_f16(const struct le_ctx *c) { return c->kv_f16; }
void le_ctx_set_kv_f16(struct le_ctx *c, int on) { c->kv_f16 = on != 0; }
void le_ctx_set_ref_kernels(struct le_ctx *c, int on) { c->kern = le_fwd_kernels_get(!on); }
const struct le_model *le_ctx_model(const struct le_ctx *c) { return c->m; }
const float *le_ctx_logits(const struct le_ctx *c) { return c->logits; }

int le_ctx_eval_from(struct le_ctx *c, const int32_t *tokens, int n, int pos, int first_logit) {
    if (n < 1 || n > c->n_batch)
        return le_err_set(LE_EINVAL, "eval of %d tokens: must be 1 .. batch size %d", n, c->n_batch);
    if (pos < 0 || pos > c->n_cached)
        return le_err_set(LE_EINVAL, "eval at position %d: only %d positions are cached", pos, c->n_cached);
    if ((int64_t)pos + n > c->n_ctx)
        return le_err_set(LE_EINVAL, "eval of %d tokens at position %d exceeds the context size %d", n, pos,
                          c->n_ctx);
    if (first_logit < 0 || first_logit > n)
        return le_err_set(LE_EINVAL, "first logit row %d is outside 0 .. %d", first_logit, n);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->m->info.n_vocab)
            return le_err_set(LE_EINVAL, "token id %d at batch row %d is outside the vocabulary (0 .. %lld)",
                              (int)tokens[i], i, (long long)c->m->info.n_vocab - 1);
    /* The cache is invalid past pos until this eval succeeds. */
    c->n_cached = pos;
    int rc = le_forward(c, tokens, n, pos, first_logit);
    if (rc)
        return rc;
    c->n_cached = pos + n;
    return LE_OK;
}

int le_ctx_decode_batch(struct le_ctx *const *cs, const int32_t *tokens, int n) {
    if (n < 1 || !cs || !cs[0] || n > cs[0]->n_batch)
        return le_err_set(LE_EINVAL, "batched decode of %d sequences: must be 1 .. batch size %d", n,
                          cs && cs[0] ? cs[0]->n_batch : 0);
    struct le_ctx *c = cs[0];
    int *pos = malloc((size_t)n * sizeof *pos);
    if (!pos)
        return le_err_set(LE_ENOMEM, "out of memory");
    int rc = LE_OK;
    for (int i = 0; i < n && !rc; i++) {
        const struct le_ctx *ci = cs[i];
        if (!ci || ci->m != c->m || ci->n_ctx != c->n_ctx || ci->kv_f16 != c->kv_f16) {
            rc = le_err_set(LE_EINVAL, "batched decode: context %d differs from the first in model, size or "
                            "KV rounding", i);
            break;
        }
        for (int k = 0; k < i && !rc; k++)
            if (cs[k] == ci)
                rc = le_err_set(LE_EINVAL, "batched decode: context %d appears twice", i);
        if (!rc && ci->n_cached >= ci->n_ctx)
            rc = le_err_set(LE_EINVAL, "batched decode: context %d is full (%d positions)", i, ci->n_ctx);
        if (!rc && (tokens[i] < 0 || tokens[i] >= c->m->info.n_vocab))
            rc = le_err_set(LE_EINVAL, "token id %d of sequence %d is outside the vocabulary (0 .. %lld)",
                            (int)tokens[i], i, (long long)c->m->info.n_vocab - 1);
        pos[i] = ci->n_cached;
    }
    if (!rc)
        rc = le_forward_rows(c, tokens, n, cs, pos);
    for (int i = 0; !rc && i < n; i++)
        cs[i]->n_cached = pos[i] + 1;
    free(pos);
    return rc;
}

int le_ctx_copy_cache(struct le_ctx *dst, const struct le_ctx *src, int n) {
    if (dst->m != src->m || dst->n_ctx != src->n_ctx || dst->kv_f16 != src->kv_f16)
        return le_err_set(LE_EINVAL, "cache copy between contexts of different model, size or KV rounding");
    if (n < 0 || n > src->n_cached)
        return le_err_set(LE_EINVAL, "cache copy of %d positions: the source caches %d", n, src->n_cached);
    const struct le_model *m = src->m;
    int64_t hd = m->info.head_dim, groups = m->info.n_layers * m->info.n_kv_heads;
    int64_t kblk = (n + LE_KBLK - 1) / LE_KBLK * LE_KBLK; /* whole 16-position K blocks */
    for (int64_t g = 0; g < groups; g++) {
        memcpy(dst->k_cache + g * src->n_ctx16 * hd, src->k_cache + g * src->n_ctx16 * hd,
               (size_t)(kblk * hd) * sizeof(float));
        memcpy(dst->v_cache + g * src->n_ctx * hd, src->v_cache + g * src->n_ctx * hd,
               (size_t)((int64_t)n * hd) * sizeof(float));
    }
    dst->n_cached = n;
    return LE_OK;
}

int le_ctx_eval(struct le_ctx *c, const int32_t *tokens, int n, int pos, int want_logits) {
    return le_ctx_eval_from(c, tokens, n, pos, want_logits ? 0 : n);
}
