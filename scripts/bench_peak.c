/*
 * bench_peak: what the cores deliver right now, to say whether a benchmark
 * row was taken in a quiet window. T threads, thread i pinned to the i-th
 * CPU this process may run on, all running at once (the state a T-thread
 * benchmark meets), run two probes of SECONDS each (AVX-512, else AVX2+FMA):
 *   fma   12 independent chains of vfmadd231ps on registers: the FMA units
 *         and the clock;
 *   tile  a gemm tile fed from the caches, the shape of sgemm.c's inference
 *         micro-kernel: 6 x 4 accumulators, per step 4 weight vectors loaded
 *         from a 128 KiB panel (L2) and 6 broadcasts from a 12 KiB X (L1).
 * Prints GFLOPS, the threads' sums then each thread's:
 *   cc -O2 -pthread -o bench_peak scripts/bench_peak.c
 *   bench_peak THREADS [SECONDS] -> "THREADS fma_sum tile_sum fma_0 tile_0 fma_1 tile_1 ..."
 * Why both: on a shared virtual machine the host core's other hyperthread
 * may belong to another guest. Busy with loads and stores, it takes L1/L2
 * bandwidth and capacity from ours but hardly any FMA throughput, so the
 * FMA probe stays at its top while the gemm slows: on the 2-core Zen 5 VM of
 * the README, one evening, fma 220 GFLOPS on both vCPUs while the in-cache
 * tile ran 193 on CPU 0 against 212 on CPU 1 (and tool_mmbench's 7B-shaped
 * F16 matmul 141 against 184). One number per probe, no statistics: run it
 * beside each pair.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct arg {
    int cpu;        /* -1: not pinned */
    double seconds; /* how long to run */
    double gflops;  /* out: the FMA probe */
    double tile;    /* out: the tile probe */
    float sink;     /* out: keeps the chains alive */
    pthread_barrier_t *bar;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One slice of a probe: a fixed amount of work from fresh accumulators,
 * their sum returned (so the work is kept). Each slice starts with
 * PROBE_OPAQUE, an empty volatile asm, so the compiler cannot take it for a
 * pure function and call it once for the whole loop of timed(). */
#define PROBE_OPAQUE() __asm__ volatile("" ::: "memory")
typedef float (*probe_slice)(const float *b, const float *x);

/* Slices of f until SECONDS have passed: GFLOPS at flops per slice. */
static double timed(probe_slice f, double flops, const float *b, const float *x, double seconds, float *sink) {
    long n = 0;
    const double t0 = now();
    double t;
    do {
        *sink += f(b, x);
        n++;
    } while ((t = now() - t0) < seconds);
    return (double)n * flops / t * 1e-9;
}

__attribute__((target("avx2"))) static float hsum256(__m256 v) {
    float l[8], s = 0;
    _mm256_storeu_ps(l, v);
    for (int i = 0; i < 8; i++)
        s += l[i];
    return s;
}

#define ITERS 100000L /* FMA probe: one slice is 1.2M FMAs per chain set */

/* The FMA probe's slice for one ISA: 12 chains of ITERS fused multiply-adds. */
#define FMA_SLICE(NAME, TARGET, V, SET1, FMADD, HSUM)                                                                  \
    __attribute__((target(TARGET))) static float NAME(const float *b, const float *x) {                               \
        (void)b, (void)x;                                                                                              \
        PROBE_OPAQUE();                                                                                                \
        V a[12];                                                                                                       \
        for (int j = 0; j < 12; j++)                                                                                   \
            a[j] = SET1(1.0f + 1e-7f * (float)j);                                                                      \
        const V m = SET1(0.9999999f), c = SET1(1e-8f);                                                                 \
        for (long i = 0; i < ITERS; i++)                                                                               \
            _Pragma("GCC unroll 12") for (int j = 0; j < 12; j++) a[j] = FMADD(a[j], m, c);                            \
        float s = 0;                                                                                                   \
        for (int j = 0; j < 12; j++)                                                                                   \
            s += HSUM(a[j]);                                                                                           \
        return s;                                                                                                      \
    }
FMA_SLICE(fma512, "avx512f,avx512dq", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_reduce_add_ps)
FMA_SLICE(fma256, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, hsum256)

#define TP_G 512 /* k steps of 8 per tile pass: the panel is 4 x 16 floats x TP_G = 128 KiB */
#define TP_PASSES 16 /* tile probe: passes over the panel per slice */

/* The tile probe's panel b (TP_G x 64 floats) and X (6 rows of TP_G floats); 0 when out of memory. */
static int tile_data(float **b, float **x) {
    *b = aligned_alloc(64, (size_t)TP_G * 64 * sizeof(float));
    *x = aligned_alloc(64, (size_t)6 * TP_G * sizeof(float));
    if (!*b || !*x) {
        free(*b), free(*x);
        return 0;
    }
    for (long i = 0; i < (long)TP_G * 64; i++)
        (*b)[i] = 1e-3f * (float)(i % 7);
    for (long i = 0; i < 6L * TP_G; i++)
        (*x)[i] = 1e-3f * (float)(i % 5);
    return 1;
}

