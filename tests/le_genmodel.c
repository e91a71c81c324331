/*
 * le_genmodel: random-weight LLaMA GGUF files for tests (see le_genmodel.h).
 * Uses the engine's GGUF writer and each type's reference quantizer, so a
 * generated file is stored exactly as llama-quantize would store it.
 */
#include "le_genmodel.h"

#include "le_err.h"   /* le_err_set, LE_E* */
#include "le_gguf.h"  /* le_gguf_writer_* */
#include "le_types.h" /* le_type_get, le_type_row_size */
#include "le_util.h"  /* le_splitmix64 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct le_gen {
    struct le_gguf_writer *w;
    const struct le_genmodel_cfg *cfg;
    uint64_t rng;
    int rc;
};

static uint64_t le_gen_next(struct le_gen *g) { return le_splitmix64(&g->rng); }

static double le_gen_normal(struct le_gen *g) { /* Box-Muller, one value per call */
    double u1 = ((double)(le_gen_next(g) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(le_gen_next(g) >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int le_gen_skip_key(const struct le_gen *g, const char *key) {
    return g->cfg->omit_key && !strcmp(g->cfg->omit_key, key);
}

static void le_gen_u32(struct le_gen *g, const char *key, uint32_t v) {
    if (!g->rc && !le_gen_skip_key(g, key))
        g->rc = le_gguf_set_u32(g->w, key, v);
}
static void le_gen_f32(struct le_gen *g, const char *key, float v) {
    if (!g->rc && !le_gen_skip_key(g, key))
        g->rc = le_gguf_set_f32(g->w, key, v);
}
static void le_gen_str(struct le_gen *g, const char *key, const char *v) {
    if (!g->rc && !le_gen_skip_key(g, key))
        g->rc = le_gguf_set_str(g->w, key, v);
}
static void le_gen_bool(struct le_gen *g, const char *key, int v) {
    if (!g->rc && !le_gen_skip_key(g, key))
        g->rc = le_gguf_set_bool(g->w, key, v);
}

/* rows x cols of N(mean, sd) stored as type (1-D when rows == 0). */
static void le_gen_tensor(struct le_gen *g, const char *name, int type, int64_t rows, int64_t cols, double mean,
                          double sd) {
    if (g->rc)
        return;
    int64_t nr = rows ? rows : 1;
    float *f = malloc((size_t)(nr * cols) * sizeof *f);
    size_t row_bytes = le_type_row_size(type, cols);
    void *q = row_bytes ? malloc(row_bytes * (size_t)nr) : NULL;
    const struct le_type_traits *tt = le_type_get(type);
    if (!f || !q || !tt || !tt->from_float) {
        g->rc = (!f || (!q && row_bytes)) ? le_err_set(LE_ENOMEM, "genmodel: out of memory")
                                          : le_err_set(LE_EUNSUP, "genmodel: cannot store %s as type %d", name, type);
        free(f);
        free(q);
        return;
    }
    for (int64_t i = 0; i < nr * cols; i++)
        f[i] = (float)(mean + sd * le_gen_normal(g));
    if (!(g->cfg->omit_tensor && !strcmp(g->cfg->omit_tensor, name))) {
        for (int64_t r = 0; r < nr; r++)
            tt->from_float(f + r * cols, (char *)q + (size_t)r * row_bytes, cols);
        int64_t ne[2] = {cols, nr};
        g->rc = le_gguf_add_tensor(g->w, name, type, rows ? 2 : 1, ne, q);
    }
    free(f);
    free(q);
}

static const char *const le_gen_chars = "etaoinsrhldcumfpgwybvkxjqzTIASHCMBWPFD,.'-";
#define LE_SP "\xe2\x96\x81" /* U+2581, SentencePiece's space marker */
static const char *const le_gen_merges[] = {
    LE_SP "t", "he", LE_SP "a", "in", LE_SP "the", "er", "on", "re", "at", "en",
    LE_SP "s", LE_SP "o", LE_SP "w", LE_SP "c", "is", "it", "an", "or",
    LE_SP "b", LE_SP "f", LE_SP "m", LE_SP "p", "ed", "ing", "nd",
    LE_SP "of", LE_SP "and", LE_SP "to", "es", LE_SP "in", "ar", "ou",
    LE_SP "h", LE_SP "th", LE_SP "that", "le", LE_SP "d", "al", LE_SP "is",
    LE_SP "was", "as", LE_SP "he", "ion", LE_SP "for", "ll", "om", LE_SP "be",
    LE_SP "T", LE_SP "The", "ly", "st", LE_SP "re", "ent", LE_SP "on", "ve",
    LE_SP "with", "ce", "ter", LE_SP "it", LE_SP "," , LE_SP "."};

/* tokens, scores and types of the SPM vocabulary of n entries. */
static void le_gen_vocab(struct le_gen *g, int n) {
    char **tok = calloc((size_t)n, sizeof *tok);
    float *score = calloc((size_t)n, sizeof *score);
    int32_t *type = calloc((size_t)n, sizeof *type);
    if (!tok || !score || !type) {
        g->rc = le_err_set(LE_ENOMEM, "genmodel: out of memory");
        goto done;
    }
    int nm = (int)(sizeof le_gen_merges / sizeof le_gen_merges[0]), nc = (int)strlen(le_gen_chars);
    char buf[32];
    for (int i = 0; i < n; i++) {
        type[i] = 1;
        if (i == 0)
            snprintf(buf, sizeof buf, "<unk>"), type[i] = 2;
        else if (i <= 2)
            snprintf(buf, sizeof buf, i == 1 ? "<s>" : "</s>"), type[i] = 3;
        else if (i < 259)
            snprintf(buf, sizeof buf, "<0x%02X>", i - 3), type[i] = 6;
        else if (i == 259)
            snprintf(buf, sizeof buf, LE_SP), score[i] = -1000;
        else if (i < 260 + nc)
            snprintf(buf, sizeof buf, "%c", le_gen_chars[i - 260]), score[i] = (float)(-1001 - (i - 260));
        else if (i < 260 + nc + nm)
            snprintf(buf, sizeof buf, "%s", le_gen_merges[i - 260 - nc]), score[i] = (float)-(i - 260 - nc);
        else
            snprintf(buf, sizeof buf, "<extra_%d>", i), type[i] = 5, score[i] = -10000;
        if (!(tok[i] = strdup(buf))) {
            g->rc = le_err_set(LE_ENOMEM, "genmodel: out of memory");
            goto done;
        }
    }
    le_gen_str(g, "tokenizer.ggml.model", "llama");
    le_gen_str(g, "tokenizer.ggml.pre", "default");
    if (!g->rc && !le_gen_skip_key(g, "tokenizer.ggml.tokens"))
        g->rc = le_gguf_set_arr_str(g->w, "tokenizer.ggml.tokens", (uint64_t)n, (const char *const *)tok);
    if (!g->rc && !le_gen_skip_key(g, "tokenizer.ggml.scores"))
        g->rc = le_gguf_set_arr(g->w, "tokenizer.ggml.scores", LE_GGUF_F32, (uint64_t)n, score);
    if (!g->rc && !le_gen_skip_key(g, "tokenizer.ggml.token_type"))
        g->rc = le_gguf_set_arr(g->w, "tokenizer.ggml.token_type", LE_GGUF_I32, (uint64_t)n, type);
    le_gen_u32(g, "tokenizer.ggml.unknown_token_id", 0);
    le_gen_u32(g, "tokenizer.ggml.bos_token_id", 1);
    le_gen_u32(g, "tokenizer.ggml.eos_token_id", 2);
    le_gen_bool(g, "tokenizer.ggml.add_bos_token", 1);
    le_gen_bool(g, "tokenizer.ggml.add_eos_token", 0);
    le_gen_bool(g, "tokenizer.ggml.add_space_prefix", 1);
done:
    if (tok)
        for (int i = 0; i < n; i++)
            free(tok[i]);
    free(tok);
    free(score);
    free(type);
}

static int le_gen_ftype(int wtype) {
    switch (wtype) {
    case 0: return 0;   /* ALL_F32 */
    case 1: return 1;   /* MOSTLY_F16 */
    case 2: return 2;   /* MOSTLY_Q4_0 */
    case 3: return 3;   /* MOSTLY_Q4_1 */
    case 8: return 7;   /* MOSTLY_Q8_0 */
    case 6: return 8;   /* MOSTLY_Q5_0 */
    case 7: return 9;   /* MOSTLY_Q5_1 */
    case 30: return 32; /* MOSTLY_BF16 */
    case 10: return 10; /* MOSTLY_Q2_K */
    case 11: return 11; /* MOSTLY_Q3_K_S (every matrix Q3_K) */
    case 12: return 14; /* MOSTLY_Q4_K_S */
    case 13: return 16; /* MOSTLY_Q5_K_S */
    case 14: return 18; /* MOSTLY_Q6_K */
    default: return -1;
    }
}

static void le_gen_metadata(struct le_gen *g) {
    const struct le_genmodel_cfg *c = g->cfg;
    int n_kv = c->n_kv_heads ? c->n_kv_heads : c->n_heads;
    le_gen_str(g, "general.architecture", "llama");
    le_gen_str(g, "general.name", c->name ? c->name : "genmodel");
    if (le_gen_ftype(c->wtype) >= 0)
        le_gen_u32(g, "general.file_type", (uint32_t)le_gen_ftype(c->wtype));
    if (c->wtype != 0 && c->wtype != 1 && c->wtype != 30)
        le_gen_u32(g, "general.quantization_version", 2);
    le_gen_u32(g, "llama.context_length", (uint32_t)c->n_ctx);
    le_gen_u32(g, "llama.embedding_length", (uint32_t)c->dim);
    le_gen_u32(g, "llama.block_count", (uint32_t)c->n_layers);
    le_gen_u32(g, "llama.feed_forward_length", (uint32_t)c->ffn);
    le_gen_u32(g, "llama.rope.dimension_count", (uint32_t)(c->dim / c->n_heads));
    le_gen_u32(g, "llama.attention.head_count", (uint32_t)c->n_heads);
    le_gen_u32(g, "llama.attention.head_count_kv", (uint32_t)n_kv);
    le_gen_f32(g, "llama.attention.layer_norm_rms_epsilon", c->eps > 0 ? c->eps : 1e-5f);
    le_gen_f32(g, "llama.rope.freq_base", c->rope_base > 0 ? c->rope_base : 10000.0f);
    le_gen_u32(g, "llama.vocab_size", (uint32_t)c->n_vocab);
    if (c->rope_scale > 0) {
        le_gen_str(g, "llama.rope.scaling.type", "linear");
        le_gen_f32(g, "llama.rope.scaling.factor", c->rope_scale);
    }
    if (!c->no_tokenizer && c->n_vocab >= LE_GENMODEL_MIN_SPM_VOCAB)
        le_gen_vocab(g, c->n_vocab);
}

int le_genmodel_write(const char *path, const struct le_genmodel_cfg *c) {
    int n_kv = c->n_kv_heads ? c->n_kv_heads : c->n_heads;
    if (c->dim < 1 || c->n_layers < 1 || c->n_heads < 1 || c->dim % c->n_heads || c->n_heads % n_kv ||
        c->ffn < 1 || c->n_vocab < 3 || c->n_ctx < 1 || (c->dim / c->n_heads) % 2)
        return le_err_set(LE_EINVAL, "genmodel: inconsistent shape (dim %d, heads %d/%d, ffn %d, vocab %d)", c->dim,
                          c->n_heads, n_kv, c->ffn, c->n_vocab);
    struct le_gen g = {.cfg = c, .rng = c->seed * 0x2545F4914F6CDD1Dull + 1};
    int rc = le_gguf_writer_new(&g.w);
    if (rc)
        return rc;
    le_gen_metadata(&g);
    int64_t D = c->dim, hd = c->dim / c->n_heads, KV = hd * n_kv, F = c->ffn, V = c->n_vocab;
    int wt = c->wtype;
    double sd = 1.0 / sqrt((double)D);
    le_gen_tensor(&g, "token_embd.weight", c->embd_type ? c->embd_type : wt, V, D, 0, 1);
    char name[96];
    for (int il = 0; il < c->n_layers; il++) {
#define LE_NM(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
        le_gen_tensor(&g, LE_NM("attn_norm.weight"), 0, 0, D, 1, 0.1);
        le_gen_tensor(&g, LE_NM("attn_q.weight"), wt, D, D, 0, sd);
        le_gen_tensor(&g, LE_NM("attn_k.weight"), wt, KV, D, 0, sd);
        le_gen_tensor(&g, LE_NM("attn_v.weight"), wt, KV, D, 0, sd);
        le_gen_tensor(&g, LE_NM("attn_output.weight"), wt, D, D, 0, 0.5 * sd);
        le_gen_tensor(&g, LE_NM("ffn_norm.weight"), 0, 0, D, 1, 0.1);
        le_gen_tensor(&g, LE_NM("ffn_gate.weight"), wt, F, D, 0, sd);
        le_gen_tensor(&g, LE_NM("ffn_up.weight"), wt, F, D, 0, sd);
        le_gen_tensor(&g, LE_NM("ffn_down.weight"), wt, D, F, 0, 0.5 / sqrt((double)F));
#undef LE_NM
    }
    le_gen_tensor(&g, "output_norm.weight", 0, 0, D, 1, 0.1);
    if (!c->tied)
        le_gen_tensor(&g, "output.weight", wt, V, D, 0, sd);
    if (!g.rc)
        g.rc = le_gguf_write(g.w, path);
    le_gguf_writer_free(g.w);
    return g.rc;
}
