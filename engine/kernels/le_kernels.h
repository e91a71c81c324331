/*
 * le_kernels: private interface between the type table (types.c), the
 * matmul driver (types_matmul.c) and the kernels: kernels_ref.c,
 * kernels_ref_q.c and kernels_ref_k.c (scalar; quant_k.c: the K-quant
 * quantizers), kernels_avx2.c (float types, conversions, activation
 * quantizers), kernels_avx2_q.c (32-block quantized gemms) and
 * kernels_avx2_k.c (K-quant gemms). Not for use outside engine/.
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

#include <math.h> /* fabsf */
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

/* K-quants: super-blocks of 256 (ggml's QK_K) in 16 groups of 16 or 8 of 32. */
#define LE_QK_K 256

typedef struct {
    uint8_t scales[16]; /* group g: low nibble scale, high nibble min */
    uint8_t qs[64];     /* 2-bit quants */
    uint16_t d, dmin;   /* half super-block scale for scales and mins */
} le_block_q2_K;        /* x = d*sc*q - dmin*m */

typedef struct {
    uint8_t hmask[32];  /* high bits */
    uint8_t qs[64];     /* low 2 bits */
    uint8_t scales[12]; /* 16 6-bit scales, packed */
    uint16_t d;
} le_block_q3_K;        /* x = d*(sc-32)*(q-4) */

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12]; /* 8 6-bit scales and 8 6-bit mins, packed */
    uint8_t qs[128];    /* 4-bit quants */
} le_block_q4_K;        /* x = d*sc*q - dmin*m */

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];     /* 5th bits */
    uint8_t qs[128];    /* low 4 bits */
} le_block_q5_K;

typedef struct {
    uint8_t ql[128];    /* low 4 bits */
    uint8_t qh[64];     /* high 2 bits */
    int8_t scales[16];
    uint16_t d;
} le_block_q6_K;        /* x = d*sc*(q-32) */

typedef struct {
    float d;            /* float32 scale */
    int8_t qs[LE_QK_K];
    int16_t bsums[16];  /* sums of the 16 groups of 16 quants */
} le_block_q8_K;

_Static_assert(sizeof(le_block_q2_K) == 84, "q2_K block must be 84 bytes");
_Static_assert(sizeof(le_block_q3_K) == 110, "q3_K block must be 110 bytes");
_Static_assert(sizeof(le_block_q4_K) == 144, "q4_K block must be 144 bytes");
_Static_assert(sizeof(le_block_q5_K) == 176, "q5_K block must be 176 bytes");
_Static_assert(sizeof(le_block_q6_K) == 210, "q6_K block must be 210 bytes");
_Static_assert(sizeof(le_block_q8_K) == 292, "q8_K block must be 292 bytes");

/*
 * Every K-quant super-block in one unpacked form: element e (group g =
 * e/16) is x = (d*sc[g])*(q[e] - off) - dmin*mn[g], with q unsigned (0..63)
 * and off 0 (Q2_K, Q4_K, Q5_K), 4 (Q3_K) or 32 (Q6_K); groups of 32 have
 * their scale and min twice. A vec_dot against Q8_K is then exact integers
 * per super-block: isum = sum_g sc[g]*(sum q*y - off*bsum[g]), msum =
 * sum_g mn[g]*bsum[g]; then s += (d*dy)*isum; s -= (dmin*dy)*msum in float
 * (both paths, so scalar and AVX2 agree bit for bit).
 */
struct le_ksb {
    uint8_t q[LE_QK_K];
    int16_t sc[16], mn[16];
    float d, dmin;
};
/* Unpacks super-block b of a row of type T (a K-quant); returns off. */
typedef int (*le_kunpack_fn)(const void *row, int64_t b, struct le_ksb *out);
int le_q2_K_unpack(const void *row, int64_t b, struct le_ksb *out);
int le_q3_K_unpack(const void *row, int64_t b, struct le_ksb *out);
int le_q4_K_unpack(const void *row, int64_t b, struct le_ksb *out);
int le_q5_K_unpack(const void *row, int64_t b, struct le_ksb *out);
int le_q6_K_unpack(const void *row, int64_t b, struct le_ksb *out);

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
/* K-quant reference kernels (kernels_ref_k.c: dequantize, Q8_K, vec_dot;
 * quant_k.c: ggml's reference quantizers with their scale searches). */
void le_q2_K_to_float_ref(const void *x, float *y, int64_t n);
void le_q3_K_to_float_ref(const void *x, float *y, int64_t n);
void le_q4_K_to_float_ref(const void *x, float *y, int64_t n);
void le_q5_K_to_float_ref(const void *x, float *y, int64_t n);
void le_q6_K_to_float_ref(const void *x, float *y, int64_t n);
void le_q8_K_to_float_ref(const void *x, float *y, int64_t n);
void le_q2_K_from_float_ref(const float *x, void *y, int64_t n); /* quantize_row_q2_K_ref */
void le_q3_K_from_float_ref(const float *x, void *y, int64_t n);
void le_q4_K_from_float_ref(const float *x, void *y, int64_t n);
void le_q5_K_from_float_ref(const float *x, void *y, int64_t n);
void le_q6_K_from_float_ref(const float *x, void *y, int64_t n);
void le_q8_K_from_float_ref(const float *x, void *y, int64_t n); /* also the CPU backend's */
void le_vec_dot_q2_K_q8_K_ref(int n, float *s, const void *x, const void *y);
void le_vec_dot_q3_K_q8_K_ref(int n, float *s, const void *x, const void *y);
void le_vec_dot_q4_K_q8_K_ref(int n, float *s, const void *x, const void *y);
void le_vec_dot_q5_K_q8_K_ref(int n, float *s, const void *x, const void *y);
void le_vec_dot_q6_K_q8_K_ref(int n, float *s, const void *x, const void *y);
/* ggml's nearest_int: round to nearest even through the float adder (for
 * |v| < 2^22; defined, if meaningless, for any other value). */
