/*
 * gguf.c: the GGUF (v2, v3) reader over a read-only mmap, and the v3 writer.
 * See le_gguf.h for the contract.
 *
 * Reader design: le_gguf_open parses and validates the whole header in one
 * pass with a bounds-checked cursor (every read asks for its bytes against
 * the bytes left, every size is computed with checked arithmetic), then
 * checks every tensor's data against the file. Tables grow as entries are
 * actually parsed, so an absurd count costs nothing before it fails. After
 * open nothing can fail on corruption: accessors only look things up. Keys
 * and tensor names are found through small open-addressing hash indexes;
 * string-array elements through an offset index built at open (O(1) access).
 * Workload: one open per model, tens of keys, hundreds of tensors, one vocab
 * array of 32k-256k strings.
 *
 * Writer design: values are serialized at set time into per-key blobs
 * (type + value bytes, exactly as in the file); tensors are copied. write()
 * lays out header, keys in insertion order, tensor infos, padding to the
 * alignment, then each tensor's data padded to the alignment (gguf-py's
 * layout), into "<path>.tmp.<pid>", fsyncs and renames it over path.
 */
#include "le_gguf.h"
#include "le_err.h" /* le_err_set, LE_E* */
#include "le_types.h" /* le_type_info: the type table */

#include <errno.h>
#include <fcntl.h>    /* open */
#include <inttypes.h> /* PRIu64 */
#include <stdio.h>    /* snprintf, rename */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h> /* mmap */
#include <sys/stat.h> /* fstat, stat */
#include <unistd.h>   /* close, write, fsync, getpid, unlink */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c assumes a little-endian host (GGUF files are little-endian)"
#endif

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGN 32u
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_KEY 65535u  /* spec: keys are at most 2^16-1 bytes */
#define GGUF_MAX_NAME 65535u /* tensor names (ggml itself allows 63) */
#define GGUF_NAME_WRITE 64u  /* names we write must fit ggml's GGML_MAX_NAME */
#define GGUF_N_VTYPES 13

/* Block size / block bytes / name of a type number (le_types' table);
 * blck 0 when the number is unknown. */
struct type_row {
    uint64_t blck, size;
    const char *name;
};
static struct type_row type_row(uint64_t type) {
    int64_t blck = 0;
    size_t size = 0;
    const char *name = "unknown";
    if (type >= LE_TYPE_COUNT || le_type_info((int)type, &blck, &size, &name) != LE_OK)
        return (struct type_row){0, 0, "unknown"};
    return (struct type_row){(uint64_t)blck, size, name};
}

/* Bytes of a scalar value type; 0 for STRING, ARRAY and unknown numbers. */
static const uint8_t vtype_size[GGUF_N_VTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static const char *vtype_name(uint32_t t) {
    static const char *const names[GGUF_N_VTYPES] = {"u8",  "i8",  "u16",    "i16",   "u32",
                                                     "i32", "f32", "bool",   "string", "array",
                                                     "u64", "i64", "f64"};
    return t < GGUF_N_VTYPES ? names[t] : "unknown";
}

int le_gguf_type_info(int type, int64_t *blck, uint64_t *type_size, const char **name) {
    size_t size = 0;
    int rc = le_type_info(type, blck, &size, name);
    if (rc == LE_OK && type_size)
        *type_size = size;
    return rc;
}

/* ---- checked arithmetic and small helpers ---- */

static int mul_ok(uint64_t a, uint64_t b, uint64_t *r) { return !__builtin_mul_overflow(a, b, r); }

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }

/* A printable, bounded copy of untrusted bytes for error messages. */
static const char *printable(char *buf, size_t cap, const uint8_t *s, uint64_t len) {
    size_t n = 0;
    for (uint64_t i = 0; i < len && n + 4 < cap; i++)
        buf[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
    if (n + 4 >= cap && len > n) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = 0;
    return buf;
}

static uint64_t hash_bytes(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ---- open-addressing index of names (keys, tensor names) ---- */

struct name_index {
    int64_t *slot; /* -1 empty, else entry number */
    uint64_t cap;  /* power of two, >= 2 * entries */
};

typedef const char *(*name_of_fn)(const void *tab, int64_t i);

static void index_free(struct name_index *x) {
    free(x->slot);
    x->slot = NULL;
    x->cap = 0;
}

static int64_t index_find(const struct name_index *x, const void *tab, name_of_fn name_of,
                          const char *name) {
    if (!x->cap)
        return -1;
    for (uint64_t h = hash_bytes(name) & (x->cap - 1);; h = (h + 1) & (x->cap - 1)) {
        int64_t e = x->slot[h];
        if (e < 0)
            return -1;
        if (strcmp(name_of(tab, e), name) == 0)
            return e;
    }
}

/* Builds the index of entries 0..n-1; returns LE_OK, or 1 with *dup = the
 * first entry whose name repeats an earlier one, or LE_ENOMEM. */
static int index_build(struct name_index *x, const void *tab, name_of_fn name_of, int64_t n,
                       int64_t *dup) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n)
        cap *= 2;
    x->slot = malloc(cap * sizeof *x->slot);
    if (!x->slot)
        return le_err_set(LE_ENOMEM, "out of memory for a name index of %" PRId64 " entries", n);
    memset(x->slot, 0xff, cap * sizeof *x->slot);
    x->cap = cap;
    for (int64_t i = 0; i < n; i++) {
        const char *name = name_of(tab, i);
        uint64_t h = hash_bytes(name) & (cap - 1);
        for (; x->slot[h] >= 0; h = (h + 1) & (cap - 1)) {
            if (strcmp(name_of(tab, x->slot[h]), name) == 0) {
                *dup = i;
                return 1;
            }
        }
        x->slot[h] = i;
    }
    return LE_OK;
}

/* ---- reader ---- */

struct gguf_kv {
    char *key;
    uint32_t type;    /* LE_GGUF_* */
    uint64_t off;     /* file offset of the value (after the type field) */
    uint64_t end;     /* file offset just past the value */
    uint32_t etype;   /* arrays: element type */
    uint64_t n;       /* arrays: element count */
    uint64_t *soff;   /* string arrays: file offset of each element's length */
};

struct le_gguf {
    char *path;
    const uint8_t *base; /* the mapping */
    uint64_t size;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_off;
    struct gguf_kv *kv;
    int64_t n_kv;
    struct le_gguf_tensor *t;
    int64_t n_t;
    struct name_index kv_index, t_index;
    /* Views (le_gguf_open_view): base is a malloc'ed metadata image, tensor
     * data lives elsewhere, owned by owner; size_total is what file_size reports. */
    int is_view;
    void (*release)(void *);
    void *owner;
    uint64_t size_total;
};

static const char *kv_name_of(const void *tab, int64_t i) {
    return ((const struct gguf_kv *)tab)[i].key;
}

