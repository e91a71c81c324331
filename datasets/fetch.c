/*
 * fetch: downloads dataset files into the cache. The only libcurl user.
 *
 * Cache: $LLAMAEVAL_CACHE, else $XDG_CACHE_HOME/llamaeval, else
 * ~/.cache/llamaeval (or le_ds_opts.cache_dir); a file lives at
 * <cache>/<dataset folder>/<last part of its URL>.
 *
 * A download goes to "<file>.part" and is renamed into place only after its
 * sha256 checks out, so a file in the cache is always complete. A .part left
 * by an interrupted run is resumed with a Range request carrying If-Range
 * (the ETag or Last-Modified of the response its bytes came from, kept in
 * "<file>.part.validator"; a .part without one starts over); a server that
 * ignores Range (answers 200) makes us start the file over, one that answers
 * a different range than asked (or 416) makes us drop the .part and retry.
 * The digest is computed while the bytes arrive (seeded with the bytes
 * already in the .part). Transient failures (connection refused or reset,
 * stall, 5xx) are retried with exponential backoff; 4xx are not (404 is a
 * clear "not found"). A stall is detected with CURLOPT_LOW_SPEED_LIMIT/TIME:
 * under 1 byte/s for timeout_s seconds.
 *
 * Only a complete 200 (206 on resume) of the announced Content-Length (or a
 * chunked body curl saw end) counts: a 204, a 3xx without Location, a short
 * or close-delimited body is refused, and so is a file over its size cap
 * (the registry's max_bytes, else LE_DS_MAX_BYTES). A download holds an
 * flock on "<file>.lock", so concurrent processes never share a .part; one
 * that waited finds the file complete and only checks it.
 *
 * Checksums: the registry's sha256 when known; otherwise the digest of the
 * first download is pinned in <cache>/pins.tsv ("<rel path>\t<sha256>\t<url>")
 * and later loads (and re-downloads) must match the pin.
 */
#include "le_ds_internal.h"
#include "le_version.h" /* LE_VERSION, generated at build time */

#include "le_err.h"    /* le_err_set, LE_E* codes */
#include "le_fs.h"     /* le_mkdirs */
#include "le_sha256.h" /* streaming digest of downloads */

#include <curl/curl.h> /* the HTTP client */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h> /* pthread_once for curl_global_init */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h> /* flock */
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { LE_DS_DEFAULT_TIMEOUT_S = 30, LE_DS_DEFAULT_RETRIES = 4, LE_DS_DEFAULT_BASE_MS = 1000 };

/* Functions on cache paths and pins. */

int le_ds_cache_dir(const struct le_ds_opts *o, char *buf, size_t n) {
    const char *env;
    int w;
    if (o && o->cache_dir && o->cache_dir[0])
        w = snprintf(buf, n, "%s", o->cache_dir);
    else if ((env = getenv("LLAMAEVAL_CACHE")) && env[0])
        w = snprintf(buf, n, "%s", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && env[0])
        w = snprintf(buf, n, "%s/llamaeval", env);
    else if ((env = getenv("HOME")) && env[0])
        w = snprintf(buf, n, "%s/.cache/llamaeval", env);
    else
        return le_err_set(LE_EINVAL, "no cache folder: set LLAMAEVAL_CACHE (or HOME)");
    if (w < 0 || (size_t)w >= n)
        return le_err_set(LE_EINVAL, "cache folder path too long");
    return 0;
}

static const char *url_basename(const char *url, char *buf, size_t n) {
    const char *end = url + strcspn(url, "?#");
    const char *s = end;
    while (s > url && s[-1] != '/')
        s--;
    size_t len = (size_t)(end - s) < n - 1 ? (size_t)(end - s) : n - 1;
    memcpy(buf, s, len);
    buf[len] = 0;
    return buf;
}

static int ds_rel_path(const struct le_ds_def *d, int i, char *buf, size_t n) {
    char base[256];
    url_basename(d->src[i].url, base, sizeof base);
    int w = snprintf(buf, n, "%s/%s", d->dir, base);
    return (w < 0 || (size_t)w >= n) ? le_err_set(LE_EINVAL, "path too long") : 0;
}

