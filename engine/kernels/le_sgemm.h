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

/*
 * The inference form: 8-lane sums, the contract of le_kernels.h for float
 * weights (the decode gemv's, so a token's logits do not depend on the
 * batch it came in). With G = K / 8 and K8 = 8 G, for m < M, n < N:
 *   P_l = fmaf chain over g = 0..G-1 of W[n][8g + l] * X[m][8g + l], from 0
 *   s = ((P_0 + P_1) + (P_2 + P_3)) + ((P_4 + P_5) + (P_6 + P_7))
 *   s = fmaf(W[n][k], X[m][k], s) for k = K8..K-1;  Y[m][n] = s.
 * The AVX-512 path runs each row's 8 chains side by side in the lanes of
 * one vector (sgemm.c); X is read in place, row-major or (xpairs) in pairs
 * of rows, which F16 weights run fastest on:
 *   rows 2p and 2p + 1 share the 2 lda floats at A + 2p lda, interleaved
 *   by groups of 8: X[m][k] at 16 (k / 8) + 8 (m % 2) + k % 8 for k < K8
 *   and at 2 K8 + 8 (m % 2) + (k - K8) for the tail; lda >= 8 ceil(K / 8).
 *   With M odd the last pair's second half is read but unused.
 */
struct le_sgemm_l8_op {
    int64_t M, N, K;
    const float *A; /* X: row m at A + m * lda (row-major), or in pairs (xpairs) */
    int64_t lda;
    int xpairs; /* 1: A in pairs of rows (above); the fast path for F16, plain C for F32/BF16 */
    int btype;
    const void *W; /* N rows of K elements of btype, row n at element n * ldw */
    int64_t ldw;
    float *Y;
    int64_t ldy;
};

/* Bytes of the work buffer le_sgemm_l8_rect needs for M rows of X. */
size_t le_sgemm_l8_work_bytes(int64_t M);

/* le_sgemm_l8_work_bytes(12): the least work buffer (for a stack fallback). */
#define LE_SGEMM_L8_WORK_MIN ((12 * 8 * 64 + 64 * 8 * 64) * 4)

/* Columns [n0, n1) of Y (all M rows) on the calling thread, path `isa`.
 * work: 64-byte aligned, work_bytes >= LE_SGEMM_L8_WORK_MIN (less: the
 * plain-C contract); with less than le_sgemm_l8_work_bytes(M) the rows go
 * in chunks of 12 (same bits, each chunk packs W again). */
void le_sgemm_l8_rect(int isa, const struct le_sgemm_l8_op *op, int64_t n0, int64_t n1, void *work,
                      size_t work_bytes);

/* The inference contract in plain C, for tests (X row-major, row stride ldx;
 * op's A and xpairs are not read). */
void le_sgemm_l8_ref(const struct le_sgemm_l8_op *op, const float *X, int64_t ldx);

#endif
