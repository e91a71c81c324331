/*
 * train_gemm: the float32 GEMM behind training's three matmul forms
 * (Y = X.W^T, dX = dY.W, dW = dY^T.X), BLIS style.
 *
 * Both operands are packed once per call (in parallel) into panels: A into
 * MR=6-row panels, B into NR=16-column panels, each cut into K blocks of
 * KC=256, so one strided packer serves all three forms (the transposes are
 * just strides). A 6x16 register-tiled AVX2/FMA micro-kernel (12 ymm
 * accumulators, 2 loads + 6 broadcasts per 12 FMAs) then sweeps macro tiles
 * taken from an atomic counter. Per K block, a B panel (16 KB) stays in L1
 * while the task's A panels (<= 48 KB) stream from L2.
 *
 * Determinism: the tile grid and the K blocking depend on (M, N, K) only; an
 * element is C + sum over K blocks in order, each block summed k = 0.. in the
 * kernel, whichever thread runs it. Edge tiles go through a 6x16 buffer with
 * zero padding, so they run the same kernel.
 */
#include "train_ops.h"

#include "le_pool.h" /* le_pool_run, le_pool_nthreads, le_pool_range */

#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

enum { MR = 6, NR = 16, KC = 256 };

static int le_tk_scalar_forced;
static int le_tk_have_avx2 = -1;

void le_tk_force_scalar(int on) { le_tk_scalar_forced = on; }

int le_tk_simd(void) {
    if (le_tk_have_avx2 < 0) {
        __builtin_cpu_init();
        le_tk_have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return le_tk_have_avx2 && !le_tk_scalar_forced;
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

size_t le_tg_gemm_scratch(int64_t M, int64_t N, int64_t K) {
    return (size_t)(cdiv(M, MR) * MR * K + cdiv(N, NR) * NR * K) + 24;
}

/* Functions for the micro-kernels: c (6 x 16, row stride ldc) (+)= a . b over kc. */

typedef void (*le_tg_kern_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int load);

static void kern_scalar(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int load) {
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int64_t k = 0; k < kc; k++) {
        const float *bk = b + k * NR, *ak = a + k * MR;
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++)
                acc[r][j] += ak[r] * bk[j];
    }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            c[r * ldc + j] = acc[r][j];
}

