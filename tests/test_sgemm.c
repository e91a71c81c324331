/*
 * test_sgemm: the one f32 GEMM (le_sgemm.h).
 *
 * - Every path this CPU has (scalar twin, AVX2, AVX-512) is bit-identical to
 *   le_sgemm_ref (one fmaf chain per element in k order), for the three
 *   training forms (Y = X.W^T, dX = dY.W, dW = dY^T.X), accumulate or not,
 *   padded strides, F32/F16/BF16 B, and edge sizes (M, N, K not multiples
 *   of the tiles, K crossing the K block).
 * - le_sgemm_ref itself is within a rounding bound of a double-precision
 *   product (so the contract computes the right thing).
 * - The threaded driver gives the same bits for 1 and 3 threads and for
 *   sub-rectangles computed separately.
 * - The inference form (8 lane chains, le_sgemm_l8_*) equals its plain-C
 *   contract bit for bit on every path, for F32/F16/BF16 weights, K with
 *   and without a tail of K % 8, K blocks crossed, ragged M and N, column
 *   sub-ranges, and the smallest work buffer (rows in chunks); and that
 *   contract is the 8-lane sum of le_kernels.h (le_matmul's, decode's).
 */
// ctest-labels: unit
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "le_err.h"
#include "le_pool.h"   /* le_pool_new: thread counts under test */
#include "le_sgemm.h"  /* under test */
#include "le_types.h"  /* le_fp32_to_fp16, le_fp32_to_bf16 */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static float frand(void) {
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (float)((rng_state >> 40) & 0xFFFFFF) / (float)0x1000000 * 2.0f - 1.0f;
}

/* A problem: op with its own buffers. form 0: C = A.B^T (B rows contiguous
 * in k), 1: C = A.B (B rows contiguous in n), 2: C = A^T.B. */
struct prob {
    struct le_sgemm_op op;
    float *A, *C0;
    void *B;
    size_t csz;
};

static void prob_make(struct prob *p, int form, int btype, int64_t M, int64_t N, int64_t K, int pad, int acc) {
    memset(p, 0, sizeof *p);
    struct le_sgemm_op *o = &p->op;
    o->M = M, o->N = N, o->K = K, o->btype = btype, o->acc = acc;
    int64_t asz;
    if (form == 2) { /* A(m, k) = At[k][m] */
        o->rsa = 1, o->csa = M + pad;
        asz = K * (M + pad);
    } else {
        o->rsa = K + pad, o->csa = 1;
        asz = M * (K + pad);
    }
    int64_t bsz;
    if (form == 0) { /* B(k, n) = Bt[n][k] */
        o->rsb = 1, o->csb = K + pad;
        bsz = N * (K + pad);
    } else {
        o->rsb = N + pad, o->csb = 1;
        bsz = K * (N + pad);
    }
    o->ldc = N + pad;
    p->csz = (size_t)(M * o->ldc) * sizeof(float);
    p->A = malloc((size_t)(asz > 0 ? asz : 1) * sizeof(float));
    for (int64_t i = 0; i < asz; i++)
        p->A[i] = frand();
    size_t es = btype == LE_SGEMM_F32 ? 4 : 2;
    p->B = malloc((size_t)(bsz > 0 ? bsz : 1) * es);
    for (int64_t i = 0; i < bsz; i++) {
        float v = frand();
        if (btype == LE_SGEMM_F32)
            ((float *)p->B)[i] = v;
        else
            ((uint16_t *)p->B)[i] = btype == LE_SGEMM_F16 ? le_fp32_to_fp16(v) : le_fp32_to_bf16(v);
    }
    p->C0 = malloc(p->csz);
    for (size_t i = 0; i < p->csz / 4; i++)
        p->C0[i] = frand();
    o->A = p->A, o->B = p->B;
}

static void prob_free(struct prob *p) {
    free(p->A), free(p->B), free(p->C0);
}

/* C computed by fn-style runner: path isa, whole rectangle, threaded. */
static float *run(struct prob *p, struct le_pool *pool, int isa, int ref) {
    float *C = malloc(p->csz);
    memcpy(C, p->C0, p->csz);
    struct le_sgemm_op o = p->op;
    o.C = C;
    if (ref)
        le_sgemm_ref(&o);
    else
        le_sgemm(pool, isa, &o);
    return C;
}

static const int64_t shapes[][3] = {{1, 1, 1}, {6, 64, 128}, {7, 65, 129}, {13, 17, 300}, {5, 130, 31},
                                    {25, 200, 257}, {12, 16, 16}, {3, 1, 40}, {4, 48, 0}};

