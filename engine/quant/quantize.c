/*
 * quantize: llama-quantize's file types, per-tensor rules and driver (see
 * le_quant.h). The rules are llama.cpp's llama_tensor_get_type for dense
 * LLaMA models (no experts, not Falcon); the IQ and MoE branches are left
 * out because this engine has none of those types.
 *
 * Driver: read the GGUF (mmap), plan every tensor's type, then per tensor
 * in llama.cpp's order convert rows (source to_float, target's reference
 * from_float) on a thread pool into a buffer handed to the GGUF writer,
 * which keeps the data until le_gguf_write writes it all atomically.
 * Metadata is copied key by key; general.quantization_version (2) and
 * general.file_type are set as llama-quantize sets them. A caller may
 * supply some tensors' bytes itself (GPTQ): those are written as given.
 */
#include "le_quant.h"

#include "le_err.h"
#include "le_format.h" /* le_format_open */
#include "le_gguf.h"
#include "le_pool.h"
#include "le_types.h"

#include <stdio.h> /* snprintf */
#include <stdlib.h>
#include <string.h>
#include <strings.h>  /* strcasecmp */
#include <sys/stat.h> /* stat: same file */

/* ---- file types ---- */

static const struct {
    const char *name;  /* llama-quantize's name */
    int ftype, type;   /* type: the default tensor type */
} le_ftypes[] = {
    {"Q4_0", LE_FTYPE_MOSTLY_Q4_0, LE_TYPE_Q4_0},       {"Q4_1", LE_FTYPE_MOSTLY_Q4_1, LE_TYPE_Q4_1},
    {"Q5_0", LE_FTYPE_MOSTLY_Q5_0, LE_TYPE_Q5_0},       {"Q5_1", LE_FTYPE_MOSTLY_Q5_1, LE_TYPE_Q5_1},
    {"Q8_0", LE_FTYPE_MOSTLY_Q8_0, LE_TYPE_Q8_0},       {"Q2_K", LE_FTYPE_MOSTLY_Q2_K, LE_TYPE_Q2_K},
    {"Q2_K_S", LE_FTYPE_MOSTLY_Q2_K_S, LE_TYPE_Q2_K},   {"Q3_K_S", LE_FTYPE_MOSTLY_Q3_K_S, LE_TYPE_Q3_K},
    {"Q3_K_M", LE_FTYPE_MOSTLY_Q3_K_M, LE_TYPE_Q3_K},   {"Q3_K_L", LE_FTYPE_MOSTLY_Q3_K_L, LE_TYPE_Q3_K},
    {"Q4_K_S", LE_FTYPE_MOSTLY_Q4_K_S, LE_TYPE_Q4_K},   {"Q4_K_M", LE_FTYPE_MOSTLY_Q4_K_M, LE_TYPE_Q4_K},
    {"Q5_K_S", LE_FTYPE_MOSTLY_Q5_K_S, LE_TYPE_Q5_K},   {"Q5_K_M", LE_FTYPE_MOSTLY_Q5_K_M, LE_TYPE_Q5_K},
    {"Q6_K", LE_FTYPE_MOSTLY_Q6_K, LE_TYPE_Q6_K},       {"F16", LE_FTYPE_MOSTLY_F16, LE_TYPE_F16},
    {"BF16", LE_FTYPE_MOSTLY_BF16, LE_TYPE_BF16},       {"F32", LE_FTYPE_ALL_F32, LE_TYPE_F32},
    /* llama-quantize's aliases for the _M mixes */
    {"Q3_K", LE_FTYPE_MOSTLY_Q3_K_M, LE_TYPE_Q3_K},     {"Q4_K", LE_FTYPE_MOSTLY_Q4_K_M, LE_TYPE_Q4_K},
    {"Q5_K", LE_FTYPE_MOSTLY_Q5_K_M, LE_TYPE_Q5_K},
};
#define LE_N_FTYPES (sizeof le_ftypes / sizeof le_ftypes[0])

int le_quant_ftype_from_name(const char *name) {
    for (size_t i = 0; name && i < LE_N_FTYPES; i++)
        if (strcasecmp(name, le_ftypes[i].name) == 0)
            return le_ftypes[i].ftype;
    return -1;
}

const char *le_quant_ftype_name(int ftype) {
    for (size_t i = 0; i < LE_N_FTYPES; i++)
        if (le_ftypes[i].ftype == ftype)
            return le_ftypes[i].name;
    return "unknown";
}

