/*
 * fmt_lora: LoRA adapters merged into a model at open time.
 *   PEFT: adapter_config.json (r, lora_alpha, use_rslora) and
 *         adapter_model.safetensors (or adapter_model.bin, a torch.save zip
 *         read by fmt_pth) with base_model.model.model.layers.N.{self_attn,
 *         mlp}.X_proj.lora_A.weight (r x in) and lora_B.weight (out x r).
 *         PEFT trains on Hugging Face models, so the rows of q_proj's and
 *         k_proj's B are in HF's rotary order: they are permuted like the
 *         base weights (fmt_hf_row) before merging.
 *   GGUF: llama.cpp's adapter files (general.type = adapter, adapter.type =
 *         lora, adapter.lora.alpha) with NAME.lora_a (ne [in, r]) and
 *         NAME.lora_b (ne [r, out]), already in GGUF's layout.
 * Merge: W' = W + s * B A with s = scale * alpha / r (alpha / sqrt(r) with
 * rsLoRA), each delta element summed in double over the rank in order and
 * rounded once to float, added to W in float32 (a quantized or 16-bit W is
 * first converted to float32 with its type's to_float). Touched matrices
 * become F32 copies; everything else stays where it was. The result is a
 * new view that owns the old one.
 */
#include "format_int.h"

#include "le_err.h"
#include "le_types.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One low-rank pair: A (r x in), B (out x r) as float32 copies. */
struct lpair {
    char target[96]; /* GGUF tensor name */
    float *a, *b;
    int64_t r, in, out;
    int perm; /* 0 none, 1 Q rows, 2 K rows (HF order) */
};

struct lora {
    const char *path;
    struct lpair *p;
    int64_t n;
    double alpha;
    int rslora;
};

static void lora_free(struct lora *l) {
    for (int64_t i = 0; i < l->n; i++) {
        free(l->p[i].a);
        free(l->p[i].b);
    }
    free(l->p);
}

static float *to_f32(int type, const void *data, int64_t n) {
    float *f = malloc((size_t)n * 4 + 4);
    for (int64_t i = 0; f && i < n; i++)
        f[i] = fmt_to_f32(type, data, i);
    return f;
}

static struct lpair *lora_slot(struct lora *l, const char *target) {
    for (int64_t i = 0; i < l->n; i++)
        if (!strcmp(l->p[i].target, target))
            return &l->p[i];
    struct lpair *q = realloc(l->p, (size_t)(l->n + 1) * sizeof *q);
    if (!q)
        return NULL;
    l->p = q;
    memset(&l->p[l->n], 0, sizeof *l->p);
    snprintf(l->p[l->n].target, sizeof l->p[l->n].target, "%s", target);
    return &l->p[l->n++];
}

/* PEFT name -> GGUF target, whether it is A, and the permutation. */
static int peft_name(const char *name, char *target, size_t cap, int *is_a, int *perm) {
    static const struct { const char *hf, *gguf; int perm; } m[] = {
        {"self_attn.q_proj", "attn_q", 1}, {"self_attn.k_proj", "attn_k", 2}, {"self_attn.v_proj", "attn_v", 0},
        {"self_attn.o_proj", "attn_output", 0}, {"mlp.gate_proj", "ffn_gate", 0}, {"mlp.up_proj", "ffn_up", 0},
        {"mlp.down_proj", "ffn_down", 0},
    };
    const char *p = strstr(name, "layers.");
    int l, len = 0;
    if (!p || sscanf(p, "layers.%d.%n", &l, &len) != 1 || len == 0)
        return -1;
    p += len;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        size_t hl = strlen(m[i].hf);
        if (strncmp(p, m[i].hf, hl) || p[hl] != '.')
            continue;
        const char *rest = p + hl + 1;
        if (!strncmp(rest, "lora_A.", 7))
            *is_a = 1;
        else if (!strncmp(rest, "lora_B.", 7))
            *is_a = 0;
        else
            return -1;
        snprintf(target, cap, "blk.%d.%s.weight", l, m[i].gguf);
        *perm = m[i].perm;
        return 0;
    }
    return -1;
}

static int lora_add(struct lora *l, const char *name, int type, int n_dims, const int64_t *shape, const void *data) {
    char target[96];
    int is_a, perm;
    if (peft_name(name, target, sizeof target, &is_a, &perm))
        return le_err_set(LE_EUNSUP, "%s: adapter tensor %s is not a LoRA of a LLaMA attention or MLP projection",
                          l->path, name);
    if (n_dims != 2)
        return le_err_set(LE_EFORMAT, "%s: adapter tensor %s is not 2-D", l->path, name);
    struct lpair *p = lora_slot(l, target);
    float *f = p ? to_f32(type, data, shape[0] * shape[1]) : NULL;
    if (!f)
        return le_err_set(LE_ENOMEM, "out of memory");
    p->perm = perm;
    if (is_a) {
        free(p->a);
        p->a = f;
        p->r = shape[0];
        p->in = shape[1];
    } else {
        free(p->b);
        p->b = f;
        p->out = shape[0];
        if (p->r && shape[1] != p->r) {
            return le_err_set(LE_EFORMAT, "%s: %s has rank %lld, its lora_A %lld", l->path, name, (long long)shape[1],
                              (long long)p->r);
        }
        if (!p->r)
            p->r = shape[1];
    }
    return LE_OK;
}