int le_ds_cache_path(const struct le_ds_entry *e, int i, const struct le_ds_opts *o, char *buf, size_t n) {
    const struct le_ds_def *d = le_ds_def_of(e);
    if (!d || i < 0 || i >= d->n_src)
        return le_err_set(LE_EINVAL, "no such dataset source");
    char dir[4096], rel[1024];
    int rc = le_ds_cache_dir(o, dir, sizeof dir);
    if (rc || (rc = ds_rel_path(d, i, rel, sizeof rel)))
        return rc;
    int w = snprintf(buf, n, "%s/%s", dir, rel);
    return (w < 0 || (size_t)w >= n) ? le_err_set(LE_EINVAL, "path too long") : 0;
}

int le_ds_pin_get(const char *cache_dir, const char *rel, char hex[65]) {
    char path[4200], line[8192];
    snprintf(path, sizeof path, "%s/pins.tsv", cache_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return LE_ENOTFOUND;
    int found = 0;
    size_t rl = strlen(rel);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, rel, rl) == 0 && line[rl] == '\t' && strlen(line + rl + 1) >= 64) {
            memcpy(hex, line + rl + 1, 64); /* the last pin of a path wins */
            hex[64] = 0;
            found = 1;
        }
    }
    fclose(f);
    return found ? 0 : LE_ENOTFOUND;
}

static int ds_pin_put(const char *cache_dir, const char *rel, const char *hex, const char *url) {
    char path[4200], line[8192];
    snprintf(path, sizeof path, "%s/pins.tsv", cache_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
    int len = snprintf(line, sizeof line, "%s\t%s\t%s\n", rel, hex, url);
    ssize_t w = write(fd, line, (size_t)len); /* one O_APPEND write: safe with concurrent writers */
    int err = w < 0 ? errno : ENOSPC;
    close(fd);
    return w == len ? 0 : le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(err));
}

/* Replaces the scheme and host of url with base (tests: http://127.0.0.1:PORT). */
static void ds_rebase(const char *url, const char *base, char *buf, size_t n) {
    const char *p = strstr(url, "://");
    if (!base || !base[0] || !p) {
        snprintf(buf, n, "%s", url);
        return;
    }
    const char *path = strchr(p + 3, '/');
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    snprintf(buf, n, "%.*s%s", (int)bl, base, path ? path : "/");
}

/* Functions on one HTTP transfer. */

static pthread_once_t ds_curl_once = PTHREAD_ONCE_INIT;
static void ds_curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

struct dl_state {
    CURL *c;
    FILE *f;
    long long offset;       /* bytes in the .part when the request was made */
    long long range_start;  /* from Content-Range, -1 if none */
    long long written;      /* bytes written this request */
    int checked;            /* status checked on the first body bytes */
    int bad_range;          /* server sent another range than asked */
    int write_failed;       /* local disk error */
    struct le_sha256_ctx sha;
    const struct le_ds_opts *o;
    long timeout_s;
    long long last_now;     /* dlnow at the last progress call */
    double last_change;     /* monotonic time when bytes last arrived */
    int stalled;            /* aborted by the stall watchdog */
    long long max_bytes;    /* size cap of the whole file */
    int bad_status;         /* a body under a status other than 200 / 206-on-resume */
    int too_big;            /* past max_bytes */
    int chunked;            /* Transfer-Encoding: chunked (curl checks its end) */
    char etag[256];         /* the response's strong ETag, or "" */
    char lastmod[256];      /* its Last-Modified, or "" */
};

/* Copies a header's value (after "Name:"), trimmed, into out ("" if too long). */
static void dl_header_value(const char *b, size_t n, size_t skip, char *out, size_t cap) {
    size_t a = skip;
    while (a < n && (b[a] == ' ' || b[a] == '\t'))
        a++;
    while (n > a && (b[n - 1] == '\r' || b[n - 1] == '\n' || b[n - 1] == ' '))
        n--;
    if (n - a >= cap)
        n = a;
    memcpy(out, b + a, n - a);
    out[n - a] = 0;
}