static const char *t_name_of(const void *tab, int64_t i) {
    return ((const struct le_gguf_tensor *)tab)[i].name;
}

/* Bounds-checked cursor over the mapping. ctx names the entry being parsed
 * for error messages ("key 'general.name'", "tensor 'output.weight'"). */
struct cur {
    const uint8_t *b;
    uint64_t pos, size;
    const char *path;
    char ctx[160];
};

static int truncated(const struct cur *c, const char *what, uint64_t need) {
    return le_err_set(LE_EFORMAT,
                      "%s: truncated file: %s: %s needs %" PRIu64 " bytes at offset %" PRIu64
                      ", only %" PRIu64 " left (file size %" PRIu64 ")",
                      c->path, c->ctx, what, need, c->pos, c->size - c->pos, c->size);
}

static int rd(struct cur *c, void *dst, uint64_t n, const char *what) {
    if (n > c->size - c->pos)
        return truncated(c, what, n);
    memcpy(dst, c->b + c->pos, n);
    c->pos += n;
    return LE_OK;
}

static int skip(struct cur *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos)
        return truncated(c, what, n);
    c->pos += n;
    return LE_OK;
}

/* Reads a gguf string's length and checks its bytes are in the file;
 * leaves the cursor after the string. */
static int rd_str(struct cur *c, uint64_t *off, uint64_t *len, const char *what) {
    int rc = rd(c, len, 8, what);
    if (rc)
        return rc;
    *off = c->pos;
    return skip(c, *len, what);
}

static int check_bools(struct cur *c, uint64_t off, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (c->b[off + i] > 1)
            return le_err_set(LE_EFORMAT, "%s: %s: bool value %u at offset %" PRIu64 " is not 0 or 1",
                              c->path, c->ctx, c->b[off + i], off + i);
    return LE_OK;
}

static int parse_str_array(struct cur *c, struct gguf_kv *kv) {
    if (kv->n > (c->size - c->pos) / 8)
        return le_err_set(LE_EFORMAT,
                          "%s: %s: array of %" PRIu64 " strings cannot fit in the %" PRIu64
                          " bytes left at offset %" PRIu64,
                          c->path, c->ctx, kv->n, c->size - c->pos, c->pos);
    kv->soff = malloc((kv->n ? kv->n : 1) * sizeof *kv->soff);
    if (!kv->soff)
        return le_err_set(LE_ENOMEM, "%s: %s: out of memory", c->path, c->ctx);
    for (uint64_t i = 0; i < kv->n; i++) {
        uint64_t off, len;
        kv->soff[i] = c->pos;
        int rc = rd_str(c, &off, &len, "string array element");
        if (rc)
            return rc;
    }
    return LE_OK;
}

static int parse_array(struct cur *c, struct gguf_kv *kv) {
    int rc = rd(c, &kv->etype, 4, "array element type");
    if (!rc)
        rc = rd(c, &kv->n, 8, "array length");
    if (rc)
        return rc;
    if (kv->etype == LE_GGUF_ARRAY)
        return le_err_set(LE_EUNSUP, "%s: %s: nested arrays are not supported", c->path, c->ctx);
    if (kv->etype == LE_GGUF_STRING)
        return parse_str_array(c, kv);
    if (kv->etype >= GGUF_N_VTYPES)
        return le_err_set(LE_EFORMAT, "%s: %s: unknown array element type %" PRIu32, c->path, c->ctx,
                          kv->etype);
    uint64_t esz = vtype_size[kv->etype];
    if (kv->n > (c->size - c->pos) / esz)
        return le_err_set(LE_EFORMAT,
                          "%s: %s: array of %" PRIu64 " %s values extends past end of file (%" PRIu64
                          " bytes left at offset %" PRIu64 ")",
                          c->path, c->ctx, kv->n, vtype_name(kv->etype), c->size - c->pos, c->pos);
    if (kv->etype == LE_GGUF_BOOL && (rc = check_bools(c, c->pos, kv->n)))
        return rc;
    c->pos += kv->n * esz;
    return LE_OK;
}

static int parse_kv(struct cur *c, struct gguf_kv *kv, int64_t i) {
    uint64_t koff, klen;
    snprintf(c->ctx, sizeof c->ctx, "key/value %" PRId64, i);
    int rc = rd(c, &klen, 8, "key length");
    if (rc)
        return rc;
    if (klen == 0 || klen > GGUF_MAX_KEY)
        return le_err_set(LE_EFORMAT, "%s: %s: key length %" PRIu64 " at offset %" PRIu64
                          " is not in 1..%u", c->path, c->ctx, klen, c->pos - 8, GGUF_MAX_KEY);
    koff = c->pos;
    if ((rc = skip(c, klen, "key")))
        return rc;
    char tmp[80];
    snprintf(c->ctx, sizeof c->ctx, "key '%s'", printable(tmp, sizeof tmp, c->b + koff, klen));
    if (memchr(c->b + koff, 0, klen))
        return le_err_set(LE_EFORMAT, "%s: %s: key contains a NUL byte", c->path, c->ctx);
    kv->key = malloc(klen + 1);
    if (!kv->key)
        return le_err_set(LE_ENOMEM, "%s: out of memory", c->path);
    memcpy(kv->key, c->b + koff, klen);
    kv->key[klen] = 0;
    if ((rc = rd(c, &kv->type, 4, "value type")))
        return rc;
    kv->off = c->pos;
    if (kv->type == LE_GGUF_STRING) {
        uint64_t off, len;
        rc = rd_str(c, &off, &len, "string value");
    } else if (kv->type == LE_GGUF_ARRAY) {
        rc = parse_array(c, kv);
    } else if (kv->type < GGUF_N_VTYPES) {
        rc = skip(c, vtype_size[kv->type], vtype_name(kv->type));
        if (!rc && kv->type == LE_GGUF_BOOL)
            rc = check_bools(c, kv->off, 1);
    } else {
        rc = le_err_set(LE_EFORMAT, "%s: %s: unknown value type %" PRIu32 " at offset %" PRIu64,
                        c->path, c->ctx, kv->type, kv->off - 4);
    }
    kv->end = c->pos;
    return rc;
}

/* Grows *arr (elements of size esz) so that index n fits. */
static int grow(void **arr, int64_t *cap, int64_t n, size_t esz) {
    if (n < *cap)
        return LE_OK;
    int64_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, (size_t)nc * esz);
    if (!p)
        return le_err_set(LE_ENOMEM, "out of memory");
    memset((char *)p + (size_t)*cap * esz, 0, (size_t)(nc - *cap) * esz);
    *arr = p;
    *cap = nc;
    return LE_OK;
}

