/*
 * le_fmtwrite: see le_fmtwrite.h. Each writer reads the source GGUF with
 * le_gguf and writes the other format's bytes directly, from that format's
 * description (not through engine/format), so a reader bug is not mirrored
 * by a writer bug. Tensor names: llama.cpp's GGUF names, HF's
 * model.layers.N.* names, Meta's layers.N.* names (llama2.c and GGML).
 */
#include "le_fmtwrite.h"

#include "le_err.h"
#include "le_gguf.h"
#include "le_tok.h"
#include "le_types.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct src {
    struct le_gguf *g;
    int64_t dim, L, nh, nkv, ffn, ctx, V;
    float eps, base;
    int tied;
};

static int64_t geti(const struct le_gguf *g, const char *k, int64_t d) {
    int64_t v;
    return le_gguf_get_i64(g, k, &v) == LE_OK ? v : d;
}

static int src_open(struct src *s, const char *path) {
    memset(s, 0, sizeof *s);
    int rc = le_gguf_open(&s->g, path);
    if (rc)
        return rc;
    s->dim = geti(s->g, "llama.embedding_length", 0);
    s->L = geti(s->g, "llama.block_count", 0);
    s->nh = geti(s->g, "llama.attention.head_count", 0);
    s->nkv = geti(s->g, "llama.attention.head_count_kv", s->nh);
    s->ffn = geti(s->g, "llama.feed_forward_length", 0);
    s->ctx = geti(s->g, "llama.context_length", 0);
    s->eps = 1e-5f;
    s->base = 10000.0f;
    le_gguf_get_f32(s->g, "llama.attention.layer_norm_rms_epsilon", &s->eps);
    le_gguf_get_f32(s->g, "llama.rope.freq_base", &s->base);
    s->V = le_gguf_find_tensor(s->g, "token_embd.weight")->ne[1];
    s->tied = le_gguf_find_tensor(s->g, "output.weight") == NULL;
    return LE_OK;
}

static const float *tf(const struct src *s, const char *name) {
    const struct le_gguf_tensor *t = le_gguf_find_tensor(s->g, name);
    return t ? t->data : NULL;
}

/* GGUF per-layer suffix, HF suffix, Meta suffix, 0/1 matrix. */
static const struct lname {
    const char *gguf, *hf, *meta;
    int mat;
} lnames[] = {
    {"attn_norm.weight", "input_layernorm.weight", "attention_norm.weight", 0},
    {"ffn_norm.weight", "post_attention_layernorm.weight", "ffn_norm.weight", 0},
    {"attn_q.weight", "self_attn.q_proj.weight", "attention.wq.weight", 1},
    {"attn_k.weight", "self_attn.k_proj.weight", "attention.wk.weight", 1},
    {"attn_v.weight", "self_attn.v_proj.weight", "attention.wv.weight", 1},
    {"attn_output.weight", "self_attn.o_proj.weight", "attention.wo.weight", 1},
    {"ffn_gate.weight", "mlp.gate_proj.weight", "feed_forward.w1.weight", 1},
    {"ffn_up.weight", "mlp.up_proj.weight", "feed_forward.w3.weight", 1},
    {"ffn_down.weight", "mlp.down_proj.weight", "feed_forward.w2.weight", 1},
};
#define N_LNAMES (sizeof lnames / sizeof lnames[0])

static float round_to(int type, float x) {
    if (type == LE_TYPE_F16)
        return le_fp16_to_fp32(le_fp32_to_fp16(x));
    if (type == LE_TYPE_BF16)
        return le_bf16_to_fp32(le_fp32_to_bf16(x));
    return x;
}

/* ---- safetensors ---- */