static double ds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t dl_header(char *b, size_t sz, size_t nm, void *ud) {
    struct dl_state *s = ud;
    size_t n = sz * nm;
    if (n > 14 && strncasecmp(b, "Content-Range:", 14) == 0) {
        const char *p = b + 14;
        while (*p == ' ' && p < b + n)
            p++;
        long long a;
        if (sscanf(p, "bytes %lld-", &a) == 1)
            s->range_start = a;
    }
    if (n > 5 && strncasecmp(b, "ETag:", 5) == 0)
        dl_header_value(b, n, 5, s->etag, sizeof s->etag);
    if (n > 14 && strncasecmp(b, "Last-Modified:", 14) == 0)
        dl_header_value(b, n, 14, s->lastmod, sizeof s->lastmod);
    if (n > 18 && strncasecmp(b, "Transfer-Encoding:", 18) == 0) { /* b is not NUL-terminated */
        char v[64];
        dl_header_value(b, n, 18, v, sizeof v);
        s->chunked = strcasecmp(v, "chunked") == 0;
    }
    if (n > 5 && strncmp(b, "HTTP/", 5) == 0) { /* a new response (after a redirect) */
        s->range_start = -1;
        s->chunked = 0;
        s->etag[0] = s->lastmod[0] = 0;
    }
    return n;
}

static size_t dl_write(char *b, size_t sz, size_t nm, void *ud) {
    struct dl_state *s = ud;
    size_t n = sz * nm;
    if (!s->checked) {
        long code = 0;
        curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
        s->checked = 1;
        if (code != 200 && !(code == 206 && s->offset > 0)) { /* a 204's, a 3xx's body: not the file */
            s->bad_status = 1;
            return 0;
        }
        if (s->offset > 0 && code == 200) { /* Range ignored: start over */
            if (ftruncate(fileno(s->f), 0) != 0) {
                s->write_failed = 1;
                return 0;
            }
            s->offset = 0;
            le_sha256_init(&s->sha);
        } else if (s->offset > 0 && code == 206 && s->range_start != s->offset) {
            s->bad_range = 1;
            return 0;
        }
    }
    if (s->offset + s->written + (long long)n > s->max_bytes) {
        s->too_big = 1;
        return 0;
    }
    if (fwrite(b, 1, n, s->f) != n) {
        s->write_failed = 1;
        return 0;
    }
    le_sha256_update(&s->sha, b, n);
    s->written += (long long)n;
    return n;
}

static int dl_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    struct dl_state *s = ud;
    (void)ultotal, (void)ulnow;
    /* curl's LOW_SPEED check averages over several seconds; this watchdog
     * aborts as soon as no byte has arrived for timeout_s. */
    double now = ds_now();
    if (dlnow != s->last_now || s->last_change == 0) {
        s->last_now = dlnow;
        s->last_change = now;
    } else if (now - s->last_change > (double)s->timeout_s) {
        s->stalled = 1;
        return 1;
    }
    if (s->o && s->o->progress)
        s->o->progress(s->o->progress_ud, (uint64_t)(s->offset + dlnow),
                       dltotal > 0 ? (uint64_t)(s->offset + dltotal) : 0);
    return 0;
}

/* Hashes the bytes already in the .part into s->sha; returns its size. */
static long long dl_seed(const char *part, struct le_sha256_ctx *sha) {
    le_sha256_init(sha);
    FILE *f = fopen(part, "rb");
    if (!f)
        return 0;
    unsigned char buf[1 << 16];
    size_t r;
    long long n = 0;
    while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
        le_sha256_update(sha, buf, r);
        n += (long long)r;
    }
    fclose(f);
    return n;
}

enum { DL_OK = 0, DL_RETRY = 1, DL_FATAL = 2 };

/* The .part's validator file: the ETag (strong) or Last-Modified of the
 * response its bytes came from, sent as If-Range on resume so that a file
 * changed upstream is sent whole (200) instead of spliced. A .part without
 * one is not resumed. */
static void dl_validator_path(const char *part, char *buf, size_t n) { snprintf(buf, n, "%s.validator", part); }

static void dl_validator_get(const char *part, char *out, size_t cap) {
    char vp[4300];
    dl_validator_path(part, vp, sizeof vp);
    out[0] = 0;
    FILE *f = fopen(vp, "rb");
    if (!f)
        return;
    size_t r = fread(out, 1, cap - 1, f);
    fclose(f);
    out[r] = 0;
    if (strchr(out, '\n') || strchr(out, '\r'))
        out[0] = 0; /* not ours */
}

static void dl_validator_put(const char *part, const char *v) {
    char vp[4300];
    dl_validator_path(part, vp, sizeof vp);
    FILE *f = v[0] ? fopen(vp, "wb") : NULL;
    if (!f || fputs(v, f) < 0 || fclose(f) != 0)
        unlink(vp);
}

static void dl_drop_part(const char *part) {
    char vp[4300];
    dl_validator_path(part, vp, sizeof vp);
    unlink(part);
    unlink(vp);
}

