/*
 * types: the tensor type table (ggml's type traits) and the IEEE half /
 * bfloat16 conversions.
 *
 * Two constant tables describe every implemented type: one with the scalar
 * reference kernels, one with the AVX2+FMA+F16C kernels where they exist.
 * le_type_get picks the SIMD table when the CPU has those features (checked
 * per call with __builtin_cpu_supports, no mutable global state). Adding a
 * type = one entry in each table plus its kernels; types ggml knows but this
 * engine does not implement still have a name (for error messages) but
 * le_type_get returns NULL for them.
 */
#include "le_types.h"
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

/* ---- names of every ggml type number (implemented or not) ---- */

static const struct {
    int blck;
    int size;
    const char *name;
} le_type_names[LE_TYPE_COUNT] = {
    [LE_TYPE_F32] = {1, 4, "f32"},        [LE_TYPE_F16] = {1, 2, "f16"},
    [LE_TYPE_Q4_0] = {32, 18, "q4_0"},    [LE_TYPE_Q4_1] = {32, 20, "q4_1"},
    [LE_TYPE_Q5_0] = {32, 22, "q5_0"},    [LE_TYPE_Q5_1] = {32, 24, "q5_1"},
    [LE_TYPE_Q8_0] = {32, 34, "q8_0"},    [LE_TYPE_Q8_1] = {32, 36, "q8_1"},
    [LE_TYPE_Q2_K] = {256, 84, "q2_K"},   [LE_TYPE_Q3_K] = {256, 110, "q3_K"},
    [LE_TYPE_Q4_K] = {256, 144, "q4_K"},  [LE_TYPE_Q5_K] = {256, 176, "q5_K"},
    [LE_TYPE_Q6_K] = {256, 210, "q6_K"},  [LE_TYPE_Q8_K] = {256, 292, "q8_K"},
    [16] = {256, 66, "iq2_xxs"},          [17] = {256, 74, "iq2_xs"},
    [18] = {256, 98, "iq3_xxs"},          [19] = {256, 50, "iq1_s"},
    [20] = {32, 18, "iq4_nl"},            [21] = {256, 110, "iq3_s"},
    [22] = {256, 82, "iq2_s"},            [23] = {256, 136, "iq4_xs"},
    [24] = {1, 1, "i8"},                  [25] = {1, 2, "i16"},
    [26] = {1, 4, "i32"},                 [27] = {1, 8, "i64"},
    [28] = {1, 8, "f64"},                 [29] = {256, 56, "iq1_m"},
    [LE_TYPE_BF16] = {1, 2, "bf16"},
};

/* ---- the tables ---- */

#define LE_ENTRY_F32(dot)                                                                      \
    {.name = "f32", .blck_size = 1, .type_size = 4, .is_quantized = 0,                         \
     .to_float = le_f32_to_float_ref, .from_float = le_f32_from_float_ref,                      \
     .from_float_act = le_f32_from_float_ref, .vec_dot = dot, .vec_dot_type = LE_TYPE_F32}

/* Q4_1, Q5_0, Q5_1 (scalar quantizers; vec_dot per table) and Q8_1. */
#define LE_ENTRIES_Q5(dot41, dot50, dot51, act81)                                                         \
    [LE_TYPE_Q4_1] = {.name = "q4_1", .blck_size = 32, .type_size = sizeof(le_block_q4_1),       \
                      .is_quantized = 1, .to_float = le_q4_1_to_float_ref,                        \
                      .from_float = le_q4_1_from_float_ref, .from_float_act = le_q4_1_from_float_ref, \
                      .vec_dot = dot41, .vec_dot_type = LE_TYPE_Q8_1},                            \
    [LE_TYPE_Q5_0] = {.name = "q5_0", .blck_size = 32, .type_size = sizeof(le_block_q5_0),       \
                      .is_quantized = 1, .to_float = le_q5_0_to_float_ref,                        \
                      .from_float = le_q5_0_from_float_ref, .from_float_act = le_q5_0_from_float_ref, \
                      .vec_dot = dot50, .vec_dot_type = LE_TYPE_Q8_0},                            \
    [LE_TYPE_Q5_1] = {.name = "q5_1", .blck_size = 32, .type_size = sizeof(le_block_q5_1),       \
                      .is_quantized = 1, .to_float = le_q5_1_to_float_ref,                        \
                      .from_float = le_q5_1_from_float_ref, .from_float_act = le_q5_1_from_float_ref, \
                      .vec_dot = dot51, .vec_dot_type = LE_TYPE_Q8_1},                            \
    /* activation-only: no vec_dot of its own (le_matmul refuses it as a weight) */              \
    [LE_TYPE_Q8_1] = {.name = "q8_1", .blck_size = 32, .type_size = sizeof(le_block_q8_1),       \
                      .is_quantized = 1, .to_float = le_q8_1_to_float_ref,                        \
                      .from_float = le_q8_1_from_float_ref,                                       \
                      .from_float_act = act81, .vec_dot = NULL,                                  \
                      .vec_dot_type = LE_TYPE_Q8_1}

