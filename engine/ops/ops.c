/*
 * ops: the scalar reference of the shared ops (le_ops.h), the RoPE table,
 * and the choice between the reference and the AVX2 table (ops_avx2.c).
 * The reference is the definition: plain C in the order le_ops.h states,
 * what the AVX2 functions are tested against (tests/test_ops.c).
 */
#include "le_ops.h"
#include "ops_int.h"

#include "le_cpu.h" /* le_cpu_avx2 */

#include <math.h>

static void le_vexp_ref(int64_t n, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}

static void le_softmax_ref(float *s, int64_t n, float scale) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        s[j] *= scale;
        mx = s[j] > mx ? s[j] : mx;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) {
        float e = expf(s[j] - mx);
        s[j] = e;
        sum += (double)e;
    }
    float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < n; j++)
        s[j] *= inv;
}

static void le_rope_ref(float *v, const float *cs, int64_t n_heads, int64_t hd) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *x = v + h * hd;
        for (int64_t i = 0; i < hd / 2; i++) {
            float x0 = x[2 * i], x1 = x[2 * i + 1];
            float co = cs[2 * i], si = cs[2 * i + 1];
            x[2 * i] = x0 * co - x1 * si;
            x[2 * i + 1] = x0 * si + x1 * co;
        }
    }
}

static void le_swiglu_ref(float *h, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        h[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static float le_add_rmsnorm_ref(float *x, const float *delta, const float *w, float *y, int64_t n, float eps) {
    if (delta)
        for (int64_t i = 0; i < n; i++)
            x[i] += delta[i];
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] * scale) * w[i];
    return scale;
}

static float le_dot_ref(int64_t n, const float *x, const float *y) {
    float r = 0.0f;
    for (int64_t i = 0; i < n; i++)
        r += x[i] * y[i];
    return r;
}

static const struct le_ops le_ops_ref_table = LE_OPS_TABLE(ref);

const struct le_ops *le_ops_get(int simd) {
#ifdef LE_OPS_X86
    if (simd && le_cpu_avx2())
        return &le_ops_avx2_table;
#endif
    (void)simd;
    return &le_ops_ref_table;
}

void le_ops_rope_table(float *cs, int64_t n_pos, int64_t hd, float base, float freq_scale, const float *freqs) {
    int64_t half = hd / 2;
    float theta_scale = powf(base, -2.0f / (float)hd);
    for (int64_t p = 0; p < n_pos; p++) {
        float theta = (float)p;
        float *row = cs + p * half * 2;
        for (int64_t i = 0; i < half; i++) {
            float ff = freqs ? freqs[i] : 1.0f;
            float th = freq_scale * (theta / ff);
            row[2 * i] = cosf(th);
            row[2 * i + 1] = sinf(th);
            theta *= theta_scale;
        }
    }
}