static int parse_kvs(struct le_gguf *g, struct cur *c, uint64_t n_kv) {
    /* Each key/value takes at least 8 (key length) + 1 (key) + 4 (type) + 1 bytes. */
    if (n_kv > (c->size - c->pos) / 14)
        return le_err_set(LE_EFORMAT,
                          "%s: key/value count %" PRIu64 " is impossible: only %" PRIu64
                          " bytes follow the header (truncated or corrupt file)", g->path, n_kv,
                          c->size - c->pos);
    int64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        int rc = grow((void **)&g->kv, &cap, (int64_t)i, sizeof *g->kv);
        if (rc)
            return rc;
        g->n_kv = (int64_t)i + 1;
        if ((rc = parse_kv(c, &g->kv[i], (int64_t)i)))
            return rc;
    }
    int64_t dup = -1;
    int rc = index_build(&g->kv_index, g->kv, kv_name_of, g->n_kv, &dup);
    if (rc == 1) {
        char tmp[80];
        return le_err_set(LE_EFORMAT, "%s: duplicate key '%s' (key/value %" PRId64 ")", g->path,
                          printable(tmp, sizeof tmp, (const uint8_t *)g->kv[dup].key,
                                    strlen(g->kv[dup].key)), dup);
    }
    return rc;
}

static int set_alignment(struct le_gguf *g) {
    g->alignment = GGUF_DEFAULT_ALIGN;
    if (le_gguf_find_key(g, "general.alignment") < 0)
        return LE_OK;
    uint32_t a;
    int rc = le_gguf_get_u32(g, "general.alignment", &a);
    if (rc)
        return le_err_set(LE_EFORMAT, "%s: general.alignment is not an unsigned 32-bit integer",
                          g->path);
    if (a == 0 || (a & (a - 1)))
        return le_err_set(LE_EFORMAT, "%s: general.alignment %" PRIu32 " is not a power of two",
                          g->path, a);
    g->alignment = a;
    return LE_OK;
}

/* Dimensions, type and byte size of one tensor info (cursor after the name). */
static int parse_shape(struct cur *c, struct le_gguf_tensor *t, uint32_t align) {
    uint32_t nd, type;
    int rc = rd(c, &nd, 4, "n_dims");
    if (rc)
        return rc;
    if (nd < 1 || nd > GGUF_MAX_DIMS)
        return le_err_set(LE_EFORMAT, "%s: %s: n_dims %" PRIu32 " is not in 1..%d", c->path,
                          c->ctx, nd, GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    uint64_t nel = 1;
    for (int j = 0; j < GGUF_MAX_DIMS; j++) {
        uint64_t ne = 1;
        if (j < t->n_dims && (rc = rd(c, &ne, 8, "dimension")))
            return rc;
        if (ne == 0 || ne > (uint64_t)INT64_MAX || !mul_ok(nel, ne, &nel) || nel > (uint64_t)INT64_MAX)
            return le_err_set(LE_EFORMAT, "%s: %s: dimension ne[%d] = %" PRIu64
                              " is zero or makes the element count overflow", c->path, c->ctx, j, ne);
        t->ne[j] = (int64_t)ne;
    }
    if ((rc = rd(c, &type, 4, "type")) || (rc = rd(c, &t->offset, 8, "data offset")))
        return rc;
    struct type_row tr = type_row(type);
    if (tr.blck == 0)
        return le_err_set(LE_EFORMAT, "%s: %s has unknown type %" PRIu32, c->path, c->ctx, type);
    t->type = (int)type;
    uint64_t blck = tr.blck, rows = (uint64_t)t->ne[1] * t->ne[2] * t->ne[3];
    if ((uint64_t)t->ne[0] % blck)
        return le_err_set(LE_EFORMAT, "%s: %s: row length %" PRId64
                          " is not a multiple of the block size %" PRIu64 " of type %s",
                          c->path, c->ctx, t->ne[0], blck, tr.name);
    if (!mul_ok((uint64_t)t->ne[0] / blck, tr.size, &t->nbytes) ||
        !mul_ok(t->nbytes, rows, &t->nbytes))
        return le_err_set(LE_EFORMAT, "%s: %s: byte size overflows", c->path, c->ctx);
    if (t->offset % align)
        return le_err_set(LE_EFORMAT, "%s: %s: data offset %" PRIu64
                          " is not a multiple of the alignment %" PRIu32, c->path, c->ctx,
                          t->offset, align);
    return LE_OK;
}

static int parse_tensor_info(struct le_gguf *g, struct cur *c, int64_t i) {
    struct le_gguf_tensor *t = &g->t[i];
    uint64_t noff, nlen;
    snprintf(c->ctx, sizeof c->ctx, "tensor info %" PRId64, i);
    int rc = rd(c, &nlen, 8, "name length");
    if (rc)
        return rc;
    if (nlen == 0 || nlen > GGUF_MAX_NAME)
        return le_err_set(LE_EFORMAT, "%s: %s: name length %" PRIu64 " is not in 1..%u", c->path,
                          c->ctx, nlen, GGUF_MAX_NAME);
    noff = c->pos;
    if ((rc = skip(c, nlen, "name")))
        return rc;
    char tmp[80];
    snprintf(c->ctx, sizeof c->ctx, "tensor '%s'", printable(tmp, sizeof tmp, c->b + noff, nlen));
    if (memchr(c->b + noff, 0, nlen))
        return le_err_set(LE_EFORMAT, "%s: %s: name contains a NUL byte", c->path, c->ctx);
    char *name = malloc(nlen + 1);
    if (!name)
        return le_err_set(LE_ENOMEM, "%s: out of memory", c->path);
    memcpy(name, c->b + noff, nlen);
    name[nlen] = 0;
    t->name = name;
    return parse_shape(c, t, g->alignment);
}

/* Tensor data must lie inside the file; names must be unique. */
static int check_tensor_data(struct le_gguf *g) {
    for (int64_t i = 0; i < g->n_t; i++) {
        struct le_gguf_tensor *t = &g->t[i];
        uint64_t room = g->data_off <= g->size ? g->size - g->data_off : 0;
        if (g->data_off > g->size || t->offset > room || t->nbytes > room - t->offset)
            return le_err_set(LE_EFORMAT,
                              "%s: tensor '%s': data (offset %" PRIu64 " in the data section at %" PRIu64
                              ", %" PRIu64 " bytes) extends past end of file (size %" PRIu64 ")",
                              g->path, t->name, t->offset, g->data_off, t->nbytes, g->size);
        t->data = g->base + g->data_off + t->offset;
    }
    int64_t dup = -1;
    int rc = index_build(&g->t_index, g->t, t_name_of, g->n_t, &dup);
    if (rc == 1)
        return le_err_set(LE_EFORMAT, "%s: duplicate tensor name '%s' (tensor %" PRId64 ")", g->path,
                          g->t[dup].name, dup);
    return rc;
}

static int parse_tensors(struct le_gguf *g, struct cur *c, uint64_t n_t) {
    /* Each tensor info takes at least 8 + 1 (name) + 4 + 8 (one dim) + 4 + 8 bytes. */
    if (n_t > (c->size - c->pos) / 33)
        return le_err_set(LE_EFORMAT,
                          "%s: tensor count %" PRIu64 " is impossible: only %" PRIu64
                          " bytes are left for tensor infos (truncated or corrupt file)", g->path,
                          n_t, c->size - c->pos);
    int64_t cap = 0;
    for (uint64_t i = 0; i < n_t; i++) {
        int rc = grow((void **)&g->t, &cap, (int64_t)i, sizeof *g->t);
        if (rc)
            return rc;
        g->n_t = (int64_t)i + 1;
        if ((rc = parse_tensor_info(g, c, (int64_t)i)))
            return rc;
    }
    g->data_off = align_up(c->pos, g->alignment);
    return check_tensor_data(g);
}

static int parse_header(struct le_gguf *g) {
    struct cur c = {.b = g->base, .pos = 0, .size = g->size, .path = g->path};
    snprintf(c.ctx, sizeof c.ctx, "header");
    if (g->size < 4 || memcmp(g->base, GGUF_MAGIC, 4) != 0) {
        char tmp[16];
        return le_err_set(LE_EFORMAT, "%s: not a GGUF file (magic '%s', expected 'GGUF')", g->path,
                          printable(tmp, sizeof tmp, g->base, g->size < 4 ? g->size : 4));
    }
    c.pos = 4;
    int rc = rd(&c, &g->version, 4, "version");
    if (rc)
        return rc;
    if (g->version == 1)
        return le_err_set(LE_EUNSUP, "%s: GGUF version 1 is not supported (only 2 and 3): "
                          "convert the file with a newer llama.cpp", g->path);
    if (g->version != 2 && g->version != 3)
        return le_err_set(LE_EUNSUP, "%s: GGUF version %" PRIu32 " is not supported (only 2 and 3)%s",
                          g->path, g->version,
                          (g->version & 0xffff) == 0 ? "; the file may be big-endian" : "");
    uint64_t n_t, n_kv;
    if ((rc = rd(&c, &n_t, 8, "tensor count")) || (rc = rd(&c, &n_kv, 8, "key/value count")))
        return rc;
    if ((rc = parse_kvs(g, &c, n_kv)) || (rc = set_alignment(g)))
        return rc;
    return parse_tensors(g, &c, n_t);
}

static int map_file(struct le_gguf *g, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return le_err_set(errno == ENOENT ? LE_ENOTFOUND : LE_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    struct stat st;
    int rc = LE_OK;
    if (fstat(fd, &st) != 0)
        rc = le_err_set(LE_EIO, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        rc = le_err_set(LE_EIO, "%s: is a directory, not a GGUF file", path);
    else if (!S_ISREG(st.st_mode))
        rc = le_err_set(LE_EIO, "%s: not a regular file", path);
    else if (st.st_size < 24)
        rc = le_err_set(LE_EFORMAT, "%s: file too small to be GGUF (%lld bytes; a header is 24)",
                        path, (long long)st.st_size);
    if (rc) {
        close(fd);
        return rc;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED)
        return le_err_set(LE_EIO, "%s: cannot mmap %lld bytes: %s", path, (long long)st.st_size,
                          strerror(err));
    g->base = p;
    g->size = (uint64_t)st.st_size;
    return LE_OK;
}

int le_gguf_open(struct le_gguf **out, const char *path) {
    *out = NULL;
    if (!path)
        return le_err_set(LE_EINVAL, "le_gguf_open: no path");
    struct le_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path))) {
        free(g);
        return le_err_set(LE_ENOMEM, "%s: out of memory", path);
    }
    int rc = map_file(g, path);
    if (!rc)
        rc = parse_header(g);
    if (rc) {
        le_gguf_close(g);
        return rc;
    }
    *out = g;
    return LE_OK;
}

