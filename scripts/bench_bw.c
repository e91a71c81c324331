/*
 * bench_bw: streaming-read bandwidth of this machine, the ceiling for token
 * generation (every weight byte is read once per token). Each of T threads
 * sums its own contiguous share of a buffer of S bytes with 256-bit loads
 * (4 independent accumulators, so the loop is bound by the loads, not the
 * adds); a rep is PASSES passes of all threads between two barriers, timed
 * by the wall clock; prints the best and median GB/s of the reps.
 *   cc -O2 -pthread -o bench_bw scripts/bench_bw.c
 *   bench_bw SIZE_MB THREADS [REPS [PASSES]] -> "SIZE_MB THREADS best_GB/s median_GB/s"
 * On a shared virtual machine the vCPUs lose time to other guests (steal
 * that /proc/stat does not show here): a rep of one pass (milliseconds)
 * may fall in a lucky window, so a rep that lasts as long as a tg128 run
 * (PASSES ~ 128) gives the ceiling under the same conditions.
 * Sizes well above the last-level cache measure memory; the model files of
 * scripts/bench tg span both sides of it, so scripts/bench prints both.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct arg {
    const char *p;
    size_t n;
    pthread_barrier_t *bar;
    int reps, passes;
    double *t; /* per rep, thread 0 only */
    volatile double sink;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

__attribute__((target("avx2"))) static double sum(const char *p, size_t n) {
    __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a0 = _mm256_add_pd(a0, _mm256_load_pd((const double *)(p + i)));
        a1 = _mm256_add_pd(a1, _mm256_load_pd((const double *)(p + i + 32)));
        a2 = _mm256_add_pd(a2, _mm256_load_pd((const double *)(p + i + 64)));
        a3 = _mm256_add_pd(a3, _mm256_load_pd((const double *)(p + i + 96)));
    }
    __m256d s = _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3));
    double t[4];
    _mm256_storeu_pd(t, s);
    return t[0] + t[1] + t[2] + t[3];
}

static void *run(void *v) {
    struct arg *a = v;
    for (int r = -1; r < a->reps; r++) {
        pthread_barrier_wait(a->bar);
        double t0 = now();
        for (int k = 0; k < a->passes; k++)
            a->sink += sum(a->p, a->n);
        pthread_barrier_wait(a->bar);
        if (a->t && r >= 0)
            a->t[r] = now() - t0;
    }
    return NULL;
}

static int cmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_bw SIZE_MB THREADS [REPS]\n");
        return 2;
    }
    size_t mb = strtoul(argv[1], NULL, 10);
    int nt = atoi(argv[2]), reps = argc > 3 ? atoi(argv[3]) : 20, passes = argc > 4 ? atoi(argv[4]) : 1;
    if (mb < 1 || nt < 1 || nt > 64 || reps < 1 || passes < 1)
        return 2;
    size_t bytes = mb << 20, share = bytes / (size_t)nt / 128 * 128;
    char *buf = aligned_alloc(64, bytes);
    if (!buf)
        return 1;
    memset(buf, 1, bytes); /* touch every page */
    double *t = calloc((size_t)reps, sizeof *t);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nt);
    struct arg a[64];
    pthread_t th[64];
    for (int i = 0; i < nt; i++) {
        a[i] = (struct arg){.p = buf + (size_t)i * share, .n = share, .bar = &bar, .reps = reps,
                            .passes = passes, .t = i == 0 ? t : NULL};
        if (i > 0)
            pthread_create(&th[i], NULL, run, &a[i]);
    }
    run(&a[0]);
    for (int i = 1; i < nt; i++)
        pthread_join(th[i], NULL);
    qsort(t, (size_t)reps, sizeof *t, cmp);
    double gb = (double)share * nt * passes * 1e-9;
    printf("%zu\t%d\t%.1f\t%.1f\n", mb, nt, gb / t[0], gb / t[reps / 2]);
    free(t);
    free(buf);
    return 0;
}