static void sgemm_paths_should_equal_the_reference_bit_for_bit(void **state) {
    (void)state;
    int best = le_sgemm_best();
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (int form = 0; form < 3; form++)
            for (int bt = 0; bt < 3; bt++)
                for (int acc = 0; acc < 2; acc++) {
                    struct prob p;
                    prob_make(&p, form, bt, shapes[si][0], shapes[si][1], shapes[si][2], (int)(si % 3) * 5, acc);
                    float *R = run(&p, NULL, 0, 1);
                    for (int isa = LE_SGEMM_SCALAR; isa <= best; isa++) {
                        float *C = run(&p, NULL, isa, 0);
                        if (memcmp(C, R, p.csz) != 0)
                            fail_msg("isa %d form %d btype %d acc %d shape %lld %lld %lld differs", isa, form, bt, acc,
                                     (long long)p.op.M, (long long)p.op.N, (long long)p.op.K);
                        free(C);
                    }
                    free(R);
                    prob_free(&p);
                }
}

static void sgemm_reference_should_be_close_to_double(void **state) {
    (void)state;
    struct prob p;
    prob_make(&p, 0, LE_SGEMM_F32, 9, 21, 1000, 3, 1);
    float *R = run(&p, NULL, 0, 1);
    const struct le_sgemm_op *o = &p.op;
    for (int64_t m = 0; m < o->M; m++)
        for (int64_t n = 0; n < o->N; n++) {
            double s = p.C0[m * o->ldc + n], mag = fabs(s);
            for (int64_t k = 0; k < o->K; k++) {
                double t = (double)p.A[m * o->rsa + k] * ((const float *)p.B)[n * o->csb + k];
                s += t, mag += fabs(t);
            }
            /* a chain of K roundings: |err| <= K * eps * sum |terms| */
            assert_true(fabs(R[m * o->ldc + n] - s) <= (double)o->K * 0x1p-24 * mag);
        }
    free(R);
    prob_free(&p);
}

static void sgemm_should_not_depend_on_threads_or_rectangles(void **state) {
    (void)state;
    struct le_pool *pool;
    assert_int_equal(le_pool_new(&pool, 3), LE_OK);
    int best = le_sgemm_best();
    static const int64_t sh[][3] = {{70, 300, 200}, {200, 40, 65}, {6, 1000, 130}};
    for (size_t si = 0; si < 3; si++)
        for (int form = 0; form < 3; form++) {
            struct prob p;
            prob_make(&p, form, LE_SGEMM_F16, sh[si][0], sh[si][1], sh[si][2], 1, 1);
            for (int isa = LE_SGEMM_SCALAR; isa <= best; isa++) {
                float *C1 = run(&p, NULL, isa, 0), *C3 = run(&p, pool, isa, 0);
                assert_memory_equal(C1, C3, p.csz);
                /* uneven sub-rectangles on the calling thread */
                float *Cr = malloc(p.csz);
                memcpy(Cr, p.C0, p.csz);
                struct le_sgemm_op o = p.op;
                o.C = Cr;
                int64_t mc = o.M / 3 + 1, nc = o.N / 2 + 3;
                for (int64_t m = 0; m < o.M; m += mc)
                    for (int64_t n = 0; n < o.N; n += nc)
                        le_sgemm_rect(isa, &o, m, m + mc < o.M ? m + mc : o.M, n, n + nc < o.N ? n + nc : o.N);
                assert_memory_equal(C1, Cr, p.csz);
                free(C1), free(C3), free(Cr);
            }
            prob_free(&p);
        }
    le_pool_free(pool);
}

/* The inference form against le_sgemm_l8_ref: X row-major (row stride
 * K + 3), copied into A with another row stride, or (xpairs, F16) into
 * pairs of rows. Shapes with full 64-row panels and at least a tile of
 * tokens (6 row-major, 12 in pairs) take the path whose first tile packs
 * the block (6 x 64, 7 x 65, 25 x 200, 12 x 128, 30 x 128: one or more K
 * blocks, a K tail, an odd last pair); the others, and the narrow column
 * ranges, pack first. The least work buffer splits 25 and 30 tokens into
 * chunks of 12. */
