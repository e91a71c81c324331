/*
 * kernels_ref_q: scalar reference kernels of Q4_1, Q5_0, Q5_1 weights and
 * the Q8_1 activations that Q4_1/Q5_1 multiply with (their AVX2 dot
 * products and gemms are in kernels_avx2_q.c). Quantizers and dequantizers are ggml's, byte for
 * byte (checked against ../shared/oracle/quant); dot products follow ggml's
 * scalar code (exact integer block sums, float scaling, plus m * s for the
 * types with a minimum).
 */
#include "le_kernels.h"

#include <float.h> /* FLT_MAX */
#include <math.h>  /* fabsf, roundf, nearbyintf */

static uint8_t le_sat_u8(float v) {
    if (!(v >= 0.0f)) /* also NaN */
        return 0;
    if (v >= 255.0f)
        return 255;
    return (uint8_t)v;
}

static void le_minmax(const float *x, float *mn, float *mx) {
    float a = FLT_MAX, b = -FLT_MAX;
    for (int j = 0; j < 32; j++) {
        if (x[j] < a)
            a = x[j];
        if (x[j] > b)
            b = x[j];
    }
    *mn = a;
    *mx = b;
}

/* ---- Q4_1: x = d*q + m, q in 0..15 ---- */

void le_q4_1_to_float_ref(const void *vx, float *y, int64_t n) {
    const le_block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / 32; i++) {
        float d = le_fp16_to_fp32(x[i].d), m = le_fp16_to_fp32(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = (float)(x[i].qs[j] & 0x0F) * d + m;
            y[i * 32 + j + 16] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

void le_q4_1_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / 32; i++) {
        const float *xb = x + i * 32;
        float mn, mx;
        le_minmax(xb, &mn, &mx);
        const float d = (mx - mn) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = le_fp32_to_fp16(d);
        y[i].m = le_fp32_to_fp16(mn);
        for (int j = 0; j < 16; j++) {
            int8_t q0 = le_sat_i8((xb[j] - mn) * id + 0.5f);
            int8_t q1 = le_sat_i8((xb[j + 16] - mn) * id + 0.5f);
            uint8_t u0 = (uint8_t)(q0 < 15 ? q0 : 15), u1 = (uint8_t)(q1 < 15 ? q1 : 15);
            y[i].qs[j] = (uint8_t)(u0 | (u1 << 4));
        }
    }
}

void le_vec_dot_q4_1_q8_1_ref(int n, float *s, const void *vx, const void *vy) {
    const le_block_q4_1 *x = vx;
    const le_block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int ib = 0; ib < n / 32; ib++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += (x[ib].qs[j] & 0x0F) * y[ib].qs[j] + (x[ib].qs[j] >> 4) * y[ib].qs[j + 16];
        sumf += (le_fp16_to_fp32(x[ib].d) * le_fp16_to_fp32(y[ib].d)) * (float)sumi +
                le_fp16_to_fp32(x[ib].m) * le_fp16_to_fp32(y[ib].s);
    }
    *s = sumf;
}

/* ---- Q5_0 / Q5_1: 5-bit quants, the 5th bits in qh ---- */

static int le_q5(const uint8_t *qs, const uint8_t *qh, int j) {
    uint32_t h;
    memcpy(&h, qh, 4);
    int lo = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
    return lo | (int)(((h >> j) & 1u) << 4);
}

void le_q5_0_to_float_ref(const void *vx, float *y, int64_t n) {
    const le_block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / 32; i++) {
        float d = le_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 32; j++)
            y[i * 32 + j] = (float)(le_q5(x[i].qs, x[i].qh, j) - 16) * d;
    }
}

