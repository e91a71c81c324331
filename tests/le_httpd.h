/*
 * le_httpd: a tiny HTTP/1.1 server for tests, on 127.0.0.1 and a random
 * port, in a thread. Serves files under a root folder (GET, Range
 * "bytes=N-", honoured only when an If-Range matches the ETag, a hash of
 * the bytes), one connection at a time, "Connection: close". Fault modes
 * make the next requests misbehave, to test fetch's resume, checksum,
 * timeout and 404 handling. Every request is logged (path, Range start).
 *
 * Also: builders of dataset fixtures (tests/data/datasets) laid out as the
 * cache or as the upstream URLs, zipping the archive sets with libarchive.
 */
#ifndef LE_HTTPD_H
#define LE_HTTPD_H

enum {
    LE_HTTPD_NONE = 0,
    LE_HTTPD_DROP,     /* send headers and `after` body bytes, then close */
    LE_HTTPD_STALL,    /* send headers and `after` body bytes, then send nothing */
    LE_HTTPD_NOTFOUND, /* 404 */
    LE_HTTPD_WRONG,    /* 200 with the right length but different bytes */
    LE_HTTPD_NORANGE,  /* ignore Range: always 200 with the whole file */
    LE_HTTPD_MOVED,    /* 301 without Location, with a small HTML body */
    LE_HTTPD_EMPTY,    /* 204 No Content */
    LE_HTTPD_NOLENGTH, /* 200 without Content-Length: `after` body bytes, then close */
};

struct le_httpd;
/* Starts serving root; 0 or -1. */
int le_httpd_start(struct le_httpd **out, const char *root);
void le_httpd_stop(struct le_httpd *h);
/* "http://127.0.0.1:PORT" */
const char *le_httpd_url(const struct le_httpd *h);
/* The next `times` requests (-1: all) get fault mode; `after` body bytes first. */
void le_httpd_fault(struct le_httpd *h, int mode, long after, int times);
int le_httpd_n_requests(struct le_httpd *h);
/* Range start asked by request i (0-based), -1 without a Range header. */
long le_httpd_range(struct le_httpd *h, int i);

/* Fixture builders: layout 0 = cache (<dir>/<cache folder>/<file>),
 * 1 = upstream URL paths (<dir>/<URL path>). Returns 0 or -1. */
int le_dsfix_build(const char *dir, int layout);

#endif