int le_fw_safetensors(const char *path, int n, const char *const *names, const int *n_dims,
                      const int64_t (*shapes)[2], const float *const *data, int type) {
    const char *dt = type == LE_TYPE_F32 ? "F32" : type == LE_TYPE_F16 ? "F16" : "BF16";
    size_t es = type == LE_TYPE_F32 ? 4 : 2;
    cJSON *h = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(md, "format", "pt");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(h, names[i]);
        cJSON_AddStringToObject(e, "dtype", dt);
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        int64_t nel = 1;
        for (int d = 0; d < n_dims[i]; d++) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shapes[i][d]));
            nel *= shapes[i][d];
        }
        cJSON *of = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        off += (uint64_t)nel * es;
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    uint64_t hl = strlen(js), pad = (8 - hl % 8) % 8, hlen = hl + pad;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(js);
        return le_err_set(LE_EIO, "%s: cannot create", path);
    }
    fwrite(&hlen, 8, 1, f);
    fwrite(js, 1, hl, f);
    for (uint64_t i = 0; i < pad; i++)
        fputc(' ', f);
    free(js);
    for (int i = 0; i < n; i++) {
        int64_t nel = 1;
        for (int d = 0; d < n_dims[i]; d++)
            nel *= shapes[i][d];
        for (int64_t k = 0; k < nel; k++) {
            if (type == LE_TYPE_F32)
                fwrite(&data[i][k], 4, 1, f);
            else {
                uint16_t u = type == LE_TYPE_F16 ? le_fp32_to_fp16(data[i][k]) : le_fp32_to_bf16(data[i][k]);
                fwrite(&u, 2, 1, f);
            }
        }
    }
    return fclose(f) == 0 ? LE_OK : le_err_set(LE_EIO, "%s: write failed", path);
}

/* ---- Hugging Face ---- */

/* HF's convert_llama_weights_to_hf permute: Meta/GGUF row (h, 2i + j) goes
 * to HF row (h, j * hd/2 + i). */
static float *hf_permute(const float *w, int64_t rows, int64_t cols, int64_t n_head) {
    float *o = malloc((size_t)(rows * cols) * 4);
    int64_t hd = rows / n_head, half = hd / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(o + (h * hd + j * half + i) * cols, w + (h * hd + 2 * i + j) * cols, (size_t)cols * 4);
    return o;
}

static int write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    if (!f)
        return le_err_set(LE_EIO, "%s: cannot create", path);
    fputs(s, f);
    return fclose(f) == 0 ? LE_OK : le_err_set(LE_EIO, "%s: write failed", path);
}

int le_fw_hf(const char *gguf, const char *dir, int type, int n_shards, int tok) {
    struct src s;
    int rc = src_open(&s, gguf);
    if (rc)
        return rc;
    int cap = (int)(3 + s.L * (int64_t)N_LNAMES), n = 0;
    char **names = calloc((size_t)cap, sizeof *names);
    int *nd = calloc((size_t)cap, sizeof *nd);
    int64_t(*shapes)[2] = calloc((size_t)cap, sizeof *shapes);
    const float **data = calloc((size_t)cap, sizeof *data);
    float **owned = calloc((size_t)cap, sizeof *owned);
#define ADD(nm, d, r, c, p) \
    (names[n] = strdup(nm), nd[n] = (d), shapes[n][0] = (d) == 1 ? (c) : (r), shapes[n][1] = (c), data[n] = (p), n++)
    ADD("model.embed_tokens.weight", 2, s.V, s.dim, tf(&s, "token_embd.weight"));
    ADD("model.norm.weight", 1, 0, s.dim, tf(&s, "output_norm.weight"));
    if (!s.tied)
        ADD("lm_head.weight", 2, s.V, s.dim, tf(&s, "output.weight"));
    int64_t hd = s.dim / s.nh;
    for (int64_t l = 0; l < s.L; l++) {
        for (size_t k = 0; k < N_LNAMES; k++) {
            char gn[96], hn[128];
            snprintf(gn, sizeof gn, "blk.%lld.%s", (long long)l, lnames[k].gguf);
            snprintf(hn, sizeof hn, "model.layers.%lld.%s", (long long)l, lnames[k].hf);
            const struct le_gguf_tensor *t = le_gguf_find_tensor(s.g, gn);
            const float *d = t->data;
            if (k == 2 || k == 3) {
                owned[n] = hf_permute(d, t->ne[1], t->ne[0], k == 2 ? s.nh : s.nkv);
                d = owned[n];
            }
            ADD(hn, lnames[k].mat ? 2 : 1, t->ne[1], t->ne[0], d);
        }
    }
#undef ADD
    (void)hd;
    char path[1024];
    if (n_shards <= 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = le_fw_safetensors(path, n, (const char *const *)names, nd, (const int64_t(*)[2])shapes, data, type);
    } else {
        cJSON *idx = cJSON_CreateObject(), *wm;
        cJSON_AddObjectToObject(idx, "metadata");
        wm = cJSON_AddObjectToObject(idx, "weight_map");
        for (int sh = 0; !rc && sh < n_shards; sh++) {
            const char *sn[512];
            int snd[512], m = 0;
            int64_t ssh[512][2];
            const float *sd[512];
            char fname[64];
            snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", sh + 1, n_shards);
            for (int i = sh; i < n && m < 512; i += n_shards) {
                sn[m] = names[i];
                snd[m] = nd[i];
                ssh[m][0] = shapes[i][0];
                ssh[m][1] = shapes[i][1];
                sd[m++] = data[i];
                cJSON_AddStringToObject(wm, names[i], fname);
            }
            snprintf(path, sizeof path, "%s/%s", dir, fname);
            rc = le_fw_safetensors(path, m, sn, snd, (const int64_t(*)[2])ssh, sd, type);
        }
        char *js = cJSON_Print(idx);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        if (!rc)
            rc = write_text(path, js);
        free(js);
        cJSON_Delete(idx);
    }
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": %lld, "
             "\"intermediate_size\": %lld, \"num_hidden_layers\": %lld, \"num_attention_heads\": %lld, "
             "\"num_key_value_heads\": %lld, \"max_position_embeddings\": %lld, \"rms_norm_eps\": %.9g, "
             "\"rope_theta\": %.9g, \"vocab_size\": %lld, \"tie_word_embeddings\": %s, \"bos_token_id\": 1, "
             "\"eos_token_id\": 2, \"torch_dtype\": \"%s\"}\n",
             (long long)s.dim, (long long)s.ffn, (long long)s.L, (long long)s.nh, (long long)s.nkv, (long long)s.ctx,
             (double)s.eps, (double)s.base, (long long)s.V, s.tied ? "true" : "false",
             type == LE_TYPE_F32 ? "float32" : type == LE_TYPE_F16 ? "float16" : "bfloat16");
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!rc)
        rc = write_text(path, cfg);
    if (!rc && tok == LE_FW_TOK_MODEL) {
        snprintf(path, sizeof path, "%s/tokenizer.model", dir);
        rc = le_fw_spm_model(gguf, path);
    } else if (!rc && tok == LE_FW_TOK_JSON) {
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        rc = le_fw_tok_json(gguf, path);
    }
    for (int i = 0; i < n; i++) {
        free(names[i]);
        free(owned[i]);
    }
    free(names);
    free(nd);
    free(shapes);
    free(data);
    free(owned);
    le_gguf_close(s.g);
    return rc;
}

