/*
 * le_sgemm: the project's one float32 GEMM (inference batches and training).
 *
 *   C[m][n] (+)= sum_k A(m, k) * B(k, n),   m < M, n < N, k < K
 *
 * A(m, k) = A[m * rsa + k * csa] (floats); B(k, n) = B[k * rsb + n * csb]
 * in elements of btype (F32, F16 or BF16, widened to float when packed);
 * C row-major with row stride ldc. Strides express the transposes:
 * inference Y = X.W^T has B(k, n) = W[n][k] (rsb 1, csb = row length).
 *
 * Per-element arithmetic (the contract every path keeps, so the AVX-512,
 * AVX2 and scalar paths, any blocking and any thread split give the same
 * bits): s = acc ? C[m][n] : 0; then s = fmaf(A(m, k), B(k, n), s) for
 * k = 0, 1, ..., K-1 in order; C[m][n] = s.
 *
 * Ownership: nothing is allocated; C is written, A and B only read.
 */
#ifndef LE_SGEMM_H
#define LE_SGEMM_H

#include <stddef.h>
#include <stdint.h>

struct le_pool; /* le_pool.h */

/* Paths: the scalar twin, the AVX2+FMA 6x16 kernel, the AVX-512 6x64 one. */
enum { LE_SGEMM_SCALAR = 0, LE_SGEMM_AVX2 = 1, LE_SGEMM_AVX512 = 2 };

/* Element types of B. */
enum { LE_SGEMM_F32 = 0, LE_SGEMM_F16 = 1, LE_SGEMM_BF16 = 2 };

/* One product; see the top of the file for the strides' meaning. */
struct le_sgemm_op {
    int64_t M, N, K;
    const float *A;
    int64_t rsa, csa;
    int btype;
    const void *B;
    int64_t rsb, csb;
    float *C;
    int64_t ldc;
    int acc; /* 1: add to C; 0: overwrite */
};

/* The fastest path this CPU runs (asked once, cached). */
int le_sgemm_best(void);

/* Rows [m0, m1) x columns [n0, n1) of C on the calling thread, with path
 * `isa` (at most le_sgemm_best()). Uses ~32 KiB of stack. */
void le_sgemm_rect(int isa, const struct le_sgemm_op *op, int64_t m0, int64_t m1, int64_t n0, int64_t n1);

/* All of C on the pool's threads (pool NULL: the calling thread). */
void le_sgemm(struct le_pool *pool, int isa, const struct le_sgemm_op *op);

/* The contract in plain C (k order, fmaf), for tests. */
void le_sgemm_ref(const struct le_sgemm_op *op);

#endif