static int peft_load(struct lora *l, const char *path, struct fmt_b *tmp) {
    char *dir = fmt_is_dir(path) ? strdup(path) : fmt_dirname(path);
    char *cfgp = dir ? fmt_join(dir, "adapter_config.json") : NULL;
    char *st = dir ? (fmt_is_dir(path) ? fmt_join(dir, "adapter_model.safetensors") : strdup(path)) : NULL;
    cJSON *cfg = NULL;
    int rc = cfgp && st ? fmt_json_file(cfgp, &cfg) : le_err_set(LE_ENOMEM, "out of memory");
    int64_t r = 0;
    if (!rc && !(rc = fmt_json_int(cfg, "r", cfgp, 0, 0, &r)) &&
        !(rc = fmt_json_num(cfg, "lora_alpha", cfgp, 1, (double)r, &l->alpha))) {
        l->rslora = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "use_rslora"));
        if (r < 1)
            rc = le_err_set(LE_EFORMAT, "%s: r = %lld", cfgp, (long long)r);
    }
    if (!rc && fmt_is_dir(path) && !fmt_is_file(st)) {
        free(st);
        st = fmt_join(dir, "adapter_model.bin");
    }
    const uint8_t *p;
    uint64_t size;
    if (!rc && (rc = fmt_map(tmp, st, &p, &size)) == LE_ENOTFOUND)
        rc = le_err_set(LE_EFORMAT, "%s: no adapter_model.safetensors or adapter_model.bin", dir);
    if (!rc && size >= 4 && !memcmp(p, "PK\3\4", 4)) {
        struct fmt_pt_tensor *t = NULL;
        int64_t n = 0;
        rc = fmt_pth_parse(st, p, size, &t, &n);
        for (int64_t i = 0; !rc && i < n; i++)
            rc = lora_add(l, t[i].name, t[i].type, t[i].n_dims, t[i].shape, t[i].data);
        free(t);
    } else if (!rc) {
        struct fmt_st_tensor *t = NULL;
        int64_t n = 0;
        rc = fmt_st_parse(st, p, size, &t, &n);
        for (int64_t i = 0; !rc && i < n; i++)
            rc = lora_add(l, t[i].name, t[i].type, t[i].n_dims, t[i].shape, t[i].data);
        free(t);
    }
    for (int64_t i = 0; !rc && i < l->n; i++)
        if (l->p[i].r != r)
            rc = le_err_set(LE_EFORMAT, "%s: %s has rank %lld, adapter_config.json says r = %lld", l->path,
                            l->p[i].target, (long long)l->p[i].r, (long long)r);
    cJSON_Delete(cfg);
    free(cfgp);
    free(st);
    free(dir);
    return rc;
}

static int gguf_lora_load(struct lora *l, const char *path) {
    struct le_gguf *g;
    int rc = le_gguf_open(&g, path);
    if (rc)
        return rc;
    const char *s;
    uint64_t sl;
    float alpha = 0;
    if (le_gguf_get_str(g, "adapter.type", &s, &sl) != LE_OK || sl != 4 || memcmp(s, "lora", 4))
        rc = le_err_set(LE_EFORMAT, "%s: a GGUF without adapter.type = lora is not a LoRA adapter", path);
    else if (le_gguf_get_f32(g, "adapter.lora.alpha", &alpha) == LE_ENOTFOUND)
        alpha = 0;
    for (int64_t i = 0; !rc && i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        size_t nl = strlen(t->name);
        int is_a = nl > 7 && !strcmp(t->name + nl - 7, ".lora_a");
        if (!is_a && !(nl > 7 && !strcmp(t->name + nl - 7, ".lora_b"))) {
            rc = le_err_set(LE_EUNSUP, "%s: tensor %s is not a lora_a/lora_b", path, t->name);
            break;
        }
        if (t->n_dims != 2 || (t->type != LE_TYPE_F32 && t->type != LE_TYPE_F16 && t->type != LE_TYPE_BF16)) {
            rc = le_err_set(LE_EUNSUP, "%s: tensor %s must be a 2-D F32/F16/BF16 matrix", path, t->name);
            break;
        }
        char target[96];
        snprintf(target, sizeof target, "%.*s", (int)(nl - 7), t->name);
        struct lpair *p = lora_slot(l, target);
        float *f = p ? to_f32(t->type, t->data, t->ne[0] * t->ne[1]) : NULL;
        if (!f) {
            rc = le_err_set(LE_ENOMEM, "out of memory");
            break;
        }
        if (is_a) {
            free(p->a);
            p->a = f;
            p->r = t->ne[1];
            p->in = t->ne[0];
        } else {
            free(p->b);
            p->b = f;
            p->out = t->ne[1];
            if (p->r && p->r != t->ne[0])
                rc = le_err_set(LE_EFORMAT, "%s: %s has rank %lld, its lora_a %lld", path, t->name,
                                (long long)t->ne[0], (long long)p->r);
            p->r = t->ne[0];
        }
    }
    l->alpha = alpha;
    le_gguf_close(g);
    return rc;
}