int le_quant_ftype_type(int ftype) {
    for (size_t i = 0; i < LE_N_FTYPES; i++)
        if (le_ftypes[i].ftype == ftype)
            return le_ftypes[i].type;
    return -1;
}

const char *le_quant_ftype_names(void) {
    return "q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q2_k_s q3_k_s q3_k_m q3_k_l q4_k_s q4_k_m q5_k_s q5_k_m q6_k "
           "q3_k q4_k q5_k f16 bf16 f32";
}

/* ---- per-tensor rules (llama.cpp llama_tensor_get_type) ---- */

enum le_qcat { LE_QC_TOKEN_EMBD, LE_QC_ATTN_Q, LE_QC_ATTN_V, LE_QC_ATTN_K, LE_QC_ATTN_QKV, LE_QC_ATTN_KV_B,
               LE_QC_ATTN_OUTPUT, LE_QC_FFN_UP, LE_QC_FFN_GATE, LE_QC_FFN_DOWN, LE_QC_OUTPUT, LE_QC_OTHER };

static enum le_qcat le_qcat_of(const char *name) {
    if (!strcmp(name, "output.weight"))
        return LE_QC_OUTPUT;
    if (!strcmp(name, "token_embd.weight"))
        return LE_QC_TOKEN_EMBD;
    static const struct {
        const char *part;
        enum le_qcat cat;
    } parts[] = {{"attn_qkv.weight", LE_QC_ATTN_QKV}, {"attn_kv_b.weight", LE_QC_ATTN_KV_B},
                 {"attn_v.weight", LE_QC_ATTN_V},     {"attn_k.weight", LE_QC_ATTN_K},
                 {"attn_q.weight", LE_QC_ATTN_Q},     {"attn_output.weight", LE_QC_ATTN_OUTPUT},
                 {"ffn_up", LE_QC_FFN_UP},            {"ffn_gate", LE_QC_FFN_GATE},
                 {"ffn_down", LE_QC_FFN_DOWN}};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (strstr(name, parts[i].part))
            return parts[i].cat;
    return LE_QC_OTHER;
}

static int le_qcat_is_attn_v(enum le_qcat c) {
    return c == LE_QC_ATTN_V || c == LE_QC_ATTN_QKV || c == LE_QC_ATTN_KV_B;
}

/* Matrices llama-quantize quantizes: 2-D or more, "...weight", not a norm
 * or an expert router. */
static int le_qallows(const struct le_quant_tensor *t) {
    size_t n = strlen(t->name);
    return t->n_dims >= 2 && n >= 6 && !strcmp(t->name + n - 6, "weight") && !strstr(t->name, "_norm.weight") &&
           !strstr(t->name, "ffn_gate_inp.weight");
}

struct le_qstate {
    const struct le_quant_hparams *hp;
    int ftype, tied;
    int n_attention_wv, i_attention_wv, n_ffn, i_ffn_down;
    int64_t n_fallback;
};

static int le_use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int le_qrule_attn_v(struct le_qstate *s, int type) {
    const int ft = s->ftype, gqa = s->hp->n_head_kv > 0 ? s->hp->n_head / s->hp->n_head_kv : 1;
    if (ft == LE_FTYPE_MOSTLY_Q2_K)
        type = gqa >= 4 ? LE_TYPE_Q4_K : LE_TYPE_Q3_K;
    else if (ft == LE_FTYPE_MOSTLY_Q2_K_S && gqa >= 4)
        type = LE_TYPE_Q4_K;
    else if (ft == LE_FTYPE_MOSTLY_Q3_K_M)
        type = s->i_attention_wv < 2 ? LE_TYPE_Q5_K : LE_TYPE_Q4_K;
    else if (ft == LE_FTYPE_MOSTLY_Q3_K_L)
        type = LE_TYPE_Q5_K;
    else if ((ft == LE_FTYPE_MOSTLY_Q4_K_M || ft == LE_FTYPE_MOSTLY_Q5_K_M) &&
             le_use_more_bits(s->i_attention_wv, s->n_attention_wv))
        type = LE_TYPE_Q6_K;
    else if (ft == LE_FTYPE_MOSTLY_Q4_K_S && s->i_attention_wv < 4)
        type = LE_TYPE_Q5_K;
    /* LLaMA-2-70B: 80 layers with grouped KV heads (llama.cpp's LLM_TYPE_70B) */
    if (s->hp->n_layer == 80 && s->hp->n_head != s->hp->n_head_kv && (type == LE_TYPE_Q3_K || type == LE_TYPE_Q4_K))
        type = LE_TYPE_Q5_K;
    s->i_attention_wv++;
    return type;
}

