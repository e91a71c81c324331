/*
 * test_types: the tensor type table and its kernels.
 *
 * Table-driven over every implemented type (a new entry is tested the day
 * it is added): SIMD kernels against the scalar _ref ones (to_float,
 * from_float, from_float_act bit-identical; vec_dot within a named per-type
 * tolerance), half/bfloat16 conversions exhaustively and at the rounding
 * edges, and byte-exact agreement with llama.cpp's quantizers
 * (../shared/oracle/quant, skipped when absent).
 */
// ctest-labels: unit golden
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le_err.h"  /* LE_EFORMAT */
#include "le_test.h"
#include "le_types.h" /* the table under test */

/* Every weight type the engine computes with, and its vec_dot tolerance
 * relative to sum |x_i y_i| of the dequantized values: float accumulation
 * in another order than _ref; for the Q8_1 types also the F16 rounding of
 * s = d*sum(q), which multiplies the weight block's minimum (ggml's design).
 * 0: SIMD and _ref bit-identical (the K-quants), and within 2e-6 of exact. */
static const struct {
    int type;
    double dot_tol;
} le_impl_types[] = {
    {LE_TYPE_F32, 2e-6},  {LE_TYPE_F16, 2e-6},  {LE_TYPE_BF16, 2e-6}, {LE_TYPE_Q8_0, 2e-6},
    {LE_TYPE_Q4_0, 2e-6}, {LE_TYPE_Q4_1, 2e-3}, {LE_TYPE_Q5_0, 2e-6}, {LE_TYPE_Q5_1, 2e-3},
    {LE_TYPE_Q2_K, 0},    {LE_TYPE_Q3_K, 0},    {LE_TYPE_Q4_K, 0},    {LE_TYPE_Q5_K, 0},
    {LE_TYPE_Q6_K, 0},
};
#define LE_N_IMPL (sizeof le_impl_types / sizeof le_impl_types[0])

static uint64_t rng_state = 0x9e3779b97f4a7c15ull; /* le_test_xorshift, le_test_normal */
static float f_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Random row with varied magnitudes per 32-block (and exact ties for the
 * quantizers' rounding now and then). */
static void fill_row(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 32) {
        float scale = (float)ldexp(1.0, (int)(le_test_xorshift(&rng_state) % 12) - 6);
        for (int64_t j = i; j < i + 32 && j < n; j++)
            x[j] = le_test_normal(&rng_state) * scale;
        if (le_test_xorshift(&rng_state) % 4 == 0 && i + 32 <= n) /* integer-ish block: ties */
            for (int64_t j = i; j < i + 32; j++)
                x[j] = (float)((int)(le_test_xorshift(&rng_state) % 255) - 127) * 0.5f;
    }
}

/* ---- the table ---- */

