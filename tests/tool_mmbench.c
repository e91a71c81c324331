/*
 * tool_mmbench: speed of the one matmul driver (le_matmul) alone, for
 * scripts/bench mm: Y[N][rows] = X[N][K] . W^T with W random, quantized
 * with the type's reference quantizer. Per (type, threads): the median of
 * --reps timed runs (each repeated until 0.2 s) as GFLOPS (2*rows*K*N per
 * product) by the wall clock and by CPU time (process CPU seconds / threads:
 * what a quiet machine would give, nearly, on a loaded one), and the weight
 * bytes streamed per second by the wall clock.
 *   tool_mmbench --types q4_K,q8_0,f16 --rows 2048 --K 768 --N 512
 *                [--threads 1,2] [--reps 5]
 * With --weights-file F (f16, f32, bf16 only), W is the last rows x K
 * elements of F, page-aligned, mapped read-only as a model's weights are
 * (F's bytes taken as they are: give a file of sane values, such as a
 * model of that type); the file should be in the page cache.
 * Prints: type rows K N threads gflops_wall gflops_cpu weight_GB_s
 */
#include "le_err.h"
#include "le_pool.h"
#include "le_types.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static double le_now(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int le_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int le_bench_one(int type, int64_t rows, int64_t K, int64_t N, int nth, int reps, const char *wfile) {
    const struct le_type_traits *t = le_type_get(type);
    if (!t || !t->from_float || K % t->blck_size) {
        fprintf(stderr, "tool_mmbench: type %s cannot be used with K = %lld\n", le_type_name(type), (long long)K);
        return 1;
    }
    size_t rb = le_type_row_size(type, K), ss = le_matmul_scratch_size(type, K, N);
    float *row = malloc((size_t)K * sizeof *row), *X = malloc((size_t)(N * K) * sizeof *X);
    float *Y = aligned_alloc(64, ((size_t)(N * rows) * sizeof(float) + 63) & ~(size_t)63); /* as the model's */
    char *W = wfile ? NULL : malloc(rb * (size_t)rows), *map = NULL;
    size_t map_len = 0;
    if (wfile) {
        struct stat st;
        int fd = open(wfile, O_RDONLY);
        const int floaty = type == LE_TYPE_F32 || type == LE_TYPE_F16 || type == LE_TYPE_BF16;
        if (fd < 0 || fstat(fd, &st) || (size_t)st.st_size < rb * (size_t)rows + 4096 || !floaty) {
            fprintf(stderr, "tool_mmbench: %s: cannot map %lld rows of %s from it\n", wfile, (long long)rows,
                    le_type_name(type));
            if (fd >= 0)
                close(fd);
            return 1;
        }
        map_len = (size_t)st.st_size;
        map = mmap(NULL, map_len, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        if (map == MAP_FAILED) {
            fprintf(stderr, "tool_mmbench: %s: mmap failed\n", wfile);
            return 1;
        }
        W = map + ((map_len - rb * (size_t)rows) & ~(size_t)4095);
    }
    void *scratch = malloc(ss ? ss : 1);
    double *gw = malloc((size_t)reps * sizeof *gw), *gc = malloc((size_t)reps * sizeof *gc);
    struct le_pool *pool = NULL;
    if (!row || !X || !Y || !W || !scratch || !gw || !gc || le_pool_new(&pool, nth) != LE_OK) {
        fprintf(stderr, "tool_mmbench: out of memory\n");
        return 1;
    }
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int64_t r = 0; r < (map ? 0 : rows); r++) { /* a mapped W is the file's */
        for (int64_t k = 0; k < K; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            row[k] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
        }
        t->from_float(row, W + (size_t)r * rb, K);
    }
    for (int64_t i = 0; i < N * K; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        X[i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
    }
    const double flop = 2.0 * (double)rows * (double)K * (double)N;
    int rc = le_matmul(pool, W, type, rows, K, X, N, Y, scratch); /* warm-up */
    for (int r = 0; r < reps && rc == LE_OK; r++) {
        double w0 = le_now(CLOCK_MONOTONIC), c0 = le_now(CLOCK_PROCESS_CPUTIME_ID);
        int inner = 0;
        do {
            rc = le_matmul(pool, W, type, rows, K, X, N, Y, scratch);
            inner++;
        } while (rc == LE_OK && le_now(CLOCK_MONOTONIC) - w0 < 0.2);
        double w = le_now(CLOCK_MONOTONIC) - w0, c = le_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        gw[r] = flop * inner / w * 1e-9;
        gc[r] = flop * inner / (c / nth) * 1e-9;
    }
    if (rc != LE_OK) {
        fprintf(stderr, "tool_mmbench: %s\n", le_err_msg());
        return 1;
    }
    qsort(gw, (size_t)reps, sizeof *gw, le_cmp);
    qsort(gc, (size_t)reps, sizeof *gc, le_cmp);
    double gbs = gw[reps / 2] / flop * 1e9 * (double)rb * (double)rows * 1e-9;
    printf("%s\t%lld\t%lld\t%lld\t%d\t%.1f\t%.1f\t%.2f\n", t->name, (long long)rows, (long long)K, (long long)N, nth,
           gw[reps / 2], gc[reps / 2], gbs);
    le_pool_free(pool);
    if (map)
        munmap(map, map_len);
    else
        free(W);
    free(row), free(X), free(Y), free(scratch), free(gw), free(gc);
    return 0;
}

int main(int argc, char **argv) {
    const char *types = "f32,f16,q8_0,q4_0,q4_K", *threads = "1", *wfile = NULL;
    int64_t rows = 2048, K = 768, N = 512;
    int reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--types")) types = v;
        else if (!strcmp(a, "--threads")) threads = v;
        else if (!strcmp(a, "--rows")) rows = atoll(v);
        else if (!strcmp(a, "--K")) K = atoll(v);
        else if (!strcmp(a, "--N")) N = atoll(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--weights-file")) wfile = v;
        else { fprintf(stderr, "tool_mmbench: unknown option %s\n", a); return 2; }
    }
    if (argc % 2 == 0 || rows < 1 || K < 1 || N < 1 || reps < 1) {
        fprintf(stderr, "usage: tool_mmbench [--types LIST] [--rows R] [--K K] [--N N] [--threads LIST] [--reps N]\n"
                        "                    [--weights-file F]\n");
        return 2;
    }
    char tl[256];
    snprintf(tl, sizeof tl, "%s", types);
    for (char *save = NULL, *ty = strtok_r(tl, ",", &save); ty; ty = strtok_r(NULL, ",", &save)) {
        int type = le_type_from_name(ty);
        if (type < 0) { fprintf(stderr, "tool_mmbench: unknown type %s\n", ty); return 2; }
        for (const char *p = threads; *p;) {
            int nth = atoi(p);
            if (nth < 1) { fprintf(stderr, "tool_mmbench: bad thread list %s\n", threads); return 2; }
            if (le_bench_one(type, rows, K, N, nth, reps, wfile))
                return 1;
            p = strchr(p, ',');
            p = p ? p + 1 : "";
        }
    }
    return 0;
}