static int le_qrule_ffn_down(struct le_qstate *s, int type) {
    const int ft = s->ftype, i = s->i_ffn_down, n = s->n_ffn;
    if (ft == LE_FTYPE_MOSTLY_Q2_K)
        type = LE_TYPE_Q3_K;
    else if (ft == LE_FTYPE_MOSTLY_Q2_K_S) {
        if (i < n / 8)
            type = LE_TYPE_Q4_K;
    } else if (ft == LE_FTYPE_MOSTLY_Q3_K_M)
        type = i < n / 16 ? LE_TYPE_Q5_K : LE_TYPE_Q4_K;
    else if (ft == LE_FTYPE_MOSTLY_Q3_K_L)
        type = LE_TYPE_Q5_K;
    else if (ft == LE_FTYPE_MOSTLY_Q4_K_M) {
        if (le_use_more_bits(i, n))
            type = LE_TYPE_Q6_K;
    } else if (ft == LE_FTYPE_MOSTLY_Q5_K_M && le_use_more_bits(i, n))
        type = LE_TYPE_Q6_K;
    else if (ft == LE_FTYPE_MOSTLY_Q4_K_S && i < n / 8)
        type = LE_TYPE_Q5_K;
    s->i_ffn_down++;
    return type;
}

static int le_qrule(struct le_qstate *s, const struct le_quant_tensor *t, enum le_qcat cat, int type) {
    const int ft = s->ftype;
    if (cat == LE_QC_OUTPUT || (s->tied && cat == LE_QC_TOKEN_EMBD)) {
        int64_t blck = 1;
        le_type_info(type, &blck, NULL, NULL);
        if (t->ne[0] % blck != 0)
            return LE_TYPE_Q8_0;
        return type != LE_TYPE_Q8_0 ? LE_TYPE_Q6_K : type;
    }
    if (cat == LE_QC_TOKEN_EMBD)
        return type;
    if (le_qcat_is_attn_v(cat))
        return le_qrule_attn_v(s, type);
    if (cat == LE_QC_FFN_DOWN)
        return le_qrule_ffn_down(s, type);
    if (cat == LE_QC_ATTN_OUTPUT) {
        if (ft == LE_FTYPE_MOSTLY_Q2_K)
            return LE_TYPE_Q3_K;
        if (ft == LE_FTYPE_MOSTLY_Q3_K_M)
            return LE_TYPE_Q4_K;
        if (ft == LE_FTYPE_MOSTLY_Q3_K_L)
            return LE_TYPE_Q5_K;
        return type;
    }
    if (cat == LE_QC_ATTN_QKV) {
        if (ft == LE_FTYPE_MOSTLY_Q3_K_M || ft == LE_FTYPE_MOSTLY_Q3_K_L)
            return LE_TYPE_Q4_K;
        if (ft == LE_FTYPE_MOSTLY_Q4_K_M)
            return LE_TYPE_Q5_K;
        if (ft == LE_FTYPE_MOSTLY_Q5_K_M)
            return LE_TYPE_Q6_K;
    }
    return type;
}

/* llama.cpp's tensor_type_fallback: a row length the block does not divide. */
static int le_qfallback(struct le_qstate *s, const struct le_quant_tensor *t, int type) {
    int64_t blck = 1;
    le_type_info(type, &blck, NULL, NULL);
    if (t->ne[0] % blck == 0)
        return type;
    s->n_fallback++;
    int fb;
    switch (type) {
    case LE_TYPE_Q2_K:
    case LE_TYPE_Q3_K: fb = LE_TYPE_Q4_0; break;
    case LE_TYPE_Q4_K: fb = LE_TYPE_Q5_0; break;
    case LE_TYPE_Q5_K: fb = LE_TYPE_Q5_1; break;
    case LE_TYPE_Q6_K: fb = LE_TYPE_Q8_0; break;
    default: fb = LE_TYPE_F16; break;
    }
    le_type_info(fb, &blck, NULL, NULL);
    return t->ne[0] % blck == 0 ? fb : LE_TYPE_F16;
}

