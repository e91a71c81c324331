/*
 * readers: turn cached source files into documents in the UPSTREAM schema
 * (cJSON objects exactly as in each set's JSONL lines), plus the .lst label
 * files merged in as "label", and WikiText raw split into documents.
 *
 * Archives (.zip from AI2 and Salesforce) are read with libarchive, member by
 * member, never unpacked to disk. Every malformed input gives one clear
 * error naming the file and line: invalid UTF-8, invalid JSON, a line that
 * is not an object, a label count that does not match.
 */
#include "le_ds_internal.h"

#include "le_buf.h"  /* struct le_buf: archive members */
#include "le_err.h"  /* le_err_set, LE_E* codes */
#include "le_fs.h"   /* le_read_file */
#include "le_text.h" /* le_utf8_next, le_utf8_wellformed */

#include <archive.h>       /* archive_read_* : .zip members */
#include <archive_entry.h> /* archive_entry_pathname */
#include <cjson/cJSON.h>   /* JSON objects handed to tasks/ */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Functions on raw bytes. */

/* Offset of the first invalid UTF-8 byte in s[0..n), or n when valid
 * (rejects overlong forms, surrogates and code points above U+10FFFF). */
static size_t utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = le_utf8_next((const char *)s + i, n - i, &cp);
        if (!len || !le_utf8_wellformed(cp, len))
            return i;
        i += len;
    }
    return n;
}


/* Opens a .zip/.tar (any compression) for reading into *out. */
static int archive_open(const char *archive, struct archive **out) {
    struct archive *a = archive_read_new();
    if (!a)
        return le_err_set(LE_ENOMEM, "out of memory");
    archive_read_support_filter_all(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, archive, 1 << 16) != ARCHIVE_OK) {
        int rc = le_err_set(LE_EFORMAT, "cannot read archive %s: %s", archive, archive_error_string(a));
        archive_read_free(a);
        return rc;
    }
    *out = a;
    return LE_OK;
}

/* The next member's name ("./" dropped) and entry, or NULL at the end
 * (*st: the libarchive status). */
static const char *archive_next(struct archive *a, struct archive_entry **e, int *st) {
    while ((*st = archive_read_next_header(a, e)) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(*e);
        if (p && p[0] == '.' && p[1] == '/')
            p += 2;
        if (p)
            return p;
        archive_read_data_skip(a);
    }
    return NULL;
}

/* The current member's bytes into b (NUL-terminated). */
static int archive_slurp(struct archive *a, const char *archive, const char *name, struct le_buf *b) {
    la_ssize_t r = 0;
    le_buf_put(b, "", 0);
    while (!le_buf_reserve(b, 1 << 16) && (r = archive_read_data(a, b->p + b->n, b->cap - b->n - 1)) > 0) {
        b->n += (size_t)r;
        b->p[b->n] = 0;
    }
    if (b->oom)
        return le_err_set(LE_ENOMEM, "out of memory reading %s", name);
    if (r < 0)
        return le_err_set(LE_EFORMAT, "%s: reading %s: %s", archive, name, archive_error_string(a));
    return LE_OK;
}

int le_ds_archive_member(const char *archive, const char *member, char **out, size_t *n) {
    struct archive *a = NULL;
    int st = ARCHIVE_EOF, rc = archive_open(archive, &a);
    if (rc)
        return rc;
    struct archive_entry *e;
    const char *p;
    int found = 0;
    while (!found && (p = archive_next(a, &e, &st))) {
        if (strcmp(p, member) != 0) {
            archive_read_data_skip(a);
            continue;
        }
        found = 1;
        struct le_buf b = {0};
        rc = archive_slurp(a, archive, member, &b);
        if (!rc) {
            *n = b.n;
            *out = le_buf_take(&b);
        }
        le_buf_free(&b);
    }
    if (!found)
        rc = st != ARCHIVE_EOF ? le_err_set(LE_EFORMAT, "%s: %s", archive, archive_error_string(a))
                               : le_err_set(LE_ENOTFOUND, "%s has no member %s", archive, member);
    archive_read_free(a);
    return rc;
}

