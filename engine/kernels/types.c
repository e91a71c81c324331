/*
 * types: the tensor type table (ggml's type traits) and the IEEE half /
 * bfloat16 conversions.
 *
 * ONE table (LE_TYPE_TABLE below) has a row per ggml type number: name,
 * block size, bytes per block, vec_dot_type, the scalar reference kernels,
 * the AVX2 kernels and the AVX2 gemm. Two constant trait arrays are expanded
 * from it (reference, AVX2); le_type_get picks the AVX2 one when the CPU has
 * AVX2+FMA+F16C (le_cpu_avx2, the engine's one CPU probe). Names and sizes (le_type_name, le_type_row_size,
 * le_type_info, which the GGUF reader and writer use) and the matmul
 * dispatch (traits.gemm) read the same rows. Adding a type = one row plus
 * its kernels. Types ggml knows but this engine does not implement have a
 * row without kernels (a name for messages, sizes for GGUF files) and
 * le_type_get returns NULL for them.
 */
#include "le_types.h"
#include "le_err.h" /* le_err_set */
#include "le_cpu.h"  /* le_cpu_avx2 */
#include "le_kernels.h"

#include <strings.h> /* strcasecmp */

/* ---- half / bfloat16 ---- */

uint16_t le_fp32_to_fp16(float f) {
    uint32_t x = le_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: quiet, top payload bits kept (as F16C) */
        return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    if (ax >= 0x477ff000u) /* >= 65520 rounds to infinity */
        return (uint16_t)(sign | 0x7c00);
    if (ax >= 0x38800000u) { /* normal half: round mantissa to nearest even */
        uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);
        return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
    }
    /* subnormal half (or zero): m = rne(|f| * 2^24); adding 2^23 rounds it */
    float t = le_f32_from_bits(ax) * 0x1p24f + 0x1p23f;
    return (uint16_t)(sign | (le_f32_bits(t) - 0x4b000000u));
}

