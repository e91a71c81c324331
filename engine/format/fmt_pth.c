/*
 * fmt_pth: PyTorch checkpoints as torch.save writes them -- a zip archive
 * (stored, not compressed; zip64 for large files) holding <prefix>/data.pkl
 * and one <prefix>/data/<key> entry per storage -- read without executing
 * anything. data.pkl is interpreted by a small pickle machine that knows
 * only the opcodes torch.save emits for a state dict (protocols 2-4: dicts,
 * lists, tuples, strings, ints, floats, bools, None, memo, MARK, GLOBAL,
 * BINPERSID, REDUCE, BUILD) and builds plain values; GLOBAL names outside
 * the allowed set (collections.OrderedDict, torch._utils._rebuild_tensor_v2
 * and _rebuild_parameter, torch.*Storage) and any other opcode are errors
 * naming the opcode or global. REDUCE never calls anything: it builds a
 * dict or a tensor record (storage, offset, shape, stride) from its
 * arguments. Tensors must be contiguous and lie inside their storage entry;
 * their data pointers point into the caller's mapping.
 */
#include "format_int.h"

#include "le_err.h"
#include "le_types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- zip ---- */

struct zent {
    const char *name;
    size_t name_len;
    const uint8_t *data;
    uint64_t size;
};

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t u64(const uint8_t *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }

static int zip_eocd(const char *path, const uint8_t *p, uint64_t size, uint64_t *n, uint64_t *cd_off, uint64_t *cd_size) {
    if (size < 22)
        return le_err_set(LE_EFORMAT, "%s: truncated zip (no end of central directory)", path);
    uint64_t lo = size > 65557 ? size - 65557 : 0, e = size - 22;
    for (;; e--) {
        if (u32(p + e) == 0x06054b50u)
            break;
        if (e == lo)
            return le_err_set(LE_EFORMAT, "%s: zip end of central directory not found (truncated file?)", path);
    }
    *n = u16(p + e + 10);
    *cd_size = u32(p + e + 12);
    *cd_off = u32(p + e + 16);
    if ((*n == 0xffff || *cd_off == 0xffffffffu || *cd_size == 0xffffffffu) && e >= 20 &&
        u32(p + e - 20) == 0x07064b50u) {
        uint64_t z = u64(p + e - 20 + 8);
        if (z > size - 56 || u32(p + z) != 0x06064b50u)
            return le_err_set(LE_EFORMAT, "%s: bad zip64 end of central directory", path);
        *n = u64(p + z + 32);
        *cd_size = u64(p + z + 40);
        *cd_off = u64(p + z + 48);
    }
    if (*cd_off > size || *cd_size > size - *cd_off || *n > *cd_size / 46)
        return le_err_set(LE_EFORMAT, "%s: zip central directory lies outside the file (truncated?)", path);
    return LE_OK;
}

/* Zip64 extra field: replaces the 0xffffffff fields in order. */
static void zip64_extra(const uint8_t *x, uint64_t xl, uint64_t *usize, uint64_t *csize, uint64_t *loff) {
    for (uint64_t i = 0; i + 4 <= xl;) {
        uint16_t id = u16(x + i), len = u16(x + i + 2);
        if (i + 4 + len > xl)
            return;
        if (id == 1) {
            const uint8_t *q = x + i + 4, *end = q + len;
            uint64_t *f[3] = {usize, csize, loff};
            for (int k = 0; k < 3; k++)
                if (*f[k] == 0xffffffffu && q + 8 <= end) {
                    *f[k] = u64(q);
                    q += 8;
                }
        }
        i += 4 + (uint64_t)len;
    }
}