/* One request. Returns DL_OK, DL_RETRY (error set) or DL_FATAL (error set, rc in *rc). */
static int dl_attempt(const char *url, const char *part, const struct le_ds_opts *o, long timeout_s,
                      struct le_sha256_ctx *sha_out, int *rc) {
    struct dl_state s = {0};
    s.o = o;
    s.timeout_s = timeout_s;
    s.range_start = -1;
    s.max_bytes = o && o->max_bytes > 0 ? o->max_bytes : LE_DS_MAX_BYTES;
    s.offset = dl_seed(part, &s.sha);
    char validator[256];
    dl_validator_get(part, validator, sizeof validator);
    if (s.offset > 0 && !validator[0]) { /* bytes of unknown origin: start over */
        dl_drop_part(part);
        s.offset = dl_seed(part, &s.sha);
    }
    s.f = fopen(part, "ab");
    if (!s.f) {
        *rc = le_err_set(LE_EIO, "cannot write %s: %s", part, strerror(errno));
        return DL_FATAL;
    }
    s.c = curl_easy_init();
    if (!s.c) {
        fclose(s.f);
        *rc = le_err_set(LE_ENOMEM, "curl_easy_init failed");
        return DL_FATAL;
    }
    char range[64], errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(s.c, CURLOPT_URL, url);
    curl_easy_setopt(s.c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s.c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(s.c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(s.c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(s.c, CURLOPT_USERAGENT, "llamaeval/" LE_VERSION);
    curl_easy_setopt(s.c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(s.c, CURLOPT_CONNECTTIMEOUT, timeout_s);
    curl_easy_setopt(s.c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(s.c, CURLOPT_LOW_SPEED_TIME, timeout_s);
    curl_easy_setopt(s.c, CURLOPT_HEADERFUNCTION, dl_header);
    curl_easy_setopt(s.c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(s.c, CURLOPT_WRITEFUNCTION, dl_write);
    curl_easy_setopt(s.c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(s.c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(s.c, CURLOPT_XFERINFOFUNCTION, dl_progress);
    curl_easy_setopt(s.c, CURLOPT_XFERINFODATA, &s);
    struct curl_slist *hdrs = NULL;
    if (s.offset > 0) {
        char ifr[300];
        snprintf(range, sizeof range, "%lld-", s.offset);
        curl_easy_setopt(s.c, CURLOPT_RANGE, range);
        snprintf(ifr, sizeof ifr, "If-Range: %s", validator);
        if (!(hdrs = curl_slist_append(NULL, ifr))) {
            curl_easy_cleanup(s.c);
            fclose(s.f);
            *rc = le_err_set(LE_ENOMEM, "out of memory");
            return DL_FATAL;
        }
        curl_easy_setopt(s.c, CURLOPT_HTTPHEADER, hdrs);
    }
    CURLcode cc = curl_easy_perform(s.c);
    curl_slist_free_all(hdrs);
    long code = 0;
    curl_off_t clen = -1;
    curl_easy_getinfo(s.c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(s.c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    curl_easy_cleanup(s.c);
    int close_failed = fflush(s.f) != 0; /* each step runs whatever the one before did */
    close_failed |= fsync(fileno(s.f)) != 0;
    close_failed |= fclose(s.f) != 0;
    *sha_out = s.sha;
    if (s.checked && !s.bad_status) /* body bytes came from this response: they are its version */
        dl_validator_put(part, strncmp(s.etag, "W/", 2) != 0 && s.etag[0] ? s.etag : s.lastmod);
    if (s.write_failed || (cc == CURLE_OK && close_failed)) {
        *rc = le_err_set(LE_EIO, "writing %s failed", part);
        return DL_FATAL;
    }
    if (s.too_big) {
        dl_drop_part(part);
        *rc = le_err_set(LE_ENET, "%s: larger than the %lld-byte cap for this file; download removed", url,
                         s.max_bytes);
        return DL_FATAL;
    }
    if (s.bad_status || (cc == CURLE_OK && ((code != 200 && code != 206) || (code == 206 && s.offset == 0)))) {
        *rc = le_err_set(LE_ENET, "%s: HTTP %ld is not the file (want 200, or 206 on resume)", url, code);
        return DL_FATAL;
    }
    if (cc == CURLE_OK && clen < 0 && !s.chunked) { /* close-delimited: an early close looks complete */
        dl_drop_part(part);
        le_err_set(LE_ENET, "%s: no Content-Length, so a complete body cannot be told from a cut one", url);
        return DL_RETRY;
    }
    if (cc == CURLE_OK && clen >= 0 && s.written != (long long)clen) {
        le_err_set(LE_ENET, "%s: %lld bytes of the %lld announced", url, s.written, (long long)clen);
        return DL_RETRY;
    }
    if (cc == CURLE_OK && code == 200 && s.written == 0) {
        dl_drop_part(part);
        *rc = le_err_set(LE_ENET, "%s: empty response", url);
        return DL_FATAL;
    }
    if (s.bad_range) {
        dl_drop_part(part);
        le_err_set(LE_ENET, "%s: server answered another byte range than asked; restarting", url);
        return DL_RETRY;
    }
    if (cc == CURLE_OK && !s.checked && s.offset > 0 && code == 200) {
        /* Range ignored and an empty body: the file is empty now. */
        if (truncate(part, 0) != 0) {
            *rc = le_err_set(LE_EIO, "cannot truncate %s", part);
            return DL_FATAL;
        }
        le_sha256_init(sha_out);
    }
    if (cc == CURLE_OK)
        return DL_OK;
    if (cc == CURLE_HTTP_RETURNED_ERROR) {
        if (code == 416) { /* our .part is longer than the file: start over */
            dl_drop_part(part);
            le_err_set(LE_ENET, "%s: HTTP 416 on resume; restarting", url);
            return DL_RETRY;
        }
        if (code == 404 || code == 410) {
            *rc = le_err_set(LE_ENOTFOUND, "%s: HTTP %ld not found", url, code);
            return DL_FATAL;
        }
        if (code >= 400 && code < 500 && code != 408 && code != 429) {
            *rc = le_err_set(LE_ENET, "%s: HTTP %ld", url, code);
            return DL_FATAL;
        }
        le_err_set(LE_ENET, "%s: HTTP %ld", url, code);
        return DL_RETRY;
    }
    if (cc == CURLE_OPERATION_TIMEDOUT || (cc == CURLE_ABORTED_BY_CALLBACK && s.stalled))
        le_err_set(LE_ENET, "%s: timed out (no data for %ld s)", url, timeout_s);
    else if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT) {
        *rc = le_err_set(LE_EINVAL, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return DL_FATAL;
    } else
        le_err_set(LE_ENET, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    return DL_RETRY;
}

static void ds_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int ds_download_locked(const char *url, const char *path, const char *sha256, const struct le_ds_opts *o,
                              char got_sha256[65]) {
    long timeout_s = o && o->timeout_s > 0 ? o->timeout_s : LE_DS_DEFAULT_TIMEOUT_S;
    int retries = !o || o->max_retries == 0 ? LE_DS_DEFAULT_RETRIES : o->max_retries < 0 ? 0 : o->max_retries;
    long delay = o && o->retry_base_ms > 0 ? o->retry_base_ms : LE_DS_DEFAULT_BASE_MS;
    char part[4200];
    if (snprintf(part, sizeof part, "%s.part", path) >= (int)sizeof part)
        return le_err_set(LE_EINVAL, "path too long: %s", path);
    struct le_sha256_ctx sha;
    int rc = 0, st = DL_RETRY;
    for (int attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0) {
            ds_sleep_ms(delay);
            delay = delay * 2 > 60000 ? 60000 : delay * 2;
        }
        st = dl_attempt(url, part, o, timeout_s, &sha, &rc);
        if (st != DL_RETRY)
            break;
    }
    if (st == DL_FATAL)
        return rc;
    if (st == DL_RETRY)
        return le_err_wrap(LE_ENET, "download failed after %d attempts", retries + 1);
    char hex[65];
    uint8_t dg[32];
    le_sha256_final(&sha, dg);
    le_sha256_hex(dg, hex);
    if (got_sha256)
        memcpy(got_sha256, hex, 65);
    if (sha256 && strcasecmp(sha256, hex) != 0) {
        dl_drop_part(part);
        return le_err_set(LE_ECHECKSUM, "%s: sha256 mismatch (expected %s, got %s); download removed", url, sha256,
                          hex);
    }
    if (rename(part, path) != 0)
        return le_err_set(LE_EIO, "cannot rename %s: %s", part, strerror(errno));
    dl_drop_part(part); /* the validator */
    return 0;
}

/* Downloads under an exclusive lock on "<path>.lock" (flock, released when
 * the process dies), so two processes never write one .part; a process that
 * waited finds the file complete and only checks it. */
int le_ds_download(const char *url, const char *path, const char *sha256, const struct le_ds_opts *o,
                   char got_sha256[65]) {
    pthread_once(&ds_curl_once, ds_curl_init);
    char lockp[4200];
    if (snprintf(lockp, sizeof lockp, "%s.lock", path) >= (int)sizeof lockp)
        return le_err_set(LE_EINVAL, "path too long: %s", path);
    int fd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return le_err_set(LE_EIO, "cannot create %s: %s", lockp, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        if (!busy || (o && o->no_wait)) {
            close(fd);
            return busy ? le_err_set(LE_EIO, "%s: another process is downloading it (lock %s)", path, lockp)
                        : le_err_set(LE_EIO, "cannot lock %s: %s", lockp, strerror(errno));
        }
        while (flock(fd, LOCK_EX) != 0)
            if (errno != EINTR) {
                int e = errno;
                close(fd);
                return le_err_set(LE_EIO, "cannot lock %s: %s", lockp, strerror(e));
            }
    }
    int rc;
    struct stat st;
    if (stat(path, &st) == 0) { /* completed by the process we waited for */
        char hex[65];
        rc = le_sha256_file(path, hex);
        if (!rc && sha256 && strcasecmp(sha256, hex) != 0)
            rc = le_err_set(LE_ECHECKSUM, "%s: sha256 %s does not match the expected %s", path, hex, sha256);
        if (!rc && got_sha256)
            memcpy(got_sha256, hex, 65);
    } else
        rc = ds_download_locked(url, path, sha256, o, got_sha256);
    close(fd); /* releases the lock */
    return rc;
}

/* Functions on registry files. */

int le_ds_ensure_source(const struct le_ds_def *d, int i, const struct le_ds_opts *o, char *buf, size_t n) {
    char cache[4096], rel[1024], pin[65], got[65], url[4096];
    int rc;
    if ((rc = le_ds_cache_dir(o, cache, sizeof cache)) || (rc = ds_rel_path(d, i, rel, sizeof rel)))
        return rc;
    if (snprintf(buf, n, "%s/%s", cache, rel) >= (int)n)
        return le_err_set(LE_EINVAL, "path too long");
    const char *want = d->src[i].sha256;
    int pinned = 0;
    if (!want && le_ds_pin_get(cache, rel, pin) == 0)
        want = pin, pinned = 1;
    struct stat st;
    if (stat(buf, &st) == 0) {
        if ((rc = le_sha256_file(buf, got)))
            return rc;
        if (want && strcasecmp(want, got) != 0)
            return le_err_set(LE_ECHECKSUM, "%s: sha256 %s does not match the %s %s (delete the file and fetch again)",
                              buf, got, pinned ? "pin in pins.tsv" : "registry's", want);
        return want ? 0 : ds_pin_put(cache, rel, got, d->src[i].url);
    }
    if (o && o->offline)
        return le_err_set(LE_ENOTFOUND, "offline: %s is not in the cache (run 'llamaeval fetch %s' first)", buf,
                          d->e.name);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/%s", cache, d->dir);
    if ((rc = le_mkdirs(dir)))
        return rc;
    ds_rebase(d->src[i].url, o ? o->base_url : NULL, url, sizeof url);
    struct le_ds_opts oc = {0}; /* the registry's size cap unless the caller set one */
    if (o)
        oc = *o;
    if (oc.max_bytes <= 0)
        oc.max_bytes = d->src[i].max_bytes;
    if ((rc = le_ds_download(url, buf, want, &oc, got)))
        return le_err_wrap(rc, "%s", d->e.name);
    return want ? 0 : ds_pin_put(cache, rel, got, d->src[i].url);
}

int le_ds_fetch(const char *name, const struct le_ds_opts *o) {
    const struct le_ds_entry *e = le_ds_find(name);
    if (!e)
        return le_err_set(LE_ENOTFOUND, "unknown dataset '%s' (see 'llamaeval fetch --list')", name);
    const struct le_ds_def *d = le_ds_def_of(e);
    char path[4200];
    for (int i = 0; i < d->n_src; i++) {
        int rc = le_ds_ensure_source(d, i, o, path, sizeof path);
        if (rc)
            return rc;
    }
    return 0;
}