__attribute__((target("avx512f,avx512dq"))) static float tile512(const float *b, const float *x) {
    PROBE_OPAQUE();
    __m512 acc[6][4];
    for (int r = 0; r < 6; r++)
        for (int q = 0; q < 4; q++)
            acc[r][q] = _mm512_setzero_ps();
    for (int pass = 0; pass < TP_PASSES; pass++) {
        _Pragma("GCC unroll 2") for (long g = 0; g < TP_G; g++) {
            __m512 w[4];
            _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) w[q] = _mm512_load_ps(b + g * 64 + 16 * q);
            _Pragma("GCC unroll 6") for (int r = 0; r < 6; r++) {
                /* X rows of the tile: 8 floats each per step, rows TP_G floats apart */
                const __m512 v = _mm512_broadcast_f32x8(_mm256_loadu_ps(x + (long)r * TP_G + (g % (TP_G / 8)) * 8));
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) acc[r][q] = _mm512_fmadd_ps(w[q], v, acc[r][q]);
            }
        }
    }
    float s = 0;
    for (int r = 0; r < 6; r++)
        for (int q = 0; q < 4; q++)
            s += _mm512_reduce_add_ps(acc[r][q]);
    return s;
}

/* AVX2: 3 x 4 accumulators (16 registers), the same panel and X. */
__attribute__((target("avx2,fma"))) static float tile256(const float *b, const float *x) {
    PROBE_OPAQUE();
    __m256 acc[3][4];
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 4; q++)
            acc[r][q] = _mm256_setzero_ps();
    for (int pass = 0; pass < TP_PASSES; pass++)
        _Pragma("GCC unroll 2") for (long g = 0; g < TP_G; g++) {
            __m256 w[4];
            _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) w[q] = _mm256_load_ps(b + g * 64 + 16 * q);
            _Pragma("GCC unroll 3") for (int r = 0; r < 3; r++) {
                const __m256 v = _mm256_broadcast_ss(x + (long)r * TP_G + (g % (TP_G / 8)) * 8);
                _Pragma("GCC unroll 4") for (int q = 0; q < 4; q++) acc[r][q] = _mm256_fmadd_ps(w[q], v, acc[r][q]);
            }
        }
    float s = 0;
    for (int r = 0; r < 3; r++)
        for (int q = 0; q < 4; q++)
            s += hsum256(acc[r][q]);
    return s;
}

static void *worker(void *p) {
    struct arg *a = p;
    if (a->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(a->cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set); /* best effort */
    }
    const int x512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    const int lanes = x512 ? 16 : 8; /* floats per vector */
    pthread_barrier_wait(a->bar);
    a->gflops = timed(x512 ? fma512 : fma256, 2.0 * lanes * 12 * ITERS, NULL, NULL, a->seconds, &a->sink);
    float *b, *x;
    const int ok = tile_data(&b, &x);
    pthread_barrier_wait(a->bar);
    if (ok) { /* 6 x 4 (AVX-512) or 3 x 4 (AVX2) FMAs per k step */
        a->tile = timed(x512 ? tile512 : tile256, 2.0 * lanes * (x512 ? 24 : 12) * TP_G * TP_PASSES, b, x,
                        a->seconds, &a->sink);
        free(b), free(x);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_peak THREADS [SECONDS]\n");
        return 2;
    }
    const int nt = atoi(argv[1]);
    const double seconds = argc > 2 ? atof(argv[2]) : 0.25;
    if (nt < 1 || nt > 256 || !(seconds > 0 && seconds < 60)) {
        fprintf(stderr, "bench_peak: THREADS is 1..256 and SECONDS 0..60\n");
        return 2;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "bench_peak: this CPU has no AVX2+FMA\n");
        return 1;
    }
    cpu_set_t allowed;
    int cpus[256], nc = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE && nc < 256; c++)
            if (CPU_ISSET(c, &allowed))
                cpus[nc++] = c;
    struct arg *a = calloc((size_t)nt, sizeof *a);
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    pthread_barrier_t bar;
    if (!a || !th || pthread_barrier_init(&bar, NULL, (unsigned)nt) != 0) {
        fprintf(stderr, "bench_peak: out of memory\n");
        return 1;
    }
    for (int i = 0; i < nt; i++) {
        a[i] = (struct arg){.cpu = i < nc ? cpus[i] : -1, .seconds = seconds, .bar = &bar};
        if (pthread_create(&th[i], NULL, worker, &a[i]) != 0) {
            fprintf(stderr, "bench_peak: cannot start thread %d\n", i);
            return 1;
        }
    }
    double fma = 0, tile = 0;
    float sink = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        fma += a[i].gflops;
        tile += a[i].tile;
        sink += a[i].sink;
    }
    printf("%d\t%.1f\t%.1f", nt, fma, tile);
    for (int i = 0; i < nt; i++)
        printf("\t%.1f\t%.1f", a[i].gflops, a[i].tile);
    printf("\n");
    free(a);
    free(th);
    return sink == 12345.0f; /* never: keeps the sums */
}
