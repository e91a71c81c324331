/*
 * fmt_hf: a Hugging Face LLaMA directory -- config.json, model.safetensors
 * or the shards named by model.safetensors.index.json, and tokenizer.model
 * (preferred, as llama.cpp's converter) or tokenizer.json.
 *
 * Tensor names map to llama.cpp's (model.layers.N.self_attn.q_proj.weight
 * -> blk.N.attn_q.weight ...). HF exports store Q and K rows permuted so
 * that rotary pairs are (i, i + head_dim/2); llama.cpp's convert_hf_to_gguf
 * permutes them back to adjacent pairs (reshape(n_head, 2, hd/2, cols),
 * swap axes 1 and 2; K with n_head = num_key_value_heads), and so do we
 * (fmt_hf_row). Every shape is checked against config.json.
 */
#include "format_int.h"

#include "le_err.h"
#include "le_types.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hf {
    struct fmt_b *b;
    const char *dir;
    struct fmt_st_tensor *t; /* all shards' tensors */
    int64_t n;
};

static int hf_add_file(struct hf *h, const char *name) {
    char *path = fmt_join(h->dir, name);
    if (!path)
        return le_err_set(LE_ENOMEM, "out of memory");
    const uint8_t *p;
    uint64_t size;
    int rc = fmt_map(h->b, path, &p, &size);
    if (rc == LE_ENOTFOUND)
        rc = le_err_set(LE_EFORMAT, "%s: shard %s named by the index is missing", h->dir, name);
    struct fmt_st_tensor *t = NULL;
    int64_t n = 0;
    if (!rc)
        rc = fmt_st_parse(path, p, size, &t, &n);
    free(path);
    if (rc)
        return rc;
    void *q = realloc(h->t, (size_t)(h->n + n + 1) * sizeof *h->t);
    if (!q) {
        free(t);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    h->t = q;
    memcpy(h->t + h->n, t, (size_t)n * sizeof *t);
    h->n += n;
    free(t);
    return LE_OK;
}

/* The weight files: the index's shards (each once) or model.safetensors. */
static int hf_files(struct hf *h) {
    char *ip = fmt_join(h->dir, "model.safetensors.index.json");
    cJSON *idx = NULL;
    int rc = ip ? fmt_json_file(ip, &idx) : LE_ENOMEM;
    if (rc == LE_ENOTFOUND) {
        free(ip);
        return hf_add_file(h, "model.safetensors");
    }
    const cJSON *wm = idx ? cJSON_GetObjectItemCaseSensitive(idx, "weight_map") : NULL;
    if (!rc && !cJSON_IsObject(wm))
        rc = le_err_set(LE_EFORMAT, "%s: no \"weight_map\" object", ip);
    const char **seen = NULL;
    int n_seen = 0;
    const cJSON *e;
    if (!rc && !(seen = calloc((size_t)cJSON_GetArraySize(wm) + 1, sizeof *seen)))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    cJSON_ArrayForEach(e, wm) {
        if (rc)
            break;
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
            rc = le_err_set(LE_EFORMAT, "%s: weight_map entry %s is not a file name", ip, e->string);
            break;
        }
        int dup = 0;
        for (int i = 0; i < n_seen; i++)
            dup |= !strcmp(seen[i], e->valuestring);
        if (!dup) {
            seen[n_seen++] = e->valuestring;
            rc = hf_add_file(h, e->valuestring);
        }
    }
    /* Every tensor the index names must be in its shard. */
    cJSON_ArrayForEach(e, wm) {
        if (rc)
            break;
        int found = 0;
        for (int64_t i = 0; i < h->n && !found; i++)
            found = !strcmp(h->t[i].name, e->string);
        if (!found)
            rc = le_err_set(LE_EFORMAT, "%s: tensor %s is not in shard %s", ip, e->string, e->valuestring);
    }
    free(seen);
    cJSON_Delete(idx);
    free(ip);
    return rc;
}

