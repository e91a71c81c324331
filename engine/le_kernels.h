/*
 * le_kernels: private interface between the type table (types.c), the
 * matmul driver (types_matmul.c) and the kernels: kernels_ref.c and
 * kernels_ref_q.c (scalar), kernels_avx2.c (float types, conversions,
 * activation quantizers) and kernels_avx2_q.c (32-block quantized gemms).
 * Not for use outside engine/.
 *
 * Block layouts are ggml's (ggml-common.h), little-endian, packed; the
 * structs below spell them out (x = d*q, d*(q-8), d*q + m, ...).
 *
 * Matmul kernels ("gemm") compute Y[n][r] = dot(W row r, A row n) for a
 * range of rows and all N activation rows, where A is the activation in the
 * gemm's own layout (see struct le_gemm_impl). Whatever tile shape a gemm
 * uses, the arithmetic for one output element is a fixed sequence of
 * operations that depends only on K -- identical to the same path's vec_dot
 * -- so results never depend on N, tiling or the thread count.
 */
#ifndef LE_KERNELS_H
#define LE_KERNELS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h> /* memcpy for bit casts */

#include "le_types.h" /* le_vec_dot_fn, le_fp16_to_fp32 ... */

#define LE_QK8_0 32
#define LE_QK4_0 32

typedef struct {
    uint16_t d;          /* half scale */
    int8_t qs[LE_QK8_0]; /* quants */
} le_block_q8_0;

typedef struct {
    uint16_t d;              /* half scale */
    uint8_t qs[LE_QK4_0 / 2]; /* nibbles: low = element j, high = element j+16 */
} le_block_q4_0;

typedef struct {
    uint16_t d, m;            /* half scale and minimum */
    uint8_t qs[LE_QK4_0 / 2]; /* as Q4_0; x = d*q + m */
} le_block_q4_1;

typedef struct {
    uint16_t d;
    uint8_t qh[4];            /* bit j = 5th bit of element j */
    uint8_t qs[LE_QK4_0 / 2]; /* low 4 bits as Q4_0; x = d*(q-16) */
} le_block_q5_0;

typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[LE_QK4_0 / 2]; /* x = d*q + m */
} le_block_q5_1;

typedef struct {
    uint16_t d, s;       /* half scale; half s = d * sum(qs) */
    int8_t qs[LE_QK8_0];
} le_block_q8_1;

_Static_assert(sizeof(le_block_q8_0) == 34, "q8_0 block must be 34 bytes");
_Static_assert(sizeof(le_block_q4_1) == 20, "q4_1 block must be 20 bytes");
_Static_assert(sizeof(le_block_q5_0) == 22, "q5_0 block must be 22 bytes");
_Static_assert(sizeof(le_block_q5_1) == 24, "q5_1 block must be 24 bytes");
_Static_assert(sizeof(le_block_q8_1) == 36, "q8_1 block must be 36 bytes");
_Static_assert(sizeof(le_block_q4_0) == 18, "q4_0 block must be 18 bytes");

/* Bit casts. */
static inline uint32_t le_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float le_f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Scalar reference kernels (kernels_ref.c). */
void le_f32_to_float_ref(const void *x, float *y, int64_t n);
void le_f32_from_float_ref(const float *x, void *y, int64_t n);
void le_vec_dot_f32_ref(int n, float *s, const void *x, const void *y);
void le_f16_to_float_ref(const void *x, float *y, int64_t n);
void le_f16_from_float_ref(const float *x, void *y, int64_t n);
void le_vec_dot_f16_ref(int n, float *s, const void *x, const void *y);
void le_bf16_to_float_ref(const void *x, float *y, int64_t n);
void le_bf16_from_float_ref(const float *x, void *y, int64_t n);
void le_vec_dot_bf16_ref(int n, float *s, const void *x, const void *y);
void le_q8_0_to_float_ref(const void *x, float *y, int64_t n);
void le_q8_0_from_float_ref(const float *x, void *y, int64_t n);     /* quantize_row_q8_0_ref */
void le_q8_0_from_float_act_ref(const float *x, void *y, int64_t n); /* the CPU backend's rounding */
void le_vec_dot_q8_0_q8_0_ref(int n, float *s, const void *x, const void *y);
void le_q4_0_to_float_ref(const void *x, float *y, int64_t n);
void le_q4_0_from_float_ref(const float *x, void *y, int64_t n); /* quantize_row_q4_0_ref */
void le_vec_dot_q4_0_q8_0_ref(int n, float *s, const void *x, const void *y);
/* Q4_1, Q5_0, Q5_1, Q8_1 reference kernels (kernels_ref_q.c). */
void le_q4_1_to_float_ref(const void *x, float *y, int64_t n);
void le_q4_1_from_float_ref(const float *x, void *y, int64_t n);
void le_vec_dot_q4_1_q8_1_ref(int n, float *s, const void *x, const void *y);
void le_q5_0_to_float_ref(const void *x, float *y, int64_t n);
void le_q5_0_from_float_ref(const float *x, void *y, int64_t n);
void le_vec_dot_q5_0_q8_0_ref(int n, float *s, const void *x, const void *y);
void le_q5_1_to_float_ref(const void *x, float *y, int64_t n);
void le_q5_1_from_float_ref(const float *x, void *y, int64_t n);
void le_vec_dot_q5_1_q8_1_ref(int n, float *s, const void *x, const void *y);
void le_q8_1_to_float_ref(const void *x, float *y, int64_t n);
void le_q8_1_from_float_ref(const float *x, void *y, int64_t n);     /* quantize_row_q8_1_ref */
void le_q8_1_from_float_act_ref(const float *x, void *y, int64_t n); /* the CPU backend's rounding */
/* Shared by the reference quantizers: C's float -> int8 conversion without
 * undefined behaviour on NaN or out-of-range values. */
