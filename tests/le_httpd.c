/* le_httpd: a test HTTP/1.1 server with fault modes, and dataset fixture builders. See le_httpd.h. */
#include "le_httpd.h"

#include "le_datasets.h" /* the registry: URLs and cache paths of each fixture */

#include <archive.h>       /* archive_write_* : zip fixtures */
#include <archive_entry.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum { HTTPD_MAX_LOG = 256 };

struct le_httpd {
    int fd;
    int port;
    char url[64];
    char root[4096];
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu;
    int mode, times;
    long after;
    int n_req;
    long range[HTTPD_MAX_LOG];
};

static void httpd_send(int c, const void *p, size_t n) {
    const char *s = p;
    while (n > 0) {
        ssize_t w = send(c, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Waits until the client hangs up or the server stops (a stall). */
static void httpd_stall(struct le_httpd *h, int c) {
    for (int i = 0; i < 600 && !atomic_load(&h->stop); i++) { /* at most 60 s */
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            char b[256];
            if (recv(c, b, sizeof b, 0) <= 0)
                return;
        }
    }
}

static void httpd_status(int c, int code, const char *what) {
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code, what);
    httpd_send(c, hdr, (size_t)n);
}

static void httpd_serve(struct le_httpd *h, int c) {
    char req[8192];
    size_t len = 0;
    while (len < sizeof req - 1) {
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            return;
        ssize_t r = recv(c, req + len, sizeof req - 1 - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
        req[len] = 0;
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char path[2048] = "";
    if (sscanf(req, "GET %2047s", path) != 1)
        return httpd_status(c, 400, "Bad Request");
    long range = -1;
    const char *rh = strcasestr(req, "\r\nRange: bytes=");
    if (rh)
        range = strtol(rh + 15, NULL, 10);
    pthread_mutex_lock(&h->mu);
    if (h->n_req < HTTPD_MAX_LOG)
        h->range[h->n_req] = range;
    h->n_req++;
    int mode = h->times != 0 ? h->mode : LE_HTTPD_NONE;
    if (h->times > 0)
        h->times--;
    long after = h->after;
    pthread_mutex_unlock(&h->mu);

    char file[8192];
    snprintf(file, sizeof file, "%s%s", h->root, path);
    FILE *f = strstr(path, "..") ? NULL : fopen(file, "rb");
    if (mode == LE_HTTPD_NOTFOUND || !f) {
        if (f)
            fclose(f);
        return httpd_status(c, 404, "Not Found");
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    char *data = malloc((size_t)size + 1);
    fseek(f, 0, SEEK_SET);
    size_t got = data ? fread(data, 1, (size_t)size, f) : 0;
    fclose(f);
    if (!data || got != (size_t)size) {
        free(data);
        return httpd_status(c, 500, "Internal Server Error");
    }
    if (mode == LE_HTTPD_MOVED || mode == LE_HTTPD_EMPTY || mode == LE_HTTPD_NOLENGTH) {
        static const char moved[] = "<html>Moved Permanently</html>";
        char hdr[256];
        int n;
        if (mode == LE_HTTPD_MOVED)
            n = snprintf(hdr, sizeof hdr, "HTTP/1.1 301 Moved Permanently\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n%s", strlen(moved), moved);
        else if (mode == LE_HTTPD_EMPTY)
            n = snprintf(hdr, sizeof hdr, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        else
            n = snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        httpd_send(c, hdr, (size_t)n);
        if (mode == LE_HTTPD_NOLENGTH)
            httpd_send(c, data, (size_t)(after < size ? after : size));
        free(data);
        return;
    }
    if (mode == LE_HTTPD_WRONG)
        for (long i = 0; i < size; i++)
            data[i] = (char)(data[i] ^ 0x55);
    /* ETag: FNV-1a of the bytes served; a Range with an If-Range that is not
     * the current ETag gets the whole file (RFC 9110 13.1.5). */
    unsigned long long fnv = 0xcbf29ce484222325ULL;
    for (long i = 0; i < size; i++)
        fnv = (fnv ^ (unsigned char)data[i]) * 0x100000001b3ULL;
    char etag[40];
    snprintf(etag, sizeof etag, "\"%016llx\"", fnv);
    const char *ir = strcasestr(req, "\r\nIf-Range: ");
    int if_range_ok = 1;
    if (ir) {
        ir += 12;
        size_t k = strcspn(ir, "\r\n");
        if_range_ok = k == strlen(etag) && strncmp(ir, etag, k) == 0;
    }
    long start = (range >= 0 && mode != LE_HTTPD_NORANGE && if_range_ok) ? range : 0;
    char hdr[512];
    int n;
    if (start > 0 && start >= size) {
        n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */%ld\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n", size);
        httpd_send(c, hdr, (size_t)n);
        free(data);
        return;
    }
    if (start > 0)
        n = snprintf(hdr, sizeof hdr,
                     "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %ld-%ld/%ld\r\nContent-Length: %ld\r\n"
                     "ETag: %s\r\nConnection: close\r\n\r\n", start, size - 1, size, size - start, etag);
    else
        n = snprintf(hdr, sizeof hdr, "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\nETag: %s\r\nConnection: close\r\n\r\n",
                     size, etag);
    httpd_send(c, hdr, (size_t)n);
    long body = size - start;
    if (mode == LE_HTTPD_DROP || mode == LE_HTTPD_STALL) {
        long k = after < body ? after : body;
        httpd_send(c, data + start, (size_t)k);
        if (mode == LE_HTTPD_STALL)
            httpd_stall(h, c);
    } else {
        httpd_send(c, data + start, (size_t)body);
    }
    free(data);
}

static void *httpd_main(void *arg) {
    struct le_httpd *h = arg;
    while (!atomic_load(&h->stop)) {
        struct pollfd p = {h->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(h->fd, NULL, NULL);
        if (c < 0)
            continue;
        httpd_serve(h, c);
        shutdown(c, SHUT_RDWR);
        close(c);
    }
    return NULL;
}

int le_httpd_start(struct le_httpd **out, const char *root) {
    struct le_httpd *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    snprintf(h->root, sizeof h->root, "%s", root);
    pthread_mutex_init(&h->mu, NULL);
    h->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t al = sizeof a;
    if (h->fd < 0 || bind(h->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(h->fd, 16) != 0 ||
        getsockname(h->fd, (struct sockaddr *)&a, &al) != 0) {
        if (h->fd >= 0)
            close(h->fd);
        free(h);
        return -1;
    }
    h->port = ntohs(a.sin_port);
    snprintf(h->url, sizeof h->url, "http://127.0.0.1:%d", h->port);
    if (pthread_create(&h->thread, NULL, httpd_main, h) != 0) {
        close(h->fd);
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

void le_httpd_stop(struct le_httpd *h) {
    if (!h)
        return;
    atomic_store(&h->stop, 1);
    pthread_join(h->thread, NULL);
    close(h->fd);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

const char *le_httpd_url(const struct le_httpd *h) { return h->url; }

void le_httpd_fault(struct le_httpd *h, int mode, long after, int times) {
    pthread_mutex_lock(&h->mu);
    h->mode = mode;
    h->after = after;
    h->times = times;
    pthread_mutex_unlock(&h->mu);
}

int le_httpd_n_requests(struct le_httpd *h) {
    pthread_mutex_lock(&h->mu);
    int n = h->n_req;
    pthread_mutex_unlock(&h->mu);
    return n;
}

long le_httpd_range(struct le_httpd *h, int i) {
    pthread_mutex_lock(&h->mu);
    long r = (i >= 0 && i < h->n_req && i < HTTPD_MAX_LOG) ? h->range[i] : -2;
    pthread_mutex_unlock(&h->mu);
    return r;
}

/* Fixture builders. */

static int fix_mkdirs(const char *path_of_file) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path_of_file);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return 0;
}

static int fix_copy(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (!in)
        return -1;
    FILE *out = fix_mkdirs(dst) == 0 ? fopen(dst, "wb") : NULL;
    char buf[65536];
    size_t r;
    int rc = out ? 0 : -1;
    while (out && (r = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, r, out) != r)
            rc = -1;
    fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* Adds every file under root/rel to the zip as member "rel/...". */
static int fix_zip_dir(struct archive *a, const char *root, const char *rel) {
    char dirpath[4096];
    snprintf(dirpath, sizeof dirpath, "%s/%s", root, rel);
    DIR *d = opendir(dirpath);
    if (!d)
        return -1;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096], full[8192];
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st) != 0)
            rc = -1;
        else if (S_ISDIR(st.st_mode))
            rc = fix_zip_dir(a, root, sub);
        else {
            FILE *f = fopen(full, "rb");
            char *buf = malloc((size_t)st.st_size + 1);
            size_t got = f && buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
            if (f)
                fclose(f);
            struct archive_entry *e = archive_entry_new();
            archive_entry_set_pathname(e, sub);
            archive_entry_set_size(e, st.st_size);
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            if (got != (size_t)st.st_size || archive_write_header(a, e) != ARCHIVE_OK ||
                archive_write_data(a, buf, got) != (la_ssize_t)got)
                rc = -1;
            archive_entry_free(e);
            free(buf);
        }
    }
    closedir(d);
    return rc;
}

static int fix_zip(const char *srcdir, const char *dst) {
    struct archive *a = archive_write_new();
    size_t dl = strlen(dst);
    if (dl > 7 && strcmp(dst + dl - 7, ".tar.gz") == 0) { /* a gzipped tar instead */
        archive_write_set_format_pax_restricted(a);
        archive_write_add_filter_gzip(a);
    } else if (dl > 4 && strcmp(dst + dl - 4, ".tar") == 0) /* a plain tar (MMLU's data.tar) */
        archive_write_set_format_pax_restricted(a);
    else
        archive_write_set_format_zip(a);
    int rc = (fix_mkdirs(dst) == 0 && archive_write_open_filename(a, dst) == ARCHIVE_OK) ? 0 : -1;
    if (rc == 0)
        rc = fix_zip_dir(a, srcdir, "");
    if (archive_write_close(a) != ARCHIVE_OK)
        rc = -1;
    archive_write_free(a);
    return rc;
}

int le_dsfix_build(const char *dir, int layout) {
    for (int i = 0; i < le_ds_count(); i++) {
        const struct le_ds_entry *e = le_ds_get(i);
        for (int k = 0; k < le_ds_n_sources(e); k++) {
            const char *url = le_ds_source_at(e, k)->url;
            struct le_ds_opts o = {0};
            o.cache_dir = "@";
            char rel[4096], dst[8192], src[8192];
            if (le_ds_cache_path(e, k, &o, rel, sizeof rel) != 0)
                return -1;
            const char *folder = rel + 2; /* "<cache folder>/<file>" */
            const char *slash = strchr(folder, '/');
            const char *p = strstr(url, "://");
            p = p ? strchr(p + 3, '/') : NULL;
            if (layout == 0)
                snprintf(dst, sizeof dst, "%s/%s", dir, folder);
            else
                snprintf(dst, sizeof dst, "%s%s", dir, p ? p : "/");
            size_t ul = strlen(url);
            int rc;
            if ((ul > 4 && strcmp(url + ul - 4, ".zip") == 0) || (ul > 7 && strcmp(url + ul - 7, ".tar.gz") == 0) ||
                (ul > 4 && strcmp(url + ul - 4, ".tar") == 0)) {
                snprintf(src, sizeof src, "tests/data/datasets/%.*s", (int)(slash - folder), folder);
                rc = fix_zip(src, dst);
            } else {
                snprintf(src, sizeof src, "tests/data/datasets/%s", folder);
                rc = fix_copy(src, dst);
            }
            if (rc != 0) {
                fprintf(stderr, "le_dsfix_build: cannot make %s from %s\n", dst, src);
                return -1;
            }
        }
    }
    return 0;
}
