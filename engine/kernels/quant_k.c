/*
 * quant_k: ggml's reference quantizers of the K-quants (quantize_row_q2_K_ref
 * ... quantize_row_q6_K_ref, what llama-quantize runs without an importance
 * matrix), byte for byte (checked against ../shared/oracle/quant).
 *
 * Each super-block of 256 is cut into groups (16 of 16, or 8 of 32); a
 * group's scale (and minimum) is searched to minimise a weighted error,
 * then the group scales are themselves quantized to 4 or 6 bits against
 * one F16 super-block scale, and finally every element is re-quantized
 * against its group's stored scale. The searches:
 * - le_qx_scale (ggml make_qx_quants, rmse_type 1): symmetric, weights x^2,
 *   19 candidate scales around -nmax/max. Q6_K.
 * - le_q3_scale (make_q3_quants with do_rmse): symmetric, weights x^2, then
 *   up to 5 rounds of coordinate descent on the levels. Q3_K.
 * - le_qkx2_scale (make_qkx2_quants): affine (scale and minimum <= 0),
 *   least squares over nstep+1 candidate grids. Q2_K, Q4_K, Q5_K.
 * Every float expression keeps ggml's operation order (no contraction: this
 * file is compiled as ISO C, where GCC does not fuse a*b+c), because a
 * single rounding difference changes a chosen level.
 */
#include "le_kernels.h"

#include <math.h> /* fabsf, sqrtf */

#define LE_GROUP_MAX_EPS 1e-15f

static int le_imin(int a, int b) {
    return a < b ? a : b;
}
static int le_imax(int a, int b) {
    return a > b ? a : b;
}

/* make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = NULL). */
static float le_qx_scale(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = le_signed_absmax(n, x, &amax);
    if (amax < LE_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -(float)nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = le_imax(-nmax, le_imin(nmax - 1, le_nearest_int(iscale * x[i])));
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -((float)nmax + 0.1f * (float)is) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = le_imax(-nmax, le_imin(nmax - 1, le_nearest_int(iscale * x[i])));
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + le_imax(-nmax, le_imin(nmax - 1, le_nearest_int(iscale * x[i]))));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* make_q3_quants(n, nmax, x, L, do_rmse = true). */
static float le_q3_scale(int n, int nmax, const float *x, int8_t *L) {
    float amax, max = le_signed_absmax(n, x, &amax);
    if (amax < LE_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -(float)nmax / max;
    float sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = le_imax(-nmax, le_imin(nmax - 1, le_nearest_int(iscale * x[i])));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0.0f) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                int new_l = le_imax(-nmax, le_imin(nmax - 1, le_nearest_int(x[i] * sl2 / slx)));
                if (new_l != L[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* make_qkx2_quants(n, nmax, x, weights, L, the_min, Laux, rmin, rdelta,
 * nstep, use_mad): returns the scale, *the_min = -(minimum) >= 0. */
static float le_qkx2_scale(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
                           float rmin, float rdelta, int nstep, int use_mad) {
    uint8_t Laux[32];
    float min = x[0], max = x[0];
    float sum_w = weights[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0.0f)
        min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1.0f / iscale;
    float best_error = 0.0f;
    for (int i = 0; i < n; i++) {
        int l = le_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)le_imax(0, le_imin(nmax, l));
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = le_imax(0, le_imin(nmax, le_nearest_int(iscale * (x[i] - min))));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0.0f;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * (float)Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Packs 2-bit levels: byte l of 32-byte half h holds elements 128h + l +
 * 32k in bits 2k..2k+1 (Q2_K's and Q3_K's qs). */
static void le_pack2(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < LE_QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* ---- Q2_K ---- */

void le_q2_K_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q2_K *y = vy;
    const float q4scale = 15.0f;
    for (int64_t i = 0; i < n / LE_QK_K; i++, x += LE_QK_K) {
        uint8_t L[LE_QK_K];
        float weights[16], mins[16], scales[16];
        float max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++)
                weights[l] = fabsf(x[16 * j + l]);
            scales[j] = le_qkx2_scale(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale)
                max_scale = scales[j];
            if (mins[j] > max_min)
                max_min = mins[j];
        }
        if (max_scale > 0.0f) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < 16; j++)
                y[i].scales[j] = (uint8_t)le_nearest_int(iscale * scales[j]);
            y[i].d = le_fp32_to_fp16(max_scale / q4scale);
        } else {
            memset(y[i].scales, 0, 16);
            y[i].d = le_fp32_to_fp16(0.0f);
        }
        if (max_min > 0.0f) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < 16; j++)
                y[i].scales[j] = (uint8_t)(y[i].scales[j] | (le_nearest_int(iscale * mins[j]) << 4));
            y[i].dmin = le_fp32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = le_fp32_to_fp16(0.0f);
        }
        for (int j = 0; j < 16; j++) {
            const float d = le_fp16_to_fp32(y[i].d) * (float)(y[i].scales[j] & 0xF);
            if (d == 0.0f)
                continue;
            const float dm = le_fp16_to_fp32(y[i].dmin) * (float)(y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (uint8_t)le_imax(0, le_imin(3, le_nearest_int((x[16 * j + ii] + dm) / d)));
        }
        le_pack2(L, y[i].qs);
    }
}

