/*
 * le_sha256: SHA-256 (FIPS 180-4), one-shot and incremental, plus a
 * streaming file hash. Used for model identity (the store keys models and
 * cells by the file's sha256) and dataset checksums.
 *
 * Workload: hashing multi-gigabyte model files once per model, so the file
 * variant streams through a fixed buffer and can report progress. Nothing
 * here allocates except le_sha256_file's read buffer (freed before return).
 *
 * The project's one SHA-256 (datasets, the store and the model loader all use
 * it). The compression runs on the x86 SHA extensions when the CPU has them
 * (several times faster), else on the portable _ref code; both give the same
 * digest, checked by tests/test_sha256.c.
 */
#ifndef LE_SHA256_H
#define LE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "le_util.h" /* le_progress_cb */

/* Incremental state; plain data, may live on the stack. */
struct le_sha256_ctx {
    uint32_t h[8];
    uint64_t nbytes;   /* total bytes fed so far */
    uint8_t buf[64];   /* pending partial block */
    size_t nbuf;
};

/* Functions for incremental hashing: init, update any number of times, final. */
void le_sha256_init(struct le_sha256_ctx *c);
void le_sha256_update(struct le_sha256_ctx *c, const void *data, size_t n);
void le_sha256_final(struct le_sha256_ctx *c, uint8_t out[32]); /* c is spent afterwards */

/* One-shot digest of n bytes. */
void le_sha256(const void *data, size_t n, uint8_t out[32]);
/* Lower-case hex of a digest: 64 characters plus NUL. */
void le_sha256_hex(const uint8_t digest[32], char hex[65]);

/* Compresses nblocks 64-byte blocks into h: the _ref C version and the
 * dispatching one (SHA extensions when present). Exposed for the tests. */
void le_sha256_compress_ref(uint32_t h[8], const uint8_t *p, size_t nblocks);
void le_sha256_compress(uint32_t h[8], const uint8_t *p, size_t nblocks);
/* 1 when le_sha256_compress uses the CPU's SHA extensions. */
int le_sha256_accelerated(void);

/* Streams the file at path; hex gets the lower-case digest. Returns 0 or
 * LE_EIO (message names the path). */
int le_sha256_file(const char *path, char hex[65]);
/* Same, calling cb(ud, bytes_done, file_size) as it goes (cb may be NULL). */
int le_sha256_file_progress(const char *path, char hex[65], le_progress_cb cb, void *ud);

#endif
