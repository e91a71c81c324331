/*
 * bench_gemv_pf: the prefetch scheme of the F32 decode kernel
 * (engine/kernels/kernels_gemv.c, le_gv_f32_8) against a plain sequential
 * read, on the access pattern alone. T threads each stream their share of
 * a buffer of SIZE_MB of rows of K floats, 8 rows side by side (8 FMA
 * chains per row, 16 floats of each row per step), the way the kernel
 * does, with one of these prefetches:
 *   seq      no kernel: a plain sum of the share (bench_bw's loop), the
 *            reference every round is divided by
 *   linear   the next 8 rows as one linear stream, 4 lines per 8 floats
 *            (the kernel's first scheme)
 *   tile     the next 8 rows row by row (each row's line at the same column)
 *   ahead:D  each row slot's own stream D bytes ahead (row i, then row i
 *            of the next 8; the kernel's scheme, D = 1536)
 * Patterns are interleaved round by round (2 passes each), so a drift of
 * the machine falls on all alike; prints per pattern the median GB/s and
 * the median of its per-round ratio to seq.
 *   cc -O2 -pthread -o bench_gemv_pf scripts/bench_gemv_pf.c
 *   bench_gemv_pf K SIZE_MB THREADS ROUNDS PATTERN...
 *   e.g. bench_gemv_pf 768 200 2 60 seq linear tile ahead:1536
 * Not part of the tests: a timing tool for a quiet machine.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXP 16
#define MAXR 256

struct pat {
    int kind; /* 0 seq, 1 linear, 2 tile, 3 ahead */
    long d;
    const char *name;
};

static int K, nth, rounds, npat;
static size_t rows;
static float *W, *A, *Y;
static struct pat pats[MAXP];
static double gbs[MAXR][MAXP];
static pthread_barrier_t bar;
static volatile float sink;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((target("avx2,fma"))) static float seqsum(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    return t[0] + t[7];
}

/* Rows r..r+7 of W against A (K a multiple of 16). */
__attribute__((target("avx2,fma"))) static void rows8(const struct pat *p, size_t r) {
    const long rb = (long)K * 4;
    const char *w0 = (const char *)(W + r * (size_t)K);
    const char *next = w0 + 8 * rb;
    long c = p->d, q = 0; /* ahead: column byte c of the rows 8 q further on */
    while (c >= rb)
        c -= rb, q++;
    __m256 acc[8];
    for (int i = 0; i < 8; i++)
        acc[i] = _mm256_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        if (p->kind == 1)
            for (int l = 0; l < 8; l++)
                _mm_prefetch(next + (long)k * 32 + 64 * l, _MM_HINT_T0);
        else if (p->kind == 2)
            for (int i = 0; i < 8; i++)
                _mm_prefetch(next + i * rb + k * 4, _MM_HINT_T0);
        else if (p->kind == 3) {
            for (int i = 0; i < 8; i++)
                _mm_prefetch(w0 + (8 * q + i) * rb + c, _MM_HINT_T0);
            if ((c += 64) >= rb)
                c -= rb, q++;
        }
        const __m256 a0 = _mm256_loadu_ps(A + k), a1 = _mm256_loadu_ps(A + k + 8);
        for (int i = 0; i < 8; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps((const float *)(w0 + i * rb) + k), a0, acc[i]);
        for (int i = 0; i < 8; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps((const float *)(w0 + i * rb) + k + 8), a1, acc[i]);
    }
    for (int i = 0; i < 8; i++) {
        float t[8];
        _mm256_storeu_ps(t, acc[i]);
        Y[r + i] = t[0] + t[5];
    }
}

static void *run(void *v) {
    int th = (int)(long)v;
    size_t r0 = rows * th / nth / 8 * 8, r1 = rows * (th + 1) / nth / 8 * 8;
    for (int rd = 0; rd < rounds; rd++)
        for (int pi = 0; pi < npat; pi++) {
            pthread_barrier_wait(&bar);
            double t0 = now();
            for (int pass = 0; pass < 2; pass++) {
                if (pats[pi].kind == 0)
                    sink += seqsum(W + r0 * K, (r1 - r0) * K);
                else
                    for (size_t r = r0; r + 8 <= r1; r += 8)
                        rows8(&pats[pi], r);
            }
            pthread_barrier_wait(&bar);
            if (th == 0)
                gbs[rd][pi] = 2.0 * (double)(rows / 8 * 8) * K * 4 / (now() - t0) * 1e-9;
        }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: bench_gemv_pf K SIZE_MB THREADS ROUNDS PATTERN... (seq linear tile ahead:D)\n");
        return 2;
    }
    K = atoi(argv[1]);
    size_t mb = strtoul(argv[2], NULL, 10);
    nth = atoi(argv[3]);
    rounds = atoi(argv[4]);
    npat = argc - 5;
    if (K < 16 || K % 16 || mb < 1 || nth < 1 || nth > 64 || rounds < 2 || rounds > MAXR || npat > MAXP)
        return 2;
    for (int i = 0; i < npat; i++) {
        const char *s = argv[5 + i];
        pats[i].name = s;
        if (!strcmp(s, "seq"))
            pats[i].kind = 0;
        else if (!strcmp(s, "linear"))
            pats[i].kind = 1;
        else if (!strcmp(s, "tile"))
            pats[i].kind = 2;
        else if (!strncmp(s, "ahead:", 6) && atol(s + 6) > 0)
            pats[i].kind = 3, pats[i].d = atol(s + 6);
        else {
            fprintf(stderr, "bench_gemv_pf: unknown pattern %s\n", s);
            return 2;
        }
    }
    rows = (mb << 20) / ((size_t)K * 4) / 16 * 16;
    W = aligned_alloc(4096, (rows + 64) * (size_t)K * 4); /* + 64 rows: prefetches past the end */
    A = aligned_alloc(64, (size_t)K * 4);
    Y = aligned_alloc(64, rows * 4);
    if (!W || !A || !Y)
        return 1;
    for (size_t i = 0; i < (rows + 64) * (size_t)K; i++)
        W[i] = (float)(i % 7);
    for (int i = 0; i < K; i++)
        A[i] = 1.0f;
    pthread_barrier_init(&bar, NULL, (unsigned)nth);
    pthread_t t[64];
    for (long i = 1; i < nth; i++)
        pthread_create(&t[i], NULL, run, (void *)i);
    run((void *)0);
    for (int i = 1; i < nth; i++)
        pthread_join(t[i], NULL);
    for (int pi = 0; pi < npat; pi++) { /* round 0 is a warm-up */
        double v[MAXR], r[MAXR];
        for (int rd = 1; rd < rounds; rd++)
            v[rd - 1] = gbs[rd][pi], r[rd - 1] = gbs[rd][pi] / gbs[rd][0];
        qsort(v, (size_t)rounds - 1, sizeof *v, cmp);
        qsort(r, (size_t)rounds - 1, sizeof *r, cmp);
        printf("%s\tmedian %.1f GB/s\tof %s: %.3f\n", pats[pi].name, v[(rounds - 1) / 2], pats[0].name,
               r[(rounds - 1) / 2]);
    }
    return 0;
}
