/*
 * kernels_ref: scalar reference kernels for every type in the table --
 * to_float, from_float (ggml's _ref quantizers, byte for byte), the
 * activation quantizer as ggml's CPU backend rounds it, and vec_dot.
 *
 * These are the definition the AVX2 kernels are tested against, and the
 * fallback on CPUs without AVX2. Clarity over speed; F32/F16/BF16 dot
 * products accumulate in double (the SIMD versions, in float, agree within
 * a tolerance), quantized ones follow ggml's scalar code exactly (exact
 * integer block sums, float scaling).
 */
#include "le_kernels.h"

#include <math.h> /* fabsf, roundf, nearbyintf */

/* ---- F32 ---- */

void le_f32_to_float_ref(const void *x, float *y, int64_t n) {
    memcpy(y, x, (size_t)n * sizeof(float));
}

void le_f32_from_float_ref(const float *x, void *y, int64_t n) {
    memcpy(y, x, (size_t)n * sizeof(float));
}

void le_vec_dot_f32_ref(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)x[i] * (double)y[i];
    *s = (float)sum;
}

/* ---- F16 ---- */

void le_f16_to_float_ref(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = le_fp16_to_fp32(x[i]);
}

void le_f16_from_float_ref(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = le_fp32_to_fp16(x[i]);
}

void le_vec_dot_f16_ref(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)le_fp16_to_fp32(x[i]) * (double)le_fp16_to_fp32(y[i]);
    *s = (float)sum;
}

/* ---- BF16 ---- */

void le_bf16_to_float_ref(const void *vx, float *y, int64_t n) {
    const uint16_t *x = vx;
    for (int64_t i = 0; i < n; i++)
        y[i] = le_bf16_to_fp32(x[i]);
}

void le_bf16_from_float_ref(const float *x, void *vy, int64_t n) {
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i++)
        y[i] = le_fp32_to_bf16(x[i]);
}

void le_vec_dot_bf16_ref(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)le_bf16_to_fp32(x[i]) * (double)le_bf16_to_fp32(y[i]);
    *s = (float)sum;
}

/* ---- Q8_0 ---- */

void le_q8_0_to_float_ref(const void *vx, float *y, int64_t n) {
    const le_block_q8_0 *x = vx;
    int64_t nb = n / LE_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        float d = le_fp16_to_fp32(x[i].d);
        for (int j = 0; j < LE_QK8_0; j++)
            y[i * LE_QK8_0 + j] = (float)x[i].qs[j] * d;
    }
}

/* float -> int8 the way C's conversion would, without undefined behaviour
 * on NaN or out-of-range values (ggml's inputs never have them). */
int8_t le_sat_i8(float v) {
    if (!(v > -128.0f)) /* also NaN */
        return -128;
    if (v > 127.0f)
        return 127;
    return (int8_t)(int)v;
}

/* ggml quantize_row_q8_0_ref: id = 1/d, round half away from zero. */
void le_q8_0_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q8_0 *y = vy;
    int64_t nb = n / LE_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        const float *xb = x + i * LE_QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < LE_QK8_0; j++)
            amax = amax > fabsf(xb[j]) ? amax : fabsf(xb[j]);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = le_fp32_to_fp16(d);
        for (int j = 0; j < LE_QK8_0; j++)
            y[i].qs[j] = le_sat_i8(roundf(xb[j] * id));
    }
}

/*
 * ggml's CPU backend quantize_row_q8_0 (AVX2), which rounds the activations
 * of quantized matmuls: id = 127/amax (not 1/d), round to nearest even,
 * saturating packs. Differs from the _ref quantizer in rare ties.
 */
void le_q8_0_from_float_act_ref(const float *x, void *vy, int64_t n) {
    le_block_q8_0 *y = vy;
    int64_t nb = n / LE_QK8_0;
    for (int64_t i = 0; i < nb; i++) {
        const float *xb = x + i * LE_QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < LE_QK8_0; j++) {
            float a = fabsf(xb[j]);
            amax = amax > a ? amax : a; /* maxps keeps the first operand on NaN */
        }
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = le_fp32_to_fp16(d);
        for (int j = 0; j < LE_QK8_0; j++) {
            float v = nearbyintf(xb[j] * id);
            y[i].qs[j] = le_sat_i8(v);
        }
    }
}

void le_vec_dot_q8_0_q8_0_ref(int n, float *s, const void *vx, const void *vy) {
    const le_block_q8_0 *x = vx, *y = vy;
    int nb = n / LE_QK8_0;
    float sumf = 0.0f;
    for (int ib = 0; ib < nb; ib++) {
        int sumi = 0;
        for (int j = 0; j < LE_QK8_0; j++)
            sumi += x[ib].qs[j] * y[ib].qs[j];
        sumf += (float)sumi * (le_fp16_to_fp32(x[ib].d) * le_fp16_to_fp32(y[ib].d));
    }
    *s = sumf;
}

/* ---- Q4_0 ---- */

void le_q4_0_to_float_ref(const void *vx, float *y, int64_t n) {
    const le_block_q4_0 *x = vx;
    int64_t nb = n / LE_QK4_0;
    for (int64_t i = 0; i < nb; i++) {
        float d = le_fp16_to_fp32(x[i].d);
        for (int j = 0; j < LE_QK4_0 / 2; j++) {
            int v0 = (x[i].qs[j] & 0x0F) - 8;
            int v1 = (x[i].qs[j] >> 4) - 8;
            y[i * LE_QK4_0 + j] = (float)v0 * d;
            y[i * LE_QK4_0 + j + LE_QK4_0 / 2] = (float)v1 * d;
        }
    }
}

/* ggml quantize_row_q4_0_ref: d = max/-8 (max = the signed element of
 * largest magnitude), q = min(15, trunc(x/d + 8.5)). */
void le_q4_0_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q4_0 *y = vy;
    int64_t nb = n / LE_QK4_0;
    for (int64_t i = 0; i < nb; i++) {
        const float *xb = x + i * LE_QK4_0;
        float amax, max = le_signed_absmax(LE_QK4_0, xb, &amax);
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = le_fp32_to_fp16(d);
        for (int j = 0; j < LE_QK4_0 / 2; j++) {
            int8_t q0 = le_sat_i8(xb[j] * id + 8.5f);
            int8_t q1 = le_sat_i8(xb[j + LE_QK4_0 / 2] * id + 8.5f);
            uint8_t u0 = (uint8_t)(q0 < 15 ? q0 : 15);
            uint8_t u1 = (uint8_t)(q1 < 15 ? q1 : 15);
            y[i].qs[j] = (uint8_t)(u0 | (u1 << 4));
        }
    }
}

void le_vec_dot_q4_0_q8_0_ref(int n, float *s, const void *vx, const void *vy) {
    const le_block_q4_0 *x = vx;
    const le_block_q8_0 *y = vy;
    int nb = n / LE_QK4_0;
    float sumf = 0.0f;
    for (int ib = 0; ib < nb; ib++) {
        int sumi0 = 0, sumi1 = 0;
        for (int j = 0; j < LE_QK4_0 / 2; j++) {
            int v0 = (x[ib].qs[j] & 0x0F) - 8;
            int v1 = (x[ib].qs[j] >> 4) - 8;
            sumi0 += v0 * y[ib].qs[j];
            sumi1 += v1 * y[ib].qs[j + LE_QK4_0 / 2];
        }
        sumf += (float)(sumi0 + sumi1) * (le_fp16_to_fp32(x[ib].d) * le_fp16_to_fp32(y[ib].d));
    }
    *s = sumf;
}
