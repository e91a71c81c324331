/*
 * le_util: small shared types for long-running library work.
 */
#ifndef LE_UTIL_H
#define LE_UTIL_H

#include <stdint.h>

/* Progress callback: library code calls it with work done so far and the
 * total (0 = unknown). Only harness/ turns it into a bar or lines. */
typedef void (*le_progress_cb)(void *ud, uint64_t done, uint64_t total);

#endif
