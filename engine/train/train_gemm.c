/*
 * train_gemm: the float32 GEMM behind training's three matmul forms
 * (Y = X.W^T, dX = dY.W, dW = dY^T.X) and attention's per-head products.
 *
 * A 6x16 register-tiled AVX2/FMA micro-kernel (12 ymm accumulators; per k,
 * 2 loads of B and 6 broadcasts of A feed 12 FMAs), with a portable scalar
 * twin (the caller's choice, `simd`; AVX2 only where le_cpu_avx2 says so)
 * and a naive reference for
 * tests. B is packed once per call, in parallel, into 16-column panels laid
 * out k-major (contiguous 16 KB per 256 k), which also zero-pads the last
 * panel and avoids the L1 set aliasing that in-place rows 512 B apart
 * caused. A is read in place through (row, column) strides when it is
 * row-major with short rows (X, dY): packing the activations cost up to a
 * quarter of the time at widths 64-128; when it is transposed (dY^T) or its
 * rows are 2 KB apart, each task packs its A panels per K block.
 *
 * Work is cut into K blocks of KC=256 and macro tiles of up to 8 row panels
 * x 16 column panels taken from an atomic counter.
 *
 * Determinism: the tile grid and the K blocking depend on (M, N, K) only; an
 * element is C + sum over K blocks in order, each block summed k = 0.. in the
 * kernel, whichever thread runs it and however tasks are sized. Edge tiles
 * run the same kernel through a 6x16 buffer.
 *
 * Measured (1 core, CPU time, 2-core AMD EPYC): 60-80 GFLOPS for the forward
 * and input-gradient forms, 45-65 for the weight-gradient form, against
 * OpenBLAS sgemm's 55-75 on the same shapes.
 */
#include "train_ops.h"

#include "le_cpu.h"  /* le_cpu_avx2 */
#include "le_pool.h" /* le_pool_run, le_pool_nthreads, le_pool_range */

#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

enum { MR = 6, NR = 16, KC = 256 };

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

size_t le_tg_gemm_scratch(int64_t M, int64_t N, int64_t K) {
    (void)M;
    return (size_t)(cdiv(N, NR) * NR * K) + 16;
}

/* Functions for the micro-kernels: c (6 x 16, row stride ldc) (+)= a . b over
 * kc, with a(r, k) = a[r * rsa + k * csa] read in place and b(k, j) =
 * b[k * ldb + j] (16 contiguous floats per k). */

typedef void (*le_tg_kern_fn)(int64_t kc, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t ldb,
                              float *c, int64_t ldc, int load);

static void kern_scalar(int64_t kc, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t ldb,
                        float *c, int64_t ldc, int load) {
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int64_t k = 0; k < kc; k++) {
        const float *bk = b + k * ldb;
        for (int r = 0; r < MR; r++) {
            float ar = a[r * rsa + k * csa];
            for (int j = 0; j < NR; j++)
                acc[r][j] += ar * bk[j];
        }
    }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            c[r * ldc + j] = acc[r][j];
}

__attribute__((target("avx2,fma")))
static void kern_avx2(int64_t kc, const float *a, int64_t rsa, int64_t csa, const float *b, int64_t ldb,
                      float *c, int64_t ldc, int load) {
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (load) {
        c00 = _mm256_loadu_ps(c + 0 * ldc), c01 = _mm256_loadu_ps(c + 0 * ldc + 8);
        c10 = _mm256_loadu_ps(c + 1 * ldc), c11 = _mm256_loadu_ps(c + 1 * ldc + 8);
        c20 = _mm256_loadu_ps(c + 2 * ldc), c21 = _mm256_loadu_ps(c + 2 * ldc + 8);
        c30 = _mm256_loadu_ps(c + 3 * ldc), c31 = _mm256_loadu_ps(c + 3 * ldc + 8);
        c40 = _mm256_loadu_ps(c + 4 * ldc), c41 = _mm256_loadu_ps(c + 4 * ldc + 8);
        c50 = _mm256_loadu_ps(c + 5 * ldc), c51 = _mm256_loadu_ps(c + 5 * ldc + 8);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = _mm256_setzero_ps();
        c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    }
    const float *a0 = a, *a1 = a + rsa, *a2 = a + 2 * rsa, *a3 = a + 3 * rsa, *a4 = a + 4 * rsa, *a5 = a + 5 * rsa;
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 x = _mm256_broadcast_ss(a0), y = _mm256_broadcast_ss(a1);
        c00 = _mm256_fmadd_ps(x, b0, c00), c01 = _mm256_fmadd_ps(x, b1, c01);
        c10 = _mm256_fmadd_ps(y, b0, c10), c11 = _mm256_fmadd_ps(y, b1, c11);
        x = _mm256_broadcast_ss(a2), y = _mm256_broadcast_ss(a3);
        c20 = _mm256_fmadd_ps(x, b0, c20), c21 = _mm256_fmadd_ps(x, b1, c21);
        c30 = _mm256_fmadd_ps(y, b0, c30), c31 = _mm256_fmadd_ps(y, b1, c31);
        x = _mm256_broadcast_ss(a4), y = _mm256_broadcast_ss(a5);
        c40 = _mm256_fmadd_ps(x, b0, c40), c41 = _mm256_fmadd_ps(x, b1, c41);
        c50 = _mm256_fmadd_ps(y, b0, c50), c51 = _mm256_fmadd_ps(y, b1, c51);
        a0 += csa, a1 += csa, a2 += csa, a3 += csa, a4 += csa, a5 += csa;
        b += ldb;
    }
    _mm256_storeu_ps(c + 0 * ldc, c00), _mm256_storeu_ps(c + 0 * ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * ldc, c10), _mm256_storeu_ps(c + 1 * ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20), _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30), _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40), _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50), _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/* Functions for the driver. B is used in place when its rows are contiguous
 * (csb == 1), else transposed once into scratch; the last, partial column
 * panel is copied into a zero-padded K x 16 buffer so no read passes the end
 * of B. A is always read in place; a partial row panel repeats its last row
 * and its extra results are dropped. */

