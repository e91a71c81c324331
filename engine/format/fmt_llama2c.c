/*
 * fmt_llama2c: Andrej Karpathy's llama2.c checkpoints.
 *   v0 (legacy run.c): seven int32s (dim, hidden_dim, n_layers, n_heads,
 *      n_kv_heads, vocab_size -- negative when the classifier is not shared
 *      -- seq_len), then float32 weights: token embedding, attention norms,
 *      wq, wk, wv, wo, ffn norms, w1, w2, w3, final norm, the old
 *      freq_cis_real/imag tables (skipped), classifier if unshared.
 *   v1 (export.py version 1): magic "ak42", version 1, the seven int32s, a
 *      shared-classifier byte, padding to 256; float32 norms (attention,
 *      ffn, final), token embedding, wq, wk, wv, wo, w1, w2, w3, classifier.
 *   v2 (version 2, Q8_0 export): as v1 plus an int32 group size in the
 *      header; float32 norms, then for each matrix (embedding, each layer's
 *      wq ... w3, classifier) its int8 values followed by its float32 group
 *      scales. Dequantized to F32 (w = q * scale); ggml's Q8_0 keeps an F16
 *      scale, so no ggml type holds these values exactly.
 * Matrices are row-major (out, in) as in PyTorch, and rotary pairs are
 * adjacent (run.c), so no permutation. run.c's constants: rope base 10000,
 * RMS eps 1e-5. Float32 tensors stay in the mapping.
 */
#include "format_int.h"

#include "le_err.h"
#include "le_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct l2c {
    struct fmt_b *b;
    const char *path;
    const uint8_t *p;
    uint64_t size, pos;
    int version;
    int64_t gs; /* v2 group size */
};

/* Takes n float32s at the cursor (in place). */
static int l2c_f32(struct l2c *c, int64_t n, const float **out) {
    uint64_t bytes = (uint64_t)n * 4;
    if (bytes > c->size - c->pos)
        return le_err_set(LE_EFORMAT, "%s: truncated: %llu bytes of weights needed at offset %llu, file has %llu",
                          c->path, (unsigned long long)bytes, (unsigned long long)c->pos,
                          (unsigned long long)c->size);
    *out = (const float *)(c->p + c->pos);
    c->pos += bytes;
    return LE_OK;
}

/* One matrix of rows x cols: float32 in place (v0/v1) or dequantized (v2). */
static int l2c_mat(struct l2c *c, const char *name, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    const float *f = NULL;
    int rc;
    if (c->version < 2) {
        if ((rc = l2c_f32(c, n, &f)))
            return rc;
        return fmt_tensor_f(c->b, name, LE_TYPE_F32, rows, cols, f);
    }
    if (n % c->gs)
        return le_err_set(LE_EFORMAT, "%s: %s has %lld elements, not a multiple of the group size %lld", c->path,
                          name, (long long)n, (long long)c->gs);
    if ((uint64_t)n > c->size - c->pos)
        return le_err_set(LE_EFORMAT, "%s: truncated in the int8 values of %s", c->path, name);
    const int8_t *q = (const int8_t *)(c->p + c->pos);
    c->pos += (uint64_t)n;
    const float *s = NULL;
    if ((rc = l2c_f32(c, n / c->gs, &s)))
        return rc;
    float *w = fmt_alloc(c->b, (size_t)n * 4);
    if (!w)
        return LE_ENOMEM;
    for (int64_t i = 0; i < n; i++) {
        float sc;
        memcpy(&sc, s + i / c->gs, 4);
        w[i] = (float)q[i] * sc;
    }
    return fmt_tensor_f(c->b, name, LE_TYPE_F32, rows, cols, w);
}

static int l2c_vecs(struct l2c *c, const char *fmt, int64_t L, int64_t D) {
    char name[64];
    for (int64_t l = 0; l < L; l++) {
        const float *f = NULL;
        int rc = l2c_f32(c, D, &f);
        if (rc)
            return rc;
        snprintf(name, sizeof name, fmt, (long long)l);
        if ((rc = fmt_tensor_f(c->b, name, LE_TYPE_F32, 0, D, f)))
            return rc;
    }
    return LE_OK;
}

static int l2c_mats(struct l2c *c, const char *fmt, int64_t L, int64_t rows, int64_t cols) {
    char name[64];
    for (int64_t l = 0; l < L; l++) {
        snprintf(name, sizeof name, fmt, (long long)l);
        int rc = l2c_mat(c, name, rows, cols);
        if (rc)
            return rc;
    }
    return LE_OK;
}

