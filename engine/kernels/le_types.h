/*
 * le_types: the tensor type table (ggml's type traits) and the ONE matmul
 * driver. Numbering and block layouts are ggml's, bit-exact.
 *
 * A type is one row of one table (types.c): block size, bytes per block,
 * to_float, from_float (reference quantizer), vec_dot against its activation
 * type, that activation type (vec_dot_type), and the AVX2 kernels (chosen at
 * run time when the CPU has AVX2+FMA+F16C) with the batched gemm the matmul
 * driver uses. Every kernel has a scalar _ref version. Adding a type =
 * adding a row and its kernels; names, sizes (also for the GGUF reader) and
 * dispatch all come from that row.
 */
#ifndef LE_TYPES_H
#define LE_TYPES_H

#include <stddef.h>
#include <stdint.h>

struct le_pool;
struct le_gemm_impl; /* engine-private (le_kernels.h) */

enum le_type {
    LE_TYPE_F32 = 0, LE_TYPE_F16 = 1, LE_TYPE_Q4_0 = 2, LE_TYPE_Q4_1 = 3,
    LE_TYPE_Q5_0 = 6, LE_TYPE_Q5_1 = 7, LE_TYPE_Q8_0 = 8, LE_TYPE_Q8_1 = 9,
    LE_TYPE_Q2_K = 10, LE_TYPE_Q3_K = 11, LE_TYPE_Q4_K = 12, LE_TYPE_Q5_K = 13,
    LE_TYPE_Q6_K = 14, LE_TYPE_Q8_K = 15, LE_TYPE_BF16 = 30,
    LE_TYPE_COUNT = 40
};

typedef void (*le_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*le_from_float_fn)(const float *x, void *y, int64_t n);
/* s = dot(x[0..n), y[0..n)) with x of this type and y of vec_dot_type. */
typedef void (*le_vec_dot_fn)(int n, float *s, const void *x, const void *y);

struct le_type_traits {
    const char *name; /* ggml's name: "f32", "q8_0", "q4_K" ... */
    int blck_size;    /* elements per block */
    size_t type_size; /* bytes per block */
    int is_quantized;
    le_to_float_fn to_float;
    le_from_float_fn from_float;     /* the reference quantizer (ggml's _ref) */
    le_from_float_fn from_float_act; /* activation quantizer (may equal from_float) */
    le_vec_dot_fn vec_dot;
    enum le_type vec_dot_type;
    /* engine-private: the batched matmul kernel (NULL: one vec_dot per output) */
    const struct le_gemm_impl *gemm;
};

/* NULL when the type number is unknown or has no entry in this table. */
const struct le_type_traits *le_type_get(int type);
/* Scalar reference traits (tests compare SIMD against these). */
const struct le_type_traits *le_type_get_ref(int type);
const char *le_type_name(int type); /* "unknown" for unknown */
int le_type_from_name(const char *name); /* -1 if unknown; case-insensitive */
size_t le_type_row_size(int type, int64_t n); /* 0 if n not a multiple of blck */
/* Block size, bytes per block and name of any type number a GGUF file may
 * hold, implemented or not (each may be NULL); LE_EFORMAT if unknown. */
int le_type_info(int type, int64_t *blck, size_t *type_size, const char **name);

/* IEEE half / bfloat16 conversions (round to nearest even, as ggml). */
uint16_t le_fp32_to_fp16(float f);
float le_fp16_to_fp32(uint16_t h);
uint16_t le_fp32_to_bf16(float f);
float le_bf16_to_fp32(uint16_t h);

/*
 * Y[N][rows] = X[N][K] . W^T, W of type wtype with `rows` rows of K elements.
 * X is converted to W's vec_dot_type once per call (as ggml does), then each
 * output is one vec_dot. Each output element's value depends only on its row
 * of W and its row of X -- never on N, tiling or the thread count.
 * scratch: at least le_matmul_scratch_size(wtype, K, N) bytes.
 */
size_t le_matmul_scratch_size(int wtype, int64_t K, int64_t N);
int le_matmul(struct le_pool *pool, const void *W, int wtype, int64_t rows, int64_t K,
              const float *X, int64_t N, float *Y, void *scratch);

/*
 * Several products of one X at once: outs[i].Y[N][outs[i].rows] =
 * X . outs[i].W^T, all weights of type wtype with K columns (e.g. the q, k,
 * v projections). X is converted once and the row chunks of all weights
 * share one work queue; each output element is exactly what le_matmul gives.
 * 1 <= n_out <= 4; scratch as for le_matmul.
 */
struct le_matmul_out {
    const void *W;
    int64_t rows;
    float *Y;
};
int le_matmul_multi(struct le_pool *pool, int wtype, int64_t K, const float *X, int64_t N,
                    const struct le_matmul_out *outs, int n_out, void *scratch);

#endif