static void table_should_describe_ggml_types(void **state) {
    (void)state;
    static const struct {
        int type;
        const char *name;
        int blck;
        size_t size;
        int quant;
    } want[] = {
        {LE_TYPE_F32, "f32", 1, 4, 0},   {LE_TYPE_F16, "f16", 1, 2, 0},
        {LE_TYPE_BF16, "bf16", 1, 2, 0}, {LE_TYPE_Q8_0, "q8_0", 32, 34, 1},
        {LE_TYPE_Q4_0, "q4_0", 32, 18, 1}, {LE_TYPE_Q4_1, "q4_1", 32, 20, 1},
        {LE_TYPE_Q5_0, "q5_0", 32, 22, 1}, {LE_TYPE_Q5_1, "q5_1", 32, 24, 1},
        {LE_TYPE_Q8_1, "q8_1", 32, 36, 1}, {LE_TYPE_Q2_K, "q2_K", 256, 84, 1},
        {LE_TYPE_Q3_K, "q3_K", 256, 110, 1}, {LE_TYPE_Q4_K, "q4_K", 256, 144, 1},
        {LE_TYPE_Q5_K, "q5_K", 256, 176, 1}, {LE_TYPE_Q6_K, "q6_K", 256, 210, 1},
        {LE_TYPE_Q8_K, "q8_K", 256, 292, 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct le_type_traits *t = le_type_get(want[i].type);
        const struct le_type_traits *r = le_type_get_ref(want[i].type);
        assert_non_null(t);
        assert_non_null(r);
        assert_string_equal(t->name, want[i].name);
        assert_string_equal(le_type_name(want[i].type), want[i].name);
        assert_int_equal(le_type_from_name(want[i].name), want[i].type);
        assert_int_equal(t->blck_size, want[i].blck);
        assert_int_equal(t->type_size, want[i].size);
        assert_int_equal(t->is_quantized, want[i].quant);
        assert_int_equal(r->blck_size, want[i].blck);
        assert_int_equal(r->vec_dot_type, t->vec_dot_type);
        assert_int_equal(le_type_row_size(want[i].type, 256), 256 / want[i].blck * want[i].size);
    }
    assert_int_equal(le_type_get(LE_TYPE_Q4_0)->vec_dot_type, LE_TYPE_Q8_0);
    assert_int_equal(le_type_get(LE_TYPE_Q8_0)->vec_dot_type, LE_TYPE_Q8_0);
    assert_int_equal(le_type_get(LE_TYPE_F16)->vec_dot_type, LE_TYPE_F16);
    assert_int_equal(le_type_get(LE_TYPE_BF16)->vec_dot_type, LE_TYPE_BF16);
    assert_int_equal(le_type_get(LE_TYPE_Q4_1)->vec_dot_type, LE_TYPE_Q8_1);
    assert_int_equal(le_type_get(LE_TYPE_Q5_0)->vec_dot_type, LE_TYPE_Q8_0);
    assert_int_equal(le_type_get(LE_TYPE_Q5_1)->vec_dot_type, LE_TYPE_Q8_1);
    for (int t = LE_TYPE_Q2_K; t <= LE_TYPE_Q6_K; t++)
        assert_int_equal(le_type_get(t)->vec_dot_type, LE_TYPE_Q8_K);
    assert_null(le_type_get(LE_TYPE_Q8_1)->vec_dot); /* activations only */
    assert_null(le_type_get(LE_TYPE_Q8_K)->vec_dot);
    /* every row the engine computes with: reference kernels complete, the
     * reference table has no gemm, names and sizes agree with le_type_info */
    for (int t = 0; t < LE_TYPE_COUNT; t++) {
        const struct le_type_traits *r = le_type_get_ref(t), *s = le_type_get(t);
        int64_t blck;
        size_t size;
        const char *name;
        if (!r) {
            assert_null(s);
            continue;
        }
        assert_non_null(r->from_float);
        assert_non_null(r->from_float_act);
        assert_null(r->gemm);
        assert_non_null(s->to_float);
        assert_non_null(s->from_float);
        assert_true(!r->vec_dot == !s->vec_dot);
        assert_int_equal(le_type_info(t, &blck, &size, &name), 0);
        assert_int_equal(blck, r->blck_size);
        assert_int_equal(size, r->type_size);
        assert_string_equal(name, r->name);
    }
    assert_int_equal(le_type_info(4, NULL, NULL, NULL), LE_EFORMAT);
    assert_int_equal(le_type_info(39, NULL, NULL, NULL), LE_OK); /* mxfp4: named, not implemented */
    assert_null(le_type_get(39));
    assert_int_equal(le_type_from_name("Q8_0"), LE_TYPE_Q8_0);
    assert_int_equal(le_type_from_name("q4_k"), LE_TYPE_Q4_K);
    assert_int_equal(le_type_from_name("nope"), -1);
    assert_int_equal(le_type_from_name(NULL), -1);
    assert_string_equal(le_type_name(LE_TYPE_Q4_K), "q4_K");
    assert_string_equal(le_type_name(16), "iq2_xxs");
    assert_string_equal(le_type_name(4), "unknown");
    assert_string_equal(le_type_name(-1), "unknown");
    assert_string_equal(le_type_name(1000), "unknown");
    assert_null(le_type_get(4));
    assert_null(le_type_get(-3));
    assert_null(le_type_get(LE_TYPE_COUNT));
    assert_int_equal(le_type_row_size(LE_TYPE_Q8_0, 33), 0);
    assert_int_equal(le_type_row_size(LE_TYPE_Q8_0, -32), 0);
    assert_int_equal(le_type_row_size(LE_TYPE_Q4_K, 512), 288);
}

/* ---- half ---- */

static void fp16_should_round_trip_all_65536_values(void **state) {
    (void)state;
    const struct le_type_traits *t = le_type_get(LE_TYPE_F16);
    for (uint32_t h = 0; h < 65536; h++) {
        float f = le_fp16_to_fp32((uint16_t)h);
        uint16_t hh = (uint16_t)h, back = le_fp32_to_fp16(f);
        float simd;
        t->to_float(&hh, &simd, 1);
        assert_int_equal(bits_of(simd), bits_of(f)); /* F16C agrees, NaNs included */
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            assert_true(isnan(f));
            assert_int_equal(back, h | 0x200); /* made quiet */
        } else {
            assert_int_equal(back, h);
        }
    }
}