void le_gguf_close(struct le_gguf *g) {
    if (!g)
        return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].soff);
    }
    for (int64_t i = 0; i < g->n_t; i++)
        free((char *)g->t[i].name);
    free(g->kv);
    free(g->t);
    index_free(&g->kv_index);
    index_free(&g->t_index);
    if (g->is_view)
        free((void *)g->base);
    else if (g->base)
        munmap((void *)g->base, g->size);
    if (g->release)
        g->release(g->owner);
    free(g->path);
    free(g);
}

uint32_t le_gguf_version(const struct le_gguf *g) { return g->version; }
uint32_t le_gguf_alignment(const struct le_gguf *g) { return g->alignment; }
const char *le_gguf_path(const struct le_gguf *g) { return g->path; }
uint64_t le_gguf_file_size(const struct le_gguf *g) { return g->is_view ? g->size_total : g->size; }
int le_gguf_is_view(const struct le_gguf *g) { return g->is_view; }
uint64_t le_gguf_data_offset(const struct le_gguf *g) { return g->data_off; }
int64_t le_gguf_n_kv(const struct le_gguf *g) { return g->n_kv; }
int64_t le_gguf_n_tensors(const struct le_gguf *g) { return g->n_t; }

const char *le_gguf_kv_key(const struct le_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

int le_gguf_kv_type(const struct le_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_kv ? (int)g->kv[i].type : -1;
}

const void *le_gguf_kv_data(const struct le_gguf *g, int64_t i, uint64_t *nbytes) {
    if (i < 0 || i >= g->n_kv)
        return NULL;
    if (nbytes)
        *nbytes = g->kv[i].end - g->kv[i].off;
    return g->base + g->kv[i].off;
}

int64_t le_gguf_find_key(const struct le_gguf *g, const char *key) {
    return key ? index_find(&g->kv_index, g->kv, kv_name_of, key) : -1;
}

const struct le_gguf_tensor *le_gguf_tensor(const struct le_gguf *g, int64_t i) {
    return i >= 0 && i < g->n_t ? &g->t[i] : NULL;
}

const struct le_gguf_tensor *le_gguf_find_tensor(const struct le_gguf *g, const char *name) {
    int64_t i = name ? index_find(&g->t_index, g->t, t_name_of, name) : -1;
    return i < 0 ? NULL : &g->t[i];
}

/* The key's entry, or NULL with LE_ENOTFOUND set. */
static const struct gguf_kv *find_kv(const struct le_gguf *g, const char *key, int *rc) {
    int64_t i = le_gguf_find_key(g, key);
    if (i < 0) {
        *rc = le_err_set(LE_ENOTFOUND, "%s: key '%s' not found", g->path, key ? key : "(null)");
        return NULL;
    }
    *rc = LE_OK;
    return &g->kv[i];
}

static int wrong_type(const struct le_gguf *g, const struct gguf_kv *kv, const char *want) {
    return le_err_set(LE_EFORMAT, "%s: key '%s' has type %s, expected %s", g->path, kv->key,
                      vtype_name(kv->type), want);
}

/* Reads an integer value of any integer type: *neg set when it is negative
 * (then *mag is its two's-complement value as int64), else *mag is unsigned. */
static int get_int(const struct le_gguf *g, const char *key, int *neg, uint64_t *mag, const char *want) {
    int rc;
    const struct gguf_kv *kv = find_kv(g, key, &rc);
    if (!kv)
        return rc;
    const uint8_t *p = g->base + kv->off;
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            uint64_t u64; int64_t i64; } v;
    int64_t s = 0;
    int is_signed = 1;
    switch (kv->type) {
    case LE_GGUF_U8: memcpy(&v.u8, p, 1); *mag = v.u8; is_signed = 0; break;
    case LE_GGUF_U16: memcpy(&v.u16, p, 2); *mag = v.u16; is_signed = 0; break;
    case LE_GGUF_U32: memcpy(&v.u32, p, 4); *mag = v.u32; is_signed = 0; break;
    case LE_GGUF_U64: memcpy(&v.u64, p, 8); *mag = v.u64; is_signed = 0; break;
    case LE_GGUF_I8: memcpy(&v.i8, p, 1); s = v.i8; break;
    case LE_GGUF_I16: memcpy(&v.i16, p, 2); s = v.i16; break;
    case LE_GGUF_I32: memcpy(&v.i32, p, 4); s = v.i32; break;
    case LE_GGUF_I64: memcpy(&v.i64, p, 8); s = v.i64; break;
    default: return wrong_type(g, kv, want);
    }
    *neg = is_signed && s < 0;
    if (is_signed)
        *mag = (uint64_t)s;
    return LE_OK;
}

