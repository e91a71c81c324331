/*
 * train_gemm: training's three matmul forms (Y = X.W^T, dX = dY.W,
 * dW = dY^T.X) and attention's per-head products, as calls of the
 * project's one f32 GEMM (le_sgemm, engine/kernels/sgemm.c), which
 * inference's float-weight batches use too.
 *
 * Arithmetic (unchanged from training's former own GEMM, whose AVX2 6x16
 * kernel became sgemm's AVX2 path): each element is one FMA chain over k
 * in order, starting from C (acc) or 0, so results do not depend on the
 * thread count, the tiling or the SIMD path (AVX-512, AVX2 and the scalar
 * twin give the same bits). `simd` = 0 picks the scalar twin.
 *
 * No scratch: sgemm packs B per panel and K block on the stack.
 */
#include "train_ops.h"

#include "le_sgemm.h" /* le_sgemm: the one f32 GEMM */

void le_tg_gemm(struct le_pool *pool, int simd, int64_t M, int64_t N, int64_t K,
                const float *A, int64_t rsa, int64_t csa,
                const float *B, int64_t rsb, int64_t csb,
                float *C, int64_t ldc, int acc) {
    struct le_sgemm_op op = {.M = M, .N = N, .K = K, .A = A, .rsa = rsa, .csa = csa, .btype = LE_SGEMM_F32,
                             .B = B, .rsb = rsb, .csb = csb, .C = C, .ldc = ldc, .acc = acc};
    le_sgemm(pool, simd ? le_sgemm_best() : LE_SGEMM_SCALAR, &op);
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
               int64_t N, int64_t K, int64_t M) {
    le_tg_gemm(pool, simd, N, M, K, X, K, 1, W, 1, K, Y, M, 0);
}

void le_tg_dyw(struct le_pool *pool, int simd, float *dX, const float *dY, const float *W,
               int64_t N, int64_t M, int64_t K, int acc) {
    le_tg_gemm(pool, simd, N, K, M, dY, M, 1, W, K, 1, dX, K, acc);
}

void le_tg_dytx(struct le_pool *pool, int simd, float *dW, const float *dY, const float *X,
                int64_t N, int64_t M, int64_t K, int acc) {
    le_tg_gemm(pool, simd, M, K, N, dY, 1, M, X, K, 1, dW, K, acc);
}
