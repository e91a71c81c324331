/* le_err: per-thread last error message. See le_err.h. */
#include "le_err.h"

#include <stdio.h>  /* vsnprintf, fprintf (assert only) */
#include <stdlib.h> /* abort */
#include <string.h>

static _Thread_local char le_err_buf[1024];

int le_err_setv(int code, const char *fmt, va_list ap) {
    vsnprintf(le_err_buf, sizeof le_err_buf, fmt, ap);
    return code;
}

int le_err_set(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    le_err_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int le_err_wrap(int code, const char *fmt, ...) {
    char old[sizeof le_err_buf];
    memcpy(old, le_err_buf, sizeof old);
    char pre[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    if (old[0])
        snprintf(le_err_buf, sizeof le_err_buf, "%s: %s", pre, old);
    else
        snprintf(le_err_buf, sizeof le_err_buf, "%s", pre);
    return code;
}

const char *le_err_msg(void) { return le_err_buf; }

void le_err_clear(void) { le_err_buf[0] = 0; }

const char *le_err_name(int code) {
    switch (code) {
    case LE_OK: return "ok";
    case LE_EINVAL: return "invalid argument";
    case LE_EIO: return "I/O error";
    case LE_ENOMEM: return "out of memory";
    case LE_EFORMAT: return "format error";
    case LE_EUNSUP: return "unsupported";
    case LE_ENET: return "network error";
    case LE_ECHECKSUM: return "checksum mismatch";
    case LE_EDB: return "database error";
    case LE_ENOTFOUND: return "not found";
    case LE_EINTR: return "interrupted";
    default: return "error";
    }
}

void le_assert_fail(const char *expr, const char *file, int line) {
    /* A programmer error, not bad input: the one place the library prints. */
    fprintf(stderr, "llamaeval: internal error: %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
