/*
 * bench_sgemm: the machine's fp32 matmul ceiling, OpenBLAS sgemm on given
 * shapes, for scripts/bench (compiled there against -lopenblas; not part of
 * the build). Prints "M N K threads median_gflops".
 *   bench_sgemm M N K reps
 * Thread count: OPENBLAS_NUM_THREADS.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_sgemm M N K reps\n");
        return 2;
    }
    int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), reps = atoi(argv[4]);
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
    double *g = malloc(sizeof(double) * reps);
    for (long i = 0; i < (long)M * K; i++) a[i] = (float)((i * 37 % 101) - 50) / 50.0f;
    for (long i = 0; i < (long)K * N; i++) b[i] = (float)((i * 53 % 97) - 48) / 48.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        int inner = 0;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
            inner++;
        } while (now() - t0 < 0.2);
        g[r] = 2.0 * M * N * K * inner / (now() - t0) * 1e-9;
    }
    qsort(g, reps, sizeof *g, cmp);
    const char *nt = getenv("OPENBLAS_NUM_THREADS");
    printf("%d %d %d %s %.1f\n", M, N, K, nt ? nt : "all", g[reps / 2]);
    return 0;
}