/* llama.cpp's weight order (llama_model_loader's weight_name_comparer):
 * by the layer number of "blk.N." (-1 for other tensors), then by name. */
static int le_qlayer(const char *name) {
    if (strncmp(name, "blk.", 4) != 0)
        return -1;
    char *end;
    long v = strtol(name + 4, &end, 10);
    return end == name + 4 || v < INT32_MIN || v > INT32_MAX ? -1 : (int)v;
}

static int le_qbefore(const char *a, const char *b) {
    int la = le_qlayer(a), lb = le_qlayer(b);
    return la != lb ? la < lb : strcmp(a, b) < 0;
}

/* Indices of t in that order; insertion sort: a model has hundreds of
 * tensors. */
static int le_qorder(const struct le_quant_tensor *t, int64_t n, int64_t **order) {
    *order = malloc((size_t)(n > 0 ? n : 1) * sizeof **order);
    if (!*order)
        return le_err_set(LE_ENOMEM, "quantize: out of memory");
    for (int64_t i = 0; i < n; i++) {
        int64_t k = i;
        for (; k > 0 && le_qbefore(t[i].name, t[(*order)[k - 1]].name); k--)
            (*order)[k] = (*order)[k - 1];
        (*order)[k] = i;
    }
    return LE_OK;
}

static int le_quant_plan_n(const struct le_quant_tensor *t, int64_t n, const struct le_quant_hparams *hp, int ftype,
                           int pure, int *out_types, int64_t *n_fallback) {
    const int dtype = le_quant_ftype_type(ftype);
    if (dtype < 0 || !t || !hp || !out_types)
        return le_err_set(LE_EINVAL, "quantize: unknown file type %d", ftype);
    struct le_qstate s = {.hp = hp, .ftype = ftype, .tied = 1, .n_ffn = hp->n_layer};
    for (int64_t i = 0; i < n; i++) {
        enum le_qcat c = le_qcat_of(t[i].name);
        s.n_attention_wv += le_qcat_is_attn_v(c);
        if (c == LE_QC_OUTPUT)
            s.tied = 0;
    }
    int64_t *order;
    int rc = le_qorder(t, n, &order);
    if (rc)
        return rc;
    const struct le_type_traits *dt = le_type_get_ref(dtype);
    for (int64_t k = 0; k < n; k++) {
        const struct le_quant_tensor *x = &t[order[k]];
        int type = x->type;
        if (le_qallows(x)) {
            type = dtype;
            if (dt && dt->is_quantized) {
                if (!pure)
                    type = le_qrule(&s, x, le_qcat_of(x->name), type);
                type = le_qfallback(&s, x, type);
            }
        }
        out_types[order[k]] = type;
    }
    free(order);
    if (n_fallback)
        *n_fallback = s.n_fallback;
    return LE_OK;
}

int le_quant_plan(const struct le_quant_tensor *t, int64_t n, const struct le_quant_hparams *hp, int ftype,
                  int pure, int *out_types) {
    return le_quant_plan_n(t, n, hp, ftype, pure, out_types, NULL);
}

/* ---- the driver ---- */

/* Rows of one tensor converted by a pool: static row ranges, one float
 * buffer per worker (bytes never depend on the thread count). */
struct le_qjob {
    const struct le_type_traits *src, *dst;
    const char *in;
    char *out;
    int64_t rows, cols;
    size_t in_rb, out_rb;
    float *bufs; /* nth x cols */
};

static void le_qjob_run(void *arg, int ith, int nth) {
    const struct le_qjob *j = arg;
    int64_t lo, hi;
    le_pool_range(j->rows, ith, nth, &lo, &hi);
    float *buf = j->bufs + (size_t)ith * (size_t)j->cols;
    for (int64_t r = lo; r < hi; r++) {
        j->src->to_float(j->in + (size_t)r * j->in_rb, buf, j->cols);
        j->dst->from_float(buf, j->out + (size_t)r * j->out_rb, j->cols);
    }
}