int le_gguf_get_u32(const struct le_gguf *g, const char *key, uint32_t *out) {
    int neg;
    uint64_t m;
    int rc = get_int(g, key, &neg, &m, "an integer");
    if (rc)
        return rc;
    if (neg || m > UINT32_MAX)
        return le_err_set(LE_EFORMAT, "%s: key '%s': value %s%" PRIu64 " does not fit in u32",
                          g->path, key, neg ? "-" : "", neg ? (uint64_t)0 - m : m);
    *out = (uint32_t)m;
    return LE_OK;
}

int le_gguf_get_u64(const struct le_gguf *g, const char *key, uint64_t *out) {
    int neg;
    uint64_t m;
    int rc = get_int(g, key, &neg, &m, "an integer");
    if (rc)
        return rc;
    if (neg)
        return le_err_set(LE_EFORMAT, "%s: key '%s': negative value does not fit in u64", g->path, key);
    *out = m;
    return LE_OK;
}

int le_gguf_get_i64(const struct le_gguf *g, const char *key, int64_t *out) {
    int neg;
    uint64_t m;
    int rc = get_int(g, key, &neg, &m, "an integer");
    if (rc)
        return rc;
    if (!neg && m > (uint64_t)INT64_MAX)
        return le_err_set(LE_EFORMAT, "%s: key '%s': value %" PRIu64 " does not fit in i64", g->path,
                          key, m);
    *out = (int64_t)m; /* negative values round-trip through two's complement */
    return LE_OK;
}

int le_gguf_get_f64(const struct le_gguf *g, const char *key, double *out) {
    int rc;
    const struct gguf_kv *kv = find_kv(g, key, &rc);
    if (!kv)
        return rc;
    if (kv->type == LE_GGUF_F32) {
        float f;
        memcpy(&f, g->base + kv->off, 4);
        *out = f;
    } else if (kv->type == LE_GGUF_F64) {
        memcpy(out, g->base + kv->off, 8);
    } else {
        return wrong_type(g, kv, "f32 or f64");
    }
    return LE_OK;
}

int le_gguf_get_f32(const struct le_gguf *g, const char *key, float *out) {
    double d;
    int rc = le_gguf_get_f64(g, key, &d);
    if (!rc)
        *out = (float)d;
    return rc;
}

int le_gguf_get_bool(const struct le_gguf *g, const char *key, int *out) {
    int rc;
    const struct gguf_kv *kv = find_kv(g, key, &rc);
    if (!kv)
        return rc;
    if (kv->type != LE_GGUF_BOOL)
        return wrong_type(g, kv, "bool");
    *out = g->base[kv->off];
    return LE_OK;
}

int le_gguf_get_str(const struct le_gguf *g, const char *key, const char **s, uint64_t *len) {
    int rc;
    const struct gguf_kv *kv = find_kv(g, key, &rc);
    if (!kv)
        return rc;
    if (kv->type != LE_GGUF_STRING)
        return wrong_type(g, kv, "string");
    uint64_t n;
    memcpy(&n, g->base + kv->off, 8);
    if (len)
        *len = n;
    if (s)
        *s = (const char *)g->base + kv->off + 8;
    return LE_OK;
}

int le_gguf_get_arr(const struct le_gguf *g, const char *key, int *elem_type, uint64_t *n,
                    const void **data) {
    int rc;
    const struct gguf_kv *kv = find_kv(g, key, &rc);
    if (!kv)
        return rc;
    if (kv->type != LE_GGUF_ARRAY)
        return wrong_type(g, kv, "array");
    if (elem_type)
        *elem_type = (int)kv->etype;
    if (n)
        *n = kv->n;
    if (data) /* string arrays: the raw serialized elements */
        *data = g->base + kv->off + 12;
    return LE_OK;
}

int le_gguf_get_arr_str(const struct le_gguf *g, const char *key, uint64_t i, const char **s,
                        uint64_t *len) {
    int rc;
    const struct gguf_kv *kv = find_kv(g, key, &rc);
    if (!kv)
        return rc;
    if (kv->type != LE_GGUF_ARRAY || kv->etype != LE_GGUF_STRING)
        return le_err_set(LE_EFORMAT, "%s: key '%s' is not an array of strings", g->path, key);
    if (i >= kv->n)
        return le_err_set(LE_EINVAL, "%s: key '%s': index %" PRIu64 " out of range (%" PRIu64
                          " strings)", g->path, key, i, kv->n);
    uint64_t n;
    memcpy(&n, g->base + kv->soff[i], 8);
    if (len)
        *len = n;
    if (s)
        *s = (const char *)g->base + kv->soff[i] + 8;
    return LE_OK;
}

/* ---- writer ---- */

struct wkv {
    char *key;
    uint8_t *blob; /* type (u32) + value, exactly as in the file */
    size_t len;
};

struct wtensor {
    char *name;
    int type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    void *data;                 /* NULL for a tensor generated at write time */
    le_gguf_fill_fn fill;
    void *fill_arg;
    uint64_t nbytes, offset;
};