static void fp16_should_round_to_nearest_even(void **state) {
    (void)state;
    static const struct {
        float f;
        uint16_t h;
    } cases[] = {
        {1.0f, 0x3c00},
        {1.0f + 0x1p-11f, 0x3c00},          /* tie -> even */
        {1.0f + 3 * 0x1p-11f, 0x3c02},      /* tie -> even (up) */
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01}, /* just above the tie */
        {65504.0f, 0x7bff},
        {65519.996f, 0x7bff},
        {65520.0f, 0x7c00}, /* tie at the top rounds to infinity */
        {1e10f, 0x7c00},
        {-1e10f, 0xfc00},
        {0x1p-24f, 0x0001},
        {0x1p-25f, 0x0000},           /* tie between 0 and the least subnormal */
        {0x1p-25f + 0x1p-40f, 0x0001},
        {1.5f * 0x1p-24f, 0x0002},    /* tie -> even */
        {2.5f * 0x1p-24f, 0x0002},
        {0x1p-14f - 0x1p-25f, 0x0400}, /* largest subnormal tie -> smallest normal */
        {0x1p-14f, 0x0400},
        {-0.0f, 0x8000},
        {1e-30f, 0x0000},
        {-2.0f, 0xc000},
    };
    const struct le_type_traits *t = le_type_get(LE_TYPE_F16);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t simd;
        t->from_float(&cases[i].f, &simd, 1);
        assert_int_equal(le_fp32_to_fp16(cases[i].f), cases[i].h);
        assert_int_equal(simd, cases[i].h);
    }
    assert_int_equal(le_fp32_to_fp16(INFINITY), 0x7c00);
    assert_int_equal(le_fp32_to_fp16(-INFINITY), 0xfc00);
    assert_true((le_fp32_to_fp16(NAN) & 0x7e00) == 0x7e00);
}

static void fp32_to_fp16_should_match_f16c_on_random_bits(void **state) {
    (void)state;
    const struct le_type_traits *t = le_type_get(LE_TYPE_F16);
    enum { n = 4096 };
    static float x[n];
    static uint16_t a[n];
    for (int rep = 0; rep < 64; rep++) {
        for (int i = 0; i < n; i++) {
            uint32_t u = (uint32_t)le_test_xorshift(&rng_state);
            /* concentrate exponents around the half range */
            uint32_t e = 96 + (uint32_t)(le_test_xorshift(&rng_state) % 60);
            x[i] = f_from_bits((u & 0x807fffffu) | (e << 23));
        }
        t->from_float(x, a, n);
        for (int i = 0; i < n; i++)
            assert_int_equal(a[i], le_fp32_to_fp16(x[i]));
    }
}

/* ---- bfloat16 ---- */

static void bf16_should_round_trip_and_round_to_nearest_even(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = le_bf16_to_fp32((uint16_t)h);
        assert_int_equal(bits_of(f), h << 16);
        if (!isnan(f))
            assert_int_equal(le_fp32_to_bf16(f), h);
    }
    assert_int_equal(le_fp32_to_bf16(1.0f + 0x1p-8f), 0x3f80);     /* tie -> even */
    assert_int_equal(le_fp32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82); /* tie -> even (up) */
    assert_int_equal(le_fp32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    assert_int_equal(le_fp32_to_bf16(f_from_bits(0x7f7fffffu)), 0x7f80); /* FLT_MAX -> inf */
    assert_int_equal(le_fp32_to_bf16(f_from_bits(0x7f800001u)), 0x7fc0); /* sNaN made quiet */
    assert_int_equal(le_fp32_to_bf16(-0.0f), 0x8000);
    /* SIMD == scalar on random bit patterns, NaNs and infinities included */
    const struct le_type_traits *t = le_type_get(LE_TYPE_BF16);
    enum { n = 4099 };
    static float x[n];
    static uint16_t a[n];
    for (int rep = 0; rep < 16; rep++) {
        for (int i = 0; i < n; i++)
            x[i] = f_from_bits((uint32_t)le_test_xorshift(&rng_state));
        x[0] = f_from_bits(0x7f800000u);
        x[1] = f_from_bits(0xff800001u);
        t->from_float(x, a, n);
        for (int i = 0; i < n; i++)
            assert_int_equal(a[i], le_fp32_to_bf16(x[i]));
    }
}

