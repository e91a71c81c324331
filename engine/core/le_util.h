/*
 * le_util: small shared pieces: the progress callback type of long-running
 * library work, and splitmix64 (the seed expander every seeded stream
 * starts from).
 */
#ifndef LE_UTIL_H
#define LE_UTIL_H

#include <stdint.h>

/* Progress callback: library code calls it with work done so far and the
 * total (0 = unknown). Only harness/ turns it into a bar or lines. */
typedef void (*le_progress_cb)(void *ud, uint64_t done, uint64_t total);

/* splitmix64 (Steele, Lea and Flood 2014; Vigna's reference code): the next
 * 64-bit value of the stream whose state is *s. Any seed, 0 included, gives
 * a full-period stream. */
static inline uint64_t le_splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
