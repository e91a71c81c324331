/*
 * kernels_ref_k: scalar reference kernels of the K-quants (Q2_K, Q3_K,
 * Q4_K, Q5_K, Q6_K) and of their activation type Q8_K: unpacking a
 * super-block into the common form struct le_ksb (le_kernels.h),
 * dequantization and dot products against Q8_K. (The quantizers, with
 * their scale searches, are in quant_k.c.)
 *
 * Dequantization is ggml's dequantize_row_*, float operation for float
 * operation (checked bit for bit against ../shared/oracle/quant): element e
 * of group g is (d*sc[g])*(q - off) - dmin*mn[g], which for the types
 * without minima (dmin = mn = 0) subtracts +0, an identity. Dot products
 * sum exact integers per super-block and scale them once in float (see
 * struct le_ksb); ggml's scalar code spreads the same sums over 8 float
 * lanes, one rounding apart per super-block.
 */
#include "le_kernels.h"

#include <math.h> /* fabsf */

/* ---- unpacking ---- */

/* Scale j and min j (6 bits each) of Q4_K / Q5_K's 12 packed bytes. */
static void le_scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

int le_q2_K_unpack(const void *row, int64_t b, struct le_ksb *o) {
    const le_block_q2_K *x = (const le_block_q2_K *)row + b;
    for (int e = 0; e < LE_QK_K; e++) /* bytes of half n: 4 elements 32 apart */
        o->q[e] = (uint8_t)((x->qs[e / 128 * 32 + e % 32] >> (2 * (e % 128 / 32))) & 3);
    for (int g = 0; g < 16; g++) {
        o->sc[g] = (int16_t)(x->scales[g] & 0xF);
        o->mn[g] = (int16_t)(x->scales[g] >> 4);
    }
    o->d = le_fp16_to_fp32(x->d);
    o->dmin = le_fp16_to_fp32(x->dmin);
    return 0;
}

int le_q3_K_unpack(const void *row, int64_t b, struct le_ksb *o) {
    const le_block_q3_K *x = (const le_block_q3_K *)row + b;
    for (int e = 0; e < LE_QK_K; e++) {
        int n = e / 128, j = e % 128 / 32, l = e % 32;
        int lo = (x->qs[32 * n + l] >> (2 * j)) & 3;
        int hi = (x->hmask[l] >> (4 * n + j)) & 1;
        o->q[e] = (uint8_t)(lo + 4 * hi); /* q - 4 = lo - (hi ? 0 : 4) */
    }
    for (int g = 0; g < 16; g++) {
        int lo = g < 8 ? x->scales[g] & 0xF : x->scales[g - 8] >> 4;
        int hi = (x->scales[8 + g % 4] >> (2 * (g / 4))) & 3;
        o->sc[g] = (int16_t)((lo | (hi << 4)) - 32);
        o->mn[g] = 0;
    }
    o->d = le_fp16_to_fp32(x->d);
    o->dmin = 0.0f;
    return 4;
}

/* Q4_K / Q5_K scales and minima: 8 groups of 32, each stored twice. */
static void le_k4_scales(const uint8_t *scales, uint16_t d, uint16_t dmin, struct le_ksb *o) {
    for (int j = 0; j < 8; j++) {
        int sc, m;
        le_scale_min_k4(j, scales, &sc, &m);
        o->sc[2 * j] = o->sc[2 * j + 1] = (int16_t)sc;
        o->mn[2 * j] = o->mn[2 * j + 1] = (int16_t)m;
    }
    o->d = le_fp16_to_fp32(d);
    o->dmin = le_fp16_to_fp32(dmin);
}

int le_q4_K_unpack(const void *row, int64_t b, struct le_ksb *o) {
    const le_block_q4_K *x = (const le_block_q4_K *)row + b;
    for (int e = 0; e < LE_QK_K; e++) { /* 64 elements per 32 bytes: low nibbles, then high */
        uint8_t v = x->qs[e / 64 * 32 + e % 32];
        o->q[e] = (uint8_t)(e % 64 < 32 ? v & 0xF : v >> 4);
    }
    le_k4_scales(x->scales, x->d, x->dmin, o);
    return 0;
}

int le_q5_K_unpack(const void *row, int64_t b, struct le_ksb *o) {
    const le_block_q5_K *x = (const le_block_q5_K *)row + b;
    for (int e = 0; e < LE_QK_K; e++) { /* as Q4_K; bit 2*(e/64) (+1 for high nibbles) of qh */
        int l = e % 32, hi = e % 64 >= 32;
        uint8_t v = x->qs[e / 64 * 32 + l];
        int h = (x->qh[l] >> (2 * (e / 64) + hi)) & 1;
        o->q[e] = (uint8_t)((hi ? v >> 4 : v & 0xF) | (h << 4));
    }
    le_k4_scales(x->scales, x->d, x->dmin, o);
    return 0;
}