/* Merges pair p into base tensor t as a new F32 tensor in b. */
static int lora_merge(struct fmt_b *b, const struct le_gguf_tensor *t, const struct lpair *p, double s,
                      int64_t n_head, int64_t n_head_kv) {
    int64_t rows = t->ne[1], cols = t->ne[0];
    if (t->n_dims != 2 || rows != p->out || cols != p->in)
        return le_err_set(LE_EFORMAT, "%s: LoRA for %s is %lld x %lld, the model's tensor %lld x %lld", b->path,
                          p->target, (long long)p->out, (long long)p->in, (long long)rows, (long long)cols);
    const struct le_type_traits *tt = le_type_get(t->type);
    if (!tt || !tt->to_float)
        return le_err_set(LE_EUNSUP, "%s: cannot merge a LoRA into %s of type %s", b->path, p->target,
                          le_type_name(t->type));
    float *w = fmt_alloc(b, (size_t)rows * (size_t)cols * 4);
    if (!w)
        return LE_ENOMEM;
    size_t rb = le_type_row_size(t->type, cols);
    for (int64_t o = 0; o < rows; o++) {
        float *wr = w + o * cols;
        tt->to_float((const uint8_t *)t->data + (size_t)o * rb, wr, cols);
        int64_t bo = p->perm ? fmt_hf_row(o, rows, p->perm == 1 ? n_head : n_head_kv) : o;
        const float *br = p->b + bo * p->r;
        for (int64_t i = 0; i < cols; i++) {
            double acc = 0;
            for (int64_t k = 0; k < p->r; k++)
                acc += (double)br[k] * (double)p->a[k * cols + i];
            wr[i] += (float)(s * acc);
        }
    }
    int64_t ne[2] = {cols, rows};
    return fmt_tensor(b, p->target, LE_TYPE_F32, 2, ne, w);
}

int fmt_lora_apply(struct le_gguf **gp, const struct le_lora_spec *spec) {
    struct le_gguf *g = *gp;
    struct lora l = {.path = spec->path};
    struct fmt_b b;
    int rc = fmt_b_init(&b, le_gguf_path(g));
    if (rc)
        return rc;
    uint8_t magic[4] = {0};
    FILE *f = fmt_is_file(spec->path) ? fopen(spec->path, "rb") : NULL;
    if (f) {
        if (fread(magic, 1, 4, f) != 4)
            memset(magic, 0, 4);
        fclose(f);
    }
    if (!fmt_is_file(spec->path) && !fmt_is_dir(spec->path))
        rc = le_err_set(LE_ENOTFOUND, "%s: LoRA adapter not found", spec->path);
    else if (!memcmp(magic, "GGUF", 4))
        rc = gguf_lora_load(&l, spec->path);
    else
        rc = peft_load(&l, spec->path, &b);
    int64_t nh = 0, nkv = 0;
    if (!rc && (le_gguf_get_i64(g, "llama.attention.head_count", &nh) || nh < 1))
        rc = le_err_set(LE_EFORMAT, "%s: the base model has no llama.attention.head_count", spec->path);
    if (!rc && le_gguf_get_i64(g, "llama.attention.head_count_kv", &nkv))
        nkv = nh;
    for (int64_t i = 0; !rc && i < l.n; i++) {
        if (!l.p[i].a || !l.p[i].b)
            rc = le_err_set(LE_EFORMAT, "%s: %s has lora_A without lora_B or the reverse", spec->path, l.p[i].target);
        else if (!le_gguf_find_tensor(g, l.p[i].target))
            rc = le_err_set(LE_EFORMAT, "%s: the model has no tensor %s to adapt", spec->path, l.p[i].target);
    }
    for (int64_t i = 0; !rc && i < le_gguf_n_kv(g); i++)
        rc = le_gguf_writer_copy_kv(b.w, g, i);
    for (int64_t i = 0; !rc && i < le_gguf_n_tensors(g); i++) {
        const struct le_gguf_tensor *t = le_gguf_tensor(g, i);
        const struct lpair *p = NULL;
        for (int64_t k = 0; k < l.n && !p; k++)
            if (!strcmp(l.p[k].target, t->name))
                p = &l.p[k];
        if (p) {
            double s = (double)spec->scale * (l.alpha > 0 ? l.alpha : (double)p->r) /
                       (l.rslora ? sqrt((double)p->r) : (double)p->r);
            rc = lora_merge(&b, t, p, s, nh, nkv);
        } else
            rc = fmt_tensor(&b, t->name, t->type, t->n_dims, t->ne, t->data);
    }
    lora_free(&l);
    if (rc) {
        fmt_b_free(&b);
        return rc;
    }
    b.res->inner = g;
    *gp = NULL;
    return fmt_b_finish(&b, gp);
}