struct le_gguf_writer {
    struct wkv *kv;
    int64_t n_kv, cap_kv;
    struct wtensor *t;
    int64_t n_t, cap_t;
};

int le_gguf_writer_new(struct le_gguf_writer **out) {
    *out = calloc(1, sizeof **out);
    return *out ? LE_OK : le_err_set(LE_ENOMEM, "out of memory for a GGUF writer");
}

void le_gguf_writer_free(struct le_gguf_writer *w) {
    if (!w)
        return;
    for (int64_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].blob);
    }
    for (int64_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

/* Takes ownership of blob (freed on error). */
static int put_kv(struct le_gguf_writer *w, const char *key, uint8_t *blob, size_t len) {
    size_t klen = key ? strlen(key) : 0;
    if (klen == 0 || klen > GGUF_MAX_KEY) {
        free(blob);
        return le_err_set(LE_EINVAL, "gguf writer: key length %zu is not in 1..%u", klen, GGUF_MAX_KEY);
    }
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].blob);
            w->kv[i].blob = blob;
            w->kv[i].len = len;
            return LE_OK;
        }
    }
    char *k = strdup(key);
    if (!k || grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        free(k);
        free(blob);
        return le_err_set(LE_ENOMEM, "gguf writer: out of memory");
    }
    w->kv[w->n_kv++] = (struct wkv){.key = k, .blob = blob, .len = len};
    return LE_OK;
}

/* A blob of type + head (hlen bytes) + body (blen bytes). */
static int put_kv_parts(struct le_gguf_writer *w, const char *key, uint32_t type, const void *head,
                        size_t hlen, const void *body, size_t blen) {
    if (blen > SIZE_MAX - 4 - hlen)
        return le_err_set(LE_EINVAL, "gguf writer: value of key '%s' is too large", key ? key : "");
    uint8_t *blob = malloc(4 + hlen + blen);
    if (!blob)
        return le_err_set(LE_ENOMEM, "gguf writer: out of memory for key '%s'", key ? key : "");
    memcpy(blob, &type, 4);
    if (hlen)
        memcpy(blob + 4, head, hlen);
    if (blen)
        memcpy(blob + 4 + hlen, body, blen);
    return put_kv(w, key, blob, 4 + hlen + blen);
}

int le_gguf_set_val(struct le_gguf_writer *w, const char *key, int type, const void *v) {
    if (type < 0 || type >= GGUF_N_VTYPES || vtype_size[type] == 0)
        return le_err_set(LE_EINVAL, "gguf writer: key '%s': %d is not a scalar value type",
                          key ? key : "", type);
    if (type == LE_GGUF_BOOL && *(const uint8_t *)v > 1)
        return le_err_set(LE_EINVAL, "gguf writer: key '%s': bool must be 0 or 1", key ? key : "");
    return put_kv_parts(w, key, (uint32_t)type, v, vtype_size[type], NULL, 0);
}

int le_gguf_set_u32(struct le_gguf_writer *w, const char *key, uint32_t v) {
    return le_gguf_set_val(w, key, LE_GGUF_U32, &v);
}
int le_gguf_set_i32(struct le_gguf_writer *w, const char *key, int32_t v) {
    return le_gguf_set_val(w, key, LE_GGUF_I32, &v);
}
int le_gguf_set_u64(struct le_gguf_writer *w, const char *key, uint64_t v) {
    return le_gguf_set_val(w, key, LE_GGUF_U64, &v);
}
int le_gguf_set_f32(struct le_gguf_writer *w, const char *key, float v) {
    return le_gguf_set_val(w, key, LE_GGUF_F32, &v);
}
int le_gguf_set_f64(struct le_gguf_writer *w, const char *key, double v) {
    return le_gguf_set_val(w, key, LE_GGUF_F64, &v);
}
int le_gguf_set_bool(struct le_gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    return le_gguf_set_val(w, key, LE_GGUF_BOOL, &b);
}

int le_gguf_set_str(struct le_gguf_writer *w, const char *key, const char *s) {
    if (!s)
        return le_err_set(LE_EINVAL, "gguf writer: key '%s': NULL string", key ? key : "");
    uint64_t n = strlen(s);
    return put_kv_parts(w, key, LE_GGUF_STRING, &n, 8, s, n);
}

int le_gguf_set_arr(struct le_gguf_writer *w, const char *key, int elem_type, uint64_t n,
                    const void *data) {
    if (elem_type < 0 || elem_type >= GGUF_N_VTYPES || vtype_size[elem_type] == 0)
        return le_err_set(LE_EINVAL, "gguf writer: key '%s': element type %d is not a scalar "
                          "type (use le_gguf_set_arr_str for strings)", key ? key : "", elem_type);
    uint64_t bytes;
    if (!mul_ok(n, vtype_size[elem_type], &bytes) || bytes > SIZE_MAX / 2 || (n && !data))
        return le_err_set(LE_EINVAL, "gguf writer: key '%s': bad array (%" PRIu64 " elements)",
                          key ? key : "", n);
    if (elem_type == LE_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1)
                return le_err_set(LE_EINVAL, "gguf writer: key '%s': bool element %" PRIu64
                                  " is not 0 or 1", key ? key : "", i);
    uint8_t head[12];
    uint32_t et = (uint32_t)elem_type;
    memcpy(head, &et, 4);
    memcpy(head + 4, &n, 8);
    return put_kv_parts(w, key, LE_GGUF_ARRAY, head, 12, data, (size_t)bytes);
}

int le_gguf_set_arr_str(struct le_gguf_writer *w, const char *key, uint64_t n,
                        const char *const *strs) {
    uint64_t total = 16; /* type + element type + count */
    if (n && !strs)
        return le_err_set(LE_EINVAL, "gguf writer: key '%s': NULL string array", key ? key : "");
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i])
            return le_err_set(LE_EINVAL, "gguf writer: key '%s': string %" PRIu64 " is NULL",
                              key ? key : "", i);
        total += 8 + strlen(strs[i]);
    }
    uint8_t *blob = malloc(total), *p = blob;
    if (!blob)
        return le_err_set(LE_ENOMEM, "gguf writer: out of memory for key '%s'", key ? key : "");
    uint32_t t = LE_GGUF_ARRAY, et = LE_GGUF_STRING;
    memcpy(p, &t, 4);
    memcpy(p + 4, &et, 4);
    memcpy(p + 8, &n, 8);
    p += 16;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = strlen(strs[i]);
        memcpy(p, &len, 8);
        memcpy(p + 8, strs[i], len);
        p += 8 + len;
    }
    return put_kv(w, key, blob, total);
}