__attribute__((target("avx2,fma")))
static void kern_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int load) {
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
    for (int64_t k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 a0 = _mm256_broadcast_ss(a + 0), a1 = _mm256_broadcast_ss(a + 1);
        c00 = _mm256_fmadd_ps(a0, b0, c00), c01 = _mm256_fmadd_ps(a0, b1, c01);
        c10 = _mm256_fmadd_ps(a1, b0, c10), c11 = _mm256_fmadd_ps(a1, b1, c11);
        a0 = _mm256_broadcast_ss(a + 2), a1 = _mm256_broadcast_ss(a + 3);
        c20 = _mm256_fmadd_ps(a0, b0, c20), c21 = _mm256_fmadd_ps(a0, b1, c21);
        c30 = _mm256_fmadd_ps(a1, b0, c30), c31 = _mm256_fmadd_ps(a1, b1, c31);
        a0 = _mm256_broadcast_ss(a + 4), a1 = _mm256_broadcast_ss(a + 5);
        c40 = _mm256_fmadd_ps(a0, b0, c40), c41 = _mm256_fmadd_ps(a0, b1, c41);
        c50 = _mm256_fmadd_ps(a1, b0, c50), c51 = _mm256_fmadd_ps(a1, b1, c51);
        a += MR;
        b += NR;
    }
    _mm256_storeu_ps(c + 0 * ldc, c00), _mm256_storeu_ps(c + 0 * ldc + 8, c01);
    _mm256_storeu_ps(c + 1 * ldc, c10), _mm256_storeu_ps(c + 1 * ldc + 8, c11);
    _mm256_storeu_ps(c + 2 * ldc, c20), _mm256_storeu_ps(c + 2 * ldc + 8, c21);
    _mm256_storeu_ps(c + 3 * ldc, c30), _mm256_storeu_ps(c + 3 * ldc + 8, c31);
    _mm256_storeu_ps(c + 4 * ldc, c40), _mm256_storeu_ps(c + 4 * ldc + 8, c41);
    _mm256_storeu_ps(c + 5 * ldc, c50), _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

/* Functions for the packed driver. */

struct le_tg_job {
    int64_t M, N, K, Mp, Np, Kb;
    const float *A, *B;
    int64_t rsa, csa, rsb, csb;
    float *C;
    int64_t ldc;
    int acc;
    float *Ap, *Bp;         /* packed: [K block][panel][kc][MR or NR] */
    int64_t mb, nb, ntm, ntn; /* task = mb A panels x nb B panels; task grid */
    le_tg_kern_fn kern;
    atomic_int_fast64_t next;
};

static void pack_a_panel(const struct le_tg_job *j, int64_t i) {
    int64_t m0 = i * MR, rows = j->M - m0 < MR ? j->M - m0 : MR;
    for (int64_t p = 0; p < j->Kb; p++) {
        int64_t k0 = p * KC, kc = j->K - k0 < KC ? j->K - k0 : KC;
        float *dst = j->Ap + k0 * j->Mp * MR + i * MR * kc;
        if (j->rsa == 1) { /* A transposed: the 6 values of one k are adjacent */
            for (int64_t k = 0; k < kc; k++) {
                const float *src = j->A + (k0 + k) * j->csa + m0;
                for (int64_t r = 0; r < MR; r++)
                    dst[k * MR + r] = r < rows ? src[r] : 0.0f;
            }
            continue;
        }
        for (int64_t r = 0; r < MR; r++) {
            if (r >= rows) {
                for (int64_t k = 0; k < kc; k++)
                    dst[k * MR + r] = 0.0f;
                continue;
            }
            const float *src = j->A + (m0 + r) * j->rsa + k0 * j->csa;
            for (int64_t k = 0; k < kc; k++)
                dst[k * MR + r] = src[k * j->csa];
        }
    }
}

static void pack_b_panel(const struct le_tg_job *j, int64_t jp) {
    int64_t n0 = jp * NR, cols = j->N - n0 < NR ? j->N - n0 : NR;
    for (int64_t p = 0; p < j->Kb; p++) {
        int64_t k0 = p * KC, kc = j->K - k0 < KC ? j->K - k0 : KC;
        float *dst = j->Bp + k0 * j->Np * NR + jp * NR * kc;
        if (j->csb == 1) {
            for (int64_t k = 0; k < kc; k++) {
                const float *src = j->B + (k0 + k) * j->rsb + n0;
                for (int64_t c = 0; c < NR; c++)
                    dst[k * NR + c] = c < cols ? src[c] : 0.0f;
            }
        } else {
            for (int64_t c = 0; c < NR; c++) {
                if (c >= cols) {
                    for (int64_t k = 0; k < kc; k++)
                        dst[k * NR + c] = 0.0f;
                    continue;
                }
                const float *src = j->B + (n0 + c) * j->csb + k0 * j->rsb;
                for (int64_t k = 0; k < kc; k++)
                    dst[k * NR + c] = src[k * j->rsb];
            }
        }
    }
}

static void le_tg_pack_worker(void *arg, int ith, int nth) {
    struct le_tg_job *j = arg;
    int64_t lo, hi;
    le_pool_range(j->Mp + j->Np, ith, nth, &lo, &hi);
    for (int64_t x = lo; x < hi; x++) {
        if (x < j->Mp)
            pack_a_panel(j, x);
        else
            pack_b_panel(j, x - j->Mp);
    }
}

static void le_tg_tile(const struct le_tg_job *j, int64_t i, int64_t jp, int64_t p, int64_t kc, int load) {
    int64_t m0 = i * MR, n0 = jp * NR;
    const float *a = j->Ap + p * KC * j->Mp * MR + i * MR * kc;
    const float *b = j->Bp + p * KC * j->Np * NR + jp * NR * kc;
    float *c = j->C + m0 * j->ldc + n0;
    int64_t rows = j->M - m0 < MR ? j->M - m0 : MR, cols = j->N - n0 < NR ? j->N - n0 : NR;
    if (rows == MR && cols == NR) {
        j->kern(kc, a, b, c, j->ldc, load);
        return;
    }
    float tmp[MR * NR];
    memset(tmp, 0, sizeof tmp);
    if (load)
        for (int64_t r = 0; r < rows; r++)
            memcpy(tmp + r * NR, c + r * j->ldc, (size_t)cols * sizeof(float));
    j->kern(kc, a, b, tmp, NR, load);
    for (int64_t r = 0; r < rows; r++)
        memcpy(c + r * j->ldc, tmp + r * NR, (size_t)cols * sizeof(float));
}

static void le_tg_compute_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    struct le_tg_job *j = arg;
    for (;;) {
        int64_t t = atomic_fetch_add(&j->next, 1);
        if (t >= j->ntm * j->ntn)
            return;
        int64_t ti = t / j->ntn, tj = t % j->ntn;
        int64_t i0 = ti * j->mb, i1 = i0 + j->mb < j->Mp ? i0 + j->mb : j->Mp;
        int64_t j0 = tj * j->nb, j1 = j0 + j->nb < j->Np ? j0 + j->nb : j->Np;
        for (int64_t p = 0; p < j->Kb; p++) {
            int64_t kc = j->K - p * KC < KC ? j->K - p * KC : KC;
            int load = j->acc || p > 0;
            for (int64_t jp = j0; jp < j1; jp++)
                for (int64_t i = i0; i < i1; i++)
                    le_tg_tile(j, i, jp, p, kc, load);
        }
    }
}