struct le_tg_job {
    int64_t M, N, K, Mp, Np;
    const float *A, *B;
    int64_t rsa, csa, rsb, csb;
    float *C;
    int64_t ldc;
    int acc;
    float *Bp;              /* packed B: panel jp at Bp + jp*K*16, row k at + k*16 */
    int64_t mb, nb, ntm, ntn; /* task = mb row panels x nb column panels; task grid */
    le_tg_kern_fn kern;
    atomic_int_fast64_t next;
};

static void le_tg_prep_worker(void *arg, int ith, int nth) {
    struct le_tg_job *j = arg;
    int64_t lo, hi;
    le_pool_range(j->Np, ith, nth, &lo, &hi);
    for (int64_t jp = lo; jp < hi; jp++) {
        int64_t n0 = jp * NR, cols = j->N - n0 < NR ? j->N - n0 : NR;
        float *dst = j->Bp + jp * j->K * NR;
        if (j->csb == 1 && cols == NR) {
            for (int64_t k = 0; k < j->K; k++)
                memcpy(dst + k * NR, j->B + k * j->rsb + n0, NR * sizeof(float));
            continue;
        }
        for (int64_t c = 0; c < NR; c++)
            for (int64_t k = 0; k < j->K; k++)
                dst[k * NR + c] = c < cols ? j->B[k * j->rsb + (n0 + c) * j->csb] : 0.0f;
    }
}

/* Row panel i against column panel jp over K block [k0, k0+kc); a points at
 * the panel's A (rsa, csa). */
static void le_tg_tile(const struct le_tg_job *j, int64_t i, int64_t jp, const float *a, int64_t rsa,
                       int64_t csa, int64_t k0, int64_t kc, int load) {
    int64_t m0 = i * MR, rows = j->M - m0 < MR ? j->M - m0 : MR;
    int64_t n0 = jp * NR, cols = j->N - n0 < NR ? j->N - n0 : NR;
    const float *b = j->Bp + jp * j->K * NR + k0 * NR;
    int64_t ldb = NR;
    float *c = j->C + m0 * j->ldc + n0;
    if (rows == MR && cols == NR) {
        j->kern(kc, a, rsa, csa, b, ldb, c, j->ldc, load);
        return;
    }
    float tmp[MR * NR];
    memset(tmp, 0, sizeof tmp);
    if (load)
        for (int64_t r = 0; r < rows; r++)
            memcpy(tmp + r * NR, c + r * j->ldc, (size_t)cols * sizeof(float));
    j->kern(kc, a, rsa, csa, b, ldb, tmp, NR, load);
    for (int64_t r = 0; r < rows; r++)
        memcpy(c + r * j->ldc, tmp + r * NR, (size_t)cols * sizeof(float));
}

/* Copies A's row panel i (k-major, 6 per k) for K block k0; a partial panel
 * repeats its last row (those results are dropped). */
static void le_tg_pack_a(const struct le_tg_job *j, int64_t i, int64_t k0, int64_t kc, float *dst) {
    int64_t m0 = i * MR, rows = j->M - m0 < MR ? j->M - m0 : MR;
    const float *a = j->A + m0 * j->rsa + k0 * j->csa;
    if (j->rsa == 1 && rows == MR) {
        for (int64_t k = 0; k < kc; k++)
            memcpy(dst + k * MR, a + k * j->csa, MR * sizeof(float));
        return;
    }
    for (int64_t r = 0; r < MR; r++) {
        const float *src = a + (r < rows ? r : rows - 1) * j->rsa;
        for (int64_t k = 0; k < kc; k++)
            dst[k * MR + r] = src[k * j->csa];
    }
}

enum { MB_MAX = 8 };