int le_gguf_writer_copy_kv(struct le_gguf_writer *w, const struct le_gguf *g, int64_t i) {
    if (i < 0 || i >= g->n_kv)
        return le_err_set(LE_EINVAL, "gguf writer: key/value index %" PRId64 " out of range", i);
    const struct gguf_kv *kv = &g->kv[i];
    return put_kv_parts(w, kv->key, kv->type, g->base + kv->off, (size_t)(kv->end - kv->off), NULL, 0);
}

/* Checks and registers a tensor (data copied when given, else fill kept). */
static int add_tensor(struct le_gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                      const void *data, le_gguf_fill_fn fill, void *fill_arg) {
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0 || nlen >= GGUF_NAME_WRITE)
        return le_err_set(LE_EINVAL, "gguf writer: tensor name length %zu is not in 1..%u", nlen,
                          GGUF_NAME_WRITE - 1);
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return le_err_set(LE_EINVAL, "gguf writer: duplicate tensor '%s'", name);
    struct type_row tr = type_row(type < 0 ? UINT64_MAX : (uint64_t)type);
    if (tr.blck == 0)
        return le_err_set(LE_EINVAL, "gguf writer: tensor '%s' has unknown type %d", name, type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne || (!data && !fill))
        return le_err_set(LE_EINVAL, "gguf writer: tensor '%s': n_dims %d not in 1..4 or NULL data",
                          name, n_dims);
    struct wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}, .fill = fill, .fill_arg = fill_arg};
    uint64_t nel = 1;
    for (int j = 0; j < n_dims; j++) {
        t.ne[j] = ne[j];
        if (ne[j] <= 0 || !mul_ok(nel, (uint64_t)ne[j], &nel) || nel > (uint64_t)INT64_MAX)
            return le_err_set(LE_EINVAL, "gguf writer: tensor '%s': bad dimension ne[%d] = %" PRId64,
                              name, j, ne[j]);
    }
    uint64_t blck = tr.blck;
    if ((uint64_t)t.ne[0] % blck ||
        !mul_ok((uint64_t)t.ne[0] / blck * tr.size, nel / (uint64_t)t.ne[0], &t.nbytes) ||
        t.nbytes > SIZE_MAX / 2)
        return le_err_set(LE_EINVAL, "gguf writer: tensor '%s': row length %" PRId64
                          " is not a multiple of %s's block size %" PRIu64 " (or too large)",
                          name, t.ne[0], tr.name, blck);
    t.name = strdup(name);
    t.data = data ? malloc(t.nbytes) : NULL;
    if (!t.name || (data && !t.data) || grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t)) {
        free(t.name);
        free(t.data);
        return le_err_set(LE_ENOMEM, "gguf writer: out of memory for tensor '%s' (%" PRIu64 " bytes)",
                          name, t.nbytes);
    }
    if (data)
        memcpy(t.data, data, t.nbytes);
    w->t[w->n_t++] = t;
    return LE_OK;
}

int le_gguf_add_tensor(struct le_gguf_writer *w, const char *name, int type, int n_dims,
                       const int64_t *ne, const void *data) {
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL);
}

int le_gguf_add_tensor_gen(struct le_gguf_writer *w, const char *name, int type, int n_dims,
                           const int64_t *ne, le_gguf_fill_fn fill, void *arg) {
    if (!fill)
        return le_err_set(LE_EINVAL, "gguf writer: tensor '%s': no fill function", name ? name : "");
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, arg);
}

/* Buffered output to one fd; the first error sticks in err (an errno), or
 * in rc (an LE_E* code from a fill function, err then EIO). */
struct fout {
    int fd, err, rc;
    uint64_t pos;
    size_t n;
    uint8_t buf[1 << 16];
};

static void out_flush(struct fout *f) {
    size_t done = 0;
    while (!f->err && done < f->n) {
        ssize_t r = write(f->fd, f->buf + done, f->n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            f->err = r < 0 ? errno : EIO;
        else
            done += (size_t)r;
    }
    f->n = 0;
}

static void out_put(struct fout *f, const void *p, size_t n) {
    const uint8_t *s = p;
    f->pos += n;
    while (n && !f->err) {
        if (f->n == sizeof f->buf)
            out_flush(f);
        size_t k = sizeof f->buf - f->n < n ? sizeof f->buf - f->n : n;
        memcpy(f->buf + f->n, s, k);
        f->n += k;
        s += k;
        n -= k;
    }
}

static void out_pad(struct fout *f, uint64_t align) {
    static const uint8_t zeros[256];
    while (f->pos % align && !f->err) {
        uint64_t k = align - f->pos % align;
        out_put(f, zeros, k < sizeof zeros ? (size_t)k : sizeof zeros);
    }
}

static void out_str(struct fout *f, const char *s) {
    uint64_t n = strlen(s);
    out_put(f, &n, 8);
    out_put(f, s, (size_t)n);
}

/* The alignment the file will use: general.alignment (must be u32, a power
 * of two) or the default. */
static int writer_alignment(const struct le_gguf_writer *w, uint64_t *align) {
    *align = GGUF_DEFAULT_ALIGN;
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment") != 0)
            continue;
        uint32_t type, a;
        memcpy(&type, w->kv[i].blob, 4);
        if (type != LE_GGUF_U32)
            return le_err_set(LE_EINVAL, "gguf writer: general.alignment must be a u32");
        memcpy(&a, w->kv[i].blob + 4, 4);
        if (a == 0 || (a & (a - 1)))
            return le_err_set(LE_EINVAL, "gguf writer: general.alignment %" PRIu32
                              " is not a power of two", a);
        *align = a;
    }
    return LE_OK;
}

static void write_body(struct le_gguf_writer *w, struct fout *f, uint64_t align) {
    uint32_t version = 3;
    uint64_t n_t = (uint64_t)w->n_t, n_kv = (uint64_t)w->n_kv, off = 0;
    out_put(f, GGUF_MAGIC, 4);
    out_put(f, &version, 4);
    out_put(f, &n_t, 8);
    out_put(f, &n_kv, 8);
    for (int64_t i = 0; i < w->n_kv; i++) {
        out_str(f, w->kv[i].key);
        out_put(f, w->kv[i].blob, w->kv[i].len);
    }
    for (int64_t i = 0; i < w->n_t; i++) {
        struct wtensor *t = &w->t[i];
        uint32_t nd = (uint32_t)t->n_dims, type = (uint32_t)t->type;
        t->offset = off;
        out_str(f, t->name);
        out_put(f, &nd, 4);
        out_put(f, t->ne, 8 * (size_t)t->n_dims);
        out_put(f, &type, 4);
        out_put(f, &t->offset, 8);
        off = align_up(off + t->nbytes, align);
    }
    out_pad(f, align);
    for (int64_t i = 0; i < w->n_t && !f->err; i++) {
        out_flush(f); /* large tensor data goes straight to the fd */
        uint8_t *gen = NULL;
        if (!w->t[i].data) { /* generated now, one tensor in memory at a time */
            gen = malloc(w->t[i].nbytes ? (size_t)w->t[i].nbytes : 1);
            f->rc = gen ? w->t[i].fill(w->t[i].fill_arg, gen, w->t[i].nbytes)
                        : le_err_set(LE_ENOMEM, "gguf writer: out of memory for tensor '%s'", w->t[i].name);
            if (f->rc) {
                f->err = EIO;
                free(gen);
                break;
            }
        }
        const uint8_t *p = gen ? gen : w->t[i].data;
        uint64_t left = w->t[i].nbytes;
        while (left && !f->err) {
            ssize_t r = write(f->fd, p, left > (1u << 30) ? (1u << 30) : (size_t)left);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                f->err = r < 0 ? errno : EIO;
            else {
                p += r;
                left -= (uint64_t)r;
            }
        }
        free(gen);
        f->pos += w->t[i].nbytes;
        out_pad(f, align);
    }
    out_flush(f);
}