static int zip_list(const char *path, const uint8_t *p, uint64_t size, struct zent **out, uint64_t *n_out) {
    uint64_t n = 0, off = 0, cds = 0;
    int rc = zip_eocd(path, p, size, &n, &off, &cds);
    if (rc)
        return rc;
    struct zent *z = calloc(n + 1, sizeof *z);
    if (!z)
        return le_err_set(LE_ENOMEM, "%s: out of memory", path);
    uint64_t end = off + cds;
    for (uint64_t i = 0; !rc && i < n; i++) {
        if (end - off < 46 || u32(p + off) != 0x02014b50u) {
            rc = le_err_set(LE_EFORMAT, "%s: zip central directory entry %llu is malformed", path,
                            (unsigned long long)i);
            break;
        }
        const uint8_t *c = p + off;
        uint64_t method = u16(c + 10), csize = u32(c + 20), usize = u32(c + 24), loff = u32(c + 42);
        uint64_t nl = u16(c + 28), xl = u16(c + 30), cl = u16(c + 32);
        if (46 + nl + xl + cl > end - off) {
            rc = le_err_set(LE_EFORMAT, "%s: zip entry %llu overruns the central directory", path,
                            (unsigned long long)i);
            break;
        }
        zip64_extra(c + 46 + nl, xl, &usize, &csize, &loff);
        const char *nm = (const char *)c + 46;
        int pl = (int)(nl > 80 ? 80 : nl);
        uint64_t doff = 0;
        if (method != 0 || csize != usize)
            rc = le_err_set(LE_EUNSUP, "%s: zip entry %.*s is compressed (method %llu); torch.save stores entries",
                            path, pl, nm, (unsigned long long)method);
        else if (size < 30 || loff > size - 30 || u32(p + loff) != 0x04034b50u)
            rc = le_err_set(LE_EFORMAT, "%s: zip local header of %.*s is missing (truncated file?)", path, pl, nm);
        else if ((doff = loff + 30 + u16(p + loff + 26) + u16(p + loff + 28)) > size || usize > size - doff)
            rc = le_err_set(LE_EFORMAT, "%s: zip entry %.*s extends past the end of the file (truncated?)", path,
                            pl, nm);
        z[i] = (struct zent){nm, (size_t)nl, p + doff, usize};
        off += 46 + nl + xl + cl;
    }
    if (rc) {
        free(z);
        return rc;
    }
    *out = z;
    *n_out = n;
    return LE_OK;
}

/* ---- the pickle machine ---- */

enum pk { PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL, PK_MARK,
          PK_STORAGE, PK_TENSOR };

struct pv {
    int kind;
    int64_t i;       /* INT, BOOL; STORAGE: numel; GLOBAL: which */
    char *s;         /* STR; GLOBAL: "module.name"; STORAGE: key */
    struct pv **it;  /* TUPLE/LIST items; DICT: key, value pairs */
    int64_t n, cap;
    int type;        /* STORAGE / TENSOR: LE_TYPE_* or -1 */
    /* TENSOR */
    struct pv *storage;
    int64_t offset, n_dims, shape[8], stride[8];
    struct pv *next_alloc;
};

struct pm {
    const char *path;
    const uint8_t *p, *end;
    struct pv **st;
    int64_t sp, cap;
    struct pv **memo;
    int64_t n_memo, n_stored; /* table size; distinct entries stored (MEMOIZE's index) */
    struct pv *all;
};

enum { G_ODICT = 1, G_REBUILD, G_PARAM, G_STORAGE };

static struct pv *pv_new(struct pm *m, int kind) {
    struct pv *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    v->kind = kind;
    v->type = -1;
    v->next_alloc = m->all;
    m->all = v;
    return v;
}

static void pm_free(struct pm *m) {
    for (struct pv *v = m->all, *n; v; v = n) {
        n = v->next_alloc;
        free(v->s);
        free(v->it);
        free(v);
    }
    free(m->st);
    free(m->memo);
}

static int pv_push_item(struct pv *c, struct pv *x) {
    if (c->n == c->cap) {
        int64_t nc = c->cap ? c->cap * 2 : 8;
        void *q = realloc(c->it, (size_t)nc * sizeof *c->it);
        if (!q)
            return -1;
        c->it = q;
        c->cap = nc;
    }
    c->it[c->n++] = x;
    return 0;
}

