/*
 * buf: growable byte strings (le_buf.h). Capacity doubles from 256 bytes,
 * so appending n bytes in pieces costs O(n) copies.
 */
#include "le_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int le_buf_reserve(struct le_buf *b, size_t extra) {
    if (b->oom)
        return -1;
    if (b->n + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    b->p[b->n] = 0;
    return 0;
}

void le_buf_put(struct le_buf *b, const char *s, size_t n) {
    if (le_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void le_buf_puts(struct le_buf *b, const char *s) { le_buf_put(b, s ? s : "", s ? strlen(s) : 0); }

void le_buf_vprintf(struct le_buf *b, const char *fmt, va_list ap) {
    va_list aq;
    va_copy(aq, ap);
    int len = vsnprintf(NULL, 0, fmt, aq);
    va_end(aq);
    if (len < 0 || le_buf_reserve(b, (size_t)len))
        return;
    vsnprintf(b->p + b->n, (size_t)len + 1, fmt, ap);
    b->n += (size_t)len;
}

void le_buf_printf(struct le_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    le_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

char *le_buf_take(struct le_buf *b) {
    if (b->oom) {
        le_buf_free(b);
        return NULL;
    }
    if (!b->p)
        le_buf_put(b, "", 0);
    char *p = b->oom ? NULL : b->p;
    *b = (struct le_buf){0};
    return p;
}

void le_buf_free(struct le_buf *b) {
    free(b->p);
    *b = (struct le_buf){0};
}