void le_tg_gemm(struct le_pool *pool, int64_t M, int64_t N, int64_t K,
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
        .M = M, .N = N, .K = K, .Mp = cdiv(M, MR), .Np = cdiv(N, NR), .Kb = cdiv(K, KC),
        .A = A, .B = B, .rsa = rsa, .csa = csa, .rsb = rsb, .csb = csb,
        .C = C, .ldc = ldc, .acc = acc,
        .kern = le_tk_simd() ? kern_avx2 : kern_scalar,
    };
    float *s = (float *)(((uintptr_t)scratch + 31) & ~(uintptr_t)31);
    j.Ap = s;
    j.Bp = s + ((j.Mp * MR * K + 7) & ~(int64_t)7); /* 32-byte aligned panels */
    int nth = pool ? le_pool_nthreads(pool) : 1;
    /* Task size only balances load; it never changes any result. */
    j.mb = 8;
    j.nb = j.Np < 16 ? j.Np : 16;
    while (cdiv(j.Mp, j.mb) * cdiv(j.Np, j.nb) < 4 * nth && (j.mb > 1 || j.nb > 1)) {
        if (j.nb > 2)
            j.nb = (j.nb + 1) / 2;
        else if (j.mb > 1)
            j.mb /= 2;
        else
            j.nb = 1;
    }
    j.ntm = cdiv(j.Mp, j.mb);
    j.ntn = cdiv(j.Np, j.nb);
    atomic_init(&j.next, 0);
    le_pool_run(pool, le_tg_pack_worker, &j);
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

void le_tg_xwt(struct le_pool *pool, float *Y, const float *X, const float *W,
               int64_t N, int64_t K, int64_t M, float *scratch) {
    le_tg_gemm(pool, N, M, K, X, K, 1, W, 1, K, Y, M, 0, scratch);
}

void le_tg_dyw(struct le_pool *pool, float *dX, const float *dY, const float *W,
               int64_t N, int64_t M, int64_t K, int acc, float *scratch) {
    le_tg_gemm(pool, N, K, M, dY, M, 1, W, K, 1, dX, K, acc, scratch);
}

void le_tg_dytx(struct le_pool *pool, float *dW, const float *dY, const float *X,
                int64_t N, int64_t M, int64_t K, int acc, float *scratch) {
    le_tg_gemm(pool, M, K, N, dY, 1, M, X, K, 1, dW, K, acc, scratch);
}