static void le_tg_compute_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    struct le_tg_job *j = arg;
    float ab[MB_MAX * MR * KC]; /* packed A panels of one task and K block */
    for (;;) {
        int64_t t = atomic_fetch_add(&j->next, 1);
        if (t >= j->ntm * j->ntn)
            return;
        int64_t ti = t / j->ntn, tj = t % j->ntn;
        int64_t i0 = ti * j->mb, i1 = i0 + j->mb < j->Mp ? i0 + j->mb : j->Mp;
        int64_t j0 = tj * j->nb, j1 = j0 + j->nb < j->Np ? j0 + j->nb : j->Np;
        for (int64_t k0 = 0; k0 < j->K; k0 += KC) {
            int64_t kc = j->K - k0 < KC ? j->K - k0 : KC;
            int load = j->acc || k0 > 0;
            if (j->rsa == 1 || j->rsa % 512 == 0) { /* wide rows alias in L1: pack too */
                /* A = dY^T (or rows 2 KB apart): pack the task's panels once; B panels then stay in
                 * L1 across them. */
                for (int64_t i = i0; i < i1; i++)
                    le_tg_pack_a(j, i, k0, kc, ab + (i - i0) * MR * KC);
                for (int64_t jp = j0; jp < j1; jp++)
                    for (int64_t i = i0; i < i1; i++)
                        le_tg_tile(j, i, jp, ab + (i - i0) * MR * KC, 1, MR, k0, kc, load);
                continue;
            }
            /* A row-major, read in place: its panel stays in L1 across the B panels. */
            for (int64_t i = i0; i < i1; i++) {
                const float *a = j->A + i * MR * j->rsa + k0 * j->csa;
                int64_t rsa = j->rsa, csa = j->csa;
                if ((i + 1) * MR > j->M) {
                    le_tg_pack_a(j, i, k0, kc, ab);
                    a = ab, rsa = 1, csa = MR;
                }
                for (int64_t jp = j0; jp < j1; jp++)
                    le_tg_tile(j, i, jp, a, rsa, csa, k0, kc, load);
            }
        }
    }
}

void le_tg_gemm(struct le_pool *pool, int simd, int64_t M, int64_t N, int64_t K,
                const float *A, int64_t rsa, int64_t csa,
                const float *B, int64_t rsb, int64_t csb,
                float *C, int64_t ldc, int acc, float *scratch) {
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        if (!acc)
            for (int64_t m = 0; m < M; m++)
                memset(C + m * ldc, 0, (size_t)N * sizeof(float));
        return;
    }
    struct le_tg_job j = {
        .M = M, .N = N, .K = K, .Mp = cdiv(M, MR), .Np = cdiv(N, NR),
        .A = A, .rsa = rsa, .csa = csa, .B = B, .rsb = rsb, .csb = csb,
        .C = C, .ldc = ldc, .acc = acc,
        .kern = simd && le_cpu_avx2() ? kern_avx2 : kern_scalar,
    };
    j.Bp = (float *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    int nth = pool ? le_pool_nthreads(pool) : 1;
    /* Task size only balances load; it never changes any result. */
    j.mb = MB_MAX;
    j.nb = j.Np < 16 ? j.Np : 16;
    while (cdiv(j.Mp, j.mb) * cdiv(j.Np, j.nb) < 4 * nth && (j.mb > 1 || j.nb > 1)) {
        if (j.mb > 1) /* splitting rows duplicates no packing */
            j.mb = (j.mb + 1) / 2;
        else
            j.nb = (j.nb + 1) / 2;
    }
    j.ntm = cdiv(j.Mp, j.mb);
    j.ntn = cdiv(j.Np, j.nb);
    atomic_init(&j.next, 0);
    le_pool_run(pool, le_tg_prep_worker, &j);
    le_pool_run(pool, le_tg_compute_worker, &j);
}

void le_tg_gemm_ref(int64_t M, int64_t N, int64_t K,
                    const float *A, int64_t rsa, int64_t csa,
                    const float *B, int64_t rsb, int64_t csb,
                    float *C, int64_t ldc, int acc) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = acc ? C[m * ldc + n] : 0.0;
            for (int64_t k = 0; k < K; k++)
                s += (double)A[m * rsa + k * csa] * B[k * rsb + n * csb];
            C[m * ldc + n] = (float)s;
        }
}

void le_tg_xwt(struct le_pool *pool, int simd, float *Y, const float *X, const float *W,
               int64_t N, int64_t K, int64_t M, float *scratch) {
    le_tg_gemm(pool, simd, N, M, K, X, K, 1, W, 1, K, Y, M, 0, scratch);
}

void le_tg_dyw(struct le_pool *pool, int simd, float *dX, const float *dY, const float *W,
               int64_t N, int64_t M, int64_t K, int acc, float *scratch) {
    le_tg_gemm(pool, simd, N, K, M, dY, M, 1, W, K, 1, dX, K, acc, scratch);
}

void le_tg_dytx(struct le_pool *pool, int simd, float *dW, const float *dY, const float *X,
                int64_t N, int64_t M, int64_t K, int acc, float *scratch) {
    le_tg_gemm(pool, simd, M, K, N, dY, 1, M, X, K, 1, dW, K, acc, scratch);
}