static inline int le_nearest_int(float v) {
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}
/* Shared by the reference quantizers: C's float -> int8 conversion without
 * undefined behaviour on NaN or out-of-range values. */
int8_t le_sat_i8(float v);
/* The element of largest magnitude (the first of ties), as ggml's
 * quantizers find it (Q4_0, Q5_0, make_q*_quants); *amax gets its
 * magnitude. */
static inline float le_signed_absmax(int n, const float *x, float *amax) {
    float max = 0.0f;
    *amax = 0.0f;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > *amax) {
            *amax = ax;
            max = x[i];
        }
    }
    return max;
}

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

/* AVX2 kernels (kernels_avx2.c); only call when le_cpu_avx2() (le_cpu.h). */
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
/* Decode (kernels_gemv.c): rows [r0, r1) x the job's N (< 4) row-major
 * activation rows (float for F32, Q8_0 for Q4_0/Q8_0); the same per-element
 * arithmetic as the gemms. The quantized ones return 0 (nothing done) when
 * K is beyond their stack buffers. */
void le_gemv_f32_avx2(const struct le_gemm_job *j, int64_t r0, int64_t r1);
int le_gemv_q4_0_avx2(const struct le_gemm_job *j, int64_t r0, int64_t r1);
int le_gemv_q8_0_avx2(const struct le_gemm_job *j, int64_t r0, int64_t r1);
/* Batches of Q8_0 / Q4_0 (q8 = 1 / 0) on AVX-512 VNNI (kernels_x512_q.c):
 * le_x512q_use(N) says whether the CPU and N take this path; activations
 * in panels of le_x512q_act_unit() rows. Bit-identical to the AVX2 gemm. */
int le_x512q_use(int64_t N);
int64_t le_x512q_act_unit(void);
size_t le_x512q_act_bytes(int64_t K, int64_t N);
void le_x512q_act_convert(int q8, const float *X, void *A, int64_t K, int64_t N, int64_t u0, int64_t u1);
void le_x512q_gemm(int q8, const struct le_gemm_job *j, int64_t r0, int64_t r1);
/* K-quants (kernels_avx2_k.c): gemms and dot products, bit-identical to the
 * reference ones. */
extern const struct le_gemm_impl le_gemm_avx2_q2_K, le_gemm_avx2_q3_K, le_gemm_avx2_q4_K, le_gemm_avx2_q5_K,
    le_gemm_avx2_q6_K;
void le_vec_dot_q2_K_q8_K_avx2(int n, float *s, const void *x, const void *y);
void le_vec_dot_q3_K_q8_K_avx2(int n, float *s, const void *x, const void *y);
void le_vec_dot_q4_K_q8_K_avx2(int n, float *s, const void *x, const void *y);
void le_vec_dot_q5_K_q8_K_avx2(int n, float *s, const void *x, const void *y);
void le_vec_dot_q6_K_q8_K_avx2(int n, float *s, const void *x, const void *y);

/*
 * Teams (team.c): the nth workers of one le_pool_run running phases
 * together. Members take work items from a shared counter and meet at
 * barriers; each member holds its own le_member (base = where the current
 * phase's items start in the counter).
 */
#define LE_TEAM_OWN 16 /* members with counters of their own (le_team_take_on) */
struct le_team {
    int nth;
    _Alignas(64) atomic_int arrived;
    _Alignas(64) atomic_int gen;
    atomic_int sleepers;
    _Alignas(64) atomic_int_fast64_t next;
    struct {
        _Alignas(64) atomic_int_fast64_t n;
    } own[LE_TEAM_OWN];
};
struct le_member {
    struct le_team *t;
    int ith;
    int64_t base;
    int64_t obase[LE_TEAM_OWN]; /* le_team_take_on's bases, one per counter */
};
void le_team_init(struct le_team *t, int nth);
void le_team_barrier(struct le_member *me);
/* The next item in [0, count) of the current phase, or -1 when none is
 * left; every member calls it until it returns -1, then meets the others
 * at a barrier before the next phase takes items. */
int64_t le_team_take(struct le_member *me, int64_t count);
/* The same on counter k < min(nth, LE_TEAM_OWN) of the team's own-range
 * counters (work split into one range per member, each member first
 * taking from its own, then from the others'): within a phase every member
 * takes from each counter it uses until that returns -1, and uses either
 * all of them or none. */
int64_t le_team_take_on(struct le_member *me, int k, int64_t count);

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
/*
 * The same, but every member converts all of X into its OWN scratch (each
 * member passes its own; sized by le_matmul_scratch_size) and goes straight
 * to the gemm: no barrier before it, for a few rows (decode) where
 * converting them is cheaper than the members meeting. Y is the same.
 */
int le_matmul_team_own(struct le_member *me, int wtype, int64_t K, const float *X, int64_t N,
                       const struct le_matmul_out *outs, int n_out, void *scratch);

#endif
