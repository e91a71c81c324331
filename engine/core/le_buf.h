/*
 * le_buf: growable byte strings, always NUL-terminated. A failed
 * allocation sets oom and makes later appends no-ops, so a caller appends
 * freely and checks once at the end. The zero value {0} is an empty buffer.
 * The buffer owns p; le_buf_take hands it to the caller.
 */
#ifndef LE_BUF_H
#define LE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct le_buf {
    char *p;     /* the bytes, NUL-terminated once anything was appended */
    size_t n;    /* length, without the NUL */
    size_t cap;  /* bytes allocated */
    int oom;     /* an allocation failed: the contents are incomplete */
};

/* 0, or -1 (and oom) when extra more bytes (plus the NUL) cannot be held. */
int le_buf_reserve(struct le_buf *b, size_t extra);
void le_buf_put(struct le_buf *b, const char *s, size_t n);
void le_buf_puts(struct le_buf *b, const char *s); /* NULL appends nothing */
void le_buf_printf(struct le_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void le_buf_vprintf(struct le_buf *b, const char *fmt, va_list ap);
/* The string (caller frees; "" for an empty buffer); NULL after oom. The
 * buffer is empty afterwards. */
char *le_buf_take(struct le_buf *b);
void le_buf_free(struct le_buf *b);

#endif