int8_t le_sat_i8(float v);

/* One matmul job: Y[n*ldy + r] for r in a row range, n in [0, N). */
struct le_gemm_job {
    const void *W;      /* rows x K of the weight type */
    size_t w_row_bytes; /* bytes per W row */
    const void *A;      /* the N activation rows in the gemm's act layout */
    size_t a_row_bytes; /* bytes per A row where the layout is row-major */
    int64_t K, N;
    float *Y;
    int64_t ldy;        /* = rows */
    le_vec_dot_fn vec_dot; /* for the generic (per-element) gemm */
};

/*
 * How one path (scalar or AVX2) multiplies by one weight type. The
 * activation layout is the gemm's own (row-major vec_dot_type rows, or
 * interleaved panels of several rows); the driver converts X in "units" of
 * act_unit(N) rows, split across threads.
 */
struct le_gemm_impl {
    /* Bytes of the converted activations; 0: the gemm reads X directly. */
    size_t (*act_bytes)(int64_t K, int64_t N);
    int64_t (*act_unit)(int64_t N); /* rows per conversion unit */
    /* Converts units [u0, u1) of X (N rows of K floats) into A. */
    void (*act_convert)(const float *X, void *A, int64_t K, int64_t N, int64_t u0, int64_t u1);
    /* a_row_bytes for the job (row-major layouts), else 0. */
    size_t (*act_row_bytes)(int64_t K, int64_t N);
    void (*gemm)(const struct le_gemm_job *job, int64_t r0, int64_t r1);
};

/* AVX2 kernels (kernels_avx2.c); only call when le_kernels_have_avx2(). */
int le_kernels_have_avx2(void);
void le_f16_to_float_avx2(const void *x, float *y, int64_t n);
void le_f16_from_float_avx2(const float *x, void *y, int64_t n);
void le_vec_dot_f32_avx2(int n, float *s, const void *x, const void *y);
void le_vec_dot_f16_avx2(int n, float *s, const void *x, const void *y);
void le_bf16_to_float_avx2(const void *x, float *y, int64_t n);
void le_bf16_from_float_avx2(const float *x, void *y, int64_t n);
void le_vec_dot_bf16_avx2(int n, float *s, const void *x, const void *y);
void le_q8_0_to_float_avx2(const void *x, float *y, int64_t n);
void le_q8_0_from_float_act_avx2(const float *x, void *y, int64_t n);
void le_q8_1_from_float_act_avx2(const float *x, void *y, int64_t n);
/* One 32-block of activations: quants as above, returns d = amax/127 before
 * its F16 rounding, *sum = sum of the quants (may be NULL). */
float le_q8_act_block_avx2(const float *x, int8_t *qs, int32_t *sum);
void le_vec_dot_q8_0_q8_0_avx2(int n, float *s, const void *x, const void *y);
void le_q4_0_to_float_avx2(const void *x, float *y, int64_t n);
void le_vec_dot_q4_0_q8_0_avx2(int n, float *s, const void *x, const void *y);
void le_vec_dot_q5_0_q8_0_avx2(int n, float *s, const void *x, const void *y);
void le_vec_dot_q4_1_q8_1_avx2(int n, float *s, const void *x, const void *y);
void le_vec_dot_q5_1_q8_1_avx2(int n, float *s, const void *x, const void *y);
/* AVX2 gemms, referenced by the type table: float weights (kernels_avx2.c)
 * and 32-block quantized weights (kernels_avx2_q.c). */
extern const struct le_gemm_impl le_gemm_avx2_f32, le_gemm_avx2_f16, le_gemm_avx2_bf16;
extern const struct le_gemm_impl le_gemm_avx2_q8_0, le_gemm_avx2_q4_0, le_gemm_avx2_q5_0, le_gemm_avx2_q4_1,
    le_gemm_avx2_q5_1;

/*
 * Teams (team.c): the nth workers of one le_pool_run running phases
 * together. Members take work items from a shared counter and meet at
 * barriers; each member holds its own le_member (base = where the current
 * phase's items start in the counter).
 */
struct le_team {
    int nth;
    _Alignas(64) atomic_int arrived;
    _Alignas(64) atomic_int gen;
    atomic_int sleepers;
    _Alignas(64) atomic_int_fast64_t next;
};
struct le_member {
    struct le_team *t;
    int ith;
    int64_t base;
};
void le_team_init(struct le_team *t, int nth);
void le_team_barrier(struct le_member *me);
/* The next item in [0, count) of the current phase, or -1 when none is
 * left; every member calls it until it returns -1, then meets the others
 * at a barrier before the next phase takes items. */
int64_t le_team_take(struct le_member *me, int64_t count);

/* Applied to activation rows [r0, r1) just before a matmul reads them
 * (e.g. the norm producing them), once per row. */
typedef void (*le_mm_prep_fn)(void *arg, int64_t r0, int64_t r1);

/*
 * le_matmul_multi run by a team: every member calls it with the same
 * arguments; returns after a barrier with Y complete. prep (may be NULL)
 * is applied to each row of X before its conversion. Errors (unsupported
 * type, bad K) are the same for every member and come before any work.
 */
int le_matmul_team(struct le_member *me, int wtype, int64_t K, const float *X, int64_t N,
                   const struct le_matmul_out *outs, int n_out, void *scratch, le_mm_prep_fn prep,
                   void *prep_arg);

#endif