static const struct fmt_st_tensor *hf_find(const struct hf *h, const char *name) {
    for (int64_t i = 0; i < h->n; i++)
        if (!strcmp(h->t[i].name, name))
            return &h->t[i];
    return NULL;
}

/* Adds HF tensor src as GGUF dst after checking its shape (rows 0: 1-D);
 * perm_heads > 0 undoes the Q/K permutation. */
static int hf_map(struct hf *h, const char *src, const char *dst, int64_t rows, int64_t cols, int64_t perm_heads,
                  int required) {
    const struct fmt_st_tensor *t = hf_find(h, src);
    if (!t)
        return required ? le_err_set(LE_EFORMAT, "%s: tensor %s is missing", h->dir, src) : LE_OK;
    int ok = rows ? (t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols)
                  : (t->n_dims == 1 && t->shape[0] == cols);
    if (!ok)
        return le_err_set(LE_EFORMAT, "%s: tensor %s has shape [%lld, %lld] (%d dims), config.json implies [%lld, %lld]",
                          h->dir, src, (long long)t->shape[0], (long long)t->shape[1], t->n_dims, (long long)rows,
                          (long long)cols);
    if (perm_heads)
        return fmt_tensor_unpermute(h->b, dst, t->type, rows, cols, t->data, perm_heads);
    return fmt_tensor_f(h->b, dst, t->type, rows, cols, t->data);
}

static int hf_config(struct hf *h, cJSON *cfg, const char *cp, struct fmt_hp *hp, int64_t *n_vocab) {
    int rc;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
    if (cJSON_IsString(mt) && strcmp(mt->valuestring, "llama") && strcmp(mt->valuestring, "mistral"))
        return le_err_set(LE_EUNSUP, "%s: model_type \"%.32s\" is not supported (only llama)", cp, mt->valuestring);
    memset(hp, 0, sizeof *hp);
    if ((rc = fmt_json_int(cfg, "hidden_size", cp, 0, 0, &hp->dim)) ||
        (rc = fmt_json_int(cfg, "intermediate_size", cp, 0, 0, &hp->ffn)) ||
        (rc = fmt_json_int(cfg, "num_hidden_layers", cp, 0, 0, &hp->n_layers)) ||
        (rc = fmt_json_int(cfg, "num_attention_heads", cp, 0, 0, &hp->n_heads)) ||
        (rc = fmt_json_int(cfg, "num_key_value_heads", cp, 1, hp->n_heads, &hp->n_kv_heads)) ||
        (rc = fmt_json_int(cfg, "max_position_embeddings", cp, 1, 2048, &hp->ctx)) ||
        (rc = fmt_json_int(cfg, "vocab_size", cp, 0, 0, n_vocab)) ||
        (rc = fmt_json_num(cfg, "rms_norm_eps", cp, 1, 1e-6, &hp->eps)) ||
        (rc = fmt_json_num(cfg, "rope_theta", cp, 1, 10000.0, &hp->rope_base)))
        return rc;
    if (hp->dim < 1 || hp->ffn < 1 || hp->n_layers < 1 || hp->n_heads < 1 || hp->n_kv_heads < 1 || *n_vocab < 1 ||
        hp->ctx < 1 || hp->dim % hp->n_heads || hp->n_heads % hp->n_kv_heads)
        return le_err_set(LE_EFORMAT, "%s: inconsistent sizes (hidden %lld, heads %lld, kv heads %lld)", cp,
                          (long long)hp->dim, (long long)hp->n_heads, (long long)hp->n_kv_heads);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    if (cJSON_IsObject(rs)) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rs, "type");
        if (!ty)
            ty = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "linear"))
            return le_err_set(LE_EUNSUP, "%s: rope_scaling other than linear is not supported", cp);
        if ((rc = fmt_json_num(rs, "factor", cp, 0, 1, &hp->rope_scale)))
            return rc;
    }
    const char *base = strrchr(h->dir, '/');
    hp->name = base && base[1] ? base + 1 : h->dir;
    hp->ftype = -1;
    return LE_OK;
}

