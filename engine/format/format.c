/*
 * format: detection by content, the dispatch of le_format_open, and the
 * builder every reader fills (format_int.h): keys go to a GGUF writer,
 * tensors to a table of borrowed pointers, mappings and copies to a
 * resource list that the resulting view releases when it closes.
 *
 * Detection: a directory holding config.json (+ safetensors) is Hugging
 * Face, one holding params.json (+ consolidated.*.pth) is Meta; a file is
 * looked at by its first bytes: "GGUF"; "PK\3\4" (a torch.save zip: its
 * directory); a safetensors header (u64 length then '{'): its directory;
 * the GGML magics lmgg/fmgg/tjgg as little-endian u32s; llama2.c's "ak42"
 * magic with version 1 or 2; otherwise a legacy llama2.c v0 header is
 * accepted only if its seven int32s are plausible and the file size equals
 * what they imply exactly.
 */
#include "format_int.h"

#include "le_err.h"
#include "le_types.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- resources and the builder ---- */

static void res_release(void *owner) {
    struct fmt_res *r = owner;
    if (!r)
        return;
    for (int i = 0; i < r->n_maps; i++)
        munmap(r->maps[i].p, r->maps[i].n);
    for (int i = 0; i < r->n_bufs; i++)
        free(r->bufs[i]);
    free(r->maps);
    free(r->bufs);
    le_gguf_close(r->inner);
    free(r);
}

int fmt_b_init(struct fmt_b *b, const char *path) {
    memset(b, 0, sizeof *b);
    b->path = path;
    b->res = calloc(1, sizeof *b->res);
    if (!b->res)
        return le_err_set(LE_ENOMEM, "%s: out of memory", path);
    int rc = le_gguf_writer_new(&b->w);
    if (rc)
        fmt_b_free(b);
    return rc;
}

void fmt_b_free(struct fmt_b *b) {
    le_gguf_writer_free(b->w);
    for (int64_t i = 0; i < b->n_t; i++)
        free((char *)b->t[i].name);
    free(b->t);
    res_release(b->res);
    memset(b, 0, sizeof *b);
}

int fmt_b_finish(struct fmt_b *b, struct le_gguf **out) {
    struct fmt_res *r = b->res;
    b->res = NULL; /* the view owns it from here, also on failure */
    int rc = le_gguf_open_view(out, b->path, b->w, b->t, b->n_t, res_release, r);
    fmt_b_free(b);
    return rc;
}

static int grow_arr(void **arr, int *cap, int n, size_t esz) {
    if (n < *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)nc * esz);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

void *fmt_alloc(struct fmt_b *b, size_t n) {
    struct fmt_res *r = b->res;
    void *p = calloc(1, n ? n : 1);
    if (!p || grow_arr((void **)&r->bufs, &r->cap_bufs, r->n_bufs, sizeof *r->bufs)) {
        free(p);
        le_err_set(LE_ENOMEM, "%s: out of memory (%zu bytes)", b->path, n);
        return NULL;
    }
    r->bufs[r->n_bufs++] = p;
    return p;
}

int fmt_map(struct fmt_b *b, const char *path, const uint8_t **p, uint64_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return le_err_set(errno == ENOENT ? LE_ENOTFOUND : LE_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return le_err_set(LE_EIO, "%s: not a readable regular file", path);
    }
    *size = (uint64_t)st.st_size;
    if (st.st_size == 0) {
        close(fd);
        *p = (const uint8_t *)"";
        return LE_OK;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED)
        return le_err_set(LE_EIO, "%s: cannot mmap: %s", path, strerror(err));
    struct fmt_res *r = b->res;
    if (grow_arr((void **)&r->maps, &r->cap_maps, r->n_maps, sizeof *r->maps)) {
        munmap(m, (size_t)st.st_size);
        return le_err_set(LE_ENOMEM, "%s: out of memory", path);
    }
    r->maps[r->n_maps++] = (struct fmt_map){m, (size_t)st.st_size};
    *p = m;
    return LE_OK;
}

const struct le_gguf_tensor *fmt_find(const struct fmt_b *b, const char *name) {
    for (int64_t i = 0; i < b->n_t; i++)
        if (!strcmp(b->t[i].name, name))
            return &b->t[i];
    return NULL;
}

