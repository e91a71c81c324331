/*
 * fmt_meta: Meta's original LLaMA checkpoints -- params.json and
 * consolidated.00.pth ... consolidated.NN.pth (one per model-parallel rank),
 * tokenizer.model beside them. Each shard is read by fmt_pth (no code
 * executed). Shards are merged along the dimension fairscale split them in:
 * column-parallel layers (wq, wk, wv, w1, w3, output) by rows, row-parallel
 * ones (wo, w2) and the ParallelEmbedding (tok_embeddings) by columns; norms
 * are replicated (taken from shard 0). A single shard stays in place in its
 * mapping; merged tensors are copies. Meta's Q/K rows are already in the
 * adjacent-pair rotary layout GGUF uses. Sizes: vocabulary and FFN width
 * from the tensors (params.json's vocab_size is -1 in LLaMA-1), the rest
 * from params.json and checked against every tensor.
 */
#include "format_int.h"

#include "le_err.h"
#include "le_types.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct meta {
    struct fmt_b *b;
    const char *dir;
    int n_shards;
    struct fmt_pt_tensor **t; /* per shard */
    int64_t *n;
};

static const struct fmt_pt_tensor *meta_find(const struct meta *m, int s, const char *name) {
    for (int64_t i = 0; i < m->n[s]; i++)
        if (!strcmp(m->t[s][i].name, name))
            return &m->t[s][i];
    return NULL;
}

static int meta_count_shards(struct meta *m) {
    DIR *d = opendir(m->dir);
    if (!d)
        return le_err_set(LE_EIO, "%s: cannot list the directory", m->dir);
    int max = -1, cnt = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int k, len = 0;
        if (sscanf(e->d_name, "consolidated.%d.pth%n", &k, &len) == 1 && len == (int)strlen(e->d_name) && k >= 0 &&
            k < 4096) {
            cnt++;
            if (k > max)
                max = k;
        }
    }
    closedir(d);
    if (cnt == 0)
        return le_err_set(LE_EFORMAT, "%s: no consolidated.NN.pth file", m->dir);
    if (cnt != max + 1)
        return le_err_set(LE_EFORMAT, "%s: shards are not consolidated.00 .. %02d: %d of %d present (a shard is missing)",
                          m->dir, max, cnt, max + 1);
    m->n_shards = cnt;
    return LE_OK;
}

static int meta_load(struct meta *m) {
    m->t = calloc((size_t)m->n_shards, sizeof *m->t);
    m->n = calloc((size_t)m->n_shards, sizeof *m->n);
    if (!m->t || !m->n)
        return le_err_set(LE_ENOMEM, "out of memory");
    for (int s = 0; s < m->n_shards; s++) {
        char name[64];
        snprintf(name, sizeof name, "consolidated.%02d.pth", s);
        char *path = fmt_join(m->dir, name);
        const uint8_t *p;
        uint64_t size;
        int rc = path ? fmt_map(m->b, path, &p, &size) : LE_ENOMEM;
        if (rc == LE_ENOTFOUND)
            rc = le_err_set(LE_EFORMAT, "%s: shard %s is missing (shard names must use two digits)", m->dir, name);
        if (!rc)
            rc = fmt_pth_parse(path, p, size, &m->t[s], &m->n[s]);
        free(path);
        if (rc)
            return rc;
    }
    return LE_OK;
}

/* Merges name over the shards along axis (0 rows, 1 cols; -1 replicated)
 * and checks the result is rows x cols (rows 0: a vector of cols). */
static int meta_map(struct meta *m, const char *src, const char *dst, int axis, int64_t rows, int64_t cols) {
    const struct fmt_pt_tensor *t0 = meta_find(m, 0, src);
    if (!t0)
        return le_err_set(LE_EFORMAT, "%s: tensor %s is missing from consolidated.00.pth", m->dir, src);
    int S = axis < 0 ? 1 : m->n_shards;
    int64_t r = rows ? t0->shape[0] : 0, c = rows ? t0->shape[1] : t0->shape[0];
    int nd = rows ? 2 : 1;
    for (int s = 1; s < S; s++) {
        const struct fmt_pt_tensor *t = meta_find(m, s, src);
        if (!t)
            return le_err_set(LE_EFORMAT, "%s: tensor %s is missing from consolidated.%02d.pth", m->dir, src, s);
        if (t->type != t0->type || t->n_dims != nd || (axis == 0 ? t->shape[1] != c : t->shape[0] != t0->shape[0]))
            return le_err_set(LE_EFORMAT, "%s: tensor %s: shards disagree in type or shape", m->dir, src);
    }
    if (axis == 0)
        r *= S;
    else if (axis == 1)
        c *= S;
    if (t0->n_dims != nd || r != rows || c != cols)
        return le_err_set(LE_EFORMAT, "%s: tensor %s has merged shape [%lld, %lld], params.json implies [%lld, %lld]",
                          m->dir, src, (long long)r, (long long)c, (long long)rows, (long long)cols);
    if (S == 1)
        return fmt_tensor_f(m->b, dst, t0->type, rows, cols, t0->data);
    size_t es = t0->type == LE_TYPE_F32 ? 4 : 2;
    uint8_t *buf = fmt_alloc(m->b, (size_t)(rows ? rows : 1) * (size_t)cols * es);
    if (!buf)
        return LE_ENOMEM;
    int64_t sr = axis == 0 ? rows / S : rows, sc = axis == 1 ? cols / S : cols;
    for (int s = 0; s < S; s++) {
        const uint8_t *src_data = meta_find(m, s, src)->data;
        for (int64_t i = 0; i < (rows ? sr : 1); i++) {
            int64_t orow = axis == 0 ? s * sr + i : i, ocol = axis == 1 ? s * sc : 0;
            memcpy(buf + ((size_t)orow * (size_t)cols + (size_t)ocol) * es, src_data + (size_t)i * (size_t)sc * es,
                   (size_t)sc * es);
        }
    }
    return fmt_tensor_f(m->b, dst, t0->type, rows, cols, buf);
}