int le_ds_archive_each(const char *archive, const char *prefix, const char *suffix,
                       int (*cb)(void *ud, const char *name, const char *buf, size_t n), void *ud) {
    struct archive *a = NULL;
    int st = ARCHIVE_EOF, rc = archive_open(archive, &a);
    if (rc)
        return rc;
    size_t lp = strlen(prefix), ls = strlen(suffix);
    struct archive_entry *e;
    const char *p;
    while (!rc && (p = archive_next(a, &e, &st))) {
        size_t l = strlen(p);
        if (archive_entry_filetype(e) != AE_IFREG || l < lp + ls || strncmp(p, prefix, lp) != 0 ||
            strcmp(p + l - ls, suffix) != 0) {
            archive_read_data_skip(a);
            continue;
        }
        struct le_buf b = {0};
        rc = archive_slurp(a, archive, p, &b);
        if (!rc)
            rc = cb(ud, p, b.p, b.n);
        le_buf_free(&b);
    }
    if (!rc && st != ARCHIVE_EOF)
        rc = le_err_set(LE_EFORMAT, "%s: %s", archive, archive_error_string(a));
    archive_read_free(a);
    return rc;
}

/* Functions on formats. */

static int jsonl_line(const char *s, size_t len, const char *what, int lineno, cJSON *arr) {
    size_t bad = utf8_invalid_at((const unsigned char *)s, len);
    if (bad < len)
        return le_err_set(LE_EFORMAT, "%s:%d: invalid UTF-8 at column %zu", what, lineno, bad + 1);
    if (memchr(s, 0, len))
        return le_err_set(LE_EFORMAT, "%s:%d: NUL byte in a JSON line", what, lineno);
    char *line = malloc(len + 1);
    if (!line)
        return le_err_set(LE_ENOMEM, "out of memory");
    memcpy(line, s, len);
    line[len] = 0;
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithOpts(line, &end, 1);
    size_t col = end ? (size_t)(end - line) + 1 : 1;
    free(line);
    if (!obj)
        return le_err_set(LE_EFORMAT, "%s:%d: malformed JSON near column %zu", what, lineno, col);
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return le_err_set(LE_EFORMAT, "%s:%d: expected a JSON object", what, lineno);
    }
    cJSON_AddItemToArray(arr, obj);
    return 0;
}

int le_ds_read_jsonl(const char *buf, size_t n, const char *what, cJSON **out) {
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return le_err_set(LE_ENOMEM, "out of memory");
    size_t i = 0;
    int lineno = 0, rc = 0;
    if (n >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        i = 3; /* a UTF-8 byte order mark */
    while (i < n && rc == 0) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) : n;
        size_t len = end - i;
        lineno++;
        if (len > 0 && buf[i + len - 1] == '\r')
            len--;
        size_t k = 0;
        while (k < len && (buf[i + k] == ' ' || buf[i + k] == '\t'))
            k++;
        if (k < len)
            rc = jsonl_line(buf + i, len, what, lineno, arr);
        i = end + 1;
    }
    if (rc) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int le_ds_merge_labels(cJSON *items, const char *buf, size_t n, int as_int, const char *what) {
    int count = cJSON_GetArraySize(items), k = 0, lineno = 0;
    cJSON *it = items ? items->child : NULL;
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) : n;
        size_t a = i, b = end;
        lineno++;
        i = end + 1;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r'))
            a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r'))
            b--;
        if (a == b)
            continue; /* blank (the trailing newline) */
        if (!it)
            return le_err_set(LE_EFORMAT, "%s: more labels than items (%d)", what, count);
        char lab[64];
        if (b - a >= sizeof lab)
            return le_err_set(LE_EFORMAT, "%s:%d: label too long", what, lineno);
        memcpy(lab, buf + a, b - a);
        lab[b - a] = 0;
        cJSON *v;
        if (as_int) {
            char *e;
            long x = strtol(lab, &e, 10);
            if (*e)
                return le_err_set(LE_EFORMAT, "%s:%d: label '%s' is not an integer", what, lineno, lab);
            v = cJSON_CreateNumber((double)x);
        } else {
            v = cJSON_CreateString(lab);
        }
        if (!v)
            return le_err_set(LE_ENOMEM, "out of memory");
        cJSON_DeleteItemFromObjectCaseSensitive(it, "label");
        cJSON_AddItemToObject(it, "label", v);
        it = it->next;
        k++;
    }
    if (k != count)
        return le_err_set(LE_EFORMAT, "%s: %d labels for %d items", what, k, count);
    return 0;
}

/* lm-eval's wikitext_document_level rule for a line that opens a new article:
 * after "= = =" -> "===" and "= =" -> "==", stripped, it starts with "= " and
 * ends with " =". */