static int push(struct pm *m, struct pv *v) {
    if (!v)
        return le_err_set(LE_ENOMEM, "%s: out of memory in data.pkl", m->path);
    if (m->sp == m->cap) {
        if (m->cap > (1 << 20))
            return le_err_set(LE_EFORMAT, "%s: data.pkl stack grows past 1M entries", m->path);
        int64_t nc = m->cap ? m->cap * 2 : 64;
        void *q = realloc(m->st, (size_t)nc * sizeof *m->st);
        if (!q)
            return le_err_set(LE_ENOMEM, "%s: out of memory", m->path);
        m->st = q;
        m->cap = nc;
    }
    m->st[m->sp++] = v;
    return LE_OK;
}

static struct pv *pop(struct pm *m) { return m->sp > 0 && m->st[m->sp - 1]->kind != PK_MARK ? m->st[--m->sp] : NULL; }

static int64_t mark_pos(const struct pm *m) {
    for (int64_t i = m->sp - 1; i >= 0; i--)
        if (m->st[i]->kind == PK_MARK)
            return i;
    return -1;
}

static int need(struct pm *m, uint64_t n) {
    return (uint64_t)(m->end - m->p) >= n ? LE_OK
                                          : le_err_set(LE_EFORMAT, "%s: data.pkl is truncated", m->path);
}

static int memo_put(struct pm *m, int64_t idx) {
    if (m->sp < 1 || idx < 0 || idx > (1 << 24))
        return le_err_set(LE_EFORMAT, "%s: data.pkl: bad memo store", m->path);
    if (idx >= m->n_memo) {
        int64_t nn = idx + 1 > m->n_memo * 2 ? idx + 1 : m->n_memo * 2;
        void *q = realloc(m->memo, (size_t)nn * sizeof *m->memo);
        if (!q)
            return le_err_set(LE_ENOMEM, "%s: out of memory", m->path);
        m->memo = q;
        memset(m->memo + m->n_memo, 0, (size_t)(nn - m->n_memo) * sizeof *m->memo);
        m->n_memo = nn;
    }
    if (!m->memo[idx])
        m->n_stored++;
    m->memo[idx] = m->st[m->sp - 1];
    return LE_OK;
}

static int global(struct pm *m, const char *mod, size_t ml, const char *name, size_t nl) {
    static const struct { const char *full; int which, type; } ok[] = {
        {"collections.OrderedDict", G_ODICT, -1},
        {"torch._utils._rebuild_tensor_v2", G_REBUILD, -1},
        {"torch._utils._rebuild_parameter", G_PARAM, -1},
        {"torch.FloatStorage", G_STORAGE, LE_TYPE_F32},
        {"torch.HalfStorage", G_STORAGE, LE_TYPE_F16},
        {"torch.BFloat16Storage", G_STORAGE, LE_TYPE_BF16},
        {"torch.LongStorage", G_STORAGE, -1},
        {"torch.IntStorage", G_STORAGE, -1},
    };
    char full[128];
    snprintf(full, sizeof full, "%.*s.%.*s", (int)(ml > 60 ? 60 : ml), mod, (int)(nl > 60 ? 60 : nl), name);
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (strcmp(ok[i].full, full))
            continue;
        struct pv *v = pv_new(m, PK_GLOBAL);
        if (v) {
            v->i = ok[i].which;
            v->type = ok[i].type;
            v->s = strdup(full);
        }
        return push(m, v);
    }
    return le_err_set(LE_EFORMAT, "%s: data.pkl refers to global %s, outside the subset this reader allows", m->path,
                      full);
}

/* A tuple of ints into out (at most 8). */
static int int_tuple(struct pm *m, const struct pv *t, int64_t *out, int64_t *n) {
    if (!t || t->kind != PK_TUPLE || t->n > 8)
        return le_err_set(LE_EFORMAT, "%s: data.pkl: tensor size/stride is not a tuple of at most 8 ints", m->path);
    for (int64_t i = 0; i < t->n; i++) {
        if (t->it[i]->kind != PK_INT)
            return le_err_set(LE_EFORMAT, "%s: data.pkl: tensor size/stride holds a non-integer", m->path);
        out[i] = t->it[i]->i;
    }
    *n = t->n;
    return LE_OK;
}

