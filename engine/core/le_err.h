/*
 * le_err: error codes and the per-thread "last error" message (libgit2 style).
 *
 * Library functions return 0 (LE_OK) or a negative LE_E* code and, on error,
 * leave a one-line, human-readable message retrievable with le_err_msg() on
 * the same thread. Only harness/ prints it. Programmer errors (broken
 * invariants, not bad input) abort through LE_ASSERT with file and line.
 */
#ifndef LE_ERR_H
#define LE_ERR_H

#include <stdarg.h>

enum {
    LE_OK = 0,
    LE_EINVAL = -1,    /* bad argument or configuration */
    LE_EIO = -2,       /* read/write/open failed (errno-style cause in msg) */
    LE_ENOMEM = -3,    /* allocation failed */
    LE_EFORMAT = -4,   /* corrupt or malformed input file/data */
    LE_EUNSUP = -5,    /* valid but unsupported (type, architecture, ...) */
    LE_ENET = -6,      /* network failure */
    LE_ECHECKSUM = -7, /* sha256 mismatch */
    LE_EDB = -8,       /* results store failure */
    LE_ENOTFOUND = -9, /* key, tensor, dataset, file not found */
    LE_EINTR = -10,    /* interrupted / cancelled */
};

/* Sets the calling thread's message (printf format) and returns code, so
 * callers can write: return le_err_set(LE_EFORMAT, "bad magic in %s", path); */
int le_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int le_err_setv(int code, const char *fmt, va_list ap);
/* Prefixes the current message with "<prefix>: " and returns code. */
int le_err_wrap(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling thread's last message ("" when none). Valid until the next set. */
const char *le_err_msg(void);
void le_err_clear(void);
/* Short name of a code ("format error", ...). */
const char *le_err_name(int code);

void le_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define LE_ASSERT(x) ((x) ? (void)0 : le_assert_fail(#x, __FILE__, __LINE__))

#endif
