/*
 * le_ops: the LLaMA block's element-wise and row ops, ONE set used by both
 * the inference forward pass (engine/model/forward.c) and training
 * (engine/train/train_ops.c): exp, softmax, RoPE and its table, SwiGLU,
 * RMSNorm (with the residual add fused in), dot product.
 *
 * Numerics are llama.cpp's CPU backend's (ggml), since inference must match
 * llama-perplexity: RMSNorm sums squares in double and scales in float,
 * y = (x * scale) * w; the RoPE table is ggml's rope cache (theta multiplied
 * by base^(-2/hd) per pair in float32); softmax subtracts the max of the
 * scaled scores and sums exp in double. Training computes its forward with
 * the same functions, so a trained checkpoint opened with le_model_open
 * gives the trainer's logits up to the matmuls' summation order.
 *
 * Two tables: the scalar reference and AVX2+FMA (one function per op,
 * element-wise ops bit-identical to the reference except where noted); the
 * caller chooses (le_ops_get(simd)), so tests compare both paths without a
 * process-wide switch. Reductions (RMSNorm's sum of squares, softmax's exp
 * sum, dot) have a fixed order for a given n and table, never depending on
 * threads or batching.
 */
#ifndef LE_OPS_H
#define LE_OPS_H

#include <stdint.h>

struct le_ops {
    /* y[i] = exp(x[i]) (y may alias x). Reference: expf. AVX2: Cephes'
     * polynomial after a range reduction by ln 2, ~1 ulp, inputs clamped to
     * [-87.3, 88.3]. */
    void (*vexp)(int64_t n, const float *x, float *y);
    /* s = softmax(s * scale) in place over n > 0 values; scale > 0; the exp
     * sum in double. */
    void (*softmax)(float *s, int64_t n, float scale);
    /* RoPE (NORM mode, adjacent pairs) on n_heads consecutive heads of hd
     * values: (x0, x1) -> (x0*c - x1*s, x0*s + x1*c), cs = (c, s) per pair
     * (one row of le_ops_rope_table). Exactly the reference's operations in
     * both tables (no FMA). */
    void (*rope)(float *v, const float *cs, int64_t n_heads, int64_t hd);
    /* h[i] = silu(g[i]) * u[i] = g / (1 + exp(-g)) * u (h may alias g). */
    void (*swiglu)(float *h, const float *g, const float *u, int64_t n);
    /* x += delta (when not NULL); y = (x * scale) * w with scale =
     * 1/sqrt(mean(x^2) + eps), the squares summed in double (ggml's
     * rms_norm); returns scale (training keeps it for the backward). */
    float (*add_rmsnorm)(float *x, const float *delta, const float *w, float *y, int64_t n, float eps);
    /* sum x[i] * y[i] in float (AVX2: two 8-lane FMA chains, then a tree). */
    float (*dot)(int64_t n, const float *x, const float *y);
};

/* simd = 1: the AVX2+FMA table when the CPU has it (le_cpu_avx2), else the
 * reference; simd = 0: the reference. */
const struct le_ops *le_ops_get(int simd);

/* Functions for the RoPE table. */

/* cs[p * hd + 2i], cs[p * hd + 2i + 1] = cos, sin of the angle of pair i at
 * position p, for p < n_pos and i < hd/2, as ggml's rope cache: theta =
 * p * base^(-2i/hd) built by repeated float multiplication, times
 * freq_scale (1 / the linear scaling factor), divided by freqs[i] when
 * freqs (the model's rope_freqs) is not NULL. */
void le_ops_rope_table(float *cs, int64_t n_pos, int64_t hd, float base, float freq_scale, const float *freqs);

#endif