float le_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) /* inf, or NaN made quiet (as F16C) */
        return le_f32_from_bits(sign | 0x7f800000u | (m << 13) | (m ? 0x00400000u : 0));
    if (e == 0) {
        float v = (float)m * 0x1p-24f;
        return sign ? -v : v;
    }
    return le_f32_from_bits(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t le_fp32_to_bf16(float f) {
    uint32_t u = le_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: force quiet (ggml) */
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

float le_bf16_to_fp32(uint16_t h) {
    return le_f32_from_bits((uint32_t)h << 16);
}

/* ---- the table ---- */

/* Kernel columns: to_float, from_float (ggml's reference quantizer),
 * from_float_act (how ggml's CPU backend rounds matmul activations),
 * vec_dot (against vec_dot_type). */
#define LE_K(tf, ff, fa, vd) .to_float = tf, .from_float = ff, .from_float_act = fa, .vec_dot = vd
#define LE_K_NONE LE_K(NULL, NULL, NULL, NULL)

/*
 * Columns: type number, name, elements per block, bytes per block,
 * quantized, vec_dot_type, reference kernels, AVX2 kernels (a reference one
 * where no faster one exists), AVX2 gemm (NULL: one vec_dot per output).
 * Activation-only types (Q8_1, Q8_K) have no vec_dot: le_matmul refuses
 * them as weights.
 */
#define LE_TYPE_TABLE(X)                                                                                          \
    X(LE_TYPE_F32, "f32", 1, 4, 0, LE_TYPE_F32,                                                                   \
      LE_K(le_f32_to_float_ref, le_f32_from_float_ref, le_f32_from_float_ref, le_vec_dot_f32_ref),               \
      LE_K(le_f32_to_float_ref, le_f32_from_float_ref, le_f32_from_float_ref, le_vec_dot_f32_avx2),              \
      &le_gemm_avx2_f32)                                                                                          \
    X(LE_TYPE_F16, "f16", 1, 2, 0, LE_TYPE_F16,                                                                   \
      LE_K(le_f16_to_float_ref, le_f16_from_float_ref, le_f16_from_float_ref, le_vec_dot_f16_ref),               \
      LE_K(le_f16_to_float_avx2, le_f16_from_float_avx2, le_f16_from_float_avx2, le_vec_dot_f16_avx2),           \
      &le_gemm_avx2_f16)                                                                                          \
    X(LE_TYPE_BF16, "bf16", 1, 2, 0, LE_TYPE_BF16,                                                                \
      LE_K(le_bf16_to_float_ref, le_bf16_from_float_ref, le_bf16_from_float_ref, le_vec_dot_bf16_ref),           \
      LE_K(le_bf16_to_float_avx2, le_bf16_from_float_avx2, le_bf16_from_float_avx2, le_vec_dot_bf16_avx2),       \
      &le_gemm_avx2_bf16)                                                                                         \
    X(LE_TYPE_Q8_0, "q8_0", 32, 34, 1, LE_TYPE_Q8_0,                                                              \
      LE_K(le_q8_0_to_float_ref, le_q8_0_from_float_ref, le_q8_0_from_float_act_ref, le_vec_dot_q8_0_q8_0_ref),  \
      LE_K(le_q8_0_to_float_avx2, le_q8_0_from_float_ref, le_q8_0_from_float_act_avx2, le_vec_dot_q8_0_q8_0_avx2), \
      &le_gemm_avx2_q8_0)                                                                                         \
    X(LE_TYPE_Q4_0, "q4_0", 32, 18, 1, LE_TYPE_Q8_0,                                                              \
      LE_K(le_q4_0_to_float_ref, le_q4_0_from_float_ref, le_q4_0_from_float_ref, le_vec_dot_q4_0_q8_0_ref),      \
      LE_K(le_q4_0_to_float_avx2, le_q4_0_from_float_ref, le_q4_0_from_float_ref, le_vec_dot_q4_0_q8_0_avx2),    \
      &le_gemm_avx2_q4_0)                                                                                         \
    X(LE_TYPE_Q4_1, "q4_1", 32, 20, 1, LE_TYPE_Q8_1,                                                              \
      LE_K(le_q4_1_to_float_ref, le_q4_1_from_float_ref, le_q4_1_from_float_ref, le_vec_dot_q4_1_q8_1_ref),      \
      LE_K(le_q4_1_to_float_ref, le_q4_1_from_float_ref, le_q4_1_from_float_ref, le_vec_dot_q4_1_q8_1_avx2),     \
      &le_gemm_avx2_q4_1)                                                                                         \
    X(LE_TYPE_Q5_0, "q5_0", 32, 22, 1, LE_TYPE_Q8_0,                                                              \
      LE_K(le_q5_0_to_float_ref, le_q5_0_from_float_ref, le_q5_0_from_float_ref, le_vec_dot_q5_0_q8_0_ref),      \
      LE_K(le_q5_0_to_float_ref, le_q5_0_from_float_ref, le_q5_0_from_float_ref, le_vec_dot_q5_0_q8_0_avx2),     \
      &le_gemm_avx2_q5_0)                                                                                         \
    X(LE_TYPE_Q5_1, "q5_1", 32, 24, 1, LE_TYPE_Q8_1,                                                              \
      LE_K(le_q5_1_to_float_ref, le_q5_1_from_float_ref, le_q5_1_from_float_ref, le_vec_dot_q5_1_q8_1_ref),      \
      LE_K(le_q5_1_to_float_ref, le_q5_1_from_float_ref, le_q5_1_from_float_ref, le_vec_dot_q5_1_q8_1_avx2),     \
      &le_gemm_avx2_q5_1)                                                                                         \
    X(LE_TYPE_Q8_1, "q8_1", 32, 36, 1, LE_TYPE_Q8_1,                                                              \
      LE_K(le_q8_1_to_float_ref, le_q8_1_from_float_ref, le_q8_1_from_float_act_ref, NULL),                      \
      LE_K(le_q8_1_to_float_ref, le_q8_1_from_float_ref, le_q8_1_from_float_act_avx2, NULL), NULL)               \
    X(LE_TYPE_Q2_K, "q2_K", 256, 84, 1, LE_TYPE_Q8_K,                                                            \
      LE_K(le_q2_K_to_float_ref, le_q2_K_from_float_ref, le_q2_K_from_float_ref, le_vec_dot_q2_K_q8_K_ref),      \
      LE_K(le_q2_K_to_float_ref, le_q2_K_from_float_ref, le_q2_K_from_float_ref, le_vec_dot_q2_K_q8_K_avx2),     \
      &le_gemm_avx2_q2_K)                                                                                         \
    X(LE_TYPE_Q3_K, "q3_K", 256, 110, 1, LE_TYPE_Q8_K,                                                            \
      LE_K(le_q3_K_to_float_ref, le_q3_K_from_float_ref, le_q3_K_from_float_ref, le_vec_dot_q3_K_q8_K_ref),      \
      LE_K(le_q3_K_to_float_ref, le_q3_K_from_float_ref, le_q3_K_from_float_ref, le_vec_dot_q3_K_q8_K_avx2),     \
      &le_gemm_avx2_q3_K)                                                                                         \
    X(LE_TYPE_Q4_K, "q4_K", 256, 144, 1, LE_TYPE_Q8_K,                                                            \
      LE_K(le_q4_K_to_float_ref, le_q4_K_from_float_ref, le_q4_K_from_float_ref, le_vec_dot_q4_K_q8_K_ref),      \
      LE_K(le_q4_K_to_float_ref, le_q4_K_from_float_ref, le_q4_K_from_float_ref, le_vec_dot_q4_K_q8_K_avx2),     \
      &le_gemm_avx2_q4_K)                                                                                         \
    X(LE_TYPE_Q5_K, "q5_K", 256, 176, 1, LE_TYPE_Q8_K,                                                            \
      LE_K(le_q5_K_to_float_ref, le_q5_K_from_float_ref, le_q5_K_from_float_ref, le_vec_dot_q5_K_q8_K_ref),      \
      LE_K(le_q5_K_to_float_ref, le_q5_K_from_float_ref, le_q5_K_from_float_ref, le_vec_dot_q5_K_q8_K_avx2),     \
      &le_gemm_avx2_q5_K)                                                                                         \
    X(LE_TYPE_Q6_K, "q6_K", 256, 210, 1, LE_TYPE_Q8_K,                                                            \
      LE_K(le_q6_K_to_float_ref, le_q6_K_from_float_ref, le_q6_K_from_float_ref, le_vec_dot_q6_K_q8_K_ref),      \
      LE_K(le_q6_K_to_float_ref, le_q6_K_from_float_ref, le_q6_K_from_float_ref, le_vec_dot_q6_K_q8_K_avx2),     \
      &le_gemm_avx2_q6_K)                                                                                         \
    X(LE_TYPE_Q8_K, "q8_K", 256, 292, 1, LE_TYPE_Q8_K,                                                            \
      LE_K(le_q8_K_to_float_ref, le_q8_K_from_float_ref, le_q8_K_from_float_ref, NULL),                          \
      LE_K(le_q8_K_to_float_ref, le_q8_K_from_float_ref, le_q8_K_from_float_ref, NULL), NULL)                    \
    LE_NAME_ONLY(X)

/* ggml type numbers this engine only names (GGUF files may hold them). */
#define LE_NAME_ONLY(X)                                                                                           \
    X(16, "iq2_xxs", 256, 66, 1, 16, LE_K_NONE, LE_K_NONE, NULL)                                                  \
    X(17, "iq2_xs", 256, 74, 1, 17, LE_K_NONE, LE_K_NONE, NULL)                                                   \
    X(18, "iq3_xxs", 256, 98, 1, 18, LE_K_NONE, LE_K_NONE, NULL)                                                  \
    X(19, "iq1_s", 256, 50, 1, 19, LE_K_NONE, LE_K_NONE, NULL)                                                    \
    X(20, "iq4_nl", 32, 18, 1, 20, LE_K_NONE, LE_K_NONE, NULL)                                                    \
    X(21, "iq3_s", 256, 110, 1, 21, LE_K_NONE, LE_K_NONE, NULL)                                                   \
    X(22, "iq2_s", 256, 82, 1, 22, LE_K_NONE, LE_K_NONE, NULL)                                                    \
    X(23, "iq4_xs", 256, 136, 1, 23, LE_K_NONE, LE_K_NONE, NULL)                                                  \
    X(24, "i8", 1, 1, 0, 24, LE_K_NONE, LE_K_NONE, NULL)                                                          \
    X(25, "i16", 1, 2, 0, 25, LE_K_NONE, LE_K_NONE, NULL)                                                         \
    X(26, "i32", 1, 4, 0, 26, LE_K_NONE, LE_K_NONE, NULL)                                                         \
    X(27, "i64", 1, 8, 0, 27, LE_K_NONE, LE_K_NONE, NULL)                                                         \
    X(28, "f64", 1, 8, 0, 28, LE_K_NONE, LE_K_NONE, NULL)                                                         \
    X(29, "iq1_m", 256, 56, 1, 29, LE_K_NONE, LE_K_NONE, NULL)                                                    \
    X(34, "tq1_0", 256, 54, 1, 34, LE_K_NONE, LE_K_NONE, NULL)                                                    \
    X(35, "tq2_0", 256, 66, 1, 35, LE_K_NONE, LE_K_NONE, NULL)                                                    \
    X(39, "mxfp4", 32, 17, 1, 39, LE_K_NONE, LE_K_NONE, NULL)

#define LE_ROW_REF(T, nm, bl, sz, q, vdt, ref, avx2, gm)                                                          \
    [T] = {.name = nm, .blck_size = bl, .type_size = sz, .is_quantized = q, ref, .vec_dot_type = vdt, .gemm = NULL},
#define LE_ROW_AVX2(T, nm, bl, sz, q, vdt, ref, avx2, gm)                                                         \
    [T] = {.name = nm, .blck_size = bl, .type_size = sz, .is_quantized = q, avx2, .vec_dot_type = vdt, .gemm = gm},

static const struct le_type_traits le_types_ref[LE_TYPE_COUNT] = {LE_TYPE_TABLE(LE_ROW_REF)};
static const struct le_type_traits le_types_avx2[LE_TYPE_COUNT] = {LE_TYPE_TABLE(LE_ROW_AVX2)};

/* The row of a known type number (kernels or not), else NULL. */
static const struct le_type_traits *le_row(int type) {
    if (type < 0 || type >= LE_TYPE_COUNT || !le_types_ref[type].name)
        return NULL;
    return &le_types_ref[type];
}

const struct le_type_traits *le_type_get_ref(int type) {
    const struct le_type_traits *t = le_row(type);
    return t && t->to_float ? t : NULL;
}

const struct le_type_traits *le_type_get(int type) {
    const struct le_type_traits *t = le_type_get_ref(type);
    return t && le_cpu_avx2() ? &le_types_avx2[type] : t;
}

const char *le_type_name(int type) {
    const struct le_type_traits *t = le_row(type);
    return t ? t->name : "unknown";
}

int le_type_from_name(const char *name) {
    if (!name)
        return -1;
    for (int t = 0; t < LE_TYPE_COUNT; t++)
        if (le_types_ref[t].name && strcasecmp(le_types_ref[t].name, name) == 0)
            return t;
    return -1;
}

size_t le_type_row_size(int type, int64_t n) {
    const struct le_type_traits *t = le_row(type);
    if (!t || n < 0 || n % t->blck_size != 0)
        return 0;
    return (size_t)(n / t->blck_size) * t->type_size;
}

int le_type_info(int type, int64_t *blck, size_t *type_size, const char **name) {
    const struct le_type_traits *t = le_row(type);
    if (!t)
        return le_err_set(LE_EFORMAT, "unknown ggml type %d", type);
    if (blck)
        *blck = t->blck_size;
    if (type_size)
        *type_size = t->type_size;
    if (name)
        *name = t->name;
    return LE_OK;
}