/* ---- SIMD vs reference, every type ---- */

static void simd_kernels_should_match_reference(void **state) {
    (void)state;
    static const int64_t nblocks[] = {1, 3, 7, 8, 9, 33, 64};
    for (size_t ti = 0; ti < LE_N_IMPL; ti++) {
        int type = le_impl_types[ti].type;
        const struct le_type_traits *s = le_type_get(type), *r = le_type_get_ref(type);
        const struct le_type_traits *vs = le_type_get(s->vec_dot_type), *vr = le_type_get_ref(s->vec_dot_type);
        for (size_t ni = 0; ni < sizeof nblocks / sizeof nblocks[0]; ni++) {
            /* float types: odd lengths too */
            int64_t n = nblocks[ni] * (s->blck_size == 1 ? 37 : s->blck_size);
            size_t rb = le_type_row_size(type, n), vb = le_type_row_size(s->vec_dot_type, n);
            float *x = malloc((size_t)n * 4), *y = malloc((size_t)n * 4);
            float *f1 = malloc((size_t)n * 4), *f2 = malloc((size_t)n * 4);
            unsigned char *q1 = malloc(rb), *q2 = malloc(rb), *a1 = malloc(vb), *a2 = malloc(vb);
            assert_non_null(x);
            assert_non_null(a2);
            fill_row(x, n);
            fill_row(y, n);
            /* from_float: SIMD table and _ref bit-identical */
            s->from_float(x, q1, n);
            r->from_float(x, q2, n);
            assert_memory_equal(q1, q2, rb);
            /* to_float */
            s->to_float(q1, f1, n);
            r->to_float(q1, f2, n);
            assert_memory_equal(f1, f2, (size_t)n * 4);
            /* activation quantizer of the vec_dot type */
            vs->from_float_act(y, a1, n);
            vr->from_float_act(y, a2, n);
            assert_memory_equal(a1, a2, vb);
            /* vec_dot within tolerance of sum |x_i y_i| */
            float d1, d2;
            s->vec_dot((int)n, &d1, q1, a1);
            r->vec_dot((int)n, &d2, q1, a1);
            float *ya = malloc((size_t)n * 4);
            assert_non_null(ya);
            vr->to_float(a1, ya, n);
            double mag = 0, exact = 0;
            for (int64_t i = 0; i < n; i++) {
                mag += fabs((double)f1[i] * ya[i]);
                exact += (double)f1[i] * ya[i];
            }
            double tol = (le_impl_types[ti].dot_tol ? le_impl_types[ti].dot_tol : 2e-6) * (mag + 1e-30);
            if (!le_impl_types[ti].dot_tol && memcmp(&d1, &d2, 4) != 0)
                fail_msg("%s n=%lld: simd %.9g != ref %.9g", s->name, (long long)n, d1, d2);
            if (fabs(d1 - d2) > tol || fabs(d2 - exact) > tol)
                fail_msg("%s n=%lld: simd %.9g ref %.9g exact %.9g", s->name, (long long)n, d1, d2, exact);
            free(ya);
            free(x), free(y), free(f1), free(f2), free(q1), free(q2), free(a1), free(a2);
        }
    }
}

/* Dequantize(quantize(x)) is within half a step of x (plus the F16
 * rounding of d and m), within one step for the symmetric types whose grid
 * is one step short on one side (Q4_0: -8..7 d, Q5_0: -16..15 d). */
static void quantizers_should_stay_within_a_step(void **state) {
    (void)state;
    enum { n = 32 * 64 };
    static float x[n], f[n];
    static unsigned char q[n * 4];
    fill_row(x, n);
    for (size_t ti = 0; ti < LE_N_IMPL; ti++) {
        int type = le_impl_types[ti].type;
        const struct le_type_traits *t = le_type_get(type);
        if (!t->is_quantized || t->blck_size != 32)
            continue;
        t->from_float(x, q, n);
        t->to_float(q, f, n);
        for (int b = 0; b < n / 32; b++) {
            float amax = 0, mn = x[b * 32], mx = x[b * 32];
            for (int j = 0; j < 32; j++) {
                amax = fmaxf(amax, fabsf(x[b * 32 + j]));
                mn = fminf(mn, x[b * 32 + j]);
                mx = fmaxf(mx, x[b * 32 + j]);
            }
            float tol = type == LE_TYPE_Q8_0   ? amax / 127.0f * 0.57f
                        : type == LE_TYPE_Q4_0 ? amax / 8.0f * 1.01f
                        : type == LE_TYPE_Q5_0 ? amax / 16.0f * 1.02f
                        : type == LE_TYPE_Q4_1 ? (mx - mn) / 15.0f * 0.51f + fabsf(mn) * 1e-3f
                                               : (mx - mn) / 31.0f * 0.52f + fabsf(mn) * 1e-3f;
            for (int j = 0; j < 32; j++)
                if (fabsf(f[b * 32 + j] - x[b * 32 + j]) > tol + 1e-30f)
                    fail_msg("%s: |%g - %g| > %g", t->name, f[b * 32 + j], x[b * 32 + j], tol);
        }
    }
}