/* Makes the rename durable (best effort: some filesystems refuse). */
static void sync_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int le_gguf_write(struct le_gguf_writer *w, const char *path) {
    uint64_t align;
    int rc = writer_alignment(w, &align);
    if (rc)
        return rc;
    /* The rename below would replace a device or FIFO (/dev/null) by a
     * regular file: refuse those. */
    struct stat pst;
    if (stat(path, &pst) == 0 && !S_ISREG(pst.st_mode))
        return le_err_set(LE_EIO, "%s: cannot write a model there: %s", path,
                          S_ISDIR(pst.st_mode) ? "it is a directory" : "not a regular file");
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    struct fout *f = malloc(sizeof *f);
    if (!tmp || !f) {
        free(tmp);
        free(f);
        return le_err_set(LE_ENOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    *f = (struct fout){.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (f->fd < 0) {
        rc = le_err_set(LE_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    } else {
        write_body(w, f, align);
        if (!f->err && fsync(f->fd) != 0)
            f->err = errno;
        if (close(f->fd) != 0 && !f->err)
            f->err = errno;
        if (!f->err && rename(tmp, path) != 0)
            f->err = errno;
        if (f->err) {
            rc = f->rc ? f->rc : le_err_set(LE_EIO, "%s: write failed: %s", path, strerror(f->err));
            unlink(tmp);
        } else {
            sync_dir_of(path);
        }
    }
    free(tmp);
    free(f);
    return rc;
}

/* ---- views: metadata from a writer, tensors anywhere ---- */

/* The writer's keys as a GGUF image with no tensors (malloc'ed). */
static int view_image(const struct le_gguf_writer *w, uint8_t **out, uint64_t *size) {
    uint64_t n = 24;
    for (int64_t i = 0; i < w->n_kv; i++)
        n += 8 + strlen(w->kv[i].key) + w->kv[i].len;
    uint8_t *b = malloc(n), *p = b;
    if (!b)
        return le_err_set(LE_ENOMEM, "out of memory for a GGUF view's metadata");
    uint32_t version = 3;
    uint64_t n_t = 0, n_kv = (uint64_t)w->n_kv;
    memcpy(p, GGUF_MAGIC, 4);
    memcpy(p + 4, &version, 4);
    memcpy(p + 8, &n_t, 8);
    memcpy(p + 16, &n_kv, 8);
    p += 24;
    for (int64_t i = 0; i < w->n_kv; i++) {
        uint64_t kl = strlen(w->kv[i].key);
        memcpy(p, &kl, 8);
        memcpy(p + 8, w->kv[i].key, kl);
        memcpy(p + 8 + kl, w->kv[i].blob, w->kv[i].len);
        p += 8 + kl + w->kv[i].len;
    }
    *out = b;
    *size = n;
    return LE_OK;
}

/* Checks one view tensor and copies it into g->t[i]. */
static int view_tensor(struct le_gguf *g, int64_t i, const struct le_gguf_tensor *src) {
    struct le_gguf_tensor *t = &g->t[i];
    *t = *src;
    t->name = NULL;
    struct type_row tr = type_row(src->type < 0 ? UINT64_MAX : (uint64_t)src->type);
    uint64_t nel = 1, nbytes;
    int ok = tr.blck && src->n_dims >= 1 && src->n_dims <= GGUF_MAX_DIMS && src->data && src->name;
    for (int j = 0; ok && j < GGUF_MAX_DIMS; j++)
        ok = src->ne[j] >= 1 && (j < src->n_dims || src->ne[j] == 1) &&
             mul_ok(nel, (uint64_t)src->ne[j], &nel) && nel <= (uint64_t)INT64_MAX;
    ok = ok && (uint64_t)src->ne[0] % tr.blck == 0 &&
         mul_ok((uint64_t)src->ne[0] / tr.blck * tr.size, nel / (uint64_t)src->ne[0], &nbytes);
    if (!ok)
        return le_err_set(LE_EINVAL, "%s: view tensor %" PRId64 " ('%s') has a bad type, shape or no data",
                          g->path, i, src->name ? src->name : "");
    t->nbytes = nbytes;
    t->offset = 0;
    if (!(t->name = strdup(src->name)))
        return le_err_set(LE_ENOMEM, "%s: out of memory", g->path);
    g->size_total += nbytes;
    return LE_OK;
}

int le_gguf_open_view(struct le_gguf **out, const char *path, const struct le_gguf_writer *w,
                      const struct le_gguf_tensor *tensors, int64_t n_t, void (*release)(void *),
                      void *owner) {
    *out = NULL;
    struct le_gguf *g = calloc(1, sizeof *g);
    if (!g || !(g->path = strdup(path ? path : ""))) {
        free(g);
        if (release)
            release(owner);
        return le_err_set(LE_ENOMEM, "%s: out of memory", path ? path : "");
    }
    g->is_view = 1;
    g->release = release;
    g->owner = owner;
    uint8_t *img = NULL;
    int rc = view_image(w, &img, &g->size);
    g->base = img;
    if (!rc)
        rc = parse_header(g);
    g->size_total = g->size;
    if (!rc && n_t > 0 && !(g->t = calloc((size_t)n_t, sizeof *g->t)))
        rc = le_err_set(LE_ENOMEM, "%s: out of memory", g->path);
    for (int64_t i = 0; !rc && i < n_t; i++) {
        g->n_t = i + 1;
        rc = view_tensor(g, i, &tensors[i]);
    }
    int64_t dup = -1;
    index_free(&g->t_index); /* parse_header's index of no tensors */
    if (!rc && (rc = index_build(&g->t_index, g->t, t_name_of, g->n_t, &dup)) == 1)
        rc = le_err_set(LE_EFORMAT, "%s: duplicate tensor name '%s'", g->path, g->t[dup].name);
    if (rc) {
        le_gguf_close(g);
        return rc;
    }
    *out = g;
    return LE_OK;
}