/* The model's layer and head counts (0 where a key is absent). */
static int le_qhparams(const struct le_gguf *g, struct le_quant_hparams *hp) {
    const char *arch;
    uint64_t len;
    *hp = (struct le_quant_hparams){0};
    if (le_gguf_get_str(g, "general.architecture", &arch, &len) != LE_OK || len == 0 || len > 64)
        return le_err_set(LE_EFORMAT, "%s: no general.architecture: not a model file", le_gguf_path(g));
    char key[128];
    int64_t v;
    static const char *const keys[3] = {"block_count", "attention.head_count", "attention.head_count_kv"};
    int *out[3] = {&hp->n_layer, &hp->n_head, &hp->n_head_kv};
    for (int k = 0; k < 3; k++) {
        snprintf(key, sizeof key, "%.*s.%s", (int)len, arch, keys[k]);
        if (le_gguf_get_i64(g, key, &v) == LE_OK && v > 0 && v < (1 << 24))
            *out[k] = (int)v;
    }
    if (!hp->n_head_kv)
        hp->n_head_kv = hp->n_head;
    return LE_OK;
}

/* Checks that every planned conversion can be done. */
static int le_qcheck(const struct le_gguf *g, const struct le_quant_tensor *t, int64_t n, const int *types,
                     const struct le_quant_params *p) {
    for (int64_t i = 0; i < n; i++) {
        if (types[i] == t[i].type)
            continue;
        const struct le_type_traits *src = le_type_get(t[i].type), *dst = le_type_get(types[i]);
        if (!src || !src->to_float)
            return le_err_set(LE_EUNSUP, "%s: tensor %s has type %s, which cannot be converted", le_gguf_path(g),
                              t[i].name, le_type_name(t[i].type));
        if (!dst || !dst->from_float)
            return le_err_set(LE_EUNSUP, "quantize: no quantizer for type %s (tensor %s)", le_type_name(types[i]),
                              t[i].name);
        if (src->is_quantized && !p->allow_requantize)
            return le_err_set(LE_EUNSUP,
                              "%s: tensor %s is already %s; requantizing loses accuracy (allow it explicitly)",
                              le_gguf_path(g), t[i].name, le_type_name(t[i].type));
    }
    return LE_OK;
}

struct le_qrun {
    struct le_gguf *g;
    struct le_gguf_writer *w;
    struct le_pool *pool;
    struct le_quant_tensor *t;
    int *types;
    const void **supplied; /* caller's bytes (le_quant_params.supply) or NULL */
    int64_t *order;
    void *obuf;
    float *bufs;
};

static void le_qrun_free(struct le_qrun *r) {
    le_gguf_writer_free(r->w);
    le_pool_free(r->pool);
    le_gguf_close(r->g);
    free(r->t), free(r->types), free(r->order), free(r->obuf), free(r->bufs), free((void *)r->supplied);
}

/* Converts tensor i (or copies it) and adds it to the writer. */
static int le_qtensor(struct le_qrun *r, int64_t i, uint64_t *bytes_out) {
    const struct le_gguf_tensor *gt = le_gguf_tensor(r->g, i);
    const int to = r->types[i];
    if (r->supplied[i]) {
        *bytes_out = le_type_row_size(to, gt->ne[0]) * (size_t)(gt->ne[1] * gt->ne[2] * gt->ne[3]);
        return le_gguf_add_tensor(r->w, gt->name, to, gt->n_dims, gt->ne, r->supplied[i]);
    }
    if (to == gt->type) {
        *bytes_out = gt->nbytes;
        return le_gguf_add_tensor(r->w, gt->name, to, gt->n_dims, gt->ne, gt->data);
    }
    struct le_qjob j = {.src = le_type_get(gt->type), .dst = le_type_get(to), .in = gt->data, .cols = gt->ne[0]};
    j.rows = gt->ne[1] * gt->ne[2] * gt->ne[3];
    j.in_rb = le_type_row_size(gt->type, j.cols);
    j.out_rb = le_type_row_size(to, j.cols);
    int nth = le_pool_nthreads(r->pool);
    free(r->obuf), free(r->bufs);
    r->obuf = malloc(j.out_rb * (size_t)j.rows + 1);
    r->bufs = malloc(sizeof(float) * (size_t)j.cols * (size_t)nth);
    if (!r->obuf || !r->bufs)
        return le_err_set(LE_ENOMEM, "quantize: out of memory for tensor %s", gt->name);
    j.out = r->obuf, j.bufs = r->bufs;
    le_pool_run(nth > 1 && j.rows > 1 ? r->pool : NULL, le_qjob_run, &j);
    *bytes_out = j.out_rb * (size_t)j.rows;
    return le_gguf_add_tensor(r->w, gt->name, to, gt->n_dims, gt->ne, r->obuf);
}