/* ---- GGUF references ---- */

/* A writer holding every key of g. */
static struct le_gguf_writer *copy_keys(const struct le_gguf *g) {
    struct le_gguf_writer *w;
    if (le_gguf_writer_new(&w))
        return NULL;
    for (int64_t i = 0; i < le_gguf_n_kv(g); i++)
        le_gguf_writer_copy_kv(w, g, i);
    return w;
}

int le_fw_round(const char *gguf, const char *out, int type, int round_vectors) {
    struct src s;
    int rc = src_open(&s, gguf);
    if (rc)
        return rc;
    struct le_gguf_writer *w = copy_keys(s.g);
    for (int64_t i = 0; !rc && i < le_gguf_n_tensors(s.g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(s.g, i);
        int64_t nel = t->ne[0] * t->ne[1];
        const float *x = t->data;
        if (t->n_dims == 1) {
            float *y = malloc((size_t)nel * 4);
            for (int64_t k = 0; k < nel; k++)
                y[k] = round_vectors ? round_to(type, x[k]) : x[k];
            rc = le_gguf_add_tensor(w, t->name, LE_TYPE_F32, 1, t->ne, y);
            free(y);
        } else {
            uint16_t *y = malloc((size_t)nel * 2);
            for (int64_t k = 0; k < nel; k++)
                y[k] = type == LE_TYPE_F16 ? le_fp32_to_fp16(x[k]) : le_fp32_to_bf16(x[k]);
            rc = le_gguf_add_tensor(w, t->name, type, 2, t->ne, y);
            free(y);
        }
    }
    if (!rc)
        rc = le_gguf_write(w, out);
    le_gguf_writer_free(w);
    le_gguf_close(s.g);
    return rc;
}

/* ---- llama2.c ---- */

static void put_f32s(FILE *f, const float *x, int64_t n) { fwrite(x, 4, (size_t)n, f); }

/* Q8 groups of 32 (export.py's quantize_q80): scale = max|w| / 127,
 * q = round(w / scale); deq receives (float)q * scale. */
static void put_q8(FILE *f, const float *w, int64_t n, float *deq) {
    int8_t *q = malloc((size_t)n);
    float *sc = malloc((size_t)(n / 32) * 4);
    for (int64_t g = 0; g < n / 32; g++) {
        float amax = 0;
        for (int k = 0; k < 32; k++)
            amax = fmaxf(amax, fabsf(w[g * 32 + k]));
        float s = amax / 127.0f;
        sc[g] = s;
        for (int k = 0; k < 32; k++) {
            float v = s > 0 ? roundf(w[g * 32 + k] / s) : 0;
            q[g * 32 + k] = (int8_t)v;
            deq[g * 32 + k] = (float)q[g * 32 + k] * s;
        }
    }
    fwrite(q, 1, (size_t)n, f);
    fwrite(sc, 4, (size_t)(n / 32), f);
    free(q);
    free(sc);
}

static int write_tokenizer_bin(const struct src *s, const char *path) {
    uint64_t n;
    int et;
    const void *d;
    if (le_gguf_get_arr(s->g, "tokenizer.ggml.tokens", &et, &n, &d))
        return LE_OK; /* no vocabulary: no tokenizer.bin */
    const float *scores = NULL;
    uint64_t ns;
    if (le_gguf_get_arr(s->g, "tokenizer.ggml.scores", &et, &ns, &d) == LE_OK)
        scores = d;
    FILE *f = fopen(path, "wb");
    if (!f)
        return le_err_set(LE_EIO, "%s: cannot create", path);
    int32_t maxlen = 0;
    fwrite(&maxlen, 4, 1, f);
    for (uint64_t i = 0; i < n; i++) {
        const char *t;
        uint64_t tl;
        le_gguf_get_arr_str(s->g, "tokenizer.ggml.tokens", i, &t, &tl);
        char buf[512];
        size_t bl = 0;
        if (tl == 3 && !memcmp(t, "<s>", 3))
            bl = (size_t)snprintf(buf, sizeof buf, "\n<s>\n");
        else if (tl == 4 && !memcmp(t, "</s>", 4))
            bl = (size_t)snprintf(buf, sizeof buf, "\n</s>\n");
        else
            for (uint64_t k = 0; k < tl && bl < sizeof buf - 1; k++) {
                if (k + 2 < tl && !memcmp(t + k, "\xe2\x96\x81", 3)) {
                    buf[bl++] = ' ';
                    k += 2;
                } else
                    buf[bl++] = t[k];
            }
        float sc = 0;
        if (scores)
            memcpy(&sc, (const uint8_t *)scores + 4 * i, 4);
        int32_t len = (int32_t)bl;
        fwrite(&sc, 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(buf, 1, bl, f);
    }
    return fclose(f) == 0 ? LE_OK : le_err_set(LE_EIO, "%s: write failed", path);
}

/* src_open, and the output file created (on failure neither is left open). */
static int src_open_out(struct src *s, const char *gguf, const char *path, FILE **f) {
    int rc = src_open(s, gguf);
    if (rc)
        return rc;
    if (!(*f = fopen(path, "wb"))) {
        le_gguf_close(s->g);
        return le_err_set(LE_EIO, "%s: cannot create", path);
    }
    return LE_OK;
}

int le_fw_llama2c(const char *gguf, const char *path, int version, const char *ref) {
    struct src s;
    FILE *f;
    int rc = src_open_out(&s, gguf, path, &f);
    if (rc)
        return rc;
    int32_t h[7] = {(int32_t)s.dim, (int32_t)s.ffn, (int32_t)s.L, (int32_t)s.nh, (int32_t)s.nkv, (int32_t)s.V,
                    (int32_t)s.ctx};
    struct le_gguf_writer *w = version == 2 && ref ? copy_keys(s.g) : NULL;
    if (version == 0) {
        if (!s.tied)
            h[5] = -h[5];
        fwrite(h, 4, 7, f);
    } else {
        uint8_t hdr[256] = {0};
        uint32_t magic = 0x616b3432u;
        int32_t ver = version, gs = 32;
        memcpy(hdr, &magic, 4);
        memcpy(hdr + 4, &ver, 4);
        memcpy(hdr + 8, h, 28);
        hdr[36] = (uint8_t)s.tied;
        if (version == 2)
            memcpy(hdr + 37, &gs, 4);
        fwrite(hdr, 1, 256, f);
    }
    char nm[96];
#define LAYERS(suffix, body)                                                       \
    for (int64_t l = 0; l < s.L; l++) {                                            \
        snprintf(nm, sizeof nm, "blk.%lld.%s", (long long)l, suffix);              \
        const struct le_gguf_tensor *t = le_gguf_find_tensor(s.g, nm);            \
        body;                                                                      \
    }
#define MAT(t)                                                                     \
    do {                                                                           \
        int64_t n_ = (t)->ne[0] * (t)->ne[1];                                      \
        if (version < 2)                                                           \
            put_f32s(f, (t)->data, n_);                                            \
        else {                                                                     \
            float *dq_ = malloc((size_t)n_ * 4);                                   \
            put_q8(f, (t)->data, n_, dq_);                                         \
            if (w)                                                                 \
                le_gguf_add_tensor(w, (t)->name, LE_TYPE_F32, 2, (t)->ne, dq_);    \
            free(dq_);                                                             \
        }                                                                          \
    } while (0)
    const struct le_gguf_tensor *emb = le_gguf_find_tensor(s.g, "token_embd.weight");
    const struct le_gguf_tensor *onorm = le_gguf_find_tensor(s.g, "output_norm.weight");
    if (version == 0) {
        MAT(emb);
        LAYERS("attn_norm.weight", put_f32s(f, t->data, s.dim));
        LAYERS("attn_q.weight", MAT(t));
        LAYERS("attn_k.weight", MAT(t));
        LAYERS("attn_v.weight", MAT(t));
        LAYERS("attn_output.weight", MAT(t));
        LAYERS("ffn_norm.weight", put_f32s(f, t->data, s.dim));
        LAYERS("ffn_gate.weight", MAT(t));
        LAYERS("ffn_down.weight", MAT(t));
        LAYERS("ffn_up.weight", MAT(t));
        put_f32s(f, onorm->data, s.dim);
        float *zeros = calloc((size_t)(s.ctx * (s.dim / s.nh)), 4);
        put_f32s(f, zeros, s.ctx * (s.dim / s.nh)); /* freq_cis_real + imag */
        free(zeros);
    } else {
        LAYERS("attn_norm.weight", put_f32s(f, t->data, s.dim); if (w) le_gguf_add_tensor(w, t->name, 0, 1, t->ne, t->data));
        LAYERS("ffn_norm.weight", put_f32s(f, t->data, s.dim); if (w) le_gguf_add_tensor(w, t->name, 0, 1, t->ne, t->data));
        put_f32s(f, onorm->data, s.dim);
        if (w)
            le_gguf_add_tensor(w, onorm->name, 0, 1, onorm->ne, onorm->data);
        MAT(emb);
        LAYERS("attn_q.weight", MAT(t));
        LAYERS("attn_k.weight", MAT(t));
        LAYERS("attn_v.weight", MAT(t));
        LAYERS("attn_output.weight", MAT(t));
        LAYERS("ffn_gate.weight", MAT(t));
        LAYERS("ffn_down.weight", MAT(t));
        LAYERS("ffn_up.weight", MAT(t));
    }
    if (!s.tied)
        MAT(le_gguf_find_tensor(s.g, "output.weight"));
#undef LAYERS
#undef MAT
    if (fclose(f) != 0)
        rc = le_err_set(LE_EIO, "%s: write failed", path);
    if (!rc && w)
        rc = le_gguf_write(w, ref);
    le_gguf_writer_free(w);
    char tp[1024];
    snprintf(tp, sizeof tp, "%s", path);
    char *sl = strrchr(tp, '/');
    if (!rc && sl) {
        snprintf(sl + 1, sizeof tp - (size_t)(sl + 1 - tp), "tokenizer.bin");
        rc = write_tokenizer_bin(&s, tp);
    }
    le_gguf_close(s.g);
    return rc;
}

/* ---- GGML family ---- */

/* Old Q4_0 (float32 scale): interleaved (ggml/ggmf/ggjt v1) or split (v2).
 * deq receives the values the block encodes. */
static void put_q4_old(FILE *f, const float *x, int64_t n, int split, float *deq) {
    for (int64_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        float amax = 0;
        for (int k = 0; k < 32; k++)
            amax = fmaxf(amax, fabsf(xb[k]));
        float d = amax / 7.0f, id = d ? 1.0f / d : 0;
        uint8_t q[32], qs[16];
        for (int k = 0; k < 32; k++) {
            int v = (int)roundf(xb[k] * id) + 8;
            q[k] = (uint8_t)(v < 0 ? 0 : v > 15 ? 15 : v);
        }
        for (int j = 0; j < 16; j++) {
            int lo = split ? j : 2 * j, hi = split ? j + 16 : 2 * j + 1;
            qs[j] = (uint8_t)(q[lo] | q[hi] << 4);
            deq[b * 32 + lo] = ((float)q[lo] - 8.0f) * d;
            deq[b * 32 + hi] = ((float)q[hi] - 8.0f) * d;
        }
        fwrite(&d, 4, 1, f);
        fwrite(qs, 1, 16, f);
    }
}

static void ggml_tensor(FILE *f, const char *name, const struct le_gguf_tensor *t, int type, int aligned, int split,
                        struct le_gguf_writer *w, const char *gname) {
    int32_t nd = t->n_dims, nl = (int32_t)strlen(name), ty = nd == 1 ? 0 : type;
    int32_t ne[2] = {(int32_t)t->ne[0], (int32_t)t->ne[1]};
    fwrite(&nd, 4, 1, f);
    fwrite(&nl, 4, 1, f);
    fwrite(&ty, 4, 1, f);
    fwrite(ne, 4, (size_t)nd, f);
    fwrite(name, 1, (size_t)nl, f);
    if (aligned)
        while (ftell(f) % 32)
            fputc(0, f);
    int64_t n = t->ne[0] * t->ne[1];
    const float *x = t->data;
    if (ty == LE_TYPE_F32) {
        fwrite(x, 4, (size_t)n, f);
        if (w)
            le_gguf_add_tensor(w, gname, 0, nd, t->ne, x);
    } else if (ty == LE_TYPE_F16) {
        uint16_t *h = malloc((size_t)n * 2);
        for (int64_t k = 0; k < n; k++)
            h[k] = le_fp32_to_fp16(x[k]);
        fwrite(h, 2, (size_t)n, f);
        if (w)
            le_gguf_add_tensor(w, gname, LE_TYPE_F16, nd, t->ne, h);
        free(h);
    } else if (ty == LE_TYPE_Q4_0) {
        float *dq = malloc((size_t)n * 4);
        put_q4_old(f, x, n, split, dq);
        if (w)
            le_gguf_add_tensor(w, gname, 0, nd, t->ne, dq);
        free(dq);
    } else { /* Q8_0, today's layout */
        size_t rb = le_type_row_size(LE_TYPE_Q8_0, t->ne[0]);
        uint8_t *q = malloc(rb * (size_t)t->ne[1]);
        for (int64_t r = 0; r < t->ne[1]; r++)
            le_type_get(LE_TYPE_Q8_0)->from_float(x + r * t->ne[0], q + r * rb, t->ne[0]);
        fwrite(q, 1, rb * (size_t)t->ne[1], f);
        if (w)
            le_gguf_add_tensor(w, gname, LE_TYPE_Q8_0, nd, t->ne, q);
        free(q);
    }
}

int le_fw_ggml(const char *gguf, const char *path, const char *magic, uint32_t version, int type, const char *ref) {
    struct src s;
    FILE *f;
    int rc = src_open_out(&s, gguf, path, &f);
    if (rc)
        return rc;
    uint32_t m = (uint32_t)magic[0] << 24 | (uint32_t)magic[1] << 16 | (uint32_t)magic[2] << 8 | (uint32_t)magic[3];
    int is_ggml = !strcmp(magic, "ggml"), aligned = !strcmp(magic, "ggjt"), split = aligned && version == 2;
    fwrite(&m, 4, 1, f);
    if (!is_ggml)
        fwrite(&version, 4, 1, f);
    uint32_t hp[7] = {(uint32_t)s.V, (uint32_t)s.dim, 256, (uint32_t)s.nh, (uint32_t)s.L, (uint32_t)(s.dim / s.nh),
                      (uint32_t)(type == 0 ? 0 : type == 1 ? 1 : type == 2 ? 2 : 7)};
    fwrite(hp, 4, 7, f);
    for (int64_t i = 0; i < s.V; i++) {
        const char *t = "";
        uint64_t tl = 0;
        le_gguf_get_arr_str(s.g, "tokenizer.ggml.tokens", (uint64_t)i, &t, &tl);
        uint32_t len = (uint32_t)tl;
        float sc = 0;
        int et;
        uint64_t ns;
        const void *d;
        if (le_gguf_get_arr(s.g, "tokenizer.ggml.scores", &et, &ns, &d) == LE_OK && (uint64_t)i < ns)
            memcpy(&sc, (const uint8_t *)d + 4 * i, 4);
        fwrite(&len, 4, 1, f);
        fwrite(t, 1, tl, f);
        if (!is_ggml)
            fwrite(&sc, 4, 1, f);
    }
    struct le_gguf_writer *w = ref ? copy_keys(s.g) : NULL;
    ggml_tensor(f, "tok_embeddings.weight", le_gguf_find_tensor(s.g, "token_embd.weight"), type, aligned, split, w,
                "token_embd.weight");
    ggml_tensor(f, "norm.weight", le_gguf_find_tensor(s.g, "output_norm.weight"), type, aligned, split, w,
                "output_norm.weight");
    ggml_tensor(f, "output.weight", le_gguf_find_tensor(s.g, "output.weight"), type, aligned, split, w,
                "output.weight");
    for (int64_t l = 0; l < s.L; l++)
        for (size_t k = 0; k < N_LNAMES; k++) {
            char gn[96], mn[128];
            snprintf(gn, sizeof gn, "blk.%lld.%s", (long long)l, lnames[k].gguf);
            snprintf(mn, sizeof mn, "layers.%lld.%s", (long long)l, lnames[k].meta);
            ggml_tensor(f, mn, le_gguf_find_tensor(s.g, gn), type, aligned, split, w, gn);
        }
    if (fclose(f) != 0)
        rc = le_err_set(LE_EIO, "%s: write failed", path);
    if (!rc && w)
        rc = le_gguf_write(w, ref);
    le_gguf_writer_free(w);
    le_gguf_close(s.g);
    return rc;
}

/* ---- tokenizers ---- */

static void pb_varint(FILE *f, uint64_t v) {
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        fputc(v ? b | 0x80 : b, f);
    } while (v);
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Opens vocab_gguf's tokenizer and calls write(g, t, out) with it and its
 * GGUF (BPE merges are read from there); closes both. */
static int fw_with_tok(const char *vocab_gguf, const char *out,
                       int (*write)(const struct le_gguf *g, const struct le_tok *t, const char *out)) {
    struct le_gguf *g;
    struct le_tok *t;
    int rc = le_gguf_open(&g, vocab_gguf);
    if (rc)
        return rc;
    if (!(rc = le_tok_from_gguf(&t, g))) {
        rc = write(g, t, out);
        le_tok_free(t);
    }
    le_gguf_close(g);
    return rc;
}

static int spm_model_write(const struct le_gguf *g, const struct le_tok *t, const char *out) {
    (void)g;
    int rc = LE_OK;
    FILE *f = fopen(out, "wb");
    for (int32_t i = 0; f && i < le_tok_n_vocab(t); i++) {
        size_t tl;
        const char *s = le_tok_text(t, i, &tl);
        float sc = le_tok_score(t, i);
        uint64_t ty = (uint64_t)le_tok_type(t, i);
        size_t body = 1 + varint_len(tl) + tl + 1 + 4 + 1 + varint_len(ty);
        fputc(0x0a, f); /* field 1, LEN */
        pb_varint(f, body);
        fputc(0x0a, f);
        pb_varint(f, tl);
        fwrite(s, 1, tl, f);
        fputc(0x15, f); /* field 2, fixed32 */
        fwrite(&sc, 4, 1, f);
        fputc(0x18, f); /* field 3, varint */
        pb_varint(f, ty);
    }
    if (f) {
        /* trainer_spec: unk_id 40, bos_id 41, eos_id 42 (varint fields) */
        uint8_t ts[32];
        size_t n = 0;
        int32_t ids[3] = {le_tok_unk(t), le_tok_bos(t), le_tok_eos(t)};
        for (int k = 0; k < 3; k++) {
            ts[n++] = (uint8_t)(((40 + k) << 3) & 0x7f) | 0x80;
            ts[n++] = (uint8_t)(((40 + k) << 3) >> 7);
            ts[n++] = (uint8_t)(ids[k] < 0 ? 0 : ids[k]);
        }
        fputc(0x12, f);
        pb_varint(f, n);
        fwrite(ts, 1, n, f);
        /* normalizer_spec: add_dummy_prefix (field 3) */
        fputc(0x1a, f);
        pb_varint(f, 2);
        fputc(0x18, f);
        fputc(le_tok_add_space_prefix(t) ? 1 : 0, f);
        if (fclose(f) != 0)
            rc = le_err_set(LE_EIO, "%s: write failed", out);
    } else
        rc = le_err_set(LE_EIO, "%s: cannot create", out);
    return rc;
}

int le_fw_spm_model(const char *vocab_gguf, const char *out) { return fw_with_tok(vocab_gguf, out, spm_model_write); }

struct mrg {
    float score;
    int32_t id;
    int32_t split; /* bytes of the left part */
};

static int mrg_cmp(const void *a, const void *b) {
    const struct mrg *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->split - y->split;
}

/* HF's LlamaConverter: merges are the splits of each token into two
 * vocabulary pieces, ordered by the merged piece's score. */
static cJSON *spm_merges(const struct le_tok *t) {
    int32_t n = le_tok_n_vocab(t);
    size_t cap = 1024, cnt = 0;
    struct mrg *m = malloc(cap * sizeof *m);
    for (int32_t i = 0; i < n; i++) {
        if (le_tok_type(t, i) != 1)
            continue;
        size_t tl;
        const char *s = le_tok_text(t, i, &tl);
        for (size_t k = 1; k < tl; k++) {
            if (((unsigned char)s[k] & 0xc0) == 0x80)
                continue; /* split at character boundaries only */
            int32_t a = le_tok_find(t, s, k), b = le_tok_find(t, s + k, tl - k);
            if (a < 0 || b < 0)
                continue;
            if (cnt == cap)
                m = realloc(m, (cap *= 2) * sizeof *m);
            m[cnt++] = (struct mrg){le_tok_score(t, i), i, (int32_t)k};
        }
    }
    qsort(m, cnt, sizeof *m, mrg_cmp);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < cnt; i++) {
        size_t tl;
        const char *s = le_tok_text(t, m[i].id, &tl);
        char *buf = malloc(tl + 2);
        memcpy(buf, s, (size_t)m[i].split);
        buf[m[i].split] = ' ';
        memcpy(buf + m[i].split + 1, s + m[i].split, tl - (size_t)m[i].split);
        buf[tl + 1] = 0;
        cJSON_AddItemToArray(arr, cJSON_CreateString(buf));
        free(buf);
    }
    free(m);
    return arr;
}

static int tok_json_write(const struct le_gguf *g, const struct le_tok *t, const char *out) {
    int spm = le_tok_kind(t) == LE_TOK_SPM;
    cJSON *root = cJSON_CreateObject(), *added = cJSON_AddArrayToObject(root, "added_tokens");
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int32_t i = 0; i < le_tok_n_vocab(t); i++) {
        size_t tl;
        const char *s = le_tok_text(t, i, &tl);
        char *z = strndup(s, tl);
        int ty = le_tok_type(t, i);
        if (ty == 3 || ty == 2) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", i);
            cJSON_AddStringToObject(a, "content", z);
            cJSON_AddBoolToObject(a, "special", 1);
            cJSON_AddItemToArray(added, a);
        }
        cJSON_AddNumberToObject(vocab, z, i);
        free(z);
    }
    if (spm) {
        cJSON_AddBoolToObject(model, "byte_fallback", 1);
        cJSON_AddStringToObject(model, "unk_token", "<unk>");
        cJSON_AddItemToObject(model, "merges", spm_merges(t));
        cJSON *nz = cJSON_AddObjectToObject(root, "normalizer");
        cJSON_AddStringToObject(nz, "type", "Sequence");
        cJSON *ns = cJSON_AddArrayToObject(nz, "normalizers");
        if (le_tok_add_space_prefix(t)) {
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "type", "Prepend");
            cJSON_AddStringToObject(p, "prepend", "\xe2\x96\x81");
            cJSON_AddItemToArray(ns, p);
        }
    } else {
        cJSON *merges = cJSON_AddArrayToObject(model, "merges");
        uint64_t nm = 0;
        int et;
        const void *d;
        le_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &nm, &d);
        for (uint64_t i = 0; i < nm; i++) {
            const char *s;
            uint64_t sl;
            le_gguf_get_arr_str(g, "tokenizer.ggml.merges", i, &s, &sl);
            char *z = strndup(s, sl);
            cJSON_AddItemToArray(merges, cJSON_CreateString(z));
            free(z);
        }
        cJSON *pt = cJSON_AddObjectToObject(root, "pre_tokenizer");
        cJSON_AddStringToObject(pt, "type", "ByteLevel");
        cJSON_AddBoolToObject(pt, "add_prefix_space", 0);
        cJSON_AddBoolToObject(pt, "use_regex", 1);
    }
    char *js = cJSON_PrintUnformatted(root);
    int rc = write_text(out, js);
    free(js);
    cJSON_Delete(root);
    return rc;
}

int le_fw_tok_json(const char *vocab_gguf, const char *out) { return fw_with_tok(vocab_gguf, out, tok_json_write); }
