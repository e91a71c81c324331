/*
 * train_ops: float32 forward and backward kernels of the LLaMA block for
 * training (engine/train/train.c is the only user besides tests/test_train.c).
 *
 * Shape legend: B sequences, T positions, N = B*T tokens, C model dim,
 * H query heads, G kv heads (H % G == 0), D head dim (C = H*D), F ffn dim,
 * V vocab. Activations are row-major with one row per token.
 *
 * Determinism: every output element is computed by one thread with a fixed
 * reduction order that depends on the shapes only, never on the thread count
 * or on how work was split (GEMM tiles lie on one global grid; reductions over
 * tokens use fixed blocks summed in order).
 *
 * Kernels: the forward math is engine/ops (le_ops.h), the same functions
 * the inference forward pass runs, so a trained model's logits match
 * le_model_open's up to the matmuls' summation order. Ops with two
 * implementations take `simd`: 1 runs the AVX2+FMA kernels (when the CPU
 * has them, le_cpu_avx2, else the portable ones), 0 the portable scalar
 * ones. The choice is the caller's (the trainer's config), so tests compare
 * both paths without any process-wide switch. The two agree to rounding,
 * not bit for bit.
 */
#ifndef LE_TRAIN_OPS_H
#define LE_TRAIN_OPS_H

#include <stddef.h>
#include <stdint.h>

struct le_pool;

/*
 * GEMM: C[M][N] = (acc ? C : 0) + sum_k A(m,k) * B(k,n), where
 * A(m,k) = A[m*rsa + k*csa], B(k,n) = B[k*rsb + n*csb], C row stride ldc.
 * One call of le_sgemm (le_sgemm.h), which needs no scratch.
 */
void le_tg_gemm(struct le_pool *pool, int simd, int64_t M, int64_t N, int64_t K,
                const float *A, int64_t rsa, int64_t csa,
                const float *B, int64_t rsb, int64_t csb,
                float *C, int64_t ldc, int acc);
/* The scalar reference (naive triple loop, double accumulators), for tests. */
void le_tg_gemm_ref(int64_t M, int64_t N, int64_t K,
                    const float *A, int64_t rsa, int64_t csa,
                    const float *B, int64_t rsb, int64_t csb,
                    float *C, int64_t ldc, int acc);

/* The three training forms (W is (M, K) row-major, X (N, K), Y/dY (N, M)):
 *   Y  = X . W^T            (forward)
 *   dX (+)= dY . W          (input gradient)
 *   dW (+)= dY^T . X        (weight gradient, reduced over all N tokens) */
void le_tg_xwt(struct le_pool *pool, int simd, float *Y, const float *X, const float *W,
               int64_t N, int64_t K, int64_t M);
void le_tg_dyw(struct le_pool *pool, int simd, float *dX, const float *dY, const float *W,
               int64_t N, int64_t M, int64_t K, int acc);
void le_tg_dytx(struct le_pool *pool, int simd, float *dW, const float *dY, const float *X,
                int64_t N, int64_t M, int64_t K, int acc);

/* Functions for the block's ops. */

/* y = (x * rstd) * g, rstd = 1/sqrt(mean(x^2) + eps) saved per row for the
 * backward (le_ops add_rmsnorm). */
void le_top_rmsnorm_fwd(struct le_pool *pool, int simd, const float *x, const float *g, float *y,
                        float *rstd, int64_t N, int64_t C, float eps);
/* dx += d/dx, dg += d/dg. scratch: le_top_rmsnorm_scratch(N, C) floats. */
size_t le_top_rmsnorm_scratch(int64_t N, int64_t C);
void le_top_rmsnorm_bwd(struct le_pool *pool, const float *x, const float *g, const float *rstd,
                        const float *dy, float *dx, float *dg, int64_t N, int64_t C, float *scratch);

/* In place on x (N, nh*D), position of token n = n % T; adjacent pairs
 * (2i, 2i+1) of each head; cs: le_ops_rope_table's (T, D/2, 2) cos/sin.
 * inverse = 1 rotates by -angle (the backward). */
void le_top_rope(struct le_pool *pool, int simd, float *x, int64_t N, int64_t T, int64_t nh, int64_t D,
                 const float *cs, int inverse);

/*
 * Causal attention with GQA (query head h reads kv head h / (H/G)).
 * q, out: (N, H*D); k, v: (N, G*D); p: (B, H, T, T) softmax rows saved (only
 * s <= t written). scratch: le_top_attn_scratch(...) floats.
 */
size_t le_top_attn_scratch(struct le_pool *pool, int64_t T);
void le_top_attn_fwd(struct le_pool *pool, int simd, const float *q, const float *k, const float *v,
                     float *p, float *out, int64_t B, int64_t T, int64_t H, int64_t G, int64_t D,
                     float *scratch);
/* dq, dk, dv are overwritten. */
void le_top_attn_bwd(struct le_pool *pool, int simd, const float *q, const float *k, const float *v,
                     const float *p, const float *dout, float *dq, float *dk, float *dv,
                     int64_t B, int64_t T, int64_t H, int64_t G, int64_t D, float *scratch);

/* h = silu(a) * b elementwise over n; backward overwrites da, db. */
void le_top_swiglu_fwd(struct le_pool *pool, int simd, const float *a, const float *b, float *h, int64_t n);
void le_top_swiglu_bwd(struct le_pool *pool, int simd, const float *a, const float *b, const float *dh,
                       float *da, float *db, int64_t n);

/*
 * Cross-entropy of logits (N, V) against targets: row_loss[n] = -log
 * softmax(logits[n])[targets[n]]; returns the sum over rows (double, added in
 * row order). When dlogits is non-NULL it receives (softmax - onehot) * scale
 * (it may alias logits).
 */
double le_top_xent(struct le_pool *pool, int simd, const float *logits, const int32_t *targets,
                   float *dlogits, float *row_loss, int64_t N, int64_t V, float scale);

/* out[n] = E[tok[n]]; backward dE[tok[n]] += dx[n] in token order. */
void le_top_embed_fwd(struct le_pool *pool, const float *E, const int32_t *tok, float *out,
                      int64_t N, int64_t C);
void le_top_embed_bwd(struct le_pool *pool, float *dE, const int32_t *tok, const float *dx,
                      int64_t N, int64_t C);

/* Vector helpers (the chosen kernels), exposed for the optimizer and tests. */
double le_tk_sumsq(const float *x, int64_t n); /* fixed blocks, summed in order */

#endif