static int reduce(struct pm *m) {
    struct pv *args = pop(m), *fn = pop(m);
    if (!args || !fn || fn->kind != PK_GLOBAL || args->kind != PK_TUPLE)
        return le_err_set(LE_EFORMAT, "%s: data.pkl: REDUCE without a callable and its arguments", m->path);
    if (fn->i == G_ODICT)
        return push(m, pv_new(m, PK_DICT));
    if (fn->i == G_PARAM) {
        if (args->n < 1 || args->it[0]->kind != PK_TENSOR)
            return le_err_set(LE_EFORMAT, "%s: data.pkl: _rebuild_parameter without a tensor", m->path);
        return push(m, args->it[0]);
    }
    if (fn->i != G_REBUILD)
        return le_err_set(LE_EFORMAT, "%s: data.pkl: REDUCE of %s is outside the allowed subset", m->path, fn->s);
    if (args->n < 4 || args->it[0]->kind != PK_STORAGE || args->it[1]->kind != PK_INT)
        return le_err_set(LE_EFORMAT, "%s: data.pkl: malformed _rebuild_tensor_v2 arguments", m->path);
    struct pv *t = pv_new(m, PK_TENSOR);
    if (!t)
        return le_err_set(LE_ENOMEM, "out of memory");
    t->storage = args->it[0];
    t->type = t->storage->type;
    t->offset = args->it[1]->i;
    int64_t ns;
    int rc = int_tuple(m, args->it[2], t->shape, &t->n_dims);
    if (!rc)
        rc = int_tuple(m, args->it[3], t->stride, &ns);
    if (!rc && ns != t->n_dims)
        rc = le_err_set(LE_EFORMAT, "%s: data.pkl: tensor with %lld sizes and %lld strides", m->path,
                        (long long)t->n_dims, (long long)ns);
    return rc ? rc : push(m, t);
}

/* Pops to the last MARK into a new container of kind. */
static int collect(struct pm *m, int kind, struct pv *into) {
    int64_t k = mark_pos(m);
    if (k < 0)
        return le_err_set(LE_EFORMAT, "%s: data.pkl: missing MARK", m->path);
    struct pv *c = into ? into : pv_new(m, kind);
    if (!c)
        return le_err_set(LE_ENOMEM, "out of memory");
    if (kind == PK_DICT && (m->sp - k - 1) % 2)
        return le_err_set(LE_EFORMAT, "%s: data.pkl: odd number of dict items", m->path);
    for (int64_t i = k + 1; i < m->sp; i++)
        if (pv_push_item(c, m->st[i]))
            return le_err_set(LE_ENOMEM, "out of memory");
    m->sp = k;
    return into ? LE_OK : push(m, c);
}

static int small_tuple(struct pm *m, int n) {
    struct pv *t = pv_new(m, PK_TUPLE), *x[3];
    if (!t || m->sp < n)
        return le_err_set(LE_EFORMAT, "%s: data.pkl: stack underflow", m->path);
    for (int i = n - 1; i >= 0; i--)
        if (!(x[i] = pop(m)))
            return le_err_set(LE_EFORMAT, "%s: data.pkl: stack underflow", m->path);
    for (int i = 0; i < n; i++)
        if (pv_push_item(t, x[i]))
            return le_err_set(LE_ENOMEM, "out of memory");
    return push(m, t);
}

static int str_op(struct pm *m, uint64_t len) {
    int rc = need(m, len);
    if (rc)
        return rc;
    struct pv *v = pv_new(m, PK_STR);
    if (v && !(v->s = strndup((const char *)m->p, (size_t)len)))
        v = NULL;
    m->p += len;
    return push(m, v);
}

static int int_op(struct pm *m, int64_t x) {
    struct pv *v = pv_new(m, PK_INT);
    if (v)
        v->i = x;
    return push(m, v);
}