/* ---- Q3_K ---- */

void le_q3_K_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q3_K *y = vy;
    for (int64_t i = 0; i < n / LE_QK_K; i++, x += LE_QK_K) {
        int8_t L[LE_QK_K];
        float scales[16];
        float max_scale = 0.0f, amax = 0.0f;
        for (int j = 0; j < 16; j++) {
            scales[j] = le_q3_scale(16, 4, x + 16 * j, L + 16 * j);
            float scale = fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale != 0.0f) {
            float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) {
                int8_t l = (int8_t)le_nearest_int(iscale * scales[j]);
                l = (int8_t)(le_imax(-32, le_imin(31, l)) + 32);
                if (j < 8)
                    y[i].scales[j] = (uint8_t)(l & 0xF);
                else
                    y[i].scales[j - 8] = (uint8_t)(y[i].scales[j - 8] | ((l & 0xF) << 4));
                l = (int8_t)(l >> 4);
                y[i].scales[j % 4 + 8] = (uint8_t)(y[i].scales[j % 4 + 8] | (l << (2 * (j / 4))));
            }
            y[i].d = le_fp32_to_fp16(1.0f / iscale);
        } else {
            y[i].d = le_fp32_to_fp16(0.0f);
        }
        for (int j = 0; j < 16; j++) {
            int sc = j < 8 ? y[i].scales[j] & 0xF : y[i].scales[j - 8] >> 4;
            sc = (sc | (((y[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
            float d = le_fp16_to_fp32(y[i].d) * (float)sc;
            if (d == 0.0f)
                continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(le_imax(-4, le_imin(3, le_nearest_int(x[16 * j + ii] / d))) + 4);
        }
        /* high bit of element j: bit j/32 of hmask[j%32] */
        memset(y[i].hmask, 0, 32);
        uint8_t lo[LE_QK_K];
        for (int j = 0; j < LE_QK_K; j++) {
            if (L[j] > 3)
                y[i].hmask[j % 32] = (uint8_t)(y[i].hmask[j % 32] | (1u << (j / 32)));
            lo[j] = (uint8_t)(L[j] > 3 ? L[j] - 4 : L[j]);
        }
        le_pack2(lo, y[i].qs);
    }
}

/* ---- Q4_K / Q5_K ---- */

/* Scales and minima of the 8 groups of 32 to 6 bits, packed as
 * le_scale_min_k4 reads them; d and dmin of the super-block. */
static void le_k4_pack_scales(const float *scales, const float *mins, float max_scale, float max_min,
                              uint8_t *out, uint16_t *d, uint16_t *dmin) {
    float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)le_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)le_nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            out[j] = ls;
            out[j + 4] = lm;
        } else {
            out[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            out[j - 4] = (uint8_t)(out[j - 4] | ((ls >> 4) << 6));
            out[j] = (uint8_t)(out[j] | ((lm >> 4) << 6));
        }
    }
    *d = le_fp32_to_fp16(max_scale / 63.0f);
    *dmin = le_fp32_to_fp16(max_min / 63.0f);
}