static int wikitext_is_title(const char *s, size_t len) {
    char tmp[1024], tmp2[1024];
    if (len >= sizeof tmp)
        return 0; /* titles are short; long lines are paragraphs */
    size_t t = 0;
    for (size_t i = 0; i < len;)
        if (i + 5 <= len && memcmp(s + i, "= = =", 5) == 0)
            memcpy(tmp + t, "===", 3), t += 3, i += 5;
        else
            tmp[t++] = s[i++];
    size_t u = 0;
    for (size_t i = 0; i < t;)
        if (i + 3 <= t && memcmp(tmp + i, "= =", 3) == 0)
            memcpy(tmp2 + u, "==", 2), u += 2, i += 3;
        else
            tmp2[u++] = tmp[i++];
    size_t a = 0, b = u;
    while (a < b && strchr(" \t\r\f\v", tmp2[a]))
        a++;
    while (b > a && strchr(" \t\r\f\v", tmp2[b - 1]))
        b--;
    return b - a >= 2 && tmp2[a] == '=' && tmp2[a + 1] == ' ' && tmp2[b - 1] == '=' && tmp2[b - 2] == ' ';
}

static int wikitext_emit(cJSON *arr, const char *s, size_t len, int always) {
    int blank = 1;
    for (size_t i = 0; i < len && blank; i++)
        blank = strchr(" \t\r\n\f\v", s[i]) != NULL;
    if (blank && !always)
        return 0;
    char *t = malloc(len + 1);
    if (!t)
        return le_err_set(LE_ENOMEM, "out of memory");
    memcpy(t, s, len);
    t[len] = 0;
    cJSON *o = cJSON_CreateObject();
    cJSON *v = cJSON_CreateString(t);
    free(t);
    if (!o || !v) {
        cJSON_Delete(o);
        cJSON_Delete(v);
        return le_err_set(LE_ENOMEM, "out of memory");
    }
    cJSON_AddItemToObject(o, "text", v);
    cJSON_AddItemToArray(arr, o);
    return 0;
}

int le_ds_read_wikitext(const char *buf, size_t n, cJSON **out) {
    size_t bad = utf8_invalid_at((const unsigned char *)buf, n);
    if (bad < n)
        return le_err_set(LE_EFORMAT, "wikitext: invalid UTF-8 at byte %zu", bad);
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return le_err_set(LE_ENOMEM, "out of memory");
    /* A page is the lines from one title up to the next, joined by "\n"
     * (the "\n" before a title belongs to no page, as with Python's split). */
    size_t page = 0, i = 0;
    int rc = 0;
    for (;;) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) : n;
        if (i > page && wikitext_is_title(buf + i, end - i)) {
            if ((rc = wikitext_emit(arr, buf + page, i - 1 - page, 0)))
                break;
            page = i;
        }
        if (!nl)
            break;
        i = end + 1;
    }
    if (rc == 0)
        rc = wikitext_emit(arr, buf + page, n - page, 1);
    if (rc) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int le_ds_read_data_json(const char *buf, size_t n, const char *what, cJSON **out) {
    size_t bad = utf8_invalid_at((const unsigned char *)buf, n);
    if (bad < n)
        return le_err_set(LE_EFORMAT, "%s: invalid UTF-8 at byte %zu", what, bad);
    cJSON *root = cJSON_ParseWithLength(buf, n);
    if (!root)
        return le_err_set(LE_EFORMAT, "%s: not valid JSON", what);
    cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(root, "Data");
    cJSON_Delete(root);
    if (!cJSON_IsArray(data)) {
        cJSON_Delete(data);
        return le_err_set(LE_EFORMAT, "%s: no \"Data\" list of documents", what);
    }
    *out = data;
    return 0;
}

/* One CSV field starting at buf[*i]; stops after its delimiter. *eol set at
 * the end of a record. */
static char *csv_field(const char *buf, size_t n, size_t *i, int *eol) {
    size_t cap = 64, len = 0, p = *i;
    char *f = malloc(cap);
    int quoted = p < n && buf[p] == '"';
    if (quoted)
        p++;
    *eol = 0;
    while (f && p < n) {
        char c = buf[p];
        if (quoted) {
            if (c == '"' && p + 1 < n && buf[p + 1] == '"')
                p++;
            else if (c == '"') {
                quoted = 0;
                p++;
                continue;
            }
        } else if (c == ',') {
            p++;
            break;
        } else if (c == '\n' || c == '\r') {
            p += (c == '\r' && p + 1 < n && buf[p + 1] == '\n') ? 2 : 1;
            *eol = 1;
            break;
        }
        if (len + 2 > cap) {
            char *nf = realloc(f, cap *= 2);
            if (!nf)
                free(f);
            f = nf;
            if (!f)
                break;
        }
        f[len++] = c;
        p++;
    }
    if (p >= n)
        *eol = 1;
    if (f)
        f[len] = 0;
    *i = p;
    return f;
}