/* One opcode; *stop set at STOP. */
static int step(struct pm *m, int *stop) {
    int rc = need(m, 1);
    if (rc)
        return rc;
    uint8_t op = *m->p++;
    struct pv *v, *k;
    int64_t x;
    switch (op) {
    case 0x80: /* PROTO */
        return need(m, 1) ? LE_EFORMAT : (m->p++, LE_OK);
    case 0x95: /* FRAME */
        return need(m, 8) ? LE_EFORMAT : (m->p += 8, LE_OK);
    case '}': return push(m, pv_new(m, PK_DICT));
    case ']': return push(m, pv_new(m, PK_LIST));
    case ')': return push(m, pv_new(m, PK_TUPLE));
    case '(': return push(m, pv_new(m, PK_MARK));
    case 'N': return push(m, pv_new(m, PK_NONE));
    case 0x88: case 0x89:
        if ((v = pv_new(m, PK_BOOL)))
            v->i = op == 0x88;
        return push(m, v);
    case 'q': if ((rc = need(m, 1))) return rc; x = *m->p++; return memo_put(m, x);
    case 'r': if ((rc = need(m, 4))) return rc; x = u32(m->p); m->p += 4; return memo_put(m, x);
    case 0x94: return memo_put(m, m->n_stored);
    case 'h': case 'j':
        if ((rc = need(m, op == 'h' ? 1 : 4)))
            return rc;
        x = op == 'h' ? *m->p : u32(m->p);
        m->p += op == 'h' ? 1 : 4;
        if (x >= m->n_memo || !m->memo[x])
            return le_err_set(LE_EFORMAT, "%s: data.pkl: memo %lld read before it is stored", m->path, (long long)x);
        return push(m, m->memo[x]);
    case 'X': if ((rc = need(m, 4))) return rc; x = u32(m->p); m->p += 4; return str_op(m, (uint64_t)x);
    case 0x8c: case 'U': if ((rc = need(m, 1))) return rc; x = *m->p++; return str_op(m, (uint64_t)x);
    case 'c': {
        const uint8_t *a = m->p, *e1 = memchr(a, '\n', (size_t)(m->end - a));
        const uint8_t *e2 = e1 ? memchr(e1 + 1, '\n', (size_t)(m->end - e1 - 1)) : NULL;
        if (!e2)
            return le_err_set(LE_EFORMAT, "%s: data.pkl: truncated GLOBAL", m->path);
        m->p = e2 + 1;
        return global(m, (const char *)a, (size_t)(e1 - a), (const char *)e1 + 1, (size_t)(e2 - e1 - 1));
    }
    case 0x93: {
        struct pv *nm = pop(m), *md = pop(m);
        if (!nm || !md || nm->kind != PK_STR || md->kind != PK_STR)
            return le_err_set(LE_EFORMAT, "%s: data.pkl: STACK_GLOBAL without two strings", m->path);
        return global(m, md->s, strlen(md->s), nm->s, strlen(nm->s));
    }
    case 'J': if ((rc = need(m, 4))) return rc; x = (int32_t)u32(m->p); m->p += 4; return int_op(m, x);
    case 'K': if ((rc = need(m, 1))) return rc; x = *m->p++; return int_op(m, x);
    case 'M': if ((rc = need(m, 2))) return rc; x = u16(m->p); m->p += 2; return int_op(m, x);
    case 0x8a: {
        if ((rc = need(m, 1)))
            return rc;
        int n = *m->p++;
        if (n > 8 || (rc = need(m, (uint64_t)n)))
            return rc ? rc : le_err_set(LE_EFORMAT, "%s: data.pkl: LONG1 of %d bytes", m->path, n);
        uint64_t u = 0;
        for (int i = 0; i < n; i++)
            u |= (uint64_t)m->p[i] << (8 * i);
        if (n > 0 && n < 8 && (m->p[n - 1] & 0x80))
            u |= ~0ull << (8 * n);
        m->p += n;
        return int_op(m, (int64_t)u);
    }
    case 'G':
        if ((rc = need(m, 8)))
            return rc;
        m->p += 8;
        return push(m, pv_new(m, PK_FLOAT));
    case 't': return collect(m, PK_TUPLE, NULL);
    case 0x85: return small_tuple(m, 1);
    case 0x86: return small_tuple(m, 2);
    case 0x87: return small_tuple(m, 3);
    case 'l': return collect(m, PK_LIST, NULL);
    case 'd': return collect(m, PK_DICT, NULL);
    case 'Q': {
        struct pv *pid = pop(m);
        if (!pid || pid->kind != PK_TUPLE || pid->n < 5 || pid->it[0]->kind != PK_STR ||
            strcmp(pid->it[0]->s, "storage") || pid->it[1]->kind != PK_GLOBAL || pid->it[1]->i != G_STORAGE ||
            pid->it[2]->kind != PK_STR || pid->it[4]->kind != PK_INT || pid->it[4]->i < 0)
            return le_err_set(LE_EFORMAT, "%s: data.pkl: persistent id is not a torch storage record", m->path);
        if (!(v = pv_new(m, PK_STORAGE)) || !(v->s = strdup(pid->it[2]->s)))
            return le_err_set(LE_ENOMEM, "out of memory");
        v->type = pid->it[1]->type;
        v->i = pid->it[4]->i;
        return push(m, v);
    }
    case 'R': return reduce(m);
    case 'b': /* BUILD: state of an OrderedDict (_metadata); nothing to apply */
        if (!pop(m) || m->sp < 1)
            return le_err_set(LE_EFORMAT, "%s: data.pkl: BUILD without an object", m->path);
        return LE_OK;
    case 's':
        v = pop(m);
        k = pop(m);
        if (!v || !k || m->sp < 1 || m->st[m->sp - 1]->kind != PK_DICT)
            return le_err_set(LE_EFORMAT, "%s: data.pkl: SETITEM outside a dict", m->path);
        if (pv_push_item(m->st[m->sp - 1], k) || pv_push_item(m->st[m->sp - 1], v))
            return le_err_set(LE_ENOMEM, "out of memory");
        return LE_OK;
    case 'u': case 'e': {
        int64_t mk = mark_pos(m);
        if (mk < 1 || m->st[mk - 1]->kind != (op == 'u' ? PK_DICT : PK_LIST))
            return le_err_set(LE_EFORMAT, "%s: data.pkl: %s outside a %s", m->path, op == 'u' ? "SETITEMS" : "APPENDS",
                              op == 'u' ? "dict" : "list");
        return collect(m, op == 'u' ? PK_DICT : PK_LIST, m->st[mk - 1]);
    }
    case 'a':
        v = pop(m);
        if (!v || m->sp < 1 || m->st[m->sp - 1]->kind != PK_LIST)
            return le_err_set(LE_EFORMAT, "%s: data.pkl: APPEND outside a list", m->path);
        return pv_push_item(m->st[m->sp - 1], v) ? le_err_set(LE_ENOMEM, "out of memory") : LE_OK;
    case '.':
        *stop = 1;
        return LE_OK;
    default:
        return le_err_set(LE_EFORMAT, "%s: data.pkl: pickle opcode 0x%02x is outside the subset torch.save uses",
                          m->path, op);
    }
}