int fmt_tensor(struct fmt_b *b, const char *name, int type, int n_dims, const int64_t *ne, const void *data) {
    if (fmt_find(b, name))
        return le_err_set(LE_EFORMAT, "%s: tensor %s appears twice", b->path, name);
    if (b->n_t == b->cap_t) {
        int64_t nc = b->cap_t ? b->cap_t * 2 : 64;
        void *p = realloc(b->t, (size_t)nc * sizeof *b->t);
        if (!p)
            return le_err_set(LE_ENOMEM, "%s: out of memory", b->path);
        b->t = p;
        b->cap_t = nc;
    }
    struct le_gguf_tensor *t = &b->t[b->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name)))
        return le_err_set(LE_ENOMEM, "%s: out of memory", b->path);
    t->type = type;
    t->n_dims = n_dims;
    for (int j = 0; j < 4; j++)
        t->ne[j] = j < n_dims ? ne[j] : 1;
    t->data = data;
    b->n_t++;
    return LE_OK;
}

float fmt_to_f32(int type, const void *data, int64_t i) {
    if (type == LE_TYPE_F32) {
        float f;
        memcpy(&f, (const uint8_t *)data + 4 * i, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, (const uint8_t *)data + 2 * i, 2);
    return type == LE_TYPE_F16 ? le_fp16_to_fp32(h) : le_bf16_to_fp32(h);
}

static size_t elt_size(int type) { return type == LE_TYPE_F32 ? 4 : 2; }

int fmt_tensor_f(struct fmt_b *b, const char *name, int type, int64_t rows, int64_t cols, const void *data) {
    if (rows == 0) { /* a vector: the engine wants F32 */
        int64_t ne[1] = {cols};
        if (type == LE_TYPE_F32)
            return fmt_tensor(b, name, type, 1, ne, data);
        float *f = fmt_alloc(b, (size_t)cols * 4);
        if (!f)
            return LE_ENOMEM;
        for (int64_t i = 0; i < cols; i++)
            f[i] = fmt_to_f32(type, data, i);
        return fmt_tensor(b, name, LE_TYPE_F32, 1, ne, f);
    }
    int64_t ne[2] = {cols, rows};
    return fmt_tensor(b, name, type, 2, ne, data);
}

int fmt_layer_tensors(int64_t n_layers, const char *prefix, const struct fmt_layer_tensor *t, size_t n,
                      const int64_t *dims,
                      int (*map)(void *ud, const char *src, const char *dst, int64_t rows, int64_t cols, int arg),
                      void *ud) {
    for (int64_t l = 0; l < n_layers; l++)
        for (size_t i = 0; i < n; i++) {
            char src[160], dst[96];
            snprintf(src, sizeof src, "%s.%lld.%s", prefix, (long long)l, t[i].src);
            snprintf(dst, sizeof dst, "blk.%lld.%s", (long long)l, t[i].dst);
            int rc = map(ud, src, dst, dims[t[i].rows], dims[t[i].cols], t[i].arg);
            if (rc)
                return rc;
        }
    return LE_OK;
}

int64_t fmt_hf_row(int64_t r, int64_t rows, int64_t n_head) {
    int64_t hd = rows / n_head, half = hd / 2;
    int64_t h = r / hd, k = r % hd, i = k / 2, j = k % 2;
    return h * hd + j * half + i;
}

int fmt_tensor_unpermute(struct fmt_b *b, const char *name, int type, int64_t rows, int64_t cols,
                         const void *data, int64_t n_head) {
    if (n_head < 1 || rows % n_head || (rows / n_head) % 2)
        return le_err_set(LE_EFORMAT, "%s: %s: %lld rows do not split into %lld heads of an even size", b->path,
                          name, (long long)rows, (long long)n_head);
    size_t rb = (size_t)cols * elt_size(type);
    uint8_t *c = fmt_alloc(b, rb * (size_t)rows);
    if (!c)
        return LE_ENOMEM;
    for (int64_t r = 0; r < rows; r++)
        memcpy(c + (size_t)r * rb, (const uint8_t *)data + (size_t)fmt_hf_row(r, rows, n_head) * rb, rb);
    return fmt_tensor_f(b, name, type, rows, cols, c);
}

int fmt_ftype_of(int type) { return type == LE_TYPE_F32 ? 0 : type == LE_TYPE_F16 ? 1 : 32; }

int fmt_llama_kv(struct fmt_b *b, const struct fmt_hp *hp) {
    struct le_gguf_writer *w = b->w;
    int rc;
    if ((rc = le_gguf_set_str(w, "general.architecture", "llama")) ||
        (rc = le_gguf_set_str(w, "general.name", hp->name ? hp->name : "llama")) ||
        (rc = le_gguf_set_u32(w, "llama.context_length", (uint32_t)hp->ctx)) ||
        (rc = le_gguf_set_u32(w, "llama.embedding_length", (uint32_t)hp->dim)) ||
        (rc = le_gguf_set_u32(w, "llama.block_count", (uint32_t)hp->n_layers)) ||
        (rc = le_gguf_set_u32(w, "llama.feed_forward_length", (uint32_t)hp->ffn)) ||
        (rc = le_gguf_set_u32(w, "llama.rope.dimension_count", (uint32_t)(hp->dim / hp->n_heads))) ||
        (rc = le_gguf_set_u32(w, "llama.attention.head_count", (uint32_t)hp->n_heads)) ||
        (rc = le_gguf_set_u32(w, "llama.attention.head_count_kv", (uint32_t)hp->n_kv_heads)) ||
        (rc = le_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", (float)hp->eps)) ||
        (rc = le_gguf_set_f32(w, "llama.rope.freq_base", (float)hp->rope_base)))
        return rc;
    if (hp->rope_scale > 0 && hp->rope_scale != 1) {
        if ((rc = le_gguf_set_str(w, "llama.rope.scaling.type", "linear")) ||
            (rc = le_gguf_set_f32(w, "llama.rope.scaling.factor", (float)hp->rope_scale)))
            return rc;
    }
    if (hp->ftype >= 0 && (rc = le_gguf_set_u32(w, "general.file_type", (uint32_t)hp->ftype)))
        return rc;
    return LE_OK;
}

/* ---- JSON and paths ---- */

int fmt_json_file(const char *path, struct cJSON **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return le_err_set(errno == ENOENT ? LE_ENOTFOUND : LE_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = LE_OK;
    for (;;) {
        if (n + 65536 > cap) {
            char *p = realloc(buf, cap = cap * 2 + 65536 + 1);
            if (!p) {
                rc = le_err_set(LE_ENOMEM, "%s: out of memory", path);
                break;
            }
            buf = p;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0)
            break;
    }
    if (!rc && ferror(f))
        rc = le_err_set(LE_EIO, "%s: read error", path);
    fclose(f);
    if (!rc) {
        buf[n] = 0;
        *out = cJSON_ParseWithLength(buf, n);
        if (!*out)
            rc = le_err_set(LE_EFORMAT, "%s: not valid JSON", path);
    }
    free(buf);
    return rc;
}

int fmt_json_num(const struct cJSON *o, const char *key, const char *file, int dflt_ok, double dflt, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (!dflt_ok)
            return le_err_set(LE_EFORMAT, "%s: required key \"%s\" is missing", file, key);
        *out = dflt;
        return LE_OK;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return le_err_set(LE_EFORMAT, "%s: key \"%s\" is not a number", file, key);
    *out = v->valuedouble;
    return LE_OK;
}

int fmt_json_int(const struct cJSON *o, const char *key, const char *file, int dflt_ok, int64_t dflt, int64_t *out) {
    double d;
    int rc = fmt_json_num(o, key, file, dflt_ok, (double)dflt, &d);
    if (rc)
        return rc;
    if (d != floor(d) || d < -(double)(1ll << 40) || d > (double)(1ll << 40))
        return le_err_set(LE_EFORMAT, "%s: key \"%s\" = %g is not a usable integer", file, key, d);
    *out = (int64_t)d;
    return LE_OK;
}

char *fmt_dirname(const char *path) {
    const char *s = strrchr(path, '/');
    if (!s)
        return strdup(".");
    return strndup(path, s == path ? 1 : (size_t)(s - path));
}

char *fmt_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int fmt_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fmt_is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- detection ---- */

static int dir_has(const char *dir, const char *name) {
    char *p = fmt_join(dir, name);
    int r = p && fmt_is_file(p);
    free(p);
    return r;
}

/* A llama2.c v0 header: seven plausible int32s whose implied size matches. */
static int llama2c_v0_plausible(const int32_t *h, uint64_t size) {
    int64_t dim = h[0], hid = h[1], L = h[2], nh = h[3], nkv = h[4], V = h[5] < 0 ? -(int64_t)h[5] : h[5],
            seq = h[6];
    if (dim < 1 || hid < 1 || L < 1 || nh < 1 || nkv < 1 || V < 1 || seq < 1 || dim % nh || nh % nkv ||
        dim > (1 << 16) || hid > (1 << 18) || L > 1024 || V > (1 << 22) || seq > (1 << 20))
        return 0;
    int64_t hs = dim / nh, kv = nkv * hs;
    int64_t n = V * dim + L * (2 * dim + dim * dim * 2 + 2 * dim * kv + 3 * dim * hid) + dim + seq * hs;
    if (h[5] < 0)
        n += V * dim;
    return (uint64_t)(28 + 4 * n) == size;
}

int le_format_detect(const char *path, int *kind) {
    *kind = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return le_err_set(LE_ENOTFOUND, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        if (dir_has(path, "config.json")) {
            *kind = LE_FORMAT_HF;
            return LE_OK;
        }
        if (dir_has(path, "params.json")) {
            *kind = LE_FORMAT_META;
            return LE_OK;
        }
        return le_err_set(LE_EFORMAT, "%s: a directory without config.json (Hugging Face) or params.json (Meta)",
                          path);
    }
    uint8_t h[32] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return le_err_set(LE_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    uint32_t m, ver;
    memcpy(&m, h, 4);
    memcpy(&ver, h + 4, 4);
    if (n >= 4 && !memcmp(h, "GGUF", 4))
        *kind = LE_FORMAT_GGUF;
    else if (n >= 4 && !memcmp(h, "PK\3\4", 4))
        *kind = LE_FORMAT_META;
    else if (n >= 9 && h[8] == '{' && h[5] == 0 && h[6] == 0 && h[7] == 0)
        *kind = LE_FORMAT_HF;
    else if (n >= 4 && (m == 0x67676d6cu || m == 0x67676d66u || m == 0x67676a74u))
        *kind = LE_FORMAT_GGML;
    else if (n >= 8 && m == 0x616b3432u && (ver == 1 || ver == 2))
        *kind = LE_FORMAT_LLAMA2C;
    else if (n >= 28) {
        int32_t hv[7];
        memcpy(hv, h, sizeof hv);
        if (llama2c_v0_plausible(hv, (uint64_t)st.st_size))
            *kind = LE_FORMAT_LLAMA2C;
    }
    if (!*kind)
        return le_err_set(LE_EFORMAT, "%s: not a model file this program reads (GGUF, safetensors, PyTorch .pth, "
                          "llama2.c, GGML/GGJT)", path);
    return LE_OK;
}

const char *le_format_name(int kind) {
    static const char *const names[] = {"?", "gguf", "hf", "meta", "llama2c", "ggml"};
    return kind >= 1 && kind <= LE_FORMAT_GGML ? names[kind] : "?";
}

int le_lora_spec_parse(char *spec, struct le_lora_spec *out) {
    out->path = spec;
    out->scale = 1.0f;
    char *c = strrchr(spec, ':');
    if (c && c[1]) {
        char *end;
        double v = strtod(c + 1, &end);
        if (*end == 0 && end != c + 1) {
            if (!isfinite(v))
                return le_err_set(LE_EINVAL, "LoRA scale '%s' is not finite", c + 1);
            out->scale = (float)v;
            *c = 0;
        }
    }
    if (!spec[0])
        return le_err_set(LE_EINVAL, "LoRA adapter path is empty");
    return LE_OK;
}

/* ---- open ---- */

int le_format_open(struct le_gguf **out, const char *path, const struct le_format_opts *opts) {
    *out = NULL;
    int kind, rc = le_format_detect(path, &kind);
    if (rc)
        return rc;
    struct le_gguf *g = NULL;
    if (kind == LE_FORMAT_GGUF) {
        rc = le_gguf_open(&g, path);
    } else {
        /* A single safetensors / .pth file stands for its directory. */
        char *dir = fmt_is_dir(path) ? strdup(path) : fmt_dirname(path);
        struct fmt_b b;
        if (!dir)
            return le_err_set(LE_ENOMEM, "out of memory");
        rc = fmt_b_init(&b, path);
        if (!rc) {
            if (kind == LE_FORMAT_HF)
                rc = fmt_hf_open(&b, dir);
            else if (kind == LE_FORMAT_META)
                rc = fmt_meta_open(&b, dir);
            else if (kind == LE_FORMAT_LLAMA2C)
                rc = fmt_llama2c_open(&b, path, opts ? opts->tokenizer : NULL);
            else
                rc = fmt_ggml_open(&b, path);
            if (rc)
                fmt_b_free(&b);
            else
                rc = fmt_b_finish(&b, &g);
        }
        free(dir);
    }
    for (int i = 0; !rc && opts && i < opts->n_lora; i++)
        rc = fmt_lora_apply(&g, &opts->lora[i]);
    if (rc) {
        le_gguf_close(g);
        return rc;
    }
    *out = g;
    return LE_OK;
}

int le_format_open_tokenizer(struct le_gguf **out, const char *path) {
    *out = NULL;
    uint8_t h[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return le_err_set(errno == ENOENT ? LE_ENOTFOUND : LE_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    struct fmt_b b;
    int rc = fmt_b_init(&b, path);
    if (rc)
        return rc;
    size_t i = 0;
    while (i < n && (h[i] == ' ' || h[i] == '\n' || h[i] == '\r' || h[i] == '\t'))
        i++;
    if (i < n && h[i] == '{')
        rc = fmt_tok_hf_json(&b, path, NULL);
    else if (n >= 1 && h[0] == 0x0a)
        rc = fmt_tok_spm_model(&b, path);
    else
        rc = fmt_tok_llama2c(&b, path, -1);
    if (rc) {
        fmt_b_free(&b);
        return rc;
    }
    return fmt_b_finish(&b, out);
}
