/*
 * le_gptq: GPTQ quantization (Frantar et al. 2022, arXiv 2210.17323; the
 * behaviour of GPTQ-for-LLaMa's gptq.py / llama.py) into ggml block types,
 * so that the result is an ordinary GGUF file.
 *
 * Storage (bits, group size -> ggml type; the GPTQ grid is exactly the
 * type's grid, so the stored weights dequantize to the values GPTQ chose):
 *   4 bits, asymmetric (default) -> Q4_1, groups of 32 (x = d*q + m)
 *   4 bits, symmetric            -> Q4_0, groups of 32 (x = d*(q-8))
 *   3 bits                       -> Q3_K, groups of 16 in super-blocks of 256
 *                                   (x = d*sc*(q-4), sc 6-bit signed)
 *   2 bits                       -> Q2_K, groups of 16 in super-blocks of 256
 *                                   (x = d*sc*q - dmin*m, sc and m 4-bit)
 * The group size is forced by the type (32, resp. 16).
 *
 * Per group, the parameters are those of ggml's simplest rule for the type,
 * computed (as GPTQ's find_params) from the group's current, error-updated
 * weights when GPTQ reaches its first column: Q4_0 d = signed absmax / -8;
 * Q4_1 d = (max - min) / 15, m = min; Q3_K group scale = signed absmax / -4;
 * Q2_K group scale = (max - min') / 3 with min' = min(min, 0), minimum -min'.
 * K-quants store group scales as 6-/4-bit multiples of one F16 super-block
 * scale: that scale (and dmin) is computed at the super-block's first column
 * from all its 16 groups (their weights updated by every earlier column),
 * and each group's scale is then rounded to a multiple of it when GPTQ
 * reaches the group. All scales are rounded to F16 before any weight is
 * quantized against them. Groups never straddle a lazy block (the block,
 * 128, is a multiple of every group), so the result equals the unblocked
 * column-by-column algorithm up to rounding. (GPTQ-for-LLaMa's fasterquant
 * reads a group that starts inside a lazy block from W as it was at the
 * block's start, without the block's own earlier columns' updates; here the
 * group sees them, as the unblocked algorithm does.)
 *
 * The algorithm per matrix W (rows x cols) and Hessian H (cols x cols,
 * double): dead columns (H_ii = 0) get H_ii = 1 and W[:, i] = 0; with
 * act-order columns are permuted by descending H_ii (stable) and groups are
 * static (all group parameters from the original W, dead columns zeroed,
 * before any update, as IST-DASLab/gptq's --static-groups; GPTQ-for-LLaMa's
 * act-order forms groups in the permuted order, which ggml's blocks of
 * consecutive columns cannot hold); H_ii += damp * mean(H_ii); U = upper Cholesky factor of
 * H^-1; then columns in order with lazy updates in blocks of 128. Everything
 * is double; rows are independent and split statically over threads, so the
 * result does not depend on the thread count.
 */
#ifndef LE_GPTQ_H
#define LE_GPTQ_H

#include "le_quant.h"

#include <stdint.h>

struct le_pool;

/* The ggml type for bits (2, 3, 4), group_size (0: the type's own) and sym
 * (4 bits only; 2 and 3 bits have one type each). LE_EINVAL with a message
 * for anything else. *group gets the group size. */
int le_gptq_type(int bits, int group_size, int sym, int *type, int *group);
/* The llama.cpp file type whose round-to-nearest rules the tensors GPTQ
 * does not touch follow (Q4_1, Q4_0, Q3_K_S, Q2_K_S: the presets that keep their
 * default type in every layer of small models, so that their files are
 * round-to-nearest's counterpart); -1 if not a GPTQ type. */
int le_gptq_ftype(int type);

struct le_gptq_opts {
    int type;        /* LE_TYPE_Q4_0, Q4_1, Q3_K or Q2_K */
    int act_order;   /* permute columns by descending H_ii, static groups */
    double damp;     /* fraction of mean(diag H) added to the diagonal; 0: 0.01 */
    int block;       /* lazy-update block; 0: 128 (a multiple of 32 and of 256/... groups) */
};

/*
 * Quantizes W (rows x cols floats, row-major) with Hessian H (cols x cols,
 * row-major, symmetric; not modified) into out (rows rows of the type,
 * le_type_row_size(type, cols) bytes each). what (may be NULL) receives the
 * chosen values (rows x cols, dequantized, = what the stored rows
 * dequantize to); *loss (may be NULL) GPTQ's error sum_i (w_i - q_i)^2 /
 * (2 U_ii^2). cols must be a multiple of the type's block. pool may be NULL.
 * LE_EINVAL: bad arguments or an H that is not positive definite after
 * dampening; LE_ENOMEM.
 */
int le_gptq_matrix(struct le_pool *pool, const float *W, int64_t rows, int64_t cols, const double *H,
                   const struct le_gptq_opts *o, void *out, float *what, double *loss);

/* Draws n_windows windows of ctx tokens from ids[0..n) (uniform start
 * positions from a seeded generator, as GPTQ-for-LLaMa draws its
 * calibration windows) into out (n_windows x ctx). LE_EINVAL when n <= ctx. */
int le_gptq_windows(const int32_t *ids, int64_t n, int n_windows, int ctx, uint64_t seed, int32_t *out);

/* One matrix done. */
struct le_gptq_event {
    int layer, n_layers;
    const char *name;
    int64_t rows, cols;
    int type;
    double loss;    /* GPTQ's error (see le_gptq_matrix) */
    double err, err_rtn; /* ||(W - W')X||^2 / ||WX||^2 over the calibration inputs X, with
                            W' GPTQ's weights, resp. ggml's round-to-nearest of W in the type */
};
typedef void (*le_gptq_progress_fn)(void *ud, const struct le_gptq_event *ev);

struct le_gptq_params {
    int bits, group_size, sym, act_order;
    int no_true_sequential; /* 0: q/k/v, then o, then gate/up, then down, each from the
                               block's inputs with the earlier ones already quantized */
    double damp;            /* 0: 0.01 */
    const int32_t *windows; /* n_windows x ctx calibration tokens */
    int n_windows, ctx;
    int n_threads;          /* <= 0: all cores */
    int allow_requantize;
    le_gptq_progress_fn progress; /* per matrix; may be NULL */
    void *progress_ud;
    le_quant_progress_fn write_progress; /* per tensor written; may be NULL */
    void *write_ud;
};

/*
 * GPTQ of every layer's attn_q/k/v/output and ffn_gate/up/down of the
 * model in_path, layer after layer: each layer's Hessians come from the
 * calibration windows run through the layers before it as they will be
 * stored (quantized), and the layer's own output is recomputed with its
 * quantized weights for the next. The other tensors follow the
 * round-to-nearest rules of le_gptq_ftype's preset; matrices whose row
 * length the type's block does not divide fall back as those rules do
 * (counted in stats->n_fallback). Writes out_path atomically (nothing there
 * on failure). Errors as le_quantize, LE_EINVAL when no layer matrix can
 * take the type.
 */
int le_gptq_quantize(const char *in_path, const char *out_path, const struct le_gptq_params *p,
                     struct le_quant_stats *stats);

#endif