/* ---- tensors ---- */

static const struct zent *zfind(const struct zent *z, uint64_t n, const char *prefix, size_t pl, const char *rest) {
    size_t rl = strlen(rest);
    for (uint64_t i = 0; i < n; i++)
        if (z[i].name_len == pl + rl && !memcmp(z[i].name, prefix, pl) && !memcmp(z[i].name + pl, rest, rl))
            return &z[i];
    return NULL;
}

static int pth_tensor(const char *path, const struct pv *t, const struct zent *z, uint64_t nz, const char *prefix,
                      size_t pl, struct fmt_pt_tensor *out) {
    if (t->type < 0)
        return le_err_set(LE_EUNSUP, "%s: tensor %s is not F32, F16 or BF16", path, out->name);
    if (t->n_dims > 4)
        return le_err_set(LE_EUNSUP, "%s: tensor %s has %lld dimensions", path, out->name, (long long)t->n_dims);
    char rest[300];
    snprintf(rest, sizeof rest, "data/%s", t->storage->s);
    const struct zent *e = zfind(z, nz, prefix, pl, rest);
    if (!e)
        return le_err_set(LE_EFORMAT, "%s: storage %s of tensor %s is missing from the archive", path,
                          t->storage->s, out->name);
    uint64_t es = t->type == LE_TYPE_F32 ? 4 : 2, nel = 1, want = 1;
    for (int64_t d = t->n_dims - 1; d >= 0; d--) {
        if (t->shape[d] < 0 || (t->shape[d] > 1 && t->stride[d] != (int64_t)want))
            return le_err_set(LE_EUNSUP, "%s: tensor %s is not contiguous (stride %lld in dim %lld)", path, out->name,
                              (long long)t->stride[d], (long long)d);
        if (__builtin_mul_overflow(want, (uint64_t)t->shape[d], &want))
            return le_err_set(LE_EFORMAT, "%s: tensor %s: size overflows", path, out->name);
    }
    nel = want;
    if (t->offset < 0 || (uint64_t)t->offset > (uint64_t)t->storage->i ||
        nel > (uint64_t)t->storage->i - (uint64_t)t->offset || (uint64_t)t->storage->i > e->size / es)
        return le_err_set(LE_EFORMAT, "%s: tensor %s (offset %lld, %llu elements) lies outside its storage of %llu bytes",
                          path, out->name, (long long)t->offset, (unsigned long long)nel, (unsigned long long)e->size);
    out->type = t->type;
    out->n_dims = (int)t->n_dims;
    for (int d = 0; d < 4; d++)
        out->shape[d] = d < t->n_dims ? t->shape[d] : 1;
    out->data = e->data + (uint64_t)t->offset * es;
    return LE_OK;
}