static const struct le_type_traits le_traits_ref[LE_TYPE_COUNT] = {
    [LE_TYPE_F32] = LE_ENTRY_F32(le_vec_dot_f32_ref),
    [LE_TYPE_F16] = {.name = "f16", .blck_size = 1, .type_size = 2, .is_quantized = 0,
                     .to_float = le_f16_to_float_ref, .from_float = le_f16_from_float_ref,
                     .from_float_act = le_f16_from_float_ref, .vec_dot = le_vec_dot_f16_ref,
                     .vec_dot_type = LE_TYPE_F16},
    [LE_TYPE_BF16] = {.name = "bf16", .blck_size = 1, .type_size = 2, .is_quantized = 0,
                      .to_float = le_bf16_to_float_ref, .from_float = le_bf16_from_float_ref,
                      .from_float_act = le_bf16_from_float_ref, .vec_dot = le_vec_dot_bf16_ref,
                      .vec_dot_type = LE_TYPE_BF16},
    [LE_TYPE_Q8_0] = {.name = "q8_0", .blck_size = LE_QK8_0, .type_size = sizeof(le_block_q8_0),
                      .is_quantized = 1, .to_float = le_q8_0_to_float_ref,
                      .from_float = le_q8_0_from_float_ref,
                      .from_float_act = le_q8_0_from_float_act_ref,
                      .vec_dot = le_vec_dot_q8_0_q8_0_ref, .vec_dot_type = LE_TYPE_Q8_0},
    [LE_TYPE_Q4_0] = {.name = "q4_0", .blck_size = LE_QK4_0, .type_size = sizeof(le_block_q4_0),
                      .is_quantized = 1, .to_float = le_q4_0_to_float_ref,
                      .from_float = le_q4_0_from_float_ref,
                      .from_float_act = le_q4_0_from_float_ref,
                      .vec_dot = le_vec_dot_q4_0_q8_0_ref, .vec_dot_type = LE_TYPE_Q8_0},
    LE_ENTRIES_Q5(le_vec_dot_q4_1_q8_1_ref, le_vec_dot_q5_0_q8_0_ref, le_vec_dot_q5_1_q8_1_ref,
                  le_q8_1_from_float_act_ref),
};

static const struct le_type_traits le_traits_avx2[LE_TYPE_COUNT] = {
    [LE_TYPE_F32] = LE_ENTRY_F32(le_vec_dot_f32_avx2),
    [LE_TYPE_F16] = {.name = "f16", .blck_size = 1, .type_size = 2, .is_quantized = 0,
                     .to_float = le_f16_to_float_avx2, .from_float = le_f16_from_float_avx2,
                     .from_float_act = le_f16_from_float_avx2, .vec_dot = le_vec_dot_f16_avx2,
                     .vec_dot_type = LE_TYPE_F16},
    [LE_TYPE_BF16] = {.name = "bf16", .blck_size = 1, .type_size = 2, .is_quantized = 0,
                      .to_float = le_bf16_to_float_avx2, .from_float = le_bf16_from_float_avx2,
                      .from_float_act = le_bf16_from_float_avx2, .vec_dot = le_vec_dot_bf16_avx2,
                      .vec_dot_type = LE_TYPE_BF16},
    [LE_TYPE_Q8_0] = {.name = "q8_0", .blck_size = LE_QK8_0, .type_size = sizeof(le_block_q8_0),
                      .is_quantized = 1, .to_float = le_q8_0_to_float_avx2,
                      .from_float = le_q8_0_from_float_ref,
                      .from_float_act = le_q8_0_from_float_act_avx2,
                      .vec_dot = le_vec_dot_q8_0_q8_0_avx2, .vec_dot_type = LE_TYPE_Q8_0},
    [LE_TYPE_Q4_0] = {.name = "q4_0", .blck_size = LE_QK4_0, .type_size = sizeof(le_block_q4_0),
                      .is_quantized = 1, .to_float = le_q4_0_to_float_avx2,
                      .from_float = le_q4_0_from_float_ref,
                      .from_float_act = le_q4_0_from_float_ref,
                      .vec_dot = le_vec_dot_q4_0_q8_0_avx2, .vec_dot_type = LE_TYPE_Q8_0},
    LE_ENTRIES_Q5(le_vec_dot_q4_1_q8_1_avx2, le_vec_dot_q5_0_q8_0_avx2, le_vec_dot_q5_1_q8_1_avx2,
                  le_q8_1_from_float_act_avx2),
};

const struct le_type_traits *le_type_get_ref(int type) {
    if (type < 0 || type >= LE_TYPE_COUNT || !le_traits_ref[type].name)
        return NULL;
    return &le_traits_ref[type];
}

const struct le_type_traits *le_type_get(int type) {
    const struct le_type_traits *t = le_type_get_ref(type);
    if (t && le_kernels_have_avx2() && le_traits_avx2[type].name)
        return &le_traits_avx2[type];
    return t;
}

const char *le_type_name(int type) {
    if (type < 0 || type >= LE_TYPE_COUNT || !le_type_names[type].name)
        return "unknown";
    return le_type_names[type].name;
}

int le_type_from_name(const char *name) {
    if (!name)
        return -1;
    for (int t = 0; t < LE_TYPE_COUNT; t++)
        if (le_type_names[t].name && strcasecmp(le_type_names[t].name, name) == 0)
            return t;
    return -1;
}

size_t le_type_row_size(int type, int64_t n) {
    if (type < 0 || type >= LE_TYPE_COUNT || !le_type_names[type].name || n < 0)
        return 0;
    int64_t blck = le_type_names[type].blck;
    if (n % blck != 0)
        return 0;
    return (size_t)(n / blck) * (size_t)le_type_names[type].size;
}