struct hf_layers {
    struct hf *h;
    const struct fmt_hp *hp;
};

/* fmt_layer_tensors' map: arg 1 un-permutes the rows by heads, 2 by kv heads. */
static int hf_layer_map(void *ud, const char *src, const char *dst, int64_t rows, int64_t cols, int arg) {
    const struct hf_layers *L = ud;
    int64_t ph = arg == 1 ? L->hp->n_heads : arg == 2 ? L->hp->n_kv_heads : 0;
    return hf_map(L->h, src, dst, rows, cols, ph, 1);
}

static int hf_tensors(struct hf *h, const struct fmt_hp *hp, int64_t V) {
    int64_t D = hp->dim, F = hp->ffn, hd = D / hp->n_heads, KV = hp->n_kv_heads * hd, Q = hp->n_heads * hd;
    int rc;
    if ((rc = hf_map(h, "model.embed_tokens.weight", "token_embd.weight", V, D, 0, 1)) ||
        (rc = hf_map(h, "model.norm.weight", "output_norm.weight", 0, D, 0, 1)) ||
        (rc = hf_map(h, "lm_head.weight", "output.weight", V, D, 0, 0)))
        return rc;
    /* rows, cols: 0 none, 1 D, 2 F, 3 Q, 4 KV; arg: the permutation (hf_layer_map) */
    static const struct fmt_layer_tensor m[] = {
        {"input_layernorm.weight", "attn_norm.weight", 0, 1, 0},
        {"post_attention_layernorm.weight", "ffn_norm.weight", 0, 1, 0},
        {"self_attn.q_proj.weight", "attn_q.weight", 3, 1, 1},
        {"self_attn.k_proj.weight", "attn_k.weight", 4, 1, 2},
        {"self_attn.v_proj.weight", "attn_v.weight", 4, 1, 0},
        {"self_attn.o_proj.weight", "attn_output.weight", 1, 3, 0},
        {"mlp.gate_proj.weight", "ffn_gate.weight", 2, 1, 0},
        {"mlp.up_proj.weight", "ffn_up.weight", 2, 1, 0},
        {"mlp.down_proj.weight", "ffn_down.weight", 1, 2, 0},
    };
    const int64_t dims[] = {0, D, F, Q, KV};
    struct hf_layers L = {h, hp};
    return fmt_layer_tensors(hp->n_layers, "model.layers", m, sizeof m / sizeof m[0], dims, hf_layer_map, &L);
}

int fmt_hf_open(struct fmt_b *b, const char *dir) {
    struct hf h = {.b = b, .dir = dir};
    char *cp = fmt_join(dir, "config.json");
    cJSON *cfg = NULL;
    int rc = cp ? fmt_json_file(cp, &cfg) : LE_ENOMEM;
    struct fmt_hp hp;
    int64_t V = 0;
    if (!rc)
        rc = hf_config(&h, cfg, cp, &hp, &V);
    if (!rc)
        rc = hf_files(&h);
    if (!rc) {
        const struct fmt_st_tensor *q = hf_find(&h, "model.layers.0.self_attn.q_proj.weight");
        hp.ftype = fmt_ftype_of(q ? q->type : LE_TYPE_F32);
        rc = fmt_llama_kv(b, &hp);
    }
    if (!rc)
        rc = hf_tensors(&h, &hp, V);
    if (!rc) {
        char *tm = fmt_join(dir, "tokenizer.model"), *tj = fmt_join(dir, "tokenizer.json");
        if (!tm || !tj)
            rc = le_err_set(LE_ENOMEM, "out of memory");
        else if (fmt_is_file(tm))
            rc = fmt_tok_spm_model(b, tm);
        else if (fmt_is_file(tj))
            rc = fmt_tok_hf_json(b, tj, cp);
        free(tm);
        free(tj);
    }
    cJSON_Delete(cfg);
    free(cp);
    free(h.t);
    return rc;
}