/* CSV records -> objects keyed by cols[0..ncols), or by the header row
 * when cols is NULL. */
static int csv_read(const char *buf, size_t n, const char *what, const char *const *cols, int ncols,
                    cJSON **out) {
    size_t bad = utf8_invalid_at((const unsigned char *)buf, n);
    if (bad < n)
        return le_err_set(LE_EFORMAT, "%s: invalid UTF-8 at byte %zu", what, bad);
    char *hdr[64];
    int nh = 0, eol = 0, rc = 0;
    size_t i = 0;
    for (; cols && nh < ncols && nh < 64 && !rc; nh++)
        if (!(hdr[nh] = strdup(cols[nh])))
            rc = le_err_set(LE_ENOMEM, "out of memory");
    while (!cols && !eol && nh < 64 && i < n)
        if (!(hdr[nh++] = csv_field(buf, n, &i, &eol)))
            rc = le_err_set(LE_ENOMEM, "out of memory");
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        rc = le_err_set(LE_ENOMEM, "out of memory");
    long line = cols ? 0 : 1;
    while (!rc && i < n) {
        line++;
        if (buf[i] == '\n' || buf[i] == '\r') { /* a blank line */
            i++;
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        int k = 0;
        eol = 0;
        while (!eol && !rc) {
            char *f = csv_field(buf, n, &i, &eol);
            if (!f)
                rc = le_err_set(LE_ENOMEM, "out of memory");
            else if (k >= nh)
                rc = le_err_set(LE_EFORMAT, "%s:%ld: more fields than the header's %d", what, line, nh);
            else
                cJSON_AddStringToObject(o, hdr[k], f);
            free(f);
            k++;
        }
        if (!rc && k != nh)
            rc = le_err_set(LE_EFORMAT, "%s:%ld: %d fields, the header has %d", what, line, k, nh);
    }
    for (int h = 0; h < nh; h++)
        free(hdr[h]);
    if (rc) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

int le_ds_read_csv(const char *buf, size_t n, const char *what, cJSON **out) {
    return csv_read(buf, n, what, NULL, 0, out);
}

int le_ds_read_csv_cols(const char *buf, size_t n, const char *what, const char *const *cols, int ncols,
                        cJSON **out) {
    if (ncols < 1 || ncols > 64)
        return le_err_set(LE_EINVAL, "%s: %d CSV columns", what, ncols);
    return csv_read(buf, n, what, cols, ncols, out);
}

int le_ds_read_file(const char *path, cJSON **out) {
    char *buf = NULL;
    size_t n = 0;
    int rc = le_read_file(path, &buf, &n);
    if (rc)
        return rc;
    size_t l = strlen(path);
    int json = (l > 6 && !strcmp(path + l - 6, ".jsonl")) || (l > 5 && !strcmp(path + l - 5, ".json"));
    rc = json ? le_ds_read_jsonl(buf, n, path, out) : le_ds_read_csv(buf, n, path, out);
    free(buf);
    return rc;
}

/* Functions on registry datasets. */

static int ds_read_part(const struct le_ds_def *d, int src, const char *member, const struct le_ds_opts *o,
                        char **buf, size_t *n) {
    char path[4200];
    int rc = le_ds_ensure_source(d, src, o, path, sizeof path);
    if (rc)
        return rc;
    return member ? le_ds_archive_member(path, member, buf, n) : le_read_file(path, buf, n);
}

int le_ds_load(const char *name, const char *split, const struct le_ds_opts *o, cJSON **docs) {
    const struct le_ds_entry *e = le_ds_find(name);
    if (!e)
        return le_err_set(LE_ENOTFOUND, "unknown dataset '%s' (see 'llamaeval fetch --list')", name);
    const struct le_ds_def *d = le_ds_def_of(e);
    const struct le_ds_split_def *sp = NULL;
    for (int i = 0; i < d->n_split; i++)
        if (split && strcmp(split, d->split[i].split) == 0)
            sp = &d->split[i];
    if (!sp) {
        char have[128] = "";
        for (int i = 0; i < d->n_split; i++)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%s", i ? ", " : "", d->split[i].split);
        return le_err_set(LE_ENOTFOUND, "%s has no split '%s' (has: %s)", d->e.name, split ? split : "(null)", have);
    }
    if (strcmp(d->reader, "mmlu") == 0 || strcmp(d->reader, "race") == 0) { /* many members of one archive */
        char path[4200];
        int rc = le_ds_ensure_source(d, sp->src, o, path, sizeof path);
        if (rc)
            return rc;
        return strcmp(d->reader, "mmlu") == 0 ? le_ds_read_mmlu(path, sp->member, docs)
                                              : le_ds_read_race(path, sp->member, docs);
    }
    char *buf = NULL, what[512];
    size_t n = 0;
    int rc = ds_read_part(d, sp->src, sp->member, o, &buf, &n);
    if (rc)
        return rc;
    char base[256];
    {
        const char *u = d->src[sp->src].url, *s = strrchr(u, '/');
        snprintf(base, sizeof base, "%s", s ? s + 1 : u);
    }
    snprintf(what, sizeof what, "%s %s (%s)", d->e.name, sp->split, sp->member ? sp->member : base);
    cJSON *arr = NULL;
    if (strcmp(d->reader, "wikitext") == 0)
        rc = le_ds_read_wikitext(buf, n, &arr);
    else if (strcmp(d->reader, "triviaqa") == 0)
        rc = le_ds_read_data_json(buf, n, what, &arr);
    else
        rc = le_ds_read_jsonl(buf, n, what, &arr);
    free(buf);
    if (rc == 0 && sp->member2) { /* a second file's documents follow */
        cJSON *more = NULL;
        buf = NULL;
        rc = ds_read_part(d, sp->src, sp->member2, o, &buf, &n);
        snprintf(what, sizeof what, "%s %s (%s)", d->e.name, sp->split, sp->member2);
        if (rc == 0)
            rc = strcmp(d->reader, "triviaqa") == 0 ? le_ds_read_data_json(buf, n, what, &more)
                                                    : le_ds_read_jsonl(buf, n, what, &more);
        free(buf);
        while (rc == 0 && more && more->child)
            cJSON_AddItemToArray(arr, cJSON_DetachItemViaPointer(more, more->child));
        cJSON_Delete(more);
    }
    if (rc == 0 && sp->label_src >= 0) {
        buf = NULL;
        rc = ds_read_part(d, sp->label_src, sp->label_member, o, &buf, &n);
        if (rc == 0) {
            snprintf(what, sizeof what, "%s %s labels", d->e.name, sp->split);
            rc = le_ds_merge_labels(arr, buf, n, sp->label_int, what);
        }
        free(buf);
    }
    if (rc) {
        cJSON_Delete(arr);
        return rc;
    }
    *docs = arr;
    return 0;
}

/* The file and line of a split's document (JSONL: the index-th non-blank
 * line), for messages about one document; re-reads the file (errors only). */
int le_ds_doc_where(const char *name, const char *split, const struct le_ds_opts *o, int64_t index, char *where,
                    size_t cap) {
    const struct le_ds_entry *e = le_ds_find(name);
    if (!e || index < 0)
        return le_err_set(LE_ENOTFOUND, "no document %lld in %s", (long long)index, name);
    const struct le_ds_def *d = le_ds_def_of(e);
    const struct le_ds_split_def *sp = NULL;
    for (int i = 0; i < d->n_split; i++)
        if (split && strcmp(split, d->split[i].split) == 0)
            sp = &d->split[i];
    if (!sp || strcmp(d->reader, "wikitext") == 0 || strcmp(d->reader, "mmlu") == 0 || strcmp(d->reader, "race") == 0)
        return le_err_set(LE_ENOTFOUND, "%s %s has no lines", name, split ? split : "(null)");
    char *buf = NULL;
    size_t n = 0;
    int rc = ds_read_part(d, sp->src, sp->member, o, &buf, &n);
    if (rc)
        return rc;
    size_t i = n >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    int64_t lineno = 0, seen = -1;
    while (i < n && seen < index) { /* the same line rule as le_ds_read_jsonl */
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t end = nl ? (size_t)(nl - buf) : n, k = i;
        lineno++;
        while (k < end && (buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\r'))
            k++;
        if (k < end)
            seen++;
        i = end + 1;
    }
    free(buf);
    if (seen < index)
        return le_err_set(LE_ENOTFOUND, "no document %lld in %s %s", (long long)index, name, split);
    const char *u = d->src[sp->src].url, *b = strrchr(u, '/');
    snprintf(where, cap, "%s:%lld", sp->member ? sp->member : b ? b + 1 : u, (long long)lineno);
    return LE_OK;
}