/* fmt_layer_tensors' map: arg is the axis the shards split (meta_map). */
static int meta_layer_map(void *ud, const char *src, const char *dst, int64_t rows, int64_t cols, int arg) {
    return meta_map(ud, src, dst, arg, rows, cols);
}

static int meta_tensors(struct meta *m, const struct fmt_hp *hp, int64_t V) {
    int64_t D = hp->dim, F = hp->ffn, KV = hp->n_kv_heads * (D / hp->n_heads);
    int rc;
    if ((rc = meta_map(m, "tok_embeddings.weight", "token_embd.weight", 1, V, D)) ||
        (rc = meta_map(m, "norm.weight", "output_norm.weight", -1, 0, D)) ||
        (rc = meta_map(m, "output.weight", "output.weight", 0, V, D)))
        return rc;
    /* rows, cols: 0 none, 1 D, 2 F, 3 KV; arg: the shards' axis */
    static const struct fmt_layer_tensor t[] = {
        {"attention_norm.weight", "attn_norm.weight", 0, 1, -1},
        {"ffn_norm.weight", "ffn_norm.weight", 0, 1, -1},
        {"attention.wq.weight", "attn_q.weight", 1, 1, 0},
        {"attention.wk.weight", "attn_k.weight", 3, 1, 0},
        {"attention.wv.weight", "attn_v.weight", 3, 1, 0},
        {"attention.wo.weight", "attn_output.weight", 1, 1, 1},
        {"feed_forward.w1.weight", "ffn_gate.weight", 2, 1, 0},
        {"feed_forward.w2.weight", "ffn_down.weight", 1, 2, 1},
        {"feed_forward.w3.weight", "ffn_up.weight", 2, 1, 0},
    };
    const int64_t dims[] = {0, D, F, KV};
    return fmt_layer_tensors(hp->n_layers, "layers", t, sizeof t / sizeof t[0], dims, meta_layer_map, m);
}

static int meta_params(struct meta *m, struct fmt_hp *hp, int64_t *V) {
    char *pp = fmt_join(m->dir, "params.json");
    cJSON *j = NULL;
    int rc = pp ? fmt_json_file(pp, &j) : LE_ENOMEM;
    memset(hp, 0, sizeof *hp);
    if (!rc && !((rc = fmt_json_int(j, "dim", pp, 0, 0, &hp->dim)) ||
                 (rc = fmt_json_int(j, "n_layers", pp, 0, 0, &hp->n_layers)) ||
                 (rc = fmt_json_int(j, "n_heads", pp, 0, 0, &hp->n_heads)) ||
                 (rc = fmt_json_int(j, "n_kv_heads", pp, 1, hp->n_heads, &hp->n_kv_heads)) ||
                 (rc = fmt_json_int(j, "max_seq_len", pp, 1, 2048, &hp->ctx)) ||
                 (rc = fmt_json_num(j, "norm_eps", pp, 0, 0, &hp->eps)) ||
                 (rc = fmt_json_num(j, "rope_theta", pp, 1, 10000.0, &hp->rope_base)))) {
        if (hp->dim < 1 || hp->n_layers < 1 || hp->n_heads < 1 || hp->n_kv_heads < 1 || hp->dim % hp->n_heads ||
            hp->n_heads % hp->n_kv_heads || hp->ctx < 1)
            rc = le_err_set(LE_EFORMAT, "%s: inconsistent sizes (dim %lld, heads %lld, kv heads %lld)", pp,
                            (long long)hp->dim, (long long)hp->n_heads, (long long)hp->n_kv_heads);
    }
    cJSON_Delete(j);
    free(pp);
    if (rc)
        return rc;
    /* Vocabulary and FFN width from the tensors. */
    const struct fmt_pt_tensor *e = meta_find(m, 0, "tok_embeddings.weight");
    const struct fmt_pt_tensor *w1 = meta_find(m, 0, "layers.0.feed_forward.w1.weight");
    if (!e || !w1 || e->n_dims != 2 || w1->n_dims != 2)
        return le_err_set(LE_EFORMAT, "%s: consolidated.00.pth lacks tok_embeddings or layers.0.feed_forward.w1",
                          m->dir);
    *V = e->shape[0];
    hp->ffn = w1->shape[0] * m->n_shards;
    const char *base = strrchr(m->dir, '/');
    hp->name = base && base[1] ? base + 1 : m->dir;
    hp->ftype = fmt_ftype_of(w1->type);
    return LE_OK;
}

int fmt_meta_open(struct fmt_b *b, const char *dir) {
    struct meta m = {.b = b, .dir = dir};
    struct fmt_hp hp;
    int64_t V = 0;
    int rc = meta_count_shards(&m);
    if (!rc)
        rc = meta_load(&m);
    if (!rc)
        rc = meta_params(&m, &hp, &V);
    if (!rc)
        rc = fmt_llama_kv(b, &hp);
    if (!rc)
        rc = meta_tensors(&m, &hp, V);
    if (!rc) {
        char *tm = fmt_join(dir, "tokenizer.model");
        if (!tm)
            rc = le_err_set(LE_ENOMEM, "out of memory");
        else if (fmt_is_file(tm))
            rc = fmt_tok_spm_model(b, tm);
        free(tm);
    }
    for (int s = 0; m.t && s < m.n_shards; s++)
        free(m.t[s]);
    free(m.t);
    free(m.n);
    return rc;
}