/* Packs 32 5-bit quants. */
static void le_q5_pack(const uint8_t q[32], uint8_t qs[16], uint8_t qh[4]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
        h |= (uint32_t)((q[j] & 0x10u) >> 4) << j;
        h |= (uint32_t)((q[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    memcpy(qh, &h, 4);
}

void le_q5_0_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q5_0 *y = vy;
    for (int64_t i = 0; i < n / 32; i++) {
        const float *xb = x + i * 32;
        float amax, max = le_signed_absmax(32, xb, &amax);
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = le_fp32_to_fp16(d);
        uint8_t q[32];
        for (int j = 0; j < 32; j++) {
            int8_t v = le_sat_i8(xb[j] * id + 16.5f);
            q[j] = (uint8_t)(v < 31 ? v : 31);
        }
        le_q5_pack(q, y[i].qs, y[i].qh);
    }
}

void le_vec_dot_q5_0_q8_0_ref(int n, float *s, const void *vx, const void *vy) {
    const le_block_q5_0 *x = vx;
    const le_block_q8_0 *y = vy;
    float sumf = 0.0f;
    for (int ib = 0; ib < n / 32; ib++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++)
            sumi += (le_q5(x[ib].qs, x[ib].qh, j) - 16) * y[ib].qs[j];
        sumf += (le_fp16_to_fp32(x[ib].d) * le_fp16_to_fp32(y[ib].d)) * (float)sumi;
    }
    *s = sumf;
}

void le_q5_1_to_float_ref(const void *vx, float *y, int64_t n) {
    const le_block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / 32; i++) {
        float d = le_fp16_to_fp32(x[i].d), m = le_fp16_to_fp32(x[i].m);
        for (int j = 0; j < 32; j++)
            y[i * 32 + j] = (float)le_q5(x[i].qs, x[i].qh, j) * d + m;
    }
}

void le_q5_1_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q5_1 *y = vy;
    for (int64_t i = 0; i < n / 32; i++) {
        const float *xb = x + i * 32;
        float mn, mx;
        le_minmax(xb, &mn, &mx);
        const float d = (mx - mn) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = le_fp32_to_fp16(d);
        y[i].m = le_fp32_to_fp16(mn);
        uint8_t q[32];
        for (int j = 0; j < 32; j++)
            q[j] = le_sat_u8((xb[j] - mn) * id + 0.5f); /* ggml: no clamp to 31 */
        le_q5_pack(q, y[i].qs, y[i].qh);
    }
}

void le_vec_dot_q5_1_q8_1_ref(int n, float *s, const void *vx, const void *vy) {
    const le_block_q5_1 *x = vx;
    const le_block_q8_1 *y = vy;
    float sumf = 0.0f;
    for (int ib = 0; ib < n / 32; ib++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++)
            sumi += le_q5(x[ib].qs, x[ib].qh, j) * y[ib].qs[j];
        sumf += (le_fp16_to_fp32(x[ib].d) * le_fp16_to_fp32(y[ib].d)) * (float)sumi +
                le_fp16_to_fp32(x[ib].m) * le_fp16_to_fp32(y[ib].s);
    }
    *s = sumf;
}

/* ---- Q8_1 (activations of Q4_1 / Q5_1) ---- */

void le_q8_1_to_float_ref(const void *vx, float *y, int64_t n) {
    const le_block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / 32; i++) {
        float d = le_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 32; j++)
            y[i * 32 + j] = (float)x[i].qs[j] * d;
    }
}

/* rne: 0 = ggml's _ref (1/d, round half away), 1 = the CPU backend (127/amax,
 * round to nearest even). s = d * sum(q) either way. */
static void le_q8_1_quantize(const float *x, le_block_q8_1 *y, int64_t n, int rne) {
    for (int64_t i = 0; i < n / 32; i++) {
        const float *xb = x + i * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = amax > fabsf(xb[j]) ? amax : fabsf(xb[j]);
        const float d = amax / 127.0f;
        const float id = rne ? (amax != 0.0f ? 127.0f / amax : 0.0f) : (d != 0.0f ? 1.0f / d : 0.0f);
        y[i].d = le_fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            y[i].qs[j] = le_sat_i8(rne ? nearbyintf(xb[j] * id) : roundf(xb[j] * id));
            sum += y[i].qs[j];
        }
        y[i].s = le_fp32_to_fp16((float)sum * d);
    }
}

void le_q8_1_from_float_ref(const float *x, void *y, int64_t n) {
    le_q8_1_quantize(x, y, n, 0);
}

void le_q8_1_from_float_act_ref(const float *x, void *y, int64_t n) {
    le_q8_1_quantize(x, y, n, 1);
}