static void sgemm_l8_paths_should_equal_their_contract_bit_for_bit(void **state) {
    (void)state;
    static const int64_t sh[][3] = {{1, 1, 8}, {6, 64, 512}, {7, 65, 1029}, {13, 17, 300}, {5, 130, 31},
                                    {25, 200, 1100}, {4, 16, 7}, {3, 1, 40}, {9, 70, 8}, {12, 128, 520},
                                    {30, 128, 1036}};
    const int best = le_sgemm_best();
    for (size_t si = 0; si < sizeof sh / sizeof sh[0]; si++)
        for (int v = 0; v < 4; v++) { /* the three types row-major, then F16 with X in pairs */
            const int xpairs = v == 3, bt = xpairs ? LE_SGEMM_F16 : v;
            const int64_t M = sh[si][0], N = sh[si][1], K = sh[si][2], ldx = K + 3, lda = K + 21;
            float *X = malloc((size_t)(M * ldx) * sizeof(float));
            float *A = malloc((size_t)((M + 1) * lda) * sizeof(float));
            const size_t es = bt == LE_SGEMM_F32 ? 4 : 2;
            void *W = malloc((size_t)(N * (K + 1)) * es);
            for (int64_t i = 0; i < M * ldx; i++)
                X[i] = frand();
            for (int64_t i = 0; i < N * (K + 1); i++) {
                float v = frand();
                if (bt == LE_SGEMM_F32)
                    ((float *)W)[i] = v;
                else
                    ((uint16_t *)W)[i] = bt == LE_SGEMM_F16 ? le_fp32_to_fp16(v) : le_fp32_to_bf16(v);
            }
            const int64_t K8 = K / 8 * 8;
            for (int64_t i = 0; i < (M + 1) * lda; i++)
                A[i] = 1e30f; /* a missing second row of a pair must not matter */
            for (int64_t m = 0; m < M; m++)
                for (int64_t k = 0; k < K; k++)
                    A[!xpairs ? m * lda + k
                              : m / 2 * 2 * lda + (k < K8 ? 16 * (k / 8) + k % 8 : 2 * K8 + (k - K8)) + 8 * (m % 2)] =
                        X[m * ldx + k];
            const size_t ysz = (size_t)(M * N) * sizeof(float);
            float *R = malloc(ysz), *Y = malloc(ysz);
            struct le_sgemm_l8_op op = {.M = M, .N = N, .K = K, .A = A, .lda = lda, .xpairs = xpairs, .btype = bt, .W = W,
                                        .ldw = K + 1, .Y = R, .ldy = N};
            le_sgemm_l8_ref(&op, X, ldx);
            /* the contract is le_kernels.h's: lane l sums k = l mod 8 */
            const float *w0 = W;
            if (bt == LE_SGEMM_F32 && K >= 8) {
                float p[8] = {0};
                for (int64_t k = 0; k < K / 8 * 8; k++)
                    p[k % 8] = fmaf(w0[k], X[k], p[k % 8]);
                float s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
                for (int64_t k = K / 8 * 8; k < K; k++)
                    s = fmaf(w0[k], X[k], s);
                assert_true(s == R[0]);
            }
            size_t wbig = le_sgemm_l8_work_bytes(M), wmin = LE_SGEMM_L8_WORK_MIN;
            const size_t wsz = wbig > wmin ? wbig : wmin;
            void *work = aligned_alloc(64, (wsz + 63) / 64 * 64);
            for (int isa = LE_SGEMM_SCALAR; isa <= best; isa++)
                for (int small = 0; small < 2; small++) {
                    memset(Y, 0xff, ysz);
                    op.Y = Y;
                    size_t wb = small ? wmin : wsz;
                    int64_t nc = small ? N / 3 + 1 : N; /* column sub-ranges */
                    for (int64_t n = 0; n < N; n += nc)
                        le_sgemm_l8_rect(isa, &op, n, n + nc < N ? n + nc : N, work, wb);
                    if (memcmp(Y, R, ysz) != 0)
                        fail_msg("l8 isa %d btype %d pairs %d small %d shape %lld %lld %lld differs", isa, bt, xpairs,
                                 small, (long long)M, (long long)N, (long long)K);
                }
            op.Y = R;
            free(work), free(X), free(A), free(W), free(R), free(Y);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgemm_l8_paths_should_equal_their_contract_bit_for_bit),
        cmocka_unit_test(sgemm_paths_should_equal_the_reference_bit_for_bit),
        cmocka_unit_test(sgemm_reference_should_be_close_to_double),
        cmocka_unit_test(sgemm_should_not_depend_on_threads_or_rectangles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
