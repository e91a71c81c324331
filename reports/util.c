/*
 * util: the small pieces every part of reports/ shares -- HTML escaping and
 * base64 into growable strings (engine/core/le_buf.h), number formats, reading fields of a cell's
 * config JSON, short sha256s and atomic file writes.
 *
 * Number formats: tables show rounded numbers (the papers' precision);
 * CSV, JSON and figure data carry the shortest decimal that reads back to
 * the same double, so nothing is lost between the store and a user's plot.
 */
#include "report_int.h"

#include "le_err.h" /* le_err_set */

#include <cjson/cJSON.h> /* config JSON fields */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* getpid, unlink */

/* Functions for growable strings (le_buf.h) in the formats reports write. */

void le_buf_html(struct le_buf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': le_buf_puts(b, "&amp;"); break;
        case '<': le_buf_puts(b, "&lt;"); break;
        case '>': le_buf_puts(b, "&gt;"); break;
        case '"': le_buf_puts(b, "&quot;"); break;
        case '\'': le_buf_puts(b, "&#39;"); break;
        default: le_buf_put(b, s, 1);
        }
    }
}

void le_buf_base64(struct le_buf *b, const void *data, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    if (le_buf_reserve(b, (n + 2) / 3 * 4))
        return;
    char *o = b->p + b->n;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->n = (size_t)(o - b->p);
    b->p[b->n] = 0;
}

char *le_strdup_printf(const char *fmt, ...) {
    struct le_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    le_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return le_buf_take(&b);
}

/* Functions for numbers and config JSON. */

char *le_fmt_fixed(double v, int digits) {
    if (!isfinite(v))
        return strdup(isnan(v) ? "\u2014" : v > 0 ? "inf" : "-inf");
    return le_strdup_printf("%.*f", digits, v);
}

void le_fmt_exact(char *buf, size_t n, double v) {
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
        return;
    }
    snprintf(buf, n, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, n, "%.17g", v);
}

void le_fmt_count(char *buf, size_t n, double v) {
    static const struct {
        double scale;
        const char *suffix;
    } units[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "k"}};
    if (!isfinite(v)) {
        snprintf(buf, n, "\u2014");
        return;
    }
    double a = fabs(v);
    if (a >= 1e15) {
        snprintf(buf, n, "%.3g", v);
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (a >= units[i].scale) {
            snprintf(buf, n, "%.3g%s", v / units[i].scale, units[i].suffix);
            return;
        }
    snprintf(buf, n, "%.3g", v);
}

static cJSON *le_json_field(cJSON *root, const char *key) {
    return cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, key) : NULL;
}

char *le_json_str(const char *json, const char *key) {
    if (!json)
        return NULL;
    cJSON *root = cJSON_Parse(json), *it = le_json_field(root, key);
    char *out = NULL;
    if (cJSON_IsString(it) && it->valuestring)
        out = strdup(it->valuestring);
    else if (cJSON_IsNumber(it))
        out = le_strdup_printf("%g", it->valuedouble);
    cJSON_Delete(root);
    return out;
}

double le_json_num(const char *json, const char *key) {
    if (!json)
        return NAN;
    cJSON *root = cJSON_Parse(json), *it = le_json_field(root, key);
    double v = NAN;
    if (cJSON_IsNumber(it))
        v = it->valuedouble;
    else if (cJSON_IsString(it) && it->valuestring) {
        char *end;
        v = strtod(it->valuestring, &end);
        if (end == it->valuestring || *end)
            v = NAN;
    }
    cJSON_Delete(root);
    return v;
}

const char *le_short_sha(const char *sha, char out[9]) {
    snprintf(out, 9, "%s", sha ? sha : "");
    return out;
}

int le_write_file(const char *path, const char *data, size_t n) {
    char *tmp = le_strdup_printf("%s.tmp-%ld", path, (long)getpid());
    if (!tmp)
        return le_err_set(LE_ENOMEM, "out of memory");
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f) {
        rc = le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    if (n && fwrite(data, 1, n, f) != n)
        rc = le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
    if (fclose(f) != 0 && rc == 0)
        rc = le_err_set(LE_EIO, "cannot write %s: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = le_err_set(LE_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

int le_write_buf(const char *path, struct le_buf *b) {
    int rc = b->oom || !path ? le_err_set(LE_ENOMEM, "out of memory") : le_write_file(path, b->p, b->n);
    le_buf_free(b);
    return rc;
}