static int l2c_header(struct l2c *c, struct fmt_hp *hp, int64_t *V, int *shared) {
    int32_t h[7];
    uint32_t magic;
    memset(hp, 0, sizeof *hp);
    memcpy(&magic, c->p, 4);
    if (magic == 0x616b3432u) {
        int32_t ver;
        if (c->size < 256)
            return le_err_set(LE_EFORMAT, "%s: truncated llama2.c header (%llu bytes, 256 expected)", c->path,
                              (unsigned long long)c->size);
        memcpy(&ver, c->p + 4, 4);
        memcpy(h, c->p + 8, 28);
        c->version = ver;
        *shared = c->p[36] != 0;
        if (ver == 2) {
            int32_t gs;
            memcpy(&gs, c->p + 37, 4);
            if (gs < 1)
                return le_err_set(LE_EFORMAT, "%s: group size %d", c->path, gs);
            c->gs = gs;
        } else if (ver != 1)
            return le_err_set(LE_EUNSUP, "%s: llama2.c version %d is not supported (0, 1, 2 are)", c->path, ver);
        c->pos = 256;
    } else {
        if (c->size < 28)
            return le_err_set(LE_EFORMAT, "%s: truncated llama2.c header", c->path);
        memcpy(h, c->p, 28);
        c->version = 0;
        *shared = h[5] > 0;
        h[5] = h[5] < 0 ? -h[5] : h[5];
        c->pos = 28;
    }
    hp->dim = h[0];
    hp->ffn = h[1];
    hp->n_layers = h[2];
    hp->n_heads = h[3];
    hp->n_kv_heads = h[4];
    *V = h[5];
    hp->ctx = h[6];
    if (hp->dim < 1 || hp->ffn < 1 || hp->n_layers < 1 || hp->n_heads < 1 || hp->n_kv_heads < 1 || *V < 1 ||
        hp->ctx < 1 || hp->dim % hp->n_heads || hp->n_heads % hp->n_kv_heads || (hp->dim / hp->n_heads) % 2)
        return le_err_set(LE_EFORMAT, "%s: implausible llama2.c header (dim %lld, hidden %lld, layers %lld, heads "
                          "%lld, kv heads %lld, vocab %lld, seq %lld)", c->path, (long long)hp->dim,
                          (long long)hp->ffn, (long long)hp->n_layers, (long long)hp->n_heads,
                          (long long)hp->n_kv_heads, (long long)*V, (long long)hp->ctx);
    hp->eps = 1e-5;
    hp->rope_base = 10000.0;
    hp->ftype = 0;
    const char *base = strrchr(c->path, '/');
    hp->name = base ? base + 1 : c->path;
    return LE_OK;
}

static int l2c_body(struct l2c *c, const struct fmt_hp *hp, int64_t V, int shared) {
    int64_t D = hp->dim, F = hp->ffn, L = hp->n_layers, KV = hp->n_kv_heads * (D / hp->n_heads);
    const float *f = NULL;
    int rc;
    if (c->version == 0) {
        if ((rc = l2c_mat(c, "token_embd.weight", V, D)) || (rc = l2c_vecs(c, "blk.%lld.attn_norm.weight", L, D)) ||
            (rc = l2c_mats(c, "blk.%lld.attn_q.weight", L, D, D)) ||
            (rc = l2c_mats(c, "blk.%lld.attn_k.weight", L, KV, D)) ||
            (rc = l2c_mats(c, "blk.%lld.attn_v.weight", L, KV, D)) ||
            (rc = l2c_mats(c, "blk.%lld.attn_output.weight", L, D, D)) ||
            (rc = l2c_vecs(c, "blk.%lld.ffn_norm.weight", L, D)) ||
            (rc = l2c_mats(c, "blk.%lld.ffn_gate.weight", L, F, D)) ||
            (rc = l2c_mats(c, "blk.%lld.ffn_down.weight", L, D, F)) ||
            (rc = l2c_mats(c, "blk.%lld.ffn_up.weight", L, F, D)) || (rc = l2c_f32(c, D, &f)) ||
            (rc = fmt_tensor_f(c->b, "output_norm.weight", LE_TYPE_F32, 0, D, f)) ||
            (rc = l2c_f32(c, hp->ctx * (D / hp->n_heads), &f)))
            return rc;
    } else {
        if ((rc = l2c_vecs(c, "blk.%lld.attn_norm.weight", L, D)) ||
            (rc = l2c_vecs(c, "blk.%lld.ffn_norm.weight", L, D)) || (rc = l2c_f32(c, D, &f)) ||
            (rc = fmt_tensor_f(c->b, "output_norm.weight", LE_TYPE_F32, 0, D, f)) ||
            (rc = l2c_mat(c, "token_embd.weight", V, D)) || (rc = l2c_mats(c, "blk.%lld.attn_q.weight", L, D, D)) ||
            (rc = l2c_mats(c, "blk.%lld.attn_k.weight", L, KV, D)) ||
            (rc = l2c_mats(c, "blk.%lld.attn_v.weight", L, KV, D)) ||
            (rc = l2c_mats(c, "blk.%lld.attn_output.weight", L, D, D)) ||
            (rc = l2c_mats(c, "blk.%lld.ffn_gate.weight", L, F, D)) ||
            (rc = l2c_mats(c, "blk.%lld.ffn_down.weight", L, D, F)) ||
            (rc = l2c_mats(c, "blk.%lld.ffn_up.weight", L, F, D)))
            return rc;
    }
    if (!shared && (rc = l2c_mat(c, "output.weight", V, D)))
        return rc;
    if (c->pos != c->size)
        return le_err_set(LE_EFORMAT, "%s: %llu bytes after the last tensor: the header does not match the weights",
                          c->path, (unsigned long long)(c->size - c->pos));
    return LE_OK;
}

int fmt_llama2c_open(struct fmt_b *b, const char *path, const char *tokenizer) {
    struct l2c c = {.b = b, .path = path};
    int rc = fmt_map(b, path, &c.p, &c.size);
    if (rc)
        return rc;
    if (c.size < 8)
        return le_err_set(LE_EFORMAT, "%s: truncated llama2.c header", path);
    struct fmt_hp hp;
    int64_t V = 0;
    int shared = 0;
    if ((rc = l2c_header(&c, &hp, &V, &shared)) || (rc = fmt_llama_kv(b, &hp)) ||
        (rc = l2c_body(&c, &hp, V, shared)))
        return rc;
    char *dir = NULL, *tp = NULL;
    if (!tokenizer) {
        dir = fmt_dirname(path);
        tp = dir ? fmt_join(dir, "tokenizer.bin") : NULL;
        if (!tp) {
            free(dir);
            return le_err_set(LE_ENOMEM, "out of memory");
        }
        tokenizer = fmt_is_file(tp) ? tp : NULL;
    }
    if (tokenizer)
        rc = fmt_tok_llama2c(b, tokenizer, V);
    free(dir);
    free(tp);
    return rc;
}