/* K-quants: the error of dequantize(quantize(x)) on Gaussian rows shrinks
 * with every bit (Q2_K > Q3_K > Q4_K > Q5_K > Q6_K), and with b bits it is
 * below the rounding error of one uniform grid of 2^b levels over +-3 sigma
 * (step 6/(2^b - 1), rms step/sqrt(12)): per-group scales must do better. */
static void k_quantizers_should_lose_less_with_more_bits(void **state) {
    (void)state;
    enum { n = 256 * 32 };
    static float x[n], f[n];
    static unsigned char q[n];
    for (int i = 0; i < n; i++)
        x[i] = le_test_normal(&rng_state);
    double prev = INFINITY;
    for (int bits = 2; bits <= 6; bits++) {
        const struct le_type_traits *t = le_type_get(LE_TYPE_Q2_K + bits - 2);
        t->from_float(x, q, n);
        t->to_float(q, f, n);
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += ((double)f[i] - x[i]) * ((double)f[i] - x[i]);
        double rms = sqrt(ss / n), bound = 6.0 / ((1 << bits) - 1) / sqrt(12.0);
        print_message("%s: rms error %.4f (bound %.4f)\n", t->name, rms, bound);
        assert_true(rms < bound);
        assert_true(rms < prev);
        prev = rms;
    }
}

/* ---- oracle: llama.cpp's quantizers, byte for byte ---- */

static void *read_oracle(const char *rel, size_t *n) {
    char path[4096];
    le_test_oracle_path(path, sizeof path, rel);
    void *p = le_test_read_file(path, n);
    if (!p)
        fail_msg("cannot read %s", path);
    return p;
}