int le_q6_K_unpack(const void *row, int64_t b, struct le_ksb *o) {
    const le_block_q6_K *x = (const le_block_q6_K *)row + b;
    for (int e = 0; e < LE_QK_K; e++) {
        /* half n: ql[64n..], qh[32n..]; quarter k of 32: low nibbles of
         * ql[l], ql[l+32], then high nibbles; qh bits 2k..2k+1 */
        int n = e / 128, k = e % 128 / 32, l = e % 32;
        uint8_t v = x->ql[64 * n + l + 32 * (k & 1)];
        int lo = k < 2 ? v & 0xF : v >> 4;
        int hi = (x->qh[32 * n + l] >> (2 * k)) & 3;
        o->q[e] = (uint8_t)(lo | (hi << 4));
    }
    for (int g = 0; g < 16; g++) {
        o->sc[g] = x->scales[g];
        o->mn[g] = 0;
    }
    o->d = le_fp16_to_fp32(x->d);
    o->dmin = 0.0f;
    return 32;
}

/* ---- dequantization ---- */

static void le_k_to_float(le_kunpack_fn unpack, const void *x, float *y, int64_t n) {
    struct le_ksb sb;
    for (int64_t b = 0; b < n / LE_QK_K; b++) {
        int off = unpack(x, b, &sb);
        for (int g = 0; g < 16; g++) {
            const float dl = sb.d * (float)sb.sc[g], ml = sb.dmin * (float)sb.mn[g];
            for (int l = 0; l < 16; l++)
                y[b * LE_QK_K + 16 * g + l] = dl * (float)(sb.q[16 * g + l] - off) - ml;
        }
    }
}

void le_q2_K_to_float_ref(const void *x, float *y, int64_t n) {
    le_k_to_float(le_q2_K_unpack, x, y, n);
}
void le_q3_K_to_float_ref(const void *x, float *y, int64_t n) {
    le_k_to_float(le_q3_K_unpack, x, y, n);
}
void le_q4_K_to_float_ref(const void *x, float *y, int64_t n) {
    le_k_to_float(le_q4_K_unpack, x, y, n);
}
void le_q5_K_to_float_ref(const void *x, float *y, int64_t n) {
    le_k_to_float(le_q5_K_unpack, x, y, n);
}
void le_q6_K_to_float_ref(const void *x, float *y, int64_t n) {
    le_k_to_float(le_q6_K_unpack, x, y, n);
}

/* ---- Q8_K: the activations ---- */

void le_q8_K_to_float_ref(const void *vx, float *y, int64_t n) {
    const le_block_q8_K *x = vx;
    for (int64_t b = 0; b < n / LE_QK_K; b++)
        for (int j = 0; j < LE_QK_K; j++)
            y[b * LE_QK_K + j] = x[b].d * (float)x[b].qs[j];
}

/* ggml quantize_row_q8_K_ref (the CPU backend uses it for activations too):
 * iscale = -127/max with max the signed element of largest magnitude,
 * q = min(127, nearest_int(iscale*x)), d = 1/iscale. An all-zero block has
 * d = 0 and (unlike ggml, which leaves them unset) zero bsums. */
void le_q8_K_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q8_K *y = vy;
    for (int64_t b = 0; b < n / LE_QK_K; b++) {
        const float *xb = x + b * LE_QK_K;
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < LE_QK_K; j++) {
            float ax = fabsf(xb[j]);
            if (ax > amax) {
                amax = ax;
                max = xb[j];
            }
        }
        if (!(amax != 0.0f)) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < LE_QK_K; j++) {
            int v = le_nearest_int(iscale * xb[j]);
            y[b].qs[j] = (int8_t)(v < 127 ? (v > -128 ? v : -128) : 127);
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[b].qs[16 * g + l];
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ---- dot products against Q8_K ---- */

static void le_k_vec_dot(le_kunpack_fn unpack, int n, float *s, const void *x, const void *vy) {
    const le_block_q8_K *y = vy;
    struct le_ksb sb;
    float sumf = 0.0f;
    for (int b = 0; b < n / LE_QK_K; b++) {
        int off = unpack(x, b, &sb);
        int32_t isum = 0, msum = 0;
        for (int g = 0; g < 16; g++) {
            int32_t si = 0;
            for (int l = 0; l < 16; l++)
                si += sb.q[16 * g + l] * y[b].qs[16 * g + l];
            isum += sb.sc[g] * (si - off * y[b].bsums[g]);
            msum += sb.mn[g] * y[b].bsums[g];
        }
        sumf += (sb.d * y[b].d) * (float)isum;
        sumf -= (sb.dmin * y[b].d) * (float)msum;
    }
    *s = sumf;
}

void le_vec_dot_q2_K_q8_K_ref(int n, float *s, const void *x, const void *y) {
    le_k_vec_dot(le_q2_K_unpack, n, s, x, y);
}
void le_vec_dot_q3_K_q8_K_ref(int n, float *s, const void *x, const void *y) {
    le_k_vec_dot(le_q3_K_unpack, n, s, x, y);
}
void le_vec_dot_q4_K_q8_K_ref(int n, float *s, const void *x, const void *y) {
    le_k_vec_dot(le_q4_K_unpack, n, s, x, y);
}
void le_vec_dot_q5_K_q8_K_ref(int n, float *s, const void *x, const void *y) {
    le_k_vec_dot(le_q5_K_unpack, n, s, x, y);
}
void le_vec_dot_q6_K_q8_K_ref(int n, float *s, const void *x, const void *y) {
    le_k_vec_dot(le_q6_K_unpack, n, s, x, y);
}
