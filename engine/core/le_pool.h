/*
 * le_pool: a persistent pthread pool (ggml / SQLite threads.c style).
 *
 * Created once with n threads and passed explicitly. le_pool_run(p, fn, arg)
 * calls fn(arg, ith, nth) for ith = 0..nth-1 concurrently and returns when all
 * are done; the calling thread is worker 0, so a 1-thread pool runs inline.
 * Work functions split work statically by ith, or take chunks from an atomic
 * counter (le_pool_chunk). Results must not depend on nth: combine partial
 * sums in a fixed order. A pool is used by one caller thread at a time.
 */
#ifndef LE_POOL_H
#define LE_POOL_H

#include <stdint.h>

struct le_pool;

typedef void (*le_pool_fn)(void *arg, int ith, int nth);

/* n <= 0 means all online cores. Returns LE_OK or LE_ENOMEM/LE_EINVAL. */
int le_pool_new(struct le_pool **out, int n);
void le_pool_free(struct le_pool *p); /* NULL is fine */
int le_pool_nthreads(const struct le_pool *p);
/* Runs fn on every worker and waits. p == NULL runs fn(arg, 0, 1) inline. */
void le_pool_run(struct le_pool *p, le_pool_fn fn, void *arg);
/* Number of online cores. */
int le_ncpu(void);

/* Static split of [0, n) for worker ith of nth: [*lo, *hi). */
static inline void le_pool_range(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t per = (n + nth - 1) / nth;
    int64_t a = per * ith, b = a + per;
    if (a > n) a = n;
    if (b > n) b = n;
    *lo = a;
    *hi = b;
}

#endif