/* The common part of Q4_K and Q5_K (nmax 15 or 31): levels L[256]. */
static void le_k4_quantize(const float *x, int nmax, float rmin, int nstep, uint8_t *scales12, uint16_t *dh,
                           uint16_t *dminh, uint8_t *L) {
    float weights[32], mins[8], scales[8];
    float max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0.0f;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32.0f);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = le_qkx2_scale(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    memset(scales12, 0, 12);
    le_k4_pack_scales(scales, mins, max_scale, max_min, scales12, dh, dminh);
    struct le_ksb sb;
    le_block_q4_K tmp; /* for le_q4_K_unpack's scale decoding */
    memcpy(tmp.scales, scales12, 12);
    tmp.d = *dh, tmp.dmin = *dminh;
    memset(tmp.qs, 0, sizeof tmp.qs);
    le_q4_K_unpack(&tmp, 0, &sb);
    for (int j = 0; j < 8; j++) {
        const float d = le_fp16_to_fp32(*dh) * (float)sb.sc[2 * j];
        if (d == 0.0f)
            continue;
        const float dm = le_fp16_to_fp32(*dminh) * (float)sb.mn[2 * j];
        for (int ii = 0; ii < 32; ii++)
            L[32 * j + ii] = (uint8_t)le_imax(0, le_imin(nmax, le_nearest_int((x[32 * j + ii] + dm) / d)));
    }
}

void le_q4_K_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q4_K *y = vy;
    for (int64_t i = 0; i < n / LE_QK_K; i++, x += LE_QK_K) {
        uint8_t L[LE_QK_K];
        le_k4_quantize(x, 15, -1.0f, 20, y[i].scales, &y[i].d, &y[i].dmin, L);
        for (int j = 0; j < LE_QK_K; j += 64)
            for (int l = 0; l < 32; l++)
                y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void le_q5_K_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q5_K *y = vy;
    for (int64_t i = 0; i < n / LE_QK_K; i++, x += LE_QK_K) {
        uint8_t L[LE_QK_K];
        le_k4_quantize(x, 31, -0.5f, 15, y[i].scales, &y[i].d, &y[i].dmin, L);
        memset(y[i].qh, 0, 32);
        for (int j = 0; j < LE_QK_K; j += 64) {
            uint8_t m1 = (uint8_t)(1u << (j / 32)), m2 = (uint8_t)(2u << (j / 32));
            for (int l = 0; l < 32; l++) {
                int l1 = L[j + l], l2 = L[j + l + 32];
                if (l1 > 15) {
                    l1 -= 16;
                    y[i].qh[l] |= m1;
                }
                if (l2 > 15) {
                    l2 -= 16;
                    y[i].qh[l] |= m2;
                }
                y[i].qs[j / 2 + l] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

/* ---- Q6_K ---- */

void le_q6_K_from_float_ref(const float *x, void *vy, int64_t n) {
    le_block_q6_K *y = vy;
    for (int64_t i = 0; i < n / LE_QK_K; i++, x += LE_QK_K) {
        int8_t L[LE_QK_K];
        float scales[16];
        float max_scale = 0.0f, max_abs_scale = 0.0f;
        for (int ib = 0; ib < 16; ib++) {
            const float scale = le_qx_scale(16, 32, x + 16 * ib, L + 16 * ib);
            scales[ib] = scale;
            if (fabsf(scale) > max_abs_scale) {
                max_abs_scale = fabsf(scale);
                max_scale = scale;
            }
        }
        if (max_abs_scale < LE_GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.0f / max_scale;
        y[i].d = le_fp32_to_fp16(1.0f / iscale);
        for (int ib = 0; ib < 16; ib++)
            y[i].scales[ib] = (int8_t)le_imin(127, le_nearest_int(iscale * scales[ib]));
        for (int j = 0; j < 16; j++) {
            float d = le_fp16_to_fp32(y[i].d) * (float)y[i].scales[j];
            if (d == 0.0f)
                continue;
            for (int ii = 0; ii < 16; ii++)
                L[16 * j + ii] = (int8_t)(le_imax(-32, le_imin(31, le_nearest_int(x[16 * j + ii] / d))) + 32);
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < LE_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
                const int q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}