static void quantizers_should_match_llama_cpp_byte_for_byte(void **state) {
    (void)state;
    if (!le_test_oracle()) {
        printf("skipped: ../shared/oracle is absent\n");
        skip();
    }
    size_t nin;
    float *in = read_oracle("quant/input.f32", &nin);
    assert_int_equal(nin, 4 * 256 * 4);
    static const struct {
        int type;
        const char *name;
    } files[] = {{LE_TYPE_F16, "f16"},   {LE_TYPE_BF16, "bf16"}, {LE_TYPE_Q8_0, "q8_0"}, {LE_TYPE_Q4_0, "q4_0"},
                 {LE_TYPE_Q4_1, "q4_1"}, {LE_TYPE_Q5_0, "q5_0"}, {LE_TYPE_Q5_1, "q5_1"}, {LE_TYPE_Q2_K, "q2_K"},
                 {LE_TYPE_Q3_K, "q3_K"}, {LE_TYPE_Q4_K, "q4_K"}, {LE_TYPE_Q5_K, "q5_K"}, {LE_TYPE_Q6_K, "q6_K"}};
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        char rel[256];
        size_t nb, nd;
        snprintf(rel, sizeof rel, "quant/%s.bin", files[fi].name);
        unsigned char *bin = read_oracle(rel, &nb);
        snprintf(rel, sizeof rel, "quant/%s.dequant.f32", files[fi].name);
        float *deq = read_oracle(rel, &nd);
        size_t rb = le_type_row_size(files[fi].type, 256);
        assert_int_equal(nb, 4 * rb);
        assert_int_equal(nd, 4 * 256 * 4);
        const struct le_type_traits *tabs[2] = {le_type_get(files[fi].type), le_type_get_ref(files[fi].type)};
        for (int ti = 0; ti < 2; ti++) {
            unsigned char q[4 * 512];
            float f[4 * 256];
            for (int r = 0; r < 4; r++) /* row by row, like a weight row of 256 */
                tabs[ti]->from_float(in + r * 256, q + r * rb, 256);
            if (memcmp(q, bin, 4 * rb) != 0)
                fail_msg("%s (%s table): quantized bytes differ from llama.cpp", files[fi].name, ti ? "ref" : "simd");
            tabs[ti]->to_float(bin, f, 4 * 256);
            if (memcmp(f, deq, sizeof f) != 0)
                fail_msg("%s (%s table): dequantized values differ from llama.cpp", files[fi].name, ti ? "ref" : "simd");
        }
        free(bin);
        free(deq);
    }
    /* the CPU backend's activation quantizer (rounds matmul inputs) */
    size_t na;
    unsigned char *act = read_oracle("quant/act/q8_0.bin", &na);
    assert_int_equal(na, 4 * 272);
    unsigned char q[4 * 272];
    le_type_get(LE_TYPE_Q8_0)->from_float_act(in, q, 4 * 256);
    assert_memory_equal(q, act, sizeof q);
    le_type_get_ref(LE_TYPE_Q8_0)->from_float_act(in, q, 4 * 256);
    assert_memory_equal(q, act, sizeof q);
    free(act);
    /* Q8_1 (README: on this input the CPU quantizer equals the _ref one) */
    act = read_oracle("quant/act/q8_1.bin", &na);
    assert_int_equal(na, 4 * 288);
    unsigned char q1[4 * 288];
    const struct le_type_traits *t81[3] = {le_type_get(LE_TYPE_Q8_1), le_type_get_ref(LE_TYPE_Q8_1), NULL};
    for (int ti = 0; ti < 2; ti++) {
        t81[ti]->from_float_act(in, q1, 4 * 256);
        assert_memory_equal(q1, act, sizeof q1);
        t81[ti]->from_float(in, q1, 4 * 256);
        assert_memory_equal(q1, act, sizeof q1);
    }
    free(act);
    /* Q8_K, the K-quants' activations (README: CPU quantizer == _ref here) */
    act = read_oracle("quant/act/q8_K.bin", &na);
    assert_int_equal(na, 4 * 292);
    unsigned char qk[4 * 292];
    const struct le_type_traits *t8k[2] = {le_type_get(LE_TYPE_Q8_K), le_type_get_ref(LE_TYPE_Q8_K)};
    for (int ti = 0; ti < 2; ti++) {
        t8k[ti]->from_float_act(in, qk, 4 * 256);
        assert_memory_equal(qk, act, sizeof qk);
        t8k[ti]->from_float(in, qk, 4 * 256);
        assert_memory_equal(qk, act, sizeof qk);
    }
    free(act);
    free(in);
}

/* The two Q8_0 roundings differ only on rare ties; both stay in range. */
static void q8_0_act_quantizer_should_round_ties_to_even(void **state) {
    (void)state;
    float x[32];
    for (int j = 0; j < 32; j++)
        x[j] = 0.0f;
    x[0] = 127.0f; /* d = 1, id = 1 exactly */
    x[1] = 2.5f;   /* tie: act -> 2 (even), ref -> 3 (away from zero) */
    x[2] = -3.5f;  /* tie: act -> -4, ref -> -4 */
    x[3] = -0.5f;  /* tie: act -> 0, ref -> -1 */
    signed char qa[34], qr[34];
    le_type_get(LE_TYPE_Q8_0)->from_float_act(x, qa, 32);
    le_type_get_ref(LE_TYPE_Q8_0)->from_float(x, qr, 32);
    assert_int_equal(qa[2], 127);
    assert_int_equal(qa[3], 2);
    assert_int_equal(qr[3], 3);
    assert_int_equal(qa[4], -4);
    assert_int_equal(qr[4], -4);
    assert_int_equal(qa[5], 0);
    assert_int_equal(qr[5], -1);
    uint16_t d;
    memcpy(&d, qa, 2);
    assert_int_equal(d, 0x3c00);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_should_describe_ggml_types),
        cmocka_unit_test(fp16_should_round_trip_all_65536_values),
        cmocka_unit_test(fp16_should_round_to_nearest_even),
        cmocka_unit_test(fp32_to_fp16_should_match_f16c_on_random_bits),
        cmocka_unit_test(bf16_should_round_trip_and_round_to_nearest_even),
        cmocka_unit_test(simd_kernels_should_match_reference),
        cmocka_unit_test(quantizers_should_stay_within_a_step),
        cmocka_unit_test(k_quantizers_should_lose_less_with_more_bits),
        cmocka_unit_test(quantizers_should_match_llama_cpp_byte_for_byte),
        cmocka_unit_test(q8_0_act_quantizer_should_round_ties_to_even),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
