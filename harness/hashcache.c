/*
 * hashcache: model sha256s remembered by path, size, mtime and inode
 * (le_hashcache.h). The cache is a text file of at most LE_HASHCACHE_MAX
 * lines, read whole on each lookup (tens of KiB at most: nothing next to
 * hashing one model) and rewritten whole through a temporary file and a
 * rename, so a reader never sees half a file. Two processes adding entries
 * at once may lose one of them; that costs a rehash later, never a wrong
 * answer, since every entry is checked against the file's current stat.
 */
#include "le_hashcache.h"

#include "le_datasets.h" /* le_ds_cache_dir: the cache folder fetch uses */
#include "le_err.h"
#include "le_fs.h"     /* le_read_file, le_mkdirs */
#include "le_sha256.h" /* le_sha256_file_progress */

#include <inttypes.h>
#include <limits.h> /* PATH_MAX */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h> /* getpid */

/* What must be unchanged for a cached digest to stand. */
struct le_hc_key {
    uint64_t size, dev, ino;
    int64_t mtime_ns;
};

static int le_hc_stat(const char *path, struct le_hc_key *k) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    k->size = (uint64_t)st.st_size;
    k->dev = (uint64_t)st.st_dev;
    k->ino = (uint64_t)st.st_ino;
    k->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    return 0;
}

/* Parses one line "sha size mtime dev ino path" (tab-separated, the
 * newline already cut): returns the path, or NULL for a malformed line. */
static const char *le_hc_parse(const char *line, char sha[65], struct le_hc_key *k) {
    const char *p;
    char *end;
    if (strlen(line) < 65 || line[64] != '\t')
        return NULL;
    for (int i = 0; i < 64; i++)
        if (!((line[i] >= '0' && line[i] <= '9') || (line[i] >= 'a' && line[i] <= 'f')))
            return NULL;
    memcpy(sha, line, 64);
    sha[64] = 0;
    p = line + 65;
    uint64_t v[4];
    for (int i = 0; i < 4; i++) {
        v[i] = strtoull(p, &end, 10);
        if (end == p || *end != '\t')
            return NULL;
        p = end + 1;
    }
    k->size = v[0];
    k->mtime_ns = (int64_t)v[1];
    k->dev = v[2];
    k->ino = v[3];
    return *p ? p : NULL;
}

static int le_hc_same(const struct le_hc_key *a, const struct le_hc_key *b) {
    return a->size == b->size && a->mtime_ns == b->mtime_ns && a->dev == b->dev && a->ino == b->ino;
}

/* The cache's lines (in place in *text, malloc'ed), or 0 lines. */
static int le_hc_lines(const char *cache_file, char **text, char ***lines) {
    size_t len;
    *lines = NULL;
    if (le_read_file(cache_file, text, &len))
        return 0;
    int n = 0, cap = 0;
    for (char *s = *text, *nl; *s; s = nl + 1) {
        nl = strchr(s, '\n');
        if (!nl) /* a torn last line is not an entry */
            break;
        *nl = 0;
        if (n == cap) {
            char **q = realloc(*lines, (size_t)(cap = cap * 2 + 64) * sizeof *q);
            if (!q)
                break;
            *lines = q;
        }
        (*lines)[n++] = s;
    }
    return n;
}

static int le_hc_lookup(const char *cache_file, const char *abs, const struct le_hc_key *k, char sha[65]) {
    char *text = NULL, **lines;
    int n = le_hc_lines(cache_file, &text, &lines), hit = 0;
    for (int i = n - 1; i >= 0 && !hit; i--) { /* newest last */
        char s[65];
        struct le_hc_key e;
        const char *p = le_hc_parse(lines[i], s, &e);
        if (p && !strcmp(p, abs) && le_hc_same(&e, k)) {
            memcpy(sha, s, 65);
            hit = 1;
        }
    }
    free(lines);
    free(text);
    return hit;
}

/* Rewrites the cache with abs's entry last and no older one for abs. */
static void le_hc_store(const char *cache_file, const char *abs, const struct le_hc_key *k, const char sha[65]) {
    char dir[PATH_MAX + 1], tmp[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s", cache_file);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (le_mkdirs(dir))
            return;
    }
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", cache_file, (long)getpid());
    char *text = NULL, **lines;
    int n = le_hc_lines(cache_file, &text, &lines);
    FILE *f = fopen(tmp, "w");
    if (f) {
        int keep = 0;
        char **kept = n ? malloc((size_t)n * sizeof *kept) : NULL;
        for (int i = 0; i < n && kept; i++) {
            char s[65];
            struct le_hc_key e;
            const char *p = le_hc_parse(lines[i], s, &e);
            if (p && strcmp(p, abs) != 0)
                kept[keep++] = lines[i];
        }
        for (int i = keep >= LE_HASHCACHE_MAX ? keep - LE_HASHCACHE_MAX + 1 : 0; i < keep; i++)
            fprintf(f, "%s\n", kept[i]);
        fprintf(f, "%s\t%" PRIu64 "\t%" PRId64 "\t%" PRIu64 "\t%" PRIu64 "\t%s\n", sha, k->size, k->mtime_ns, k->dev,
                k->ino, abs);
        free(kept);
        int bad = ferror(f);
        if (fclose(f) != 0 || bad || rename(tmp, cache_file) != 0)
            remove(tmp);
    }
    free(lines);
    free(text);
}

int le_hashcache_file(const char *cache_file, const char *path, le_progress_cb cb, void *ud, char sha[65],
                      int *hit) {
    char abs[PATH_MAX];
    struct le_hc_key before, after;
    if (hit)
        *hit = 0;
    /* A path the cache cannot name unambiguously is just hashed. */
    int cacheable = cache_file && realpath(path, abs) && !strpbrk(abs, "\t\n") && !le_hc_stat(abs, &before);
    if (cacheable && le_hc_lookup(cache_file, abs, &before, sha)) {
        if (hit)
            *hit = 1;
        return LE_OK;
    }
    int rc = le_sha256_file_progress(path, sha, cb, ud);
    /* Stored only when the file did not change while it was read. */
    if (!rc && cacheable && !le_hc_stat(abs, &after) && le_hc_same(&before, &after))
        le_hc_store(cache_file, abs, &before, sha);
    return rc;
}

int le_hashcache_lookup(const char *cache_file, const char *path, char sha[65]) {
    char abs[PATH_MAX];
    struct le_hc_key k;
    return cache_file && realpath(path, abs) && !le_hc_stat(abs, &k) && le_hc_lookup(cache_file, abs, &k, sha);
}

int le_hashcache_default(char *buf, size_t n) {
    char dir[PATH_MAX];
    int rc = le_ds_cache_dir(NULL, dir, sizeof dir);
    if (rc)
        return rc;
    if ((size_t)snprintf(buf, n, "%s/model-sha256.tsv", dir) >= n)
        return le_err_set(LE_EINVAL, "cache folder path too long");
    return LE_OK;
}