/* Whether two paths name one file (the output would replace the input). */
static int le_qsame_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (!strcmp(a, b))
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int le_quantize(const char *in_path, const char *out_path, const struct le_quant_params *p,
                struct le_quant_stats *stats) {
    struct le_quant_stats st = {0};
    if (!in_path || !out_path || !p)
        return le_err_set(LE_EINVAL, "quantize: NULL argument");
    if (le_quant_ftype_type(p->ftype) < 0)
        return le_err_set(LE_EINVAL, "quantize: unknown file type %d", p->ftype);
    if (le_qsame_file(in_path, out_path))
        return le_err_set(LE_EINVAL, "quantize: the output %s is the input file", out_path);
    struct le_qrun r = {0};
    int rc = le_format_open(&r.g, in_path, NULL); /* any weight format, as a GGUF view */
    struct le_quant_hparams hp;
    if (!rc)
        rc = le_qhparams(r.g, &hp);
    int64_t n = rc ? 0 : le_gguf_n_tensors(r.g);
    if (!rc) {
        r.t = calloc((size_t)(n > 0 ? n : 1), sizeof *r.t);
        r.types = calloc((size_t)(n > 0 ? n : 1), sizeof *r.types);
        r.supplied = calloc((size_t)(n > 0 ? n : 1), sizeof *r.supplied);
        if (!r.t || !r.types || !r.supplied)
            rc = le_err_set(LE_ENOMEM, "quantize: out of memory");
    }
    for (int64_t i = 0; !rc && i < n; i++) {
        const struct le_gguf_tensor *gt = le_gguf_tensor(r.g, i);
        r.t[i] = (struct le_quant_tensor){.name = gt->name, .type = gt->type, .n_dims = gt->n_dims};
        memcpy(r.t[i].ne, gt->ne, sizeof gt->ne);
    }
    if (!rc)
        rc = le_quant_plan_n(r.t, n, &hp, p->ftype, p->pure, r.types, &st.n_fallback);
    for (int64_t i = 0; !rc && p->supply && i < n; i++) {
        int type = r.types[i];
        if (p->supply(p->supply_ud, r.t[i].name, &type, &r.supplied[i]) && r.supplied[i]) {
            r.types[i] = type;
            r.t[i].type = type; /* nothing to convert (le_qcheck) */
        } else
            r.supplied[i] = NULL;
    }
    if (!rc)
        rc = le_qcheck(r.g, r.t, n, r.types, p);
    if (!rc)
        rc = le_qorder(r.t, n, &r.order);
    if (!rc)
        rc = le_pool_new(&r.pool, p->n_threads);
    if (!rc)
        rc = le_gguf_writer_new(&r.w);
    /* llama.cpp sets these two last (removing them where they were) */
    for (int64_t i = 0; !rc && i < le_gguf_n_kv(r.g); i++)
        if (strcmp(le_gguf_kv_key(r.g, i), "general.quantization_version") &&
            strcmp(le_gguf_kv_key(r.g, i), "general.file_type"))
            rc = le_gguf_writer_copy_kv(r.w, r.g, i);
    if (!rc)
        rc = le_gguf_set_u32(r.w, "general.quantization_version", 2);
    if (!rc)
        rc = le_gguf_set_u32(r.w, "general.file_type", (uint32_t)p->ftype);
    for (int64_t k = 0; !rc && k < n; k++) {
        int64_t i = r.order[k];
        const struct le_gguf_tensor *gt = le_gguf_tensor(r.g, i);
        uint64_t out_bytes = 0;
        rc = le_qtensor(&r, i, &out_bytes);
        if (rc)
            break;
        st.n_tensors++;
        st.n_quantized += r.types[i] != gt->type;
        st.bytes_in += gt->nbytes;
        st.bytes_out += out_bytes;
        if (p->progress) {
            struct le_quant_event ev = {.index = k + 1, .count = n, .name = gt->name, .from_type = gt->type,
                                        .to_type = r.types[i], .n_dims = gt->n_dims, .bytes_in = gt->nbytes,
                                        .bytes_out = out_bytes};
            memcpy(ev.ne, gt->ne, sizeof ev.ne);
            p->progress(p->progress_ud, &ev);
        }
    }
    if (!rc)
        rc = le_gguf_write(r.w, out_path);
    le_qrun_free(&r);
    if (!rc && stats)
        *stats = st;
    return rc;
}