int fmt_pth_parse(const char *path, const uint8_t *p, uint64_t size, struct fmt_pt_tensor **out, int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    struct zent *z = NULL;
    uint64_t nz = 0;
    int rc = zip_list(path, p, size, &z, &nz);
    if (rc)
        return rc;
    const struct zent *pk = NULL;
    for (uint64_t i = 0; i < nz && !pk; i++)
        if (z[i].name_len >= 8 && !memcmp(z[i].name + z[i].name_len - 8, "data.pkl", 8) &&
            (z[i].name_len == 8 || z[i].name[z[i].name_len - 9] == '/'))
            pk = &z[i];
    if (!pk) {
        free(z);
        return le_err_set(LE_EFORMAT, "%s: no data.pkl in the archive (not a torch.save file)", path);
    }
    size_t pl = pk->name_len - 8;
    struct pm m = {.path = path, .p = pk->data, .end = pk->data + pk->size};
    int stop = 0;
    while (!rc && !stop)
        rc = step(&m, &stop);
    struct pv *root = !rc && m.sp == 1 ? m.st[0] : NULL;
    if (!rc && (!root || root->kind != PK_DICT))
        rc = le_err_set(LE_EFORMAT, "%s: data.pkl does not hold a dict of tensors", path);
    struct fmt_pt_tensor *t = NULL;
    int64_t k = 0;
    if (!rc && !(t = calloc((size_t)root->n / 2 + 1, sizeof *t)))
        rc = le_err_set(LE_ENOMEM, "out of memory");
    for (int64_t i = 0; !rc && i + 1 < root->n; i += 2) {
        const struct pv *key = root->it[i], *val = root->it[i + 1];
        if (key->kind != PK_STR || val->kind != PK_TENSOR)
            continue; /* other entries of a checkpoint dict (e.g. counters) */
        snprintf(t[k].name, sizeof t[k].name, "%s", key->s);
        rc = pth_tensor(path, val, z, nz, pk->name, pl, &t[k]);
        k++;
    }
    pm_free(&m);
    free(z);
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    *n_out = k;
    return LE_OK;
}
